// Tests the kernels of rows-inl.h against their mirrors in scalar_ops.h (and a few SIMD building
// blocks of ops-inl.h the row kernels rely on: row splits, Attention's strides and scratch), on
// every Highway target that is both compiled in and supported by this CPU. This file is compiled
// once per target (foreach_target.h); the tests call the kernels through the dispatch table in
// namespace simd, which takes the target ForEachTarget selects.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/runtime/kernels_test.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
// Must come after foreach_target.h.
#include <hwy/highway.h>

#include "runtime/kernels/rows-inl.h"

// One entry point per kernel and weight type (HWY_EXPORT needs one function per name).
HWY_BEFORE_NAMESPACE();
namespace lmc::kernels_test {
namespace HWY_NAMESPACE {

namespace k = lmc::kernels::HWY_NAMESPACE;
using lmc::kernels::CopeBias;
using lmc::kernels::RelativeBias;
using lmc::rt::BlockQ4_0;
using lmc::rt::BlockQ8_0;
using BF16 = hwy::bfloat16_t;

int64_t Target() { return HWY_TARGET; }

void EmbeddingF32(float* out, const float* table, const int* tokens, int n, int width) {
  k::Embedding(out, table, tokens, n, width);
}
void EmbeddingBF16(float* out, const BF16* table, const int* tokens, int n, int width) {
  k::Embedding(out, table, tokens, n, width);
}
void RmsNormRows(float* out, const float* x, const float* weight, int n, int width, float eps) {
  k::RmsNormRows(out, x, weight, n, width, eps);
}
void LinearF32(float* out, const float* w, const float* x, int n, int rows, int cols) {
  k::Linear(out, w, x, n, rows, cols);
}
void LinearBF16(float* out, const BF16* w, const float* x, int n, int rows, int cols) {
  k::Linear(out, w, x, n, rows, cols);
}
void LinearQ8_0(float* out, const BlockQ8_0* w, const float* x, int n, int rows, int cols) {
  k::Linear(out, w, x, n, rows, cols);
}
void LinearQ4_0(float* out, const BlockQ4_0* w, const float* x, int n, int rows, int cols) {
  k::Linear(out, w, x, n, rows, cols);
}
void LinearQ4_0Matrix(float* out, const lmc::rt::Q4_0Matrix& w, const float* x, int n, int rows,
                      int cols) {
  k::Linear(out, w, x, n, rows, cols);
}
void GatedLinearF32(float* out, const float* w_gate, const float* w_up, const float* x, int n,
                    int rows, int cols, float beta) {
  k::GatedLinear(out, w_gate, w_up, x, n, rows, cols, beta);
}
void GatedLinearBF16(float* out, const BF16* w_gate, const BF16* w_up, const float* x, int n,
                     int rows, int cols, float beta) {
  k::GatedLinear(out, w_gate, w_up, x, n, rows, cols, beta);
}
void GatedLinearQ8_0(float* out, const BlockQ8_0* w_gate, const BlockQ8_0* w_up, const float* x,
                     int n, int rows, int cols, float beta) {
  k::GatedLinear(out, w_gate, w_up, x, n, rows, cols, beta);
}
void GatedLinearQ4_0(float* out, const BlockQ4_0* w_gate, const BlockQ4_0* w_up, const float* x,
                     int n, int rows, int cols, float beta) {
  k::GatedLinear(out, w_gate, w_up, x, n, rows, cols, beta);
}
void GatedLinearQ4_0Matrix(float* out, const lmc::rt::Q4_0Matrix& w_gate,
                           const lmc::rt::Q4_0Matrix& w_up, const float* x, int n, int rows,
                           int cols, float beta) {
  k::GatedLinear(out, w_gate, w_up, x, n, rows, cols, beta);
}
void AddBiasRows(float* out, const float* bias, int n, int width) {
  k::AddBiasRows(out, bias, n, width);
}
void LayerNormRows(float* out, const float* x, const float* weight, const float* bias, int n,
                   int width, float eps) {
  k::LayerNormRows(out, x, weight, bias, n, width, eps);
}
void ReluRows(float* out, const float* x, int n, int width) { k::ReluRows(out, x, n, width); }
void GeluRows(float* out, const float* x, int n, int width) { k::GeluRows(out, x, n, width); }
void GeluTanhRows(float* out, const float* x, int n, int width) {
  k::GeluTanhRows(out, x, n, width);
}
void SiluRows(float* out, const float* x, int n, int width) { k::SiluRows(out, x, n, width); }
void TanhRows(float* out, const float* x, int n, int width) { k::TanhRows(out, x, n, width); }
void MulRows(float* out, const float* a, const float* b, int n, int width) {
  k::MulRows(out, a, b, n, width);
}
void ScaleRows(float* out, const float* x, int n, int width, float factor) {
  k::ScaleRows(out, x, n, width, factor);
}
void AddPositionEmbeddingRows(float* x, const float* table, const int* positions, int n,
                              int width) {
  k::AddPositionEmbeddingRows(x, table, positions, n, width);
}
void AddSinusoidalRows(float* x, const int* positions, int n, int width, float* scratch) {
  k::AddSinusoidalRows(x, positions, n, width, scratch);
}
void RopeInterleavedRows(float* x, const int* positions, int n, int heads, int head_dim,
                         float theta, const float* inv_freq, int rotary_dims) {
  k::RopeInterleavedRows(x, positions, n, heads, head_dim, theta, inv_freq, rotary_dims);
}
void RopeHalfRows(float* x, const int* positions, int n, int heads, int head_dim, float theta,
                  const float* inv_freq, int rotary_dims) {
  k::RopeHalfRows(x, positions, n, heads, head_dim, theta, inv_freq, rotary_dims);
}
void SwiGluRows(float* out, const float* gate, const float* up, int n, int width, float beta) {
  k::SwiGluRows(out, gate, up, n, width, beta);
}
void AddRows(float* x, const float* y, int n, int width) { k::AddRows(x, y, n, width); }
void KvStore(float* k_cache, float* v_cache, const float* key, const float* value,
             const int* positions, int n, int width, int head_dim, int capacity) {
  k::KvStore(k_cache, v_cache, key, value, positions, n, width, head_dim, capacity);
}
void AttentionRows(float* out, const float* q, const float* k_cache, const float* v_cache,
                   const int* positions, int n, int heads, int kv_heads, int head_dim, int capacity,
                   float scale, bool causal, const float* slopes, const RelativeBias* relative,
                   const CopeBias* cope) {
  k::AttentionRows(out, q, k_cache, v_cache, positions, n, heads, kv_heads, head_dim, capacity,
                   scale, causal, slopes, relative, cope);
}
void CrossAttentionRows(float* out, const float* q, const float* k_cache, const float* v_cache,
                        int n, int source_len, int heads, int kv_heads, int head_dim, int capacity,
                        float scale) {
  k::CrossAttentionRows(out, q, k_cache, v_cache, n, source_len, heads, kv_heads, head_dim,
                        capacity, scale);
}
// 16-bit KV caches (attention.kv_cache).
template <typename TC>
void KvStoreAndAttend(TC* k_cache, TC* v_cache, float* out, const float* q, const float* key,
                      const float* value, const int* positions, int n, int heads, int kv_heads,
                      int head_dim, int capacity) {
  k::KvStore(k_cache, v_cache, key, value, positions, n, kv_heads * head_dim, head_dim, capacity);
  k::AttentionRows(out, q, k_cache, v_cache, positions, n, heads, kv_heads, head_dim, capacity,
                   0.35f, true, nullptr, nullptr, nullptr);
}
void KvStoreAndAttendBF16(BF16* k_cache, BF16* v_cache, float* out, const float* q,
                          const float* key, const float* value, const int* positions, int n,
                          int heads, int kv_heads, int head_dim, int capacity) {
  KvStoreAndAttend(k_cache, v_cache, out, q, key, value, positions, n, heads, kv_heads, head_dim,
                   capacity);
}
void KvStoreAndAttendF16(hwy::float16_t* k_cache, hwy::float16_t* v_cache, float* out,
                         const float* q, const float* key, const float* value, const int* positions,
                         int n, int heads, int kv_heads, int head_dim, int capacity) {
  KvStoreAndAttend(k_cache, v_cache, out, q, key, value, positions, n, heads, kv_heads, head_dim,
                   capacity);
}
void KvStoreAndAttendQ8(lmc::rt::BlockQ8_0* k_cache, lmc::rt::BlockQ8_0* v_cache, float* out,
                        const float* q, const float* key, const float* value, const int* positions,
                        int n, int heads, int kv_heads, int head_dim, int capacity) {
  KvStoreAndAttend(k_cache, v_cache, out, q, key, value, positions, n, heads, kv_heads, head_dim,
                   capacity);
}
void SoftmaxRows(float* x, int n, int width) { k::SoftmaxRows(x, n, width); }
void ArgmaxRows(int* out, const float* x, int n, int width) { k::ArgmaxRows(out, x, n, width); }

// Building blocks of ops-inl.h.
void MatMulRowsF32(float* out, const float* w, const float* x, size_t tokens, size_t rows,
                   size_t cols, size_t row_begin, size_t row_end) {
  k::MatMulRows(out, w, x, tokens, rows, cols, row_begin, row_end);
}
void MatMulRowsBF16(float* out, const BF16* w, const float* x, size_t tokens, size_t rows,
                    size_t cols, size_t row_begin, size_t row_end) {
  k::MatMulRows(out, w, x, tokens, rows, cols, row_begin, row_end);
}
void MatMulSwiGluRowsF32(float* out, const float* w_gate, const float* w_up, const float* x,
                         size_t tokens, size_t rows, size_t cols, float beta, size_t row_begin,
                         size_t row_end) {
  k::MatMulSwiGluRows(out, w_gate, w_up, x, tokens, rows, cols, beta, row_begin, row_end);
}
void MatMulSwiGluRowsBF16(float* out, const BF16* w_gate, const BF16* w_up, const float* x,
                          size_t tokens, size_t rows, size_t cols, float beta, size_t row_begin,
                          size_t row_end) {
  k::MatMulSwiGluRows(out, w_gate, w_up, x, tokens, rows, cols, beta, row_begin, row_end);
}
void Attention(float* out, const float* q, const float* key_cache, const float* value_cache,
               int n_tokens, int n_heads, int n_kv_heads, int head_dim, int kv_stride, float scale,
               float* scores, const float* slopes, int query_pos, const RelativeBias* relative,
               const CopeBias* cope) {
  k::Attention(out, q, key_cache, value_cache, n_tokens, n_heads, n_kv_heads, head_dim, kv_stride,
               scale, scores, slopes, query_pos, relative, cope);
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::kernels_test
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <hwy/targets.h>
#if HWY_ARCH_X86
#include <immintrin.h>
#endif

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iterator>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/kernels/position_tables.h"
#include "runtime/kernels/quant_ops.h"
#include "runtime/kernels/scalar_ops.h"

namespace lmc::kernels_test {

HWY_EXPORT(Target);
HWY_EXPORT(EmbeddingF32);
HWY_EXPORT(EmbeddingBF16);
HWY_EXPORT(RmsNormRows);
HWY_EXPORT(LinearF32);
HWY_EXPORT(LinearBF16);
HWY_EXPORT(LinearQ8_0);
HWY_EXPORT(LinearQ4_0);
HWY_EXPORT(LinearQ4_0Matrix);
HWY_EXPORT(GatedLinearF32);
HWY_EXPORT(GatedLinearBF16);
HWY_EXPORT(GatedLinearQ8_0);
HWY_EXPORT(GatedLinearQ4_0);
HWY_EXPORT(GatedLinearQ4_0Matrix);
HWY_EXPORT(AddBiasRows);
HWY_EXPORT(LayerNormRows);
HWY_EXPORT(ReluRows);
HWY_EXPORT(GeluRows);
HWY_EXPORT(GeluTanhRows);
HWY_EXPORT(SiluRows);
HWY_EXPORT(TanhRows);
HWY_EXPORT(MulRows);
HWY_EXPORT(ScaleRows);
HWY_EXPORT(AddPositionEmbeddingRows);
HWY_EXPORT(AddSinusoidalRows);
HWY_EXPORT(RopeInterleavedRows);
HWY_EXPORT(RopeHalfRows);
HWY_EXPORT(SwiGluRows);
HWY_EXPORT(AddRows);
HWY_EXPORT(KvStore);
HWY_EXPORT(AttentionRows);
HWY_EXPORT(CrossAttentionRows);
HWY_EXPORT(KvStoreAndAttendBF16);
HWY_EXPORT(KvStoreAndAttendF16);
HWY_EXPORT(KvStoreAndAttendQ8);
HWY_EXPORT(SoftmaxRows);
HWY_EXPORT(ArgmaxRows);
HWY_EXPORT(MatMulRowsF32);
HWY_EXPORT(MatMulRowsBF16);
HWY_EXPORT(MatMulSwiGluRowsF32);
HWY_EXPORT(MatMulSwiGluRowsBF16);
HWY_EXPORT(Attention);

// The SIMD kernels, dispatched to the current target: rows-inl.h's names and signatures, as
// scalar_ops.h mirrors them.
namespace simd {

using BF16 = hwy::bfloat16_t;
using kernels::CopeBias;
using kernels::RelativeBias;
using rt::BlockQ4_0;
using rt::BlockQ8_0;

int64_t Target() { return HWY_DYNAMIC_DISPATCH(Target)(); }
void Embedding(float* out, const float* table, const int* tokens, int n, int width) {
  HWY_DYNAMIC_DISPATCH(EmbeddingF32)(out, table, tokens, n, width);
}
void Embedding(float* out, const BF16* table, const int* tokens, int n, int width) {
  HWY_DYNAMIC_DISPATCH(EmbeddingBF16)(out, table, tokens, n, width);
}
void RmsNormRows(float* out, const float* x, const float* weight, int n, int width, float eps) {
  HWY_DYNAMIC_DISPATCH(RmsNormRows)(out, x, weight, n, width, eps);
}
void Linear(float* out, const float* w, const float* x, int n, int rows, int cols) {
  HWY_DYNAMIC_DISPATCH(LinearF32)(out, w, x, n, rows, cols);
}
void Linear(float* out, const BF16* w, const float* x, int n, int rows, int cols) {
  HWY_DYNAMIC_DISPATCH(LinearBF16)(out, w, x, n, rows, cols);
}
void Linear(float* out, const BlockQ8_0* w, const float* x, int n, int rows, int cols) {
  HWY_DYNAMIC_DISPATCH(LinearQ8_0)(out, w, x, n, rows, cols);
}
void Linear(float* out, const BlockQ4_0* w, const float* x, int n, int rows, int cols) {
  HWY_DYNAMIC_DISPATCH(LinearQ4_0)(out, w, x, n, rows, cols);
}
void Linear(float* out, const rt::Q4_0Matrix& w, const float* x, int n, int rows, int cols) {
  HWY_DYNAMIC_DISPATCH(LinearQ4_0Matrix)(out, w, x, n, rows, cols);
}
void GatedLinear(float* out, const float* w_gate, const float* w_up, const float* x, int n,
                 int rows, int cols, float beta) {
  HWY_DYNAMIC_DISPATCH(GatedLinearF32)(out, w_gate, w_up, x, n, rows, cols, beta);
}
void GatedLinear(float* out, const BF16* w_gate, const BF16* w_up, const float* x, int n, int rows,
                 int cols, float beta) {
  HWY_DYNAMIC_DISPATCH(GatedLinearBF16)(out, w_gate, w_up, x, n, rows, cols, beta);
}
void GatedLinear(float* out, const BlockQ8_0* w_gate, const BlockQ8_0* w_up, const float* x, int n,
                 int rows, int cols, float beta) {
  HWY_DYNAMIC_DISPATCH(GatedLinearQ8_0)(out, w_gate, w_up, x, n, rows, cols, beta);
}
void GatedLinear(float* out, const BlockQ4_0* w_gate, const BlockQ4_0* w_up, const float* x, int n,
                 int rows, int cols, float beta) {
  HWY_DYNAMIC_DISPATCH(GatedLinearQ4_0)(out, w_gate, w_up, x, n, rows, cols, beta);
}
void GatedLinear(float* out, const rt::Q4_0Matrix& w_gate, const rt::Q4_0Matrix& w_up,
                 const float* x, int n, int rows, int cols, float beta) {
  HWY_DYNAMIC_DISPATCH(GatedLinearQ4_0Matrix)(out, w_gate, w_up, x, n, rows, cols, beta);
}
void AddBiasRows(float* out, const float* bias, int n, int width) {
  HWY_DYNAMIC_DISPATCH(AddBiasRows)(out, bias, n, width);
}
void LayerNormRows(float* out, const float* x, const float* weight, const float* bias, int n,
                   int width, float eps) {
  HWY_DYNAMIC_DISPATCH(LayerNormRows)(out, x, weight, bias, n, width, eps);
}
void ReluRows(float* out, const float* x, int n, int width) {
  HWY_DYNAMIC_DISPATCH(ReluRows)(out, x, n, width);
}
void GeluRows(float* out, const float* x, int n, int width) {
  HWY_DYNAMIC_DISPATCH(GeluRows)(out, x, n, width);
}
void GeluTanhRows(float* out, const float* x, int n, int width) {
  HWY_DYNAMIC_DISPATCH(GeluTanhRows)(out, x, n, width);
}
void SiluRows(float* out, const float* x, int n, int width) {
  HWY_DYNAMIC_DISPATCH(SiluRows)(out, x, n, width);
}
void TanhRows(float* out, const float* x, int n, int width) {
  HWY_DYNAMIC_DISPATCH(TanhRows)(out, x, n, width);
}
void MulRows(float* out, const float* a, const float* b, int n, int width) {
  HWY_DYNAMIC_DISPATCH(MulRows)(out, a, b, n, width);
}
void ScaleRows(float* out, const float* x, int n, int width, float factor) {
  HWY_DYNAMIC_DISPATCH(ScaleRows)(out, x, n, width, factor);
}
void AddPositionEmbeddingRows(float* x, const float* table, const int* positions, int n,
                              int width) {
  HWY_DYNAMIC_DISPATCH(AddPositionEmbeddingRows)(x, table, positions, n, width);
}
void AddSinusoidalRows(float* x, const int* positions, int n, int width, float* scratch) {
  HWY_DYNAMIC_DISPATCH(AddSinusoidalRows)(x, positions, n, width, scratch);
}
void RopeInterleavedRows(float* x, const int* positions, int n, int heads, int head_dim,
                         float theta, const float* inv_freq, int rotary_dims = 0) {
  HWY_DYNAMIC_DISPATCH(RopeInterleavedRows)
  (x, positions, n, heads, head_dim, theta, inv_freq, rotary_dims);
}
void RopeHalfRows(float* x, const int* positions, int n, int heads, int head_dim, float theta,
                  const float* inv_freq, int rotary_dims = 0) {
  HWY_DYNAMIC_DISPATCH(RopeHalfRows)
  (x, positions, n, heads, head_dim, theta, inv_freq, rotary_dims);
}
void SwiGluRows(float* out, const float* gate, const float* up, int n, int width, float beta) {
  HWY_DYNAMIC_DISPATCH(SwiGluRows)(out, gate, up, n, width, beta);
}
void AddRows(float* x, const float* y, int n, int width) {
  HWY_DYNAMIC_DISPATCH(AddRows)(x, y, n, width);
}
void KvStore(float* k_cache, float* v_cache, const float* key, const float* value,
             const int* positions, int n, int width, int head_dim, int capacity) {
  HWY_DYNAMIC_DISPATCH(KvStore)
  (k_cache, v_cache, key, value, positions, n, width, head_dim, capacity);
}
void AttentionRows(float* out, const float* q, const float* k_cache, const float* v_cache,
                   const int* positions, int n, int heads, int kv_heads, int head_dim, int capacity,
                   float scale, bool causal, const float* slopes, const RelativeBias* relative,
                   const CopeBias* cope) {
  HWY_DYNAMIC_DISPATCH(AttentionRows)
  (out, q, k_cache, v_cache, positions, n, heads, kv_heads, head_dim, capacity, scale, causal,
   slopes, relative, cope);
}
void CrossAttentionRows(float* out, const float* q, const float* k_cache, const float* v_cache,
                        int n, int source_len, int heads, int kv_heads, int head_dim, int capacity,
                        float scale) {
  HWY_DYNAMIC_DISPATCH(CrossAttentionRows)
  (out, q, k_cache, v_cache, n, source_len, heads, kv_heads, head_dim, capacity, scale);
}
void SoftmaxRows(float* x, int n, int width) { HWY_DYNAMIC_DISPATCH(SoftmaxRows)(x, n, width); }
void ArgmaxRows(int* out, const float* x, int n, int width) {
  HWY_DYNAMIC_DISPATCH(ArgmaxRows)(out, x, n, width);
}
// KvStore into a 16-bit cache, then causal AttentionRows (scale 0.35) over it.
void KvStoreAndAttend(BF16* k_cache, BF16* v_cache, float* out, const float* q, const float* key,
                      const float* value, const int* positions, int n, int heads, int kv_heads,
                      int head_dim, int capacity) {
  HWY_DYNAMIC_DISPATCH(KvStoreAndAttendBF16)
  (k_cache, v_cache, out, q, key, value, positions, n, heads, kv_heads, head_dim, capacity);
}
void KvStoreAndAttend(hwy::float16_t* k_cache, hwy::float16_t* v_cache, float* out, const float* q,
                      const float* key, const float* value, const int* positions, int n, int heads,
                      int kv_heads, int head_dim, int capacity) {
  HWY_DYNAMIC_DISPATCH(KvStoreAndAttendF16)
  (k_cache, v_cache, out, q, key, value, positions, n, heads, kv_heads, head_dim, capacity);
}
void KvStoreAndAttend(lmc::rt::BlockQ8_0* k_cache, lmc::rt::BlockQ8_0* v_cache, float* out,
                      const float* q, const float* key, const float* value, const int* positions,
                      int n, int heads, int kv_heads, int head_dim, int capacity) {
  HWY_DYNAMIC_DISPATCH(KvStoreAndAttendQ8)
  (k_cache, v_cache, out, q, key, value, positions, n, heads, kv_heads, head_dim, capacity);
}

// Building blocks of ops-inl.h.
void MatMulRows(float* out, const float* w, const float* x, size_t tokens, size_t rows, size_t cols,
                size_t row_begin, size_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatMulRowsF32)(out, w, x, tokens, rows, cols, row_begin, row_end);
}
void MatMulRows(float* out, const BF16* w, const float* x, size_t tokens, size_t rows, size_t cols,
                size_t row_begin, size_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatMulRowsBF16)(out, w, x, tokens, rows, cols, row_begin, row_end);
}
void MatMulSwiGluRows(float* out, const float* w_gate, const float* w_up, const float* x,
                      size_t tokens, size_t rows, size_t cols, float beta, size_t row_begin,
                      size_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatMulSwiGluRowsF32)
  (out, w_gate, w_up, x, tokens, rows, cols, beta, row_begin, row_end);
}
void MatMulSwiGluRows(float* out, const BF16* w_gate, const BF16* w_up, const float* x,
                      size_t tokens, size_t rows, size_t cols, float beta, size_t row_begin,
                      size_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatMulSwiGluRowsBF16)
  (out, w_gate, w_up, x, tokens, rows, cols, beta, row_begin, row_end);
}
void Attention(float* out, const float* q, const float* key_cache, const float* value_cache,
               int n_tokens, int n_heads, int n_kv_heads, int head_dim, int kv_stride, float scale,
               float* scores, const float* slopes = nullptr, int query_pos = 0,
               const RelativeBias* relative = nullptr, const CopeBias* cope = nullptr) {
  HWY_DYNAMIC_DISPATCH(Attention)
  (out, q, key_cache, value_cache, n_tokens, n_heads, n_kv_heads, head_dim, kv_stride, scale,
   scores, slopes, query_pos, relative, cope);
}

}  // namespace simd
}  // namespace lmc::kernels_test

