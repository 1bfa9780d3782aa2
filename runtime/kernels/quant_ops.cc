// Q8_0 / Q4_0 weights times int8-quantized activations (quant_ops.h), in a translation unit of
// their own, compiled with -ffp-contract=off. Two implementations of the same products:
//   - AVX-512 VNNI (vpdpbusd), compiled once with a target attribute and taken by the AVX3
//     targets when the CPU has VNNI. Each output is, bit for bit, scalar::QuantizedDot.
//     One token at a time reads the weights as stored (RowTile); more tokens repack 16 rows
//     so that one instruction feeds 16 outputs (Pack, PanelTile).
//   - AVX2 (vpmaddubsw, vpmaddwd) on the AVX2 and AVX-512 targets of CPUs without VNNI (Zen 3,
//     Haswell to Skylake), in the target's own code below: each output also, bit for bit,
//     scalar::QuantizedDot; eight rows at a time, every token. A model keeps Q4_0 matrices
//     for these kernels as panels of eight rows repacked at load (rt::PanelQ4_0), which
//     they read for any token count (Q4PanelTile).
//   - portable Highway code for every other target (SSE4 and below): the int8 widen
//     to f32 (products and 32-term block sums of int8 are integers below 2^24, so exact). It
//     sums, per output, one vector accumulator lane by lane over the blocks, then across its
//     lanes.
// Either way every output is computed alone, in the same order whatever the tile, the row
// range or the token count.
#include "runtime/kernels/quant_ops.h"

#include <stddef.h>
#include <stdint.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#ifndef LMC_KERNELS_QUANT_OPS_VNNI_
#define LMC_KERNELS_QUANT_OPS_VNNI_
// Not in builds of the baseline target only (the fuzzers'), which never call it.
#if (defined(__x86_64__) || defined(__i386__)) && !defined(HWY_COMPILE_ONLY_STATIC)
#define LMC_VNNI_KERNELS 1
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
// The 64 signed weights of Q8_0 blocks b and b + 1 of a row of `blocks` (zeros past its end).
LMC_VNNI_TARGET inline __m512i LoadPair(const rt::BlockQ8_0* w, size_t b, size_t blocks) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].q));
  const __m256i hi = b + 1 < blocks
                         ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b + 1].q))
                         : _mm256_setzero_si256();
  return Concat(lo, hi);
}
// Both VNNI kernels below give each output exactly scalar::QuantizedDot: per block b, the exact
// integer dot product as f32, times (d_w * d_x), added to a running f32 sum, blocks in order,
// with separate (never fused) multiplies and adds. A vector's lane r is row r's sum, so the
// scales are applied to 16 outputs at once and no lanes are added across at the end.
//
// vpdpbusd multiplies unsigned by signed bytes: the weights, offset to be non-negative (Q8_0:
// w + 128; Q4_0: the nibbles, w + 8), by the activations; each block's sum then starts from
// -offset * sum(x), which makes it exact.

constexpr size_t kPanelRows = 16;

// acc + float(ints) * (w_scales * x_scale), lane by lane, as scalar::QuantizedDot adds a block.
LMC_VNNI_TARGET inline __m512 AddScaled(__m512 acc, __m512i ints, __m512 w_scales, float x_scale) {
  const __m512 scale = _mm512_maskz_mul_ps(0xFFFF, w_scales, _mm512_set1_ps(x_scale));
  const __m512 term = _mm512_maskz_mul_ps(0xFFFF, _mm512_maskz_cvtepi32_ps(0xFFFF, ints), scale);
  return _mm512_maskz_add_ps(0xFFFF, acc, term);
}

// Lane r: the byte offset of rows[r] from rows[0] (rows of one tile are at most 15 rows apart).
template <typename Block>
LMC_VNNI_TARGET inline __m512i RowOffsets(const Block* const* rows) {
  alignas(64) int32_t offsets[kPanelRows];
  for (size_t r = 0; r < kPanelRows; ++r) {
    offsets[r] = static_cast<int32_t>(reinterpret_cast<const char*>(rows[r]) -
                                      reinterpret_cast<const char*>(rows[0]));
  }
  return _mm512_load_si512(offsets);
}
// Lane r: the widened f16 scale of block b of rows[r] (F16C's conversion is exact, as
// rt::QuantScale). The gather reads 4 bytes, the scale and 2 bytes of the block's weights.
template <typename Block>
LMC_VNNI_TARGET inline __m512 RowScales(const Block* row0, __m512i offsets, size_t b) {
  const __m512i words =
      _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), 0xFFFF, offsets, &row0[b].d, 1);
  return _mm512_maskz_cvtph_ps(0xFFFF, _mm512_maskz_cvtepi32_epi16(0xFFFF, words));
}

// Eight rows' vectors, each lanes 0-7 one block's partial sums and lanes 8-15 the next
// block's, to one vector of the blocks' sums: lane r row r's first block, lane 8 + r its
// second. Adds of lane pairs, then of 64-bit pairs, then of 128-bit pairs, each step
// interleaving rows (integers: exact in any order).
LMC_VNNI_TARGET inline __m512i SumRows(const __m512i* v) {
  __m512i pairs[4], quads[2];
  for (size_t i = 0; i < 4; ++i) {
    pairs[i] = _mm512_add_epi32(_mm512_maskz_unpacklo_epi32(0xFFFF, v[2 * i], v[2 * i + 1]),
                                _mm512_maskz_unpackhi_epi32(0xFFFF, v[2 * i], v[2 * i + 1]));
  }
  // quads[k], 128-bit lane L: rows 4k..4k+3, each the sum of its lanes 4L..4L+3.
  for (size_t k = 0; k < 2; ++k) {
    quads[k] = _mm512_add_epi32(_mm512_maskz_unpacklo_epi64(0xFF, pairs[2 * k], pairs[2 * k + 1]),
                                _mm512_maskz_unpackhi_epi64(0xFF, pairs[2 * k], pairs[2 * k + 1]));
  }
  // Rows 0-3 first block, rows 0-3 second block, rows 4-7 first, rows 4-7 second.
  const __m512i halves =
      _mm512_add_epi32(_mm512_maskz_shuffle_i32x4(0xFFFF, quads[0], quads[1], 0x88),   // 0, 2
                       _mm512_maskz_shuffle_i32x4(0xFFFF, quads[0], quads[1], 0xDD));  // 1, 3
  return _mm512_maskz_shuffle_i32x4(0xFFFF, halves, halves, 0xD8);  // 128-bit lanes 0, 2, 1, 3
}

