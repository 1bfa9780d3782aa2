// GGUF's other block formats, defined here from their bit layouts: the k-quants (Q2_K, Q3_K,
// Q4_K, Q5_K, Q6_K: super-blocks of kSuperBlock = 256 values), the 32-value blocks Q4_1, Q5_0,
// Q5_1 and IQ4_NL, and Q8_K, the activation format the k-quants multiply with (as in ggml).
// Q8_0 and Q4_0 are in quant.h. Every struct is the block as GGUF stores it, byte for byte
// (little-endian; `uint16_t` scales are IEEE binary16 bits, widened by QuantScale).
//
// A k-quant super-block holds 256 integers q (in sub-blocks of 16 or 32 values) and, per
// sub-block, an integer scale `sc` and (Q2_K, Q4_K, Q5_K) an integer min `m`; its two binary16
// super-scales d and dmin turn them into values:
//     value = (d * sc) * q - (dmin * m)          (Q2_K, Q4_K, Q5_K; q >= 0)
//     value = (d * sc) * q                       (Q3_K, Q6_K; q and sc signed)
// (each product in f32, in that order, as ggml's dequantize_row_* computes them). Unpack gives
// a super-block's integers; the dequantizers and the scalar dot products (kquant_scalar.h) both
// start from it.
//
//   type  bytes  sub-blocks          q              sc            m
//   Q2_K   84    16 x 16             0..3           0..15         0..15
//   Q3_K  110    16 x 16             -4..3          -32..31       -
//   Q4_K  144     8 x 32             0..15          0..63         0..63
//   Q5_K  176     8 x 32             0..31          0..63         0..63
//   Q6_K  210    16 x 16             -32..31        -128..127     -
//
// The 32-value blocks: value j = q[j] * d (Q5_0: q = 5-bit - 16; IQ4_NL: q = kIq4NlValues[4-bit])
// or q[j] * d + m (Q4_1: 4-bit q; Q5_1: 5-bit q). As in Q4_0, value j < 16 is the low nibble of
// byte j and value j + 16 its high nibble; Q5_0 / Q5_1's fifth bits are bit j of the
// little-endian uint32 qh.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/weights/quant.h"

namespace lmc::rt {

inline constexpr size_t kSuperBlock = 256;  // ggml's QK_K

struct BlockQ4_1 {
  uint16_t d, m;
  uint8_t qs[16];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[16];
};

// q: 2 bits each; byte l of qs[32 * h ...] holds values 128h + l + 32s at bits 2s (s = 0..3).
// scales[i]: sc (low nibble) and m (high nibble) of sub-block i.
struct BlockQ2_K {
  uint8_t scales[16];
  uint8_t qs[64];
  uint16_t d, dmin;
};
// q = (2 low bits, as Q2_K's) + 4 * (bit of hmask) - 4: bit (j / 32) of hmask[j % 32] for value
// j. scales: 16 six-bit values, +32 (low nibbles in bytes 0-7, low then high, two high bits each
// in bytes 8-11).
struct BlockQ3_K {
  uint8_t hmask[32];
  uint8_t qs[64];
  uint8_t scales[12];
  uint16_t d;
};
// q: 4 bits; byte l of qs[32 * k ...] holds value 64k + l (low nibble) and 64k + 32 + l (high).
// scales: 8 six-bit sc and 8 six-bit m, packed as ggml's get_scale_min_k4 reads them.
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qs[128];
};
// Q4_K's low 4 bits, plus a fifth: bit 2k (low nibbles) or 2k + 1 (high) of qh[l].
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
// q = 4 low bits (ql) | 2 high bits (qh) << 4, minus 32; 16 int8 scales.
struct BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
// Activations: value j = qs[j] * d; bsums[i] = the sum of qs[16i .. 16i + 15].
struct BlockQ8_K {
  float d;
  int8_t qs[kSuperBlock];
  int16_t bsums[kSuperBlock / 16];
};

static_assert(sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24 &&
                  sizeof(BlockIQ4_NL) == 18,
              "GGUF block sizes");
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
                  sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292,
              "GGUF super-block sizes");

// IQ4_NL's 16 levels (a non-linear 4-bit code).
inline constexpr int8_t kIq4NlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// A k-quant super-block's integers: q[256] in value order; per sub-block of `sub` values
// (16 or 32), sc and (has_min) m; d and dmin widened.
struct Unpacked {
  int8_t q[kSuperBlock];
  int16_t sc[16];
  int16_t m[16];
  int sub = 16;  // values per sub-block
  bool has_min = false;
  float d = 0, dmin = 0;
};
void Unpack(const BlockQ2_K& b, Unpacked& u);
void Unpack(const BlockQ3_K& b, Unpacked& u);
void Unpack(const BlockQ4_K& b, Unpacked& u);
void Unpack(const BlockQ5_K& b, Unpacked& u);
void Unpack(const BlockQ6_K& b, Unpacked& u);