namespace {

namespace k = lmc::kernels;
namespace ref = lmc::kernels::scalar;
namespace simd = lmc::kernels_test::simd;

// Covers sizes below one vector (SSE: 4, AVX2: 8, AVX-512: 16 floats), exact multiples, and
// odd remainders after several vectors.
const std::vector<int> kSizes = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 172};

// Restores Highway's normal target selection even when an assertion aborts the test case.
struct TargetReset {
  ~TargetReset() { hwy::SetSupportedTargetsForTest(0); }
};

// Runs body once per compiled and supported target, after checking that dynamic dispatch
// really selects that target.
void ForEachTarget(const std::function<void()>& body) {
  TargetReset reset;
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  REQUIRE(!targets.empty());
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    INFO("target " << hwy::TargetName(target));
    REQUIRE(simd::Target() == target);
    body();
  }
}
std::vector<float> Random(size_t n, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Extra floats after every output buffer, to catch out-of-bounds writes without ASan.
constexpr int kGuard = 17;
constexpr float kGuardValue = 12345.0f;

std::vector<float> Guarded(size_t n) {
  std::vector<float> v(n, 0.0f);
  v.resize(n + kGuard, kGuardValue);
  return v;
}

bool GuardIntact(const std::vector<float>& v, size_t n) {
  return std::all_of(v.begin() + n, v.end(), [](float x) { return x == kGuardValue; });
}

// Checks |got - want| <= rel * |want| + abs_tol[i] for i in [0, n); reports the worst index.
void ExpectClose(const float* got, const float* want, size_t n, float rel,
                 const std::vector<float>& abs_tol) {
  size_t bad = 0;
  size_t first_bad = n;
  for (size_t i = 0; i < n; ++i) {
    const float tol = rel * std::fabs(want[i]) + abs_tol[i];
    if (!(std::fabs(got[i] - want[i]) <= tol)) {  // Also catches NaN.
      if (bad++ == 0) first_bad = i;
    }
  }
  std::ostringstream detail;
  if (bad != 0) {
    detail << "first mismatch at " << first_bad << ": got " << got[first_bad] << ", want "
           << want[first_bad] << "; " << bad << " of " << n << " differ";
  }
  INFO(detail.str());
  CHECK(bad == 0);
}

void ExpectClose(const float* got, const float* want, size_t n, float rel = 1e-5f,
                 float abs_tol = 1e-6f) {
  ExpectClose(got, want, n, rel, std::vector<float>(n, abs_tol));
}

// Absolute tolerances for dot products: rounding error scales with sum |w_c * x_c|, not with
// the (possibly cancelled) result.
// size_t sizes as the row kernels' int arguments.
int Int(size_t n) { return static_cast<int>(n); }

// One row's positions argument (valid until the end of the full expression).
const int* Position(const int& pos) { return &pos; }

// Index of the largest element through the SIMD ArgmaxRows, one row.
int Argmax(const float* x, int n) {
  int best = -1;
  simd::ArgmaxRows(&best, x, 1, n);
  return best;
}

std::vector<float> DotTolerance(const std::vector<float>& w, const std::vector<float>& x, int rows,
                                int cols) {
  std::vector<float> abs_w(w.size()), abs_x(x.size()), mag(rows);
  std::transform(w.begin(), w.end(), abs_w.begin(), [](float v) { return std::fabs(v); });
  std::transform(x.begin(), x.end(), abs_x.begin(), [](float v) { return std::fabs(v); });
  ref::MatVec(mag.data(), abs_w.data(), abs_x.data(), rows, cols);
  for (float& m : mag) m = 1e-6f * m + 1e-7f;
  return mag;
}

}  // namespace

TEST_CASE("Dispatch visits every supported target", "[kernels]") {
  std::ostringstream names;
  int count = 0;
  ForEachTarget([&] {
    names << hwy::TargetName(simd::Target()) << ' ';
    ++count;
  });
  WARN("kernel targets tested: " << names.str());
  CHECK(count == static_cast<int>(hwy::SupportedAndGeneratedTargets().size()));
  // After the reset the best target is chosen again.
  CHECK(simd::Target() == hwy::SupportedAndGeneratedTargets().front());
}

TEST_CASE("Linear of one token (MatVec) matches scalar reference", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(1);
    const std::vector<int> row_counts = {1, 2, 3, 4, 5, 7, 8, 9, 17};
    std::vector<int> col_counts = kSizes;
    col_counts.push_back(288);
    col_counts.push_back(1000);
    for (int rows : row_counts) {
      for (int cols : col_counts) {
        INFO("rows " << rows << " cols " << cols);
        const std::vector<float> w = Random(static_cast<size_t>(rows) * cols, rng);
        const std::vector<float> x = Random(cols, rng);
        std::vector<float> want(rows);
        std::vector<float> got = Guarded(rows);
        ref::Linear(want.data(), w.data(), x.data(), 1, rows, cols);
        simd::Linear(got.data(), w.data(), x.data(), 1, rows, cols);
        ExpectClose(got.data(), want.data(), rows, 1e-5f, DotTolerance(w, x, rows, cols));
        CHECK(GuardIntact(got, rows));
      }
    }
  });
}

