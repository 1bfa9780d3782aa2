// The block formats' products (kquant_ops.h), compiled once per Highway target and with
// -ffp-contract=off: every output is kquant_scalar.h's, bit for bit. Per output the integer
// sums are exact (any order gives the same int32), and the f32 steps are the reference's, in
// its order; the SIMD code is in how the integer sums are formed.
#include "runtime/kernels/kquant_ops.h"

#include <stddef.h>
#include <stdint.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
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
// The k-quants (MatMulRows below): per super-block and row the scales are unpacked once into
// vpmaddwd operands (Scales), and several outputs are formed together so that their integer
// sums reach f32 in one vector: decode reads four rows per load of the activations (Tile<4, 1>,
// prefetching the next four rows); a few tokens meet each row four at a time (Tile<1, 4>); from
// kPackTokens tokens on, eight rows are repacked once (Pack) so that one vpmaddubsw serves eight
// rows and lane r of every sum is row r's (PackedTile), as quant_ops.cc does for Q4_0.
namespace avx2 {

HWY_INLINE int32_t SumLanes(__m256i v) {
  const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  const __m128i t = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  return _mm_cvtsi128_si32(_mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1)));
}
HWY_INLINE __m256i Load(const void* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
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
// The codes' offset as a shift (Q3_K: 4, Q6_K: 32).
template <typename Block>
constexpr int kOffsetShift = std::is_same_v<Block, rt::BlockQ3_K> ? 2 : 5;

// A super-block's sub-block scales as vpmaddwd operands, unpacked once per super-block and row:
// Scale(c) is the int16 scale of each value pair of chunk c (lanes 0-7: values 32c .. 32c + 15,
// lanes 8-15: the next 16), and Mins() / Offsets() the 16 int16 that meet Q8_K's 16 bsums in a
// vpmaddwd: the mins (Q4_K / Q5_K: each sub-block's twice), or the scales of Q3_K / Q6_K, whose
// codes carry an offset (kOffset) that comes off as kOffset * sum_i sc_i * bsums_i.
template <typename Block>
constexpr bool kSub32 =
    std::is_same_v<Block, rt::BlockQ4_K> || std::is_same_v<Block, rt::BlockQ5_K>;
template <typename Block>
constexpr bool kWithMins =
    !std::is_same_v<Block, rt::BlockQ3_K> && !std::is_same_v<Block, rt::BlockQ6_K>;

// Q4_K / Q5_K's twelve scale bytes (kquant.h's UnpackScalesK4) as 16 bytes: sc 0-7, m 0-7. As
// three little-endian words a, b, c: sc 0-3 = a & 63 per byte, m 0-3 = b & 63, sc 4-7 = c's low
// nibbles | a's top two bits << 4, m 4-7 = c's high nibbles | b's top two bits << 4.
HWY_INLINE __m128i ScaleBytesK4(const uint8_t* scales) {
  uint32_t a, b, c;
  std::memcpy(&a, scales, 4);
  std::memcpy(&b, scales + 4, 4);
  std::memcpy(&c, scales + 8, 4);
  const uint32_t low6 = 0x3F3F3F3Fu, nibbles = 0x0F0F0F0Fu, top2 = 0x30303030u;
  return _mm_setr_epi32(static_cast<int32_t>(a & low6),
                        static_cast<int32_t>((c & nibbles) | ((a >> 2) & top2)),
                        static_cast<int32_t>(b & low6),
                        static_cast<int32_t>(((c >> 4) & nibbles) | ((b >> 2) & top2)));
}

template <typename Block>
struct Scales {
  __m256i lo, hi;  // 16-value sub-blocks: scales 0-7 / 8-15 in both halves; else sc 0-7 in both
  __m256i sums;    // the 16 int16 that meet bsums (mins, or the offset's scales)

  HWY_INLINE explicit Scales(const Block& w) {
    if constexpr (kSub32<Block>) {
      const __m128i bytes = ScaleBytesK4(w.scales);
      const __m256i words = _mm256_cvtepu8_epi16(bytes);  // sc 0-7, m 0-7
      lo = _mm256_permute2x128_si256(words, words, 0x00);
      hi = lo;
      // m0 m0 m1 m1 ... m7 m7 from bytes 8-15.
      const __m128i pairs = _mm_shuffle_epi8(
          bytes, _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15));
      sums = _mm256_cvtepu8_epi16(pairs);
    } else {
      __m256i sc;
      if constexpr (std::is_same_v<Block, rt::BlockQ6_K>) {
        sc = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales)));
        sums = sc;
      } else if constexpr (std::is_same_v<Block, rt::BlockQ2_K>) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales));
        const __m128i nibble = _mm_set1_epi8(0x0F);
        sc = _mm256_cvtepu8_epi16(_mm_and_si128(bytes, nibble));
        sums = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(bytes, 4), nibble));
      } else {  // Q3_K
        alignas(32) int16_t words[16], unused[16];
        rt::UnpackScales(w, words, unused);
        sc = _mm256_load_si256(reinterpret_cast<const __m256i*>(words));
        sums = sc;
      }
      lo = _mm256_permute2x128_si256(sc, sc, 0x00);
      hi = _mm256_permute2x128_si256(sc, sc, 0x11);
    }
  }
  // Word pairs (2k, 2k + 1) of a half to every int16 lane of the two halves: the byte shuffle.
  static HWY_INLINE __m256i Select(__m256i words, int first, int second) {
    const char a = static_cast<char>(2 * first), b = static_cast<char>(2 * second);
    return _mm256_shuffle_epi8(
        words, _mm256_setr_epi8(a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a,
                                a + 1, a, a + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1,
                                b, b + 1, b, b + 1, b, b + 1));
  }
  HWY_INLINE __m256i Scale(size_t c) const {
    if constexpr (kSub32<Block>) {
      return Select(lo, static_cast<int>(c), static_cast<int>(c));
    } else {
      const int k = static_cast<int>(2 * (c % 4));
      return Select(c < 4 ? lo : hi, k, k + 1);
    }
  }
};