// Only the sub-block scales (sc) and mins (m; zeros without mins) of Unpack: 16 entries (Q4_K,
// Q5_K: the first 8). Inline: the SIMD products call them once per super-block.
inline void UnpackScales(const BlockQ2_K& b, int16_t* sc, int16_t* m) {
  for (size_t i = 0; i < 16; ++i) {
    sc[i] = b.scales[i] & 0xF;
    m[i] = b.scales[i] >> 4;
  }
}
inline void UnpackScales(const BlockQ3_K& b, int16_t* sc, int16_t* m) {
  for (size_t i = 0; i < 16; ++i) {
    const int low = i < 8 ? b.scales[i] & 0xF : b.scales[i - 8] >> 4;
    const int high = (b.scales[8 + i % 4] >> (2 * (i / 4))) & 3;
    sc[i] = static_cast<int16_t>((low | (high << 4)) - 32);
    m[i] = 0;
  }
}
// Q4_K / Q5_K's packed six-bit scales and mins (ggml's get_scale_min_k4): sub-blocks 0-3 in the
// low six bits of bytes 0-3 (sc) and 4-7 (m); 4-7 in the nibbles of bytes 8-11, with their two
// high bits in the top bits of bytes 0-3 (sc) and 4-7 (m).
inline void UnpackScalesK4(const uint8_t* s, int16_t* sc, int16_t* m) {
  for (int i = 0; i < 4; ++i) {
    sc[i] = s[i] & 63;
    m[i] = s[i + 4] & 63;
    sc[i + 4] = static_cast<int16_t>((s[i + 8] & 0xF) | ((s[i] >> 6) << 4));
    m[i + 4] = static_cast<int16_t>((s[i + 8] >> 4) | ((s[i + 4] >> 6) << 4));
  }
}
inline void UnpackScales(const BlockQ4_K& b, int16_t* sc, int16_t* m) {
  UnpackScalesK4(b.scales, sc, m);
}
inline void UnpackScales(const BlockQ5_K& b, int16_t* sc, int16_t* m) {
  UnpackScalesK4(b.scales, sc, m);
}
inline void UnpackScales(const BlockQ6_K& b, int16_t* sc, int16_t* m) {
  for (size_t i = 0; i < 16; ++i) {
    sc[i] = b.scales[i];
    m[i] = 0;
  }
}

// A 32-value block's integers: q[32] in value order (Q5_0: -16..15; IQ4_NL: the levels;
// Q4_1 / Q5_1: 0..15 / 0..31).
void UnpackQ(const BlockQ4_1& b, int8_t* q);
void UnpackQ(const BlockQ5_0& b, int8_t* q);
void UnpackQ(const BlockQ5_1& b, int8_t* q);
void UnpackQ(const BlockIQ4_NL& b, int8_t* q);

// One block's values (32 or 256), as ggml's dequantize_row_* gives them bit for bit.
void DequantizeBlock(const BlockQ4_1& b, float* out);
void DequantizeBlock(const BlockQ5_0& b, float* out);
void DequantizeBlock(const BlockQ5_1& b, float* out);
void DequantizeBlock(const BlockIQ4_NL& b, float* out);
void DequantizeBlock(const BlockQ2_K& b, float* out);
void DequantizeBlock(const BlockQ3_K& b, float* out);
void DequantizeBlock(const BlockQ4_K& b, float* out);
void DequantizeBlock(const BlockQ5_K& b, float* out);
void DequantizeBlock(const BlockQ6_K& b, float* out);

// ggml's quantize_row_q8_K_ref, for `cols` (a multiple of 256) finite floats: per super-block,
// max = the value of largest magnitude with its sign (the first on ties); a zero block is all
// zeros; else iscale = -127 / max, q = min(127, round-half-even(iscale * x)) (ggml's nearest_int),
// d = 1 / iscale, and bsums the sums of 16. Non-finite inputs give some q in [-127, 127].
void QuantizeRowQ8_K(const float* x, size_t cols, BlockQ8_K* out);

// ggml's reference quantizers (quantize_row_q4_K_ref, _q5_K_ref, _q6_K_ref: what llama-quantize
// runs without an importance matrix), step for step, for `cols` (a multiple of 256) finite
// floats: the same bytes. In quant.cc (lmc_runtime: they round scales with F32ToF16).
void QuantizeRowQ4_K(const float* x, size_t cols, BlockQ4_K* out);
void QuantizeRowQ5_K(const float* x, size_t cols, BlockQ5_K* out);
void QuantizeRowQ6_K(const float* x, size_t cols, BlockQ6_K* out);
// The same for Q2_K and Q3_K (quantize_row_q2_K_ref, _q3_K_ref), and for the 32-value blocks,
// `cols` a multiple of 32: Q4_1, Q5_0 and Q5_1 as quantize_row_q4_1_ref, _q5_0_ref, _q5_1_ref,
// IQ4_NL as quantize_iq4_nl without an importance matrix (ggml_quantize_chunk's and
// llama-quantize's choice; 15 scales tried per block, not quantize_row_iq4_nl_ref's one).
void QuantizeRowQ2_K(const float* x, size_t cols, BlockQ2_K* out);
void QuantizeRowQ3_K(const float* x, size_t cols, BlockQ3_K* out);
void QuantizeRowQ4_1(const float* x, size_t cols, BlockQ4_1* out);
void QuantizeRowQ5_0(const float* x, size_t cols, BlockQ5_0* out);
void QuantizeRowQ5_1(const float* x, size_t cols, BlockQ5_1* out);
void QuantizeRowIQ4_NL(const float* x, size_t cols, BlockIQ4_NL* out);

}  // namespace lmc::rt
