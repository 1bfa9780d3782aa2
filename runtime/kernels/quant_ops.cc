// Q8_0 / Q4_0 weights times int8-quantized activations (quant_ops.h), in a translation unit of
// their own so that it compiles beside ops.cc. Two implementations of the same products:
//   - AVX-512 VNNI (vpdpbusd), compiled once with a target attribute and taken by the AVX3
//     targets when the CPU has VNNI: two blocks (64 int8) per instruction;
//   - portable Highway code for every other target (and AVX-512 without VNNI): the int8 widen
//     to f32 (products and 32-term block sums of int8 are integers below 2^24, so exact).
// Both sum, per output, one vector accumulator lane by lane over the blocks, then across its
// lanes: every output is computed alone, in the same order whatever the tile, the row range
// or the token count.
#include "runtime/kernels/quant_ops.h"

#include <stddef.h>
#include <stdint.h>

#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "runtime/kernels/ops.h"

#ifndef LMC_KERNELS_QUANT_OPS_VNNI_
#define LMC_KERNELS_QUANT_OPS_VNNI_
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define LMC_VNNI_TARGET \
  __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))

namespace lmc::kernels::vnni {
namespace {

// Only intrinsics with explicit pass-through operands below: GCC 12's unmasked forms pass
// _mm512_undefined_*(), which trips -Wuninitialized once inlined into a target function.

bool Supported() {
  static const bool supported =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512vnni");
  return supported;
}

LMC_VNNI_TARGET inline __m512i Concat(__m256i lo, __m256i hi) {
  const __m512i wide = _mm512_castsi256_si512(lo);
  return _mm512_mask_inserti64x4(wide, 0xFF, wide, hi, 1);
}
// lo in lanes 0-7, hi in lanes 8-15.
LMC_VNNI_TARGET inline __m512 Halves(float lo, float hi) {
  return _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(lo), _mm512_set1_ps(hi));
}
// The sum of the 16 lanes, in a fixed order: lane j + (j + 8), then j + 4, j + 2, j + 1.
LMC_VNNI_TARGET inline float ReduceAdd(__m512 v) {
  const __m256 lo = _mm512_maskz_extractf32x8_ps(0xFF, v, 0);
  const __m256 hi = _mm512_maskz_extractf32x8_ps(0xFF, v, 1);
  const __m256 s8 = _mm256_add_ps(lo, hi);
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  const __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

// The 64 weights of blocks b and b + 1 of a row of `blocks` (zeros past its end), as the
// signed (Q8_0) or unsigned (Q4_0: nibbles 0..15, in the activations' order) bytes of one
// vector; and their scales, d_b in lanes 0-7 and d_(b+1) in lanes 8-15.
LMC_VNNI_TARGET inline __m512i LoadPair(const rt::BlockQ8_0* w, size_t b, size_t blocks) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].q));
  const __m256i hi = b + 1 < blocks
                         ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b + 1].q))
                         : _mm256_setzero_si256();
  return Concat(lo, hi);
}
LMC_VNNI_TARGET inline __m512i LoadPair(const rt::BlockQ4_0* w, size_t b, size_t blocks) {
  const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
  const __m128i c = b + 1 < blocks ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b + 1].qs))
                                   : _mm_setzero_si128();
  // [a, a, c, c]: low nibbles from the first copy of each, high nibbles from the second.
  const __m512i both = Concat(_mm256_set_m128i(a, a), _mm256_set_m128i(c, c));
  const __m512i nibbles = _mm512_mask_blend_epi64(0xCC, both, _mm512_srli_epi16(both, 4));
  return _mm512_and_si512(nibbles, _mm512_set1_epi8(0x0F));
}
// The two blocks' f16 scales, widened: d_b in lanes 0-7, d_(b+1) in lanes 8-15 (F16C's
// conversion is exact, as rt::QuantScale).
template <typename Block>
LMC_VNNI_TARGET inline __m512 PairScales(const Block* w, size_t b, size_t blocks) {
  const __m256i lo = _mm256_set1_epi16(static_cast<short>(w[b].d));
  const short hi = b + 1 < blocks ? static_cast<short>(w[b + 1].d) : 0;
  return _mm512_maskz_cvtph_ps(0xFFFF, _mm256_mask_set1_epi16(lo, 0xFF00, hi));
}

