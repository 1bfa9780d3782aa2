// Block-quantized weight matrices in GGUF's Q8_0 and Q4_0 layouts.
//
// A row of `cols` values is cut into blocks of kQuantBlock = 32 consecutive
// values, each stored as one IEEE binary16 scale d and 32 small integers:
//   Q8_0: d, then q[0..31] as int8; value j = q[j] * d.
//   Q4_0: d, then 16 bytes; value j (j < 16) is the low nibble of byte j and
//         value j + 16 its high nibble, each as (nibble - 8) * d.
// A row whose length is not a multiple of 32 ends with a partial block padded
// with zeros (the padding dequantizes to 0 and multiplies nothing), so every
// row starts on a block boundary: row r is blocks [r * QuantBlocks(cols),
// (r + 1) * QuantBlocks(cols)).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>

namespace lmc::rt {

inline constexpr size_t kQuantBlock = 32;

struct BlockQ8_0 {
  uint16_t d;  // binary16 bits
  int8_t q[kQuantBlock];
};
struct BlockQ4_0 {
  uint16_t d;  // binary16 bits
  uint8_t qs[kQuantBlock / 2];
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18, "GGUF block sizes");

// Blocks per row of `cols` values.
constexpr size_t QuantBlocks(size_t cols) { return (cols + kQuantBlock - 1) / kQuantBlock; }

// Block b of eight consecutive rows of a Q4_0 matrix, interleaved for the AVX2 kernels:
// qs[k][r] is row r's bytes 4k .. 4k + 3 (so a 32-byte load holds four bytes of each row,
// and one mask and one shift give eight rows' weights 4k .. 4k + 3 and 16 + 4k .. 19 + 4k), d[r]
// its scale. The same bytes as the eight BlockQ4_0, in another order.
inline constexpr size_t kPanelRows = 8;
struct PanelQ4_0 {
  uint8_t qs[kQuantBlock / 8][kPanelRows][4];
  uint16_t d[kPanelRows];
};
static_assert(sizeof(PanelQ4_0) == kPanelRows * sizeof(BlockQ4_0), "a panel is its rows' bytes");

// A Q4_0 matrix [rows, cols] as the kernels read it: `rows` as stored, or, where they read them
// faster (x86 without VNNI), `panels` (the other null): panel p * blocks + b is block b of
// rows 8p .. 8p + 7, a last partial panel padded with zero rows.
struct Q4_0Matrix {
  const BlockQ4_0* rows = nullptr;
  const PanelQ4_0* panels = nullptr;
};

// Panels of a matrix of `rows` rows of `blocks` blocks.
constexpr size_t Q4_0PanelCount(size_t rows, size_t blocks) {
  return (rows + kPanelRows - 1) / kPanelRows * blocks;
}
// Rows [0, rows) of `w` (rows * blocks blocks) as Q4_0PanelCount(rows, blocks) panels, and back:
// row r's blocks out of `panels`.
inline void PackQ4_0Panels(const BlockQ4_0* w, size_t rows, size_t blocks, PanelQ4_0* panels) {
  BlockQ4_0 zero{0, {}};
  std::fill(std::begin(zero.qs), std::end(zero.qs), uint8_t{0x88});  // weights 0
  for (size_t r0 = 0; r0 < rows; r0 += kPanelRows) {
    for (size_t b = 0; b < blocks; ++b) {
      PanelQ4_0& panel = panels[r0 / kPanelRows * blocks + b];
      for (size_t i = 0; i < kPanelRows; ++i) {
        const BlockQ4_0& block = r0 + i < rows ? w[(r0 + i) * blocks + b] : zero;
        panel.d[i] = block.d;
        for (size_t k = 0; k < std::size(panel.qs); ++k) {
          std::memcpy(panel.qs[k][i], block.qs + 4 * k, 4);
        }
      }
    }
  }
}

inline void UnpackQ4_0PanelRow(const PanelQ4_0* panels, size_t blocks, size_t r, BlockQ4_0* row) {
  const size_t i = r % kPanelRows;
  for (size_t b = 0; b < blocks; ++b) {
    const PanelQ4_0& panel = panels[r / kPanelRows * blocks + b];
    row[b].d = panel.d[i];
    for (size_t k = 0; k < std::size(panel.qs); ++k) {
      std::memcpy(row[b].qs + 4 * k, panel.qs[k][i], 4);
    }
  }
}

// Exact widening of binary16 bits to float (as F16ToF32, branch-light for the kernels): the
// f16 exponent and mantissa, shifted into a float, are the value times 2^-112, which one
// exact multiplication undoes (subnormals included).
inline float QuantScale(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t rest = half & 0x7FFFu;
  if (rest >= 0x7C00u) return std::bit_cast<float>(sign | 0x7F800000u | ((rest & 0x3FFu) << 13));
  const float magnitude = std::bit_cast<float>(rest << 13) * 0x1p112f;
  return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(magnitude));
}

// Quantize one row of `cols` finite floats into QuantBlocks(cols) blocks, as ggml's reference
// quantize_row_q8_0 / quantize_row_q4_0 do (the last block zero-padded):
//   Q8_0: d = amax / 127, q = round(x / d) (x times 1/d, rounded half away from zero).
//   Q4_0: m = the value of largest magnitude, with its sign (the first on ties);
//         d = m / -8, q = min(15, (int)(x / d + 8.5)).
// A zero block has d = 0 and every q 0 (Q8_0) or 8 (Q4_0).
void QuantizeRowQ8_0(const float* x, size_t cols, BlockQ8_0* out);
void QuantizeRowQ4_0(const float* x, size_t cols, BlockQ4_0* out);

// The row's `cols` values as the blocks store them (value = q * d, the padding dropped).
void DequantizeRowQ8_0(const BlockQ8_0* blocks, size_t cols, float* out);
void DequantizeRowQ4_0(const BlockQ4_0* blocks, size_t cols, float* out);

// Activations are quantized on the fly for the integer dot products of the Q8_0 / Q4_0
// kernels (ggml's Q8_0 activation blocks, with an f32 scale): the row's `cols` floats become
// QuantBlocks(cols) blocks of 32 int8 q (the last block zero-padded) and one scale d each:
//   d = amax / 127, q = round(x * (1 / d)) rounded half away from zero, within [-127, 127];
//   a zero block has d = 0 and every q 0.
// q: QuantBlocks(cols) * 32 bytes; d: QuantBlocks(cols) floats. The kernels and the reference
// interpreter both call this one routine, so they see the same integers.
inline void QuantizeActivationRow(const float* x, size_t cols, int8_t* q, float* d) {
  for (size_t b = 0; b < QuantBlocks(cols); ++b) {
    const size_t begin = b * kQuantBlock, n = std::min(kQuantBlock, cols - begin);
    float amax = 0.0f;
    for (size_t j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[begin + j]));
    const float scale = amax / 127.0f;
    // Below FLT_MIN, 1 / scale would overflow (and 0 * inf is NaN): such a block counts as zero.
    const float inv = scale >= std::numeric_limits<float>::min() ? 1.0f / scale : 0.0f;
    d[b] = scale;
    for (size_t j = 0; j < kQuantBlock; ++j) {
      const float v = j < n ? std::round(x[begin + j] * inv) : 0.0f;
      // |x * inv| <= 127 up to rounding; the clamp keeps a float error from wrapping. A
      // non-finite activation (inf * 0) becomes 0 rather than an undefined conversion.
      q[begin + j] = v == v ? static_cast<int8_t>(std::clamp(v, -127.0f, 127.0f)) : 0;
    }
  }
}

}  // namespace lmc::rt