// Lanes 0-7: the f16 scales of block b of eight rows; lanes 8-15: of block b + 1 (0 past the
// row's end).
LMC_VNNI_TARGET inline __m256i PairScaleWords(const rt::BlockQ8_0* const* rows, size_t b,
                                              bool pair) {
  alignas(32) uint16_t words[16];
  for (size_t r = 0; r < 8; ++r) {
    words[r] = rows[r][b].d;
    words[r + 8] = pair ? rows[r][b + 1].d : 0;
  }
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(words));
}
// Q4_0 blocks b and b + 1 (36 bytes; 18 past the row's end) of a row, as loaded: words 0 and 9
// the scales, words 1-8 and 10-17 the nibbles.
LMC_VNNI_TARGET inline __m512i LoadQ4Pair(const rt::BlockQ4_0* row, size_t b, bool pair) {
  static_assert(sizeof(rt::BlockQ4_0) == 18);
  const __mmask64 bytes = pair ? (uint64_t{1} << 36) - 1 : (uint64_t{1} << 18) - 1;
  return _mm512_maskz_loadu_epi8(bytes, row + b);
}
// Its 64 weights in the activations' order (nibbles 0..15): [a, a, c, c] in 128-bit lanes (a,
// c the two blocks' 16 bytes), low nibbles from the first copy of each, high from the second.
LMC_VNNI_TARGET inline __m512i Q4Weights(__m512i pair) {
  const __m512i words = _mm512_set_epi16(17, 16, 15, 14, 13, 12, 11, 10, 17, 16, 15, 14, 13, 12, 11,
                                         10, 8, 7, 6, 5, 4, 3, 2, 1, 8, 7, 6, 5, 4, 3, 2, 1);
  const __m512i both = _mm512_maskz_permutexvar_epi16(~__mmask32{0}, words, pair);
  const __m512i nibbles = _mm512_mask_blend_epi64(0xCC, both, _mm512_srli_epi16(both, 4));
  return _mm512_and_si512(nibbles, _mm512_set1_epi8(0x0F));
}
// Words 0 and 9 of eight rows' pairs: lanes 0-7 and 8-15 as PairScaleWords.
LMC_VNNI_TARGET inline __m256i PairScaleWords(const __m512i* pairs) {
  __m512i merged = _mm512_setzero_si512();
  for (size_t r = 0; r < 8; r += 2) {
    // Row r's words 0 and 9 to words r and 8 + r, row r + 1's to r + 1 and 9 + r.
    alignas(64) int16_t index[32] = {};
    index[r] = 0, index[8 + r] = 9, index[r + 1] = 32, index[9 + r] = 32 + 9;
    const __m512i two = _mm512_permutex2var_epi16(pairs[r], _mm512_load_si512(index), pairs[r + 1]);
    merged = _mm512_mask_blend_epi16(0x0303u << r, merged, two);
  }
  return _mm512_maskz_extracti64x4_epi64(0xF, merged, 0);
}

// Eight rows (repeats allowed) times token t, from the weights as stored: per block pair, a
// vpdpbusd per row, the rows' lanes added across (SumRows), then scaled. Lanes in `valid` are
// stored to out[r]. Rows are consecutive in memory, too many short streams for the hardware
// prefetcher: each row prefetches the same place in the next tile's row, one tile ahead.
constexpr size_t kRowTileRows = 8;
template <typename Block>
LMC_VNNI_TARGET void RowTile(const Block* const* rows, const QuantizedActivations& x, size_t t,
                             float* out, __mmask8 valid) {
  constexpr bool kQ8 = std::is_same_v<Block, rt::BlockQ8_0>;
  const __m512i offset = _mm512_set1_epi8(kQ8 ? -128 : 8);  // As unsigned bytes: 128 or 8.
  const size_t blocks = rt::QuantBlocks(x.cols);
  const __m512i zero = _mm512_setzero_si512();
  const int8_t* xq = x.q.data() + t * x.stride * rt::kQuantBlock;
  const float* xd = x.d.data() + t * x.stride;
  __m256 acc = _mm256_setzero_ps();
  for (size_t b = 0; b < blocks; b += 2) {
    const bool pair = b + 1 < blocks;
    const __m512i xv = _mm512_loadu_si512(xq + b * rt::kQuantBlock);
    const __m512i start = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, offset, xv));
    __m512i dots[kRowTileRows], loaded[kRowTileRows];
    for (size_t r = 0; r < kRowTileRows; ++r) {
      const char* ahead = reinterpret_cast<const char*>(rows[r] + kRowTileRows * blocks + b);
      _mm_prefetch(ahead, _MM_HINT_T0);
      _mm_prefetch(ahead + 2 * sizeof(Block) - 1, _MM_HINT_T0);
      __m512i wv;
      if constexpr (kQ8) {
        wv = _mm512_xor_si512(LoadPair(rows[r], b, blocks), offset);  // w + 128, unsigned
      } else {
        loaded[r] = LoadQ4Pair(rows[r], b, pair);
        wv = Q4Weights(loaded[r]);
      }
      dots[r] = _mm512_dpbusd_epi32(start, wv, xv);
    }
    __m256i scale_words;
    if constexpr (kQ8) {
      scale_words = PairScaleWords(rows, b, pair);
    } else {
      scale_words = PairScaleWords(loaded);
    }
    const __m512 w_scales = _mm512_maskz_cvtph_ps(0xFFFF, scale_words);
    const __m512 x_scales =
        _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(xd[b]), _mm512_set1_ps(xd[b + 1]));
    const __m512 terms =
        _mm512_maskz_mul_ps(0xFFFF, _mm512_maskz_cvtepi32_ps(0xFFFF, SumRows(dots)),
                            _mm512_maskz_mul_ps(0xFFFF, w_scales, x_scales));
    acc = _mm256_add_ps(acc, _mm512_maskz_extractf32x8_ps(0xFF, terms, 0));
    if (pair) acc = _mm256_add_ps(acc, _mm512_maskz_extractf32x8_ps(0xFF, terms, 1));
  }
  _mm256_mask_storeu_ps(out, valid, acc);
}

