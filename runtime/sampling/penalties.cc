#include "runtime/sampling/penalties.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace lmc::rt {

void ApplyPenalties(const PenaltyOptions& options, std::span<const int32_t> context,
                    size_t generated, float* logits, int vocab_size) {
  auto valid = [&](int32_t t) { return t >= 0 && t < vocab_size; };
  for (const auto& [token, bias] : options.logit_bias) {
    if (valid(token)) logits[token] += bias;
  }
  if (options.presence != 0.0f || options.frequency != 0.0f) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t t : context.last(std::min(generated, context.size()))) ++counts[t];
    for (const auto& [token, count] : counts) {
      if (!valid(token)) continue;
      logits[token] -= options.frequency * static_cast<float>(count) + options.presence;
    }
  }
  if (options.repeat != 1.0f && options.repeat_last_n != 0) {
    const size_t n = options.repeat_last_n < 0
                         ? context.size()
                         : std::min(context.size(), static_cast<size_t>(options.repeat_last_n));
    std::vector<int32_t> seen(context.end() - n, context.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int32_t t : seen) {
      if (!valid(t)) continue;
      logits[t] = logits[t] > 0.0f ? logits[t] / options.repeat : logits[t] * options.repeat;
    }
  }
}

float LogSoftmaxAt(const float* logits, int vocab_size, int32_t token, int k,
                   std::vector<TokenLogprob>* top) {
  double max = logits[0];
  for (int i = 1; i < vocab_size; ++i) max = std::max(max, static_cast<double>(logits[i]));
  double sum = 0.0;
  for (int i = 0; i < vocab_size; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
  const double log_z = max + std::log(sum);
  if (top) {
    top->clear();
    k = std::min(k, vocab_size);
    if (k > 0) {
      std::vector<int32_t> ids(vocab_size);
      for (int i = 0; i < vocab_size; ++i) ids[i] = i;
      std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
      });
      for (int i = 0; i < k; ++i) {
        top->push_back({ids[i], static_cast<float>(logits[ids[i]] - log_z)});
      }
    }
  }
  return static_cast<float>(logits[token] - log_z);
}

}  // namespace lmc::rt
