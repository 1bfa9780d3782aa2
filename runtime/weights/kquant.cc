#include "runtime/weights/kquant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace lmc::rt {
namespace {

// Q2_K / Q3_K's two low bits of value v.
int Low2(const uint8_t* qs, size_t v) {
  return (qs[32 * (v / 128) + v % 32] >> (2 * (v % 128 / 32))) & 3;
}

// ggml's nearest_int: round half to even by adding 1.5 * 2^23 (|f| < 2^22).
int NearestInt(float f) {
  const float shifted = f + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof(bits));
  return (bits & 0x007FFFFF) - 0x00400000;
}

// value = (d * sc) * q - (dmin * m), or (d * sc) * q without mins: each product in f32.
void FromUnpacked(const Unpacked& u, float* out) {
  for (size_t v = 0; v < kSuperBlock; ++v) {
    const size_t s = v / static_cast<size_t>(u.sub);
    const float scale = u.d * static_cast<float>(u.sc[s]);
    const float value = scale * static_cast<float>(u.q[v]);
    out[v] = u.has_min ? value - u.dmin * static_cast<float>(u.m[s]) : value;
  }
}

// The 32 four-bit codes of a block (values j and j + 16 from byte j), and Q5's fifth bits.
void Nibbles(const uint8_t* qs, int* q) {
  for (size_t j = 0; j < 16; ++j) {
    q[j] = qs[j] & 0xF;
    q[j + 16] = qs[j] >> 4;
  }
}
void AddFifthBits(const uint8_t* qh, int* q) {
  uint32_t bits;
  std::memcpy(&bits, qh, sizeof(bits));
  for (size_t j = 0; j < 32; ++j) q[j] |= static_cast<int>((bits >> j) & 1) << 4;
}

}  // namespace

void Unpack(const BlockQ2_K& b, Unpacked& u) {
  for (size_t v = 0; v < kSuperBlock; ++v) u.q[v] = static_cast<int8_t>(Low2(b.qs, v));
  UnpackScales(b, u.sc, u.m);
  u.sub = 16;
  u.has_min = true;
  u.d = QuantScale(b.d);
  u.dmin = QuantScale(b.dmin);
}

void Unpack(const BlockQ3_K& b, Unpacked& u) {
  for (size_t v = 0; v < kSuperBlock; ++v) {
    const int high = (b.hmask[v % 32] >> (v / 32)) & 1;
    u.q[v] = static_cast<int8_t>(Low2(b.qs, v) + 4 * high - 4);
  }
  UnpackScales(b, u.sc, u.m);
  u.sub = 16;
  u.has_min = false;
  u.d = QuantScale(b.d);
  u.dmin = 0;
}

void Unpack(const BlockQ4_K& b, Unpacked& u) {
  for (size_t v = 0; v < kSuperBlock; ++v) {
    const uint8_t byte = b.qs[32 * (v / 64) + v % 32];
    u.q[v] = static_cast<int8_t>(v % 64 < 32 ? byte & 0xF : byte >> 4);
  }
  UnpackScales(b, u.sc, u.m);
  u.sub = 32;
  u.has_min = true;
  u.d = QuantScale(b.d);
  u.dmin = QuantScale(b.dmin);
}

void Unpack(const BlockQ5_K& b, Unpacked& u) {
  for (size_t v = 0; v < kSuperBlock; ++v) {
    const uint8_t byte = b.qs[32 * (v / 64) + v % 32];
    const int low = v % 64 < 32 ? byte & 0xF : byte >> 4;
    const int high = (b.qh[v % 32] >> (v / 32)) & 1;  // bit 2k (low nibbles) or 2k + 1
    u.q[v] = static_cast<int8_t>(low | (high << 4));
  }
  UnpackScales(b, u.sc, u.m);
  u.sub = 32;
  u.has_min = true;
  u.d = QuantScale(b.d);
  u.dmin = QuantScale(b.dmin);
}

