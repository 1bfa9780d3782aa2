#include "runtime/weights/quant.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "runtime/util/error.h"
#include "runtime/weights/kquant.h"
#include "runtime/weights/quantize.h"
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
// With `mad` the error is the weighted absolute difference instead (Q2_K's use_mad).
float FitScaleMin(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                  uint8_t* Laux, float rmin, float rdelta, int nstep, bool mad = false) {
  auto error_of = [mad](float diff) { return mad ? std::fabs(diff) : diff * diff; };
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
    best_error += weights[i] * error_of(diff);
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
        error += weights[i] * error_of(diff);
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

// The first of the values of largest magnitude, with its sign (0 when all are 0).
float LargestMagnitude(int n, const float* x) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  return max;
}

// The signed scale of n values quantized to L - nmax in [-nmax, nmax - 1], weights x^2: from
// the value of largest magnitude, then 18 nearby scales tried (ggml's make_qx_quants with
// rmse_type 1 and no importance weights).
float FitScale(int n, int nmax, const float* x, int8_t* L) {
  const float max = LargestMagnitude(n, x);
  if (std::fabs(max) < kGroupMaxEps) {
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

// Q3_K's sub-block fit (ggml's make_q3_quants with do_rmse): levels l in [-nmax, nmax - 1]
// from the value of largest magnitude, then up to five passes that move single levels to where
// the weighted (x^2) least-squares scale prefers them, each move kept only when it raises
// sumlx^2 / suml2. L gets l + nmax; returns sumlx / suml2.
float FitScaleQ3(int n, int nmax, const float* x, int8_t* L) {
  const float max = LargestMagnitude(n, x);
  if (std::fabs(max) < kGroupMaxEps) {
    std::fill_n(L, n, int8_t{0});
    return 0.0f;
  }
  const float iscale = static_cast<float>(-nmax) / max;
  auto clamp = [nmax](int l) { return std::max(-nmax, std::min(nmax - 1, l)); };
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<int8_t>(clamp(NearestInt(iscale * x[i])));
    const float w = x[i] * x[i], l = static_cast<float>(L[i]);
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int pass = 0; pass < 5; ++pass) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i], old_l = static_cast<float>(L[i]);
      float slx = sumlx - w * x[i] * old_l;
      if (slx <= 0) continue;
      float sl2 = suml2 - w * old_l * old_l;
      const int new_l = clamp(NearestInt(x[i] * sl2 / slx));
      if (new_l == L[i]) continue;
      const float l = static_cast<float>(new_l);
      slx += w * x[i] * l;
      sl2 += w * l * l;
      if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
        L[i] = static_cast<int8_t>(new_l);
        sumlx = slx;
        suml2 = sl2;
        ++changed;
      }
    }
    if (changed == 0) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// The index of IQ4_NL's level nearest to x (the lower one on a tie; ggml's best_index_int8).
