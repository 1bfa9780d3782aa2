// Tables that position encodings derive from their parameters alone: RoPE's
// per-pair frequencies (with context-extension scaling), ALiBi's per-head
// slopes and the Vaswani sinusoid. Header-only and scalar: the compiler
// evaluates them to emit constant tables, and the reference interpreter calls
// them, so both see the same numbers.
#ifndef LMC_RUNTIME_KERNELS_POSITION_TABLES_H_
#define LMC_RUNTIME_KERNELS_POSITION_TABLES_H_

#include <cmath>
#include <vector>

namespace lmc::kernels {

enum class RopeScalingKind { kNone, kLinear, kLlama3 };

struct RopeScalingParams {
  RopeScalingKind kind = RopeScalingKind::kNone;
  float factor = 1.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  float original_max_seq_len = 8192.0f;
};

// Inverse frequency of each of the head_dim / 2 rotated pairs. Unscaled, in
// float exactly as llama2.c computes it. `linear` (position interpolation)
// divides every frequency by the factor; `llama3` (Llama 3.1, as Hugging Face's
// _compute_llama3_parameters) divides only the low frequencies and blends the
// band between.
inline std::vector<float> RopeInvFreq(float theta, int head_dim, const RopeScalingParams& s = {}) {
  std::vector<float> inv(head_dim / 2);
  for (int j = 0; j < head_dim / 2; ++j) {
    inv[j] = 1.0f / std::pow(theta, static_cast<float>(2 * j) / static_cast<float>(head_dim));
  }
  if (s.kind == RopeScalingKind::kLinear) {
    for (float& f : inv) f /= s.factor;
  } else if (s.kind == RopeScalingKind::kLlama3) {
    const float pi = 3.14159265358979323846f;
    const float low_freq_wavelen = s.original_max_seq_len / s.low_freq_factor;
    const float high_freq_wavelen = s.original_max_seq_len / s.high_freq_factor;
    for (float& f : inv) {
      const float wavelen = 2 * pi / f;
      if (wavelen > low_freq_wavelen) {
        f /= s.factor;
      } else if (wavelen >= high_freq_wavelen) {
        const float smooth = (s.original_max_seq_len / wavelen - s.low_freq_factor) /
                             (s.high_freq_factor - s.low_freq_factor);
        f = (1 - smooth) * f / s.factor + smooth * f;
      }
    }
  }
  return inv;
}

// Dynamic NTK scaling (Hugging Face's _compute_dynamic_ntk_parameters), for a
// sequence `seq_len` long (the largest position + 1): beyond
// original_max_seq_len the base grows to theta * (factor * seq_len / original -
// (factor - 1))^(dims / (dims - 2)); within it the frequencies are RoPE's own.
// Its frequencies depend on the length reached, so they are computed per call.
inline void RopeDynamicNtkInvFreq(float* out, float theta, int dims, float factor,
                                  int original_max_seq_len, int seq_len) {
  double base = theta;
  if (seq_len > original_max_seq_len) {
    base *= std::pow(static_cast<double>(factor) * seq_len / original_max_seq_len - (factor - 1),
                     static_cast<double>(dims) / (dims - 2));
  }
  // As HF: the base (a Python float) raised to float32 exponents, in float32.
  for (int j = 0; j < dims / 2; ++j) {
    out[j] = 1.0f / std::pow(static_cast<float>(base),
                             static_cast<float>(2 * j) / static_cast<float>(dims));
  }
}

// ALiBi's head slopes (Press et al. 2022; BLOOM's build_alibi_tensor): a
// geometric sequence from 2^(-8/n) for n a power of two, with the odd terms of
// the next power's sequence appended otherwise.
inline std::vector<float> AlibiSlopes(int heads) {
  int power = 1;
  while (power * 2 <= heads) power *= 2;
  std::vector<float> slopes;
  const double base = std::pow(2.0, -std::pow(2.0, -(std::log2(power) - 3)));
  for (int i = 1; i <= power; ++i) slopes.push_back(static_cast<float>(std::pow(base, i)));
  const double extra = std::pow(2.0, -std::pow(2.0, -(std::log2(2 * power) - 3)));
  for (int i = 0; i < heads - power; ++i) {
    slopes.push_back(static_cast<float>(std::pow(extra, 2 * i + 1)));
  }
  return slopes;
}

// The Vaswani encoding of `pos` into width floats: sin at even indices, cos at
// odd, frequency 10000^(-2i/width) for pair i (the layout of PyTorch's
// tutorial PositionalEncoding and of tensor2tensor's interleaved variant).
inline void Sinusoid(float* out, int pos, int width) {
  for (int i = 0; i < width / 2; ++i) {
    const double angle = pos * std::exp(-std::log(10000.0) * (2.0 * i) / width);
    out[2 * i] = static_cast<float>(std::sin(angle));
    out[2 * i + 1] = static_cast<float>(std::cos(angle));
  }
}

}  // namespace lmc::kernels

#endif  // LMC_RUNTIME_KERNELS_POSITION_TABLES_H_
