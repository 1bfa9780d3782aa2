// Run-time dispatch for the kernels in ops-inl.h: foreach_target.h re-includes this file once
// per Highway target, and HWY_DYNAMIC_DISPATCH picks the best one the CPU supports.
#include "runtime/kernels/ops.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/kernels/ops.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
// Must come after foreach_target.h.
#include <hwy/highway.h>

#include "runtime/kernels/ops-inl.h"

// Entry points for the weight-type templates of ops-inl.h (HWY_EXPORT needs one function).
HWY_BEFORE_NAMESPACE();
namespace lmc::kernels {
namespace HWY_NAMESPACE {

void MatMulRowsF32(float* out, const float* w, const float* x, size_t tokens, size_t rows,
                   size_t cols, size_t row_begin, size_t row_end) {
  MatMulRows(out, w, x, tokens, rows, cols, row_begin, row_end);
}

void MatMulSwiGluRowsF32(float* out, const float* w_gate, const float* w_up, const float* x,
                         size_t tokens, size_t rows, size_t cols, float beta, size_t row_begin,
                         size_t row_end) {
  MatMulSwiGluRows(out, w_gate, w_up, x, tokens, rows, cols, beta, row_begin, row_end);
}

void MatMulRowsBF16(float* out, const uint16_t* w, const float* x, size_t tokens, size_t rows,
                    size_t cols, size_t row_begin, size_t row_end) {
  MatMulRows(out, reinterpret_cast<const hwy::bfloat16_t*>(w), x, tokens, rows, cols, row_begin,
             row_end);
}

void MatMulSwiGluRowsBF16(float* out, const uint16_t* w_gate, const uint16_t* w_up, const float* x,
                          size_t tokens, size_t rows, size_t cols, float beta, size_t row_begin,
                          size_t row_end) {
  MatMulSwiGluRows(out, reinterpret_cast<const hwy::bfloat16_t*>(w_gate),
                   reinterpret_cast<const hwy::bfloat16_t*>(w_up), x, tokens, rows, cols, beta,
                   row_begin, row_end);
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lmc::kernels {

HWY_EXPORT(MatVec);
HWY_EXPORT(MatVecSwiGlu);
HWY_EXPORT(MatMul);
HWY_EXPORT(MatMulSwiGlu);
HWY_EXPORT(MatMulRowsF32);
HWY_EXPORT(MatMulSwiGluRowsF32);
HWY_EXPORT(MatMulRowsBF16);
HWY_EXPORT(MatMulSwiGluRowsBF16);
HWY_EXPORT(RmsNorm);
HWY_EXPORT(Softmax);
HWY_EXPORT(RopeInterleaved);
HWY_EXPORT(RopeHalf);
HWY_EXPORT(SwiGlu);
HWY_EXPORT(AddInPlace);
HWY_EXPORT(Attention);
HWY_EXPORT(Argmax);
HWY_EXPORT(DispatchedTarget);

void MatVec(float* out, const float* w, const float* x, int rows, int cols) {
  HWY_DYNAMIC_DISPATCH(MatVec)(out, w, x, rows, cols);
}

void MatVecSwiGlu(float* out, const float* w_gate, const float* w_up, const float* x, int rows,
                  int cols, float beta) {
  HWY_DYNAMIC_DISPATCH(MatVecSwiGlu)(out, w_gate, w_up, x, rows, cols, beta);
}

void MatMul(float* out, const float* w, const float* x, size_t tokens, size_t rows, size_t cols) {
  HWY_DYNAMIC_DISPATCH(MatMul)(out, w, x, tokens, rows, cols);
}

void MatMulSwiGlu(float* out, const float* w_gate, const float* w_up, const float* x, size_t tokens,
                  size_t rows, size_t cols, float beta) {
  HWY_DYNAMIC_DISPATCH(MatMulSwiGlu)(out, w_gate, w_up, x, tokens, rows, cols, beta);
}

void MatMulRows(float* out, const float* w, const float* x, size_t tokens, size_t rows, size_t cols,
                size_t row_begin, size_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatMulRowsF32)(out, w, x, tokens, rows, cols, row_begin, row_end);
}

void MatMulSwiGluRows(float* out, const float* w_gate, const float* w_up, const float* x,
                      size_t tokens, size_t rows, size_t cols, float beta, size_t row_begin,
                      size_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatMulSwiGluRowsF32)
  (out, w_gate, w_up, x, tokens, rows, cols, beta, row_begin, row_end);
}

void MatMulRowsBF16(float* out, const uint16_t* w, const float* x, size_t tokens, size_t rows,
                    size_t cols, size_t row_begin, size_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatMulRowsBF16)(out, w, x, tokens, rows, cols, row_begin, row_end);
}

void MatMulSwiGluRowsBF16(float* out, const uint16_t* w_gate, const uint16_t* w_up, const float* x,
                          size_t tokens, size_t rows, size_t cols, float beta, size_t row_begin,
                          size_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatMulSwiGluRowsBF16)
  (out, w_gate, w_up, x, tokens, rows, cols, beta, row_begin, row_end);
}

void RmsNorm(float* out, const float* x, const float* weight, int n, float eps) {
  HWY_DYNAMIC_DISPATCH(RmsNorm)(out, x, weight, n, eps);
}

void Softmax(float* x, int n) { HWY_DYNAMIC_DISPATCH(Softmax)(x, n); }

void RopeInterleaved(float* vec, int n_heads, int head_dim, int pos, float theta,
                     const float* inv_freq, int rotary_dims) {
  HWY_DYNAMIC_DISPATCH(RopeInterleaved)(vec, n_heads, head_dim, pos, theta, inv_freq, rotary_dims);
}

void RopeHalf(float* vec, int n_heads, int head_dim, int pos, float theta, const float* inv_freq,
              int rotary_dims) {
  HWY_DYNAMIC_DISPATCH(RopeHalf)(vec, n_heads, head_dim, pos, theta, inv_freq, rotary_dims);
}

void SwiGlu(float* out, const float* gate, const float* up, int n, float beta) {
  HWY_DYNAMIC_DISPATCH(SwiGlu)(out, gate, up, n, beta);
}

void AddInPlace(float* x, const float* y, int n) { HWY_DYNAMIC_DISPATCH(AddInPlace)(x, y, n); }

void Attention(float* out, const float* q, const float* key_cache, const float* value_cache,
               int n_tokens, int n_heads, int n_kv_heads, int head_dim, int kv_stride, float scale,
               float* scores, const float* slopes, int query_pos, const RelativeBias* relative,
               const CopeBias* cope) {
  HWY_DYNAMIC_DISPATCH(Attention)
  (out, q, key_cache, value_cache, n_tokens, n_heads, n_kv_heads, head_dim, kv_stride, scale,
   scores, slopes, query_pos, relative, cope);
}

int Argmax(const float* x, int n) { return HWY_DYNAMIC_DISPATCH(Argmax)(x, n); }

int64_t DispatchedTarget() { return HWY_DYNAMIC_DISPATCH(DispatchedTarget)(); }

}  // namespace lmc::kernels
#endif  // HWY_ONCE