// The binary16 scales d (and dmin) of rows[0..3]'s super-block b, widened (F16C: exact, as
// rt::QuantScale), in lanes 0-3 (d) and 4-7 (dmin; zeros without mins).
template <typename Block>
HWY_INLINE __m256 RowScales(const Block* const* rows, size_t b) {
  uint16_t d[4], m[4] = {0, 0, 0, 0};
  for (size_t r = 0; r < 4; ++r) {
    d[r] = rows[r][b].d;
    if constexpr (kWithMins<Block>) m[r] = rows[r][b].dmin;
  }
  return _mm256_cvtph_ps(_mm_setr_epi16(static_cast<int16_t>(d[0]), static_cast<int16_t>(d[1]),
                                        static_cast<int16_t>(d[2]), static_cast<int16_t>(d[3]),
                                        static_cast<int16_t>(m[0]), static_cast<int16_t>(m[1]),
                                        static_cast<int16_t>(m[2]), static_cast<int16_t>(m[3])));
}

// Four outputs' integer sums (q[o], m[o]: 8 int32 lanes each) to one vector: lanes 0-3 the
// four qsums, lanes 4-7 the four msums. Integer adds: exact in any order.
HWY_INLINE __m256i SumFour(const __m256i* q, const __m256i* m) {
  const __m256i qq =
      _mm256_hadd_epi32(_mm256_hadd_epi32(q[0], q[1]), _mm256_hadd_epi32(q[2], q[3]));
  const __m256i mm =
      _mm256_hadd_epi32(_mm256_hadd_epi32(m[0], m[1]), _mm256_hadd_epi32(m[2], m[3]));
  return _mm256_add_epi32(_mm256_permute2x128_si256(qq, mm, 0x20),
                          _mm256_permute2x128_si256(qq, mm, 0x31));
}

