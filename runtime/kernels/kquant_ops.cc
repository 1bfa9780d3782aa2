// The block formats' products (kquant_ops.h), compiled once per Highway target and with
// -ffp-contract=off: every output is kquant_scalar.h's, bit for bit. Per output the integer
// sums are exact (any order gives the same int32), and the f32 steps are the reference's, in
// its order; the SIMD code is in how the integer sums are formed.
#include "runtime/kernels/kquant_ops.h"

#include <stddef.h>
#include <stdint.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/kernels/kquant_ops.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
// Must come after foreach_target.h.
#include <hwy/highway.h>

#include "runtime/kernels/kquant_scalar.h"

HWY_BEFORE_NAMESPACE();
namespace lmc::kernels {
namespace HWY_NAMESPACE {

namespace ref = lmc::kernels::scalar;

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
// AVX2 (also on the AVX-512 targets): a block's weights become unsigned bytes u (the stored
// bits, before any offset), 32 at a time; vpmaddubsw multiplies them by the signed activation
// bytes and adds pairs to int16 (no pair reaches 2^15: u <= 63 and |x| <= 127, or |w| <= 127
// with the sign moved onto x for IQ4_NL), vpmaddwd multiplies those by the sub-block scale and
// adds pairs to int32. The offset (Q3_K: 4, Q6_K: 32, Q5_0: 16) comes off as offset * sum(x),
// from Q8_K's bsums or the block's own sum. Integer sums are exact in any order; the f32 steps
// are the reference's, in its order.
namespace avx2 {

HWY_INLINE int32_t SumLanes(__m256i v) {
  const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  const __m128i t = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  return _mm_cvtsi128_si32(_mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1)));
}
HWY_INLINE __m256i Load(const void* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
// acc + the 32 products u * x as int32 pair sums, times scale `lo` (values 0-15) and `hi`
// (values 16-31).
HWY_INLINE __m256i Accumulate(__m256i acc, __m256i u, __m256i x, int16_t lo, int16_t hi) {
  const __m256i pairs = _mm256_maddubs_epi16(u, x);
  const __m256i scales = _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, scales));
}

// The 32 unsigned weights of chunk c (values 32c .. 32c + 31) of a super-block.
HWY_INLINE __m256i Chunk(const rt::BlockQ2_K& b, size_t c) {
  const __m256i bytes = Load(b.qs + 32 * (c / 4));
  return _mm256_and_si256(_mm256_srli_epi16(bytes, static_cast<int>(2 * (c % 4))),
                          _mm256_set1_epi8(3));
}
HWY_INLINE __m256i Chunk(const rt::BlockQ3_K& b, size_t c) {
  const __m256i low =
      _mm256_and_si256(_mm256_srli_epi16(Load(b.qs + 32 * (c / 4)), static_cast<int>(2 * (c % 4))),
                       _mm256_set1_epi8(3));
  const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << c));  // hmask bit c / 32... c
  const __m256i high = _mm256_cmpeq_epi8(_mm256_and_si256(Load(b.hmask), bit), bit);
  return _mm256_or_si256(low, _mm256_and_si256(high, _mm256_set1_epi8(4)));
}
HWY_INLINE __m256i Chunk(const rt::BlockQ4_K& b, size_t c) {
  const __m256i bytes = Load(b.qs + 32 * (c / 2));
  const __m256i nibbles = c % 2 == 0 ? bytes : _mm256_srli_epi16(bytes, 4);
  return _mm256_and_si256(nibbles, _mm256_set1_epi8(0x0F));
}
HWY_INLINE __m256i Chunk(const rt::BlockQ5_K& b, size_t c) {
  const __m256i bytes = Load(b.qs + 32 * (c / 2));
  const __m256i nibbles =
      _mm256_and_si256(c % 2 == 0 ? bytes : _mm256_srli_epi16(bytes, 4), _mm256_set1_epi8(0x0F));
  const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << c));
  const __m256i high = _mm256_cmpeq_epi8(_mm256_and_si256(Load(b.qh), bit), bit);
  return _mm256_or_si256(nibbles, _mm256_and_si256(high, _mm256_set1_epi8(16)));
}
HWY_INLINE __m256i Chunk(const rt::BlockQ6_K& b, size_t c) {
  const size_t half = c / 4, s = c % 4;
  const __m256i low_bytes = Load(b.ql + 64 * half + 32 * (s % 2));
  const __m256i low =
      _mm256_and_si256(s < 2 ? low_bytes : _mm256_srli_epi16(low_bytes, 4), _mm256_set1_epi8(0x0F));
  // Bits 2s, 2s + 1 of qh to bits 4, 5.
  const __m256i qh = Load(b.qh + 32 * half);
  const __m256i shifted = s == 0   ? _mm256_slli_epi16(qh, 4)
                          : s == 1 ? _mm256_slli_epi16(qh, 2)
                          : s == 2 ? qh
                                   : _mm256_srli_epi16(qh, 2);
  return _mm256_or_si256(low, _mm256_and_si256(shifted, _mm256_set1_epi8(0x30)));
}
template <typename Block>
constexpr int32_t kOffset = std::is_same_v<Block, rt::BlockQ3_K>   ? 4
                            : std::is_same_v<Block, rt::BlockQ6_K> ? 32
                                                                   : 0;

