// SIMD kernels the generated model code calls. Each entry point dispatches at run time to the
// best Highway target the CPU supports (see ops.cc); scalar_ops.h holds the reference
// semantics. All arrays are float32, row-major; sizes are element counts >= 1. Kernels never
// allocate and never touch memory outside the ranges described here.
#ifndef LMC_RUNTIME_KERNELS_OPS_H_
#define LMC_RUNTIME_KERNELS_OPS_H_

#include <cstddef>
#include <cstdint>

#include "runtime/kernels/attention_scratch.h"
#include "runtime/kernels/position_tables.h"

namespace lmc::kernels {

// out[r] = sum_c w[r*cols + c] * x[c], for r in [0, rows). out must not alias x or w.
void MatVec(float* out, const float* w, const float* x, int rows, int cols);

// Fused gate/up projection with SwiGLU: g = w_gate·x, u = w_up·x (both [rows, cols]),
// out[r] = g[r] * sigmoid(beta * g[r]) * u[r]. x is read once per row pair. out must not alias
// the inputs.
void MatVecSwiGlu(float* out, const float* w_gate, const float* w_up, const float* x, int rows,
                  int cols, float beta);

// Matrix-matrix product for a chunk of tokens (prefill): out[t*rows + r] = sum_c w[r*cols + c]
// * x[t*cols + c], for t in [0, tokens), r in [0, rows); out is [tokens, rows], x is
// [tokens, cols]. out must not alias x or w. Each output is bit-identical to MatVec of that
// token (same target): every dot product is summed in one order, described in ops-inl.h
// (DotTile). tokens == 1 is MatVec.
void MatMul(float* out, const float* w, const float* x, size_t tokens, size_t rows, size_t cols);

// MatVecSwiGlu for a chunk of tokens: out[t*rows + r] is MatVecSwiGlu of token t's row
// x[t*cols, (t+1)*cols), bit-identical to it. out must not alias the inputs.
void MatMulSwiGlu(float* out, const float* w_gate, const float* w_up, const float* x, size_t tokens,
                  size_t rows, size_t cols, float beta);

// MatMul / MatMulSwiGlu restricted to output rows [row_begin, row_end) (0 <= row_begin <
// row_end <= rows): writes out[t*rows + r] for those rows only, bit-identical to the whole
// product's. Threads split a product into disjoint row ranges; the result does not depend on
// the split.
void MatMulRows(float* out, const float* w, const float* x, size_t tokens, size_t rows, size_t cols,
                size_t row_begin, size_t row_end);
void MatMulSwiGluRows(float* out, const float* w_gate, const float* w_up, const float* x,
                      size_t tokens, size_t rows, size_t cols, float beta, size_t row_begin,
                      size_t row_end);

// MatMulRows / MatMulSwiGluRows with bfloat16 weights (w: the bits, row-major). Each weight
// widens exactly to f32, so every output is bit-identical to the f32 kernel's on the widened
// weights (same target).
void MatMulRowsBF16(float* out, const uint16_t* w, const float* x, size_t tokens, size_t rows,
                    size_t cols, size_t row_begin, size_t row_end);
void MatMulSwiGluRowsBF16(float* out, const uint16_t* w_gate, const uint16_t* w_up, const float* x,
                          size_t tokens, size_t rows, size_t cols, float beta, size_t row_begin,
                          size_t row_end);

// Block-quantized weights (Q8_0, Q4_0) have their own kernels: quant_ops.h.

// RMSNorm as in llama2.c: ss = sum(x^2)/n + eps; out[i] = weight[i] * ((1/sqrtf(ss)) * x[i]).
// out may alias x.
void RmsNorm(float* out, const float* x, const float* weight, int n, float eps);

// In-place numerically stable softmax over x[0, n). -inf entries become 0.
void Softmax(float* x, int n);

// Rotary position embedding on n_heads consecutive heads of head_dim (even) floats each.
// Pair j of a head is rotated by pos * theta^(-2j/head_dim) radians, with the angle computed
// in float exactly as llama2.c does.
// `inv_freq` (head_dim / 2 floats), when given, replaces theta^(-2j/head_dim): scaled RoPE.
// Interleaved pairs (2j, 2j+1): llama2.c / Meta Llama checkpoints.
// `rotary_dims` (even, <= head_dim; 0: head_dim) turns only the first rotary_dims of
// each head, with the frequencies of a rotary_dims-wide head: partial rotary (GPT-NeoX).
void RopeInterleaved(float* vec, int n_heads, int head_dim, int pos, float theta,
                     const float* inv_freq = nullptr, int rotary_dims = 0);
// Half-split pairs (j, j + head_dim/2): GPT-NeoX / Hugging Face Llama checkpoints.
void RopeHalf(float* vec, int n_heads, int head_dim, int pos, float theta,
              const float* inv_freq = nullptr, int rotary_dims = 0);

// out[i] = gate[i] * sigmoid(beta * gate[i]) * up[i]. out may alias gate or up.
void SwiGlu(float* out, const float* gate, const float* up, int n, float beta);

// x[i] += y[i]. x must not partially overlap y.
void AddInPlace(float* x, const float* y, int n);

// Attention of one query token over n_tokens cached tokens (the caller passes only the
// causally visible prefix), with grouped-query heads.
// q: [n_heads * head_dim]. key_cache / value_cache: row t starts at t * kv_stride floats and
// holds n_kv_heads heads of head_dim floats. Query head h reads kv head
// h / (n_heads / n_kv_heads); n_heads must be a multiple of n_kv_heads.
// Per head: s[t] = scale * dot(q_h, k_t); softmax over t; out_h = sum_t s[t] * v_t.
// scores: scratch of at least kAttentionHeadChunk * n_tokens floats (attention_scratch.h).
// out: [n_heads * head_dim], must not alias the other arguments. `slopes` (n_heads floats), when
// given, adds ALiBi's slopes[h] * (t - query_pos) to head h's scores before the softmax;
// `relative`, T5's bucketed bias of t - query_pos; `cope`, CoPE's contextual-position bias.
void Attention(float* out, const float* q, const float* key_cache, const float* value_cache,
               int n_tokens, int n_heads, int n_kv_heads, int head_dim, int kv_stride, float scale,
               float* scores, const float* slopes = nullptr, int query_pos = 0,
               const RelativeBias* relative = nullptr, const CopeBias* cope = nullptr);

// Index of the largest element; the first one on ties. n >= 1. Result is unspecified if x
// contains NaN.
int Argmax(const float* x, int n);

// The Highway target (an HWY_* bit, e.g. HWY_AVX2) the kernels currently dispatch to. For
// tests and diagnostics.
int64_t DispatchedTarget();

}  // namespace lmc::kernels

#endif  // LMC_RUNTIME_KERNELS_OPS_H_