// Four outputs of kRows rows (rows[r]) times kTokens tokens (x[t]: a token's Q8_K row),
// kRows * kTokens == 4, output o = r * kTokens + t: every super-block's weights are unpacked
// once and meet the tile's tokens. Per super-block the four integer sums, then the reference's
// f32 steps for the four at once: sum += float(qsum) * (d_w * d_x); sum -= float(msum) *
// (dmin_w * d_x). Returns the four sums.
template <typename Block, size_t kRows, size_t kTokens>
HWY_INLINE __m128 Tile(const Block* const* rows, const rt::BlockQ8_K* const* x, size_t blocks) {
  static_assert(kRows * kTokens == 4);
  constexpr size_t kOut = 4;
  __m128 sum = _mm_setzero_ps();
  for (size_t b = 0; b < blocks; ++b) {
    __m256i q[kOut], m[kOut];
    for (size_t r = 0; r < kRows; ++r) {
      const Block& w = rows[r][b];
      if constexpr (kRows == 4) {
        // Short streams the hardware prefetcher barely learns: the next tile's rows (four rows
        // on), one super-block ahead of their first read.
        const char* ahead = reinterpret_cast<const char*>(rows[r] + 4 * blocks + b);
        for (size_t line = 0; line < sizeof(Block); line += 64) {
          _mm_prefetch(ahead + line, _MM_HINT_T0);
        }
      }
      const Scales<Block> scales(w);
      __m256i acc[kTokens];
      for (size_t t = 0; t < kTokens; ++t) acc[t] = _mm256_setzero_si256();
      HWY_UNROLL(8)  // c is a constant in every chunk's shifts and shuffles
      for (size_t c = 0; c < 8; ++c) {
        const __m256i u = Chunk(w, c), sc = scales.Scale(c);
        for (size_t t = 0; t < kTokens; ++t) {
          const __m256i pairs = _mm256_maddubs_epi16(u, Load(x[t][b].qs + 32 * c));
          acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(pairs, sc));
        }
      }
      for (size_t t = 0; t < kTokens; ++t) {
        const __m256i with_sums = _mm256_madd_epi16(Load(x[t][b].bsums), scales.sums);
        if constexpr (kWithMins<Block>) {
          q[r * kTokens + t] = acc[t];
          m[r * kTokens + t] = with_sums;
        } else {
          q[r * kTokens + t] =
              _mm256_sub_epi32(acc[t], _mm256_slli_epi32(with_sums, kOffsetShift<Block>));
          m[r * kTokens + t] = _mm256_setzero_si256();
        }
      }
    }
    const __m256 ints = _mm256_cvtepi32_ps(SumFour(q, m));
    // Per output: d_w and dmin_w (lanes o, 4 + o), and d_x.
    __m256 w_scales;
    __m128 x_scale;
    if constexpr (kRows == 4) {
      w_scales = RowScales(rows, b);
      x_scale = _mm_set1_ps(x[0][b].d);
    } else {
      const Block* same[4] = {rows[0], rows[0], rows[0], rows[0]};
      w_scales = RowScales(same, b);
      x_scale = _mm_setr_ps(x[0][b].d, x[1][b].d, x[2][b].d, x[3][b].d);
    }
    const __m256 terms =
        _mm256_mul_ps(ints, _mm256_mul_ps(w_scales, _mm256_set_m128(x_scale, x_scale)));
    sum = _mm_add_ps(sum, _mm256_castps256_ps128(terms));
    if constexpr (kWithMins<Block>) sum = _mm_sub_ps(sum, _mm256_extractf128_ps(terms, 1));
  }
  return sum;
}

// Many tokens: eight rows' super-blocks repacked once (Pack), then met by kPackedTokens tokens at
// a time. A packed super-block holds the codes as 4-byte words, word k of row r in lane r of
// words[k]: one vpmaddubsw with a token's 4 activations broadcast adds 2 products to both int16
// lanes of each of the eight rows. kMaddWords such words are added in int16 (no lane reaches
// 2^15: kMaddWords * 2 products of at most max_code * 127, below), then one vpmaddwd with the
// rows' scale of those values gives lane r of the int32 sum row r's; no adds across lanes.
constexpr size_t kTileRows = 8;
template <typename Block>
constexpr size_t kMaddWords = std::is_same_v<Block, rt::BlockQ4_K>   ? 8   // 16 * 15 * 127
                              : std::is_same_v<Block, rt::BlockQ6_K> ? 2   // 4 * 63 * 127
                                                                     : 4;  // 8 * 31 * 127
struct alignas(32) PackedSuperBlock {
  uint32_t words[rt::kSuperBlock / 4][kTileRows];
  int16_t scales[16][2 * kTileRows];  // 16-value group g: lanes 2r, 2r + 1 row r's scale
  int16_t sums[8][2 * kTileRows];     // j: lanes 2r, 2r + 1 row r's Scales::sums 2j, 2j + 1
  float d[kTileRows], dmin[kTileRows];
};

