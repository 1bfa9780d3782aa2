#include "runtime/serve/request.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace lmc::serve {
namespace {

using nlohmann::json;

[[noreturn]] void Bad(const std::string& param, const std::string& message,
                      const std::string& code = "") {
  throw ApiError(400, message, param, code);
}

const char* TypeName(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    case json::value_t::number_float:
      return "a number";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    default:
      return "a value";
  }
}

[[noreturn]] void WrongType(const std::string& param, const char* expected, const json& v) {
  Bad(param, fmt::format("'{}' must be {}, not {}", param, expected, TypeName(v)));
}

json ParseObject(std::string_view body) {
  json doc;
  try {
    doc = json::parse(body);
  } catch (const json::parse_error& e) {
    Bad("", std::string("the request body is not valid JSON: ") + e.what(), "invalid_json");
  }
  if (!doc.is_object()) WrongType("body", "a JSON object", doc);
  return doc;
}

// The field, or nullptr when absent or null (OpenAI clients send null for "not given").
const json* Field(const json& doc, const char* name) {
  auto it = doc.find(name);
  if (it == doc.end() || it->is_null()) return nullptr;
  return &*it;
}

double Number(const json& doc, const char* name, double fallback, double min, double max) {
  const json* v = Field(doc, name);
  if (!v) return fallback;
  if (!v->is_number()) WrongType(name, "a number", *v);
  double x = v->get<double>();
  if (!std::isfinite(x) || x < min || x > max) {
    Bad(name, fmt::format("'{}' must be in [{}, {}], not {}", name, min, max, v->dump()));
  }
  return x;
}

[[noreturn]] void OutOfRange(const char* name, int64_t min, int64_t max, const json& v) {
  Bad(name, fmt::format("'{}' must be in [{}, {}], not {}", name, min, max, v.dump()));
}

int64_t Integer(const json& doc, const char* name, int64_t fallback, int64_t min, int64_t max) {
  const json* v = Field(doc, name);
  if (!v) return fallback;
  if (!v->is_number_integer() && !v->is_number_unsigned()) {
    // 3.0 is an integer to JavaScript: accept a float with no fraction.
    if (!v->is_number_float() || std::floor(v->get<double>()) != v->get<double>() ||
        std::fabs(v->get<double>()) > 9e15) {
      WrongType(name, "an integer", *v);
    }
  }
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(max)) {
    OutOfRange(name, min, max, *v);
  }
  int64_t x = v->is_number_float() ? static_cast<int64_t>(v->get<double>()) : v->get<int64_t>();
  if (x < min || x > max) {
    OutOfRange(name, min, max, *v);
  }
  return x;
}

bool Boolean(const json& doc, const char* name, bool fallback) {
  const json* v = Field(doc, name);
  if (!v) return fallback;
  if (!v->is_boolean()) WrongType(name, "a boolean", *v);
  return v->get<bool>();
}

// The ids of a token array, each in the vocabulary.
std::vector<int> TokenIds(const json& array, const std::string& param, const ModelLimits& limits) {
  std::vector<int> ids;
  ids.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    const json& id = array[i];
    if (!id.is_number_integer() && !id.is_number_unsigned()) {
      Bad(param, fmt::format("'{}'[{}] must be a token id, not {}", param, i, TypeName(id)));
    }
    int64_t x = id.is_number_unsigned() && id.get<uint64_t>() > 1u << 31 ? -1 : id.get<int64_t>();
    if (x < 0 || x >= limits.vocab_size) {
      Bad(param, fmt::format("'{}'[{}]: token id {} is outside the vocabulary [0, {})", param, i,
                             id.dump(), limits.vocab_size));
    }
    ids.push_back(static_cast<int>(x));
  }
  return ids;
}

