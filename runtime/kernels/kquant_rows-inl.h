// The row kernels (rows-inl.h's Linear and GatedLinear) for the block formats of kquant.h:
// the activations are quantized once per product, on the calling thread (Q8_K for the
// k-quants, quant_ops.h's int8 blocks of 32 for Q4_1 / Q5_0 / Q5_1 / IQ4_NL), then the pool's
// threads take ranges of output rows of kquant_ops.h's products. Every output is
// kquant_scalar.h's reference, bit for bit, on one thread or many. rt::AnyBlocks (a layer whose
// block type is chosen per layer) dispatches on its dtype once per product. Included by
// rows-inl.h.

// Per-target include guard: toggled by foreach_target.h for each target.
#if defined(LMC_KERNELS_KQUANT_ROWS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LMC_KERNELS_KQUANT_ROWS_INL_H_
#undef LMC_KERNELS_KQUANT_ROWS_INL_H_
#else
#define LMC_KERNELS_KQUANT_ROWS_INL_H_
#endif

#include <stddef.h>

#include <utility>

#include "runtime/kernels/kquant_ops.h"
#include "runtime/kernels/kquant_scalar.h"
#include "runtime/kernels/quant_ops.h"
#include "runtime/kernels/thread_pool.h"
#include "runtime/weights/tensor_source.h"