TEST_CASE("Linear of one token on a model-sized matrix", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(2);
    const int rows = 259;
    const int cols = 768;
    const std::vector<float> w = Random(static_cast<size_t>(rows) * cols, rng);
    const std::vector<float> x = Random(cols, rng);
    std::vector<float> want(rows);
    std::vector<float> got = Guarded(rows);
    ref::Linear(want.data(), w.data(), x.data(), 1, rows, cols);
    simd::Linear(got.data(), w.data(), x.data(), 1, rows, cols);
    ExpectClose(got.data(), want.data(), rows, 1e-5f, DotTolerance(w, x, rows, cols));
    CHECK(GuardIntact(got, rows));
  });
}

TEST_CASE("Linear of a one-hot token selects a column", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(3);
    const int rows = 6;
    const int cols = 19;
    const std::vector<float> w = Random(rows * cols, rng);
    for (int c : {0, 8, 16, 18}) {
      std::vector<float> x(cols, 0.0f);
      x[c] = 1.0f;
      std::vector<float> out(rows);
      simd::Linear(out.data(), w.data(), x.data(), 1, rows, cols);
      for (int r = 0; r < rows; ++r) CHECK(out[r] == w[r * cols + c]);
    }
  });
}

TEST_CASE("GatedLinear of one token matches scalar reference", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(4);
    for (float beta : {1.0f, 1.702f}) {
      for (int rows : {1, 2, 3, 4, 5, 11}) {
        for (int cols : kSizes) {
          INFO("rows " << rows << " cols " << cols << " beta " << beta);
          const size_t size = static_cast<size_t>(rows) * cols;
          // Scaled so gate values reach the saturated parts of the sigmoid.
          const std::vector<float> w_gate = Random(size, rng, -3.0f, 3.0f);
          const std::vector<float> w_up = Random(size, rng);
          const std::vector<float> x = Random(cols, rng);
          std::vector<float> want(rows);
          std::vector<float> got = Guarded(rows);
          ref::GatedLinear(want.data(), w_gate.data(), w_up.data(), x.data(), 1, rows, cols, beta);
          simd::GatedLinear(got.data(), w_gate.data(), w_up.data(), x.data(), 1, rows, cols, beta);
          // Error in g and u propagates roughly as |g| * err(u) + |u| * err(g).
          std::vector<float> tol_g = DotTolerance(w_gate, x, rows, cols);
          std::vector<float> tol_u = DotTolerance(w_up, x, rows, cols);
          std::vector<float> g(rows), u(rows), tol(rows);
          ref::MatVec(g.data(), w_gate.data(), x.data(), rows, cols);
          ref::MatVec(u.data(), w_up.data(), x.data(), rows, cols);
          for (int r = 0; r < rows; ++r) {
            tol[r] = 2.0f * (std::fabs(g[r]) * tol_u[r] + (std::fabs(u[r]) + 1.0f) * tol_g[r]);
          }
          ExpectClose(got.data(), want.data(), rows, 1e-5f, tol);
          CHECK(GuardIntact(got, rows));
        }
      }
    }
  });
}

namespace {

// Token counts for the matrix-matrix kernels: below, at and above every register tile (6 x 4
// and, past 1024 columns, 4 x 6 on AVX-512; 4 x 2 elsewhere), and row counts that leave
// every remainder of a row tile. 1100 columns take the long-row tiles.
const std::vector<size_t> kTokenCounts = {1, 2, 3, 4, 5, 6, 7, 8, 9};
const std::vector<size_t> kMatMulRows = {1, 2, 3, 4, 5, 7, 9, 17};
const std::vector<size_t> kMatMulCols = {1, 3, 4, 7, 15, 16, 17, 33, 100, 1100};

// DotTolerance for every token of x ([tokens, cols]): [tokens, rows].
std::vector<float> DotToleranceRows(const std::vector<float>& w, const std::vector<float>& x,
                                    size_t tokens, size_t rows, size_t cols) {
  std::vector<float> tol;
  for (size_t t = 0; t < tokens; ++t) {
    const std::vector<float> x_t(x.begin() + t * cols, x.begin() + (t + 1) * cols);
    const std::vector<float> tol_t =
        DotTolerance(w, x_t, static_cast<int>(rows), static_cast<int>(cols));
    tol.insert(tol.end(), tol_t.begin(), tol_t.end());
  }
  return tol;
}

// Index of the first element whose bits differ, or n.
size_t FirstBitDifference(const float* a, const float* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return i;
  }
  return n;
}

}  // namespace

TEST_CASE("Linear matches scalar reference", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(21);
    for (size_t tokens : kTokenCounts) {
      for (size_t rows : kMatMulRows) {
        for (size_t cols : kMatMulCols) {
          INFO("tokens " << tokens << " rows " << rows << " cols " << cols);
          const std::vector<float> w = Random(rows * cols, rng);
          const std::vector<float> x = Random(tokens * cols, rng);
          std::vector<float> want(tokens * rows);
          std::vector<float> got = Guarded(tokens * rows);
          ref::Linear(want.data(), w.data(), x.data(), Int(tokens), Int(rows), Int(cols));
          simd::Linear(got.data(), w.data(), x.data(), Int(tokens), Int(rows), Int(cols));
          ExpectClose(got.data(), want.data(), tokens * rows, 1e-5f,
                      DotToleranceRows(w, x, tokens, rows, cols));
          CHECK(GuardIntact(got, tokens * rows));
        }
      }
    }
  });
}

// Prefill and decode must agree exactly: each token's row of Linear is that of Linear of the
// token alone, also across the cache blocks a long chunk is split into (2048 columns: blocks of
// < 64 tokens).
TEST_CASE("Linear of a chunk equals Linear of each token bit for bit", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(22);
    struct Case {
      size_t tokens, rows, cols;
    };
    std::vector<Case> cases;
    for (size_t tokens : kTokenCounts) {
      for (size_t rows : {size_t{3}, size_t{9}}) {
        for (size_t cols : {size_t{17}, size_t{100}, size_t{1100}}) {
          cases.push_back({tokens, rows, cols});
        }
      }
    }
    cases.push_back({130, 6, 2048});
    cases.push_back({67, 5, 4099});
    for (const Case& c : cases) {
      INFO("tokens " << c.tokens << " rows " << c.rows << " cols " << c.cols);
      const std::vector<float> w = Random(c.rows * c.cols, rng);
      const std::vector<float> x = Random(c.tokens * c.cols, rng);
      std::vector<float> got = Guarded(c.tokens * c.rows);
      std::vector<float> want(c.tokens * c.rows);
      simd::Linear(got.data(), w.data(), x.data(), Int(c.tokens), Int(c.rows), Int(c.cols));
      for (size_t t = 0; t < c.tokens; ++t) {
        simd::Linear(want.data() + t * c.rows, w.data(), x.data() + t * c.cols, 1, Int(c.rows),
                     Int(c.cols));
      }
      const size_t n = c.tokens * c.rows;
      const size_t bad = FirstBitDifference(got.data(), want.data(), n);
      INFO("first difference at " << bad
                                  << (bad < n ? ": got " + std::to_string(got[bad]) + ", alone " +
                                                    std::to_string(want[bad])
                                              : std::string()));
      CHECK(bad == n);
      CHECK(GuardIntact(got, n));
    }
  });
}

TEST_CASE("Linear of one-hot tokens selects columns", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(23);
    const size_t rows = 7;
    const size_t cols = 37;
    const size_t tokens = 6;
    const std::vector<float> w = Random(rows * cols, rng);
    const size_t hot[tokens] = {0, 36, 16, 5, 17, 31};
    std::vector<float> x(tokens * cols, 0.0f);
    for (size_t t = 0; t < tokens; ++t) x[t * cols + hot[t]] = 1.0f;
    std::vector<float> out(tokens * rows);
    simd::Linear(out.data(), w.data(), x.data(), Int(tokens), Int(rows), Int(cols));
    for (size_t t = 0; t < tokens; ++t) {
      for (size_t r = 0; r < rows; ++r) CHECK(out[t * rows + r] == w[r * cols + hot[t]]);
    }
  });
}

TEST_CASE("GatedLinear matches scalar reference and each token alone bit for bit", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(24);
    for (float beta : {1.0f, 1.702f}) {
      for (size_t tokens : kTokenCounts) {
        for (size_t rows : kMatMulRows) {
          for (size_t cols :
               {size_t{1}, size_t{5}, size_t{16}, size_t{17}, size_t{100}, size_t{1100}}) {
            INFO("tokens " << tokens << " rows " << rows << " cols " << cols << " beta " << beta);
            const std::vector<float> w_gate = Random(rows * cols, rng, -3.0f, 3.0f);
            const std::vector<float> w_up = Random(rows * cols, rng);
            const std::vector<float> x = Random(tokens * cols, rng);
            const size_t n = tokens * rows;
            std::vector<float> want(n);
            std::vector<float> got = Guarded(n);
            ref::GatedLinear(want.data(), w_gate.data(), w_up.data(), x.data(), Int(tokens),
                             Int(rows), Int(cols), beta);
            simd::GatedLinear(got.data(), w_gate.data(), w_up.data(), x.data(), Int(tokens),
                              Int(rows), Int(cols), beta);
            const std::vector<float> tol_g = DotToleranceRows(w_gate, x, tokens, rows, cols);
            const std::vector<float> tol_u = DotToleranceRows(w_up, x, tokens, rows, cols);
            std::vector<float> g(n), u(n), tol(n);
            ref::Linear(g.data(), w_gate.data(), x.data(), Int(tokens), Int(rows), Int(cols));
            ref::Linear(u.data(), w_up.data(), x.data(), Int(tokens), Int(rows), Int(cols));
            for (size_t i = 0; i < n; ++i) {
              tol[i] = 2.0f * (std::fabs(g[i]) * tol_u[i] + (std::fabs(u[i]) + 1.0f) * tol_g[i]);
            }
            ExpectClose(got.data(), want.data(), n, 1e-5f, tol);
            CHECK(GuardIntact(got, n));

            std::vector<float> per_token(n);
            for (size_t t = 0; t < tokens; ++t) {
              simd::GatedLinear(per_token.data() + t * rows, w_gate.data(), w_up.data(),
                                x.data() + t * cols, 1, Int(rows), Int(cols), beta);
            }
            CHECK(FirstBitDifference(got.data(), per_token.data(), n) == n);
          }
        }
      }
    }
  });
}

// What threads rely on (Linear and GatedLinear hand each thread a range of rows of these
// building blocks): any split into row ranges gives the whole product's bits and writes only
// its own rows.
TEST_CASE("MatMulRows and MatMulSwiGluRows split a product without changing it", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(25);
    const size_t rows = 23;
    for (size_t tokens : {size_t{1}, size_t{5}, size_t{9}}) {
      for (size_t cols : {size_t{19}, size_t{1100}}) {
        INFO("tokens " << tokens << " cols " << cols);
        const std::vector<float> w = Random(rows * cols, rng);
        const std::vector<float> w_up = Random(rows * cols, rng);
        const std::vector<float> x = Random(tokens * cols, rng);
        const size_t n = tokens * rows;
        std::vector<float> whole(n), whole_swiglu(n);
        simd::MatMulRows(whole.data(), w.data(), x.data(), tokens, rows, cols, 0, rows);
        simd::MatMulSwiGluRows(whole_swiglu.data(), w.data(), w_up.data(), x.data(), tokens, rows,
                               cols, 1.0f, 0, rows);
        // Uneven ranges that cut through register tiles: 23 = 1 + 4 + 7 + 11.
        const size_t bounds[] = {0, 1, 5, 12, 23};
        std::vector<float> split = Guarded(n), split_swiglu = Guarded(n);
        for (size_t i = 0; i + 1 < std::size(bounds); ++i) {
          simd::MatMulRows(split.data(), w.data(), x.data(), tokens, rows, cols, bounds[i],
                           bounds[i + 1]);
          simd::MatMulSwiGluRows(split_swiglu.data(), w.data(), w_up.data(), x.data(), tokens, rows,
                                 cols, 1.0f, bounds[i], bounds[i + 1]);
          // Rows not yet computed are untouched (still zero).
          for (size_t t = 0; t < tokens; ++t) {
            for (size_t r = bounds[i + 1]; r < rows; ++r) {
              CHECK(split[t * rows + r] == 0.0f);
              CHECK(split_swiglu[t * rows + r] == 0.0f);
            }
          }
        }
        CHECK(FirstBitDifference(split.data(), whole.data(), n) == n);
        CHECK(FirstBitDifference(split_swiglu.data(), whole_swiglu.data(), n) == n);
        CHECK(GuardIntact(split, n));
        CHECK(GuardIntact(split_swiglu, n));
      }
    }
  });
}

// bfloat16 weights by truncation of random floats (any bf16 values do), and their exact
// widening: the top 16 bits of a float. Independent of the runtime's conversions.
static void RandomBF16(size_t n, std::mt19937& rng, std::vector<hwy::bfloat16_t>& bf16,
                       std::vector<float>& widened) {
  const std::vector<float> f = Random(n, rng);
  bf16.resize(n);
  widened.resize(n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &f[i], 4);
    const uint16_t bits = static_cast<uint16_t>(u >> 16);
    std::memcpy(&bf16[i], &bits, 2);
    u = static_cast<uint32_t>(bits) << 16;
    std::memcpy(&widened[i], &u, 4);
  }
}