// Sixteen rows repacked for many tokens: per block, 8 vectors whose lane r holds 4 offset
// weights of row r (bytes 4g..4g+3 of the block, in the activations' order), then the block's
// 16 scales as f32. One vpdpbusd then adds 4 products to each of 16 outputs, with the token's
// 4 activations broadcast; no adds across lanes. Rows are packed a chunk of blocks at a time,
// small enough to stay in L1 while every token meets it.
constexpr size_t kChunkBlocks = 16;
struct Panel {
  alignas(64) uint8_t weights[kChunkBlocks * 8][64];
  alignas(64) float scales[kChunkBlocks * kPanelRows];
};

// Row r's 32 bytes of block b in the low half, row r + 8's in the high half.
LMC_VNNI_TARGET inline __m512i TwoRows(const rt::BlockQ8_0* const* rows, size_t r, size_t b) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[r][b].q));
  const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[r + 8][b].q));
  return Concat(lo, hi);
}
// Row r's 16 bytes of block b in 128-bit lane 0, rows r + 4, r + 8, r + 12 in lanes 1-3.
LMC_VNNI_TARGET inline __m512i FourRows(const rt::BlockQ4_0* const* rows, size_t r, size_t b) {
  auto load = [&](size_t i) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[r + i][b].qs));
  };
  return Concat(_mm256_set_m128i(load(4), load(0)), _mm256_set_m128i(load(12), load(8)));
}

// Transposes of 4-byte words: unpacks within 128-bit lanes, then (Q8_0) a permute across them.
template <typename Block>
LMC_VNNI_TARGET void Pack(const Block* const* rows, size_t b0, size_t b1, Panel* panel) {
  const __m512i offsets = RowOffsets(rows);
  for (size_t b = b0; b < b1; ++b) {
    // Sixteen short streams, too many for the hardware prefetcher: one chunk ahead.
    for (size_t r = 0; r < kPanelRows; ++r) {
      const char* ahead = reinterpret_cast<const char*>(rows[r] + b + kChunkBlocks);
      _mm_prefetch(ahead, _MM_HINT_T0);
      _mm_prefetch(ahead + sizeof(Block) - 1, _MM_HINT_T0);
    }
    __m512i* out = reinterpret_cast<__m512i*>(panel->weights[(b - b0) * 8]);
    if constexpr (std::is_same_v<Block, rt::BlockQ8_0>) {
      // in[r]: row r's words 0-7, then row r + 8's.
      __m512i in[8], p[8], s[8];
      for (size_t r = 0; r < 8; ++r) in[r] = TwoRows(rows, r, b);
      for (size_t i = 0; i < 4; ++i) {
        p[2 * i] = _mm512_maskz_unpacklo_epi32(0xFFFF, in[2 * i], in[2 * i + 1]);
        p[2 * i + 1] = _mm512_maskz_unpackhi_epi32(0xFFFF, in[2 * i], in[2 * i + 1]);
      }
      for (size_t i = 0; i < 2; ++i) {
        for (size_t h = 0; h < 2; ++h) {
          const __m512i a = p[4 * i + h], c = p[4 * i + 2 + h];
          s[4 * i + 2 * h] = _mm512_maskz_unpacklo_epi64(0xFF, a, c);
          s[4 * i + 2 * h + 1] = _mm512_maskz_unpackhi_epi64(0xFF, a, c);
        }
      }
      // s[k], in 128-bit lanes: word k of rows 0-3, word k + 4 of rows 0-3, word k of rows
      // 8-11, word k + 4 of rows 8-11; s[4 + k] the same for rows 4-7 and 12-15. Permutes of
      // their 64-bit halves interleave them into words k and k + 4 of rows 0-15.
      const __m512i first = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
      const __m512i second = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
      const __m512i flip = _mm512_set1_epi8(-128);  // w + 128, unsigned
      for (size_t k = 0; k < 4; ++k) {
        out[k] = _mm512_xor_si512(_mm512_permutex2var_epi64(s[k], first, s[4 + k]), flip);
        out[k + 4] = _mm512_xor_si512(_mm512_permutex2var_epi64(s[k], second, s[4 + k]), flip);
      }
    } else {
      // in[r]: rows r, r + 4, r + 8, r + 12; two unpack steps give word j of all 16 rows.
      __m512i in[4], p[4];
      for (size_t r = 0; r < 4; ++r) in[r] = FourRows(rows, r, b);
      p[0] = _mm512_maskz_unpacklo_epi32(0xFFFF, in[0], in[1]);
      p[1] = _mm512_maskz_unpackhi_epi32(0xFFFF, in[0], in[1]);
      p[2] = _mm512_maskz_unpacklo_epi32(0xFFFF, in[2], in[3]);
      p[3] = _mm512_maskz_unpackhi_epi32(0xFFFF, in[2], in[3]);
      const __m512i words[4] = {_mm512_maskz_unpacklo_epi64(0xFF, p[0], p[2]),
                                _mm512_maskz_unpackhi_epi64(0xFF, p[0], p[2]),
                                _mm512_maskz_unpacklo_epi64(0xFF, p[1], p[3]),
                                _mm512_maskz_unpackhi_epi64(0xFF, p[1], p[3])};
      const __m512i low = _mm512_set1_epi8(0x0F);  // weights 0-15 low nibbles, 16-31 high
      for (size_t j = 0; j < 4; ++j) {
        out[j] = _mm512_and_si512(words[j], low);
        out[j + 4] = _mm512_and_si512(_mm512_maskz_srli_epi32(0xFFFF, words[j], 4), low);
      }
    }
    _mm512_store_ps(panel->scales + (b - b0) * kPanelRows, RowScales(rows[0], offsets, b));
  }
}

// Blocks [b0, b1) of the panel times kTokens tokens from t0, added to their sums in `sums`
// (16 per token; f32 kept exactly between chunks). `starts` is -offset * sum(x) per token and
// block.
template <size_t kTokens>
LMC_VNNI_TARGET void PanelTile(const Panel& panel, size_t b0, size_t b1,
                               const QuantizedActivations& x, const int32_t* starts, size_t t0,
                               float* sums) {
  const size_t blocks = rt::QuantBlocks(x.cols);
  __m512 acc[kTokens];
  for (size_t t = 0; t < kTokens; ++t) acc[t] = _mm512_loadu_ps(sums + t * kPanelRows);
  for (size_t b = b0; b < b1; ++b) {
    __m512i dots[kTokens];
    for (size_t t = 0; t < kTokens; ++t) dots[t] = _mm512_set1_epi32(starts[(t0 + t) * blocks + b]);
    for (size_t g = 0; g < 8; ++g) {
      const __m512i w = _mm512_load_si512(panel.weights[(b - b0) * 8 + g]);
      for (size_t t = 0; t < kTokens; ++t) {
        int32_t four;
        std::memcpy(&four, x.q.data() + ((t0 + t) * x.stride + b) * rt::kQuantBlock + 4 * g, 4);
        dots[t] = _mm512_dpbusd_epi32(dots[t], w, _mm512_set1_epi32(four));
      }
    }
    const __m512 scales = _mm512_load_ps(panel.scales + (b - b0) * kPanelRows);
    for (size_t t = 0; t < kTokens; ++t) {
      acc[t] = AddScaled(acc[t], dots[t], scales, x.d[(t0 + t) * x.stride + b]);
    }
  }
  for (size_t t = 0; t < kTokens; ++t) _mm512_storeu_ps(sums + t * kPanelRows, acc[t]);
}

