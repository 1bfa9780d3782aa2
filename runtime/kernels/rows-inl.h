// The kernel API: kernels over a chunk of token rows ([n, width] row-major
// activations), as the generated forward (and the sampler) calls them: per
// Highway target, inline, so that the compile-time sizes the generated code
// passes reach the loops. A caller compiles itself per target (foreach_target.h)
// and dispatches once per call. scalar_ops.h mirrors every kernel here (same
// name and signature) as its reference; kernels_test compares the two on every
// target. Built on the SIMD building blocks of ops-inl.h, private to the kernels,
// and the quantized products of quant_ops.h.

// Per-target include guard: toggled by foreach_target.h for each target.
#if defined(LMC_KERNELS_ROWS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LMC_KERNELS_ROWS_INL_H_
#undef LMC_KERNELS_ROWS_INL_H_
#else
#define LMC_KERNELS_ROWS_INL_H_
#endif

#include <stddef.h>

#include <algorithm>
#include <optional>
#include <type_traits>
#include <vector>

#include "runtime/kernels/cache_types.h"
#include "runtime/kernels/kquant_rows-inl.h"  // the other GGUF block types
#include "runtime/kernels/ops-inl.h"
#include "runtime/kernels/position_tables.h"
#include "runtime/kernels/quant_ops.h"
#include "runtime/kernels/scalar_ops.h"
#include "runtime/kernels/thread_pool.h"