// bf16 weights are widened exactly, so the bf16 kernels must equal the f32 kernels on the
// widened weights bit for bit (and so the scalar reference within the f32 tolerance), for
// whole products and for row ranges that cut through register tiles.
TEST_CASE("Linear and GatedLinear with bf16 weights are the f32 kernels on widened weights",
          "[kernels][bf16]") {
  ForEachTarget([] {
    std::mt19937 rng(26);
    for (size_t tokens : kTokenCounts) {
      for (size_t rows : kMatMulRows) {
        for (size_t cols : kMatMulCols) {
          INFO("tokens " << tokens << " rows " << rows << " cols " << cols);
          std::vector<hwy::bfloat16_t> w_bits, up_bits;
          std::vector<float> w, w_up;
          RandomBF16(rows * cols, rng, w_bits, w);
          RandomBF16(rows * cols, rng, up_bits, w_up);
          const std::vector<float> x = Random(tokens * cols, rng);
          const size_t n = tokens * rows;
          std::vector<float> want(n), want_swiglu(n), ref_out(n), ref_bf16(n);
          simd::Linear(want.data(), w.data(), x.data(), Int(tokens), Int(rows), Int(cols));
          simd::GatedLinear(want_swiglu.data(), w.data(), w_up.data(), x.data(), Int(tokens),
                            Int(rows), Int(cols), 1.0f);
          ref::Linear(ref_out.data(), w.data(), x.data(), Int(tokens), Int(rows), Int(cols));
          ref::Linear(ref_bf16.data(), w_bits.data(), x.data(), Int(tokens), Int(rows), Int(cols));
          CHECK(FirstBitDifference(ref_bf16.data(), ref_out.data(), n) == n);
          std::vector<float> got = Guarded(n), got_swiglu = Guarded(n), whole = Guarded(n),
                             whole_swiglu = Guarded(n);
          simd::Linear(whole.data(), w_bits.data(), x.data(), Int(tokens), Int(rows), Int(cols));
          simd::GatedLinear(whole_swiglu.data(), w_bits.data(), up_bits.data(), x.data(),
                            Int(tokens), Int(rows), Int(cols), 1.0f);
          const size_t mid = rows / 2;
          for (auto [begin, end] : {std::pair{size_t{0}, mid}, std::pair{mid, rows}}) {
            if (begin == end) continue;
            simd::MatMulRows(got.data(), w_bits.data(), x.data(), tokens, rows, cols, begin, end);
            simd::MatMulSwiGluRows(got_swiglu.data(), w_bits.data(), up_bits.data(), x.data(),
                                   tokens, rows, cols, 1.0f, begin, end);
          }
          CHECK(FirstBitDifference(whole.data(), want.data(), n) == n);
          CHECK(FirstBitDifference(whole_swiglu.data(), want_swiglu.data(), n) == n);
          CHECK(FirstBitDifference(got.data(), want.data(), n) == n);
          CHECK(FirstBitDifference(got_swiglu.data(), want_swiglu.data(), n) == n);
          ExpectClose(got.data(), ref_out.data(), n, 1e-5f,
                      DotToleranceRows(w, x, tokens, rows, cols));
          CHECK(GuardIntact(got, n));
          CHECK(GuardIntact(got_swiglu, n));
          CHECK(GuardIntact(whole, n));
          CHECK(GuardIntact(whole_swiglu, n));
        }
      }
    }
  });
}

TEST_CASE("RmsNormRows matches scalar reference, also in place", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(5);
    for (int n : kSizes) {
      INFO("n " << n);
      const std::vector<float> x = Random(n, rng, -4.0f, 4.0f);
      const std::vector<float> weight = Random(n, rng, 0.5f, 1.5f);
      std::vector<float> want(n);
      std::vector<float> got = Guarded(n);
      ref::RmsNormRows(want.data(), x.data(), weight.data(), 1, n, 1e-5f);
      simd::RmsNormRows(got.data(), x.data(), weight.data(), 1, n, 1e-5f);
      ExpectClose(got.data(), want.data(), n);
      CHECK(GuardIntact(got, n));

      std::vector<float> in_place = x;
      simd::RmsNormRows(in_place.data(), in_place.data(), weight.data(), 1, n, 1e-5f);
      ExpectClose(in_place.data(), want.data(), n);
    }
  });
}

TEST_CASE("RmsNormRows of a constant vector with unit weights is all ones", "[kernels]") {
  ForEachTarget([] {
    const int n = 37;
    const std::vector<float> x(n, -3.0f), weight(n, 1.0f);
    std::vector<float> out(n);
    simd::RmsNormRows(out.data(), x.data(), weight.data(), 1, n, 0.0f);
    for (float v : out) CHECK(v == Approx(-1.0f).epsilon(1e-6));
  });
}

TEST_CASE("SoftmaxRows matches scalar reference and sums to one", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(6);
    for (float spread : {1.0f, 30.0f}) {
      for (int n : kSizes) {
        INFO("n " << n << " spread " << spread);
        const std::vector<float> x = Random(n, rng, -spread, spread);
        std::vector<float> want = x;
        ref::SoftmaxRows(want.data(), 1, n);
        std::vector<float> got = Guarded(n);
        std::copy(x.begin(), x.end(), got.begin());
        simd::SoftmaxRows(got.data(), 1, n);
        ExpectClose(got.data(), want.data(), n, 1e-5f, 1e-7f);
        CHECK(GuardIntact(got, n));
        double sum = 0.0;
        for (int i = 0; i < n; ++i) {
          CHECK(got[i] >= 0.0f);
          sum += got[i];
        }
        CHECK(sum == Approx(1.0).epsilon(1e-5));
      }
    }
  });
}

TEST_CASE("SoftmaxRows is stable for large inputs and zeroes -inf", "[kernels]") {
  ForEachTarget([] {
    for (int n : {3, 19}) {
      INFO("n " << n);
      std::vector<float> x(n);
      for (int i = 0; i < n; ++i) x[i] = 1000.0f + static_cast<float>(i);
      x[1] = -std::numeric_limits<float>::infinity();
      std::vector<float> want = x;
      ref::SoftmaxRows(want.data(), 1, n);
      simd::SoftmaxRows(x.data(), 1, n);
      CHECK(x[1] == 0.0f);
      for (int i = 0; i < n; ++i) CHECK(std::isfinite(x[i]));
      ExpectClose(x.data(), want.data(), n, 1e-5f, 1e-7f);
      // Equal inputs give equal probabilities.
      std::vector<float> flat(n, 88.0f);
      simd::SoftmaxRows(flat.data(), 1, n);
      for (float p : flat) CHECK(p == Approx(1.0 / n).epsilon(1e-6));
    }
  });
}

TEST_CASE("RoPE matches scalar reference", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(7);
    // 200 and 260 exceed one 64-pair table chunk.
    for (int head_dim : {2, 4, 6, 8, 10, 16, 18, 32, 34, 64, 128, 130, 200, 260}) {
      for (int n_heads : {1, 3, 8}) {
        for (int pos : {0, 1, 7, 1000}) {
          for (float theta : {10000.0f, 500000.0f}) {
            INFO("head_dim " << head_dim << " n_heads " << n_heads << " pos " << pos << " theta "
                             << theta);
            const size_t n = static_cast<size_t>(n_heads) * head_dim;
            const std::vector<float> x = Random(n, rng);
            for (bool interleaved : {true, false}) {
              INFO((interleaved ? "interleaved" : "half"));
              std::vector<float> want = x;
              std::vector<float> got = Guarded(n);
              std::copy(x.begin(), x.end(), got.begin());
              if (interleaved) {
                ref::RopeInterleavedRows(want.data(), Position(pos), 1, n_heads, head_dim, theta,
                                         nullptr);
                simd::RopeInterleavedRows(got.data(), Position(pos), 1, n_heads, head_dim, theta,
                                          nullptr);
              } else {
                ref::RopeHalfRows(want.data(), Position(pos), 1, n_heads, head_dim, theta, nullptr);
                simd::RopeHalfRows(got.data(), Position(pos), 1, n_heads, head_dim, theta, nullptr);
              }
              ExpectClose(got.data(), want.data(), n, 1e-6f, 1e-7f);
              CHECK(GuardIntact(got, n));
              if (pos == 0) CHECK(std::equal(x.begin(), x.end(), got.begin()));
            }
          }
        }
      }
    }
  });
}

TEST_CASE("Partial RoPE turns a head's first rotary_dims as a narrower head, passes the rest",
          "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(11);
    // 136 pairs of a 272-wide rotation exceed one 64-pair table chunk.
    for (auto [head_dim, rotary] : {std::pair{8, 4}, {16, 8}, {10, 2}, {32, 24}, {300, 272}}) {
      for (int pos : {0, 3, 517}) {
        for (bool interleaved : {true, false}) {
          INFO("head_dim " << head_dim << " rotary " << rotary << " pos " << pos
                           << (interleaved ? " interleaved" : " half"));
          const int n_heads = 3;
          const size_t n = static_cast<size_t>(n_heads) * head_dim;
          const std::vector<float> x = Random(n, rng);
          std::vector<float> got = Guarded(n);
          std::copy(x.begin(), x.end(), got.begin());
          std::vector<float> scalar = x;
          if (interleaved) {
            simd::RopeInterleavedRows(got.data(), Position(pos), 1, n_heads, head_dim, 10000.0f,
                                      nullptr, rotary);
            ref::RopeInterleavedRows(scalar.data(), Position(pos), 1, n_heads, head_dim, 10000.0f,
                                     nullptr, rotary);
          } else {
            simd::RopeHalfRows(got.data(), Position(pos), 1, n_heads, head_dim, 10000.0f, nullptr,
                               rotary);
            ref::RopeHalfRows(scalar.data(), Position(pos), 1, n_heads, head_dim, 10000.0f, nullptr,
                              rotary);
          }
          CHECK(GuardIntact(got, n));
          ExpectClose(got.data(), scalar.data(), n, 1e-6f, 1e-7f);
          for (int h = 0; h < n_heads; ++h) {
            const float* head = x.data() + static_cast<size_t>(h) * head_dim;
            // The rotated part: a whole head of width `rotary`, full rotation.
            std::vector<float> want(head, head + rotary);
            if (interleaved) {
              ref::RopeInterleavedRows(want.data(), Position(pos), 1, 1, rotary, 10000.0f, nullptr);
            } else {
              ref::RopeHalfRows(want.data(), Position(pos), 1, 1, rotary, 10000.0f, nullptr);
            }
            const float* out = got.data() + static_cast<size_t>(h) * head_dim;
            ExpectClose(out, want.data(), rotary, 1e-6f, 1e-7f);
            CHECK(std::equal(head + rotary, head + head_dim, out + rotary));
          }
        }
      }
    }
  });
}

TEST_CASE("RoPE rotates known pairs by hand-computed angles", "[kernels]") {
  ForEachTarget([] {
    const float c1 = std::cos(1.0f), s1 = std::sin(1.0f);
    // head_dim 2, pos 1: the single pair turns by exactly 1 radian in both styles.
    for (bool interleaved : {true, false}) {
      std::vector<float> v = {1.0f, 0.0f, 0.0f, 1.0f};  // two heads
      if (interleaved) {
        simd::RopeInterleavedRows(v.data(), Position(1), 1, 2, 2, 10000.0f, nullptr);
      } else {
        simd::RopeHalfRows(v.data(), Position(1), 1, 2, 2, 10000.0f, nullptr);
      }
      CHECK(v[0] == Approx(c1).margin(1e-7));
      CHECK(v[1] == Approx(s1).margin(1e-7));
      CHECK(v[2] == Approx(-s1).margin(1e-7));
      CHECK(v[3] == Approx(c1).margin(1e-7));
    }
    // head_dim 4, pos 1, theta 10000: pair 0 turns by 1 rad, pair 1 by 10000^-0.5 = 0.01 rad.
    // The two styles pair different elements.
    const float c2 = std::cos(0.01f), s2 = std::sin(0.01f);
    std::vector<float> a = {1.0f, 2.0f, 3.0f, 4.0f};
    simd::RopeInterleavedRows(a.data(), Position(1), 1, 1, 4, 10000.0f, nullptr);
    CHECK(a[0] == Approx(1 * c1 - 2 * s1).margin(1e-6));
    CHECK(a[1] == Approx(1 * s1 + 2 * c1).margin(1e-6));
    CHECK(a[2] == Approx(3 * c2 - 4 * s2).margin(1e-6));
    CHECK(a[3] == Approx(3 * s2 + 4 * c2).margin(1e-6));
    std::vector<float> b = {1.0f, 2.0f, 3.0f, 4.0f};
    simd::RopeHalfRows(b.data(), Position(1), 1, 1, 4, 10000.0f, nullptr);
    CHECK(b[0] == Approx(1 * c1 - 3 * s1).margin(1e-6));
    CHECK(b[2] == Approx(1 * s1 + 3 * c1).margin(1e-6));
    CHECK(b[1] == Approx(2 * c2 - 4 * s2).margin(1e-6));
    CHECK(b[3] == Approx(2 * s2 + 4 * c2).margin(1e-6));
  });
}

TEST_CASE("SwiGluRows matches scalar reference, also in place and at extremes", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(8);
    for (float beta : {1.0f, 1.702f}) {
      for (int n : kSizes) {
        INFO("n " << n << " beta " << beta);
        const std::vector<float> gate = Random(n, rng, -10.0f, 10.0f);
        const std::vector<float> up = Random(n, rng, -2.0f, 2.0f);
        std::vector<float> want(n);
        ref::SwiGluRows(want.data(), gate.data(), up.data(), 1, n, beta);
        std::vector<float> got = Guarded(n);
        simd::SwiGluRows(got.data(), gate.data(), up.data(), 1, n, beta);
        ExpectClose(got.data(), want.data(), n, 2e-6f, 1e-7f);
        CHECK(GuardIntact(got, n));

        std::vector<float> into_gate = gate;
        simd::SwiGluRows(into_gate.data(), into_gate.data(), up.data(), 1, n, beta);
        ExpectClose(into_gate.data(), want.data(), n, 2e-6f, 1e-7f);
        std::vector<float> into_up = up;
        simd::SwiGluRows(into_up.data(), gate.data(), into_up.data(), 1, n, beta);
        ExpectClose(into_up.data(), want.data(), n, 2e-6f, 1e-7f);
      }
    }
    // exp(-beta * g) overflows float for these; the result must still be finite and right.
    const std::vector<float> gate = {-1000.0f, -100.0f, -20.0f, 0.0f, 20.0f, 100.0f, 1000.0f};
    const std::vector<float> up(gate.size(), 1.0f);
    std::vector<float> out(gate.size());
    simd::SwiGluRows(out.data(), gate.data(), up.data(), 1, static_cast<int>(gate.size()), 1.0f);
    for (size_t i = 0; i < gate.size(); ++i) {
      INFO("gate " << gate[i]);
      CHECK(std::isfinite(out[i]));
      CHECK(out[i] == Approx(ref::Swish(gate[i], 1.0f)).margin(1e-6));
    }
  });
}

TEST_CASE("AddRows matches scalar reference", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(9);
    for (int n : kSizes) {
      INFO("n " << n);
      const std::vector<float> x = Random(n, rng);
      const std::vector<float> y = Random(n, rng);
      std::vector<float> want = x;
      ref::AddRows(want.data(), y.data(), 1, n);
      std::vector<float> got = Guarded(n);
      std::copy(x.begin(), x.end(), got.begin());
      simd::AddRows(got.data(), y.data(), 1, n);
      for (int i = 0; i < n; ++i) CHECK(got[i] == want[i]);
      CHECK(GuardIntact(got, n));
    }
  });
}

