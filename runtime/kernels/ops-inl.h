// The SIMD building blocks of the row kernels in rows-inl.h (one row, or one matrix product):
// private to runtime/kernels. Code outside the kernels calls rows-inl.h; only the kernels' own
// test and benchmark call these directly. Compiled per target by whoever includes rows-inl.h
// (via foreach_target.h), and by quant_ops.cc. Semantics are specified by scalar_ops.h.
//
// Tails: x86 targets below AVX2 implement MaskedLoad as a full-vector load, which reads past
// the end of the array, so LoadTail/StoreTail fall back to a stack buffer there.

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>
#include <vector>

#include "runtime/kernels/attention_scratch.h"
#include "runtime/kernels/position_tables.h"
#include "runtime/weights/quant.h"

// Per-target include guard: toggled by foreach_target.h for each target.
#if defined(LMC_KERNELS_OPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LMC_KERNELS_OPS_INL_H_
#undef LMC_KERNELS_OPS_INL_H_
#else
#define LMC_KERNELS_OPS_INL_H_
#endif

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace lmc::kernels {
namespace HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Loads p[0, n) for 0 < n < Lanes(d), zero in the other lanes, reading nothing past p + n.
HWY_INLINE VF LoadTail(DF d, const float* HWY_RESTRICT p, size_t n) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2  // True masked loads; SSE4 and below emulate them.
  return hn::MaskedLoad(hn::FirstN(d, n), d, p);
#else
  HWY_ALIGN float buf[hn::MaxLanes(DF())] = {};
  memcpy(buf, p, n * sizeof(float));
  return hn::Load(d, buf);
#endif
}

// Stores the first n lanes of v to p[0, n) for 0 < n < Lanes(d), writing nothing else.
HWY_INLINE void StoreTail(DF d, VF v, float* HWY_RESTRICT p, size_t n) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2  // True masked loads; SSE4 and below emulate them.
  hn::BlendedStore(v, hn::FirstN(d, n), d, p);
#else
  HWY_ALIGN float buf[hn::MaxLanes(DF())];
  hn::Store(v, d, buf);
  memcpy(p, buf, n * sizeof(float));
#endif
}

HWY_INLINE float ReduceSum(DF d, VF v) { return hn::GetLane(hn::SumOfLanes(d, v)); }

// Weight vectors as f32, whatever the stored type: bf16 widens exactly (its bits are the top
// half of the f32's), so a product with bf16 weights is, bit for bit, the f32 product with the
// widened weights.
using DBF = hn::Rebind<hwy::bfloat16_t, DF>;

HWY_INLINE VF LoadWeights(DF d, const float* HWY_RESTRICT p) { return hn::LoadU(d, p); }
HWY_INLINE VF LoadWeights(DF d, const hwy::bfloat16_t* HWY_RESTRICT p) {
  return hn::PromoteTo(d, hn::LoadU(DBF(), p));
}
HWY_INLINE VF LoadWeightsTail(DF d, const float* HWY_RESTRICT p, size_t n) {
  return LoadTail(d, p, n);
}
HWY_INLINE VF LoadWeightsTail(DF d, const hwy::bfloat16_t* HWY_RESTRICT p, size_t n) {
  HWY_ALIGN hwy::bfloat16_t buf[hn::MaxLanes(DF())] = {};
  memcpy(buf, p, n * sizeof(hwy::bfloat16_t));
  return hn::PromoteTo(d, hn::Load(DBF(), buf));
}
// f16 (a KV cache's type, attention.kv_cache) widens exactly too.
using DF16 = hn::Rebind<hwy::float16_t, DF>;
HWY_INLINE VF LoadWeights(DF d, const hwy::float16_t* HWY_RESTRICT p) {
  return hn::PromoteTo(d, hn::LoadU(DF16(), p));
}
HWY_INLINE VF LoadWeightsTail(DF d, const hwy::float16_t* HWY_RESTRICT p, size_t n) {
  HWY_ALIGN hwy::float16_t buf[hn::MaxLanes(DF())] = {};
  memcpy(buf, p, n * sizeof(hwy::float16_t));
  return hn::PromoteTo(d, hn::Load(DF16(), buf));
}

