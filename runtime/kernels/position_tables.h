// Tables that position encodings derive from their parameters alone: RoPE's
// per-pair frequencies (with context-extension scaling), ALiBi's per-head
// slopes, T5's relative-position buckets and the Vaswani sinusoid. Header-only and scalar: the
// compiler evaluates them to emit constant tables, and the reference interpreter calls them, so
// both see the same numbers.
#ifndef LMC_RUNTIME_KERNELS_POSITION_TABLES_H_
#define LMC_RUNTIME_KERNELS_POSITION_TABLES_H_

#include <algorithm>
#include <cmath>
#include <cstdlib>
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

// T5's bucket for the relative position key - query (Raffel et al. 2020, as
// Hugging Face's T5Attention._relative_position_bucket computes it, in float):
// bidirectional, half the buckets for each sign; causal, only keys behind the
// query count. Distances below half a sign's buckets are exact, then
// log-spaced up to max_distance, where the last bucket takes over.
inline int T5Bucket(int relative, bool bidirectional, int num_buckets, int max_distance) {
  int bucket = 0;
  int n = std::max(-relative, 0);
  if (bidirectional) {
    num_buckets /= 2;
    if (relative > 0) bucket = num_buckets;
    n = std::abs(relative);
  }
  const int max_exact = num_buckets / 2;
  if (n < max_exact) return bucket + n;
  const float octaves = std::log(static_cast<float>(n) / static_cast<float>(max_exact)) /
                        static_cast<float>(std::log(static_cast<double>(max_distance) / max_exact));
  const int large =
      max_exact + static_cast<int>(octaves * static_cast<float>(num_buckets - max_exact));
  return bucket + std::min(large, num_buckets - 1);
}

// T5's relative position bias of one attention op: head h's score for a key
// at `relative` = key - query positions gains table[bucket(relative), h].
struct RelativeBias {
  const float* table;  // [num_buckets, heads]
  const int* buckets;  // T5Bucket of key - query for key - query in [-max_distance, max_distance]
  int max_distance;
  int heads;

  float operator()(int h, int relative) const {
    relative = std::clamp(relative, -max_distance, max_distance);  // The bucket stays the same.
    return table[buckets[relative + max_distance] * heads + h];
  }
};

// CoPE, contextual position encoding (Golovneva et al. 2024, following the
// paper's reference code): a key's position is the sum of the gates
// sigmoid(score) of the keys from it up to the query, clamped to
// max_positions - 1, and its score gains the query's product with the learned
// embedding of that position, interpolated between the integers around it.
struct CopeBias {
  const float* embedding;  // [head_dim, max_positions], as the paper's pos_emb
  int max_positions;
};

// Adds CoPE's bias to the n scores (scaled, of the visible keys) of the query
// head q.
inline void AddCope(const CopeBias& cope, const float* q, int head_dim, float* scores, int n) {
  const int positions = cope.max_positions;
  thread_local std::vector<float> by_position;  // q . embedding[:, p] for each integer p
  by_position.assign(positions, 0.0f);
  for (int d = 0; d < head_dim; ++d) {
    const float* row = cope.embedding + static_cast<size_t>(d) * positions;
    for (int p = 0; p < positions; ++p) by_position[p] += q[d] * row[p];
  }
  // Gates from the scores before any bias: key t's is taken before its score changes.
  double position = 0.0;  // A sum of up to n gates: kept in double.
  for (int t = n - 1; t >= 0; --t) {
    position += 1.0 / (1.0 + std::exp(-static_cast<double>(scores[t])));
    const float p = static_cast<float>(std::min(position, static_cast<double>(positions - 1)));
    const int below = static_cast<int>(std::floor(p)), above = static_cast<int>(std::ceil(p));
    const float w = p - static_cast<float>(below);
    scores[t] += by_position[above] * w + by_position[below] * (1.0f - w);
  }
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