TEST_CASE("Attention matches scalar reference with GQA", "[kernels]") {
  struct Config {
    int n_heads, n_kv_heads, head_dim;
  };
  // The last five have groups that are not a multiple of kAttentionHeadChunk: a chunk of
  // heads ends at its group's end.
  const std::vector<Config> configs = {
      {8, 4, 8},   {8, 1, 8},  {8, 8, 8},  {8, 4, 6},   {8, 1, 6},   {8, 8, 6},
      {8, 2, 2},   {4, 2, 17}, {6, 3, 64}, {2, 1, 72},  {4, 4, 128}, {32, 4, 64},
      {12, 2, 16}, {10, 2, 8}, {3, 1, 16}, {20, 2, 16}, {22, 2, 40},
  };
  ForEachTarget([&] {
    std::mt19937 rng(10);
    for (const Config& c : configs) {
      // 150: three blocks of cached rows (kAttentionKeyBlock), the last partial.
      for (int n_tokens : {1, 2, 37, 150}) {
        for (int extra_stride : {0, 5}) {
          const int kv_dim = c.n_kv_heads * c.head_dim;
          const int kv_stride = kv_dim + extra_stride;
          INFO("n_heads " << c.n_heads << " n_kv_heads " << c.n_kv_heads << " head_dim "
                          << c.head_dim << " n_tokens " << n_tokens << " kv_stride " << kv_stride);
          const size_t q_size = static_cast<size_t>(c.n_heads) * c.head_dim;
          // The last row ends at kv_dim, not kv_stride, so reads past it are caught by ASan.
          const size_t cache_size = static_cast<size_t>(n_tokens - 1) * kv_stride + kv_dim;
          const std::vector<float> q = Random(q_size, rng, -2.0f, 2.0f);
          const std::vector<float> keys = Random(cache_size, rng, -2.0f, 2.0f);
          const std::vector<float> values = Random(cache_size, rng);
          const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));

          std::vector<float> want(q_size), ref_scores(n_tokens);
          ref::Attention(want.data(), q.data(), keys.data(), values.data(), n_tokens, c.n_heads,
                         c.n_kv_heads, c.head_dim, kv_stride, scale, ref_scores.data());
          std::vector<float> got = Guarded(q_size);
          std::vector<float> scores(k::AttentionScratchFloats(c.n_heads / c.n_kv_heads, n_tokens));
          simd::Attention(got.data(), q.data(), keys.data(), values.data(), n_tokens, c.n_heads,
                          c.n_kv_heads, c.head_dim, kv_stride, scale, scores.data());
          ExpectClose(got.data(), want.data(), q_size, 1e-5f, 2e-6f);
          CHECK(GuardIntact(got, q_size));
        }
      }
    }
  });
}

TEST_CASE("Attention with ALiBi slopes matches scalar reference", "[kernels]") {
  const int n_heads = 6, n_kv_heads = 3, head_dim = 8, kv_dim = n_kv_heads * head_dim;
  const std::vector<float> slopes = lmc::kernels::AlibiSlopes(n_heads);
  ForEachTarget([&] {
    std::mt19937 rng(12);
    for (int n_tokens : {1, 5, 40}) {
      for (int query_pos : {n_tokens - 1, n_tokens + 3}) {
        INFO("n_tokens " << n_tokens << " query_pos " << query_pos);
        const size_t q_size = static_cast<size_t>(n_heads) * head_dim;
        const std::vector<float> q = Random(q_size, rng, -2.0f, 2.0f);
        const std::vector<float> keys = Random(static_cast<size_t>(n_tokens) * kv_dim, rng);
        const std::vector<float> values = Random(static_cast<size_t>(n_tokens) * kv_dim, rng);
        std::vector<float> want(q_size), got(q_size), plain(q_size),
            scores(k::AttentionScratchFloats(n_heads / n_kv_heads, n_tokens));
        ref::Attention(want.data(), q.data(), keys.data(), values.data(), n_tokens, n_heads,
                       n_kv_heads, head_dim, kv_dim, 0.35f, scores.data(), slopes.data(),
                       query_pos);
        simd::Attention(got.data(), q.data(), keys.data(), values.data(), n_tokens, n_heads,
                        n_kv_heads, head_dim, kv_dim, 0.35f, scores.data(), slopes.data(),
                        query_pos);
        ExpectClose(got.data(), want.data(), q_size, 1e-5f, 2e-6f);
        // The bias changes the result whenever there is more than one key.
        simd::Attention(plain.data(), q.data(), keys.data(), values.data(), n_tokens, n_heads,
                        n_kv_heads, head_dim, kv_dim, 0.35f, scores.data());
        if (n_tokens > 1) CHECK_FALSE(std::equal(plain.begin(), plain.end(), got.begin()));
      }
    }
  });
}

TEST_CASE("Attention with T5's relative bias or CoPE matches scalar reference", "[kernels]") {
  const int n_heads = 6, n_kv_heads = 2, head_dim = 8, kv_dim = n_kv_heads * head_dim;
  const int buckets = 8, max_distance = 16, cope_positions = 5;
  std::vector<int> bucket_of;
  for (int r = -max_distance; r <= max_distance; ++r) {
    bucket_of.push_back(lmc::kernels::T5Bucket(r, /*bidirectional=*/true, buckets, max_distance));
  }
  ForEachTarget([&] {
    std::mt19937 rng(13);
    const std::vector<float> table = Random(static_cast<size_t>(buckets) * n_heads, rng);
    const std::vector<float> embedding =
        Random(static_cast<size_t>(head_dim) * cope_positions, rng, -2.0f, 2.0f);
    const lmc::kernels::RelativeBias relative{table.data(), bucket_of.data(), max_distance,
                                              n_heads};
    const lmc::kernels::CopeBias cope{embedding.data(), cope_positions};
    for (int n_tokens : {1, 7, 40}) {
      for (bool with_cope : {false, true}) {
        INFO("n_tokens " << n_tokens << (with_cope ? " CoPE" : " T5"));
        const size_t q_size = static_cast<size_t>(n_heads) * head_dim;
        const std::vector<float> q = Random(q_size, rng, -2.0f, 2.0f);
        const std::vector<float> keys = Random(static_cast<size_t>(n_tokens) * kv_dim, rng);
        const std::vector<float> values = Random(static_cast<size_t>(n_tokens) * kv_dim, rng);
        std::vector<float> want(q_size), got(q_size), plain(q_size),
            scores(k::AttentionScratchFloats(n_heads / n_kv_heads, n_tokens));
        const int query_pos = n_tokens / 2;  // Keys on both sides (T5 is bidirectional here).
        ref::Attention(want.data(), q.data(), keys.data(), values.data(), n_tokens, n_heads,
                       n_kv_heads, head_dim, kv_dim, 0.35f, scores.data(), nullptr, query_pos,
                       with_cope ? nullptr : &relative, with_cope ? &cope : nullptr);
        simd::Attention(got.data(), q.data(), keys.data(), values.data(), n_tokens, n_heads,
                        n_kv_heads, head_dim, kv_dim, 0.35f, scores.data(), nullptr, query_pos,
                        with_cope ? nullptr : &relative, with_cope ? &cope : nullptr);
        ExpectClose(got.data(), want.data(), q_size, 1e-5f, 2e-6f);
        simd::Attention(plain.data(), q.data(), keys.data(), values.data(), n_tokens, n_heads,
                        n_kv_heads, head_dim, kv_dim, 0.35f, scores.data());
        if (n_tokens > 1) CHECK_FALSE(std::equal(plain.begin(), plain.end(), got.begin()));
      }
    }
  });
}

TEST_CASE("T5 buckets are Hugging Face's", "[kernels]") {
  // transformers' T5Attention._relative_position_bucket on these relative
  // positions (key - query), computed with PyTorch (tests/reference/make_hf_fixtures.py).
  const int relative[] = {-200, -128, -64, -17, -16, -9, -8, -7,  -1,  0,  1,
                          7,    8,    9,   15,  16,  17, 64, 127, 128, 500};
  const int bidirectional[] = {15, 15, 14, 10, 10, 8,  8,  7,  1,  0, 17,
                               23, 24, 24, 25, 26, 26, 30, 31, 31, 31};
  const int causal[] = {31, 31, 26, 16, 16, 9, 8, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  const int bidirectional_64[] = {15, 15, 15, 10, 10, 8,  8,  7,  1,  0, 17,
                                  23, 24, 24, 26, 26, 26, 31, 31, 31, 31};
  for (size_t i = 0; i < std::size(relative); ++i) {
    INFO("relative position " << relative[i]);
    CHECK(lmc::kernels::T5Bucket(relative[i], true, 32, 128) == bidirectional[i]);
    CHECK(lmc::kernels::T5Bucket(relative[i], false, 32, 128) == causal[i]);
    CHECK(lmc::kernels::T5Bucket(relative[i], true, 32, 64) == bidirectional_64[i]);
  }
}

TEST_CASE("CoPE's bias, worked by hand", "[kernels]") {
  // One head of width 1, two keys with scores 0: gates 1/2 each. From the
  // query, key 1 is at position 0.5 and key 0 at 1.0. With q = 2 and the
  // embedding e = [1, 3, 5] (q . e = [2, 6, 10]): key 1 gains 2 * 0.5 + 6 * 0.5 = 4,
  // key 0 gains 6.
  const float embedding[] = {1.0f, 3.0f, 5.0f}, q[] = {2.0f};
  float scores[] = {0.0f, 0.0f};
  lmc::kernels::AddCope({embedding, 3}, q, 1, scores, 2);
  CHECK(scores[0] == 6.0f);
  CHECK(scores[1] == 4.0f);
  // Three keys with scores 0 sit at 1.5, 1.0 and 0.5 from the query. With three
  // positions key 0 gains 6 * 0.5 + 10 * 0.5 = 8; with two, its position clamps
  // to 1 and it gains 6, like key 1.
  float three[] = {0.0f, 0.0f, 0.0f}, two[] = {0.0f, 0.0f, 0.0f};
  lmc::kernels::AddCope({embedding, 3}, q, 1, three, 3);
  lmc::kernels::AddCope({embedding, 2}, q, 1, two, 3);
  CHECK(three[0] == 8.0f);
  CHECK(two[0] == 6.0f);
  CHECK(two[1] == 6.0f);
  CHECK(two[2] == 4.0f);
}

TEST_CASE("ALiBi slopes follow the paper for power-of-two and other head counts", "[kernels]") {
  // 8 heads: 2^-1 ... 2^-8. 6 heads: the 4-head series 2^-2, 2^-4, 2^-6, 2^-8, then the
  // odd terms of the 8-head series, 2^-1 and 2^-3 (BLOOM's build_alibi_tensor).
  const std::vector<float> eight = lmc::kernels::AlibiSlopes(8);
  for (int i = 0; i < 8; ++i) CHECK(eight[i] == Approx(std::ldexp(1.0, -(i + 1))));
  const std::vector<float> six = lmc::kernels::AlibiSlopes(6);
  const int exponents[] = {-2, -4, -6, -8, -1, -3};
  REQUIRE(six.size() == 6);
  for (int i = 0; i < 6; ++i) CHECK(six[i] == Approx(std::ldexp(1.0, exponents[i])));
}

TEST_CASE("Scaled RoPE frequencies: linear divides all, llama3 only the low band", "[kernels]") {
  using lmc::kernels::RopeInvFreq;
  using lmc::kernels::RopeScalingKind;
  const std::vector<float> base = RopeInvFreq(500000.0f, 8);
  const std::vector<float> linear = RopeInvFreq(500000.0f, 8, {RopeScalingKind::kLinear, 4.0f});
  for (int j = 0; j < 4; ++j) CHECK(linear[j] == Approx(base[j] / 4.0f));
  // original 256, low 1, high 4: wavelengths below 64 keep their frequency, above 256 are
  // divided by 8, and between they blend.
  const std::vector<float> llama3 =
      RopeInvFreq(500000.0f, 8, {RopeScalingKind::kLlama3, 8.0f, 1.0f, 4.0f, 256.0f});
  const float pi = 3.14159265358979f;
  for (int j = 0; j < 4; ++j) {
    const float wavelen = 2 * pi / base[j];
    INFO("pair " << j << " wavelength " << wavelen);
    if (wavelen < 64) {
      CHECK(llama3[j] == base[j]);
    } else if (wavelen > 256) {
      CHECK(llama3[j] == Approx(base[j] / 8));
    } else {
      const float smooth = (256 / wavelen - 1) / 3;
      CHECK(llama3[j] == Approx((1 - smooth) * base[j] / 8 + smooth * base[j]));
    }
  }
  // And the kernels honour a given table on every target.
  ForEachTarget([&] {
    std::mt19937 rng(13);
    for (bool interleaved : {true, false}) {
      const std::vector<float> x = Random(24, rng);
      std::vector<float> want = x, got = x;
      if (interleaved) {
        ref::RopeInterleavedRows(want.data(), Position(77), 1, 3, 8, 500000.0f, llama3.data());
        simd::RopeInterleavedRows(got.data(), Position(77), 1, 3, 8, 500000.0f, llama3.data());
      } else {
        ref::RopeHalfRows(want.data(), Position(77), 1, 3, 8, 500000.0f, llama3.data());
        simd::RopeHalfRows(got.data(), Position(77), 1, 3, 8, 500000.0f, llama3.data());
      }
      ExpectClose(got.data(), want.data(), 24, 1e-6f, 1e-7f);
      std::vector<float> unscaled = x;
      simd::RopeHalfRows(unscaled.data(), Position(77), 1, 3, 8, 500000.0f, nullptr);
      CHECK_FALSE(std::equal(unscaled.begin(), unscaled.end(), got.begin()));
    }
  });
}

TEST_CASE("LayerNorm and the activations match their definitions", "[kernels]") {
  const float x[] = {1.0f, 2.0f, 3.0f, 6.0f};  // mean 3, variance 3.5
  const float w[] = {1.0f, 2.0f, 1.0f, 1.0f}, b[] = {0.0f, 0.0f, 1.0f, 0.0f};
  float out[4];
  ref::LayerNorm(out, x, w, b, 4, 0.0f);
  const float inv = 1.0f / std::sqrt(3.5f);
  CHECK(out[0] == Approx(-2 * inv));
  CHECK(out[1] == Approx(-2 * inv));
  CHECK(out[2] == Approx(1.0f));
  CHECK(out[3] == Approx(3 * inv));
  CHECK(ref::Gelu(1.0f) == Approx(0.8413447f));      // x * Phi(x)
  CHECK(ref::GeluTanh(1.0f) == Approx(0.8411920f));  // the tanh form differs from it
  CHECK(ref::Gelu(-3.0f) == Approx(-0.0040497f).margin(1e-6));
  CHECK(ref::Relu(-0.5f) == 0.0f);
  CHECK(ref::Relu(0.5f) == 0.5f);
}

TEST_CASE("Attention reads the right kv head and single tokens pass through", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(11);
    const int n_heads = 8, head_dim = 6;
    for (int n_kv_heads : {1, 2, 4, 8}) {
      for (int n_tokens : {1, 5}) {
        INFO("n_kv_heads " << n_kv_heads << " n_tokens " << n_tokens);
        const int kv_stride = n_kv_heads * head_dim + 3;
        const size_t cache_size = static_cast<size_t>(n_tokens) * kv_stride;
        const std::vector<float> q = Random(n_heads * head_dim, rng);
        const std::vector<float> keys = Random(cache_size, rng);
        // Every value of kv head j is j, so each output equals the kv head index it used.
        std::vector<float> values(cache_size, -1.0f);
        std::vector<float> one_token_values = Random(cache_size, rng);
        for (int t = 0; t < n_tokens; ++t) {
          for (int j = 0; j < n_kv_heads; ++j) {
            std::fill_n(values.begin() + t * kv_stride + j * head_dim, head_dim,
                        static_cast<float>(j));
          }
        }
        std::vector<float> out(n_heads * head_dim),
            scores(k::AttentionScratchFloats(n_heads / n_kv_heads, n_tokens));
        simd::Attention(out.data(), q.data(), keys.data(), values.data(), n_tokens, n_heads,
                        n_kv_heads, head_dim, kv_stride, 0.5f, scores.data());
        const int group = n_heads / n_kv_heads;
        for (int h = 0; h < n_heads; ++h) {
          for (int i = 0; i < head_dim; ++i) {
            CHECK(out[h * head_dim + i] == Approx(static_cast<float>(h / group)).margin(1e-6));
          }
        }
        if (n_tokens == 1) {
          // A single token gets weight 1: the output is its value row.
          simd::Attention(out.data(), q.data(), keys.data(), one_token_values.data(), 1, n_heads,
                          n_kv_heads, head_dim, kv_stride, 0.5f, scores.data());
          CHECK(scores[0] == 1.0f);
          for (int h = 0; h < n_heads; ++h) {
            for (int i = 0; i < head_dim; ++i) {
              CHECK(out[h * head_dim + i] == one_token_values[(h / group) * head_dim + i]);
            }
          }
        }
      }
    }
  });
}

