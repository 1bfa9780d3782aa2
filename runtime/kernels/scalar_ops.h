// The scalar reference of the kernels in rows-inl.h: the row kernels below (the section "Row
// kernels") have rows-inl.h's names and signatures, one for one, and define the semantics the
// SIMD versions are tested against (kernels_test), so they favour the obvious formulation
// (llama2.c's where one exists) over speed. Above them, the one-row kernels they apply to
// each row, which the reference interpreter (compiler/interp) calls directly.
#ifndef LMC_RUNTIME_KERNELS_SCALAR_OPS_H_
#define LMC_RUNTIME_KERNELS_SCALAR_OPS_H_

#include <hwy/base.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/kernels/cache_types.h"
#include "runtime/kernels/position_tables.h"
#include "runtime/weights/quant.h"

namespace lmc::kernels::scalar {

// A weight as f32: bfloat16 widens exactly (its bits are the top half of the f32's).
inline float Widen(float w) { return w; }
inline float Widen(hwy::bfloat16_t w) { return hwy::F32FromBF16(w); }

// out[r] = sum_c w[r*cols + c] * x[c], for r in [0, rows). TW: float or hwy::bfloat16_t.
template <typename TW>
void MatVec(float* out, const TW* w, const float* x, int rows, int cols) {
  for (int r = 0; r < rows; ++r) {
    const TW* row = w + static_cast<size_t>(r) * cols;
    float sum = 0.0f;
    for (int c = 0; c < cols; ++c) sum += Widen(row[c]) * x[c];
    out[r] = sum;
  }
}

// g * sigmoid(beta * g), written as llama2.c does.
inline float Swish(float g, float beta) { return g * (1.0f / (1.0f + std::exp(-beta * g))); }

// out[r] = Swish(g, beta) * u, g and u the MatVec rows r of w_gate and w_up.
template <typename TW>
void MatVecSwiGlu(float* out, const TW* w_gate, const TW* w_up, const float* x, int rows, int cols,
                  float beta) {
  for (int r = 0; r < rows; ++r) {
    const size_t offset = static_cast<size_t>(r) * cols;
    float g = 0.0f;
    float u = 0.0f;
    for (int c = 0; c < cols; ++c) {
      g += Widen(w_gate[offset + c]) * x[c];
      u += Widen(w_up[offset + c]) * x[c];
    }
    out[r] = Swish(g, beta) * u;
  }
}

// Block-quantized weights (quant.h) times activations quantized by rt::QuantizeActivationRow
// (q: QuantBlocks(cols) * 32 int8, d: one scale per block). Per block b, the integer dot
// product s_b = sum_j w_q[j] * x_q[j] (Q4_0: w_q = nibble - 8) is exact in int32; the result
// is sum_b float(s_b) * (d_w[b] * d_x[b]), added in f32 in increasing b.
inline int32_t BlockDot(const rt::BlockQ8_0& w, const int8_t* xq) {
  int32_t s = 0;
  for (size_t j = 0; j < rt::kQuantBlock; ++j) s += int32_t{w.q[j]} * xq[j];
  return s;
}
inline int32_t BlockDot(const rt::BlockQ4_0& w, const int8_t* xq) {
  constexpr size_t kHalf = rt::kQuantBlock / 2;
  int32_t s = 0;
  for (size_t j = 0; j < kHalf; ++j) {
    s += ((w.qs[j] & 0xF) - 8) * int32_t{xq[j]} + ((w.qs[j] >> 4) - 8) * int32_t{xq[j + kHalf]};
  }
  return s;
}
template <typename Block>
float QuantizedDot(const Block* w, const int8_t* xq, const float* xd, size_t cols) {
  float sum = 0.0f;
  for (size_t b = 0; b < rt::QuantBlocks(cols); ++b) {
    const float scale = rt::QuantScale(w[b].d) * xd[b];
    sum += static_cast<float>(BlockDot(w[b], xq + b * rt::kQuantBlock)) * scale;
  }
  return sum;
}

// out[t * rows + r] = QuantizedDot(row r, token t), the tokens x quantized row by row here.
template <typename Block>
void QuantizedMatMul(float* out, const Block* w, const float* x, size_t tokens, size_t rows,
                     size_t cols) {
  const size_t blocks = rt::QuantBlocks(cols);
  std::vector<int8_t> xq(blocks * rt::kQuantBlock);
  std::vector<float> xd(blocks);
  for (size_t t = 0; t < tokens; ++t) {
    rt::QuantizeActivationRow(x + t * cols, cols, xq.data(), xd.data());
    for (size_t r = 0; r < rows; ++r) {
      out[t * rows + r] = QuantizedDot(w + r * blocks, xq.data(), xd.data(), cols);
    }
  }
}

template <typename Block>
void QuantizedMatMulSwiGlu(float* out, const Block* w_gate, const Block* w_up, const float* x,
                           size_t tokens, size_t rows, size_t cols, float beta) {
  const size_t blocks = rt::QuantBlocks(cols);
  std::vector<int8_t> xq(blocks * rt::kQuantBlock);
  std::vector<float> xd(blocks);
  for (size_t t = 0; t < tokens; ++t) {
    rt::QuantizeActivationRow(x + t * cols, cols, xq.data(), xd.data());
    for (size_t r = 0; r < rows; ++r) {
      const float g = QuantizedDot(w_gate + r * blocks, xq.data(), xd.data(), cols);
      const float u = QuantizedDot(w_up + r * blocks, xq.data(), xd.data(), cols);
      out[t * rows + r] = Swish(g, beta) * u;
    }
  }
}

inline void RmsNorm(float* out, const float* x, const float* weight, int n, float eps) {
  float ss = 0.0f;
  for (int i = 0; i < n; ++i) ss += x[i] * x[i];
  ss /= static_cast<float>(n);
  ss += eps;
  const float inv = 1.0f / std::sqrt(ss);
  for (int i = 0; i < n; ++i) out[i] = weight[i] * (inv * x[i]);
}

inline void Softmax(float* x, int n) {
  float max_val = x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] > max_val) max_val = x[i];
  }
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max_val);
    sum += x[i];
  }
  for (int i = 0; i < n; ++i) x[i] /= sum;
}

