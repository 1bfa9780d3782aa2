// The sampler's passes over the vocabulary (argmax, softmax) are the row kernels of
// rows-inl.h: foreach_target.h compiles this file once per Highway target, and each call
// dispatches to the best one the CPU supports.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/sampling/sampler.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
// Must come after foreach_target.h.
#include <hwy/highway.h>

#include "runtime/kernels/rows-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lmc::rt {
namespace HWY_NAMESPACE {

int ArgmaxRow(const float* x, int n) {
  int best;
  kernels::HWY_NAMESPACE::ArgmaxRows(&best, x, 1, n);
  return best;
}

void SoftmaxRow(float* x, int n) { kernels::HWY_NAMESPACE::SoftmaxRows(x, 1, n); }

}  // namespace HWY_NAMESPACE
}  // namespace lmc::rt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <cmath>

#include "runtime/sampling/sampler.h"
#include "runtime/util/error.h"

namespace lmc::rt {
namespace {

HWY_EXPORT(ArgmaxRow);
HWY_EXPORT(SoftmaxRow);

int Argmax(const float* x, int n) { return HWY_DYNAMIC_DISPATCH(ArgmaxRow)(x, n); }
void Softmax(float* x, int n) { HWY_DYNAMIC_DISPATCH(SoftmaxRow)(x, n); }

}  // namespace

Sampler::Sampler(int vocab_size, SamplerOptions options)
    : vocab_size_(vocab_size), options_(options) {
  if (vocab_size <= 0) Fail("sampler: vocab size {} must be positive", vocab_size);
  if (!(options.temperature >= 0.0f) || !std::isfinite(options.temperature)) {
    Fail("sampler: temperature {} must be a finite number >= 0", options.temperature);
  }
  if (options.temperature > 0.0f && !std::isfinite(1.0f / options.temperature)) {
    Fail("sampler: temperature {} is too small to divide by; use 0 for greedy",
         options.temperature);
  }
  if (!(options.top_p > 0.0f && options.top_p <= 1.0f)) {
    Fail("sampler: top_p {} must be in (0, 1]", options.top_p);
  }
  if (options.top_k < 0) Fail("sampler: top_k {} must be >= 0 (0 disables it)", options.top_k);
  // xorshift gets stuck at 0; any fixed non-zero substitute keeps seed 0 usable.
  state_ = options.seed != 0 ? options.seed : 0x9E3779B97F4A7C15ull;
}

uint32_t Sampler::NextU32() {
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return static_cast<uint32_t>((state_ * 0x2545F4914F6CDD1Dull) >> 32);
}

float Sampler::NextF32() { return static_cast<float>(NextU32() >> 8) / 16777216.0f; }

int Sampler::Sample(float* logits) {
  if (!Distribution(logits)) return Argmax(logits, vocab_size_);
  const float coin = NextF32();
  return Draw(logits, coin, -1);
}

int Sampler::SampleDraft(float* logits, int draft, bool* accepted) {
  if (draft < 0 || draft >= vocab_size_) {
    Fail("sampler: draft token {} is outside the vocabulary [0, {})", draft, vocab_size_);
  }
  if (!Distribution(logits)) {
    const int token = Argmax(logits, vocab_size_);
    *accepted = token == draft;
    return token;
  }
  // p(draft), as Draw would give it: its share of the kept mass, 0 if filtered out.
  const float* probs = logits;
  const bool kept =
      !filtered_ || std::find(candidates_.begin(), candidates_.end(), draft) != candidates_.end();
  const float p = kept ? probs[draft] / mass_ : 0.0f;
  *accepted = NextF32() < p;
  if (*accepted) return draft;
  return Draw(logits, NextF32(), draft);
}

void Sampler::Probabilities(float* logits) {
  const int n = vocab_size_;
  if (!Distribution(logits)) {
    const int best = Argmax(logits, n);
    std::fill(logits, logits + n, 0.0f);
    logits[best] = 1.0f;
    return;
  }
  if (!filtered_) return;
  std::vector<float> kept(candidates_.size());
  for (size_t i = 0; i < candidates_.size(); ++i) kept[i] = logits[candidates_[i]] / mass_;
  std::fill(logits, logits + n, 0.0f);
  for (size_t i = 0; i < candidates_.size(); ++i) logits[candidates_[i]] = kept[i];
}

int Sampler::DrawFrom(const float* probs) {
  // In id order, as the Python transcription in tests/runtime/speculative_rule_test.py.
  const float r = NextF32();
  float cdf = 0.0f;
  int last = -1;
  for (int i = 0; i < vocab_size_; ++i) {
    if (probs[i] <= 0.0f) continue;
    cdf += probs[i];
    last = i;
    if (r < cdf) return i;
  }
  return last >= 0 ? last : 0;  // rounding left the cdf just below r
}

int Sampler::VerifyDraft(const float* p, const float* q, int draft, bool* accepted) {
  if (draft < 0 || draft >= vocab_size_) {
    Fail("sampler: draft token {} is outside the vocabulary [0, {})", draft, vocab_size_);
  }
  // p >= q keeps the draft whatever the coin (the coin is below 1); p = 0 never does.
  *accepted = q[draft] > 0.0f && NextF32() < p[draft] / q[draft];
  if (*accepted) return draft;
  // The residual max(0, p - q): what p has beyond q. It is 0 at a rejected draft (p < q there).
  float mass = 0.0f;
  for (int i = 0; i < vocab_size_; ++i) mass += std::max(0.0f, p[i] - q[i]);
  if (!(mass > 0.0f)) {  // p == q up to rounding: a draw from p
    const int token = DrawFrom(p);
    *accepted = token == draft;
    return token;
  }
  const float r = NextF32() * mass;
  float cdf = 0.0f;
  int last = -1;
  for (int i = 0; i < vocab_size_; ++i) {
    const float residual = std::max(0.0f, p[i] - q[i]);
    if (residual <= 0.0f) continue;
    cdf += residual;
    last = i;
    if (r < cdf) return i;
  }
  return last;
}

bool Sampler::Distribution(float* logits) {
  const int n = vocab_size_;
  // Corrupt weights show up here; NaN would also break every comparison below.
  for (int i = 0; i < n; ++i) {
    if (!std::isfinite(logits[i])) {
      Fail("the model produced a non-finite logit ({}) for token {}: are the weights corrupt?",
           logits[i], i);
    }
  }
  if (options_.temperature == 0.0f) return false;

  // Scale relative to the largest logit: (l - max) / t is <= 0, so however
  // small t is, it cannot overflow to +inf (which made softmax NaN); it may
  // reach -inf, which Softmax maps to probability 0. The largest logit stays
  // 0, so at least one token keeps probability 1 before normalizing.
  const float inv_t = 1.0f / options_.temperature;
  const float max_logit = logits[Argmax(logits, n)];
  for (int i = 0; i < n; ++i) logits[i] = (logits[i] - max_logit) * inv_t;
  Softmax(logits, n);
  const float* probs = logits;

  candidates_.clear();
  mass_ = 1.0f;
  const bool top_k = options_.top_k > 0 && options_.top_k < n;
  const bool top_p = options_.top_p < 1.0f;
  filtered_ = top_k || top_p;
  if (!filtered_) return true;

  // Most likely first; ties by id so the order (and thus the draw) is deterministic.
  auto more_likely = [probs](int a, int b) {
    return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
  };
  // Mass the nucleus is measured against: the whole distribution, or what
  // top-k kept (renormalized).
  float mass = 1.0f;
  if (top_k) {
    candidates_.resize(n);
    for (int i = 0; i < n; ++i) candidates_[i] = i;
    std::partial_sort(candidates_.begin(), candidates_.begin() + options_.top_k, candidates_.end(),
                      more_likely);
    candidates_.resize(options_.top_k);
    mass = 0.0f;
    for (int id : candidates_) mass += probs[id];
  } else {
    // Tokens below (1 - p) / (n - 1) cannot be in the nucleus: if at least one
    // token is kept, the dropped ones hold less than 1 - p together. Dropping
    // them first avoids sorting the whole vocab. The most likely token is
    // always kept, so the bound holds even when p is tiny.
    const float cutoff =
        std::min((1.0f - options_.top_p) / static_cast<float>(n - 1), probs[Argmax(probs, n)]);
    for (int i = 0; i < n; ++i) {
      if (probs[i] >= cutoff) candidates_.push_back(i);
    }
    std::sort(candidates_.begin(), candidates_.end(), more_likely);
  }

  if (top_p) {
    // Smallest prefix whose cumulative probability exceeds p of the mass.
    const float target = options_.top_p * mass;
    float cumulative = 0.0f;
    size_t keep = candidates_.size();
    for (size_t i = 0; i < candidates_.size(); ++i) {
      cumulative += probs[candidates_[i]];
      if (cumulative > target) {
        keep = i + 1;
        break;
      }
    }
    candidates_.resize(keep);
  }
  mass_ = 0.0f;
  for (int id : candidates_) mass_ += probs[id];
  return true;
}

int Sampler::Draw(const float* probs, float coin, int excluded) {
  const int n = vocab_size_;
  if (!filtered_) {
    // Plain draw over the whole distribution, in id order.
    const float mass = excluded < 0 ? 1.0f : 1.0f - probs[excluded];
    const float r = excluded < 0 ? coin : coin * mass;
    float cdf = 0.0f;
    int last = -1;
    for (int i = 0; i < n; ++i) {
      if (i == excluded) continue;
      cdf += probs[i];
      last = i;
      if (r < cdf) return i;
    }
    return excluded == n - 1 ? last : n - 1;  // rounding left cdf just below r
  }
  float mass = mass_;
  if (excluded >= 0 &&
      std::find(candidates_.begin(), candidates_.end(), excluded) != candidates_.end()) {
    mass -= probs[excluded];
  }
  const float r = coin * mass;
  float cdf = 0.0f;
  int last = -1;
  for (int id : candidates_) {
    if (id == excluded) continue;
    cdf += probs[id];
    last = id;
    if (r < cdf) return id;
  }
  // Rounding can leave r at or just above the last cdf; candidates_ always
  // holds the most likely token, but never index an empty vector.
  if (last >= 0) return last;
  return Argmax(probs, n);
}

}  // namespace lmc::rt
#endif  // HWY_ONCE