TEST_CASE("ArgmaxRows matches scalar reference and takes the first of ties", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(12);
    for (int n : kSizes) {
      INFO("n " << n);
      // All negative, so zero padding in a vector implementation would win if it leaked in.
      const std::vector<float> x = Random(n, rng, -5.0f, -1.0f);
      CHECK(Argmax(x.data(), n) == ref::Argmax(x.data(), n));

      const std::vector<float> same(n, 3.0f);
      CHECK(Argmax(same.data(), n) == 0);

      for (int pos : {0, n / 2, n - 1}) {
        std::vector<float> peak = x;
        peak[pos] = 7.0f;
        CHECK(Argmax(peak.data(), n) == pos);
        // A later copy of the maximum, e.g. in the tail, must not win.
        peak[n - 1] = 7.0f;
        CHECK(Argmax(peak.data(), n) == pos);
      }
    }
    // A tie between the last full vector and the overlapping tail.
    std::vector<float> v(21, 0.0f);
    v[18] = 1.0f;
    v[20] = 1.0f;
    CHECK(Argmax(v.data(), 21) == 18);
    std::vector<float> big = Random(32000, rng);
    big[31999] = 2.0f;
    CHECK(Argmax(big.data(), 32000) == 31999);
    big[12345] = 2.0f;
    CHECK(Argmax(big.data(), 32000) == 12345);
  });
}

// Random Q8_0 / Q4_0 rows and the floats they stand for, decoded here independently of the
// runtime: scales are random binary16 values in [2^-8, 2^2) of either sign (decoded as
// (1 + m / 1024) * 2^(e - 15)); quants are random, the padding of a partial last block included
// (the kernels must multiply it by zero activations only).
template <typename Block>
static void RandomQuantized(size_t rows, size_t cols, std::mt19937& rng, std::vector<Block>& blocks,
                            std::vector<float>& values) {
  const size_t per_row = lmc::rt::QuantBlocks(cols);
  blocks.resize(rows * per_row);
  values.resize(rows * cols);
  std::uniform_int_distribution<int> byte(0, 255), exponent(15 - 8, 15 + 1), mantissa(0, 1023);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t b = 0; b < per_row; ++b) {
      Block& blk = blocks[r * per_row + b];
      const int e = exponent(rng), m = mantissa(rng);
      const bool negative = byte(rng) & 1;
      blk.d = static_cast<uint16_t>((negative ? 0x8000 : 0) | (e << 10) | m);
      const float scale = (negative ? -1.0f : 1.0f) * std::ldexp(1.0f + m / 1024.0f, e - 15);
      for (size_t j = 0; j < 32; ++j) {
        float q;
        if constexpr (std::is_same_v<Block, lmc::rt::BlockQ8_0>) {
          blk.q[j] = static_cast<int8_t>(byte(rng) - 128);
          q = blk.q[j];
        } else {
          if (j < 16) blk.qs[j] = static_cast<uint8_t>(byte(rng));
          q = static_cast<float>((j < 16 ? blk.qs[j] & 0xF : blk.qs[j - 16] >> 4) - 8);
        }
        if (b * 32 + j < cols) values[r * cols + b * 32 + j] = q * scale;
      }
    }
  }
}

// Activation quantization on hand-computed blocks: d = amax / 127, q = x / d rounded half away
// from zero; the partial last block's padding is q = 0.
TEST_CASE("QuantizeActivationRow rounds x / d half away from zero", "[kernels][quant]") {
  std::vector<float> x(40, 0.0f);
  x[0] = 127.0f;
  x[1] = -63.5f;    // exactly -63.5: -64
  x[2] = 0.5f;      // 1
  x[3] = -0.49f;    // 0
  x[4] = 2.5f;      // 3 (not 2, as half-to-even would give)
  x[32] = -31.75f;  // amax of block 1: d = 31.75 / 127 = 0.25 exactly
  x[33] = 0.125f;   // 0.5: 1
  x[34] = -0.375f;  // -1.5: -2
  int8_t q[64];
  float d[2];
  std::fill_n(q, 64, int8_t{99});
  lmc::rt::QuantizeActivationRow(x.data(), x.size(), q, d);
  CHECK(d[0] == 1.0f);
  CHECK(q[0] == 127);
  CHECK(q[1] == -64);
  CHECK(q[2] == 1);
  CHECK(q[3] == 0);
  CHECK(q[4] == 3);
  CHECK(q[5] == 0);
  CHECK(d[1] == 0.25f);
  CHECK(q[32] == -127);
  CHECK(q[33] == 1);
  CHECK(q[34] == -2);
  for (int j = 40; j < 64; ++j) CHECK(q[j] == 0);
  std::vector<float> zeros(32, 0.0f);
  lmc::rt::QuantizeActivationRow(zeros.data(), 32, q, d);
  CHECK(d[0] == 0.0f);
  CHECK(std::all_of(q, q + 32, [](int8_t v) { return v == 0; }));
}

// QuantizedActivations::Quantize (SIMD) gives rt::QuantizeActivationRow's integers and scales
// bit for bit on every target: random rows, exact ties at every half (x = (k + 1/2) * d with d a
// power of two), zeros, NaN and infinities, subnormal blocks, partial last blocks; the padding
// up to the even stride is zero, also when the buffers held something before.
TEST_CASE("Quantize is QuantizeActivationRow bit for bit on every target", "[kernels][quant]") {
  ForEachTarget([] {
    std::mt19937 rng(11);
    for (size_t cols :
         {size_t{1}, size_t{31}, size_t{32}, size_t{33}, size_t{64}, size_t{100}, size_t{2048}}) {
      INFO("cols " << cols);
      const size_t tokens = 5, blocks = lmc::rt::QuantBlocks(cols);
      std::vector<float> x = Random(tokens * cols, rng, -3.0f, 3.0f);
      for (size_t j = 0; j < cols; ++j) {
        // Row 1: ties. Block amax 127 * 0.25, so q = x / 0.25 lands on k + 1/2 exactly.
        x[cols + j] = j % 32 == 0 ? 31.75f : (static_cast<float>(j % 64) - 32.0f + 0.5f) * 0.25f;
        x[2 * cols + j] = 0.0f;                      // row 2: zeros
        x[3 * cols + j] = x[3 * cols + j] * 1e-39f;  // row 3: subnormals
      }
      x[4 * cols] = std::numeric_limits<float>::quiet_NaN();  // row 4: NaN, +-inf
      if (cols > 1) x[4 * cols + 1] = std::numeric_limits<float>::infinity();
      if (cols > 40) x[4 * cols + 40] = -std::numeric_limits<float>::infinity();
      k::QuantizedActivations xq;
      xq.q.assign(1000, 99);  // stale contents must not survive in the padding
      xq.d.assign(1000, 99.0f);
      xq.Quantize(x.data(), tokens, cols);
      REQUIRE(xq.stride == (blocks + 1) / 2 * 2);
      std::vector<int8_t> q(blocks * 32);
      std::vector<float> d(blocks);
      for (size_t t = 0; t < tokens; ++t) {
        INFO("row " << t);
        lmc::rt::QuantizeActivationRow(x.data() + t * cols, cols, q.data(), d.data());
        const int8_t* got_q = xq.q.data() + t * xq.stride * 32;
        const float* got_d = xq.d.data() + t * xq.stride;
        CHECK(std::equal(q.begin(), q.end(), got_q));
        CHECK(std::memcmp(d.data(), got_d, blocks * sizeof(float)) == 0);
        CHECK(std::all_of(got_q + blocks * 32, got_q + xq.stride * 32,
                          [](int8_t v) { return v == 0; }));
        CHECK(std::all_of(got_d + blocks, got_d + xq.stride, [](float v) { return v == 0.0f; }));
      }
    }
  });
}

// The SIMD Q8_0 / Q4_0 products (quant_ops.h) against the scalar reference (scalar_ops.h) on
// every target. Both compute the same exact integer block dot products s_b and the same f32
// scales d_w * d_x. The x86 kernels (VNNI, AVX2) add the scaled terms as the reference does, so
// they must match it bit for bit; the portable ones add them in another order (per lane, partial
// block sums, then across lanes). Each output is then a sum of at most 2 * blocks + 8 rounded
// operations on terms whose magnitudes add up to at most A = sum_b |d_w * d_x| * sum_j |w_q * x_q|,
// so |SIMD - reference| <= (2 * blocks + 8) * 2^-24 * A (we allow twice that). Also checked: row
// splits and token counts change nothing (decode and prefill agree bit for bit), the fused SwiGLU
// is, bit for bit, SwiGlu (tested against its reference above) of the two products (whose errors it
// amplifies where u cancels), and the reference is within the quantization error of the f32 product
// with the dequantized weights
// (|x - q * d_x| <= d_x / 2 per value).
template <typename Block>
static int WeightInt(const Block& b, size_t j) {
  if constexpr (std::is_same_v<Block, lmc::rt::BlockQ8_0>) {
    return b.q[j];
  } else {
    return (j < 16 ? b.qs[j] & 0xF : b.qs[j - 16] >> 4) - 8;
  }
}