// sums[t * kRows + r] = the product of rows[r] and token t0 + t, for kRows x kTokens outputs.
// Per block pair and output, one vpdpbusd gives 16 int32 lanes (4 products each; lanes 0-7
// block b, 8-15 block b + 1), exact. Its unsigned operand is the weights, offset to be
// non-negative (Q8_0: w + 128; Q4_0: the nibbles, w + 8), its signed one the activations; so
// every row's dot product starts from the same -offset * sum(x), made once per token. The
// lanes, as f32, times d_w * d_x, are added to an f32 accumulator; at the end its lanes are
// added (ReduceAdd).
//
// Rows are consecutive in memory (rows[r] = rows[0] + r * blocks), so a tile reads kRows
// short streams at once, too many and too short for the hardware prefetcher: each row
// prefetches the same place in the next tile's row (past the matrix's end a prefetch is
// ignored), one tile ahead.
template <size_t kRows, size_t kTokens, typename Block>
LMC_VNNI_TARGET void Tile(const Block* const* rows, const QuantizedActivations& x, size_t t0,
                          float* sums) {
  constexpr bool kQ8 = std::is_same_v<Block, rt::BlockQ8_0>;
  const __m512i offset = _mm512_set1_epi8(kQ8 ? -128 : 8);  // As unsigned bytes: 128 or 8.
  const size_t blocks = rt::QuantBlocks(x.cols);
  const __m512i zero = _mm512_setzero_si512();
  __m512 acc[kTokens][kRows];
  for (size_t t = 0; t < kTokens; ++t) {
    for (size_t r = 0; r < kRows; ++r) acc[t][r] = _mm512_setzero_ps();
  }
  for (size_t b = 0; b < blocks; b += 2) {
    __m512i xv[kTokens], start[kTokens];
    __m512 xs[kTokens];
    for (size_t t = 0; t < kTokens; ++t) {
      const size_t row = (t0 + t) * x.stride + b;
      xv[t] = _mm512_loadu_si512(x.q.data() + row * rt::kQuantBlock);
      xs[t] = Halves(x.d[row], x.d[row + 1]);
      start[t] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, offset, xv[t]));
    }
    for (size_t r = 0; r < kRows; ++r) {
      const char* ahead = reinterpret_cast<const char*>(rows[r] + kRows * blocks + b);
      _mm_prefetch(ahead, _MM_HINT_T0);
      if constexpr (kQ8) _mm_prefetch(ahead + 2 * sizeof(Block) - 1, _MM_HINT_T0);
      __m512i wv = LoadPair(rows[r], b, blocks);
      if constexpr (kQ8) wv = _mm512_xor_si512(wv, offset);  // w + 128, unsigned
      const __m512 ws = PairScales(rows[r], b, blocks);
      for (size_t t = 0; t < kTokens; ++t) {
        const __m512i dot = _mm512_dpbusd_epi32(start[t], wv, xv[t]);
        acc[t][r] = _mm512_fmadd_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, dot), _mm512_mul_ps(ws, xs[t]),
                                    acc[t][r]);
      }
    }
  }
  for (size_t t = 0; t < kTokens; ++t) {
    for (size_t r = 0; r < kRows; ++r) sums[t * kRows + r] = ReduceAdd(acc[t][r]);
  }
}