// sums[i] = ReduceSum(d, v[i]) for i < kCount, bit for bit. On AVX-512, SumOfLanes adds lane
// j to lane j + 8, then j + 4, j + 2, j + 1 (GCC's _mm512_reduce_add_ps); four or more
// vectors are reduced together along that same tree, with the shuffles shared by 16 outputs
// (a quarter of the instructions of 16 separate reductions). AVX2 likewise, 8 at a time. The
// kernels tests' bit-for-bit cases (a chunk against each token alone) compare the two paths.
template <size_t kCount>
HWY_INLINE void ReduceSums(DF d, const VF* HWY_RESTRICT v, float* HWY_RESTRICT sums) {
#if HWY_ARCH_X86 && (HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL)
  if constexpr (kCount > 16) {
    ReduceSums<16>(d, v, sums);
    ReduceSums<kCount - 16>(d, v + 16, sums + 16);
    return;
  } else if constexpr (kCount >= 4) {
    __m512 a[16];
    for (size_t i = 0; i < 16; ++i) a[i] = i < kCount ? v[i].raw : _mm512_setzero_ps();
    // Level 1, lanes j + (j + 8): 128-bit blocks [a0+a2, a1+a3 | b0+b2, b1+b3].
    __m512 b[8];
    for (size_t i = 0; i < 8; ++i) {
      b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x44),
                           _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xEE));
    }
    // Level 2, j + (j + 4): block k of c[i] holds output 4i + k.
    __m512 c[4];
    for (size_t i = 0; i < 4; ++i) {
      c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0x88),
                           _mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0xDD));
    }
    // Level 3, j + (j + 2), within blocks: block k of e[i] = [two of output 8i + k, two of
    // output 8i + 4 + k].
    __m512 e[2];
    for (size_t i = 0; i < 2; ++i) {
      e[i] = _mm512_add_ps(_mm512_shuffle_ps(c[2 * i], c[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                           _mm512_shuffle_ps(c[2 * i], c[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    }
    // Level 4, j + (j + 1): lane 4k + i holds output 4i + k.
    const __m512 f = _mm512_add_ps(_mm512_shuffle_ps(e[0], e[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_ps(e[0], e[1], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m512 sorted = _mm512_permutexvar_ps(order, f);
    if constexpr (kCount == 16) {
      _mm512_storeu_ps(sums, sorted);
    } else {
      // Not a masked store: loads of its lanes soon after (attention's scores) wait for it to
      // reach the cache, as a masked store is not forwarded to them.
      HWY_ALIGN float all[16];
      _mm512_store_ps(all, sorted);
      memcpy(sums, all, kCount * sizeof(float));
    }
    return;
  }
#elif HWY_ARCH_X86 && HWY_TARGET == HWY_AVX2
  // SumOfLanes adds lane j to lane j + 4, then j + 2, j + 1 (x + y and y + x are the same
  // float); eight vectors are reduced together along that tree, 22 instructions for 8 outputs
  // instead of 56. On Zen 3 attention over 2,000 cached rows takes 8-13% less time.
  if constexpr (kCount > 8) {
    ReduceSums<8>(d, v, sums);
    ReduceSums<kCount - 8>(d, v + 8, sums + 8);
    return;
  } else if constexpr (kCount >= 4) {
    __m256 a[8];
    for (size_t i = 0; i < 8; ++i) a[i] = i < kCount ? v[i].raw : _mm256_setzero_ps();
    // Level 1, lanes j + (j + 4): b[i] = [output 2i's four partial sums | output 2i + 1's].
    __m256 b[4];
    for (size_t i = 0; i < 4; ++i) {
      b[i] = _mm256_add_ps(_mm256_permute2f128_ps(a[2 * i], a[2 * i + 1], 0x20),
                           _mm256_permute2f128_ps(a[2 * i], a[2 * i + 1], 0x31));
    }
    // Level 2, j + (j + 2): c[i] = [two of 4i, two of 4i + 2 | two of 4i + 1, two of 4i + 3].
    __m256 c[2];
    for (size_t i = 0; i < 2; ++i) {
      c[i] = _mm256_add_ps(_mm256_shuffle_ps(b[2 * i], b[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                           _mm256_shuffle_ps(b[2 * i], b[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    }
    // Level 3, j + (j + 1): [outputs 0, 2, 4, 6 | 1, 3, 5, 7].
    const __m256 e = _mm256_add_ps(_mm256_shuffle_ps(c[0], c[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm256_shuffle_ps(c[0], c[1], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m256 sorted = _mm256_permutevar8x32_ps(e, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    if constexpr (kCount == 8) {
      _mm256_storeu_ps(sums, sorted);
    } else {
      HWY_ALIGN float all[8];
      _mm256_store_ps(all, sorted);
      memcpy(sums, all, kCount * sizeof(float));
    }
    return;
  }
#endif
  for (size_t i = 0; i < kCount; ++i) sums[i] = ReduceSum(d, v[i]);
}

// Every dot product in this file (MatVec, MatMulRows, its SwiGLU form, attention scores) is
// computed in one order, so that a result does not depend on how many rows or tokens are
// computed beside it; in particular prefill (MatMulRows) and decode (MatVec) agree bit for bit on
// the same target. Per output: one vector accumulator of N = Lanes(d) lanes; lane j adds, by
// MulAdd in increasing c, w[c] * x[c] for every c = j (mod N), the zero-padded tail included;
// then its lanes are added by ReduceSum's tree (Highway's SumOfLanes; ReduceSums).
//
// DotTile computes sums[t * kRows + r] = dot(rows[r][0, cols), x[t * x_stride + [0, cols)))
// for kRows weight rows and kTokens tokens: each weight vector is loaded once per kTokens
// tokens and each token vector once per kRows rows, with kRows * kTokens accumulators in
// registers.
template <size_t kRows, size_t kTokens, typename TW>
HWY_INLINE void DotTile(const TW* const* HWY_RESTRICT rows, const float* HWY_RESTRICT x,
                        size_t x_stride, size_t cols, float* HWY_RESTRICT sums) {
  {
    const DF d;
    const size_t N = hn::Lanes(d);
    VF acc[kTokens][kRows];
    for (size_t t = 0; t < kTokens; ++t) {
      for (size_t r = 0; r < kRows; ++r) acc[t][r] = hn::Zero(d);
    }
    size_t c = 0;
    for (; c + N <= cols; c += N) {
      VF wv[kRows];
      for (size_t r = 0; r < kRows; ++r) wv[r] = LoadWeights(d, rows[r] + c);
      for (size_t t = 0; t < kTokens; ++t) {
        const VF xv = hn::LoadU(d, x + t * x_stride + c);
        for (size_t r = 0; r < kRows; ++r) acc[t][r] = hn::MulAdd(wv[r], xv, acc[t][r]);
      }
    }
    if (c < cols) {
      const size_t rem = cols - c;
      VF wv[kRows];
      for (size_t r = 0; r < kRows; ++r) wv[r] = LoadWeightsTail(d, rows[r] + c, rem);
      for (size_t t = 0; t < kTokens; ++t) {
        const VF xv = LoadTail(d, x + t * x_stride + c, rem);
        for (size_t r = 0; r < kRows; ++r) acc[t][r] = hn::MulAdd(wv[r], xv, acc[t][r]);
      }
    }
    ReduceSums<kTokens * kRows>(d, &acc[0][0], sums);
  }
}

// DotTile for n_tokens in [1, kTokens], known only at run time (a tile's token remainder).
template <size_t kRows, size_t kTokens, typename TW>
HWY_INLINE void DotTileUpTo(const TW* const* HWY_RESTRICT rows, const float* HWY_RESTRICT x,
                            size_t x_stride, size_t cols, size_t n_tokens,
                            float* HWY_RESTRICT sums) {
  if constexpr (kTokens == 1) {
    DotTile<kRows, 1>(rows, x, x_stride, cols, sums);
  } else if (n_tokens == kTokens) {
    DotTile<kRows, kTokens>(rows, x, x_stride, cols, sums);
  } else {
    DotTileUpTo<kRows, kTokens - 1>(rows, x, x_stride, cols, n_tokens, sums);
  }
}

// Register tiles of the matrix-matrix kernels, kRows weight rows x kTokens tokens. AVX-512
// has 32 vector registers: 24 accumulators + 6 (or 4) weight vectors + 1 token vector. While
// 6 weight rows fit in L1 (up to kShortRowCols columns), 6 rows x 4 tokens; beyond, 4 rows x
// 6 tokens. Measured on Zen 5 (48 KiB L1), 128 tokens: 6 x 4 is 20% faster than 4 x 4 at 768
// columns, 4 x 6 10% faster than 4 x 4 at 2048. Other targets have 16 registers: 4 x 3 (12
// accumulators; the compiler keeps the fourth weight row in L1 rather than a register), measured
// on Zen 3 1.4-1.6x faster than 4 x 2 at 768 and 2048 columns, Linear and GatedLinear alike
// (3 x 4 was as fast for Linear, slower for GatedLinear's gate/up row pairs).
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
constexpr size_t kShortTileRows = 6;
constexpr size_t kShortTileTokens = 4;
constexpr size_t kLongTileRows = 4;
constexpr size_t kLongTileTokens = 6;
#else
constexpr size_t kShortTileRows = 4;
constexpr size_t kShortTileTokens = 3;
constexpr size_t kLongTileRows = 4;
constexpr size_t kLongTileTokens = 3;
#endif
constexpr size_t kShortRowCols = 1024;
// Rows per group in matrix-vector products: enough independent accumulators to hide the FMA
// latency while the weights stream from memory.
constexpr size_t kMatVecRows = 8;

// Tokens per cache block: a block's activations ([tokens, cols] floats, at most this many
// bytes unless one register tile is larger) stay in L2 while every weight row tile is applied
// to all of them. Blocks are of equal size, rounded up to whole register tiles.
constexpr size_t kActivationBlockBytes = 512 * 1024;

template <size_t kTokens>
HWY_INLINE size_t TokenBlock(size_t tokens, size_t cols) {
  size_t most = kActivationBlockBytes / (cols * sizeof(float));
  if (most < kTokens) most = kTokens;
  const size_t blocks = (tokens + most - 1) / most;
  size_t block = (tokens + blocks - 1) / blocks;
  block = (block + kTokens - 1) / kTokens * kTokens;
  return block < tokens ? block : tokens;
}

// out[t * rows + r] for kRows rows starting at r0 and tokens [t0, t1), kTokens at a time.
template <size_t kRows, size_t kTokens, typename TW>
HWY_INLINE void MatMulRowTile(float* HWY_RESTRICT out, const TW* HWY_RESTRICT w,
                              const float* HWY_RESTRICT x, size_t t0, size_t t1, size_t r0,
                              size_t rows, size_t cols) {
  const TW* row_ptrs[kRows];
  for (size_t r = 0; r < kRows; ++r) row_ptrs[r] = w + (r0 + r) * cols;
  HWY_ALIGN float sums[kTokens * kRows];
  for (size_t t = t0; t < t1; t += kTokens) {
    const size_t n = t1 - t < kTokens ? t1 - t : kTokens;
    DotTileUpTo<kRows, kTokens>(row_ptrs, x + t * cols, cols, cols, n, sums);
    for (size_t i = 0; i < n; ++i) {
      for (size_t r = 0; r < kRows; ++r) out[(t + i) * rows + r0 + r] = sums[i * kRows + r];
    }
  }
}

template <typename TW>
HWY_INLINE void MatVec(float* HWY_RESTRICT out, const TW* HWY_RESTRICT w,
                       const float* HWY_RESTRICT x, size_t num_rows, size_t num_cols) {
  const TW* row_ptrs[kMatVecRows];
  const size_t stride = num_cols;
  size_t r = 0;
  for (; r + kMatVecRows <= num_rows; r += kMatVecRows) {
    for (size_t i = 0; i < kMatVecRows; ++i) row_ptrs[i] = w + (r + i) * stride;
    DotTile<kMatVecRows, 1>(row_ptrs, x, num_cols, num_cols, out + r);
  }
  for (; r + 4 <= num_rows; r += 4) {
    for (size_t i = 0; i < 4; ++i) row_ptrs[i] = w + (r + i) * stride;
    DotTile<4, 1>(row_ptrs, x, num_cols, num_cols, out + r);
  }
  for (; r < num_rows; ++r) {
    row_ptrs[0] = w + r * stride;
    DotTile<1, 1>(row_ptrs, x, num_cols, num_cols, out + r);
  }
}

// MatMulRows with a given register tile, for tokens > 1.
template <size_t kRows, size_t kTokens, typename TW>
HWY_INLINE void MatMulTiled(float* HWY_RESTRICT out, const TW* HWY_RESTRICT w,
                            const float* HWY_RESTRICT x, size_t tokens, size_t rows, size_t cols,
                            size_t row_begin, size_t row_end) {
  const size_t block = TokenBlock<kTokens>(tokens, cols);
  for (size_t t0 = 0; t0 < tokens; t0 += block) {
    const size_t t1 = tokens - t0 < block ? tokens : t0 + block;
    size_t r = row_begin;
    for (; r + kRows <= row_end; r += kRows) {
      MatMulRowTile<kRows, kTokens>(out, w, x, t0, t1, r, rows, cols);
    }
    for (; r < row_end; ++r) MatMulRowTile<1, kTokens>(out, w, x, t0, t1, r, rows, cols);
  }
}

// out[t * rows + r] = dot(w[r * cols + [0, cols)), x[t * cols + [0, cols))) for t < tokens and
// r in [row_begin, row_end) only. Weight row tiles are applied to a block of tokens whose
// activations stay in cache; one token is MatVec. Bit-identical to MatVec of each token (see
// DotTile), and to the whole product's rows: the unit of work for threads, which split a product
// into disjoint row ranges without changing its result (no output depends on the rows computed
// beside it).
template <typename TW>
HWY_INLINE void MatMulRows(float* HWY_RESTRICT out, const TW* HWY_RESTRICT w,
                           const float* HWY_RESTRICT x, size_t tokens, size_t rows, size_t cols,
                           size_t row_begin, size_t row_end) {
  if (tokens == 1) {
    MatVec(out + row_begin, w + row_begin * cols, x, row_end - row_begin, cols);
    return;
  }
  if (cols <= kShortRowCols) {
    MatMulTiled<kShortTileRows, kShortTileTokens>(out, w, x, tokens, rows, cols, row_begin,
                                                  row_end);
  } else {
    MatMulTiled<kLongTileRows, kLongTileTokens>(out, w, x, tokens, rows, cols, row_begin, row_end);
  }
}

// g * sigmoid(beta * g) in a form that cannot overflow: with e = exp(-|z|) <= 1,
// sigmoid(z) = 1 / (1 + e) for z >= 0 and e / (1 + e) otherwise.
HWY_INLINE VF Swish(DF d, VF g, VF beta) {
  const VF z = hn::Mul(beta, g);
  const VF e = hn::Exp(d, hn::Neg(hn::Abs(z)));
  const VF inv = hn::Div(hn::Set(d, 1.0f), hn::Add(hn::Set(d, 1.0f), e));
  return hn::Mul(g, hn::IfThenElse(hn::Ge(z, hn::Zero(d)), inv, hn::Mul(e, inv)));
}

inline void SwiGlu(float* out, const float* gate, const float* up, int n, float beta) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const size_t size = static_cast<size_t>(n);
  const VF vbeta = hn::Set(d, beta);
  // out may alias gate or up: each vector is fully loaded before it is stored.
  size_t i = 0;
  for (; i + N <= size; i += N) {
    const VF g = hn::LoadU(d, gate + i);
    hn::StoreU(hn::Mul(Swish(d, g, vbeta), hn::LoadU(d, up + i)), d, out + i);
  }
  if (i < size) {
    const size_t rem = size - i;
    const VF g = LoadTail(d, gate + i, rem);
    StoreTail(d, hn::Mul(Swish(d, g, vbeta), LoadTail(d, up + i, rem)), out + i, rem);
  }
}

// SwiGLU outputs out[t * rows + r0 + p] for kPairs rows from r0 and tokens [t0, t1). The tile
// computes gate and up rows together (kRows = 2 * kPairs) and applies SwiGlu to all its
// outputs at once, so the element-wise part is the same vector code as SwiGlu.
template <size_t kPairs, size_t kTokens, typename TW>
HWY_INLINE void SwiGluRowTile(float* HWY_RESTRICT out, const TW* HWY_RESTRICT w_gate,
                              const TW* HWY_RESTRICT w_up, const float* HWY_RESTRICT x, size_t t0,
                              size_t t1, size_t r0, size_t rows, size_t cols, float beta) {
  constexpr size_t kRows = 2 * kPairs;
  const TW* row_ptrs[kRows];
  for (size_t p = 0; p < kPairs; ++p) {
    row_ptrs[p] = w_gate + (r0 + p) * cols;
    row_ptrs[kPairs + p] = w_up + (r0 + p) * cols;
  }
  HWY_ALIGN float sums[kTokens * kRows];
  HWY_ALIGN float gate[kTokens * kPairs];
  HWY_ALIGN float up[kTokens * kPairs];
  for (size_t t = t0; t < t1; t += kTokens) {
    const size_t n = t1 - t < kTokens ? t1 - t : kTokens;
    DotTileUpTo<kRows, kTokens>(row_ptrs, x + t * cols, cols, cols, n, sums);
    for (size_t i = 0; i < n; ++i) {
      for (size_t p = 0; p < kPairs; ++p) {
        gate[i * kPairs + p] = sums[i * kRows + p];
        up[i * kPairs + p] = sums[i * kRows + kPairs + p];
      }
    }
    SwiGlu(gate, gate, up, static_cast<int>(n * kPairs), beta);
    for (size_t i = 0; i < n; ++i) {
      for (size_t p = 0; p < kPairs; ++p) out[(t + i) * rows + r0 + p] = gate[i * kPairs + p];
    }
  }
}

// MatMulSwiGluRows with register tiles of kPairs row pairs x kTokens tokens.
template <size_t kPairs, size_t kTokens, typename TW>
HWY_INLINE void MatMulSwiGluTiled(float* HWY_RESTRICT out, const TW* HWY_RESTRICT w_gate,
                                  const TW* HWY_RESTRICT w_up, const float* HWY_RESTRICT x,
                                  size_t tokens, size_t rows, size_t cols, float beta,
                                  size_t row_begin, size_t row_end) {
  const size_t block = TokenBlock<kTokens>(tokens, cols);
  for (size_t t0 = 0; t0 < tokens; t0 += block) {
    const size_t t1 = tokens - t0 < block ? tokens : t0 + block;
    size_t r = row_begin;
    for (; r + kPairs <= row_end; r += kPairs) {
      SwiGluRowTile<kPairs, kTokens>(out, w_gate, w_up, x, t0, t1, r, rows, cols, beta);
    }
    for (; r < row_end; ++r) {
      SwiGluRowTile<1, kTokens>(out, w_gate, w_up, x, t0, t1, r, rows, cols, beta);
    }
  }
}

// One token's SwiGLU rows [row_begin, row_end): as many rows as MatVec keeps in flight at a
// time, their gate and up sums gathered for a span of rows, then SwiGlu over the span at once.
// A tile's four outputs would fill half a vector, and cost a whole exponential and masked loads
// (with 64 columns, as in small models, that was most of the product's time). Each output is
// SwiGlu's per-lane function of the same sums, so the result is the tiles', bit for bit.
template <typename TW>
HWY_INLINE void MatVecSwiGlu(float* HWY_RESTRICT out, const TW* HWY_RESTRICT w_gate,
                             const TW* HWY_RESTRICT w_up, const float* HWY_RESTRICT x, size_t cols,
                             float beta, size_t row_begin, size_t row_end) {
  constexpr size_t kPairs = kMatVecRows / 2;
  constexpr size_t kSpan = 256;
  HWY_ALIGN float gate[kSpan];
  HWY_ALIGN float up[kSpan];
  HWY_ALIGN float sums[2 * kPairs];
  const TW* row_ptrs[2 * kPairs];
  for (size_t r0 = row_begin; r0 < row_end; r0 += kSpan) {
    const size_t n = std::min(kSpan, row_end - r0);
    size_t p = 0;
    for (; p + kPairs <= n; p += kPairs) {
      for (size_t i = 0; i < kPairs; ++i) {
        row_ptrs[i] = w_gate + (r0 + p + i) * cols;
        row_ptrs[kPairs + i] = w_up + (r0 + p + i) * cols;
      }
      DotTile<2 * kPairs, 1>(row_ptrs, x, cols, cols, sums);
      std::copy_n(sums, kPairs, gate + p);
      std::copy_n(sums + kPairs, kPairs, up + p);
    }
    for (; p < n; ++p) {
      row_ptrs[0] = w_gate + (r0 + p) * cols;
      row_ptrs[1] = w_up + (r0 + p) * cols;
      DotTile<2, 1>(row_ptrs, x, cols, cols, sums);
      gate[p] = sums[0];
      up[p] = sums[1];
    }
    SwiGlu(out + r0, gate, up, static_cast<int>(n), beta);
  }
}

// out[t * rows + r] = SwiGLU of the gate and up products of token t, row r, for rows
// [row_begin, row_end) only; bit-identical to the one-token product of each token and to the
// whole product's rows (see MatMulRows).
template <typename TW>
HWY_INLINE void MatMulSwiGluRows(float* HWY_RESTRICT out, const TW* HWY_RESTRICT w_gate,
                                 const TW* HWY_RESTRICT w_up, const float* HWY_RESTRICT x,
                                 size_t tokens, size_t rows, size_t cols, float beta,
                                 size_t row_begin, size_t row_end) {
  if (tokens == 1) {
    MatVecSwiGlu(out, w_gate, w_up, x, cols, beta, row_begin, row_end);
  } else if (cols <= kShortRowCols) {
    MatMulSwiGluTiled<kShortTileRows / 2, kShortTileTokens>(out, w_gate, w_up, x, tokens, rows,
                                                            cols, beta, row_begin, row_end);
  } else {
    MatMulSwiGluTiled<kLongTileRows / 2, kLongTileTokens>(out, w_gate, w_up, x, tokens, rows, cols,
                                                          beta, row_begin, row_end);
  }
}

inline void RmsNorm(float* out, const float* x, const float* HWY_RESTRICT weight, int n,
                    float eps) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const size_t size = static_cast<size_t>(n);
  VF acc0 = hn::Zero(d);
  VF acc1 = hn::Zero(d);
  size_t i = 0;
  for (; i + 2 * N <= size; i += 2 * N) {
    const VF v0 = hn::LoadU(d, x + i);
    const VF v1 = hn::LoadU(d, x + i + N);
    acc0 = hn::MulAdd(v0, v0, acc0);
    acc1 = hn::MulAdd(v1, v1, acc1);
  }
  for (; i + N <= size; i += N) {
    const VF v = hn::LoadU(d, x + i);
    acc0 = hn::MulAdd(v, v, acc0);
  }
  if (i < size) {
    const VF v = LoadTail(d, x + i, size - i);
    acc0 = hn::MulAdd(v, v, acc0);
  }
  float ss = ReduceSum(d, hn::Add(acc0, acc1));
  ss /= static_cast<float>(n);
  ss += eps;
  const VF inv = hn::Set(d, 1.0f / std::sqrt(ss));
  // out may alias x: every lane is loaded before the same lanes are stored.
  for (i = 0; i + N <= size; i += N) {
    const VF v = hn::Mul(inv, hn::LoadU(d, x + i));
    hn::StoreU(hn::Mul(hn::LoadU(d, weight + i), v), d, out + i);
  }
  if (i < size) {
    const size_t rem = size - i;
    const VF v = hn::Mul(inv, LoadTail(d, x + i, rem));
    StoreTail(d, hn::Mul(LoadTail(d, weight + i, rem), v), out + i, rem);
  }
}

// x[i] = exp(x[i] - max(x)) for i < n; returns their sum.
inline float ExpShifted(float* HWY_RESTRICT x, int n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const size_t size = static_cast<size_t>(n);
  float max_val;
  if (size >= N) {
    VF vmax = hn::LoadU(d, x);
    size_t i = N;
    for (; i + N <= size; i += N) vmax = hn::Max(vmax, hn::LoadU(d, x + i));
    // The last, possibly overlapping, full vector covers the tail; re-counting is harmless.
    if (i < size) vmax = hn::Max(vmax, hn::LoadU(d, x + size - N));
    max_val = hn::GetLane(hn::MaxOfLanes(d, vmax));
  } else {
    max_val = x[0];
    for (size_t i = 1; i < size; ++i) max_val = x[i] > max_val ? x[i] : max_val;
  }

  const VF vmax = hn::Set(d, max_val);
  VF sum0 = hn::Zero(d);
  VF sum1 = hn::Zero(d);
  size_t i = 0;
  for (; i + 2 * N <= size; i += 2 * N) {
    const VF e0 = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vmax));
    const VF e1 = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i + N), vmax));
    hn::StoreU(e0, d, x + i);
    hn::StoreU(e1, d, x + i + N);
    sum0 = hn::Add(sum0, e0);
    sum1 = hn::Add(sum1, e1);
  }
  for (; i + N <= size; i += N) {
    const VF e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vmax));
    hn::StoreU(e, d, x + i);
    sum0 = hn::Add(sum0, e);
  }
  if (i < size) {
    const size_t rem = size - i;
    // Padding lanes would contribute exp(0 - max); keep them out of the sum.
    const VF e =
        hn::IfThenElseZero(hn::FirstN(d, rem), hn::Exp(d, hn::Sub(LoadTail(d, x + i, rem), vmax)));
    StoreTail(d, e, x + i, rem);
    sum0 = hn::Add(sum0, e);
  }

  return ReduceSum(d, hn::Add(sum0, sum1));
}

// x[i] /= divisor for i < n: divided rather than multiplied by the reciprocal, as the scalar
// reference does.
inline void DivideRow(float* HWY_RESTRICT x, size_t n, float divisor) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const VF v = hn::Set(d, divisor);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Div(hn::LoadU(d, x + i), v), d, x + i);
  if (i < n) StoreTail(d, hn::Div(LoadTail(d, x + i, n - i), v), x + i, n - i);
}

inline void Softmax(float* HWY_RESTRICT x, int n) {
  DivideRow(x, static_cast<size_t>(n), ExpShifted(x, n));
}

// RoPE angles are tabulated in chunks of this many pairs so the table lives on the stack for
// any head_dim. A multiple of every x86 vector length.
constexpr int kRopeChunk = 64;

// Fills cos/sin of pairs [j0, j1) exactly as llama2.c computes them.
// `inv_freq`, when given, replaces the frequencies (scaled RoPE).
HWY_INLINE void RopeTable(int j0, int j1, int head_dim, int pos, float theta, const float* inv_freq,
                          float* HWY_RESTRICT cos_out, float* HWY_RESTRICT sin_out) {
  for (int j = j0; j < j1; ++j) {
    const float freq =
        inv_freq ? inv_freq[j]
                 : 1.0f / std::pow(theta, static_cast<float>(2 * j) / static_cast<float>(head_dim));
    const float angle = static_cast<float>(pos) * freq;
    cos_out[j - j0] = std::cos(angle);
    sin_out[j - j0] = std::sin(angle);
  }
}

// The rotation a*cos - b*sin, per pair; the compiler may contract it into FMAs.
// `rotary_dims` (0: head_dim) turns only the first rotary_dims of each head (partial rotary).
inline void RopeInterleaved(float* HWY_RESTRICT vec, int n_heads, int head_dim, int pos,
                            float theta, const float* inv_freq = nullptr, int rotary_dims = 0) {
  const DF d;
  const int N = static_cast<int>(hn::Lanes(d));
  const int rot = rotary_dims > 0 ? rotary_dims : head_dim;
  const int half = rot / 2;
  HWY_ALIGN float cos_tab[kRopeChunk];
  HWY_ALIGN float sin_tab[kRopeChunk];
  for (int j0 = 0; j0 < half; j0 += kRopeChunk) {
    const int j1 = half < j0 + kRopeChunk ? half : j0 + kRopeChunk;
    RopeTable(j0, j1, rot, pos, theta, inv_freq, cos_tab, sin_tab);
    for (int h = 0; h < n_heads; ++h) {
      float* head = vec + static_cast<size_t>(h) * head_dim;
      int j = j0;
      for (; j + N <= j1; j += N) {
        VF v0, v1;
        hn::LoadInterleaved2(d, head + 2 * j, v0, v1);
        const VF c = hn::Load(d, cos_tab + (j - j0));
        const VF s = hn::Load(d, sin_tab + (j - j0));
        const VF r0 = hn::Sub(hn::Mul(v0, c), hn::Mul(v1, s));
        const VF r1 = hn::Add(hn::Mul(v0, s), hn::Mul(v1, c));
        hn::StoreInterleaved2(r0, r1, d, head + 2 * j);
      }
      for (; j < j1; ++j) {
        const float c = cos_tab[j - j0];
        const float s = sin_tab[j - j0];
        const float v0 = head[2 * j];
        const float v1 = head[2 * j + 1];
        head[2 * j] = v0 * c - v1 * s;
        head[2 * j + 1] = v0 * s + v1 * c;
      }
    }
  }
}

inline void RopeHalf(float* HWY_RESTRICT vec, int n_heads, int head_dim, int pos, float theta,
                     const float* inv_freq = nullptr, int rotary_dims = 0) {
  const DF d;
  const int N = static_cast<int>(hn::Lanes(d));
  const int rot = rotary_dims > 0 ? rotary_dims : head_dim;
  const int half = rot / 2;
  HWY_ALIGN float cos_tab[kRopeChunk];
  HWY_ALIGN float sin_tab[kRopeChunk];
  for (int j0 = 0; j0 < half; j0 += kRopeChunk) {
    const int j1 = half < j0 + kRopeChunk ? half : j0 + kRopeChunk;
    RopeTable(j0, j1, rot, pos, theta, inv_freq, cos_tab, sin_tab);
    for (int h = 0; h < n_heads; ++h) {
      float* lo = vec + static_cast<size_t>(h) * head_dim;
      float* hi = lo + half;
      int j = j0;
      for (; j + N <= j1; j += N) {
        const VF v0 = hn::LoadU(d, lo + j);
        const VF v1 = hn::LoadU(d, hi + j);
        const VF c = hn::Load(d, cos_tab + (j - j0));
        const VF s = hn::Load(d, sin_tab + (j - j0));
        hn::StoreU(hn::Sub(hn::Mul(v0, c), hn::Mul(v1, s)), d, lo + j);
        hn::StoreU(hn::Add(hn::Mul(v0, s), hn::Mul(v1, c)), d, hi + j);
      }
      for (; j < j1; ++j) {
        const float c = cos_tab[j - j0];
        const float s = sin_tab[j - j0];
        const float v0 = lo[j];
        const float v1 = hi[j];
        lo[j] = v0 * c - v1 * s;
        hi[j] = v0 * s + v1 * c;
      }
    }
  }
}

inline void AddInPlace(float* x, const float* y, int n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const size_t size = static_cast<size_t>(n);
  size_t i = 0;
  for (; i + N <= size; i += N) {
    hn::StoreU(hn::Add(hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, x + i);
  }
  if (i < size) {
    const size_t rem = size - i;
    StoreTail(d, hn::Add(LoadTail(d, x + i, rem), LoadTail(d, y + i, rem)), x + i, rem);
  }
}

// For kHeads heads j: out[j * out_stride + [0, kVectors * N)) = sum_t scores[j * score_stride +
// t] * v_t[0, kVectors * N) over t < n_tokens, with the accumulators held in registers across
// the token loop: each v_t is loaded once for the heads, and out is written once. `accumulate`:
// the sums go on from out's values (a later block of tokens). kPartial: one vector of which only
// the first `rem` lanes are read and written (a head narrower than a vector, or its tail).
// Fewer than four heads x vectors (heads of 8 floats, as in small models) would make one chain
// of dependent multiply-adds per output, bound by the FMA's latency: the tokens are then taken
// by four sets of accumulators in turn (token t by set t mod 4), added as (0 + 1) + (2 + 3) at
// the end of the block. Either way a head's sum has one order, whatever the chunk or thread.
template <size_t kHeads, size_t kVectors, bool kPartial = false, typename TC>
HWY_INLINE void WeightedSumBlock(DF d, const TC* HWY_RESTRICT values, size_t kv_stride,
                                 const float* HWY_RESTRICT scores, size_t score_stride,
                                 size_t n_tokens, bool accumulate, float* HWY_RESTRICT out,
                                 size_t out_stride, size_t rem = 0) {
  static_assert(!kPartial || kVectors == 1, "a partial block is one vector");
  constexpr size_t kSets = kHeads * kVectors >= 4 ? 1 : 4;
  const size_t N = hn::Lanes(d);
  VF acc[kSets][kHeads][kVectors];
  for (size_t j = 0; j < kHeads; ++j) {
    for (size_t k = 0; k < kVectors; ++k) {
      if (!accumulate) {
        acc[0][j][k] = hn::Zero(d);
      } else if constexpr (kPartial) {
        acc[0][j][k] = LoadTail(d, out + j * out_stride, rem);
      } else {
        acc[0][j][k] = hn::LoadU(d, out + j * out_stride + k * N);
      }
      for (size_t set = 1; set < kSets; ++set) acc[set][j][k] = hn::Zero(d);
    }
  }
  // Tokens [t, t + kSets), token t + set into acc[set].
  auto add_tokens = [&](size_t t, size_t sets) HWY_ATTR {
    for (size_t set = 0; set < sets; ++set) {
      const TC* v = values + (t + set) * kv_stride;
      VF vv[kVectors];
      for (size_t k = 0; k < kVectors; ++k) {
        vv[k] = kPartial ? LoadWeightsTail(d, v, rem) : LoadWeights(d, v + k * N);
      }
      for (size_t j = 0; j < kHeads; ++j) {
        const VF s = hn::Set(d, scores[j * score_stride + t + set]);
        for (size_t k = 0; k < kVectors; ++k) {
          acc[set][j][k] = hn::MulAdd(s, vv[k], acc[set][j][k]);
        }
      }
    }
  };
  size_t t = 0;
  for (; t + kSets <= n_tokens; t += kSets) add_tokens(t, kSets);
  if (t < n_tokens) add_tokens(t, n_tokens - t);
  for (size_t j = 0; j < kHeads; ++j) {
    for (size_t k = 0; k < kVectors; ++k) {
      VF sum = acc[0][j][k];
      if constexpr (kSets == 4) {
        sum = hn::Add(hn::Add(acc[0][j][k], acc[1][j][k]), hn::Add(acc[2][j][k], acc[3][j][k]));
      }
      if constexpr (kPartial) {
        StoreTail(d, sum, out + j * out_stride, rem);
      } else {
        hn::StoreU(sum, d, out + j * out_stride + k * N);
      }
    }
  }
}

// WeightedSumBlock for n_heads in [1, kHeads], known only at run time.
template <size_t kHeads, size_t kVectors, bool kPartial = false, typename TC>
HWY_INLINE void WeightedSumBlockUpTo(DF d, const TC* HWY_RESTRICT values, size_t kv_stride,
                                     const float* HWY_RESTRICT scores, size_t score_stride,
                                     size_t n_tokens, bool accumulate, float* HWY_RESTRICT out,
                                     size_t out_stride, size_t n_heads, size_t rem = 0) {
  if constexpr (kHeads == 1) {
    WeightedSumBlock<1, kVectors, kPartial>(d, values, kv_stride, scores, score_stride, n_tokens,
                                            accumulate, out, out_stride, rem);
  } else if (n_heads == kHeads) {
    WeightedSumBlock<kHeads, kVectors, kPartial>(d, values, kv_stride, scores, score_stride,
                                                 n_tokens, accumulate, out, out_stride, rem);
  } else {
    WeightedSumBlockUpTo<kHeads - 1, kVectors, kPartial>(d, values, kv_stride, scores, score_stride,
                                                         n_tokens, accumulate, out, out_stride,
                                                         n_heads, rem);
  }
}

// Cached rows are taken kAttentionKeyBlock at a time, each block by every head of its GQA group
// (kAttentionHeadChunk heads per pass over it) while it is in L1 (64 rows of a 64-wide head: 16
// KiB in f32), so a group reads its keys and values from memory once, however many chunks it has.
constexpr size_t kAttentionKeyBlock = 64;

// A cache element's values: 1, or for a q8_0 cache (attention.kv_cache: q8_0) ggml's Q8_0
// blocks of 32, which lie within a head.
template <typename TC>
constexpr size_t kCacheValuesPer = std::is_same_v<TC, rt::BlockQ8_0> ? rt::kQuantBlock : 1;

// The element `values` values into a cache.
template <typename TC>
const TC* CacheAt(const TC* cache, size_t values) {
  return cache + values / kCacheValuesPer<TC>;
}

// Blocks of a q8_0 cache to floats, exactly (q * d), as rt::DequantizeRowQ8_0 does.
inline void DequantizeCache(const rt::BlockQ8_0* HWY_RESTRICT blocks, size_t n_blocks,
                            float* HWY_RESTRICT out) {
  const hn::CappedTag<float, rt::kQuantBlock> d;  // whole vectors within a block
  const hn::Rebind<int8_t, decltype(d)> d8;
  const hn::Rebind<int32_t, decltype(d)> d32;
  const size_t N = hn::Lanes(d);
  for (size_t b = 0; b < n_blocks; ++b) {
    const auto scale = hn::Set(d, rt::QuantScale(blocks[b].d));
    for (size_t j = 0; j < rt::kQuantBlock; j += N) {
      const auto q = hn::ConvertTo(d, hn::PromoteTo(d32, hn::LoadU(d8, blocks[b].q + j)));
      hn::StoreU(hn::Mul(q, scale), d, out + b * rt::kQuantBlock + j);
    }
  }
}

// Scores of up to kHeads query heads (q0, dim apart) against n cached rows (row_stride apart):
// s0[j * score_stride + t] = q_j . row_t. kKeys rows at a time share each load of a query head,
// and each row is loaded once for the heads. (8 keys at a time for heads of one vector was
// tried: within noise for stories260K, and every model's build 8% slower.)
constexpr size_t kScoreKeys = 4;

template <size_t kHeads, size_t kKeys, typename TR>
HWY_INLINE void ScoreRows(const TR* HWY_RESTRICT rows, size_t row_stride, size_t n,
                          const float* HWY_RESTRICT q0, size_t dim, size_t heads,
                          float* HWY_RESTRICT s0, size_t score_stride) {
  const TR* k_rows[kKeys];
  HWY_ALIGN float sums[kKeys * kHeads];
  size_t t = 0;
  for (; t + kKeys <= n; t += kKeys) {
    for (size_t i = 0; i < kKeys; ++i) k_rows[i] = rows + (t + i) * row_stride;
    DotTileUpTo<kKeys, kHeads>(k_rows, q0, dim, dim, heads, sums);
    for (size_t j = 0; j < heads; ++j) {
      std::copy_n(sums + j * kKeys, kKeys, s0 + j * score_stride + t);
    }
  }
  for (; t < n; ++t) {
    k_rows[0] = rows + t * row_stride;
    DotTileUpTo<1, kHeads>(k_rows, q0, dim, dim, heads, sums);
    for (size_t j = 0; j < heads; ++j) s0[j * score_stride + t] = sums[j];
  }
}

// The caches hold float, or hwy::bfloat16_t / hwy::float16_t widened as they are read, or
// q8_0 blocks, each block of kAttentionKeyBlock rows dequantized into floats (in L1) as it is
// read. `scores`: AttentionScratchFloats(n_heads / n_kv_heads, n_tokens) floats.
template <typename TC>
inline void Attention(float* HWY_RESTRICT out, const float* HWY_RESTRICT q,
                      const TC* HWY_RESTRICT key_cache, const TC* HWY_RESTRICT value_cache,
                      int n_tokens, int n_heads, int n_kv_heads, int head_dim, int kv_stride,
                      float scale, float* HWY_RESTRICT scores,
                      const float* HWY_RESTRICT slopes = nullptr, int query_pos = 0,
                      const RelativeBias* relative = nullptr, const CopeBias* cope = nullptr) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const size_t dim = static_cast<size_t>(head_dim);
  const size_t stride = static_cast<size_t>(kv_stride);
  const size_t tokens = static_cast<size_t>(n_tokens);
  const size_t group = static_cast<size_t>(n_heads / n_kv_heads);
  constexpr size_t kChunk = kAttentionHeadChunk;
  constexpr bool kBlocks = std::is_same_v<TC, rt::BlockQ8_0>;
  thread_local std::vector<float> dequantized;  // A q8_0 cache's block of rows, [rows, dim].
  thread_local std::vector<float> exp_sums;     // Of each head of a group's scores.
  exp_sums.resize(group);
  if constexpr (kBlocks) dequantized.resize(kAttentionKeyBlock * dim);
  // Rows [t0, t0 + n) of `cache` (rows `stride` values apart): where they are and their
  // stride, as stored or dequantized.
  auto block_rows = [&](const TC* cache, size_t t0, size_t n) {
    if constexpr (kBlocks) {
      for (size_t t = 0; t < n; ++t) {
        DequantizeCache(CacheAt(cache, (t0 + t) * stride), dim / rt::kQuantBlock,
                        dequantized.data() + t * dim);
      }
      return std::pair<const float*, size_t>{dequantized.data(), dim};
    } else {
      return std::pair<const TC*, size_t>{cache + t0 * stride, stride};
    }
  };
  for (size_t kv_head = 0; kv_head < static_cast<size_t>(n_kv_heads); ++kv_head) {
    const size_t first = kv_head * group;  // The group's first query head.
    const TC* keys = CacheAt(key_cache, kv_head * dim);
    const TC* values = CacheAt(value_cache, kv_head * dim);
    // Scores of head first + j at scores + j * tokens; kKeys cached keys at a time share each
    // load of a query head, and each key is loaded once for a chunk's heads.
    for (size_t t0 = 0; t0 < tokens; t0 += kAttentionKeyBlock) {
      const size_t n = std::min(tokens, t0 + kAttentionKeyBlock) - t0;
      const auto [rows, row_stride] = block_rows(keys, t0, n);
      for (size_t j0 = 0; j0 < group; j0 += kChunk) {
        const size_t heads = std::min(kChunk, group - j0);
        const float* q0 = q + (first + j0) * dim;
        float* s0 = scores + j0 * tokens + t0;
        ScoreRows<kChunk, kScoreKeys>(rows, row_stride, n, q0, dim, heads, s0, tokens);
      }
    }
    for (size_t j = 0; j < group; ++j) {
      const int h = static_cast<int>(first + j);
      float* s = scores + j * tokens;
      for (size_t t = 0; t < tokens; ++t) s[t] *= scale;
      if (slopes) {  // ALiBi: a linear penalty on the distance back to each key.
        for (size_t t = 0; t < tokens; ++t) {
          s[t] += slopes[h] * static_cast<float>(static_cast<int>(t) - query_pos);
        }
      }
      if (relative) {  // T5: a learned bias per head and bucket of the distance.
        for (size_t t = 0; t < tokens; ++t) {
          s[t] += (*relative)(h, static_cast<int>(t) - query_pos);
        }
      }
      if (cope) AddCope(*cope, q + static_cast<size_t>(h) * dim, head_dim, s, n_tokens);
      // The softmax's division is left to the head's output: head_dim divisions, not n_tokens.
      exp_sums[j] = ExpShifted(s, n_tokens);
    }

    for (size_t t0 = 0; t0 < tokens; t0 += kAttentionKeyBlock) {
      const size_t n = std::min(tokens, t0 + kAttentionKeyBlock) - t0;
      const auto [v0, row_stride] = block_rows(values, t0, n);
      const bool accumulate = t0 > 0;
      for (size_t j0 = 0; j0 < group; j0 += kChunk) {
        const size_t heads = std::min(kChunk, group - j0);
        const float* s0 = scores + j0 * tokens + t0;
        float* out0 = out + (first + j0) * dim;
        size_t i = 0;
        for (; i + 4 * N <= dim; i += 4 * N) {
          WeightedSumBlockUpTo<kChunk, 4>(d, v0 + i, row_stride, s0, tokens, n, accumulate,
                                          out0 + i, dim, heads);
        }
        for (; i + N <= dim; i += N) {
          WeightedSumBlockUpTo<kChunk, 1>(d, v0 + i, row_stride, s0, tokens, n, accumulate,
                                          out0 + i, dim, heads);
        }
        if (i < dim) {
          WeightedSumBlockUpTo<kChunk, 1, true>(d, v0 + i, row_stride, s0, tokens, n, accumulate,
                                                out0 + i, dim, heads, dim - i);
        }
      }
    }
    for (size_t j = 0; j < group; ++j) DivideRow(out + (first + j) * dim, dim, exp_sums[j]);
  }
}

inline int Argmax(const float* HWY_RESTRICT x, int n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const size_t size = static_cast<size_t>(n);
  if (size < N) {
    int best = 0;
    for (int i = 1; i < n; ++i) best = x[i] > x[best] ? i : best;
    return best;
  }
  VF vmax = hn::LoadU(d, x);
  size_t i = N;
  for (; i + N <= size; i += N) vmax = hn::Max(vmax, hn::LoadU(d, x + i));
  if (i < size) vmax = hn::Max(vmax, hn::LoadU(d, x + size - N));
  const VF target = hn::MaxOfLanes(d, vmax);
  // Second pass finds the first occurrence, which gives the tie rule for free.
  for (i = 0; i + N <= size; i += N) {
    const intptr_t lane = hn::FindFirstTrue(d, hn::Eq(hn::LoadU(d, x + i), target));
    if (lane >= 0) return static_cast<int>(i + static_cast<size_t>(lane));
  }
  const intptr_t lane = hn::FindFirstTrue(d, hn::Eq(hn::LoadU(d, x + size - N), target));
  // Only NaN inputs can leave no lane equal to the maximum.
  return lane >= 0 ? static_cast<int>(size - N + static_cast<size_t>(lane)) : 0;
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::kernels
HWY_AFTER_NAMESPACE();

#endif  // per-target include guard
