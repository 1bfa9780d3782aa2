// What the server's requests may do to a step's logits before sampling, and what they may ask
// to see of them:
//  - logit_bias: a number added to chosen tokens' logits (OpenAI);
//  - presence and frequency penalties over the tokens generated so far (OpenAI):
//    logit -= frequency * count + presence * (count > 0);
//  - the repeat penalty over the last N tokens of the context, prompt included (llama.cpp):
//    a positive logit is divided by it, a negative one multiplied;
//  - log-probabilities: the log-softmax of the model's own logits, with the most likely tokens.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace lmc::rt {

struct PenaltyOptions {
  std::vector<std::pair<int32_t, float>> logit_bias;  // (token, bias)
  float presence = 0.0f;                              // [-2, 2]
  float frequency = 0.0f;                             // [-2, 2]
  float repeat = 1.0f;                                // > 0; 1 disables
  int repeat_last_n = 64;  // tokens of context the repeat penalty looks at; -1: all of it

  bool any() const {
    return !logit_bias.empty() || presence != 0.0f || frequency != 0.0f ||
           (repeat != 1.0f && repeat_last_n != 0);
  }
};

// Applies `options` to `logits` (vocab_size floats). `context` is every token so far, prompt
// then generated; the last `generated` of them were generated.
void ApplyPenalties(const PenaltyOptions& options, std::span<const int32_t> context,
                    size_t generated, float* logits, int vocab_size);

struct TokenLogprob {
  int32_t token;
  float logprob;
};

// log p(token) under softmax(logits), and in *top the k most likely tokens (ties: lower id
// first) with theirs. Computed in double precision.
float LogSoftmaxAt(const float* logits, int vocab_size, int32_t token, int k,
                   std::vector<TokenLogprob>* top);

}  // namespace lmc::rt
