// Reading the JSON bodies the server accepts, field by field: every wrong type, out-of-range
// value or unsupported parameter is an ApiError (400) naming the field.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/chat/messages.h"
#include "runtime/sampling/json_grammar.h"
#include "runtime/sampling/penalties.h"
#include "runtime/serve/api_error.h"

namespace lmc::serve {

// What the model allows.
struct ModelLimits {
  std::string name;  // the one model served: a request's "model" must be it (or absent)
  int vocab_size = 0;
  int context = 0;  // positions per slot (--ctx)
};

struct GenerationParams {
  int max_tokens = 0;             // 0: until the context is full
  bool max_tokens_given = false;  // else a default, cut to the room the prompt leaves
  float temperature = 1.0f;
  float top_p = 1.0f;
  int top_k = 0;
  uint64_t seed = 0;
  bool seed_given = false;
  std::vector<std::string> stop;  // up to 4 non-empty strings
  bool stream = false;
  int n = 1;  // choices, each its own generation (seeds seed, seed + 1 * golden ratio, ...)
  rt::PenaltyOptions penalties;
  // -1: no logprobs; else each token's and this many alternatives' (chat: logprobs true and
  // top_logprobs; completions: logprobs N).
  int logprobs = -1;
  // response_format json_object or json_schema: what the output must be (null: any text).
  std::shared_ptr<const rt::JsonGrammar> grammar;
};

inline constexpr int kMaxChoices = 16;      // n
inline constexpr int kMaxTopLogprobs = 20;  // top_logprobs, logprobs

struct CompletionRequest {
  bool chat = false;
  // /v1/completions: text, or token ids.
  std::string prompt;
  std::vector<int> prompt_ids;
  bool prompt_is_ids = false;
  // /v1/chat/completions.
  std::vector<chat::Message> messages;
  GenerationParams params;
};

// /v1/completions (chat false) and /v1/chat/completions (chat true).
CompletionRequest ParseCompletionRequest(std::string_view body, bool chat,
                                         const ModelLimits& limits);

// POST /tokenize: {"content": "text", "add_special": false, "parse_special": false}.
struct TokenizeRequest {
  std::string content;
  bool add_special = false;
  bool parse_special = false;
};
TokenizeRequest ParseTokenizeRequest(std::string_view body);

// POST /detokenize: {"tokens": [ids]}, each id in the vocabulary.
std::vector<int> ParseDetokenizeRequest(std::string_view body, const ModelLimits& limits);

}  // namespace lmc::serve