// ref::SuperBlockDot's two sums. The sums over sub-blocks of the activations (bsums, 16 int16)
// meet the scales and mins in vpmaddwd too: Q3_K / Q6_K's offset correction sum_i sc_i * bsums_i,
// and the mins' sum_s m_s * sum(x of s) (Q4_K / Q5_K: each m twice, for its two bsums).
template <typename Block>
HWY_INLINE ref::SuperBlockSums SuperBlockDot(const Block& w, const rt::BlockQ8_K& x) {
  alignas(32) int16_t sc[16], m[16];
  rt::UnpackScales(w, sc, m);
  constexpr bool kSub32 =
      std::is_same_v<Block, rt::BlockQ4_K> || std::is_same_v<Block, rt::BlockQ5_K>;
  __m256i acc = _mm256_setzero_si256();
  for (size_t c = 0; c < 8; ++c) {
    const __m256i pairs = _mm256_maddubs_epi16(Chunk(w, c), Load(x.qs + 32 * c));
    const __m256i scales =
        kSub32 ? _mm256_set1_epi16(sc[c])
               : _mm256_set_m128i(_mm_set1_epi16(sc[2 * c + 1]), _mm_set1_epi16(sc[2 * c]));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, scales));
  }
  const __m256i bsums = Load(x.bsums);
  if constexpr (kOffset<Block> != 0) {
    const __m256i correction = _mm256_madd_epi16(bsums, Load(sc));
    acc = _mm256_sub_epi32(acc, _mm256_mullo_epi32(correction, _mm256_set1_epi32(kOffset<Block>)));
  }
  ref::SuperBlockSums sums;
  sums.q = SumLanes(acc);
  if constexpr (!std::is_same_v<Block, rt::BlockQ3_K> && !std::is_same_v<Block, rt::BlockQ6_K>) {
    __m256i mins;
    if constexpr (kSub32) {  // m0 m0 m1 m1 ... m7 m7
      const __m128i m8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(m));
      mins = _mm256_set_m128i(_mm_unpackhi_epi16(m8, m8), _mm_unpacklo_epi16(m8, m8));
    } else {
      mins = Load(m);
    }
    sums.m = SumLanes(_mm256_madd_epi16(bsums, mins));
  }
  return sums;
}

// A 32-value block's integer dot product with x (vpmaddubsw of its unsigned codes, then the
// offset), and sum(x) where the reference needs it.
HWY_INLINE __m256i Codes(const uint8_t* qs) {  // nibbles: bytes j and j + 16 from byte j
  const __m256i bytes =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
  return _mm256_and_si256(_mm256_blend_epi32(bytes, _mm256_srli_epi16(bytes, 4), 0xF0),
                          _mm256_set1_epi8(0x0F));
}
HWY_INLINE __m256i FifthBits(const uint8_t* qh) {  // bit j of qh as 16 in byte j
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof(bits));
  // Byte j gets byte j / 8 of the bits, then keeps bit j % 8.
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int32_t>(bits)),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
  const __m256i select = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
  return _mm256_and_si256(set, _mm256_set1_epi8(16));
}
HWY_INLINE int32_t UnsignedDot(__m256i u, __m256i x) {
  return SumLanes(_mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1)));
}
HWY_INLINE int32_t XSum(__m256i x) { return UnsignedDot(_mm256_set1_epi8(1), x); }