// Parameters this slice does not implement: refused when given a value that would change the
// result, so that a client never gets silently different behaviour.
void RefuseUnsupported(const json& doc, bool chat) {
  if (const json* best = Field(doc, "best_of")) {
    if (!(best->is_number() && best->get<double>() == 1)) {
      Bad("best_of", "'best_of' must be 1: it is not supported yet");
    }
  }
  if (const json* v = Field(doc, "tools")) {
    if (!(v->is_array() && v->empty())) Bad("tools", "'tools' is not supported");
  }
  if (!chat) {
    if (Boolean(doc, "echo", false)) Bad("echo", "'echo' is not supported yet");
    if (const json* v = Field(doc, "suffix")) {
      if (!(v->is_string() && v->get<std::string>().empty())) {
        Bad("suffix", "'suffix' is not supported");
      }
    }
  }
}

// logit_bias: {"token id": bias in [-100, 100], ...}, each id in the vocabulary.
std::vector<std::pair<int32_t, float>> LogitBias(const json& doc, const ModelLimits& limits) {
  std::vector<std::pair<int32_t, float>> biases;
  const json* v = Field(doc, "logit_bias");
  if (!v) return biases;
  if (!v->is_object()) WrongType("logit_bias", "an object of token ids and biases", *v);
  if (v->size() > 1024) Bad("logit_bias", "'logit_bias' takes at most 1024 tokens");
  for (auto it = v->begin(); it != v->end(); ++it) {
    const std::string& key = it.key();
    const bool digits = !key.empty() && key.size() <= 10 &&
                        key.find_first_not_of("0123456789") == std::string::npos;
    const long long id = digits ? std::stoll(key) : -1;
    if (id < 0 || id >= limits.vocab_size) {
      Bad("logit_bias", fmt::format("'logit_bias' key '{}' is not a token id in [0, {})",
                                    json(key).dump(-1, ' ', false, json::error_handler_t::replace),
                                    limits.vocab_size));
    }
    if (!it->is_number()) WrongType("logit_bias", "an object of token ids and numbers", *it);
    const double bias = it->get<double>();
    if (!(bias >= -100 && bias <= 100)) {
      Bad("logit_bias",
          fmt::format("'logit_bias' for token {} must be in [-100, 100], not {}", key, it->dump()));
    }
    biases.emplace_back(static_cast<int32_t>(id), static_cast<float>(bias));
  }
  return biases;
}

// response_format: text (nothing), json_object, or json_schema with its schema compiled.
std::shared_ptr<const rt::JsonGrammar> ResponseFormat(const json& doc) {
  const json* v = Field(doc, "response_format");
  if (!v) return nullptr;
  if (!v->is_object()) WrongType("response_format", "an object", *v);
  const json* type = Field(*v, "type");
  if (!type || !type->is_string()) {
    Bad("response_format", "'response_format.type' must be text, json_object or json_schema");
  }
  const std::string kind = type->get<std::string>();
  if (kind == "text") return nullptr;
  if (kind == "json_object") return rt::JsonGrammar::AnyJson(rt::JsonGrammar::kObject);
  if (kind != "json_schema") {
    Bad("response_format",
        fmt::format("'response_format.type' must be text, json_object or json_schema, not {}",
                    type->dump()));
  }
  const json* spec = Field(*v, "json_schema");
  if (!spec || !spec->is_object()) {
    Bad("response_format", "'response_format.json_schema' must be an object with a 'schema'");
  }
  const json* schema = Field(*spec, "schema");
  if (!schema) Bad("response_format", "'response_format.json_schema.schema' is required");
  try {
    return rt::JsonGrammar::FromSchema(schema->dump(), "response_format.json_schema.schema");
  } catch (const rt::JsonSchemaError& e) {
    Bad("response_format", e.what(), "invalid_schema");
  }
}