void Unpack(const BlockQ6_K& b, Unpacked& u) {
  for (size_t v = 0; v < kSuperBlock; ++v) {
    const size_t half = v / 128, s = v % 128 / 32, l = v % 32;  // value 128 half + 32 s + l
    const uint8_t low_byte = b.ql[64 * half + l + 32 * (s % 2)];
    const int low = s < 2 ? low_byte & 0xF : low_byte >> 4;
    const int high = (b.qh[32 * half + l] >> (2 * s)) & 3;
    u.q[v] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
  UnpackScales(b, u.sc, u.m);
  u.sub = 16;
  u.has_min = false;
  u.d = QuantScale(b.d);
  u.dmin = 0;
}

void UnpackQ(const BlockQ4_1& b, int8_t* q) {
  int v[32];
  Nibbles(b.qs, v);
  for (size_t j = 0; j < 32; ++j) q[j] = static_cast<int8_t>(v[j]);
}
void UnpackQ(const BlockQ5_0& b, int8_t* q) {
  int v[32];
  Nibbles(b.qs, v);
  AddFifthBits(b.qh, v);
  for (size_t j = 0; j < 32; ++j) q[j] = static_cast<int8_t>(v[j] - 16);
}
void UnpackQ(const BlockQ5_1& b, int8_t* q) {
  int v[32];
  Nibbles(b.qs, v);
  AddFifthBits(b.qh, v);
  for (size_t j = 0; j < 32; ++j) q[j] = static_cast<int8_t>(v[j]);
}
void UnpackQ(const BlockIQ4_NL& b, int8_t* q) {
  int v[32];
  Nibbles(b.qs, v);
  for (size_t j = 0; j < 32; ++j) q[j] = kIq4NlValues[v[j]];
}

namespace {
// q * d, or q * d + m.
template <typename Block>
void DequantizeSmall(const Block& b, float d, const float* m, float* out) {
  int8_t q[32];
  UnpackQ(b, q);
  for (size_t j = 0; j < 32; ++j) {
    const float value = static_cast<float>(q[j]) * d;
    out[j] = m != nullptr ? value + *m : value;
  }
}
template <typename Block>
void DequantizeSuper(const Block& b, float* out) {
  Unpacked u;
  Unpack(b, u);
  FromUnpacked(u, out);
}
}  // namespace

void DequantizeBlock(const BlockQ4_1& b, float* out) {
  const float m = QuantScale(b.m);
  DequantizeSmall(b, QuantScale(b.d), &m, out);
}
void DequantizeBlock(const BlockQ5_0& b, float* out) {
  DequantizeSmall(b, QuantScale(b.d), nullptr, out);
}
void DequantizeBlock(const BlockQ5_1& b, float* out) {
  const float m = QuantScale(b.m);
  DequantizeSmall(b, QuantScale(b.d), &m, out);
}
void DequantizeBlock(const BlockIQ4_NL& b, float* out) {
  DequantizeSmall(b, QuantScale(b.d), nullptr, out);
}
void DequantizeBlock(const BlockQ2_K& b, float* out) { DequantizeSuper(b, out); }
void DequantizeBlock(const BlockQ3_K& b, float* out) { DequantizeSuper(b, out); }
void DequantizeBlock(const BlockQ4_K& b, float* out) { DequantizeSuper(b, out); }
void DequantizeBlock(const BlockQ5_K& b, float* out) { DequantizeSuper(b, out); }
void DequantizeBlock(const BlockQ6_K& b, float* out) { DequantizeSuper(b, out); }

void QuantizeRowQ8_K(const float* x, size_t cols, BlockQ8_K* out) {
  for (size_t b = 0; b < cols / kSuperBlock; ++b) {
    const float* in = x + b * kSuperBlock;
    BlockQ8_K& y = out[b];
    float max = 0.0f, amax = 0.0f;
    for (size_t j = 0; j < kSuperBlock; ++j) {
      const float a = std::fabs(in[j]);
      if (a > amax) {
        amax = a;
        max = in[j];
      }
    }
    if (amax == 0.0f || !std::isfinite(amax)) {
      // ggml's zero block (an infinite one has no meaningful scale either: all zero).
      y.d = 0.0f;
      std::fill_n(y.qs, kSuperBlock, int8_t{0});
      std::fill_n(y.bsums, kSuperBlock / 16, int16_t{0});
      continue;
    }
    const float iscale = -127.0f / max;
    for (size_t j = 0; j < kSuperBlock; ++j) {
      const float scaled = iscale * in[j];
      // |scaled| <= 127 for finite inputs; a NaN input becomes 0.
      const int v = scaled == scaled ? NearestInt(std::clamp(scaled, -127.0f, 127.0f)) : 0;
      y.qs[j] = static_cast<int8_t>(std::min(127, v));
    }
    for (size_t i = 0; i < kSuperBlock / 16; ++i) {
      int sum = 0;
      for (size_t j = 0; j < 16; ++j) sum += y.qs[16 * i + j];
      y.bsums[i] = static_cast<int16_t>(sum);
    }
    y.d = 1.0f / iscale;
  }
}

}  // namespace lmc::rt