// out[t * out_stride + (r - row_begin)] for rows [row_begin, row_end), every token: 8 rows at
// a time for one token, 4 rows x 4 tokens for more.
template <typename Block>
LMC_VNNI_TARGET void MatMulRows(float* out, size_t out_stride, const Block* w,
                                const QuantizedActivations& x, size_t row_begin, size_t row_end) {
  const size_t stride = rt::QuantBlocks(x.cols);
  constexpr size_t kMaxRows = 8, kTileTokens = 4;
  const Block* rows[kMaxRows];
  float sums[kMaxRows * kTileTokens];
  auto run = [&](auto tile, size_t r, size_t n_rows, size_t t, size_t n_tokens) {
    for (size_t i = 0; i < n_rows; ++i) rows[i] = w + (r + i) * stride;
    tile(rows, x, t, sums);
    for (size_t j = 0; j < n_tokens; ++j) {
      for (size_t i = 0; i < n_rows; ++i) {
        out[(t + j) * out_stride + r + i - row_begin] = sums[j * n_rows + i];
      }
    }
  };
  size_t r = row_begin;
  if (x.tokens == 1) {
    for (; r + 8 <= row_end; r += 8) run(Tile<8, 1, Block>, r, 8, 0, 1);
    for (; r < row_end; ++r) run(Tile<1, 1, Block>, r, 1, 0, 1);
    return;
  }
  for (; r + 4 <= row_end; r += 4) {
    size_t t = 0;
    for (; t + kTileTokens <= x.tokens; t += kTileTokens) run(Tile<4, 4, Block>, r, 4, t, 4);
    for (; t < x.tokens; ++t) run(Tile<4, 1, Block>, r, 4, t, 1);
  }
  for (; r < row_end; ++r) {
    for (size_t t = 0; t < x.tokens; ++t) run(Tile<1, 1, Block>, r, 1, t, 1);
  }
}

}  // namespace
}  // namespace lmc::kernels::vnni
#endif  // x86
#endif  // LMC_KERNELS_QUANT_OPS_VNNI_

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/kernels/quant_ops.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
// Must come after foreach_target.h.
#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace lmc::kernels {
namespace HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// A block is read N values at a time; N must divide 32 (and be at most 16 for Q4_0's nibbles).
static_assert(rt::kQuantBlock % hn::MaxLanes(DF()) == 0 && hn::MaxLanes(DF()) <= 16,
              "quantized kernels assume at most 16 float lanes");

// Weights [k, k + N) of a block, as the f32 of their integers (Q4_0: nibble - 8).
HWY_INLINE VF LoadInts(DF d, const rt::BlockQ8_0& b, size_t k) {
  const hn::Rebind<int8_t, DF> d8;
  const hn::Rebind<int32_t, DF> d32;
  return hn::ConvertTo(d, hn::PromoteTo(d32, hn::LoadU(d8, b.q + k)));
}
HWY_INLINE VF LoadInts(DF d, const rt::BlockQ4_0& b, size_t k) {
  constexpr size_t kHalf = rt::kQuantBlock / 2;
  const hn::Rebind<uint8_t, DF> d8;
  const hn::Rebind<int32_t, DF> d32;
  const auto bytes = hn::PromoteTo(d32, hn::LoadU(d8, b.qs + k % kHalf));
  const auto nibbles = k < kHalf ? hn::And(bytes, hn::Set(d32, 0xF)) : hn::ShiftRight<4>(bytes);
  return hn::ConvertTo(d, hn::Sub(nibbles, hn::Set(d32, 8)));
}

// One output: per block, the lanes' integer products summed exactly in f32, times d_w * d_x,
// added to the accumulator's lanes; then across lanes.
template <typename Block>
HWY_INLINE float Dot(const Block* HWY_RESTRICT w, const int8_t* HWY_RESTRICT xq,
                     const float* HWY_RESTRICT xd, size_t blocks) {
  const DF d;
  const hn::Rebind<int8_t, DF> d8;
  const hn::Rebind<int32_t, DF> d32;
  const size_t N = hn::Lanes(d);
  VF acc = hn::Zero(d);
  for (size_t b = 0; b < blocks; ++b) {
    VF block = hn::Zero(d);
    for (size_t k = 0; k < rt::kQuantBlock; k += N) {
      const VF xv =
          hn::ConvertTo(d, hn::PromoteTo(d32, hn::LoadU(d8, xq + b * rt::kQuantBlock + k)));
      block = hn::MulAdd(LoadInts(d, w[b], k), xv, block);
    }
    acc = hn::MulAdd(block, hn::Set(d, rt::QuantScale(w[b].d) * xd[b]), acc);
  }
  return hn::GetLane(hn::SumOfLanes(d, acc));
}

