// Picks the next token from logits: greedy, or temperature sampling with
// optional top-k and top-p (nucleus) filtering, reproducible from a seed.
#pragma once

#include <cstdint>
#include <vector>

namespace lmc::rt {

struct SamplerOptions {
  float temperature = 1.0f;  // 0 means greedy argmax
  float top_p = 1.0f;        // nucleus mass in (0, 1]; 1 disables
  int top_k = 0;             // keep the k most likely tokens; 0 disables
  uint64_t seed = 42;        // same seed, same logits -> same tokens
};

class Sampler {
 public:
  // Throws Error on invalid options (negative temperature, top_p outside
  // (0, 1], negative top_k) or a non-positive vocab size.
  Sampler(int vocab_size, SamplerOptions options);

  // Returns a token id in [0, vocab_size). Overwrites `logits` (vocab_size
  // floats) with probabilities unless greedy.
  int Sample(float* logits);

  const SamplerOptions& options() const { return options_; }

 private:
  // xorshift64* (Marsaglia / Vigna), the generator llama2.c also uses.
  uint32_t NextU32();
  // Uniform in [0, 1).
  float NextF32();

  int vocab_size_;
  SamplerOptions options_;
  uint64_t state_;
  std::vector<int> candidates_;  // scratch for top-k / top-p
};

}  // namespace lmc::rt