// From this many tokens on, repacking rows costs less than reading them once per token.
constexpr size_t kPanelMinTokens = 4;

// out[t * out_stride + (r - row_begin)] for rows [row_begin, row_end), every token: tiles of 8
// rows one token at a time, or of 16 repacked rows for many (a last partial tile repeats its
// first row and stores only its own).
template <typename Block>
LMC_VNNI_TARGET void MatMulRows(float* out, size_t out_stride, const Block* w,
                                const QuantizedActivations& x, size_t row_begin, size_t row_end) {
  constexpr int32_t kOffset = std::is_same_v<Block, rt::BlockQ8_0> ? 128 : 8;
  const size_t blocks = rt::QuantBlocks(x.cols);
  const bool packed = x.tokens >= kPanelMinTokens;
  thread_local Panel panel;  // per thread: the pool's threads call this
  thread_local std::vector<int32_t> starts;
  if (packed) {
    starts.resize(x.tokens * blocks);
    for (size_t t = 0; t < x.tokens; ++t) {
      for (size_t b = 0; b < blocks; ++b) {
        const int8_t* q = x.q.data() + (t * x.stride + b) * rt::kQuantBlock;
        int32_t sum = 0;
        for (size_t j = 0; j < rt::kQuantBlock; ++j) sum += q[j];
        starts[t * blocks + b] = -kOffset * sum;
      }
    }
  }
  const Block* rows[kPanelRows];
  auto pick = [&](size_t r, size_t tile) {  // a partial tile repeats its first row
    const size_t n = std::min(tile, row_end - r);
    for (size_t i = 0; i < tile; ++i) rows[i] = w + (r + (i < n ? i : 0)) * blocks;
    return (uint32_t{1} << n) - 1;
  };
  if (!packed) {
    for (size_t r = row_begin; r < row_end; r += kRowTileRows) {
      const __mmask8 valid = static_cast<__mmask8>(pick(r, kRowTileRows));
      for (size_t t = 0; t < x.tokens; ++t) {
        RowTile(rows, x, t, out + t * out_stride + (r - row_begin), valid);
      }
    }
    return;
  }
  thread_local std::vector<float> sums;
  sums.resize(x.tokens * kPanelRows);
  for (size_t r = row_begin; r < row_end; r += kPanelRows) {
    const __mmask16 valid = static_cast<__mmask16>(pick(r, kPanelRows));
    std::fill(sums.begin(), sums.end(), 0.0f);
    for (size_t b0 = 0; b0 < blocks; b0 += kChunkBlocks) {
      const size_t b1 = std::min(blocks, b0 + kChunkBlocks);
      Pack(rows, b0, b1, &panel);
      for (size_t t = 0; t < x.tokens;) {
        const size_t left = x.tokens - t;
        float* s = sums.data() + t * kPanelRows;
        if (left >= 8) {
          PanelTile<8>(panel, b0, b1, x, starts.data(), t, s), t += 8;
        } else if (left >= 4) {
          PanelTile<4>(panel, b0, b1, x, starts.data(), t, s), t += 4;
        } else if (left >= 2) {
          PanelTile<2>(panel, b0, b1, x, starts.data(), t, s), t += 2;
        } else {
          PanelTile<1>(panel, b0, b1, x, starts.data(), t, s), t += 1;
        }
      }
    }
    for (size_t t = 0; t < x.tokens; ++t) {
      _mm512_mask_storeu_ps(out + t * out_stride + (r - row_begin), valid,
                            _mm512_loadu_ps(sums.data() + t * kPanelRows));
    }
  }
}

}  // namespace
}  // namespace lmc::kernels::vnni
#endif  // x86, not baseline only
#endif  // LMC_KERNELS_QUANT_OPS_VNNI_

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/kernels/quant_ops.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
// Must come after foreach_target.h.
#include <hwy/highway.h>

