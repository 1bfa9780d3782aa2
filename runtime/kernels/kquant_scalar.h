// The scalar reference of the products with the block formats of kquant.h: the oracle every
// SIMD kernel (kquant_ops.*) is tested against on every target (kernels_test), and what the
// reference interpreter computes. As in ggml, the activations are quantized first, per token
// row: to Q8_K super-blocks (rt::QuantizeRowQ8_K) for the k-quants, to the Q8_0-style int8
// blocks of 32 with an f32 scale (rt::QuantizeActivationRow) for Q4_1, Q5_0, Q5_1, IQ4_NL.
//
// The order is fixed, and is the definition the kernels reproduce bit for bit:
//   k-quants, per super-block b in increasing order (w: the weight's rt::Unpacked):
//     qsum = sum over sub-blocks s of sc_s * (sum_j q_j * x_j)          exact in int32
//     msum = sum over sub-blocks s of m_s * (sum_j x_j)  (x sums from bsums; with mins only)
//     sum += float(qsum) * (d_w * d_x)
//     sum -= float(msum) * (dmin_w * d_x)                (with mins only)
//   32-value blocks, per block b in increasing order (q: rt::UnpackQ):
//     s = sum_j q_j * x_j                                                 exact in int32
//     sum += float(s) * (d_w * d_x)
//     sum += float(sum_j x_j) * (m_w * d_x)              (Q4_1, Q5_1 only)
// Every product and sum is a separate f32 operation (no fused multiply-add). Bounds: |qsum| <=
// 16 * 16 * 32 * 127 * 128 (Q6_K) < 2^31.
#ifndef LMC_RUNTIME_KERNELS_KQUANT_SCALAR_H_
#define LMC_RUNTIME_KERNELS_KQUANT_SCALAR_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "runtime/kernels/scalar_ops.h"
#include "runtime/weights/kquant.h"
#include "runtime/weights/quant.h"
#include "runtime/weights/tensor_source.h"  // DType