HWY_BEFORE_NAMESPACE();
namespace lmc::kernels {
namespace HWY_NAMESPACE {

// The activations `Block` multiplies with, quantized into the calling thread's buffer.
template <typename Block>
inline const auto& QuantizeFor(const float* x, int n, int cols) {
  if constexpr (lmc::kernels::scalar::kIsKQuant<Block>) {
    thread_local lmc::kernels::Q8KActivations xq;
    xq.Quantize(x, static_cast<size_t>(n), static_cast<size_t>(cols));
    return xq;
  } else {
    thread_local lmc::kernels::QuantizedActivations xq;
    xq.Quantize(x, static_cast<size_t>(n), static_cast<size_t>(cols));
    return xq;
  }
}

// The block type of a product's weights: a matrix of blocks, or a rt::Q4_0Matrix.
template <typename Block>
Block BlockTypeOf(const Block*);
lmc::rt::BlockQ4_0 BlockTypeOf(const lmc::rt::Q4_0Matrix&);
template <typename Weights>
using BlockOf = decltype(BlockTypeOf(std::declval<const Weights&>()));

template <typename Weights>
inline void BlockLinear(float* HWY_RESTRICT out, const Weights& w, const float* HWY_RESTRICT x,
                        int n, int rows, int cols) {
  const auto& xq = QuantizeFor<BlockOf<Weights>>(x, n, cols);
  const size_t r = static_cast<size_t>(rows);
  lmc::rt::ParallelRows(r, static_cast<size_t>(n) * r * cols, [&](size_t begin, size_t end) {
    lmc::kernels::MatMulRows(out, w, xq, r, begin, end);
  });
}

template <typename Weights>
inline void BlockGatedLinear(float* HWY_RESTRICT out, const Weights& w_gate, const Weights& w_up,
                             const float* HWY_RESTRICT x, int n, int rows, int cols, float beta) {
  const auto& xq = QuantizeFor<BlockOf<Weights>>(x, n, cols);
  const size_t r = static_cast<size_t>(rows);
  lmc::rt::ParallelRows(r, 2 * static_cast<size_t>(n) * r * cols, [&](size_t begin, size_t end) {
    lmc::kernels::MatMulSwiGluRows(out, w_gate, w_up, xq, r, beta, begin, end);
  });
}

#define LMC_KQUANT_ROW_KERNELS(Block)                                                           \
  inline void Linear(float* HWY_RESTRICT out, const lmc::rt::Block* HWY_RESTRICT w,             \
                     const float* HWY_RESTRICT x, int n, int rows, int cols) {                  \
    BlockLinear(out, w, x, n, rows, cols);                                                      \
  }                                                                                             \
  inline void GatedLinear(float* HWY_RESTRICT out, const lmc::rt::Block* HWY_RESTRICT w_gate,   \
                          const lmc::rt::Block* HWY_RESTRICT w_up, const float* HWY_RESTRICT x, \
                          int n, int rows, int cols, float beta) {                              \
    BlockGatedLinear(out, w_gate, w_up, x, n, rows, cols, beta);                                \
  }
LMC_KQUANT_ROW_KERNELS(BlockQ2_K)
LMC_KQUANT_ROW_KERNELS(BlockQ3_K)
LMC_KQUANT_ROW_KERNELS(BlockQ4_K)
LMC_KQUANT_ROW_KERNELS(BlockQ5_K)
LMC_KQUANT_ROW_KERNELS(BlockQ6_K)
LMC_KQUANT_ROW_KERNELS(BlockQ4_1)
LMC_KQUANT_ROW_KERNELS(BlockQ5_0)
LMC_KQUANT_ROW_KERNELS(BlockQ5_1)
LMC_KQUANT_ROW_KERNELS(BlockIQ4_NL)
#undef LMC_KQUANT_ROW_KERNELS

// A token embedding stored in a block type, gathered (kquant_scalar.h: a row's dequantization
// is cheap beside the matmuls). f32 and bf16 tables take rows-inl.h's overloads.
template <typename Block>
inline void Embedding(float* HWY_RESTRICT out, const Block* HWY_RESTRICT table,
                      const int* HWY_RESTRICT tokens, int n, int width) {
  lmc::kernels::scalar::BlockEmbedding(out, table, tokens, n, width);
}

// f(typed pointer) for the block type `dtype` names (every block type).
template <typename F>
inline void WithBlocks(const lmc::rt::AnyBlocks& w, F&& f) {
  namespace rt = lmc::rt;
  switch (w.dtype) {
    case rt::DType::kQ8_0:
      return f(reinterpret_cast<const rt::BlockQ8_0*>(w.data));
    case rt::DType::kQ4_0:
      return f(reinterpret_cast<const rt::BlockQ4_0*>(w.data));
    case rt::DType::kQ4_1:
      return f(reinterpret_cast<const rt::BlockQ4_1*>(w.data));
    case rt::DType::kQ5_0:
      return f(reinterpret_cast<const rt::BlockQ5_0*>(w.data));
    case rt::DType::kQ5_1:
      return f(reinterpret_cast<const rt::BlockQ5_1*>(w.data));
    case rt::DType::kIQ4_NL:
      return f(reinterpret_cast<const rt::BlockIQ4_NL*>(w.data));
    case rt::DType::kQ2_K:
      return f(reinterpret_cast<const rt::BlockQ2_K*>(w.data));
    case rt::DType::kQ3_K:
      return f(reinterpret_cast<const rt::BlockQ3_K*>(w.data));
    case rt::DType::kQ4_K:
      return f(reinterpret_cast<const rt::BlockQ4_K*>(w.data));
    case rt::DType::kQ5_K:
      return f(reinterpret_cast<const rt::BlockQ5_K*>(w.data));
    case rt::DType::kQ6_K:
      return f(reinterpret_cast<const rt::BlockQ6_K*>(w.data));
    case rt::DType::kF32:
    case rt::DType::kF16:
    case rt::DType::kBF16:
      break;  // never bound as AnyBlocks (BindWeights binds block types only)
  }
}

// Declared here, defined by rows-inl.h's overloads that follow the include (Q8_0, Q4_0).
inline void Linear(float* HWY_RESTRICT out, const lmc::rt::BlockQ8_0* HWY_RESTRICT w,
                   const float* HWY_RESTRICT x, int n, int rows, int cols);
inline void Linear(float* HWY_RESTRICT out, const lmc::rt::BlockQ4_0* HWY_RESTRICT w,
                   const float* HWY_RESTRICT x, int n, int rows, int cols);
inline void GatedLinear(float* HWY_RESTRICT out, const lmc::rt::BlockQ8_0* HWY_RESTRICT w_gate,
                        const lmc::rt::BlockQ8_0* HWY_RESTRICT w_up, const float* HWY_RESTRICT x,
                        int n, int rows, int cols, float beta);
inline void GatedLinear(float* HWY_RESTRICT out, const lmc::rt::BlockQ4_0* HWY_RESTRICT w_gate,
                        const lmc::rt::BlockQ4_0* HWY_RESTRICT w_up, const float* HWY_RESTRICT x,
                        int n, int rows, int cols, float beta);

inline void Linear(float* HWY_RESTRICT out, const lmc::rt::AnyBlocks& w,
                   const float* HWY_RESTRICT x, int n, int rows, int cols) {
  WithBlocks(w, [&](const auto* blocks) { Linear(out, blocks, x, n, rows, cols); });
}
// Gate and up share their dtypes (fuse-gated-ffn fuses only weights stored alike).
inline void GatedLinear(float* HWY_RESTRICT out, const lmc::rt::AnyBlocks& w_gate,
                        const lmc::rt::AnyBlocks& w_up, const float* HWY_RESTRICT x, int n,
                        int rows, int cols, float beta) {
  WithBlocks(w_gate, [&](const auto* gate) {
    using Block = std::remove_cv_t<std::remove_pointer_t<decltype(gate)>>;
    GatedLinear(out, gate, reinterpret_cast<const Block*>(w_up.data), x, n, rows, cols, beta);
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::kernels
HWY_AFTER_NAMESPACE();

#endif  // LMC_KERNELS_KQUANT_ROWS_INL_H_
