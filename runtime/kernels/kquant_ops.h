// Matrix products with the block formats of runtime/weights/kquant.h: the k-quants (Q2_K ..
// Q6_K) times activations quantized to Q8_K, and Q4_1 / Q5_0 / Q5_1 / IQ4_NL times the Q8_0-style
// activations of quant_ops.h. kquant_scalar.h is the reference and defines the order of every
// sum; each output here equals it bit for bit on every target (kernels_test_kquant.cc). Dispatch
// is in kquant_ops.cc (Highway's foreach_target): AVX2's vpmaddubsw / vpmaddwd on x86 targets
// from AVX2 up, portable code elsewhere.
#ifndef LMC_RUNTIME_KERNELS_KQUANT_OPS_H_
#define LMC_RUNTIME_KERNELS_KQUANT_OPS_H_

#include <cstddef>
#include <vector>

#include "runtime/kernels/quant_ops.h"
#include "runtime/weights/kquant.h"

namespace lmc::kernels {

// `tokens` rows of `cols` activations (cols a multiple of 256) as Q8_K super-blocks: row t is
// blocks [t * cols / 256, (t + 1) * cols / 256), each rt::QuantizeRowQ8_K's.
struct Q8KActivations {
  size_t tokens = 0, cols = 0;
  std::vector<rt::BlockQ8_K> blocks;
  void Quantize(const float* x, size_t n_tokens, size_t n_cols);
};

// out[t * rows + r] for t < x.tokens and r in [row_begin, row_end): weight row r (cols / block
// blocks) times token t, as kquant_scalar.h computes it.
#define LMC_KQUANT_MATMUL(Block, Activations)                                            \
  void MatMulRows(float* out, const rt::Block* w, const Activations& x, size_t rows,     \
                  size_t row_begin, size_t row_end);                                     \
  void MatMulSwiGluRows(float* out, const rt::Block* w_gate, const rt::Block* w_up,      \
                        const Activations& x, size_t rows, float beta, size_t row_begin, \
                        size_t row_end);
LMC_KQUANT_MATMUL(BlockQ2_K, Q8KActivations)
LMC_KQUANT_MATMUL(BlockQ3_K, Q8KActivations)
LMC_KQUANT_MATMUL(BlockQ4_K, Q8KActivations)
LMC_KQUANT_MATMUL(BlockQ5_K, Q8KActivations)
LMC_KQUANT_MATMUL(BlockQ6_K, Q8KActivations)
LMC_KQUANT_MATMUL(BlockQ4_1, QuantizedActivations)
LMC_KQUANT_MATMUL(BlockQ5_0, QuantizedActivations)
LMC_KQUANT_MATMUL(BlockQ5_1, QuantizedActivations)
LMC_KQUANT_MATMUL(BlockIQ4_NL, QuantizedActivations)
#undef LMC_KQUANT_MATMUL

}  // namespace lmc::kernels

#endif  // LMC_RUNTIME_KERNELS_KQUANT_OPS_H_