template <typename Block>
HWY_INLINE float SmallRowDot(const Block* w, const int8_t* xq, const float* xd, size_t blocks) {
  float sum = 0.0f;
  for (size_t b = 0; b < blocks; ++b) {
    const __m256i x = Load(xq + b * rt::kQuantBlock);
    int32_t s;
    if constexpr (std::is_same_v<Block, rt::BlockIQ4_NL>) {
      const __m256i table = _mm256_broadcastsi128_si256(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(rt::kIq4NlValues)));
      const __m256i values = _mm256_shuffle_epi8(table, Codes(w[b].qs));
      s = UnsignedDot(_mm256_sign_epi8(values, values), _mm256_sign_epi8(x, values));
    } else {
      __m256i u = Codes(w[b].qs);
      if constexpr (!std::is_same_v<Block, rt::BlockQ4_1>) {
        u = _mm256_or_si256(u, FifthBits(w[b].qh));
      }
      s = UnsignedDot(u, x);
      if constexpr (std::is_same_v<Block, rt::BlockQ5_0>) s -= 16 * XSum(x);
    }
    sum += static_cast<float>(s) * (rt::QuantScale(w[b].d) * xd[b]);
    if constexpr (ref::kHasBlockMin<Block>) {
      sum += static_cast<float>(XSum(x)) * (rt::QuantScale(w[b].m) * xd[b]);
    }
  }
  return sum;
}

}  // namespace avx2
#endif  // AVX2 and better

// One weight row (`blocks` blocks) times one token's activations: kquant_scalar.h's KQuantDot
// and SmallBlockRowDot, with the integer sums formed by SIMD where the target has it.
template <typename Block>
HWY_INLINE float RowDot(const Block* w, const rt::BlockQ8_K* x, size_t blocks) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  float sum = 0.0f;
  for (size_t b = 0; b < blocks; ++b) {
    const ref::SuperBlockSums s = avx2::SuperBlockDot(w[b], x[b]);
    sum += static_cast<float>(s.q) * (rt::QuantScale(w[b].d) * x[b].d);
    if constexpr (!std::is_same_v<Block, rt::BlockQ3_K> && !std::is_same_v<Block, rt::BlockQ6_K>) {
      sum -= static_cast<float>(s.m) * (rt::QuantScale(w[b].dmin) * x[b].d);
    }
  }
  return sum;
#else
  return ref::KQuantDot(w, x, blocks);
#endif
}
template <typename Block>
HWY_INLINE float RowDot(const Block* w, const int8_t* xq, const float* xd, size_t blocks) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  return avx2::SmallRowDot(w, xq, xd, blocks);
#else
  return ref::SmallBlockRowDot(w, xq, xd, blocks);
#endif
}

// out[t * out_stride + r - row_begin] for every token and r in [row_begin, row_end).
template <typename Block>
HWY_INLINE void Rows(float* HWY_RESTRICT out, size_t out_stride, const Block* HWY_RESTRICT w,
                     const Q8KActivations& x, size_t row_begin, size_t row_end) {
  const size_t blocks = x.cols / rt::kSuperBlock;
  // A row meets every token while its blocks are in L1: the weights are read once.
  for (size_t r = row_begin; r < row_end; ++r) {
    for (size_t t = 0; t < x.tokens; ++t) {
      out[t * out_stride + r - row_begin] =
          RowDot(w + r * blocks, x.blocks.data() + t * blocks, blocks);
    }
  }
}
template <typename Block>
HWY_INLINE void Rows(float* HWY_RESTRICT out, size_t out_stride, const Block* HWY_RESTRICT w,
                     const QuantizedActivations& x, size_t row_begin, size_t row_end) {
  const size_t blocks = x.cols / rt::kQuantBlock;
  for (size_t r = row_begin; r < row_end; ++r) {
    for (size_t t = 0; t < x.tokens; ++t) {
      const int8_t* xq = x.q.data() + t * x.stride * rt::kQuantBlock;
      const float* xd = x.d.data() + t * x.stride;
      out[t * out_stride + r - row_begin] = RowDot(w + r * blocks, xq, xd, blocks);
    }
  }
}

template <typename Block, typename Activations>
HWY_INLINE void SwiGluRows(float* HWY_RESTRICT out, const Block* HWY_RESTRICT w_gate,
                           const Block* HWY_RESTRICT w_up, const Activations& x, size_t rows,
                           float beta, size_t row_begin, size_t row_end) {
  const size_t n = row_end - row_begin;
  thread_local std::vector<float> gate, up;  // per thread: the pool's threads call this
  gate.resize(x.tokens * n);
  up.resize(x.tokens * n);
  Rows(gate.data(), n, w_gate, x, row_begin, row_end);
  Rows(up.data(), n, w_up, x, row_begin, row_end);
  for (size_t t = 0; t < x.tokens; ++t) {
    for (size_t i = 0; i < n; ++i) {
      out[t * rows + row_begin + i] = ref::Swish(gate[t * n + i], beta) * up[t * n + i];
    }
  }
}

