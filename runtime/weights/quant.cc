#include "runtime/weights/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/weights/kquant.h"
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

// ---- Quantizers: ggml's reference ones (quantize_row_q{4,5,6}_K_ref, without an importance
// matrix, as llama-quantize runs them), step for step, so that the bytes are llama.cpp's. Every
// f32 operation is one rounding in ggml's order (this file compiles with -ffp-contract=off).
namespace lmc::rt {
namespace {

constexpr float kGroupMaxEps = 1e-15f;  // ggml's GROUP_MAX_EPS

// ggml's nearest_int: round half to even by adding 1.5 * 2^23 (|f| < 2^22).
int NearestInt(float f) {
  const float shifted = f + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof(bits));
  return (bits & 0x007FFFFF) - 0x00400000;
}

// The scale (and, as -the_min, the min) of n values quantized to L in [0, nmax]: a first guess
// from the range, then nstep + 1 rescalings, each refitted by weighted least squares; the one
// with the smallest weighted squared error wins (ggml's make_qkx2_quants, use_mad false).
float FitScaleMin(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                  uint8_t* Laux, float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill_n(L, n, uint8_t{0});
    *the_min = -min;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = NearestInt(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    const float diff = scale * static_cast<float>(L[i]) + min - x[i];
    best_error += weights[i] * (diff * diff);
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::max(0, std::min(nmax, NearestInt(iscale * (x[i] - min))));
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      const float lf = static_cast<float>(l);
      sum_l += w * lf;
      sum_l2 += w * lf * lf;
      sum_xl += w * lf * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float error = 0;
      for (int i = 0; i < n; ++i) {
        const float diff = this_scale * static_cast<float>(Laux[i]) + this_min - x[i];
        error += weights[i] * (diff * diff);
      }
      if (error < best_error) {
        std::copy_n(Laux, n, L);
        best_error = error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// The signed scale of n values quantized to L - nmax in [-nmax, nmax - 1], weights x^2: from
// the value of largest magnitude, then 18 nearby scales tried (ggml's make_qx_quants with
// rmse_type 1 and no importance weights).
float FitScale(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::fill_n(L, n, int8_t{0});
    return 0.0f;
  }
  auto level = [&](float iscale, int i) {
    return std::max(-nmax, std::min(nmax - 1, NearestInt(iscale * x[i])));
  };
  float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = level(iscale, i);
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = level(iscale, i);
      const float w = x[i] * x[i];
      sumlx += w * x[i] * static_cast<float>(l);
      suml2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + level(iscale, i));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Q4_K and Q5_K: eight sub-blocks of 32 fitted with FitScaleMin, their scales and mins
// quantized to six bits against the largest of each, then every value requantized with the
// stored (binary16-rounded) scales.
template <typename Block, int kMax>
void QuantizeK45(const float* x, Block& y, uint8_t* L) {
  uint8_t Laux[32];
  float weights[32], mins[8], scales[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = kMax == 15
                    ? FitScaleMin(32, 15, xs, weights, L + 32 * j, &mins[j], Laux, -1.0f, 0.1f, 20)
                    : FitScaleMin(32, 31, xs, weights, L + 32 * j, &mins[j], Laux, -0.5f, 0.1f, 15);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  std::fill_n(y.scales, 12, uint8_t{0});
  for (int j = 0; j < 8; ++j) {
    const uint8_t ls =
        std::min<uint8_t>(63, static_cast<uint8_t>(NearestInt(inv_scale * scales[j])));
    const uint8_t lm = std::min<uint8_t>(63, static_cast<uint8_t>(NearestInt(inv_min * mins[j])));
    if (j < 4) {
      y.scales[j] = ls;
      y.scales[j + 4] = lm;
    } else {
      y.scales[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      y.scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      y.scales[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  y.d = F32ToF16(max_scale / 63.0f);
  y.dmin = F32ToF16(max_min / 63.0f);
  int16_t sc[8], m[8];
  UnpackScalesK4(y.scales, sc, m);
  for (int j = 0; j < 8; ++j) {
    const float d = QuantScale(y.d) * static_cast<float>(sc[j]);
    if (d == 0) continue;
    const float dm = QuantScale(y.dmin) * static_cast<float>(m[j]);
    for (int i = 0; i < 32; ++i) {
      L[32 * j + i] =
          static_cast<uint8_t>(std::max(0, std::min(kMax, NearestInt((x[32 * j + i] + dm) / d))));
    }
  }
}

}  // namespace

void QuantizeRowQ4_K(const float* x, size_t cols, BlockQ4_K* out) {
  for (size_t b = 0; b < cols / kSuperBlock; ++b) {
    uint8_t L[kSuperBlock];
    BlockQ4_K& y = out[b];
    QuantizeK45<BlockQ4_K, 15>(x + b * kSuperBlock, y, L);
    for (size_t k = 0; k < 4; ++k) {  // values 64k + l (low nibble) and 64k + 32 + l (high)
      for (size_t l = 0; l < 32; ++l) {
        y.qs[32 * k + l] = static_cast<uint8_t>(L[64 * k + l] | (L[64 * k + 32 + l] << 4));
      }
    }
  }
}

void QuantizeRowQ5_K(const float* x, size_t cols, BlockQ5_K* out) {
  for (size_t b = 0; b < cols / kSuperBlock; ++b) {
    uint8_t L[kSuperBlock];
    BlockQ5_K& y = out[b];
    QuantizeK45<BlockQ5_K, 31>(x + b * kSuperBlock, y, L);
    std::fill_n(y.qh, 32, uint8_t{0});
    for (size_t k = 0; k < 4; ++k) {
      for (size_t l = 0; l < 32; ++l) {
        const int lo = L[64 * k + l], hi = L[64 * k + 32 + l];
        y.qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * k)) | ((hi >> 4) << (2 * k + 1)));
        y.qs[32 * k + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
      }
    }
  }
}

void QuantizeRowQ6_K(const float* x, size_t cols, BlockQ6_K* out) {
  for (size_t b = 0; b < cols / kSuperBlock; ++b) {
    const float* xb = x + b * kSuperBlock;
    BlockQ6_K& y = out[b];
    int8_t L[kSuperBlock];
    float scales[16];
    float max_scale = 0, max_abs_scale = 0;
    for (int i = 0; i < 16; ++i) {
      scales[i] = FitScale(16, 32, xb + 16 * i, L + 16 * i);
      const float abs_scale = std::fabs(scales[i]);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scales[i];
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y, 0, sizeof(y));
      continue;
    }
    const float iscale = -128.0f / max_scale;
    y.d = F32ToF16(1 / iscale);
    for (int i = 0; i < 16; ++i) {
      y.scales[i] = static_cast<int8_t>(std::min(127, NearestInt(iscale * scales[i])));
    }
    for (int j = 0; j < 16; ++j) {
      const float d = QuantScale(y.d) * static_cast<float>(y.scales[j]);
      if (d == 0) continue;
      for (int i = 0; i < 16; ++i) {
        const int l = std::max(-32, std::min(31, NearestInt(xb[16 * j + i] / d)));
        L[16 * j + i] = static_cast<int8_t>(l + 32);
      }
    }
    for (size_t h = 0; h < 2; ++h) {  // values 128h + l + 32s, s = 0..3
      for (size_t l = 0; l < 32; ++l) {
        const uint8_t q0 = static_cast<uint8_t>(L[128 * h + l]);
        const uint8_t q1 = static_cast<uint8_t>(L[128 * h + l + 32]);
        const uint8_t q2 = static_cast<uint8_t>(L[128 * h + l + 64]);
        const uint8_t q3 = static_cast<uint8_t>(L[128 * h + l + 96]);
        y.ql[64 * h + l] = static_cast<uint8_t>((q0 & 0xF) | ((q2 & 0xF) << 4));
        y.ql[64 * h + l + 32] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
        y.qh[32 * h + l] = static_cast<uint8_t>((q0 >> 4) | ((q1 >> 4) << 2) | ((q2 >> 4) << 4) |
                                                ((q3 >> 4) << 6));
      }
    }
  }
}

}  // namespace lmc::rt