#include "runtime/kernels/ops-inl.h"

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

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
// AVX2 integer products, for CPUs without VNNI (Zen 3, Haswell to Skylake): each output is, bit
// for bit, scalar::QuantizedDot, as with VNNI. Per row and block, vpmaddubsw multiplies unsigned
// by signed bytes and adds pairs to int16, vpmaddwd adds those pairs to int32: exact, since no
// pair reaches 2^15 (Q8_0: |w| <= 128 times |x| <= 127, the sign moved onto x; Q4_0: nibbles
// 0..15 times x, then 8 * sum(x) subtracted). Eight rows' sums go to one vector's lanes, which
// the scales meet as the reference adds a block: f32(dot) * (d_w * d_x), then added, in block
// order (quant_ops.cc compiles with -ffp-contract=off, so no multiply is fused with an add).
namespace avx2 {

constexpr size_t kTileRows = 8;

// What the tiles leave out of Q4_0's block b of each token: 8 * sum(x). (Q8_0's are exact.)
void Corrections(const QuantizedActivations& x, std::vector<int32_t>& out) {
  const size_t blocks = rt::QuantBlocks(x.cols);
  out.resize(x.tokens * blocks);
  for (size_t t = 0; t < x.tokens; ++t) {
    for (size_t b = 0; b < blocks; ++b) {
      const int8_t* q = x.q.data() + (t * x.stride + b) * rt::kQuantBlock;
      int32_t sum = 0;
      for (size_t j = 0; j < rt::kQuantBlock; ++j) sum += q[j];
      out[t * blocks + b] = 8 * sum;
    }
  }
}

// Each token's `valid` of the tile's eight outputs from lane `first` on, a token's outputs
// out_stride apart.
HWY_INLINE void StoreTile(const __m256* acc, size_t tokens, float* HWY_RESTRICT out,
                          size_t out_stride, size_t valid, size_t first = 0) {
  for (size_t t = 0; t < tokens; ++t) {
    float* to = out + t * out_stride;
    if (valid == kTileRows) {
      _mm256_storeu_ps(to, acc[t]);
    } else {
      alignas(32) float sums[kTileRows];
      _mm256_store_ps(sums, acc[t]);
      std::copy_n(sums + first, valid, to);
    }
  }
}

// Block b of eight rows as stored times kTokens tokens' activation blocks x[t]: sums[t] lane r is
// row r's integer dot product (Q4_0: with the nibbles, 8 * sum(x) short). With `prefetch`, each
// row prefetches the same place in the next tile's row: eight rows lie a row apart, eight short
// streams the hardware prefetcher misses.
template <size_t kTokens, bool prefetch>
HWY_INLINE void TileSums(const rt::BlockQ8_0* const* rows, size_t b, size_t blocks,
                         const __m256i* x, __m256i* sums) {
  // Per row, eight int32 partial sums; then pairs of rows, quads and halves add up (integers,
  // exact in any order).
  __m256i quads[2][kTokens];
  for (size_t half = 0; half < 2; ++half) {
    __m256i pairs[2][kTokens];
    for (size_t p = 0; p < 2; ++p) {
      __m256i dots[2][kTokens];
      for (size_t i = 0; i < 2; ++i) {
        const rt::BlockQ8_0* row = rows[4 * half + 2 * p + i];
        if constexpr (prefetch) {
          _mm_prefetch(reinterpret_cast<const char*>(row + kTileRows * blocks + b), _MM_HINT_T0);
        }
        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row[b].q));
        const __m256i magnitudes = _mm256_abs_epi8(w);  // the signs go onto x
        for (size_t t = 0; t < kTokens; ++t) {
          const __m256i pairs16 = _mm256_maddubs_epi16(magnitudes, _mm256_sign_epi8(x[t], w));
          dots[i][t] = _mm256_madd_epi16(pairs16, _mm256_set1_epi16(1));
        }
      }
      for (size_t t = 0; t < kTokens; ++t) pairs[p][t] = _mm256_hadd_epi32(dots[0][t], dots[1][t]);
    }
    for (size_t t = 0; t < kTokens; ++t) {
      quads[half][t] = _mm256_hadd_epi32(pairs[0][t], pairs[1][t]);
    }
  }
  for (size_t t = 0; t < kTokens; ++t) {
    sums[t] = _mm256_add_epi32(_mm256_permute2x128_si256(quads[0][t], quads[1][t], 0x20),
                               _mm256_permute2x128_si256(quads[0][t], quads[1][t], 0x31));
  }
}
template <size_t kTokens, bool prefetch>
HWY_INLINE void TileSums(const rt::BlockQ4_0* const* rows, size_t b, size_t blocks,
                         const __m256i* x, __m256i* sums) {
  // Rows j and j + 4 share a vector: their 16 bytes side by side, so one mask gives both rows'
  // weights 0-15 and a shift their weights 16-31, which meet each token's x0-15 and x16-31 held
  // in both halves. The two products are added in int16 (2 * 2 * 15 * 128 < 2^15), widened to
  // int32 (four partial sums per row), and three hadds leave rows 0-3 in the low half and 4-7 in
  // the high half.
  const __m256i mask = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  __m256i x_lo[kTokens], x_hi[kTokens];
  for (size_t t = 0; t < kTokens; ++t) {
    x_lo[t] = _mm256_permute4x64_epi64(x[t], 0x44);
    x_hi[t] = _mm256_permute4x64_epi64(x[t], 0xEE);
  }
  __m256i dots[4][kTokens];
  for (size_t j = 0; j < 4; ++j) {
    if constexpr (prefetch) {
      _mm_prefetch(reinterpret_cast<const char*>(rows[j] + kTileRows * blocks + b), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(rows[j + 4] + kTileRows * blocks + b),
                   _MM_HINT_T0);
    }
    const __m256i bytes = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(rows[j + 4][b].qs),
                                              reinterpret_cast<const __m128i*>(rows[j][b].qs));
    const __m256i low = _mm256_and_si256(bytes, mask);
    const __m256i high = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask);
    for (size_t t = 0; t < kTokens; ++t) {
      const __m256i words =
          _mm256_add_epi16(_mm256_maddubs_epi16(low, x_lo[t]), _mm256_maddubs_epi16(high, x_hi[t]));
      dots[j][t] = _mm256_madd_epi16(words, ones);
    }
  }
  for (size_t t = 0; t < kTokens; ++t) {
    sums[t] = _mm256_hadd_epi32(_mm256_hadd_epi32(dots[0][t], dots[1][t]),
                                _mm256_hadd_epi32(dots[2][t], dots[3][t]));
  }
}

// Eight rows (a partial tile repeats a row) as stored times kTokens tokens from t0 (Q4_0: with
// their `corrections`); each token's first `valid` outputs are stored. A block's eight sums are
// scaled and added as the reference adds a block.
template <typename Block, size_t kTokens, bool prefetch>
HWY_INLINE void RowTile(const Block* const* rows, const QuantizedActivations& x, size_t t0,
                        const int32_t* HWY_RESTRICT corrections, float* HWY_RESTRICT out,
                        size_t out_stride, size_t valid) {
  const size_t blocks = rt::QuantBlocks(x.cols);
  __m256 acc[kTokens];
  for (size_t t = 0; t < kTokens; ++t) acc[t] = _mm256_setzero_ps();
  for (size_t b = 0; b < blocks; ++b) {
    __m256i xv[kTokens], ints[kTokens];
    for (size_t t = 0; t < kTokens; ++t) {
      xv[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
          x.q.data() + ((t0 + t) * x.stride + b) * rt::kQuantBlock));
    }
    TileSums<kTokens, prefetch>(rows, b, blocks, xv, ints);
    alignas(16) uint16_t scale_words[kTileRows];
    for (size_t r = 0; r < kTileRows; ++r) scale_words[r] = rows[r][b].d;
    const __m256 w_scales =
        _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(scale_words)));
    for (size_t t = 0; t < kTokens; ++t) {
      if constexpr (std::is_same_v<Block, rt::BlockQ4_0>) {
        ints[t] = _mm256_sub_epi32(ints[t], _mm256_set1_epi32(corrections[(t0 + t) * blocks + b]));
      }
      const __m256 scales = _mm256_mul_ps(w_scales, _mm256_set1_ps(x.d[(t0 + t) * x.stride + b]));
      acc[t] = _mm256_add_ps(acc[t], _mm256_mul_ps(_mm256_cvtepi32_ps(ints[t]), scales));
    }
  }
  StoreTile(acc, kTokens, out + t0 * out_stride, out_stride, valid);
}