template <typename Block>
HWY_INLINE void Pack(const Block* const* rows, size_t b, PackedSuperBlock& out) {
  HWY_UNROLL(8)
  for (size_t c = 0; c < 8; ++c) {
    // Chunk c of the eight rows, transposed as 8 x 8 words: words 8c .. 8c + 7.
    __m256i v[kTileRows], t[kTileRows], u[kTileRows];
    for (size_t r = 0; r < kTileRows; ++r) v[r] = Chunk(rows[r][b], c);
    for (size_t r = 0; r < kTileRows; r += 2) {
      t[r] = _mm256_unpacklo_epi32(v[r], v[r + 1]);
      t[r + 1] = _mm256_unpackhi_epi32(v[r], v[r + 1]);
    }
    for (size_t h = 0; h < kTileRows; h += 4) {
      u[h + 0] = _mm256_unpacklo_epi64(t[h], t[h + 2]);
      u[h + 1] = _mm256_unpackhi_epi64(t[h], t[h + 2]);
      u[h + 2] = _mm256_unpacklo_epi64(t[h + 1], t[h + 3]);
      u[h + 3] = _mm256_unpackhi_epi64(t[h + 1], t[h + 3]);
    }
    for (size_t k = 0; k < 4; ++k) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(out.words[8 * c + k]),
                         _mm256_permute2x128_si256(u[k], u[4 + k], 0x20));
      _mm256_store_si256(reinterpret_cast<__m256i*>(out.words[8 * c + k + 4]),
                         _mm256_permute2x128_si256(u[k], u[4 + k], 0x31));
    }
  }
  for (size_t r = 0; r < kTileRows; ++r) {
    const Block& w = rows[r][b];
    const Scales<Block> scales(w);
    alignas(32) int16_t lo[16], hi[16], sums[16];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lo), scales.lo);
    _mm256_store_si256(reinterpret_cast<__m256i*>(hi), scales.hi);
    _mm256_store_si256(reinterpret_cast<__m256i*>(sums), scales.sums);
    for (size_t g = 0; g < 16; ++g) {
      // lo / hi hold the scales in both halves: sub-block g / 2 (8 of 32 values), or g.
      const int16_t sc = kSub32<Block> ? lo[g / 2] : (g < 8 ? lo[g] : hi[g - 8]);
      out.scales[g][2 * r] = out.scales[g][2 * r + 1] = sc;
    }
    for (size_t j = 0; j < 8; ++j) {
      out.sums[j][2 * r] = sums[2 * j];
      out.sums[j][2 * r + 1] = sums[2 * j + 1];
    }
    out.d[r] = rt::QuantScale(w.d);
    if constexpr (kWithMins<Block>) {
      out.dmin[r] = rt::QuantScale(w.dmin);
    } else {
      out.dmin[r] = 0.0f;
    }
  }
}

