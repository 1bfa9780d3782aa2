// The KV cache's element types (the spec's attention.kv_cache): f32, or f16 / bf16, which
// halve what attention reads at depth. A store rounds to nearest even, the same rounding in the
// generated code's KvStore and the reference interpreter's, so both hold the same cache; a load
// widens exactly (bf16: the f32's top half; f16: every f16 is an f32).
#pragma once

#include <hwy/base.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace lmc::kernels {

inline uint32_t FloatBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

inline float BitsFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline hwy::bfloat16_t ToBf16(float f) {
  uint32_t bits = FloatBits(f);
  hwy::bfloat16_t out;
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) {
    out.bits = static_cast<uint16_t>((bits >> 16) | 0x40u);  // NaN stays a (quiet) NaN
  } else {
    bits += 0x7FFFu + ((bits >> 16) & 1u);  // nearest, ties to even; overflow gives inf
    out.bits = static_cast<uint16_t>(bits >> 16);
  }
  return out;
}

inline float FromBf16(hwy::bfloat16_t b) { return BitsFloat(static_cast<uint32_t>(b.bits) << 16); }

inline hwy::float16_t ToF16(float f) {
  const uint32_t bits = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t x = bits & 0x7FFFFFFFu;
  uint16_t h;
  if (x > 0x7F800000u) {
    h = 0x7E00;  // NaN
  } else if (x >= 0x47800000u) {
    h = 0x7C00;  // 65536 and beyond (inf included): inf
  } else if (x < 0x38800000u) {
    // Below f16's smallest normal (2^-14): a multiple of 2^-24, nearest even (the default
    // rounding mode); 2^-14 itself comes out as the smallest normal's encoding.
    h = static_cast<uint16_t>(std::nearbyint(BitsFloat(x) * 16777216.0f));
  } else {
    h = static_cast<uint16_t>((((x >> 23) - 112u) << 10) | ((x >> 13) & 0x3FFu));
    const uint32_t rest = x & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // may carry into inf: right
  }
  h |= sign;
  hwy::float16_t out;
  std::memcpy(&out, &h, sizeof h);
  return out;
}

inline float FromF16(hwy::float16_t value) {
  uint16_t h;
  std::memcpy(&h, &value, sizeof h);
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu, mantissa = h & 0x3FFu;
  if (exponent == 0) {
    const float magnitude = static_cast<float>(mantissa) / 16777216.0f;  // exact
    return BitsFloat(FloatBits(magnitude) | sign);
  }
  if (exponent == 31) return BitsFloat(sign | 0x7F800000u | (mantissa << 13));
  return BitsFloat(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

// The caches are head-major: cached row p of KV head h is at (h * capacity + p) * head_dim, so
// that a GQA group reads its keys and values contiguously (1.25-1.5x faster attention at depth
// than rows of every head, Zen 3; kernels_bench --attention).
inline size_t CacheOffset(int kv_head, int position, int head_dim, int capacity) {
  return (static_cast<size_t>(kv_head) * capacity + static_cast<size_t>(position)) * head_dim;
}

// The cache's element from a float, and back.
inline float ToCache(float f, const float*) { return f; }
inline hwy::bfloat16_t ToCache(float f, const hwy::bfloat16_t*) { return ToBf16(f); }
inline hwy::float16_t ToCache(float f, const hwy::float16_t*) { return ToF16(f); }
inline float FromCache(float f) { return f; }
inline float FromCache(hwy::bfloat16_t b) { return FromBf16(b); }
inline float FromCache(hwy::float16_t h) { return FromF16(h); }

}  // namespace lmc::kernels
