// Kernels over a chunk of token rows ([n, width] row-major activations), as the
// generated forward calls them: per Highway target, inline, so that the
// compile-time sizes the generated code passes reach the loops. Built on the
// single-row kernels of ops-inl.h; semantics are those of scalar_ops.h applied
// to each row.

// Per-target include guard: toggled by foreach_target.h for each target.
#if defined(LMC_KERNELS_ROWS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LMC_KERNELS_ROWS_INL_H_
#undef LMC_KERNELS_ROWS_INL_H_
#else
#define LMC_KERNELS_ROWS_INL_H_
#endif

#include <stddef.h>

#include <algorithm>

#include "runtime/kernels/ops-inl.h"
#include "runtime/kernels/position_tables.h"
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
// weights, bit for bit); lmc::rt::BlockQ8_0 or BlockQ4_0 (dequantized as loaded).
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
// `inv_freq` (may be null) replaces the frequencies.
inline void RopeInterleavedRows(float* x, const int* positions, int n, int heads, int head_dim,
                                float theta, const float* inv_freq) {
  for (int t = 0; t < n; ++t) {
    RopeInterleaved(x + static_cast<size_t>(t) * heads * head_dim, heads, head_dim, positions[t],
                    theta, inv_freq);
  }
}

inline void RopeHalfRows(float* x, const int* positions, int n, int heads, int head_dim,
                         float theta, const float* inv_freq) {
  for (int t = 0; t < n; ++t) {
    RopeHalf(x + static_cast<size_t>(t) * heads * head_dim, heads, head_dim, positions[t], theta,
             inv_freq);
  }
}

inline void SwiGluRows(float* out, const float* gate, const float* up, int n, int width,
                       float beta) {
  SwiGlu(out, gate, up, n * width, beta);
}

inline void AddRows(float* x, const float* y, int n, int width) { AddInPlace(x, y, n * width); }

// Cache row positions[t] = k[t], v[t]; positions already checked against the capacity.
inline void KvStore(float* HWY_RESTRICT k_cache, float* HWY_RESTRICT v_cache,
                    const float* HWY_RESTRICT k, const float* HWY_RESTRICT v, const int* positions,
                    int n, int width) {
  for (int t = 0; t < n; ++t) {
    const size_t row = static_cast<size_t>(positions[t]) * width;
    std::copy_n(k + static_cast<size_t>(t) * width, width, k_cache + row);
    std::copy_n(v + static_cast<size_t>(t) * width, width, v_cache + row);
  }
}

// Query row t attends to cache rows [0, positions[t]] when causal, else to every
// row written so far ([0, 1 + the largest position of the chunk]). `slopes`
// (may be null) adds ALiBi's per-head distance penalty.
inline void AttentionRows(float* HWY_RESTRICT out, const float* HWY_RESTRICT q,
                          const float* HWY_RESTRICT k_cache, const float* HWY_RESTRICT v_cache,
                          const int* positions, int n, int heads, int kv_heads, int head_dim,
                          float scale, bool causal, const float* HWY_RESTRICT slopes,
                          float* HWY_RESTRICT scores) {
  const int width = heads * head_dim, kv_width = kv_heads * head_dim;
  const int visible_all = 1 + *std::max_element(positions, positions + n);
  for (int t = 0; t < n; ++t) {
    const int visible = causal ? positions[t] + 1 : visible_all;
    Attention(out + static_cast<size_t>(t) * width, q + static_cast<size_t>(t) * width, k_cache,
              v_cache, visible, heads, kv_heads, head_dim, kv_width, scale, scores, slopes,
              positions[t]);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::kernels
HWY_AFTER_NAMESPACE();

#endif  // LMC_KERNELS_ROWS_INL_H_