int NearestIq4NlLevel(float x) {
  const int8_t* v = kIq4NlValues;
  if (x <= static_cast<float>(v[0])) return 0;
  if (x >= static_cast<float>(v[15])) return 15;
  int lo = 0, hi = 15;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (x < static_cast<float>(v[mid])) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return x - static_cast<float>(v[hi - 1]) < static_cast<float>(v[hi]) - x ? hi - 1 : hi;
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

// ---- The 32-value blocks (quantize_row_q4_1_ref, _q5_0_ref, _q5_1_ref, and IQ4_NL as
// quantize_iq4_nl without an importance matrix: what llama-quantize and ggml_quantize_chunk run).
namespace {

// ggml rounds a level by converting x + 0.5 (or + 16.5) to int8_t / uint8_t: on x86 a
// truncation to int32 (INT32_MIN for NaN or out of range, as cvttss2si gives) keeping the low
// byte. Levels are within [0, 32] up to rounding; the rest only happens when a scale's
// reciprocal overflows (a subnormal scale), and is reproduced rather than left undefined.
int TruncatedByte(float v) {
  const int32_t i = v >= -2147483648.0f && v < 2147483648.0f ? static_cast<int32_t>(v) : INT32_MIN;
  return static_cast<int8_t>(static_cast<uint8_t>(static_cast<uint32_t>(i) & 0xFF));
}

// Q4_1 / Q5_1: levels (x - min) / d for d = (max - min) / kMax, rounded by + 0.5 and truncation.
template <int kMax>
void AffineLevels(const float* x, uint16_t& d_bits, uint16_t& m_bits, uint8_t* L) {
  float min = std::numeric_limits<float>::max(), max = -std::numeric_limits<float>::max();
  for (size_t j = 0; j < kQuantBlock; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
  const float d = (max - min) / static_cast<float>(kMax);
  const float id = d != 0 ? 1 / d : 0.0f;
  d_bits = F32ToF16(d);
  m_bits = F32ToF16(min);
  for (size_t j = 0; j < kQuantBlock; ++j) {
    const int l = TruncatedByte((x[j] - min) * id + 0.5f);  // as int8_t (Q4_1), uint8_t (Q5_1)
    L[j] = static_cast<uint8_t>(kMax == 15 ? std::min(15, l) : l);
  }
}

// Q5_0: the value of largest magnitude m (signed, the first on ties) sets d = m / -16; levels
// x / d + 16.5 truncated, at most 31.
void SignedLevels5(const float* x, uint16_t& d_bits, uint8_t* L) {
  float amax = 0, max = 0;
  for (size_t j = 0; j < kQuantBlock; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  const float d = max / -16.0f;
  const float id = d != 0 ? 1 / d : 0.0f;
  d_bits = F32ToF16(d);
  for (size_t j = 0; j < kQuantBlock; ++j) {
    L[j] = static_cast<uint8_t>(std::min(31, TruncatedByte(x[j] * id + 16.5f)));
  }
}

// Values j and j + 16 share byte j (low, high nibble); with qh, the fifth bits go to bit j of
// qh (without, as ggml, a level is not masked to its nibble: only the wrapped bytes above
// differ).
void PackNibbles(const uint8_t* L, uint8_t* qs, uint8_t* qh) {
  uint32_t high = 0;
  for (size_t j = 0; j < kQuantBlock / 2; ++j) {
    const uint8_t lo = L[j], hi = L[j + kQuantBlock / 2];
    qs[j] = qh != nullptr ? static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4))
                          : static_cast<uint8_t>(lo | (hi << 4));
    high |= static_cast<uint32_t>((lo >> 4) & 1) << j;
    high |= static_cast<uint32_t>((hi >> 4) & 1) << (j + kQuantBlock / 2);
  }
  if (qh != nullptr) std::memcpy(qh, &high, sizeof(high));
}

}  // namespace

void QuantizeRowQ4_1(const float* x, size_t cols, BlockQ4_1* out) {
  for (size_t b = 0; b < cols / kQuantBlock; ++b) {
    uint8_t L[kQuantBlock];
    AffineLevels<15>(x + b * kQuantBlock, out[b].d, out[b].m, L);
    PackNibbles(L, out[b].qs, nullptr);
  }
}

void QuantizeRowQ5_0(const float* x, size_t cols, BlockQ5_0* out) {
  for (size_t b = 0; b < cols / kQuantBlock; ++b) {
    uint8_t L[kQuantBlock];
    SignedLevels5(x + b * kQuantBlock, out[b].d, L);
    PackNibbles(L, out[b].qs, out[b].qh);
  }
}

void QuantizeRowQ5_1(const float* x, size_t cols, BlockQ5_1* out) {
  for (size_t b = 0; b < cols / kQuantBlock; ++b) {
    uint8_t L[kQuantBlock];
    AffineLevels<31>(x + b * kQuantBlock, out[b].d, out[b].m, L);
    PackNibbles(L, out[b].qs, out[b].qh);
  }
}

// Per block, weights x^2: d from the value of largest magnitude m (m / 127), refitted by weighted
// least squares; then 15 more scales (levels x * (t - 127) / m, t = -7..7) tried, the best fit
// kept; the levels are finally taken against the f32 scale (binary16 only when stored).
void QuantizeRowIQ4_NL(const float* x, size_t cols, BlockIQ4_NL* out) {
  constexpr int kTries = 7;
  for (size_t b = 0; b < cols / kQuantBlock; ++b) {
    const float* xb = x + b * kQuantBlock;
    float amax = 0, max = 0;
    for (size_t j = 0; j < kQuantBlock; ++j) {
      const float ax = std::fabs(xb[j]);
      if (ax > amax) {
        amax = ax;
        max = xb[j];
      }
    }
    float d = 0;
    if (amax >= kGroupMaxEps) {
      const float first = static_cast<float>(kIq4NlValues[0]);
      auto fit = [&](float id, float& sumqx, float& sumq2) {
        sumqx = sumq2 = 0;
        for (size_t j = 0; j < kQuantBlock; ++j) {
          const float q = static_cast<float>(kIq4NlValues[NearestIq4NlLevel(id * xb[j])]);
          const float w = xb[j] * xb[j];
          sumqx += w * q * xb[j];
          sumq2 += w * q * q;
        }
      };
      float sumqx, sumq2;
      fit(1 / (-max / first), sumqx, sumq2);
      d = sumq2 > 0 ? sumqx / sumq2 : 0.0f;
      float best = d * sumqx;
      for (int t = -kTries; t <= kTries; ++t) {
        fit(static_cast<float>(t + kIq4NlValues[0]) / max, sumqx, sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
          d = sumqx / sumq2;
          best = d * sumqx;
        }
      }
    }
    out[b].d = F32ToF16(d);
    const float id = d != 0 ? 1 / d : 0.0f;
    uint8_t L[kQuantBlock];
    for (size_t j = 0; j < kQuantBlock; ++j) {
      L[j] = static_cast<uint8_t>(NearestIq4NlLevel(id * xb[j]));
    }
    PackNibbles(L, out[b].qs, nullptr);
  }
}

// ---- Q2_K and Q3_K (quantize_row_q2_K_ref, _q3_K_ref).

// Sixteen sub-blocks of 16, each fitted with FitScaleMin (weights |x|, absolute error), scales
// and mins quantized to four bits against the largest of each, then every value requantized
// with the stored scales.
void QuantizeRowQ2_K(const float* x, size_t cols, BlockQ2_K* out) {
  for (size_t b = 0; b < cols / kSuperBlock; ++b) {
    const float* xb = x + b * kSuperBlock;
    BlockQ2_K& y = out[b];
    uint8_t L[kSuperBlock], Laux[16];
    float weights[16], scales[16], mins[16];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(xb[16 * j + l]);
      scales[j] = FitScaleMin(16, 3, xb + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f,
                              15, /*mad=*/true);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    std::fill_n(y.scales, 16, uint8_t{0});
    y.d = y.dmin = F32ToF16(0.0f);
    if (max_scale > 0) {
      const float iscale = 15.0f / max_scale;
      for (int j = 0; j < 16; ++j)
        y.scales[j] = static_cast<uint8_t>(NearestInt(iscale * scales[j]));
      y.d = F32ToF16(max_scale / 15.0f);
    }
    if (max_min > 0) {
      const float iscale = 15.0f / max_min;
      for (int j = 0; j < 16; ++j) {
        y.scales[j] |= static_cast<uint8_t>(NearestInt(iscale * mins[j]) << 4);
      }
      y.dmin = F32ToF16(max_min / 15.0f);
    }
    for (int j = 0; j < 16; ++j) {
      const float d = QuantScale(y.d) * static_cast<float>(y.scales[j] & 0xF);
      if (d == 0) continue;
      const float dm = QuantScale(y.dmin) * static_cast<float>(y.scales[j] >> 4);
      for (int i = 0; i < 16; ++i) {
        L[16 * j + i] =
            static_cast<uint8_t>(std::max(0, std::min(3, NearestInt((xb[16 * j + i] + dm) / d))));
      }
    }
    for (size_t h = 0; h < 2; ++h) {  // byte l of qs[32h ...]: values 128h + l + 32s at bits 2s
      for (size_t l = 0; l < 32; ++l) {
        const uint8_t* q = L + 128 * h + l;
        y.qs[32 * h + l] = static_cast<uint8_t>(q[0] | (q[32] << 2) | (q[64] << 4) | (q[96] << 6));
      }
    }
  }
}

// Sixteen sub-blocks of 16 fitted with FitScaleQ3, their signed scales quantized to six bits
// (-32..31) against the one of largest magnitude, then every value requantized to -4..3.
void QuantizeRowQ3_K(const float* x, size_t cols, BlockQ3_K* out) {
  for (size_t b = 0; b < cols / kSuperBlock; ++b) {
    const float* xb = x + b * kSuperBlock;
    BlockQ3_K& y = out[b];
    int8_t L[kSuperBlock];
    float scales[16];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = FitScaleQ3(16, 4, xb + 16 * j, L + 16 * j);
      if (std::fabs(scales[j]) > amax) {
        amax = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    std::fill_n(y.scales, 12, uint8_t{0});
    y.d = F32ToF16(0.0f);
    if (max_scale != 0) {
      const float iscale = -32.0f / max_scale;
      for (int j = 0; j < 16; ++j) {
        const int l = std::max(-32, std::min(31, NearestInt(iscale * scales[j]))) + 32;
        if (j < 8) {
          y.scales[j] = static_cast<uint8_t>(l & 0xF);
        } else {
          y.scales[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
        }
        y.scales[8 + j % 4] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
      }
      y.d = F32ToF16(1 / iscale);
    }
    int16_t sc[16], unused[16];
    UnpackScales(y, sc, unused);
    for (int j = 0; j < 16; ++j) {
      const float d = QuantScale(y.d) * static_cast<float>(sc[j]);
      if (d == 0) continue;
      for (int i = 0; i < 16; ++i) {
        const int l = std::max(-4, std::min(3, NearestInt(xb[16 * j + i] / d)));
        L[16 * j + i] = static_cast<int8_t>(l + 4);
      }
    }
    // The third bit of value j is bit j / 32 of hmask[j % 32]; the low two as Q2_K's.
    std::fill_n(y.hmask, 32, uint8_t{0});
    for (size_t j = 0; j < kSuperBlock; ++j) {
      if (L[j] > 3) {
        y.hmask[j % 32] |= static_cast<uint8_t>(1u << (j / 32));
        L[j] = static_cast<int8_t>(L[j] - 4);
      }
    }
    for (size_t h = 0; h < 2; ++h) {
      for (size_t l = 0; l < 32; ++l) {
        const int8_t* q = L + 128 * h + l;
        y.qs[32 * h + l] = static_cast<uint8_t>(q[0] | (q[32] << 2) | (q[64] << 4) | (q[96] << 6));
      }
    }
  }
}

bool CanQuantize(DType dtype) {
  switch (dtype) {
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kIQ4_NL:
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return true;
    default:
      return false;
  }
}

void QuantizeRow(DType dtype, const float* x, size_t cols, std::byte* out) {
  switch (dtype) {
    case DType::kQ8_0:
      return QuantizeRowQ8_0(x, cols, reinterpret_cast<BlockQ8_0*>(out));
    case DType::kQ4_0:
      return QuantizeRowQ4_0(x, cols, reinterpret_cast<BlockQ4_0*>(out));
    case DType::kQ4_1:
      return QuantizeRowQ4_1(x, cols, reinterpret_cast<BlockQ4_1*>(out));
    case DType::kQ5_0:
      return QuantizeRowQ5_0(x, cols, reinterpret_cast<BlockQ5_0*>(out));
    case DType::kQ5_1:
      return QuantizeRowQ5_1(x, cols, reinterpret_cast<BlockQ5_1*>(out));
    case DType::kIQ4_NL:
      return QuantizeRowIQ4_NL(x, cols, reinterpret_cast<BlockIQ4_NL*>(out));
    case DType::kQ2_K:
      return QuantizeRowQ2_K(x, cols, reinterpret_cast<BlockQ2_K*>(out));
    case DType::kQ3_K:
      return QuantizeRowQ3_K(x, cols, reinterpret_cast<BlockQ3_K*>(out));
    case DType::kQ4_K:
      return QuantizeRowQ4_K(x, cols, reinterpret_cast<BlockQ4_K*>(out));
    case DType::kQ5_K:
      return QuantizeRowQ5_K(x, cols, reinterpret_cast<BlockQ5_K*>(out));
    case DType::kQ6_K:
      return QuantizeRowQ6_K(x, cols, reinterpret_cast<BlockQ6_K*>(out));
    default:
      Fail("internal error: no quantizer for {}", DTypeName(dtype));
  }
}

}  // namespace lmc::rt