// kTokens tokens (x[t]: a token's Q8_K row) times a packed tile of `blocks` super-blocks: lane
// r of sums[t] is the reference's sum for row r, its f32 steps in its order, eight rows at once.
template <typename Block, size_t kTokens>
HWY_INLINE void PackedTile(const PackedSuperBlock* panel, const rt::BlockQ8_K* const* x,
                           size_t blocks, __m256* sums) {
  constexpr size_t kGroupWords = kMaddWords<Block>;
  for (size_t t = 0; t < kTokens; ++t) sums[t] = _mm256_setzero_ps();
  for (size_t b = 0; b < blocks; ++b) {
    const PackedSuperBlock& p = panel[b];
    __m256i q[kTokens];
    for (size_t t = 0; t < kTokens; ++t) q[t] = _mm256_setzero_si256();
    // Measured on Zen 3: Q4_K's long groups meet the tokens per loaded word; the short groups
    // of the others run one token at a time, the words reloaded (L1): fewer live registers.
    if constexpr (kGroupWords == 8) {
      for (size_t k0 = 0; k0 < rt::kSuperBlock / 4; k0 += kGroupWords) {
        __m256i words[kTokens];
        HWY_UNROLL(8)
        for (size_t k = k0; k < k0 + kGroupWords; ++k) {
          const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(p.words[k]));
          for (size_t t = 0; t < kTokens; ++t) {
            int32_t word;
            std::memcpy(&word, x[t][b].qs + 4 * k, sizeof(word));
            const __m256i pairs = _mm256_maddubs_epi16(w, _mm256_set1_epi32(word));
            words[t] = k == k0 ? pairs : _mm256_add_epi16(words[t], pairs);
            // Keeps the sums a chain per token: reassociated into trees (GCC does), every
            // product of the group is live at once and spills.
            asm("" : "+x"(words[t]));
          }
        }
        const __m256i scale = _mm256_load_si256(reinterpret_cast<const __m256i*>(p.scales[k0 / 4]));
        for (size_t t = 0; t < kTokens; ++t) {
          q[t] = _mm256_add_epi32(q[t], _mm256_madd_epi16(words[t], scale));
        }
      }
    } else {
      for (size_t k0 = 0; k0 < rt::kSuperBlock / 4; k0 += kGroupWords) {
        const __m256i scale = _mm256_load_si256(reinterpret_cast<const __m256i*>(p.scales[k0 / 4]));
        for (size_t t = 0; t < kTokens; ++t) {
          // The group's words reloaded per token (L1): fewer live registers than a word loaded
          // once for every token.
          __m256i words = _mm256_setzero_si256();
          HWY_UNROLL(8)
          for (size_t k = k0; k < k0 + kGroupWords; ++k) {
            const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(p.words[k]));
            int32_t word;
            std::memcpy(&word, x[t][b].qs + 4 * k, sizeof(word));
            const __m256i pairs = _mm256_maddubs_epi16(w, _mm256_set1_epi32(word));
            words = k == k0 ? pairs : _mm256_add_epi16(words, pairs);
          }
          q[t] = _mm256_add_epi32(q[t], _mm256_madd_epi16(words, scale));
        }
      }
    }
    const __m256 d = _mm256_load_ps(p.d);
    const __m256 dmin = _mm256_load_ps(p.dmin);
    for (size_t t = 0; t < kTokens; ++t) {
      __m256i with_sums = _mm256_setzero_si256();
      for (size_t j = 0; j < 8; ++j) {
        int32_t pair;
        std::memcpy(&pair, x[t][b].bsums + 2 * j, sizeof(pair));
        with_sums = _mm256_add_epi32(
            with_sums,
            _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(p.sums[j])),
                              _mm256_set1_epi32(pair)));
      }
      const __m256 x_scale = _mm256_set1_ps(x[t][b].d);
      if constexpr (kWithMins<Block>) {
        sums[t] = _mm256_add_ps(sums[t],
                                _mm256_mul_ps(_mm256_cvtepi32_ps(q[t]), _mm256_mul_ps(d, x_scale)));
        sums[t] = _mm256_sub_ps(
            sums[t], _mm256_mul_ps(_mm256_cvtepi32_ps(with_sums), _mm256_mul_ps(dmin, x_scale)));
      } else {
        const __m256i ints =
            _mm256_sub_epi32(q[t], _mm256_slli_epi32(with_sums, kOffsetShift<Block>));
        sums[t] = _mm256_add_ps(sums[t],
                                _mm256_mul_ps(_mm256_cvtepi32_ps(ints), _mm256_mul_ps(d, x_scale)));
      }
    }
  }
}

// Tokens [t, ...) of a packed tile, kTokens at a time as far as they go; t moves on. Token t's
// first `valid` rows are stored to out[t * out_stride ...].
template <typename Block, size_t kTokens>
HWY_INLINE void PackedTiles(const PackedSuperBlock* panel, const Q8KActivations& x, float* out,
                            size_t out_stride, size_t valid, size_t& t) {
  const size_t blocks = x.cols / rt::kSuperBlock;
  for (; t + kTokens <= x.tokens; t += kTokens) {
    const rt::BlockQ8_K* xt[kTokens];
    for (size_t i = 0; i < kTokens; ++i) xt[i] = x.blocks.data() + (t + i) * blocks;
    __m256 sums[kTokens];
    PackedTile<Block, kTokens>(panel, xt, blocks, sums);
    for (size_t i = 0; i < kTokens; ++i) {
      alignas(32) float lanes[kTileRows];
      _mm256_store_ps(lanes, sums[i]);
      std::copy_n(lanes, valid, out + (t + i) * out_stride);
    }
  }
}