template <typename Block>
static void CheckQuantizedMatMul(uint32_t seed) {
  ForEachTarget([seed] {
    std::mt19937 rng(seed);
    // The x86 integer kernels (VNNI, and AVX2's for AVX2 and AVX-512 without VNNI) are the
    // reference, bit for bit.
    const bool exact = simd::Target() <= HWY_AVX2;
    // Tokens: one at a time, tiles of rows as stored (AVX2: 4, 2, 1) and the repacked tiles
    // (VNNI: 8, 4, 2, 1; AVX2 from 6 tokens: 8, 4, 2, 1); rows: part of a tile of 16, and tiles
    // with a partial one after them.
    for (size_t tokens : {size_t{1}, size_t{3}, size_t{5}, size_t{7}, size_t{17}}) {
      for (size_t rows : {size_t{1}, size_t{5}, size_t{13}, size_t{40}}) {
        for (size_t cols :
             {size_t{1}, size_t{32}, size_t{33}, size_t{64 + 32}, size_t{100}, size_t{4096}}) {
          INFO("tokens " << tokens << " rows " << rows << " cols " << cols);
          const size_t blocks = lmc::rt::QuantBlocks(cols);
          std::vector<Block> w_blocks, up_blocks;
          std::vector<float> w, w_up;
          RandomQuantized(rows, cols, rng, w_blocks, w);
          RandomQuantized(rows, cols, rng, up_blocks, w_up);
          const std::vector<float> x = Random(tokens * cols, rng);
          k::QuantizedActivations xq;
          xq.Quantize(x.data(), tokens, cols);
          const size_t n = tokens * rows;
          std::vector<float> want(n), deq(n);
          ref::Linear(want.data(), w_blocks.data(), x.data(), Int(tokens), Int(rows), Int(cols));
          ref::Linear(deq.data(), w.data(), x.data(), Int(tokens), Int(rows), Int(cols));
          std::vector<float> tol(n), quant_tol(n);
          for (size_t t = 0; t < tokens; ++t) {
            const int8_t* q = xq.q.data() + t * xq.stride * 32;
            const float* d = xq.d.data() + t * xq.stride;
            for (size_t r = 0; r < rows; ++r) {
              double a = 0.0, qerr = 0.0;
              for (size_t b = 0; b < blocks; ++b) {
                const Block& blk = w_blocks[r * blocks + b];
                double ints = 0.0, wabs = 0.0;
                for (size_t j = 0; j < 32 && b * 32 + j < cols; ++j) {
                  ints += std::abs(WeightInt(blk, j) * q[b * 32 + j]);
                  wabs += std::fabs(w[r * cols + b * 32 + j]);
                }
                a += std::fabs(double{lmc::rt::QuantScale(blk.d)} * d[b]) * ints;
                qerr += wabs * d[b] / 2;
              }
              tol[t * rows + r] = static_cast<float>(2.0 * (2 * blocks + 8) * 0x1p-24 * a);
              quant_tol[t * rows + r] = static_cast<float>(qerr * 1.001 + 2 * tol[t * rows + r]);
            }
          }
          ExpectClose(want.data(), deq.data(), n, 1e-5f, quant_tol);

          std::vector<float> whole = Guarded(n), gate(n), up(n), got = Guarded(n),
                             got_swiglu = Guarded(n);
          k::MatMulRows(whole.data(), w_blocks.data(), xq, rows, 0, rows);
          CHECK(GuardIntact(whole, n));
          ExpectClose(whole.data(), want.data(), n, 0.0f, tol);
          if (exact) CHECK(FirstBitDifference(whole.data(), want.data(), n) == n);
          k::MatMulRows(gate.data(), w_blocks.data(), xq, rows, 0, rows);
          k::MatMulRows(up.data(), up_blocks.data(), xq, rows, 0, rows);
          std::vector<float> swiglu(n);
          simd::SwiGluRows(swiglu.data(), gate.data(), up.data(), 1, static_cast<int>(n), 1.0f);
          const size_t mid = rows / 2;
          for (auto [begin, end] : {std::pair{size_t{0}, mid}, std::pair{mid, rows}}) {
            if (begin == end) continue;
            k::MatMulRows(got.data(), w_blocks.data(), xq, rows, begin, end);
            k::MatMulSwiGluRows(got_swiglu.data(), w_blocks.data(), up_blocks.data(), xq, rows,
                                1.0f, begin, end);
          }
          CHECK(FirstBitDifference(got.data(), whole.data(), n) == n);
          CHECK(FirstBitDifference(got_swiglu.data(), swiglu.data(), n) == n);
          CHECK(GuardIntact(got, n));
          CHECK(GuardIntact(got_swiglu, n));
          // Decode: each token alone gives its row of the prefill product, bit for bit.
          for (size_t t = 0; t < tokens; t += 2) {
            k::QuantizedActivations one;
            one.Quantize(x.data() + t * cols, 1, cols);
            std::vector<float> single(rows);
            k::MatMulRows(single.data(), w_blocks.data(), one, rows, 0, rows);
            CHECK(FirstBitDifference(single.data(), whole.data() + t * rows, rows) == rows);
          }
          // The row kernels over them: Linear is the product, GatedLinear its SwiGLU, bit for
          // bit; where the products are the reference's, GatedLinear is its mirror's within
          // SwiGlu's tolerance.
          std::vector<float> linear = Guarded(n), gated = Guarded(n), ref_gated(n);
          simd::Linear(linear.data(), w_blocks.data(), x.data(), Int(tokens), Int(rows), Int(cols));
          simd::GatedLinear(gated.data(), w_blocks.data(), up_blocks.data(), x.data(), Int(tokens),
                            Int(rows), Int(cols), 1.0f);
          CHECK(FirstBitDifference(linear.data(), whole.data(), n) == n);
          CHECK(FirstBitDifference(gated.data(), swiglu.data(), n) == n);
          CHECK(GuardIntact(linear, n));
          CHECK(GuardIntact(gated, n));
          ref::GatedLinear(ref_gated.data(), w_blocks.data(), up_blocks.data(), x.data(),
                           Int(tokens), Int(rows), Int(cols), 1.0f);
          if (exact) ExpectClose(gated.data(), ref_gated.data(), n, 2e-6f, 1e-7f);
          // Q4_0 repacked into panels (what a model keeps where ReadsQ4_0Panels): every product
          // above, bit for bit, on every target; rows split anywhere; the mirror's the same.
          if constexpr (std::is_same_v<Block, lmc::rt::BlockQ4_0>) {
            const size_t panels = lmc::rt::Q4_0PanelCount(rows, blocks);
            std::vector<lmc::rt::PanelQ4_0> w_panels(panels), up_panels(panels);
            lmc::rt::PackQ4_0Panels(w_blocks.data(), rows, blocks, w_panels.data());
            lmc::rt::PackQ4_0Panels(up_blocks.data(), rows, blocks, up_panels.data());
            for (size_t r = 0; r < rows; ++r) {
              Block row[4096 / 32];
              lmc::rt::UnpackQ4_0PanelRow(w_panels.data(), blocks, r, row);
              CHECK(std::memcmp(row, w_blocks.data() + r * blocks, blocks * sizeof(Block)) == 0);
            }
            const lmc::rt::Q4_0Matrix pw{.panels = w_panels.data()}, pu{.panels = up_panels.data()};
            std::vector<float> p_whole = Guarded(n), p_split = Guarded(n), p_swiglu = Guarded(n),
                               p_linear = Guarded(n), p_gated = Guarded(n), mirror(n);
            k::MatMulRows(p_whole.data(), pw, xq, rows, 0, rows);
            CHECK(FirstBitDifference(p_whole.data(), whole.data(), n) == n);
            const size_t third = rows / 3;
            for (auto [begin, end] : {std::pair{size_t{0}, third}, std::pair{third, rows}}) {
              if (begin == end) continue;
              k::MatMulRows(p_split.data(), pw, xq, rows, begin, end);
              k::MatMulSwiGluRows(p_swiglu.data(), pw, pu, xq, rows, 1.0f, begin, end);
            }
            CHECK(FirstBitDifference(p_split.data(), whole.data(), n) == n);
            CHECK(FirstBitDifference(p_swiglu.data(), swiglu.data(), n) == n);
            simd::Linear(p_linear.data(), pw, x.data(), Int(tokens), Int(rows), Int(cols));
            simd::GatedLinear(p_gated.data(), pw, pu, x.data(), Int(tokens), Int(rows), Int(cols),
                              1.0f);
            CHECK(FirstBitDifference(p_linear.data(), whole.data(), n) == n);
            CHECK(FirstBitDifference(p_gated.data(), swiglu.data(), n) == n);
            for (const auto* v : {&p_whole, &p_split, &p_swiglu, &p_linear, &p_gated}) {
              CHECK(GuardIntact(*v, n));
            }
            ref::Linear(mirror.data(), pw, x.data(), Int(tokens), Int(rows), Int(cols));
            CHECK(FirstBitDifference(mirror.data(), want.data(), n) == n);
            ref::GatedLinear(mirror.data(), pw, pu, x.data(), Int(tokens), Int(rows), Int(cols),
                             1.0f);
            CHECK(FirstBitDifference(mirror.data(), ref_gated.data(), n) == n);
          }
        }
      }
    }
  });
}

TEST_CASE("Q8_0 products with int8 activations match the scalar reference", "[kernels][quant]") {
  CheckQuantizedMatMul<lmc::rt::BlockQ8_0>(80);
}

TEST_CASE("Q4_0 products with int8 activations match the scalar reference", "[kernels][quant]") {
  CheckQuantizedMatMul<lmc::rt::BlockQ4_0>(40);
}

// The row kernels that move or add values: bit for bit their mirrors'.
TEST_CASE("Embedding, KvStore and the row additions equal their mirrors bit for bit", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(14);
    const int positions[] = {3, 0, 5, 1, 4};
    for (int width : kSizes) {
      INFO("width " << width);
      const int n = 5, rows = 6;
      const size_t size = static_cast<size_t>(n) * width;
      const std::vector<float> table = Random(static_cast<size_t>(rows) * width, rng);
      std::vector<hwy::bfloat16_t> table_bf16;
      std::vector<float> widened;
      RandomBF16(static_cast<size_t>(rows) * width, rng, table_bf16, widened);
      std::vector<float> want(size), got = Guarded(size);
      ref::Embedding(want.data(), table.data(), positions, n, width);
      simd::Embedding(got.data(), table.data(), positions, n, width);
      CHECK(FirstBitDifference(got.data(), want.data(), size) == size);
      CHECK(GuardIntact(got, size));
      ref::Embedding(want.data(), table_bf16.data(), positions, n, width);
      simd::Embedding(got.data(), table_bf16.data(), positions, n, width);
      CHECK(FirstBitDifference(got.data(), want.data(), size) == size);
      for (int t = 0; t < n; ++t) {
        CHECK(std::equal(want.begin() + t * width, want.begin() + (t + 1) * width,
                         widened.begin() + positions[t] * width));
      }

      const std::vector<float> key = Random(size, rng), value = Random(size, rng);
      const size_t cache = static_cast<size_t>(rows) * width;
      std::vector<float> want_k(cache, -1.0f), want_v(cache, -1.0f), got_k = Guarded(cache),
                                                                     got_v = Guarded(cache);
      std::fill_n(got_k.begin(), cache, -1.0f);
      std::fill_n(got_v.begin(), cache, -1.0f);
      // Two heads where the width splits: row p of head h at (h * rows + p) * head_dim.
      const int head_dim = width % 2 == 0 ? width / 2 : width;
      ref::KvStore(want_k.data(), want_v.data(), key.data(), value.data(), positions, n, width,
                   head_dim, rows);
      simd::KvStore(got_k.data(), got_v.data(), key.data(), value.data(), positions, n, width,
                    head_dim, rows);
      CHECK(std::equal(want_k.begin(), want_k.end(), got_k.begin()));
      CHECK(std::equal(want_v.begin(), want_v.end(), got_v.begin()));
      int misplaced = 0;
      for (int t = 0; t < n; ++t) {
        for (int i = 0; i < width; ++i) {
          const size_t at =
              static_cast<size_t>(i / head_dim * rows + positions[t]) * head_dim + i % head_dim;
          misplaced += got_k[at] != key[static_cast<size_t>(t) * width + i];
          misplaced += got_v[at] != value[static_cast<size_t>(t) * width + i];
        }
      }
      CHECK(misplaced == 0);
      CHECK(GuardIntact(got_k, cache));
      CHECK(GuardIntact(got_v, cache));

      const std::vector<float> x = Random(size, rng), bias = Random(width, rng);
      std::vector<float> want_x = x, got_x = Guarded(size);
      std::copy(x.begin(), x.end(), got_x.begin());
      ref::AddBiasRows(want_x.data(), bias.data(), n, width);
      simd::AddBiasRows(got_x.data(), bias.data(), n, width);
      ref::AddPositionEmbeddingRows(want_x.data(), table.data(), positions, n, width);
      simd::AddPositionEmbeddingRows(got_x.data(), table.data(), positions, n, width);
      CHECK(FirstBitDifference(got_x.data(), want_x.data(), size) == size);
      CHECK(GuardIntact(got_x, size));
      std::vector<float> want_scratch(width), got_scratch = Guarded(width);
      ref::AddSinusoidalRows(want_x.data(), positions, n, width, want_scratch.data());
      simd::AddSinusoidalRows(got_x.data(), positions, n, width, got_scratch.data());
      CHECK(FirstBitDifference(got_x.data(), want_x.data(), size) == size);
      CHECK(GuardIntact(got_x, size));
      CHECK(GuardIntact(got_scratch, width));
    }
  });
}

TEST_CASE("LayerNormRows and the element-wise row kernels match their mirrors", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(15);
    for (int width : kSizes) {
      INFO("width " << width);
      const int n = 3;
      const size_t size = static_cast<size_t>(n) * width;
      const std::vector<float> x = Random(size, rng, -4.0f, 4.0f), y = Random(size, rng);
      const std::vector<float> weight = Random(width, rng, 0.5f, 1.5f), bias = Random(width, rng);
      std::vector<float> want(size), got = Guarded(size);
      for (const float* b : {bias.data(), static_cast<const float*>(nullptr)}) {
        ref::LayerNormRows(want.data(), x.data(), weight.data(), b, n, width, 1e-5f);
        simd::LayerNormRows(got.data(), x.data(), weight.data(), b, n, width, 1e-5f);
        ExpectClose(got.data(), want.data(), size);
        CHECK(GuardIntact(got, size));
      }
      using RowKernel = void (*)(float*, const float*, int, int);
      const std::pair<RowKernel, RowKernel> maps[] = {
          {ref::ReluRows, simd::ReluRows},         {ref::GeluRows, simd::GeluRows},
          {ref::GeluTanhRows, simd::GeluTanhRows}, {ref::SiluRows, simd::SiluRows},
          {ref::TanhRows, simd::TanhRows},
      };
      for (size_t i = 0; i < std::size(maps); ++i) {
        INFO("activation " << i);
        maps[i].first(want.data(), x.data(), n, width);
        maps[i].second(got.data(), x.data(), n, width);
        ExpectClose(got.data(), want.data(), size, 2e-6f, 1e-7f);
        CHECK(GuardIntact(got, size));
      }
      ref::MulRows(want.data(), x.data(), y.data(), n, width);
      simd::MulRows(got.data(), x.data(), y.data(), n, width);
      CHECK(FirstBitDifference(got.data(), want.data(), size) == size);
      ref::ScaleRows(want.data(), x.data(), n, width, 0.37f);
      simd::ScaleRows(got.data(), x.data(), n, width, 0.37f);
      CHECK(FirstBitDifference(got.data(), want.data(), size) == size);
      CHECK(GuardIntact(got, size));
    }
  });
}