// From kPackTokens tokens on, a tile's eight rows are first repacked (Pack) so that the int32
// lane r of a vector holds four consecutive weights of row r (Q4_0: the nibbles, unpacked once):
// one vpmaddubsw with a token's four activations broadcast then adds two products into each of
// 8 rows' words, and no horizontal sums are left. Q4_0's words gather eight such steps (a block)
// before vpmaddwd: 8 * 2 * 15 * 128 < 2^15, exact. The ints, and so the outputs, are RowTile's.
// Below kPackTokens, packing costs more than it saves (measured on Zen 3).
constexpr size_t kPackTokens = 6;

struct PanelBlock {
  int32_t words[rt::kQuantBlock / 4][kTileRows];  // words[k][r]: row r's weights 4k .. 4k + 3
  float scales[kTileRows];                        // d_w of each row
};
static_assert(sizeof(PanelBlock) % 32 == 0, "panel blocks stay 32-byte aligned");

// A block's 32 weights as bytes: Q8_0's as stored, Q4_0's nibbles (0..15) in order.
HWY_INLINE __m256i BlockBytes(const rt::BlockQ8_0& block) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.q));
}
HWY_INLINE __m256i BlockBytes(const rt::BlockQ4_0& block) {
  const __m256i bytes =
      _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block.qs)));
  return _mm256_and_si256(_mm256_blend_epi32(bytes, _mm256_srli_epi16(bytes, 4), 0xF0),
                          _mm256_set1_epi8(0x0F));
}

// Block b of eight rows, transposed as 8 x 8 words.
template <typename Block>
HWY_INLINE void Pack(const Block* const* rows, size_t b, PanelBlock& out) {
  __m256i v[kTileRows], t[kTileRows], u[kTileRows];
  for (size_t r = 0; r < kTileRows; ++r) {
    v[r] = BlockBytes(rows[r][b]);
    out.scales[r] = rt::QuantScale(rows[r][b].d);
  }
  for (size_t r = 0; r < kTileRows;
       r += 2) {  // t[r]: words 0,1|4,5 of rows r, r+1; t[r+1]: 2,3|6,7
    t[r] = _mm256_unpacklo_epi32(v[r], v[r + 1]);
    t[r + 1] = _mm256_unpackhi_epi32(v[r], v[r + 1]);
  }
  for (size_t h = 0; h < kTileRows; h += 4) {  // u[h + k]: word k | k + 4 of rows h .. h + 3
    u[h + 0] = _mm256_unpacklo_epi64(t[h], t[h + 2]);
    u[h + 1] = _mm256_unpackhi_epi64(t[h], t[h + 2]);
    u[h + 2] = _mm256_unpacklo_epi64(t[h + 1], t[h + 3]);
    u[h + 3] = _mm256_unpackhi_epi64(t[h + 1], t[h + 3]);
  }
  for (size_t k = 0; k < 4; ++k) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(out.words[k]),
                       _mm256_permute2x128_si256(u[k], u[4 + k], 0x20));
    _mm256_store_si256(reinterpret_cast<__m256i*>(out.words[k + 4]),
                       _mm256_permute2x128_si256(u[k], u[4 + k], 0x31));
  }
}

// Activations 4k .. 4k + 3 of a block, in every int32 lane.
HWY_INLINE __m256i BroadcastWord(const int8_t* x) {
  int32_t word;
  std::memcpy(&word, x, sizeof(word));
  return _mm256_set1_epi32(word);
}

// kTokens tokens from t0 times a packed tile: RowTile's sums, scaled and added as there.
template <typename Block, size_t kTokens>
HWY_INLINE void PanelTile(const PanelBlock* panel, const QuantizedActivations& x, size_t t0,
                          const int32_t* HWY_RESTRICT corrections, float* HWY_RESTRICT out,
                          size_t out_stride, size_t valid) {
  const size_t blocks = rt::QuantBlocks(x.cols);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc[kTokens];
  for (size_t t = 0; t < kTokens; ++t) acc[t] = _mm256_setzero_ps();
  for (size_t b = 0; b < blocks; ++b) {
    const int8_t* xq[kTokens];
    for (size_t t = 0; t < kTokens; ++t) {
      xq[t] = x.q.data() + ((t0 + t) * x.stride + b) * rt::kQuantBlock;
    }
    auto broadcast = [&](size_t t, size_t k) { return BroadcastWord(xq[t] + 4 * k); };
    __m256i sums[kTokens];
    if constexpr (std::is_same_v<Block, rt::BlockQ4_0>) {
      __m256i words[kTokens];
      for (size_t t = 0; t < kTokens; ++t) words[t] = _mm256_setzero_si256();
      for (size_t k = 0; k < rt::kQuantBlock / 4; ++k) {
        const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(panel[b].words[k]));
        for (size_t t = 0; t < kTokens; ++t) {
          words[t] = _mm256_add_epi16(words[t], _mm256_maddubs_epi16(w, broadcast(t, k)));
        }
      }
      for (size_t t = 0; t < kTokens; ++t) {
        sums[t] = _mm256_sub_epi32(_mm256_madd_epi16(words[t], ones),
                                   _mm256_set1_epi32(corrections[(t0 + t) * blocks + b]));
      }
    } else {
      for (size_t t = 0; t < kTokens; ++t) sums[t] = _mm256_setzero_si256();
      for (size_t k = 0; k < rt::kQuantBlock / 4; ++k) {
        const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(panel[b].words[k]));
        const __m256i magnitudes = _mm256_abs_epi8(w);
        for (size_t t = 0; t < kTokens; ++t) {
          const __m256i pairs =
              _mm256_maddubs_epi16(magnitudes, _mm256_sign_epi8(broadcast(t, k), w));
          sums[t] = _mm256_add_epi32(sums[t], _mm256_madd_epi16(pairs, ones));
        }
      }
    }
    for (size_t t = 0; t < kTokens; ++t) {
      const __m256 scales = _mm256_mul_ps(_mm256_load_ps(panel[b].scales),
                                          _mm256_set1_ps(x.d[(t0 + t) * x.stride + b]));
      acc[t] = _mm256_add_ps(acc[t], _mm256_mul_ps(_mm256_cvtepi32_ps(sums[t]), scales));
    }
  }
  StoreTile(acc, kTokens, out + t0 * out_stride, out_stride, valid);
}