// out[t * out_stride + (r - row_begin)] for rows [row_begin, row_end), every token.
template <typename Block>
HWY_INLINE void Rows(float* HWY_RESTRICT out, size_t out_stride, const Block* HWY_RESTRICT w,
                     const QuantizedActivations& x, size_t row_begin, size_t row_end) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  if (vnni::Supported()) {
    vnni::MatMulRows(out, out_stride, w, x, row_begin, row_end);
    return;
  }
#endif
  const size_t blocks = rt::QuantBlocks(x.cols);
  for (size_t t = 0; t < x.tokens; ++t) {
    const int8_t* xq = x.q.data() + t * x.stride * rt::kQuantBlock;
    const float* xd = x.d.data() + t * x.stride;
    for (size_t r = row_begin; r < row_end; ++r) {
      out[t * out_stride + r - row_begin] = Dot(w + r * blocks, xq, xd, blocks);
    }
  }
}

template <typename Block>
HWY_INLINE void SwiGluRows(float* HWY_RESTRICT out, const Block* HWY_RESTRICT w_gate,
                           const Block* HWY_RESTRICT w_up, const QuantizedActivations& x,
                           size_t rows, float beta, size_t row_begin, size_t row_end) {
  const size_t n = row_end - row_begin;
  thread_local std::vector<float> gate, up;  // per thread: the pool's threads call this
  gate.resize(x.tokens * n);
  up.resize(x.tokens * n);
  Rows(gate.data(), n, w_gate, x, row_begin, row_end);
  Rows(up.data(), n, w_up, x, row_begin, row_end);
  for (size_t t = 0; t < x.tokens; ++t) {
    lmc::kernels::SwiGlu(out + t * rows + row_begin, gate.data() + t * n, up.data() + t * n,
                         static_cast<int>(n), beta);
  }
}

// rt::QuantizeActivationRow for `tokens` rows, bit for bit: the same amax (a NaN never wins,
// as in std::max), the same scale and inverse, the same product x * inv, rounded half away from
// zero as std::round does: truncate, then step one away from zero when the dropped fraction is
// at least 1/2 (both exact in floating point). Each row ends in zero blocks up to `stride`.
void QuantizeActivationRows(const float* HWY_RESTRICT x, size_t tokens, size_t cols, size_t stride,
                            int8_t* HWY_RESTRICT q, float* HWY_RESTRICT d) {
  const DF df;
  const hn::Rebind<int32_t, DF> d32;
  const hn::Rebind<int8_t, DF> d8;
  const size_t N = hn::Lanes(df), blocks = rt::QuantBlocks(cols);
  HWY_ALIGN float padded[rt::kQuantBlock];
  for (size_t t = 0; t < tokens; ++t) {
    int8_t* row_q = q + t * stride * rt::kQuantBlock;
    float* row_d = d + t * stride;
    for (size_t b = 0; b < blocks; ++b) {
      const size_t begin = b * rt::kQuantBlock, n = std::min(rt::kQuantBlock, cols - begin);
      const float* in = x + t * cols + begin;
      if (n < rt::kQuantBlock) {  // the last block, zero-padded
        std::fill(std::copy(in, in + n, padded), padded + rt::kQuantBlock, 0.0f);
        in = padded;
      }
      VF amax = hn::Zero(df);
      for (size_t k = 0; k < rt::kQuantBlock; k += N) {
        const VF a = hn::Abs(hn::LoadU(df, in + k));
        amax = hn::IfThenElse(hn::Lt(amax, a), a, amax);
      }
      const float scale = hn::GetLane(hn::MaxOfLanes(df, amax)) / 127.0f;
      const float inv = scale >= std::numeric_limits<float>::min() ? 1.0f / scale : 0.0f;
      row_d[b] = scale;
      const VF vinv = hn::Set(df, inv), half = hn::Set(df, 0.5f), one = hn::Set(df, 1.0f),
               limit = hn::Set(df, 127.0f);
      for (size_t k = 0; k < rt::kQuantBlock; k += N) {
        const VF v = hn::Mul(hn::LoadU(df, in + k), vinv);
        const VF whole = hn::Trunc(v);
        const VF away =
            hn::IfThenElseZero(hn::Ge(hn::Abs(hn::Sub(v, whole)), half), hn::CopySign(one, v));
        VF r = hn::Add(whole, away);
        r = hn::IfThenElseZero(hn::Eq(r, r), r);  // NaN (inf * 0) -> 0
        r = hn::Min(hn::Max(r, hn::Neg(limit)), limit);
        hn::StoreU(hn::DemoteTo(d8, hn::ConvertTo(d32, r)), d8, row_q + begin + k);
      }
    }
    std::fill(row_q + blocks * rt::kQuantBlock, row_q + stride * rt::kQuantBlock, int8_t{0});
    std::fill(row_d + blocks, row_d + stride, 0.0f);
  }
}

