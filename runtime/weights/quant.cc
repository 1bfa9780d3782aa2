#include "runtime/weights/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/weights/tensor_source.h"

namespace lmc::rt {
namespace {

// Block b of the row, zero-padded to kQuantBlock values.
void LoadBlock(const float* x, size_t cols, size_t b, float* block) {
  const size_t begin = b * kQuantBlock, n = std::min(kQuantBlock, cols - begin);
  std::fill_n(block, kQuantBlock, 0.0f);
  std::memcpy(block, x + begin, n * sizeof(float));
}

}  // namespace

void QuantizeRowQ8_0(const float* x, size_t cols, BlockQ8_0* out) {
  for (size_t b = 0; b < QuantBlocks(cols); ++b) {
    float v[kQuantBlock];
    LoadBlock(x, cols, b, v);
    float amax = 0.0f;
    for (float f : v) amax = std::max(amax, std::fabs(f));
    const float d = amax / 127.0f;
    // Below FLT_MIN, 1 / d would overflow (and 0 * inf is NaN); such a block is zero in f16.
    const float id = d >= std::numeric_limits<float>::min() ? 1.0f / d : 0.0f;
    out[b].d = F32ToF16(d);
    for (size_t j = 0; j < kQuantBlock; ++j) {
      // |v * id| <= 127 up to rounding; the clamp keeps a float error from wrapping.
      out[b].q[j] = static_cast<int8_t>(std::clamp(std::round(v[j] * id), -127.0f, 127.0f));
    }
  }
}

void QuantizeRowQ4_0(const float* x, size_t cols, BlockQ4_0* out) {
  for (size_t b = 0; b < QuantBlocks(cols); ++b) {
    float v[kQuantBlock];
    LoadBlock(x, cols, b, v);
    float amax = 0.0f, max = 0.0f;
    for (float f : v) {
      if (amax < std::fabs(f)) {
        amax = std::fabs(f);
        max = f;
      }
    }
    const float d = max / -8.0f;
    const float id = std::fabs(d) >= std::numeric_limits<float>::min() ? 1.0f / d : 0.0f;
    out[b].d = F32ToF16(d);
    auto nibble = [&](float f) {
      // f * id is in [-8, 8] up to rounding, so f * id + 8.5 in [0.5, 16.5]: the clamps only
      // guard against float error.
      const float shifted = std::clamp(f * id + 8.5f, 0.0f, 15.0f);
      return static_cast<uint8_t>(static_cast<int>(shifted));
    };
    for (size_t j = 0; j < kQuantBlock / 2; ++j) {
      out[b].qs[j] = static_cast<uint8_t>(nibble(v[j]) | (nibble(v[j + kQuantBlock / 2]) << 4));
    }
  }
}

void DequantizeRowQ8_0(const BlockQ8_0* blocks, size_t cols, float* out) {
  for (size_t i = 0; i < cols; ++i) {
    const BlockQ8_0& blk = blocks[i / kQuantBlock];
    out[i] = static_cast<float>(blk.q[i % kQuantBlock]) * QuantScale(blk.d);
  }
}

void DequantizeRowQ4_0(const BlockQ4_0* blocks, size_t cols, float* out) {
  constexpr size_t kHalf = kQuantBlock / 2;
  for (size_t i = 0; i < cols; ++i) {
    const BlockQ4_0& blk = blocks[i / kQuantBlock];
    const size_t j = i % kQuantBlock;
    const int nibble = j < kHalf ? blk.qs[j] & 0xF : blk.qs[j - kHalf] >> 4;
    out[i] = static_cast<float>(nibble - 8) * QuantScale(blk.d);
  }
}

}  // namespace lmc::rt
