#include "runtime/serve/embeddings.h"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <nlohmann/json.hpp>

namespace lmc::serve {
namespace {

using nlohmann::json;

// OpenAI's own limit on inputs per request.
constexpr size_t kMaxInputs = 2048;

[[noreturn]] void Bad(const std::string& param, const std::string& message) {
  throw ApiError(400, message, param);
}

// One input: a text, or token ids.
struct Input {
  std::string text;
  std::vector<int32_t> ids;
  bool is_ids = false;
};

// Token ids from a JSON array of integers, each in the vocabulary.
std::vector<int32_t> Ids(const json& array, const std::string& param, int vocab) {
  std::vector<int32_t> ids;
  ids.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    const json& v = array[i];
    if (!v.is_number_integer()) {
      Bad(param,
          fmt::format("'{}[{}]' must be a token id (an integer), not {}", param, i, v.dump()));
    }
    const int64_t id = v.get<int64_t>();
    if (id < 0 || id >= vocab) {
      Bad(param, fmt::format("'{}[{}]': token id {} is outside the vocabulary [0, {})", param, i,
                             id, vocab));
    }
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

std::vector<Input> ReadInputs(const json& input, int vocab) {
  std::vector<Input> inputs;
  if (input.is_string()) {
    inputs.push_back({input.get<std::string>(), {}, false});
    return inputs;
  }
  if (!input.is_array()) {
    Bad("input",
        "'input' must be a string, an array of strings, an array of token ids or an array of "
        "such arrays");
  }
  if (input.empty()) Bad("input", "'input' is an empty array: give at least one input");
  if (input.size() > kMaxInputs) {
    Bad("input", fmt::format("'input' has {} inputs; at most {}", input.size(), kMaxInputs));
  }
  if (input[0].is_number()) {  // one input of token ids
    inputs.push_back({"", Ids(input, "input", vocab), true});
    return inputs;
  }
  for (size_t i = 0; i < input.size(); ++i) {
    const json& item = input[i];
    const std::string param = fmt::format("input[{}]", i);
    if (item.is_string()) {
      inputs.push_back({item.get<std::string>(), {}, false});
    } else if (item.is_array()) {
      inputs.push_back({"", Ids(item, param, vocab), true});
    } else {
      Bad(param, fmt::format("'{}' must be a string or an array of token ids, not {}", param,
                             item.dump()));
    }
  }
  return inputs;
}

}  // namespace

std::optional<Pooling> ParsePooling(std::string_view name) {
  if (name == "cls") return Pooling::kCls;
  if (name == "mean") return Pooling::kMean;
  if (name == "pooler") return Pooling::kPooler;
  if (name == "last") return Pooling::kLast;
  return std::nullopt;
}

Embedder::Embedder(lmc::Model& model, Pooling pooling, int32_t cls, int32_t sep, int capacity)
    : model_(model),
      pooling_(pooling),
      cls_(cls),
      sep_(sep),
      dimensions_(model.info().d_model),
      max_tokens_(capacity),
      decoder_(model.info().is_encoder == 0),
      session_(model.NewSession(capacity)) {}

std::vector<int32_t> Embedder::Tokens(const std::string& text) const {
  std::vector<int32_t> ids;
  if (cls_ >= 0) ids.push_back(cls_);
  // A decoder's text as a completion's prompt (no special tokens read); an encoder's as embed
  // --prompt reads it.
  const std::vector<int32_t> body = model_.Tokenize(text, decoder_ ? 0u : LMC_PARSE_SPECIAL);
  ids.insert(ids.end(), body.begin(), body.end());
  if (!decoder_) ids.push_back(sep_);
  return ids;
}

std::vector<float> Embedder::Embed(std::span<const int32_t> tokens) {
  const size_t d = static_cast<size_t>(dimensions_);
  std::vector<float> out(d, 0.0f);
  std::lock_guard<std::mutex> lock(mu_);
  if (pooling_ == Pooling::kPooler) {
    session_.Embed(tokens, out);
    return out;
  }
  session_.Embed(tokens);
  std::span<const float> states = session_.logits();
  const size_t row = pooling_ == Pooling::kLast ? tokens.size() - 1 : 0;
  std::copy_n(states.begin() + static_cast<ptrdiff_t>(row * d), d, out.begin());
  if (pooling_ == Pooling::kMean) {  // As `embed --pool mean` adds and divides.
    for (size_t t = 1; t < tokens.size(); ++t) {
      for (size_t i = 0; i < d; ++i) out[i] += states[t * d + i];
    }
    for (float& x : out) x /= static_cast<float>(tokens.size());
  }
  return out;
}

std::string Base64(std::string_view bytes) {
  static constexpr char kDigits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 |
                       static_cast<uint8_t>(bytes[i + 1]) << 8 | static_cast<uint8_t>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kDigits[(v >> shift) & 63];
  }
  if (const size_t left = bytes.size() - i) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (left == 2) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kDigits[(v >> 18) & 63];
    out += kDigits[(v >> 12) & 63];
    out += left == 2 ? kDigits[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string Embeddings(std::string_view body, Embedder* embedder, const ModelLimits& limits) {
  json doc;
  try {
    doc = json::parse(body);
  } catch (const json::parse_error& e) {
    throw ApiError(400, std::string("the request body is not valid JSON: ") + e.what(), "",
                   "invalid_json");
  }
  if (!doc.is_object()) Bad("body", "the request body must be a JSON object");
  auto field = [&](const char* name) -> const json* {
    auto it = doc.find(name);
    return it == doc.end() || it->is_null() ? nullptr : &*it;
  };
  if (const json* model = field("model")) {
    if (!model->is_string()) Bad("model", "'model' must be a string");
    if (model->get<std::string>() != limits.name) {
      throw ApiError(404,
                     fmt::format("the model '{}' does not exist; this server has '{}'",
                                 model->get<std::string>(), limits.name),
                     "model", "model_not_found");
    }
  }
  if (!embedder) {
    throw ApiError(400,
                   fmt::format("{} cannot embed: an encoder-decoder's compiled code gives "
                               "logits, not hidden states; serve an encoder or a decoder for "
                               "/v1/embeddings",
                               limits.name),
                   "model", "model_cannot_embed");
  }
  const json* input = field("input");
  if (!input) Bad("input", "'input' is required");
  bool base64 = false;
  if (const json* format = field("encoding_format")) {
    if (*format == "base64") {
      base64 = true;
    } else if (*format != "float") {
      Bad("encoding_format",
          fmt::format("'encoding_format' must be \"float\" or \"base64\", not {}", format->dump()));
    }
  }
  if (const json* dimensions = field("dimensions")) {
    if (!dimensions->is_number_integer() || dimensions->get<int64_t>() != embedder->dimensions()) {
      Bad("dimensions", fmt::format("'dimensions': {}'s embeddings have {} (they cannot be "
                                    "shortened), not {}",
                                    limits.name, embedder->dimensions(), dimensions->dump()));
    }
  }
  const std::vector<Input> inputs = ReadInputs(*input, limits.vocab_size);

  // Every input's tokens first, so that a bad one fails the request before any work.
  std::vector<std::vector<int32_t>> tokens;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string param = inputs.size() == 1 ? "input" : fmt::format("input[{}]", i);
    if (inputs[i].is_ids) {
      tokens.push_back(inputs[i].ids);
    } else {
      if (!embedder->can_wrap()) {
        Bad(param, fmt::format("{} has no [CLS] / [SEP] ids (the spec's tokenizer.cls / sep, or "
                               "the tokenizer's): give token ids",
                               limits.name));
      }
      tokens.push_back(embedder->Tokens(inputs[i].text));
    }
    if (tokens.back().empty()) Bad(param, fmt::format("'{}' has no tokens", param));
    if (static_cast<int>(tokens.back().size()) > embedder->max_tokens()) {
      throw ApiError(400,
                     fmt::format("'{}' has {} tokens; {} embeds at most {} ({})", param,
                                 tokens.back().size(), limits.name, embedder->max_tokens(),
                                 embedder->decoder() ? "--ctx" : "max_seq_len"),
                     param, "context_length_exceeded");
    }
  }

  json data = json::array();
  size_t total = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::vector<float> v = embedder->Embed(tokens[i]);
    for (float x : v) {
      if (!std::isfinite(x)) {
        throw ApiError(500, fmt::format("input {} embeds to a value that is not finite: the "
                                        "weights are broken",
                                        i));
      }
    }
    json item = {{"object", "embedding"}, {"index", i}};
    if (base64) {
      // float32, little-endian, as OpenAI's: the bytes as this machine holds them.
      static_assert(std::endian::native == std::endian::little);
      item["embedding"] = Base64(
          std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
    } else {
      item["embedding"] = v;
    }
    data.push_back(std::move(item));
    total += tokens[i].size();
  }
  const json response = {{"object", "list"},
                         {"data", std::move(data)},
                         {"model", limits.name},
                         {"usage", {{"prompt_tokens", total}, {"total_tokens", total}}}};
  return response.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace lmc::serve