// Tokens [t, t + k * kTokens) of a tile read as stored, kTokens at a time, as far as they go; t
// moves on. The first tile prefetches the next tile's rows.
template <typename Block, size_t kTokens>
HWY_INLINE void TokenTiles(const Block* const* rows, const QuantizedActivations& x,
                           const int32_t* corrections, float* out, size_t out_stride, size_t valid,
                           size_t& t) {
  for (; t + kTokens <= x.tokens; t += kTokens) {
    if (t == 0) {
      RowTile<Block, kTokens, true>(rows, x, t, corrections, out, out_stride, valid);
    } else {
      RowTile<Block, kTokens, false>(rows, x, t, corrections, out, out_stride, valid);
    }
  }
}

// The same from a packed panel.
template <typename Block, size_t kTokens>
HWY_INLINE void PanelTiles(const PanelBlock* panel, const QuantizedActivations& x,
                           const int32_t* corrections, float* out, size_t out_stride, size_t valid,
                           size_t& t) {
  for (; t + kTokens <= x.tokens; t += kTokens) {
    PanelTile<Block, kTokens>(panel, x, t, corrections, out, out_stride, valid);
  }
}

// out[t * out_stride + (r - row_begin)] for rows [row_begin, row_end), every token, a tile of
// eight rows at a time. Below kPackTokens tokens the tile reads its rows as stored (RowTile,
// which also prefetches the next tile's rows), up to four tokens at a time; from there on it packs
// them once and meets the tokens kPanelTokens at a time.
constexpr size_t kPanelTokens = 8;
template <typename Block>
HWY_INLINE void MatMulRows(float* HWY_RESTRICT out, size_t out_stride, const Block* w,
                           const QuantizedActivations& x, size_t row_begin, size_t row_end) {
  const size_t blocks = rt::QuantBlocks(x.cols);
  // Per thread: the pool's threads call this.
  thread_local std::vector<int32_t> corrections;
  thread_local std::unique_ptr<PanelBlock[], decltype(&std::free)> panel(nullptr, &std::free);
  thread_local size_t panel_blocks = 0;
  if constexpr (std::is_same_v<Block, rt::BlockQ4_0>) Corrections(x, corrections);
  const int32_t* corr = corrections.data();
  const bool packed = x.tokens >= kPackTokens;
  if (packed && panel_blocks < blocks) {
    panel.reset(static_cast<PanelBlock*>(std::aligned_alloc(32, blocks * sizeof(PanelBlock))));
    if (!panel) throw std::bad_alloc();
    panel_blocks = blocks;
  }
  const Block* rows[kTileRows];
  for (size_t r = row_begin; r < row_end; r += kTileRows) {
    const size_t valid = std::min(kTileRows, row_end - r);
    for (size_t i = 0; i < kTileRows; ++i) rows[i] = w + (r + (i < valid ? i : 0)) * blocks;
    float* tile_out = out + (r - row_begin);
    size_t t = 0;
    if (packed) {
      for (size_t b = 0; b < blocks; ++b) Pack(rows, b, panel[b]);
      const PanelBlock* p = panel.get();
      PanelTiles<Block, kPanelTokens>(p, x, corr, tile_out, out_stride, valid, t);
      PanelTiles<Block, 4>(p, x, corr, tile_out, out_stride, valid, t);
      PanelTiles<Block, 2>(p, x, corr, tile_out, out_stride, valid, t);
      PanelTiles<Block, 1>(p, x, corr, tile_out, out_stride, valid, t);
    } else {
      TokenTiles<Block, 4>(rows, x, corr, tile_out, out_stride, valid, t);
      TokenTiles<Block, 2>(rows, x, corr, tile_out, out_stride, valid, t);
      TokenTiles<Block, 1>(rows, x, corr, tile_out, out_stride, valid, t);
    }
  }
}

// Q4_0 panels (rt::PanelQ4_0), repacked at load, so every token count gets PanelTile's
// products without packing on the fly: per block, four loads and a mask and a shift each give
// eight rows' weights as PanelTile's words; each token's four activations, broadcast, meet them
// in vpmaddubsw, a block's eight steps added in int16 before one vpmaddwd. The ints, and so the
// outputs, are RowTile's. A panel is one stream of memory where stored rows are eight.
template <size_t kTokens>
HWY_INLINE void Q4PanelTile(const rt::PanelQ4_0* panel, const QuantizedActivations& x, size_t t0,
                            const int32_t* HWY_RESTRICT corrections, float* HWY_RESTRICT out,
                            size_t out_stride, size_t valid, size_t first) {
  static_assert(rt::kPanelRows == kTileRows, "a panel is a tile");
  const size_t blocks = rt::QuantBlocks(x.cols);
  const __m256i mask = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  __m256 acc[kTokens];
  for (size_t t = 0; t < kTokens; ++t) acc[t] = _mm256_setzero_ps();
  for (size_t b = 0; b < blocks; ++b) {
    __m256i w[rt::kQuantBlock / 4];  // w[k]: the rows' weights 4k .. 4k + 3
    for (size_t k = 0; k < 4; ++k) {
      const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel[b].qs[k]));
      w[k] = _mm256_and_si256(bytes, mask);
      w[k + 4] = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask);
    }
    const __m256 w_scales =
        _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(panel[b].d)));
    for (size_t t = 0; t < kTokens; ++t) {
      const int8_t* xq = x.q.data() + ((t0 + t) * x.stride + b) * rt::kQuantBlock;
      __m256i words = _mm256_maddubs_epi16(w[0], BroadcastWord(xq));
      for (size_t k = 1; k < rt::kQuantBlock / 4; ++k) {
        words = _mm256_add_epi16(words, _mm256_maddubs_epi16(w[k], BroadcastWord(xq + 4 * k)));
      }
      const __m256i ints = _mm256_sub_epi32(_mm256_madd_epi16(words, ones),
                                            _mm256_set1_epi32(corrections[(t0 + t) * blocks + b]));
      const __m256 scales = _mm256_mul_ps(w_scales, _mm256_set1_ps(x.d[(t0 + t) * x.stride + b]));
      acc[t] = _mm256_add_ps(acc[t], _mm256_mul_ps(_mm256_cvtepi32_ps(ints), scales));
    }
  }
  StoreTile(acc, kTokens, out + t0 * out_stride, out_stride, valid, first);
}