// out[t * out_stride + (r - row_begin)] for rows [row_begin, row_end), every token. From
// kPackTokens tokens on, tiles of eight rows are packed once and meet the tokens four at a time.
// Fewer tokens read the rows as stored, in panels of kPanelRows (small enough to stay in L2
// while the tokens meet them): four tokens at a time one row at a time (each super-block
// unpacked once for four tokens), then the tokens left one at a time four rows at a time
// (decode: four rows per load of the activations).
constexpr size_t kPanelRows = 16;
constexpr size_t kPackTokens = 8;
template <typename Block>
HWY_INLINE void MatMulRows(float* HWY_RESTRICT out, size_t out_stride, const Block* w,
                           const Q8KActivations& x, size_t row_begin, size_t row_end) {
  const size_t blocks = x.cols / rt::kSuperBlock;
  if (x.tokens >= kPackTokens) {
    // Per thread: the pool's threads call this.
    thread_local std::unique_ptr<PackedSuperBlock[], decltype(&std::free)> panel(nullptr,
                                                                                 &std::free);
    thread_local size_t panel_blocks = 0;
    if (panel_blocks < blocks) {
      panel.reset(static_cast<PackedSuperBlock*>(
          std::aligned_alloc(alignof(PackedSuperBlock), blocks * sizeof(PackedSuperBlock))));
      if (!panel) throw std::bad_alloc();
      panel_blocks = blocks;
    }
    const Block* rows[kTileRows];
    for (size_t r = row_begin; r < row_end; r += kTileRows) {
      const size_t valid = std::min(kTileRows, row_end - r);
      for (size_t i = 0; i < kTileRows; ++i) rows[i] = w + (r + (i < valid ? i : 0)) * blocks;
      for (size_t b = 0; b < blocks; ++b) Pack(rows, b, panel[b]);
      float* tile_out = out + (r - row_begin);
      size_t t = 0;
      PackedTiles<Block, 4>(panel.get(), x, tile_out, out_stride, valid, t);
      PackedTiles<Block, 1>(panel.get(), x, tile_out, out_stride, valid, t);
    }
    return;
  }
  for (size_t p = row_begin; p < row_end; p += kPanelRows) {
    const size_t panel_end = std::min(row_end, p + kPanelRows);
    size_t t = 0;
    for (; t + 4 <= x.tokens; t += 4) {
      const rt::BlockQ8_K* xt[4];
      for (size_t i = 0; i < 4; ++i) xt[i] = x.blocks.data() + (t + i) * blocks;
      for (size_t r = p; r < panel_end; ++r) {
        const Block* row = w + r * blocks;
        alignas(16) float sums[4];
        _mm_store_ps(sums, Tile<Block, 1, 4>(&row, xt, blocks));
        for (size_t i = 0; i < 4; ++i) out[(t + i) * out_stride + r - row_begin] = sums[i];
      }
    }
    for (; t < x.tokens; ++t) {
      const rt::BlockQ8_K* xt = x.blocks.data() + t * blocks;
      for (size_t r = p; r < panel_end; r += 4) {
        const size_t valid = std::min<size_t>(4, panel_end - r);
        const Block* rows[4];
        for (size_t i = 0; i < 4; ++i) rows[i] = w + (r + (i < valid ? i : 0)) * blocks;
        alignas(16) float sums[4];
        _mm_store_ps(sums, Tile<Block, 4, 1>(rows, &xt, blocks));
        std::copy_n(sums, valid, out + t * out_stride + r - row_begin);
      }
    }
  }
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
// and SmallBlockRowDot, with the integer sums formed by SIMD where the target has it (the
// k-quants' AVX2 path is avx2::MatMulRows).
template <typename Block>
HWY_INLINE float RowDot(const Block* w, const rt::BlockQ8_K* x, size_t blocks) {
  return ref::KQuantDot(w, x, blocks);
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
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  avx2::MatMulRows(out, out_stride, w, x, row_begin, row_end);
  return;
#endif
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

// rt::QuantizeRowQ8_K for `tokens` rows of `cols`, bit for bit. AVX2: the largest magnitude by
// vmaxps (a NaN lane never wins, as in the reference's a > amax), the first value of that
// magnitude by a compare, then the reference's products iscale * x, clamped, rounded half to
// even by vcvtps2dq (ggml's nearest_int: the same for |v| <= 127), NaN inputs to 0, and the
// sums of 16 codes by vpmaddubsw / vphaddw (exact integers).
void QuantizeQ8KRows(const float* HWY_RESTRICT x, size_t tokens, size_t cols,
                     rt::BlockQ8_K* HWY_RESTRICT out) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  const size_t per_row = cols / rt::kSuperBlock;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (size_t i = 0; i < tokens * per_row; ++i) {
    const float* in = x + i * rt::kSuperBlock;
    rt::BlockQ8_K& y = out[i];
    __m256 amax8 = _mm256_setzero_ps();
    for (size_t j = 0; j < rt::kSuperBlock; j += 8) {
      amax8 = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(in + j)), amax8);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax8), _mm256_extractf128_ps(amax8, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    if (amax == 0.0f || !std::isfinite(amax)) {
      y.d = 0.0f;
      std::fill_n(y.qs, rt::kSuperBlock, int8_t{0});
      std::fill_n(y.bsums, rt::kSuperBlock / 16, int16_t{0});
      continue;
    }
    float max = 0.0f;
    const __m256 target = _mm256_set1_ps(amax);
    for (size_t j = 0; j < rt::kSuperBlock; j += 8) {
      const __m256 v = _mm256_loadu_ps(in + j);
      const int hits =
          _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, v), target, _CMP_EQ_OQ));
      if (hits != 0) {
        max = in[j + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(hits)))];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m256 scale = _mm256_set1_ps(iscale), lo = _mm256_set1_ps(-127.0f),
                 hi = _mm256_set1_ps(127.0f);
    for (size_t j = 0; j < rt::kSuperBlock; j += 32) {
      __m256i q32[4];
      for (size_t k = 0; k < 4; ++k) {
        const __m256 scaled = _mm256_mul_ps(scale, _mm256_loadu_ps(in + j + 8 * k));
        const __m256 clamped = _mm256_min_ps(_mm256_max_ps(scaled, lo), hi);
        const __m256 finite = _mm256_cmp_ps(scaled, scaled, _CMP_ORD_Q);
        q32[k] = _mm256_cvtps_epi32(_mm256_and_ps(clamped, finite));
      }
      // int32 -> int8 in order: packs interleave 128-bit halves, the permute undoes it.
      const __m256i q16a = _mm256_packs_epi32(q32[0], q32[1]);
      const __m256i q16b = _mm256_packs_epi32(q32[2], q32[3]);
      const __m256i q8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q16a, q16b),
                                                     _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y.qs + j), q8);
    }
    const __m256i ones = _mm256_set1_epi8(1);
    __m256i pairs[8];
    for (size_t k = 0; k < 8; ++k) {
      pairs[k] = _mm256_maddubs_epi16(ones, avx2::Load(y.qs + 32 * k));  // 16 pair sums
    }
    // Three rounds of adjacent adds leave the sums of 16 codes of the even groups in the low
    // half (groups 0, 2, .., 14), of the odd ones in the high half; interleaved in order.
    __m256i s4[4], s8[2];
    for (size_t k = 0; k < 4; ++k) s4[k] = _mm256_hadd_epi16(pairs[2 * k], pairs[2 * k + 1]);
    for (size_t k = 0; k < 2; ++k) s8[k] = _mm256_hadd_epi16(s4[2 * k], s4[2 * k + 1]);
    const __m256i s16 = _mm256_hadd_epi16(s8[0], s8[1]);
    const __m128i even = _mm256_castsi256_si128(s16), odd = _mm256_extracti128_si256(s16, 1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y.bsums), _mm_unpacklo_epi16(even, odd));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y.bsums + 8), _mm_unpackhi_epi16(even, odd));
    y.d = 1.0f / iscale;
  }
#else
  const size_t per_row = cols / rt::kSuperBlock;
  for (size_t t = 0; t < tokens; ++t) rt::QuantizeRowQ8_K(x + t * cols, cols, out + t * per_row);
#endif
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

HWY_EXPORT(QuantizeQ8KRows);

void Q8KActivations::Quantize(const float* x, size_t n_tokens, size_t n_cols) {
  tokens = n_tokens;
  cols = n_cols;
  blocks.resize(tokens * (cols / rt::kSuperBlock));
  HWY_DYNAMIC_DISPATCH(QuantizeQ8KRows)(x, tokens, cols, blocks.data());
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
