// Speculative sampling (Sampler::SampleDraft, Sampler::VerifyDraft) leaves the distribution of
// the sampled tokens unchanged, and prompt lookup (LookupDraft) finds the continuation of the
// latest match.
#include "runtime/sampling/sampler.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "runtime/sampling/prompt_lookup.h"

using lmc::rt::LookupDraft;
using lmc::rt::Sampler;
using lmc::rt::SamplerOptions;

namespace {

const std::vector<float> kLogits = {1.0f, 2.5f, 0.3f, 2.0f, -1.0f, 1.7f};

// The frequency of each token over `draws` calls of `sample`.
template <typename Sample>
std::vector<double> Frequencies(int draws, Sample sample) {
  std::vector<double> freq(kLogits.size());
  for (int i = 0; i < draws; ++i) {
    std::vector<float> logits = kLogits;
    freq[sample(logits.data())] += 1.0 / draws;
  }
  return freq;
}

}  // namespace

TEST_CASE("speculative sampling keeps the sampler's distribution", "[sampler]") {
  const int n = static_cast<int>(kLogits.size()), draws = 200000;
  for (SamplerOptions options : {SamplerOptions{1.0f, 1.0f, 0, 3}, SamplerOptions{0.7f, 0.8f, 0, 5},
                                 SamplerOptions{1.3f, 1.0f, 3, 9}}) {
    // The distribution Sample draws from, measured over its own draws.
    Sampler plain(n, options);
    const std::vector<double> want =
        Frequencies(draws, [&](float* logits) { return plain.Sample(logits); });
    for (int draft = 0; draft < n; ++draft) {
      INFO("temperature " << options.temperature << " top_p " << options.top_p << " top_k "
                          << options.top_k << " draft " << draft);
      Sampler speculative(n, options);
      double accepted = 0;
      int mislabeled = 0;
      const std::vector<double> got = Frequencies(draws, [&](float* logits) {
        bool is_draft = false;
        const int token = speculative.SampleDraft(logits, draft, &is_draft);
        mislabeled += is_draft != (token == draft);
        accepted += is_draft;
        return token;
      });
      CHECK(mislabeled == 0);
      for (int t = 0; t < n; ++t) {
        // Both are estimates from `draws` samples: six standard deviations of their difference.
        const double sigma = std::sqrt(2 * want[t] * (1 - want[t]) / draws);
        CHECK(std::abs(got[t] - want[t]) <= 6 * sigma + 1e-12);
      }
      // The draft is kept exactly as often as it would have been sampled.
      CHECK(std::abs(accepted / draws - want[draft]) <= 6 * std::sqrt(0.25 / draws));
    }
  }
}

TEST_CASE("speculative sampling against a draft model keeps the target's distribution",
          "[sampler]") {
  const int n = static_cast<int>(kLogits.size()), draws = 200000;
  const std::vector<float> draft_logits = {2.0f, 0.5f, 0.3f, 2.2f, 1.0f, -0.5f};
  for (SamplerOptions options : {SamplerOptions{1.0f, 1.0f, 0, 3}, SamplerOptions{0.7f, 0.8f, 0, 5},
                                 SamplerOptions{1.3f, 1.0f, 3, 9}}) {
    INFO("temperature " << options.temperature << " top_p " << options.top_p << " top_k "
                        << options.top_k);
    // p and q as Probabilities gives them: what Sample draws from, top-k / top-p applied.
    Sampler target(n, options),
        draft_sampler(n, SamplerOptions{options.temperature, options.top_p, options.top_k, 17});
    std::vector<float> p = kLogits, q = draft_logits;
    target.Probabilities(p.data());
    draft_sampler.Probabilities(q.data());
    double p_sum = 0, q_sum = 0, overlap = 0;
    for (int t = 0; t < n; ++t) {
      p_sum += p[t];
      q_sum += q[t];
      overlap += std::min(p[t], q[t]);
    }
    CHECK(std::abs(p_sum - 1) < 1e-5);
    CHECK(std::abs(q_sum - 1) < 1e-5);
    std::vector<double> freq(n);
    double accepted = 0;
    int mislabeled = 0;
    for (int i = 0; i < draws; ++i) {
      const int draft = draft_sampler.DrawFrom(q.data());
      bool is_draft = false;
      const int token = target.VerifyDraft(p.data(), q.data(), draft, &is_draft);
      mislabeled += is_draft != (token == draft);
      accepted += is_draft;
      freq[token] += 1.0 / draws;
    }
    CHECK(mislabeled == 0);
    for (int t = 0; t < n; ++t) {
      INFO("token " << t);
      CHECK(std::abs(freq[t] - p[t]) <= 6 * std::sqrt(p[t] * (1 - p[t]) / draws) + 1e-12);
    }
    // A draft is kept with probability sum_x min(p(x), q(x)).
    CHECK(std::abs(accepted / draws - overlap) <= 6 * std::sqrt(0.25 / draws));
  }
  // Greedy: one-hot p and q; the draft is kept exactly when it is p's argmax.
  Sampler greedy(n, SamplerOptions{0.0f, 1.0f, 0, 1});
  std::vector<float> p = kLogits;
  greedy.Probabilities(p.data());
  CHECK(p == std::vector<float>{0, 1, 0, 0, 0, 0});
  for (int draft = 0; draft < n; ++draft) {
    std::vector<float> q(n, 0.0f);
    q[draft] = 1.0f;
    bool is_draft = false;
    CHECK(greedy.VerifyDraft(p.data(), q.data(), draft, &is_draft) == 1);
    CHECK(is_draft == (draft == 1));
  }
}

TEST_CASE("greedy speculative sampling keeps the argmax", "[sampler]") {
  Sampler greedy(static_cast<int>(kLogits.size()), SamplerOptions{0.0f, 1.0f, 0, 1});
  for (int draft = 0; draft < static_cast<int>(kLogits.size()); ++draft) {
    std::vector<float> logits = kLogits;
    bool is_draft = false;
    CHECK(greedy.SampleDraft(logits.data(), draft, &is_draft) == 1);
    CHECK(is_draft == (draft == 1));
  }
  std::vector<float> logits = kLogits;
  bool is_draft = false;
  CHECK_THROWS(greedy.SampleDraft(logits.data(), 6, &is_draft));
}

TEST_CASE("prompt lookup continues the latest match of the longest n-gram", "[sampler]") {
  // "5 6" occurs twice before the end; the latest is followed by 9 8.
  const std::vector<int> context = {5, 6, 7, 1, 5, 6, 9, 8, 2, 5, 6};
  CHECK(LookupDraft(context, 2) == std::vector<int>{9, 8});
  // Past the context's end the draft copies itself: the loop "9 8 2 5 6" goes round again.
  CHECK(LookupDraft(context, 7) == std::vector<int>{9, 8, 2, 5, 6, 9, 8});
  CHECK(LookupDraft(std::vector<int>{4, 7, 4, 7}, 5) == std::vector<int>{4, 7, 4, 7, 4});
  // The trigram "2 5 6" never occurred before, the bigram did: the longest match wins over a
  // later unigram one.
  const std::vector<int> prefer_longer = {3, 4, 0, 4, 9, 3, 4};
  CHECK(LookupDraft(prefer_longer, 1) == std::vector<int>{0});
  CHECK(LookupDraft(std::vector<int>{1, 2, 3}, 4).empty());
  CHECK(LookupDraft(std::vector<int>{7}, 4).empty());
  CHECK(LookupDraft(context, 0).empty());
}