// Normalized to zero mean and unit variance (two passes), then scaled and
// shifted; `bias` may be null.
inline void LayerNorm(float* out, const float* x, const float* weight, const float* bias, int n,
                      float eps) {
  float mean = 0.0f;
  for (int i = 0; i < n; ++i) mean += x[i];
  mean /= static_cast<float>(n);
  float var = 0.0f;
  for (int i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<float>(n);
  const float inv = 1.0f / std::sqrt(var + eps);
  for (int i = 0; i < n; ++i) {
    out[i] = (x[i] - mean) * inv * weight[i] + (bias ? bias[i] : 0.0f);
  }
}

inline float Relu(float x) { return x > 0.0f ? x : 0.0f; }
// The exact GELU, x * Phi(x) (BERT).
inline float Gelu(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }
// The tanh approximation (GPT, GPT-2, BLOOM's gelu_new).
inline float GeluTanh(float x) {
  return 0.5f * x * (1.0f + std::tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

// Rotation angle of pair j, in float exactly as llama2.c computes it.
inline float RopeAngle(int j, int head_dim, int pos, float theta) {
  const float freq =
      1.0f / std::pow(theta, static_cast<float>(2 * j) / static_cast<float>(head_dim));
  return static_cast<float>(pos) * freq;
}

// `inv_freq`, when given, replaces the pairs' frequencies (scaled RoPE).
// `rotary_dims` (0: head_dim) turns only the first rotary_dims of each head,
// with the frequencies of a rotary_dims-wide head (partial rotary, GPT-NeoX).
inline void RopeInterleaved(float* vec, int n_heads, int head_dim, int pos, float theta,
                            const float* inv_freq = nullptr, int rotary_dims = 0) {
  const int rot = rotary_dims > 0 ? rotary_dims : head_dim;
  for (int h = 0; h < n_heads; ++h) {
    float* head = vec + static_cast<size_t>(h) * head_dim;
    for (int j = 0; j < rot / 2; ++j) {
      const float angle =
          inv_freq ? static_cast<float>(pos) * inv_freq[j] : RopeAngle(j, rot, pos, theta);
      const float c = std::cos(angle);
      const float s = std::sin(angle);
      const float v0 = head[2 * j];
      const float v1 = head[2 * j + 1];
      head[2 * j] = v0 * c - v1 * s;
      head[2 * j + 1] = v0 * s + v1 * c;
    }
  }
}

inline void RopeHalf(float* vec, int n_heads, int head_dim, int pos, float theta,
                     const float* inv_freq = nullptr, int rotary_dims = 0) {
  const int rot = rotary_dims > 0 ? rotary_dims : head_dim;
  const int half = rot / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* head = vec + static_cast<size_t>(h) * head_dim;
    for (int j = 0; j < half; ++j) {
      const float angle =
          inv_freq ? static_cast<float>(pos) * inv_freq[j] : RopeAngle(j, rot, pos, theta);
      const float c = std::cos(angle);
      const float s = std::sin(angle);
      const float v0 = head[j];
      const float v1 = head[j + half];
      head[j] = v0 * c - v1 * s;
      head[j + half] = v0 * s + v1 * c;
    }
  }
}

inline void SwiGlu(float* out, const float* gate, const float* up, int n, float beta) {
  for (int i = 0; i < n; ++i) out[i] = Swish(gate[i], beta) * up[i];
}

inline void AddInPlace(float* x, const float* y, int n) {
  for (int i = 0; i < n; ++i) x[i] += y[i];
}

// `slopes`, when given, adds ALiBi's slopes[h] * (t - query_pos) to head h's
// scores; `relative`, T5's bias for t - query_pos; `cope`, CoPE's.
inline void Attention(float* out, const float* q, const float* key_cache, const float* value_cache,
                      int n_tokens, int n_heads, int n_kv_heads, int head_dim, int kv_stride,
                      float scale, float* scores, const float* slopes = nullptr, int query_pos = 0,
                      const RelativeBias* relative = nullptr, const CopeBias* cope = nullptr) {
  const int group = n_heads / n_kv_heads;
  for (int h = 0; h < n_heads; ++h) {
    const float* q_h = q + static_cast<size_t>(h) * head_dim;
    const size_t kv_offset = static_cast<size_t>(h / group) * head_dim;
    for (int t = 0; t < n_tokens; ++t) {
      const float* k = key_cache + static_cast<size_t>(t) * kv_stride + kv_offset;
      float dot = 0.0f;
      for (int i = 0; i < head_dim; ++i) dot += q_h[i] * k[i];
      scores[t] = scale * dot;
      if (slopes) scores[t] += slopes[h] * static_cast<float>(t - query_pos);
      if (relative) scores[t] += (*relative)(h, t - query_pos);
    }
    if (cope) AddCope(*cope, q_h, head_dim, scores, n_tokens);
    Softmax(scores, n_tokens);
    float* out_h = out + static_cast<size_t>(h) * head_dim;
    for (int i = 0; i < head_dim; ++i) out_h[i] = 0.0f;
    for (int t = 0; t < n_tokens; ++t) {
      const float* v = value_cache + static_cast<size_t>(t) * kv_stride + kv_offset;
      for (int i = 0; i < head_dim; ++i) out_h[i] += scores[t] * v[i];
    }
  }
}

inline int Argmax(const float* x, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i) {
    if (x[i] > x[best]) best = i;
  }
  return best;
}

// Row kernels: rows-inl.h's, over n rows of activations ([n, width] row-major), each the
// one-row kernel above applied to every row.

// out[t] = table[tokens[t]] for t < n. TW: float or hwy::bfloat16_t (widened).
template <typename TW>
void Embedding(float* out, const TW* table, const int* tokens, int n, int width) {
  for (int t = 0; t < n; ++t) {
    const TW* row = table + static_cast<size_t>(tokens[t]) * width;
    for (int i = 0; i < width; ++i) out[static_cast<size_t>(t) * width + i] = Widen(row[i]);
  }
}

inline void RmsNormRows(float* out, const float* x, const float* weight, int n, int width,
                        float eps) {
  for (int t = 0; t < n; ++t) {
    const size_t at = static_cast<size_t>(t) * width;
    RmsNorm(out + at, x + at, weight, width, eps);
  }
}

// out[t] = w · x[t] for each of n rows: w [rows, cols], x [n, cols], out [n, rows].
template <typename TW>
void Linear(float* out, const TW* w, const float* x, int n, int rows, int cols) {
  for (int t = 0; t < n; ++t) {
    MatVec(out + static_cast<size_t>(t) * rows, w, x + static_cast<size_t>(t) * cols, rows, cols);
  }
}
inline void Linear(float* out, const rt::BlockQ8_0* w, const float* x, int n, int rows, int cols) {
  QuantizedMatMul(out, w, x, static_cast<size_t>(n), static_cast<size_t>(rows),
                  static_cast<size_t>(cols));
}
inline void Linear(float* out, const rt::BlockQ4_0* w, const float* x, int n, int rows, int cols) {
  QuantizedMatMul(out, w, x, static_cast<size_t>(n), static_cast<size_t>(rows),
                  static_cast<size_t>(cols));
}

template <typename TW>
void GatedLinear(float* out, const TW* w_gate, const TW* w_up, const float* x, int n, int rows,
                 int cols, float beta) {
  for (int t = 0; t < n; ++t) {
    MatVecSwiGlu(out + static_cast<size_t>(t) * rows, w_gate, w_up,
                 x + static_cast<size_t>(t) * cols, rows, cols, beta);
  }
}
inline void GatedLinear(float* out, const rt::BlockQ8_0* w_gate, const rt::BlockQ8_0* w_up,
                        const float* x, int n, int rows, int cols, float beta) {
  QuantizedMatMulSwiGlu(out, w_gate, w_up, x, static_cast<size_t>(n), static_cast<size_t>(rows),
                        static_cast<size_t>(cols), beta);
}
inline void GatedLinear(float* out, const rt::BlockQ4_0* w_gate, const rt::BlockQ4_0* w_up,
                        const float* x, int n, int rows, int cols, float beta) {
  QuantizedMatMulSwiGlu(out, w_gate, w_up, x, static_cast<size_t>(n), static_cast<size_t>(rows),
                        static_cast<size_t>(cols), beta);
}

// A Q4_0 matrix in either layout (rt::Q4_0Matrix): its rows as stored, the same products.
inline std::vector<rt::BlockQ4_0> StoredRows(const rt::Q4_0Matrix& w, int rows, int cols) {
  const size_t blocks = rt::QuantBlocks(static_cast<size_t>(cols));
  std::vector<rt::BlockQ4_0> stored(static_cast<size_t>(rows) * blocks);
  for (size_t r = 0; r < static_cast<size_t>(rows); ++r) {
    if (w.rows != nullptr) {
      std::copy_n(w.rows + r * blocks, blocks, stored.data() + r * blocks);
    } else {
      rt::UnpackQ4_0PanelRow(w.panels, blocks, r, stored.data() + r * blocks);
    }
  }
  return stored;
}
inline void Linear(float* out, const rt::Q4_0Matrix& w, const float* x, int n, int rows, int cols) {
  Linear(out, StoredRows(w, rows, cols).data(), x, n, rows, cols);
}
inline void GatedLinear(float* out, const rt::Q4_0Matrix& w_gate, const rt::Q4_0Matrix& w_up,
                        const float* x, int n, int rows, int cols, float beta) {
  GatedLinear(out, StoredRows(w_gate, rows, cols).data(), StoredRows(w_up, rows, cols).data(), x, n,
              rows, cols, beta);
}

// out[t] += bias for each of n rows.
inline void AddBiasRows(float* out, const float* bias, int n, int width) {
  for (int t = 0; t < n; ++t) AddInPlace(out + static_cast<size_t>(t) * width, bias, width);
}

inline void LayerNormRows(float* out, const float* x, const float* weight, const float* bias, int n,
                          int width, float eps) {
  for (int t = 0; t < n; ++t) {
    const size_t at = static_cast<size_t>(t) * width;
    LayerNorm(out + at, x + at, weight, bias, width, eps);
  }
}

inline void ReluRows(float* out, const float* x, int n, int width) {
  for (size_t i = 0; i < static_cast<size_t>(n) * width; ++i) out[i] = Relu(x[i]);
}
inline void GeluRows(float* out, const float* x, int n, int width) {
  for (size_t i = 0; i < static_cast<size_t>(n) * width; ++i) out[i] = Gelu(x[i]);
}
inline void GeluTanhRows(float* out, const float* x, int n, int width) {
  for (size_t i = 0; i < static_cast<size_t>(n) * width; ++i) out[i] = GeluTanh(x[i]);
}
inline void SiluRows(float* out, const float* x, int n, int width) {
  for (size_t i = 0; i < static_cast<size_t>(n) * width; ++i) out[i] = Swish(x[i], 1.0f);
}
inline void TanhRows(float* out, const float* x, int n, int width) {
  for (size_t i = 0; i < static_cast<size_t>(n) * width; ++i) out[i] = std::tanh(x[i]);
}

inline void MulRows(float* out, const float* a, const float* b, int n, int width) {
  for (size_t i = 0; i < static_cast<size_t>(n) * width; ++i) out[i] = a[i] * b[i];
}

inline void ScaleRows(float* out, const float* x, int n, int width, float factor) {
  for (size_t i = 0; i < static_cast<size_t>(n) * width; ++i) out[i] = x[i] * factor;
}

// x[t] += table[positions[t]].
inline void AddPositionEmbeddingRows(float* x, const float* table, const int* positions, int n,
                                     int width) {
  for (int t = 0; t < n; ++t) {
    AddInPlace(x + static_cast<size_t>(t) * width,
               table + static_cast<size_t>(positions[t]) * width, width);
  }
}

// x[t] += the sinusoidal encoding of positions[t]; scratch: width floats.
inline void AddSinusoidalRows(float* x, const int* positions, int n, int width, float* scratch) {
  for (int t = 0; t < n; ++t) {
    Sinusoid(scratch, positions[t], width);
    AddInPlace(x + static_cast<size_t>(t) * width, scratch, width);
  }
}

// Row t (heads * head_dim floats) rotated for position positions[t].
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

// Cache row positions[t] = k[t], v[t], head-major as rows-inl.h's (CacheOffset).
inline void KvStore(float* k_cache, float* v_cache, const float* k, const float* v,
                    const int* positions, int n, int width, int head_dim, int capacity) {
  for (int t = 0; t < n; ++t) {
    for (int h = 0; h < width / head_dim; ++h) {
      const size_t at = CacheOffset(h, positions[t], head_dim, capacity);
      const size_t from = static_cast<size_t>(t) * width + static_cast<size_t>(h) * head_dim;
      std::copy_n(k + from, head_dim, k_cache + at);
      std::copy_n(v + from, head_dim, v_cache + at);
    }
  }
}

// The first `rows` rows of a head-major cache as rows of kv_heads * head_dim floats.
inline std::vector<float> CacheRows(const float* cache, int rows, int kv_heads, int head_dim,
                                    int capacity) {
  std::vector<float> out(static_cast<size_t>(rows) * kv_heads * head_dim);
  for (int p = 0; p < rows; ++p) {
    for (int h = 0; h < kv_heads; ++h) {
      std::copy_n(cache + CacheOffset(h, p, head_dim, capacity), head_dim,
                  out.data() + (static_cast<size_t>(p) * kv_heads + h) * head_dim);
    }
  }
  return out;
}

// Query row t attends to cache rows [0, positions[t]] when causal, else to rows
// [0, 1 + the largest position of the chunk].
inline void AttentionRows(float* out, const float* q, const float* k_cache, const float* v_cache,
                          const int* positions, int n, int heads, int kv_heads, int head_dim,
                          int capacity, float scale, bool causal, const float* slopes,
                          const RelativeBias* relative, const CopeBias* cope) {
  const int visible_all = 1 + *std::max_element(positions, positions + n);
  const size_t width = static_cast<size_t>(heads) * head_dim;
  const std::vector<float> keys = CacheRows(k_cache, visible_all, kv_heads, head_dim, capacity);
  const std::vector<float> values = CacheRows(v_cache, visible_all, kv_heads, head_dim, capacity);
  std::vector<float> scores(visible_all);
  for (int t = 0; t < n; ++t) {
    Attention(out + t * width, q + t * width, keys.data(), values.data(),
              causal ? positions[t] + 1 : visible_all, heads, kv_heads, head_dim,
              kv_heads * head_dim, scale, scores.data(), slopes, positions[t], relative, cope);
  }
}

// Each query row attends to all `source_len` rows of the encoder's K/V.
inline void CrossAttentionRows(float* out, const float* q, const float* k_cache,
                               const float* v_cache, int n, int source_len, int heads, int kv_heads,
                               int head_dim, int capacity, float scale) {
  const size_t width = static_cast<size_t>(heads) * head_dim;
  const std::vector<float> keys = CacheRows(k_cache, source_len, kv_heads, head_dim, capacity);
  const std::vector<float> values = CacheRows(v_cache, source_len, kv_heads, head_dim, capacity);
  std::vector<float> scores(source_len);
  for (int t = 0; t < n; ++t) {
    Attention(out + t * width, q + t * width, keys.data(), values.data(), source_len, heads,
              kv_heads, head_dim, kv_heads * head_dim, scale, scores.data());
  }
}

// Each of n rows in place: the sampler's probabilities over the vocabulary.
inline void SoftmaxRows(float* x, int n, int width) {
  for (int t = 0; t < n; ++t) Softmax(x + static_cast<size_t>(t) * width, width);
}

// out[t] = Argmax of row t: greedy sampling.
inline void ArgmaxRows(int* out, const float* x, int n, int width) {
  for (int t = 0; t < n; ++t) out[t] = Argmax(x + static_cast<size_t>(t) * width, width);
}

}  // namespace lmc::kernels::scalar

#endif  // LMC_RUNTIME_KERNELS_SCALAR_OPS_H_