std::vector<chat::Message> Messages(const json& doc) {
  const json* list = Field(doc, "messages");
  if (!list) Bad("messages", "'messages' is required", "missing_required_parameter");
  if (!list->is_array()) WrongType("messages", "an array", *list);
  if (list->empty()) Bad("messages", "'messages' must not be empty");
  std::vector<chat::Message> messages;
  for (size_t i = 0; i < list->size(); ++i) {
    const json& m = (*list)[i];
    const std::string where = fmt::format("messages[{}]", i);
    if (!m.is_object()) WrongType(where, "an object", m);
    const json* role = Field(m, "role");
    if (!role || !role->is_string())
      Bad(where + ".role", fmt::format("{}.role must be a string", where));
    chat::Message message{role->get<std::string>(), ""};
    const json* content = Field(m, "content");
    if (!content) Bad(where + ".content", fmt::format("{}.content is required", where));
    if (content->is_string()) {
      message.content = content->get<std::string>();
    } else if (content->is_array()) {
      // Content parts: text ones joined; any other kind (images, audio) is not for this model.
      for (size_t j = 0; j < content->size(); ++j) {
        const json& part = (*content)[j];
        const std::string part_where = fmt::format("{}.content[{}]", where, j);
        if (!part.is_object() || part.value("type", json()) != "text" || !part.contains("text") ||
            !part["text"].is_string()) {
          Bad(part_where,
              fmt::format("{} must be {{\"type\": \"text\", \"text\": \"...\"}}", part_where));
        }
        message.content += part["text"].get<std::string>();
      }
    } else {
      WrongType(where + ".content", "a string or an array of text parts", *content);
    }
    messages.push_back(std::move(message));
  }
  return messages;
}

}  // namespace

