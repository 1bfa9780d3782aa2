// Plain scalar reference implementations of the kernels in ops.h, with identical signatures.
// They define the semantics the SIMD versions are tested against, so they favour the obvious
// formulation (llama2.c's where one exists) over speed.
#ifndef LMC_RUNTIME_KERNELS_SCALAR_OPS_H_
#define LMC_RUNTIME_KERNELS_SCALAR_OPS_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/kernels/position_tables.h"
#include "runtime/weights/quant.h"

namespace lmc::kernels::scalar {

inline void MatVec(float* out, const float* w, const float* x, int rows, int cols) {
  for (int r = 0; r < rows; ++r) {
    const float* row = w + static_cast<size_t>(r) * cols;
    float sum = 0.0f;
    for (int c = 0; c < cols; ++c) sum += row[c] * x[c];
    out[r] = sum;
  }
}

// g * sigmoid(beta * g), written as llama2.c does.
inline float Swish(float g, float beta) { return g * (1.0f / (1.0f + std::exp(-beta * g))); }

inline void MatVecSwiGlu(float* out, const float* w_gate, const float* w_up, const float* x,
                         int rows, int cols, float beta) {
  for (int r = 0; r < rows; ++r) {
    const size_t offset = static_cast<size_t>(r) * cols;
    float g = 0.0f;
    float u = 0.0f;
    for (int c = 0; c < cols; ++c) {
      g += w_gate[offset + c] * x[c];
      u += w_up[offset + c] * x[c];
    }
    out[r] = Swish(g, beta) * u;
  }
}

// One MatVec per token.
inline void MatMul(float* out, const float* w, const float* x, size_t tokens, size_t rows,
                   size_t cols) {
  for (size_t t = 0; t < tokens; ++t) {
    MatVec(out + t * rows, w, x + t * cols, static_cast<int>(rows), static_cast<int>(cols));
  }
}

inline void MatMulSwiGlu(float* out, const float* w_gate, const float* w_up, const float* x,
                         size_t tokens, size_t rows, size_t cols, float beta) {
  for (size_t t = 0; t < tokens; ++t) {
    MatVecSwiGlu(out + t * rows, w_gate, w_up, x + t * cols, static_cast<int>(rows),
                 static_cast<int>(cols), beta);
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

}  // namespace lmc::kernels::scalar

#endif  // LMC_RUNTIME_KERNELS_SCALAR_OPS_H_