void MatMulRowsQ8_0(float* out, const rt::BlockQ8_0* w, const QuantizedActivations& x, size_t rows,
                    size_t row_begin, size_t row_end) {
  Rows(out + row_begin, rows, w, x, row_begin, row_end);
}
void MatMulRowsQ4_0(float* out, const rt::BlockQ4_0* w, const QuantizedActivations& x, size_t rows,
                    size_t row_begin, size_t row_end) {
  Rows(out + row_begin, rows, w, x, row_begin, row_end);
}
void MatMulSwiGluRowsQ8_0(float* out, const rt::BlockQ8_0* w_gate, const rt::BlockQ8_0* w_up,
                          const QuantizedActivations& x, size_t rows, float beta, size_t row_begin,
                          size_t row_end) {
  SwiGluRows(out, w_gate, w_up, x, rows, beta, row_begin, row_end);
}
void MatMulSwiGluRowsQ4_0(float* out, const rt::BlockQ4_0* w_gate, const rt::BlockQ4_0* w_up,
                          const QuantizedActivations& x, size_t rows, float beta, size_t row_begin,
                          size_t row_end) {
  SwiGluRows(out, w_gate, w_up, x, rows, beta, row_begin, row_end);
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lmc::kernels {

HWY_EXPORT(QuantizeActivationRows);
HWY_EXPORT(MatMulRowsQ8_0);
HWY_EXPORT(MatMulRowsQ4_0);
HWY_EXPORT(MatMulSwiGluRowsQ8_0);
HWY_EXPORT(MatMulSwiGluRowsQ4_0);

void QuantizedActivations::Quantize(const float* x, size_t n_tokens, size_t n_cols) {
  tokens = n_tokens;
  cols = n_cols;
  stride = (rt::QuantBlocks(cols) + 1) / 2 * 2;
  q.resize(tokens * stride * rt::kQuantBlock);
  d.resize(tokens * stride);
  HWY_DYNAMIC_DISPATCH(QuantizeActivationRows)(x, tokens, cols, stride, q.data(), d.data());
}

void MatMulRows(float* out, const rt::BlockQ8_0* w, const QuantizedActivations& x, size_t rows,
                size_t row_begin, size_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatMulRowsQ8_0)(out, w, x, rows, row_begin, row_end);
}
void MatMulRows(float* out, const rt::BlockQ4_0* w, const QuantizedActivations& x, size_t rows,
                size_t row_begin, size_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatMulRowsQ4_0)(out, w, x, rows, row_begin, row_end);
}
void MatMulSwiGluRows(float* out, const rt::BlockQ8_0* w_gate, const rt::BlockQ8_0* w_up,
                      const QuantizedActivations& x, size_t rows, float beta, size_t row_begin,
                      size_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatMulSwiGluRowsQ8_0)(out, w_gate, w_up, x, rows, beta, row_begin, row_end);
}
void MatMulSwiGluRows(float* out, const rt::BlockQ4_0* w_gate, const rt::BlockQ4_0* w_up,
                      const QuantizedActivations& x, size_t rows, float beta, size_t row_begin,
                      size_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatMulSwiGluRowsQ4_0)(out, w_gate, w_up, x, rows, beta, row_begin, row_end);
}

}  // namespace lmc::kernels
#endif  // HWY_ONCE