CompletionRequest ParseCompletionRequest(std::string_view body, bool chat,
                                         const ModelLimits& limits) {
  json doc = ParseObject(body);
  CompletionRequest r;
  r.chat = chat;
  if (const json* model = Field(doc, "model")) {
    if (!model->is_string()) WrongType("model", "a string", *model);
    if (model->get<std::string>() != limits.name) {
      throw ApiError(404,
                     fmt::format("the model '{}' does not exist; this server has '{}'",
                                 model->get<std::string>(), limits.name),
                     "model", "model_not_found");
    }
  }
  RefuseUnsupported(doc, chat);
  GenerationParams& p = r.params;
  // OpenAI's defaults: 16 new tokens for a completion; a chat reply runs to the context's end.
  const int64_t max_tokens = Integer(doc, chat ? "max_completion_tokens" : "max_tokens", 0, 1,
                                     std::numeric_limits<int32_t>::max());
  p.max_tokens = static_cast<int>(max_tokens ? max_tokens
                                             : Integer(doc, "max_tokens", chat ? 0 : 16, 1,
                                                       std::numeric_limits<int32_t>::max()));
  p.max_tokens_given = max_tokens != 0 || Field(doc, "max_tokens") != nullptr;
  if (p.max_tokens > limits.context) {
    Bad(chat && Field(doc, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens",
        fmt::format("'max_tokens' is {}; the context holds {} tokens", p.max_tokens,
                    limits.context),
        "context_length_exceeded");
  }
  p.temperature = static_cast<float>(Number(doc, "temperature", 1.0, 0.0, 100.0));
  p.top_p = static_cast<float>(Number(doc, "top_p", 1.0, 0.0, 1.0));
  if (p.top_p < 1e-6f) p.top_p = 1e-6f;  // 0: only the most likely token, as the CLI's floor
  p.top_k = static_cast<int>(Integer(doc, "top_k", 0, 0, limits.vocab_size));
  if (const json* seed = Field(doc, "seed")) {
    if (!seed->is_number_integer() && !seed->is_number_unsigned())
      WrongType("seed", "an integer", *seed);
    p.seed = seed->is_number_unsigned() ? seed->get<uint64_t>()
                                        : static_cast<uint64_t>(seed->get<int64_t>());
    p.seed_given = true;
  }
  if (const json* stop = Field(doc, "stop")) {
    if (stop->is_string()) {
      p.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      for (const json& s : *stop) {
        if (!s.is_string()) WrongType("stop", "a string or an array of strings", s);
        p.stop.push_back(s.get<std::string>());
      }
    } else {
      WrongType("stop", "a string or an array of strings", *stop);
    }
    if (p.stop.size() > 4) Bad("stop", "'stop' takes at most 4 strings");
    for (const std::string& s : p.stop) {
      if (s.empty()) Bad("stop", "'stop' strings must not be empty");
    }
  }
  p.stream = Boolean(doc, "stream", false);
  p.n = static_cast<int>(Integer(doc, "n", 1, 1, kMaxChoices));
  p.penalties.presence = static_cast<float>(Number(doc, "presence_penalty", 0.0, -2.0, 2.0));
  p.penalties.frequency = static_cast<float>(Number(doc, "frequency_penalty", 0.0, -2.0, 2.0));
  p.penalties.repeat = static_cast<float>(Number(doc, "repeat_penalty", 1.0, 0.0, 10.0));
  if (!(p.penalties.repeat > 0.0f)) {
    Bad("repeat_penalty", "'repeat_penalty' must be in (0, 10] (1 disables it)");
  }
  p.penalties.repeat_last_n =
      static_cast<int>(Integer(doc, "repeat_last_n", 64, -1, std::max(limits.context, 64)));
  p.penalties.logit_bias = LogitBias(doc, limits);
  if (chat) {
    const bool wanted = Boolean(doc, "logprobs", false);
    const int top = static_cast<int>(Integer(doc, "top_logprobs", 0, 0, kMaxTopLogprobs));
    if (Field(doc, "top_logprobs") && !wanted) {
      Bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    }
    p.logprobs = wanted ? top : -1;
  } else if (const json* v = Field(doc, "logprobs")) {
    // The legacy completions form: an integer, how many alternatives.
    if (v->is_boolean()) {
      p.logprobs = v->get<bool>() ? 0 : -1;
    } else {
      p.logprobs = static_cast<int>(Integer(doc, "logprobs", 0, 0, kMaxTopLogprobs));
    }
  }
  p.grammar = ResponseFormat(doc);
  if (chat) {
    r.messages = Messages(doc);
    return r;
  }
  const json* prompt = Field(doc, "prompt");
  if (!prompt) Bad("prompt", "'prompt' is required", "missing_required_parameter");
  if (prompt->is_string()) {
    r.prompt = prompt->get<std::string>();
  } else if (prompt->is_array()) {
    if (prompt->size() == 1 && (*prompt)[0].is_string()) {
      r.prompt = (*prompt)[0].get<std::string>();
    } else if (!prompt->empty() && (*prompt)[0].is_array()) {
      Bad("prompt", "several prompts in one request are not supported yet");
    } else if (!prompt->empty() && (*prompt)[0].is_string()) {
      Bad("prompt", "several prompts in one request are not supported yet");
    } else {
      r.prompt_ids = TokenIds(*prompt, "prompt", limits);
      r.prompt_is_ids = true;
    }
  } else {
    WrongType("prompt", "a string or an array of token ids", *prompt);
  }
  return r;
}

TokenizeRequest ParseTokenizeRequest(std::string_view body) {
  json doc = ParseObject(body);
  TokenizeRequest r;
  const json* content = Field(doc, "content");
  if (!content) Bad("content", "'content' is required", "missing_required_parameter");
  if (!content->is_string()) WrongType("content", "a string", *content);
  r.content = content->get<std::string>();
  r.add_special = Boolean(doc, "add_special", false);
  r.parse_special = Boolean(doc, "parse_special", false);
  return r;
}

std::vector<int> ParseDetokenizeRequest(std::string_view body, const ModelLimits& limits) {
  json doc = ParseObject(body);
  const json* tokens = Field(doc, "tokens");
  if (!tokens) Bad("tokens", "'tokens' is required", "missing_required_parameter");
  if (!tokens->is_array()) WrongType("tokens", "an array of token ids", *tokens);
  return TokenIds(*tokens, "tokens", limits);
}

}  // namespace lmc::serve
