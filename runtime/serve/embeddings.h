// POST /v1/embeddings, as OpenAI's API: `input` a string, an array of strings, an array of
// token ids or an array of such arrays; `encoding_format` float (default) or base64 (float32,
// little-endian); the answer one vector per input, in order, and `usage`.
//
// Encoders (BERT) embed: a text is tokenized and wrapped as [CLS] text [SEP], token arrays are
// taken as they are (the model binary's `embed --prompt` / `--tokens`), and the last hidden
// state is pooled as --pooling says: cls (the first token's), mean (over the tokens, the
// default) or pooler (the spec's pooler on the first token), as `embed --pool` computes it.
// Decoder-only models embed too: a text is tokenized as for a completion (the spec's BOS, then
// the text; no [CLS] / [SEP]), and the final hidden state (after the final norm, before the
// classifier) is pooled as --pooling says: last (the last token's, the default: the only one
// that has seen the whole input) or mean. Encoder-decoders cannot (400).
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

enum class Pooling { kCls, kMean, kPooler, kLast };

// "cls", "mean", "pooler", "last"; nullopt for anything else.
std::optional<Pooling> ParsePooling(std::string_view name);

// Embeds with one session of the model, one input at a time (callers from any thread wait
// their turn: an encoder's pass is one chunk over all its tokens).
class Embedder {
 public:
  // An encoder's (model.info().is_encoder): cls, sep are the ids a text is wrapped in, -1 when
  // the model has none (texts are refused). A decoder's (has_hidden): cls is the BOS a text
  // starts with (-1: none) and sep is unused. `capacity`: the most tokens an input may have.
  Embedder(lmc::Model& model, Pooling pooling, int32_t cls, int32_t sep, int capacity);

  // A text's tokens: an encoder's [CLS] text [SEP], special tokens in the text as their ids;
  // a decoder's BOS text, as a completion's prompt.
  std::vector<int32_t> Tokens(const std::string& text) const;
  // One pooled vector of dimensions() floats for 1..max_tokens() tokens.
  std::vector<float> Embed(std::span<const int32_t> tokens);
  int dimensions() const { return dimensions_; }
  int max_tokens() const { return max_tokens_; }
  bool can_wrap() const { return decoder_ || (cls_ >= 0 && sep_ >= 0); }
  bool decoder() const { return decoder_; }

 private:
  lmc::Model& model_;
  Pooling pooling_;
  int32_t cls_, sep_;
  int dimensions_, max_tokens_;
  bool decoder_;
  std::mutex mu_;
  lmc::Session session_;
};

// The whole request: the response body (JSON), or an ApiError (400 naming the field; 404 for
// another model's name). `embedder` nullptr: the model cannot embed (400, an encoder-decoder).
std::string Embeddings(std::string_view body, Embedder* embedder, const ModelLimits& limits);

// RFC 4648 base64 with padding.
std::string Base64(std::string_view bytes);

}  // namespace lmc::serve
