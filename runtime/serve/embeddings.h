// POST /v1/embeddings, as OpenAI's API: `input` a string, an array of strings, an array of
// token ids or an array of such arrays; `encoding_format` float (default) or base64 (float32,
// little-endian); the answer one vector per input, in order, and `usage`.
//
// Encoders (BERT) embed: a text is tokenized and wrapped as [CLS] text [SEP], token arrays are
// taken as they are (the model binary's `embed --prompt` / `--tokens`), and the last hidden
// state is pooled as --pooling says: cls (the first token's), mean (over the tokens, the
// default) or pooler (the spec's pooler on the first token), as `embed --pool` computes it.
// Decoders cannot: their generated code gives logits, not hidden states, so the endpoint
// answers 400 saying so.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lmc/lmc.hpp"
#include "runtime/serve/request.h"

namespace lmc::serve {

enum class Pooling { kCls, kMean, kPooler };

// "cls", "mean", "pooler"; nullopt for anything else.
std::optional<Pooling> ParsePooling(std::string_view name);

// Embeds with one session of the model, one input at a time (callers from any thread wait
// their turn: an encoder's pass is one chunk over all its tokens).
class Embedder {
 public:
  // cls, sep: the ids a text is wrapped in; -1 when the model has none (texts are refused).
  Embedder(lmc::Model& model, Pooling pooling, int32_t cls, int32_t sep);

  // A text's tokens: [CLS] text [SEP], special tokens in the text as their ids.
  std::vector<int32_t> Tokens(const std::string& text) const;
  // One pooled vector of dimensions() floats for 1..max_tokens() tokens.
  std::vector<float> Embed(std::span<const int32_t> tokens);
  int dimensions() const { return dimensions_; }
  int max_tokens() const { return max_tokens_; }
  bool can_wrap() const { return cls_ >= 0 && sep_ >= 0; }

 private:
  lmc::Model& model_;
  Pooling pooling_;
  int32_t cls_, sep_;
  int dimensions_, max_tokens_;
  bool pooler_;
  std::mutex mu_;
  lmc::Session session_;
};

// The whole request: the response body (JSON), or an ApiError (400 naming the field; 404 for
// another model's name). `embedder` nullptr: the model cannot embed (400).
std::string Embeddings(std::string_view body, Embedder* embedder, const ModelLimits& limits);

// RFC 4648 base64 with padding.
std::string Base64(std::string_view bytes);

}  // namespace lmc::serve