namespace lmc::kernels::scalar {

template <typename Block>
inline constexpr bool kIsKQuant =
    std::is_same_v<Block, rt::BlockQ2_K> || std::is_same_v<Block, rt::BlockQ3_K> ||
    std::is_same_v<Block, rt::BlockQ4_K> || std::is_same_v<Block, rt::BlockQ5_K> ||
    std::is_same_v<Block, rt::BlockQ6_K>;
template <typename Block>
inline constexpr bool kHasBlockMin =
    std::is_same_v<Block, rt::BlockQ4_1> || std::is_same_v<Block, rt::BlockQ5_1>;

// One super-block's integer sums: qsum and msum above.
struct SuperBlockSums {
  int32_t q = 0, m = 0;
};
template <typename Block>
SuperBlockSums SuperBlockDot(const Block& w, const rt::BlockQ8_K& x) {
  rt::Unpacked u;
  rt::Unpack(w, u);
  SuperBlockSums sums;
  const size_t sub = static_cast<size_t>(u.sub);
  for (size_t s = 0; s < rt::kSuperBlock / sub; ++s) {
    int32_t dot = 0;
    for (size_t j = s * sub; j < (s + 1) * sub; ++j) dot += int32_t{u.q[j]} * x.qs[j];
    sums.q += u.sc[s] * dot;
    if (u.has_min) {
      int32_t xsum = 0;
      for (size_t i = s * sub / 16; i < (s + 1) * sub / 16; ++i) xsum += x.bsums[i];
      sums.m += u.m[s] * xsum;
    }
  }
  return sums;
}

// A k-quant row of `blocks` super-blocks times a Q8_K row.
template <typename Block>
float KQuantDot(const Block* w, const rt::BlockQ8_K* x, size_t blocks) {
  float sum = 0.0f;
  for (size_t b = 0; b < blocks; ++b) {
    const SuperBlockSums s = SuperBlockDot(w[b], x[b]);
    sum += static_cast<float>(s.q) * (rt::QuantScale(w[b].d) * x[b].d);
    if constexpr (!std::is_same_v<Block, rt::BlockQ3_K> && !std::is_same_v<Block, rt::BlockQ6_K>) {
      sum -= static_cast<float>(s.m) * (rt::QuantScale(w[b].dmin) * x[b].d);
    }
  }
  return sum;
}

// One 32-value block's integer dot product and the activations' sum.
template <typename Block>
int32_t SmallBlockDot(const Block& w, const int8_t* xq) {
  int8_t q[32];
  rt::UnpackQ(w, q);
  int32_t s = 0;
  for (size_t j = 0; j < 32; ++j) s += int32_t{q[j]} * xq[j];
  return s;
}
inline int32_t ActivationSum(const int8_t* xq) {
  int32_t s = 0;
  for (size_t j = 0; j < 32; ++j) s += xq[j];
  return s;
}

// A row of `blocks` 32-value blocks times activations quantized by rt::QuantizeActivationRow.
template <typename Block>
float SmallBlockRowDot(const Block* w, const int8_t* xq, const float* xd, size_t blocks) {
  float sum = 0.0f;
  for (size_t b = 0; b < blocks; ++b) {
    const int8_t* x = xq + b * rt::kQuantBlock;
    sum += static_cast<float>(SmallBlockDot(w[b], x)) * (rt::QuantScale(w[b].d) * xd[b]);
    if constexpr (kHasBlockMin<Block>) {
      sum += static_cast<float>(ActivationSum(x)) * (rt::QuantScale(w[b].m) * xd[b]);
    }
  }
  return sum;
}

// The activations of one token row in the format `Block` multiplies with.
template <typename Block>
struct ActivationRow {
  std::vector<rt::BlockQ8_K> k;
  std::vector<int8_t> q;
  std::vector<float> d;
  void Quantize(const float* x, size_t cols) {
    if constexpr (kIsKQuant<Block>) {
      k.resize(cols / rt::kSuperBlock);
      rt::QuantizeRowQ8_K(x, cols, k.data());
    } else {
      q.resize(rt::QuantBlocks(cols) * rt::kQuantBlock);
      d.resize(rt::QuantBlocks(cols));
      rt::QuantizeActivationRow(x, cols, q.data(), d.data());
    }
  }
  // Row `w` (cols / block blocks) times this row.
  float Dot(const Block* w, size_t cols) const {
    if constexpr (kIsKQuant<Block>) {
      return KQuantDot(w, k.data(), cols / rt::kSuperBlock);
    } else {
      return SmallBlockRowDot(w, q.data(), d.data(), cols / rt::kQuantBlock);
    }
  }
};

template <typename Block>
inline constexpr size_t kBlockValues = kIsKQuant<Block> ? rt::kSuperBlock : rt::kQuantBlock;

// out[t * rows + r] = the product of weight row r and token t (cols a multiple of the block).
template <typename Block>
void BlockMatMul(float* out, const Block* w, const float* x, size_t tokens, size_t rows,
                 size_t cols) {
  const size_t blocks = cols / kBlockValues<Block>;
  ActivationRow<Block> row;
  for (size_t t = 0; t < tokens; ++t) {
    row.Quantize(x + t * cols, cols);
    for (size_t r = 0; r < rows; ++r) out[t * rows + r] = row.Dot(w + r * blocks, cols);
  }
}

template <typename Block>
void BlockMatMulSwiGlu(float* out, const Block* w_gate, const Block* w_up, const float* x,
                       size_t tokens, size_t rows, size_t cols, float beta) {
  const size_t blocks = cols / kBlockValues<Block>;
  ActivationRow<Block> row;
  for (size_t t = 0; t < tokens; ++t) {
    row.Quantize(x + t * cols, cols);
    for (size_t r = 0; r < rows; ++r) {
      const float g = row.Dot(w_gate + r * blocks, cols);
      const float u = row.Dot(w_up + r * blocks, cols);
      out[t * rows + r] = Swish(g, beta) * u;
    }
  }
}

// The row kernels' overloads (scalar_ops.h's Linear and GatedLinear) for every block type here.
#define LMC_SCALAR_BLOCK_KERNELS(Block)                                                           \
  inline void Linear(float* out, const rt::Block* w, const float* x, int n, int rows, int cols) { \
    BlockMatMul(out, w, x, static_cast<size_t>(n), static_cast<size_t>(rows),                     \
                static_cast<size_t>(cols));                                                       \
  }                                                                                               \
  inline void GatedLinear(float* out, const rt::Block* w_gate, const rt::Block* w_up,             \
                          const float* x, int n, int rows, int cols, float beta) {                \
    BlockMatMulSwiGlu(out, w_gate, w_up, x, static_cast<size_t>(n), static_cast<size_t>(rows),    \
                      static_cast<size_t>(cols), beta);                                           \
  }
LMC_SCALAR_BLOCK_KERNELS(BlockQ4_1)
LMC_SCALAR_BLOCK_KERNELS(BlockQ5_0)
LMC_SCALAR_BLOCK_KERNELS(BlockQ5_1)
LMC_SCALAR_BLOCK_KERNELS(BlockIQ4_NL)
LMC_SCALAR_BLOCK_KERNELS(BlockQ2_K)
LMC_SCALAR_BLOCK_KERNELS(BlockQ3_K)
LMC_SCALAR_BLOCK_KERNELS(BlockQ4_K)
LMC_SCALAR_BLOCK_KERNELS(BlockQ5_K)
LMC_SCALAR_BLOCK_KERNELS(BlockQ6_K)
#undef LMC_SCALAR_BLOCK_KERNELS

// f(typed pointer) for the block type `dtype` names (any block type; quant.h's too).
template <typename F>
void WithBlockType(rt::DType dtype, const std::byte* data, F&& f) {
  switch (dtype) {
    case rt::DType::kQ8_0:
      return f(reinterpret_cast<const rt::BlockQ8_0*>(data));
    case rt::DType::kQ4_0:
      return f(reinterpret_cast<const rt::BlockQ4_0*>(data));
    case rt::DType::kQ4_1:
      return f(reinterpret_cast<const rt::BlockQ4_1*>(data));
    case rt::DType::kQ5_0:
      return f(reinterpret_cast<const rt::BlockQ5_0*>(data));
    case rt::DType::kQ5_1:
      return f(reinterpret_cast<const rt::BlockQ5_1*>(data));
    case rt::DType::kIQ4_NL:
      return f(reinterpret_cast<const rt::BlockIQ4_NL*>(data));
    case rt::DType::kQ2_K:
      return f(reinterpret_cast<const rt::BlockQ2_K*>(data));
    case rt::DType::kQ3_K:
      return f(reinterpret_cast<const rt::BlockQ3_K*>(data));
    case rt::DType::kQ4_K:
      return f(reinterpret_cast<const rt::BlockQ4_K*>(data));
    case rt::DType::kQ5_K:
      return f(reinterpret_cast<const rt::BlockQ5_K*>(data));
    case rt::DType::kQ6_K:
      return f(reinterpret_cast<const rt::BlockQ6_K*>(data));
    case rt::DType::kF32:
    case rt::DType::kF16:
    case rt::DType::kBF16:
      break;
  }
}

// Linear and GatedLinear of a weight whose block type is known at run time (the reference
// interpreter's, and the mirror of kquant_rows-inl.h's rt::AnyBlocks kernels).
inline void LinearAs(rt::DType dtype, float* out, const std::byte* w, const float* x, int n,
                     int rows, int cols) {
  WithBlockType(dtype, w, [&](const auto* blocks) { Linear(out, blocks, x, n, rows, cols); });
}
inline void GatedLinearAs(rt::DType dtype, float* out, const std::byte* w_gate,
                          const std::byte* w_up, const float* x, int n, int rows, int cols,
                          float beta) {
  WithBlockType(dtype, w_gate, [&](const auto* gate) {
    using Block = std::remove_cv_t<std::remove_pointer_t<decltype(gate)>>;
    GatedLinear(out, gate, reinterpret_cast<const Block*>(w_up), x, n, rows, cols, beta);
  });
}

// A table stored in a block type (a GGUF's token embeddings, read in place), gathered: out[t]
// is row tokens[t] dequantized as the loaders dequantize (rt::DequantizeBlock, and Q8_0's and
// Q4_0's row functions), so it equals the table read as f32. Rows are whole blocks (Q8_0, Q4_0:
// the last may be partial).
template <typename Block>
void BlockEmbedding(float* out, const Block* table, const int* tokens, int n, int width) {
  constexpr size_t kValues = kIsKQuant<Block> ? rt::kSuperBlock : rt::kQuantBlock;
  const size_t cols = static_cast<size_t>(width), blocks = (cols + kValues - 1) / kValues;
  std::vector<float> values(blocks * kValues);
  for (int t = 0; t < n; ++t) {
    const Block* row = table + static_cast<size_t>(tokens[t]) * blocks;
    float* to = out + static_cast<size_t>(t) * cols;
    if constexpr (std::is_same_v<Block, rt::BlockQ8_0>) {
      rt::DequantizeRowQ8_0(row, cols, to);
    } else if constexpr (std::is_same_v<Block, rt::BlockQ4_0>) {
      rt::DequantizeRowQ4_0(row, cols, to);
    } else {
      for (size_t b = 0; b < blocks; ++b) rt::DequantizeBlock(row[b], values.data() + b * kValues);
      std::copy_n(values.data(), cols, to);
    }
  }
}

}  // namespace lmc::kernels::scalar

#endif  // LMC_RUNTIME_KERNELS_KQUANT_SCALAR_H_
