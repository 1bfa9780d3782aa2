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

  // Speculative sampling against a draft token proposed with certainty (prompt lookup): keeps
  // `draft` with the probability Sample gives it (greedy: if it is the argmax), else draws
  // from that distribution without `draft`, renormalized. The token returned is distributed
  // exactly as Sample's; *accepted says whether it is the draft.
  int SampleDraft(float* logits, int draft, bool* accepted);

  // The distribution Sample draws from, written over `logits`: vocab_size probabilities, 0 for
  // the tokens top-k / top-p leave out (greedy: 1 at the argmax, 0 elsewhere).
  void Probabilities(float* logits);
  // A token drawn from `probs` (vocab_size probabilities, as Probabilities gives them).
  int DrawFrom(const float* probs);
  // Speculative sampling against a draft model (Leviathan et al. 2023, Chen et al. 2023):
  // `draft` was drawn from the draft model's distribution `q`, `p` is this model's (both as
  // Probabilities gives them). Keeps the draft with probability min(1, p/q), else draws from
  // max(0, p - q) renormalized, so the token returned is distributed as p; greedy (p and q
  // one-hot) keeps the draft exactly when it is p's argmax. *accepted says whether it is the
  // draft.
  int VerifyDraft(const float* p, const float* q, int draft, bool* accepted);

  const SamplerOptions& options() const { return options_; }

 private:
  // Checks the logits; unless greedy (returns false), turns them into probabilities and keeps
  // the tokens top-k / top-p allow (candidates_, most likely first, and their mass_; all
  // tokens when nothing filters).
  bool Distribution(float* logits);
  // The token at `coin` in [0, 1) of the kept distribution, `excluded` (if >= 0) left out.
  int Draw(const float* probs, float coin, int excluded);

  // xorshift64* (Marsaglia / Vigna), the generator llama2.c also uses.
  uint32_t NextU32();
  // Uniform in [0, 1).
  float NextF32();

  int vocab_size_;
  SamplerOptions options_;
  uint64_t state_;
  std::vector<int> candidates_;  // scratch for top-k / top-p
  bool filtered_ = false;        // top-k or top-p applies
  float mass_ = 1.0f;            // of candidates_
};

}  // namespace lmc::rt