#define LMC_KQUANT_TARGET_FUNCTIONS(Block, Activations)                                         \
  void MatMulRows##Block(float* out, const rt::Block* w, const Activations& x, size_t rows,     \
                         size_t row_begin, size_t row_end) {                                    \
    Rows(out + row_begin, rows, w, x, row_begin, row_end);                                      \
  }                                                                                             \
  void MatMulSwiGluRows##Block(float* out, const rt::Block* w_gate, const rt::Block* w_up,      \
                               const Activations& x, size_t rows, float beta, size_t row_begin, \
                               size_t row_end) {                                                \
    SwiGluRows(out, w_gate, w_up, x, rows, beta, row_begin, row_end);                           \
  }
LMC_KQUANT_TARGET_FUNCTIONS(BlockQ2_K, Q8KActivations)
LMC_KQUANT_TARGET_FUNCTIONS(BlockQ3_K, Q8KActivations)
LMC_KQUANT_TARGET_FUNCTIONS(BlockQ4_K, Q8KActivations)
LMC_KQUANT_TARGET_FUNCTIONS(BlockQ5_K, Q8KActivations)
LMC_KQUANT_TARGET_FUNCTIONS(BlockQ6_K, Q8KActivations)
LMC_KQUANT_TARGET_FUNCTIONS(BlockQ4_1, QuantizedActivations)
LMC_KQUANT_TARGET_FUNCTIONS(BlockQ5_0, QuantizedActivations)
LMC_KQUANT_TARGET_FUNCTIONS(BlockQ5_1, QuantizedActivations)
LMC_KQUANT_TARGET_FUNCTIONS(BlockIQ4_NL, QuantizedActivations)
#undef LMC_KQUANT_TARGET_FUNCTIONS

}  // namespace HWY_NAMESPACE
}  // namespace lmc::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lmc::kernels {

void Q8KActivations::Quantize(const float* x, size_t n_tokens, size_t n_cols) {
  tokens = n_tokens;
  cols = n_cols;
  const size_t per_row = cols / rt::kSuperBlock;
  blocks.resize(tokens * per_row);
  for (size_t t = 0; t < tokens; ++t) {
    rt::QuantizeRowQ8_K(x + t * cols, cols, blocks.data() + t * per_row);
  }
}

#define LMC_KQUANT_DISPATCH(Block, Activations)                                          \
  HWY_EXPORT(MatMulRows##Block);                                                         \
  HWY_EXPORT(MatMulSwiGluRows##Block);                                                   \
  void MatMulRows(float* out, const rt::Block* w, const Activations& x, size_t rows,     \
                  size_t row_begin, size_t row_end) {                                    \
    HWY_DYNAMIC_DISPATCH(MatMulRows##Block)(out, w, x, rows, row_begin, row_end);        \
  }                                                                                      \
  void MatMulSwiGluRows(float* out, const rt::Block* w_gate, const rt::Block* w_up,      \
                        const Activations& x, size_t rows, float beta, size_t row_begin, \
                        size_t row_end) {                                                \
    HWY_DYNAMIC_DISPATCH(MatMulSwiGluRows##Block)                                        \
    (out, w_gate, w_up, x, rows, beta, row_begin, row_end);                              \
  }
LMC_KQUANT_DISPATCH(BlockQ2_K, Q8KActivations)
LMC_KQUANT_DISPATCH(BlockQ3_K, Q8KActivations)
LMC_KQUANT_DISPATCH(BlockQ4_K, Q8KActivations)
LMC_KQUANT_DISPATCH(BlockQ5_K, Q8KActivations)
LMC_KQUANT_DISPATCH(BlockQ6_K, Q8KActivations)
LMC_KQUANT_DISPATCH(BlockQ4_1, QuantizedActivations)
LMC_KQUANT_DISPATCH(BlockQ5_0, QuantizedActivations)
LMC_KQUANT_DISPATCH(BlockQ5_1, QuantizedActivations)
LMC_KQUANT_DISPATCH(BlockIQ4_NL, QuantizedActivations)
#undef LMC_KQUANT_DISPATCH

}  // namespace lmc::kernels
#endif  // HWY_ONCE
