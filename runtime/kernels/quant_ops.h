// Matrix products with block-quantized weights (Q8_0, Q4_0; runtime/weights/quant.h) and
// activations quantized on the fly to int8, as llama.cpp computes them: the caller quantizes
// the activations once per product (QuantizedActivations), then every weight block meets its
// activation block in an integer dot product (int8 x int8 -> int32, exact), scaled by
// d_w * d_x and added in f32. scalar::QuantizedDot (scalar_ops.h) is the reference. Dispatch
// is in quant_ops.cc, a translation unit of its own: AVX-512 VNNI (vpdpbusd) where the CPU has
// it, else AVX2's vpmaddubsw / vpmaddwd on AVX2 and AVX-512 targets, both equal to the reference
// bit for bit; portable Highway code elsewhere, which adds the same scaled block products in
// another order (per lane, then across lanes).
#ifndef LMC_RUNTIME_KERNELS_QUANT_OPS_H_
#define LMC_RUNTIME_KERNELS_QUANT_OPS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/weights/quant.h"

namespace lmc::kernels {

// `tokens` rows of `cols` activations, quantized by rt::QuantizeActivationRow. Row t's int8
// values start at q + t * stride * 32 and its scales at d + t * stride; stride is
// QuantBlocks(cols) rounded up to even, the extra block zero (q 0, d 0), so SIMD code can read
// blocks in pairs.
struct QuantizedActivations {
  size_t tokens = 0, cols = 0, stride = 0;
  std::vector<int8_t> q;
  std::vector<float> d;

  // Quantizes x ([tokens, cols] floats), reusing the buffers: SIMD code that gives
  // rt::QuantizeActivationRow's integers and scales bit for bit.
  void Quantize(const float* x, size_t n_tokens, size_t n_cols);
};

// out[t * rows + r] = sum over blocks b of float(int dot(w row r block b, x token t block b))
// * (d_w * d_x), for t < x.tokens and r in [row_begin, row_end) (0 <= row_begin < row_end <=
// rows); w is [rows, QuantBlocks(x.cols)] blocks. Each output is computed alone, in one order
// per target: results do not depend on the row split or on the token count.
void MatMulRows(float* out, const rt::BlockQ8_0* w, const QuantizedActivations& x, size_t rows,
                size_t row_begin, size_t row_end);
void MatMulRows(float* out, const rt::BlockQ4_0* w, const QuantizedActivations& x, size_t rows,
                size_t row_begin, size_t row_end);

// SwiGLU of two such products: out[t * rows + r] = g * sigmoid(beta * g) * u, g and u the
// MatMulRows outputs of w_gate and w_up (ops-inl.h's SwiGlu).
void MatMulSwiGluRows(float* out, const rt::BlockQ8_0* w_gate, const rt::BlockQ8_0* w_up,
                      const QuantizedActivations& x, size_t rows, float beta, size_t row_begin,
                      size_t row_end);
void MatMulSwiGluRows(float* out, const rt::BlockQ4_0* w_gate, const rt::BlockQ4_0* w_up,
                      const QuantizedActivations& x, size_t rows, float beta, size_t row_begin,
                      size_t row_end);

// The same products from a Q4_0 matrix in either layout (rt::Q4_0Matrix; from panels, rows
// may begin anywhere): bit for bit those of its rows as stored.
void MatMulRows(float* out, const rt::Q4_0Matrix& w, const QuantizedActivations& x, size_t rows,
                size_t row_begin, size_t row_end);
void MatMulSwiGluRows(float* out, const rt::Q4_0Matrix& w_gate, const rt::Q4_0Matrix& w_up,
                      const QuantizedActivations& x, size_t rows, float beta, size_t row_begin,
                      size_t row_end);

// Whether the kernels the CPU runs read Q4_0 faster as panels (x86's AVX2 integer kernels,
// without VNNI): a model asks once, at load, which layout to keep (TensorSource::Q4_0Kernel).
bool ReadsQ4_0Panels();

}  // namespace lmc::kernels

#endif  // LMC_RUNTIME_KERNELS_QUANT_OPS_H_