// AttentionRows against its mirror, causal or not, with every position bias, over GQA shapes
// whose groups are and are not multiples of kAttentionHeadChunk; CrossAttentionRows too.
TEST_CASE("AttentionRows and CrossAttentionRows match their mirrors", "[kernels]") {
  struct Config {
    int heads, kv_heads, head_dim;
  };
  const Config configs[] = {{8, 2, 8}, {6, 3, 17}, {10, 2, 16}, {4, 4, 64}, {3, 1, 6}};
  const int buckets = 8, max_distance = 16, cope_positions = 5;
  std::vector<int> bucket_of;
  for (int r = -max_distance; r <= max_distance; ++r) {
    bucket_of.push_back(lmc::kernels::T5Bucket(r, /*bidirectional=*/true, buckets, max_distance));
  }
  // A chunk of 5 rows after 3 cached ones, not in order; 13 encoder rows for cross-attention.
  const int positions[] = {3, 5, 4, 7, 6}, n = 5, source_len = 13;
  ForEachTarget([&] {
    std::mt19937 rng(16);
    for (const Config& c : configs) {
      const size_t width = static_cast<size_t>(c.heads) * c.head_dim;
      const size_t kv_width = static_cast<size_t>(c.kv_heads) * c.head_dim;
      const std::vector<float> q = Random(n * width, rng, -2.0f, 2.0f);
      const std::vector<float> keys = Random(source_len * kv_width, rng, -2.0f, 2.0f);
      const std::vector<float> values = Random(source_len * kv_width, rng);
      const std::vector<float> slopes = lmc::kernels::AlibiSlopes(c.heads);
      const std::vector<float> table = Random(static_cast<size_t>(buckets) * c.heads, rng);
      const std::vector<float> embedding =
          Random(static_cast<size_t>(c.head_dim) * cope_positions, rng, -2.0f, 2.0f);
      const lmc::kernels::RelativeBias relative{table.data(), bucket_of.data(), max_distance,
                                                c.heads};
      const lmc::kernels::CopeBias cope{embedding.data(), cope_positions};
      std::vector<float> want(n * width), got = Guarded(n * width);
      for (bool causal : {true, false}) {
        for (int bias = 0; bias < 4; ++bias) {
          INFO("heads " << c.heads << " kv_heads " << c.kv_heads << " head_dim " << c.head_dim
                        << (causal ? " causal" : " bidirectional") << " bias " << bias);
          const float* s = bias == 1 ? slopes.data() : nullptr;
          const lmc::kernels::RelativeBias* r = bias == 2 ? &relative : nullptr;
          const lmc::kernels::CopeBias* p = bias == 3 ? &cope : nullptr;
          ref::AttentionRows(want.data(), q.data(), keys.data(), values.data(), positions, n,
                             c.heads, c.kv_heads, c.head_dim, source_len, 0.35f, causal, s, r, p);
          simd::AttentionRows(got.data(), q.data(), keys.data(), values.data(), positions, n,
                              c.heads, c.kv_heads, c.head_dim, source_len, 0.35f, causal, s, r, p);
          ExpectClose(got.data(), want.data(), n * width, 1e-5f, 2e-6f);
          CHECK(GuardIntact(got, n * width));
        }
      }
      INFO("cross-attention, heads " << c.heads << " kv_heads " << c.kv_heads);
      ref::CrossAttentionRows(want.data(), q.data(), keys.data(), values.data(), n, source_len,
                              c.heads, c.kv_heads, c.head_dim, source_len, 0.35f);
      simd::CrossAttentionRows(got.data(), q.data(), keys.data(), values.data(), n, source_len,
                               c.heads, c.kv_heads, c.head_dim, source_len, 0.35f);
      ExpectClose(got.data(), want.data(), n * width, 1e-5f, 2e-6f);
      CHECK(GuardIntact(got, n * width));
    }
  });
}

// bf16 by its definition: the nearer of the two bf16 values around x (ties to the even one).
float Bf16Reference(float x) {
  uint32_t bits = lmc::kernels::FloatBits(x);
  const float down = lmc::kernels::BitsFloat(bits & 0xFFFF0000u);
  const float up = lmc::kernels::BitsFloat((bits & 0xFFFF0000u) + 0x10000u);
  const double below = std::abs(static_cast<double>(x) - down);
  const double above = std::abs(static_cast<double>(up) - x);
  if (below != above) return below < above ? down : up;
  return (lmc::kernels::FloatBits(down) >> 16) % 2 == 0 ? down : up;
}

#if HWY_ARCH_X86
// The CPU's own f32 -> f16 -> f32 (F16C's vcvtps2ph rounds to nearest even).
__attribute__((target("f16c"))) float F16Hardware(float x) {
  return _cvtsh_ss(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT));
}
__attribute__((target("f16c"))) float F16WidenHardware(uint16_t bits) { return _cvtsh_ss(bits); }
#endif

TEST_CASE("16-bit KV cache values round to nearest even and widen exactly", "[kernels]") {
  std::mt19937 rng(5);
  std::vector<float> xs = {0.0f,
                           -0.0f,
                           1.0f,
                           65504.0f,
                           65519.0f,
                           65520.0f,
                           1e-8f,
                           6.1035e-05f,
                           5.96e-08f,
                           2.98e-08f,
                           3e-38f,
                           -1.5e-7f,
                           1.00390625f /* a bf16 tie */,
                           1.01171875f /* the other tie */};
  std::uniform_int_distribution<uint32_t> any;
  for (int i = 0; i < 200000; ++i) {
    const float x = lmc::kernels::BitsFloat(any(rng));
    if (std::isfinite(x)) xs.push_back(x);
  }
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int i = 0; i < 200000; ++i) xs.push_back(normal(rng));
  int bf16_wrong = 0, f16_wrong = 0;
  for (float x : xs) {
    const float bf16 = lmc::kernels::FromBf16(lmc::kernels::ToBf16(x));
    bf16_wrong += !(bf16 == Bf16Reference(x) || (std::isinf(bf16) && std::abs(x) > 3.38e38f));
#if HWY_ARCH_X86
    if (hwy::SupportedTargets() & HWY_AVX2) {  // F16C comes with every AVX2 CPU we target
      const float f16 = lmc::kernels::FromF16(lmc::kernels::ToF16(x));
      const float want = F16Hardware(x);
      f16_wrong += !(f16 == want && std::signbit(f16) == std::signbit(want));
    }
#endif
  }
  CHECK(bf16_wrong == 0);
  CHECK(f16_wrong == 0);
  // Every f16 widens to itself: FromF16 against the hardware's, all 65536 of them.
#if HWY_ARCH_X86
  if (hwy::SupportedTargets() & HWY_AVX2) {
    int widen_wrong = 0;
    for (uint32_t h = 0; h < 65536; ++h) {
      hwy::float16_t value;
      const uint16_t bits = static_cast<uint16_t>(h);
      std::memcpy(&value, &bits, 2);
      const float got = lmc::kernels::FromF16(value);
      const float want = F16WidenHardware(bits);
      widen_wrong += !(lmc::kernels::FloatBits(got) == lmc::kernels::FloatBits(want) ||
                       (std::isnan(got) && std::isnan(want)));
    }
    CHECK(widen_wrong == 0);
  }
#endif
}

TEST_CASE("Attention over a 16-bit KV cache is attention over its widened values", "[kernels]") {
  // A chunk of 5 rows after 3 cached ones, not in order.
  const int positions[] = {3, 5, 4, 7, 6}, n = 5, capacity = 8;
  struct Config {
    int heads, kv_heads, head_dim;
  };
  const Config configs[] = {{8, 2, 8}, {6, 3, 17}, {4, 4, 64}};
  ForEachTarget([&] {
    std::mt19937 rng(21);
    for (const Config& c : configs) {
      INFO("heads " << c.heads << " kv_heads " << c.kv_heads << " head_dim " << c.head_dim);
      const size_t width = static_cast<size_t>(c.heads) * c.head_dim;
      const size_t kv_width = static_cast<size_t>(c.kv_heads) * c.head_dim;
      const std::vector<float> q = Random(n * width, rng, -2.0f, 2.0f);
      // Rows 0-2 were cached before; this chunk stores its own keys and values first. keys
      // and values are the whole caches' contents, head-major (row p of head h at (h *
      // capacity + p) * head_dim).
      std::vector<float> keys = Random(capacity * kv_width, rng, -2.0f, 2.0f);
      std::vector<float> values = Random(capacity * kv_width, rng);
      auto at = [&](int h, int p) { return static_cast<size_t>(h * capacity + p) * c.head_dim; };
      std::vector<float> key_rows(n * kv_width), value_rows(n * kv_width);
      for (int t = 0; t < n; ++t) {
        for (int h = 0; h < c.kv_heads; ++h) {
          std::copy_n(keys.begin() + at(h, positions[t]), c.head_dim,
                      key_rows.begin() + t * kv_width + h * c.head_dim);
          std::copy_n(values.begin() + at(h, positions[t]), c.head_dim,
                      value_rows.begin() + t * kv_width + h * c.head_dim);
        }
      }
      auto check = [&](auto zero) {
        using TC = decltype(zero);
        std::vector<TC> k_cache(capacity * kv_width), v_cache(capacity * kv_width);
        std::vector<float> k_wide(capacity * kv_width), v_wide(capacity * kv_width);
        for (int h = 0; h < c.kv_heads; ++h) {  // the rows cached before the chunk
          for (size_t i = at(h, 0); i < at(h, 3); ++i) {
            k_cache[i] = lmc::kernels::ToCache(keys[i], k_cache.data());
            v_cache[i] = lmc::kernels::ToCache(values[i], v_cache.data());
          }
        }
        std::vector<float> want(n * width), got = Guarded(n * width);
        simd::KvStoreAndAttend(k_cache.data(), v_cache.data(), got.data(), q.data(),
                               key_rows.data(), value_rows.data(), positions, n, c.heads,
                               c.kv_heads, c.head_dim, capacity);
        int stored_wrong = 0;
        for (size_t i = 0; i < k_cache.size(); ++i) {
          k_wide[i] = lmc::kernels::FromCache(k_cache[i]);
          v_wide[i] = lmc::kernels::FromCache(v_cache[i]);
          stored_wrong +=
              k_wide[i] != lmc::kernels::FromCache(lmc::kernels::ToCache(keys[i], &zero));
          stored_wrong +=
              v_wide[i] != lmc::kernels::FromCache(lmc::kernels::ToCache(values[i], &zero));
        }
        CHECK(stored_wrong == 0);
        ref::AttentionRows(want.data(), q.data(), k_wide.data(), v_wide.data(), positions, n,
                           c.heads, c.kv_heads, c.head_dim, capacity, 0.35f, true, nullptr, nullptr,
                           nullptr);
        ExpectClose(got.data(), want.data(), n * width, 1e-5f, 2e-6f);
        CHECK(GuardIntact(got, n * width));
      };
      check(hwy::bfloat16_t{});
      check(hwy::float16_t{});
    }
  });
}

TEST_CASE("Attention over a q8_0 KV cache is attention over its dequantized values", "[kernels]") {
  // A chunk of 5 rows after 3 cached ones, not in order; heads of 32 and 64 values.
  const int positions[] = {3, 5, 4, 7, 6}, n = 5, capacity = 8;
  struct Config {
    int heads, kv_heads, head_dim;
  };
  const Config configs[] = {{8, 2, 32}, {4, 4, 64}, {3, 1, 96}};
  ForEachTarget([&] {
    std::mt19937 rng(22);
    for (const Config& c : configs) {
      INFO("heads " << c.heads << " kv_heads " << c.kv_heads << " head_dim " << c.head_dim);
      const size_t width = static_cast<size_t>(c.heads) * c.head_dim;
      const size_t kv_width = static_cast<size_t>(c.kv_heads) * c.head_dim;
      const size_t blocks = capacity * kv_width / lmc::rt::kQuantBlock;
      const std::vector<float> q = Random(n * width, rng, -2.0f, 2.0f);
      // The chunk's keys and values (rows 0-2 hold earlier ones, quantized the same way).
      const std::vector<float> key_rows = Random(n * kv_width, rng, -2.0f, 2.0f);
      const std::vector<float> value_rows = Random(n * kv_width, rng);
      std::vector<lmc::rt::BlockQ8_0> k_cache(blocks), v_cache(blocks);
      const std::vector<float> earlier = Random(3 * kv_width, rng);
      for (int h = 0; h < c.kv_heads; ++h) {
        for (int p = 0; p < 3; ++p) {
          const size_t at = static_cast<size_t>(h * capacity + p) * c.head_dim;
          lmc::rt::QuantizeRowQ8_0(earlier.data() + (p * c.kv_heads + h) * c.head_dim, c.head_dim,
                                   k_cache.data() + at / lmc::rt::kQuantBlock);
          lmc::rt::QuantizeRowQ8_0(earlier.data() + (p * c.kv_heads + h) * c.head_dim, c.head_dim,
                                   v_cache.data() + at / lmc::rt::kQuantBlock);
        }
      }
      std::vector<float> want(n * width), got = Guarded(n * width);
      simd::KvStoreAndAttend(k_cache.data(), v_cache.data(), got.data(), q.data(), key_rows.data(),
                             value_rows.data(), positions, n, c.heads, c.kv_heads, c.head_dim,
                             capacity);
      // Each stored head row is rt::QuantizeRowQ8_0 of its values, byte for byte.
      int stored_wrong = 0;
      std::vector<lmc::rt::BlockQ8_0> expected(c.head_dim / lmc::rt::kQuantBlock);
      for (int t = 0; t < n; ++t) {
        for (int h = 0; h < c.kv_heads; ++h) {
          const size_t block =
              static_cast<size_t>(h * capacity + positions[t]) * c.head_dim / lmc::rt::kQuantBlock;
          for (const auto& [rows, cache] :
               {std::pair{&key_rows, &k_cache}, std::pair{&value_rows, &v_cache}}) {
            lmc::rt::QuantizeRowQ8_0(rows->data() + (t * c.kv_heads + h) * c.head_dim, c.head_dim,
                                     expected.data());
            stored_wrong += std::memcmp(cache->data() + block, expected.data(),
                                        expected.size() * sizeof(lmc::rt::BlockQ8_0)) != 0;
          }
        }
      }
      CHECK(stored_wrong == 0);
      std::vector<float> k_wide(capacity * kv_width), v_wide(capacity * kv_width);
      lmc::rt::DequantizeRowQ8_0(k_cache.data(), k_wide.size(), k_wide.data());
      lmc::rt::DequantizeRowQ8_0(v_cache.data(), v_wide.size(), v_wide.data());
      ref::AttentionRows(want.data(), q.data(), k_wide.data(), v_wide.data(), positions, n, c.heads,
                         c.kv_heads, c.head_dim, capacity, 0.35f, true, nullptr, nullptr, nullptr);
      ExpectClose(got.data(), want.data(), n * width, 1e-5f, 2e-6f);
      CHECK(GuardIntact(got, n * width));
    }
  });
}

TEST_CASE("SoftmaxRows and ArgmaxRows over several rows", "[kernels]") {
  ForEachTarget([] {
    std::mt19937 rng(17);
    for (int width : kSizes) {
      INFO("width " << width);
      const int n = 3;
      const size_t size = static_cast<size_t>(n) * width;
      std::vector<float> x = Random(size, rng, -5.0f, 5.0f);
      x[static_cast<size_t>(2) * width] = 9.0f;  // Row 2's maximum is its first element.
      int want[n], got[n];
      ref::ArgmaxRows(want, x.data(), n, width);
      simd::ArgmaxRows(got, x.data(), n, width);
      CHECK(std::equal(want, want + n, got));
      CHECK(got[2] == 0);
      std::vector<float> want_p = x, got_p = Guarded(size);
      std::copy(x.begin(), x.end(), got_p.begin());
      ref::SoftmaxRows(want_p.data(), n, width);
      simd::SoftmaxRows(got_p.data(), n, width);
      ExpectClose(got_p.data(), want_p.data(), size, 1e-5f, 1e-7f);
      CHECK(GuardIntact(got_p, size));
      for (int t = 0; t < n; ++t) {
        const double sum =
            std::accumulate(got_p.begin() + t * width, got_p.begin() + (t + 1) * width, 0.0);
        CHECK(sum == Approx(1.0).epsilon(1e-5));
      }
    }
  });
}

#endif  // HWY_ONCE