HWY_BEFORE_NAMESPACE();
namespace lmc::kernels {
namespace HWY_NAMESPACE {

// out[t] = table[tokens[t]] for t < n; ids already checked against the vocab.
inline void Embedding(float* HWY_RESTRICT out, const float* HWY_RESTRICT table,
                      const int* HWY_RESTRICT tokens, int n, int width) {
  for (int t = 0; t < n; ++t) {
    std::copy_n(table + static_cast<size_t>(tokens[t]) * width, width,
                out + static_cast<size_t>(t) * width);
  }
}

// A bfloat16 table (tied embeddings of a bf16 model), rows widened exactly.
inline void Embedding(float* HWY_RESTRICT out, const hwy::bfloat16_t* HWY_RESTRICT table,
                      const int* HWY_RESTRICT tokens, int n, int width) {
  for (int t = 0; t < n; ++t) {
    const hwy::bfloat16_t* row = table + static_cast<size_t>(tokens[t]) * width;
    float* dst = out + static_cast<size_t>(t) * width;
    for (int i = 0; i < width; ++i) dst[i] = hwy::F32FromBF16(row[i]);
  }
}

inline void RmsNormRows(float* out, const float* x, const float* HWY_RESTRICT weight, int n,
                        int width, float eps) {
  for (int t = 0; t < n; ++t) {
    const size_t at = static_cast<size_t>(t) * width;
    RmsNorm(out + at, x + at, weight, width, eps);
  }
}

// out[t] = w · x[t] for each of n rows: w [rows, cols], x [n, cols], out [n, rows].
// One weight pass serves the whole chunk; each row equals MatVec bit for bit,
// so prefill and decode agree exactly. The pool's threads take disjoint ranges
// of output rows, which leaves every output as it is with one thread.
// TW: float; hwy::bfloat16_t (widened exactly as loaded: the f32 product with the widened
// weights, bit for bit). Quantized weights: the overloads below.
template <typename TW>
inline void Linear(float* HWY_RESTRICT out, const TW* HWY_RESTRICT w, const float* HWY_RESTRICT x,
                   int n, int rows, int cols) {
  const size_t tokens = static_cast<size_t>(n), r = static_cast<size_t>(rows),
               c = static_cast<size_t>(cols);
  lmc::rt::ParallelRows(r, tokens * r * c, [&](size_t begin, size_t end) {
    MatMulRows(out, w, x, tokens, r, c, begin, end);
  });
}

template <typename TW>
inline void GatedLinear(float* HWY_RESTRICT out, const TW* HWY_RESTRICT w_gate,
                        const TW* HWY_RESTRICT w_up, const float* HWY_RESTRICT x, int n, int rows,
                        int cols, float beta) {
  const size_t tokens = static_cast<size_t>(n), r = static_cast<size_t>(rows),
               c = static_cast<size_t>(cols);
  lmc::rt::ParallelRows(r, 2 * tokens * r * c, [&](size_t begin, size_t end) {
    MatMulSwiGluRows(out, w_gate, w_up, x, tokens, r, c, beta, begin, end);
  });
}

// Block-quantized weights (Q8_0, Q4_0): kquant_rows-inl.h's BlockLinear / BlockGatedLinear,
// which quantize x to int8 blocks once, before the rows are split between threads
// (quant_ops.h).
inline void Linear(float* HWY_RESTRICT out, const lmc::rt::BlockQ8_0* HWY_RESTRICT w,
                   const float* HWY_RESTRICT x, int n, int rows, int cols) {
  BlockLinear(out, w, x, n, rows, cols);
}
inline void Linear(float* HWY_RESTRICT out, const lmc::rt::BlockQ4_0* HWY_RESTRICT w,
                   const float* HWY_RESTRICT x, int n, int rows, int cols) {
  BlockLinear(out, w, x, n, rows, cols);
}

inline void GatedLinear(float* HWY_RESTRICT out, const lmc::rt::BlockQ8_0* HWY_RESTRICT w_gate,
                        const lmc::rt::BlockQ8_0* HWY_RESTRICT w_up, const float* HWY_RESTRICT x,
                        int n, int rows, int cols, float beta) {
  BlockGatedLinear(out, w_gate, w_up, x, n, rows, cols, beta);
}
inline void GatedLinear(float* HWY_RESTRICT out, const lmc::rt::BlockQ4_0* HWY_RESTRICT w_gate,
                        const lmc::rt::BlockQ4_0* HWY_RESTRICT w_up, const float* HWY_RESTRICT x,
                        int n, int rows, int cols, float beta) {
  BlockGatedLinear(out, w_gate, w_up, x, n, rows, cols, beta);
}
// Q4_0 as the model keeps it for the kernels (stored rows or panels; quant_ops.h).
inline void Linear(float* HWY_RESTRICT out, const lmc::rt::Q4_0Matrix& w,
                   const float* HWY_RESTRICT x, int n, int rows, int cols) {
  BlockLinear(out, w, x, n, rows, cols);
}
inline void GatedLinear(float* HWY_RESTRICT out, const lmc::rt::Q4_0Matrix& w_gate,
                        const lmc::rt::Q4_0Matrix& w_up, const float* HWY_RESTRICT x, int n,
                        int rows, int cols, float beta) {
  BlockGatedLinear(out, w_gate, w_up, x, n, rows, cols, beta);
}

// out[t] += bias for each of n rows.
inline void AddBiasRows(float* HWY_RESTRICT out, const float* HWY_RESTRICT bias, int n, int width) {
  for (int t = 0; t < n; ++t) AddInPlace(out + static_cast<size_t>(t) * width, bias, width);
}

// The norms and elementwise ops below cost O(n * width) beside the matmuls'
// O(n * width^2): the scalar reference's loops, which the compiler vectorizes
// where it can, are exact and cheap enough.
inline void LayerNormRows(float* out, const float* x, const float* HWY_RESTRICT weight,
                          const float* HWY_RESTRICT bias, int n, int width, float eps) {
  for (int t = 0; t < n; ++t) {
    const size_t at = static_cast<size_t>(t) * width;
    scalar::LayerNorm(out + at, x + at, weight, bias, width, eps);
  }
}

template <float (*F)(float)>
inline void MapRows(float* out, const float* x, int n, int width) {
  const size_t size = static_cast<size_t>(n) * width;
  for (size_t i = 0; i < size; ++i) out[i] = F(x[i]);
}
inline float Silu(float x) { return scalar::Swish(x, 1.0f); }
inline void ReluRows(float* out, const float* x, int n, int w) {
  MapRows<scalar::Relu>(out, x, n, w);
}
inline void GeluRows(float* out, const float* x, int n, int w) {
  MapRows<scalar::Gelu>(out, x, n, w);
}
inline void GeluTanhRows(float* out, const float* x, int n, int w) {
  MapRows<scalar::GeluTanh>(out, x, n, w);
}
inline void SiluRows(float* out, const float* x, int n, int w) { MapRows<Silu>(out, x, n, w); }
inline float Tanh(float x) { return std::tanh(x); }
inline void TanhRows(float* out, const float* x, int n, int w) { MapRows<Tanh>(out, x, n, w); }

inline void MulRows(float* out, const float* a, const float* b, int n, int width) {
  const size_t size = static_cast<size_t>(n) * width;
  for (size_t i = 0; i < size; ++i) out[i] = a[i] * b[i];
}

inline void ScaleRows(float* out, const float* x, int n, int width, float factor) {
  const size_t size = static_cast<size_t>(n) * width;
  for (size_t i = 0; i < size; ++i) out[i] = x[i] * factor;
}

// x[t] += table[positions[t]]; positions already checked against the table.
inline void AddPositionEmbeddingRows(float* x, const float* HWY_RESTRICT table,
                                     const int* positions, int n, int width) {
  for (int t = 0; t < n; ++t) {
    AddInPlace(x + static_cast<size_t>(t) * width,
               table + static_cast<size_t>(positions[t]) * width, width);
  }
}

inline void AddSinusoidalRows(float* x, const int* positions, int n, int width,
                              float* HWY_RESTRICT scratch) {
  for (int t = 0; t < n; ++t) {
    Sinusoid(scratch, positions[t], width);
    AddInPlace(x + static_cast<size_t>(t) * width, scratch, width);
  }
}

// Row t (heads * head_dim floats) rotated for position positions[t];
// `inv_freq` (may be null) replaces the frequencies; `rotary_dims` (0: all)
// turns only the first rotary_dims of each head.
inline void RopeInterleavedRows(float* x, const int* positions, int n, int heads, int head_dim,
                                float theta, const float* inv_freq, int rotary_dims = 0) {
  for (int t = 0; t < n; ++t) {
    RopeInterleaved(x + static_cast<size_t>(t) * heads * head_dim, heads, head_dim, positions[t],
                    theta, inv_freq, rotary_dims);
  }
}

inline void RopeHalfRows(float* x, const int* positions, int n, int heads, int head_dim,
                         float theta, const float* inv_freq, int rotary_dims = 0) {
  for (int t = 0; t < n; ++t) {
    RopeHalf(x + static_cast<size_t>(t) * heads * head_dim, heads, head_dim, positions[t], theta,
             inv_freq, rotary_dims);
  }
}

inline void SwiGluRows(float* out, const float* gate, const float* up, int n, int width,
                       float beta) {
  SwiGlu(out, gate, up, n * width, beta);
}

inline void AddRows(float* x, const float* y, int n, int width) { AddInPlace(x, y, n * width); }

// Cache row positions[t] = k[t], v[t] (width = kv_heads * head_dim floats); positions already
// checked against the capacity. A 16-bit cache rounds (cache_types.h), a q8_0 cache quantizes
// each 32 values of a head (rt::QuantizeRowQ8_0), as the reference interpreter does.
template <typename TC>
inline void KvStore(TC* HWY_RESTRICT k_cache, TC* HWY_RESTRICT v_cache, const float* HWY_RESTRICT k,
                    const float* HWY_RESTRICT v, const int* positions, int n, int width,
                    int head_dim, int capacity) {
  const int kv_heads = width / head_dim;
  for (int t = 0; t < n; ++t) {
    for (int h = 0; h < kv_heads; ++h) {
      const size_t at = CacheOffset(h, positions[t], head_dim, capacity);
      const size_t from = static_cast<size_t>(t) * width + static_cast<size_t>(h) * head_dim;
      if constexpr (std::is_same_v<TC, float>) {
        std::copy_n(k + from, head_dim, k_cache + at);
        std::copy_n(v + from, head_dim, v_cache + at);
      } else if constexpr (std::is_same_v<TC, rt::BlockQ8_0>) {
        rt::QuantizeRowQ8_0(k + from, head_dim, k_cache + at / rt::kQuantBlock);
        rt::QuantizeRowQ8_0(v + from, head_dim, v_cache + at / rt::kQuantBlock);
      } else {
        for (int i = 0; i < head_dim; ++i) {
          k_cache[at + i] = ToCache(k[from + i], k_cache);
          v_cache[at + i] = ToCache(v[from + i], v_cache);
        }
      }
    }
  }
}

// Attention over query rows [0, n): row t sees the first visible(t) cache rows.
// One task per row and KV head: the query heads that share the KV head (a GQA
// group) attend together, tasks write disjoint outputs, and each head's
// arithmetic is the same whichever thread runs it, so results do not depend on
// the thread count. Scores are per thread and per row: memory does not grow with
// the square of the prompt.
template <typename Visible, typename TC>
inline void AttendRows(float* HWY_RESTRICT out, const float* HWY_RESTRICT q,
                       const TC* HWY_RESTRICT k_cache, const TC* HWY_RESTRICT v_cache,
                       const int* positions, int n, const Visible& visible, int heads, int kv_heads,
                       int head_dim, int capacity, float scale, const float* HWY_RESTRICT slopes,
                       const RelativeBias* relative, const CopeBias* cope) {
  const int group = heads / kv_heads, width = heads * head_dim;
  size_t work = 0;  // Multiply-adds: q.k and the weighted sum of v, per visible row.
  for (int t = 0; t < n; ++t) work += 2 * static_cast<size_t>(visible(t)) * width;
  auto task = [&](size_t i) {
    const int t = static_cast<int>(i / kv_heads), kv_head = static_cast<int>(i % kv_heads);
    const int first = kv_head * group, keys = visible(t);
    thread_local std::vector<float> scores;
    scores.resize(
        std::max(scores.size(), static_cast<size_t>(AttentionScratchFloats(group, keys))));
    std::optional<RelativeBias> group_relative;  // Its table's columns from head `first` on.
    if (relative) {
      group_relative = RelativeBias{relative->table + first, relative->buckets,
                                    relative->max_distance, relative->heads};
    }
    const size_t row = static_cast<size_t>(t) * width + static_cast<size_t>(first) * head_dim;
    const size_t kv = CacheOffset(kv_head, 0, head_dim, capacity);
    Attention(out + row, q + row, CacheAt(k_cache, kv), CacheAt(v_cache, kv), keys, group, 1,
              head_dim, head_dim, scale, scores.data(), slopes ? slopes + first : nullptr,
              positions ? positions[t] : 0, group_relative ? &*group_relative : nullptr, cope);
  };
  const size_t tasks = static_cast<size_t>(n) * kv_heads;
  if (lmc::rt::Threads() == 1 || tasks < 2 || work < lmc::rt::kMinParallelWork) {
    for (size_t i = 0; i < tasks; ++i) task(i);
  } else {
    lmc::rt::ParallelFor(tasks, task);
  }
}

// Query row t attends to cache rows [0, positions[t]] when causal, else to every
// row written so far ([0, 1 + the largest position of the chunk]). `slopes`
// (may be null) adds ALiBi's per-head distance penalty, `relative` (may be
// null) T5's bucketed bias, `cope` (may be null) CoPE's.
template <typename TC>
inline void AttentionRows(float* HWY_RESTRICT out, const float* HWY_RESTRICT q,
                          const TC* HWY_RESTRICT k_cache, const TC* HWY_RESTRICT v_cache,
                          const int* positions, int n, int heads, int kv_heads, int head_dim,
                          int capacity, float scale, bool causal, const float* HWY_RESTRICT slopes,
                          const RelativeBias* relative, const CopeBias* cope) {
  const int visible_all = 1 + *std::max_element(positions, positions + n);
  auto visible = [&](int t) { return causal ? positions[t] + 1 : visible_all; };
  AttendRows(out, q, k_cache, v_cache, positions, n, visible, heads, kv_heads, head_dim, capacity,
             scale, slopes, relative, cope);
}

// Each query row attends to all `source_len` rows of the encoder's K/V.
template <typename TC>
inline void CrossAttentionRows(float* HWY_RESTRICT out, const float* HWY_RESTRICT q,
                               const TC* HWY_RESTRICT k_cache, const TC* HWY_RESTRICT v_cache,
                               int n, int source_len, int heads, int kv_heads, int head_dim,
                               int capacity, float scale) {
  auto visible = [&](int) { return source_len; };
  AttendRows(out, q, k_cache, v_cache, nullptr, n, visible, heads, kv_heads, head_dim, capacity,
             scale, nullptr, nullptr, nullptr);
}

// Each of n rows in place: the sampler's probabilities over the vocabulary.
inline void SoftmaxRows(float* HWY_RESTRICT x, int n, int width) {
  for (int t = 0; t < n; ++t) Softmax(x + static_cast<size_t>(t) * width, width);
}

// out[t] = the index of row t's largest element, the first on ties (greedy sampling). Unspecified
// if the row holds NaN.
inline void ArgmaxRows(int* HWY_RESTRICT out, const float* HWY_RESTRICT x, int n, int width) {
  for (int t = 0; t < n; ++t) out[t] = Argmax(x + static_cast<size_t>(t) * width, width);
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::kernels
HWY_AFTER_NAMESPACE();

#endif  // LMC_KERNELS_ROWS_INL_H_