// Tokens [t, t + k * kTokens) of a panel tile, kTokens at a time, as far as they go; t moves on.
template <size_t kTokens>
HWY_INLINE void Q4PanelTiles(const rt::PanelQ4_0* panel, const QuantizedActivations& x,
                             const int32_t* corrections, float* out, size_t out_stride,
                             size_t valid, size_t first, size_t& t) {
  for (; t + kTokens <= x.tokens; t += kTokens) {
    Q4PanelTile<kTokens>(panel, x, t, corrections, out, out_stride, valid, first);
  }
}

// MatMulRows from panels: a tile is a panel, of which rows [row_begin, row_end) are stored.
HWY_INLINE void MatMulPanels(float* HWY_RESTRICT out, size_t out_stride, const rt::PanelQ4_0* w,
                             const QuantizedActivations& x, size_t row_begin, size_t row_end) {
  const size_t blocks = rt::QuantBlocks(x.cols);
  thread_local std::vector<int32_t> corrections;  // per thread: the pool's threads call this
  Corrections(x, corrections);
  for (size_t r = row_begin - row_begin % kTileRows; r < row_end; r += kTileRows) {
    const size_t first = std::max(r, row_begin) - r;
    const size_t valid = std::min(r + kTileRows, row_end) - r - first;
    const rt::PanelQ4_0* panel = w + r / kTileRows * blocks;
    float* tile_out = out + (r + first - row_begin);
    size_t t = 0;
    Q4PanelTiles<4>(panel, x, corrections.data(), tile_out, out_stride, valid, first, t);
    Q4PanelTiles<2>(panel, x, corrections.data(), tile_out, out_stride, valid, first, t);
    Q4PanelTiles<1>(panel, x, corrections.data(), tile_out, out_stride, valid, first, t);
  }
}

}  // namespace avx2
#endif  // AVX2 and better

// out[t * out_stride + (r - row_begin)] for rows [row_begin, row_end), every token.
template <typename Block>
HWY_INLINE void Rows(float* HWY_RESTRICT out, size_t out_stride, const Block* HWY_RESTRICT w,
                     const QuantizedActivations& x, size_t row_begin, size_t row_end) {
#if defined(LMC_VNNI_KERNELS) && HWY_TARGET <= HWY_AVX3
  if (vnni::Supported()) {
    vnni::MatMulRows(out, out_stride, w, x, row_begin, row_end);
    return;
  }
#endif
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  avx2::MatMulRows(out, out_stride, w, x, row_begin, row_end);
  return;
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

// The same from a Q4_0 matrix in either layout: the panels' products are the rows' bit for bit.
HWY_INLINE void Rows(float* HWY_RESTRICT out, size_t out_stride, const rt::Q4_0Matrix& w,
                     const QuantizedActivations& x, size_t row_begin, size_t row_end) {
  if (w.rows != nullptr) {
    Rows(out, out_stride, w.rows, x, row_begin, row_end);
    return;
  }
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  avx2::MatMulPanels(out, out_stride, w.panels, x, row_begin, row_end);
  return;
#endif
  // Elsewhere (a layout chosen for another target): each row unpacked, then as stored.
  const size_t blocks = rt::QuantBlocks(x.cols);
  thread_local std::vector<rt::BlockQ4_0> row;  // per thread: the pool's threads call this
  row.resize(blocks);
  for (size_t r = row_begin; r < row_end; ++r) {
    rt::UnpackQ4_0PanelRow(w.panels, blocks, r, row.data());
    Rows(out + (r - row_begin), out_stride, row.data(), x, 0, 1);
  }
}

// Whether this target's kernels read Q4_0 faster from panels: the AVX2 integer kernels' (the
// VNNI ones read rows as stored, as the portable ones do).
bool ReadsQ4_0Panels() {
#if defined(LMC_VNNI_KERNELS) && HWY_TARGET <= HWY_AVX3
  if (vnni::Supported()) return false;
#endif
  return HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2;
}

template <typename Weights>
HWY_INLINE void SwiGluRows(float* HWY_RESTRICT out, const Weights& w_gate, const Weights& w_up,
                           const QuantizedActivations& x, size_t rows, float beta, size_t row_begin,
                           size_t row_end) {
  const size_t n = row_end - row_begin;
  thread_local std::vector<float> gate, up;  // per thread: the pool's threads call this
  gate.resize(x.tokens * n);
  up.resize(x.tokens * n);
  Rows(gate.data(), n, w_gate, x, row_begin, row_end);
  Rows(up.data(), n, w_up, x, row_begin, row_end);
  for (size_t t = 0; t < x.tokens; ++t) {
    SwiGlu(out + t * rows + row_begin, gate.data() + t * n, up.data() + t * n, static_cast<int>(n),
           beta);
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
void MatMulRowsQ4_0Matrix(float* out, const rt::Q4_0Matrix& w, const QuantizedActivations& x,
                          size_t rows, size_t row_begin, size_t row_end) {
  Rows(out + row_begin, rows, w, x, row_begin, row_end);
}
void MatMulSwiGluRowsQ4_0Matrix(float* out, const rt::Q4_0Matrix& w_gate,
                                const rt::Q4_0Matrix& w_up, const QuantizedActivations& x,
                                size_t rows, float beta, size_t row_begin, size_t row_end) {
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
HWY_EXPORT(MatMulRowsQ4_0Matrix);
HWY_EXPORT(MatMulSwiGluRowsQ4_0Matrix);
HWY_EXPORT(ReadsQ4_0Panels);

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

void MatMulRows(float* out, const rt::Q4_0Matrix& w, const QuantizedActivations& x, size_t rows,
                size_t row_begin, size_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatMulRowsQ4_0Matrix)(out, w, x, rows, row_begin, row_end);
}
void MatMulSwiGluRows(float* out, const rt::Q4_0Matrix& w_gate, const rt::Q4_0Matrix& w_up,
                      const QuantizedActivations& x, size_t rows, float beta, size_t row_begin,
                      size_t row_end) {
  HWY_DYNAMIC_DISPATCH(MatMulSwiGluRowsQ4_0Matrix)
  (out, w_gate, w_up, x, rows, beta, row_begin, row_end);
}
bool ReadsQ4_0Panels() { return HWY_DYNAMIC_DISPATCH(ReadsQ4_0Panels)(); }

}  // namespace lmc::kernels
#endif  // HWY_ONCE
