// MODEL serve's parts that need no model: stop strings on a stream, request bodies read and
// refused, error bodies, the API key comparison. (tests/e2e/serve_test.sh runs the server.)
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/serve/api_error.h"
#include "runtime/serve/chat_page.h"
#include "runtime/serve/embeddings.h"
#include "runtime/serve/request.h"
#include "runtime/serve/routes.h"
#include "runtime/serve/stop_filter.h"

namespace lmc::serve {
namespace {

// Feeds `pieces` one by one; returns everything released, and whether a stop matched.
std::pair<std::string, bool> Run(std::vector<std::string> stops, std::vector<std::string> pieces) {
  StopFilter filter(std::move(stops));
  std::string out;
  for (const std::string& piece : pieces) {
    bool stopped = false;
    out += filter.Push(piece, &stopped);
    if (stopped) return {out, true};
  }
  return {out + filter.Finish(), false};
}

TEST_CASE("StopFilter cuts before the first match, across pieces") {
  CHECK(Run({"o w"}, {"Hel", "lo w", "orld"}) == std::make_pair(std::string("Hell"), true));
  CHECK(Run({"aab"}, {"a", "a", "a", "b", "c"}) == std::make_pair(std::string("a"), true));
  CHECK(Run({"zz", "b"}, {"abc"}) == std::make_pair(std::string("a"), true));
  CHECK(Run({"ab"}, {"xa"}) == std::make_pair(std::string("xa"), false));  // held, then let go
  CHECK(Run({}, {"any", "thing"}) == std::make_pair(std::string("anything"), false));
}

TEST_CASE("StopFilter holds back only what could still start a match") {
  StopFilter filter({"END"});
  bool stopped = false;
  CHECK(filter.Push("the E", &stopped) == "the ");
  CHECK(filter.Push("N", &stopped) == "");
  CHECK(filter.Push("D?", &stopped) == "");
  CHECK(stopped);
  StopFilter other({"END"});
  CHECK(other.Push("the EN", &stopped) == "the ");
  CHECK(other.Push("X", &stopped) == "ENX");
  CHECK_FALSE(stopped);
}

const ModelLimits kLimits{"tiny", 512, 256};

// The ApiError a body gets, as "status param".
std::string Refusal(const std::string& body, bool chat = false) {
  try {
    ParseCompletionRequest(body, chat, kLimits);
  } catch (const ApiError& e) {
    return std::to_string(e.status) + " " + e.param;
  }
  return "accepted";
}

TEST_CASE("Completion requests: defaults and accepted forms") {
  CompletionRequest r = ParseCompletionRequest(R"({"prompt": "hi"})", false, kLimits);
  CHECK(r.prompt == "hi");
  CHECK(r.params.max_tokens == 16);  // OpenAI's default for completions
  CHECK_FALSE(r.params.max_tokens_given);
  CHECK(r.params.temperature == 1.0f);
  r = ParseCompletionRequest(R"({"prompt": [1, 2, 3], "max_tokens": 3.0, "top_p": 0,
                                 "seed": -1, "stop": "x", "n": 1, "logprobs": false,
                                 "user": "someone", "model": "tiny"})",
                             false, kLimits);
  CHECK(r.prompt_is_ids);
  CHECK(r.prompt_ids == std::vector<int>{1, 2, 3});
  CHECK(r.params.max_tokens == 3);
  CHECK(r.params.max_tokens_given);
  CHECK(r.params.top_p > 0.0f);  // 0: only the most likely token
  CHECK(r.params.seed == ~uint64_t{0});
  CHECK(r.params.stop == std::vector<std::string>{"x"});
  r = ParseCompletionRequest(
      R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"},
                                                    {"type": "text", "text": "b"}]}],
          "max_completion_tokens": 7, "stream": true})",
      true, kLimits);
  CHECK(r.messages.size() == 1);
  CHECK(r.messages[0].content == "ab");
  CHECK(r.params.max_tokens == 7);
  CHECK(r.params.stream);
  r = ParseCompletionRequest(R"({"prompt": "x", "n": 3, "logprobs": 2, "presence_penalty": 0.5,
                                 "frequency_penalty": -1, "repeat_penalty": 1.1,
                                 "repeat_last_n": -1, "logit_bias": {"7": -100, "8": 2.5},
                                 "response_format": {"type": "json_object"}})",
                             false, kLimits);
  CHECK(r.params.n == 3);
  CHECK(r.params.logprobs == 2);
  CHECK(r.params.penalties.presence == 0.5f);
  CHECK(r.params.penalties.frequency == -1.0f);
  CHECK(r.params.penalties.repeat == 1.1f);
  CHECK(r.params.penalties.repeat_last_n == -1);
  CHECK(r.params.penalties.logit_bias ==
        std::vector<std::pair<int32_t, float>>{{7, -100.0f}, {8, 2.5f}});
  CHECK(r.params.grammar != nullptr);
  r = ParseCompletionRequest(
      R"({"messages": [{"role": "user", "content": "a"}], "logprobs": true, "top_logprobs": 3,
          "response_format": {"type": "json_schema", "json_schema": {"name": "x",
            "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}}})",
      true, kLimits);
  CHECK(r.params.logprobs == 3);
  CHECK(r.params.grammar != nullptr);
  CHECK(ParseCompletionRequest(R"({"messages": [{"role": "user", "content": "a"}]})", true,
                               kLimits)
            .params.max_tokens == 0);  // a chat reply runs to the context's end
}

TEST_CASE("Completion requests: every bad field is a 4xx naming it") {
  CHECK(Refusal("{") == "400 ");
  CHECK(Refusal("[]") == "400 body");
  CHECK(Refusal(R"({"prompt": "x", "temperature": -0.5})") == "400 temperature");
  CHECK(Refusal(R"({"prompt": "x", "temperature": "hot"})") == "400 temperature");
  CHECK(Refusal(R"({"prompt": "x", "top_p": 1.01})") == "400 top_p");
  CHECK(Refusal(R"({"prompt": "x", "top_k": 513})") == "400 top_k");
  CHECK(Refusal(R"({"prompt": "x", "max_tokens": 0})") == "400 max_tokens");
  CHECK(Refusal(R"({"prompt": "x", "max_tokens": 2.5})") == "400 max_tokens");
  CHECK(Refusal(R"({"prompt": "x", "max_tokens": 257})") == "400 max_tokens");
  CHECK(Refusal(R"({"prompt": "x", "max_tokens": 18446744073709551615})") == "400 max_tokens");
  CHECK(Refusal(R"({"prompt": "x", "seed": 1.5})") == "400 seed");
  CHECK(Refusal(R"({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]})") == "400 stop");
  CHECK(Refusal(R"({"prompt": "x", "stop": [""]})") == "400 stop");
  CHECK(Refusal(R"({"prompt": "x", "stream": 1})") == "400 stream");
  CHECK(Refusal(R"({"prompt": "x", "n": 0})") == "400 n");
  CHECK(Refusal(R"({"prompt": "x", "n": 17})") == "400 n");
  CHECK(Refusal(R"({"prompt": "x", "best_of": 2})") == "400 best_of");
  CHECK(Refusal(R"({"prompt": "x", "logprobs": 21})") == "400 logprobs");
  CHECK(Refusal(R"({"prompt": "x", "logprobs": "yes"})") == "400 logprobs");
  CHECK(Refusal(R"({"messages": [{"role": "user", "content": "a"}], "top_logprobs": 2})", true) ==
        "400 top_logprobs");
  CHECK(Refusal(R"({"messages": [{"role": "user", "content": "a"}], "logprobs": true,
                    "top_logprobs": 21})",
                true) == "400 top_logprobs");
  CHECK(Refusal(R"({"prompt": "x", "presence_penalty": 2.5})") == "400 presence_penalty");
  CHECK(Refusal(R"({"prompt": "x", "frequency_penalty": -3})") == "400 frequency_penalty");
  CHECK(Refusal(R"({"prompt": "x", "repeat_penalty": 0})") == "400 repeat_penalty");
  CHECK(Refusal(R"({"prompt": "x", "repeat_last_n": -2})") == "400 repeat_last_n");
  CHECK(Refusal(R"({"prompt": "x", "logit_bias": {"512": 1}})") == "400 logit_bias");
  CHECK(Refusal(R"({"prompt": "x", "logit_bias": {"a": 1}})") == "400 logit_bias");
  CHECK(Refusal(R"({"prompt": "x", "logit_bias": {"5": 101}})") == "400 logit_bias");
  CHECK(Refusal(R"({"prompt": "x", "logit_bias": [1]})") == "400 logit_bias");
  CHECK(Refusal(R"({"prompt": "x", "response_format": {"type": "yaml"}})") ==
        "400 response_format");
  CHECK(Refusal(R"({"prompt": "x", "response_format": {"type": "json_schema"}})") ==
        "400 response_format");
  CHECK(Refusal(R"({"prompt": "x", "response_format": {"type": "json_schema",
                    "json_schema": {"schema": {"type": "string", "format": "date"}}}})") ==
        "400 response_format");
  CHECK(Refusal(R"({"prompt": "x", "model": "other"})") == "404 model");
  CHECK(Refusal(R"({"prompt": 5})") == "400 prompt");
  CHECK(Refusal(R"({"prompt": ["a", "b"]})") == "400 prompt");
  CHECK(Refusal(R"({"prompt": [1, -1]})") == "400 prompt");
  CHECK(Refusal(R"({"prompt": [512]})") == "400 prompt");
  CHECK(Refusal(R"({"prompt": [4294967297]})") == "400 prompt");
  CHECK(Refusal(R"({})") == "400 prompt");
  CHECK(Refusal(R"({"messages": []})", true) == "400 messages");
  CHECK(Refusal(R"({"messages": [{"content": "x"}]})", true) == "400 messages[0].role");
  CHECK(Refusal(R"({"messages": [{"role": "user", "content": 3}]})", true) ==
        "400 messages[0].content");
  CHECK(Refusal(R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", true) ==
        "400 messages[0].content[0]");
  // Deep nesting parses (or is refused) without exhausting the stack.
  CHECK(Refusal(R"({"prompt": "x", "user": )" + std::string(100000, '[') +
                std::string(100000, ']') + "}") == "accepted");
}

TEST_CASE("Error bodies are OpenAI's, and survive invalid UTF-8") {
  nlohmann::json j = nlohmann::json::parse(ErrorJson(400, "bad \xff byte", "prompt"));
  CHECK(j["error"]["type"] == "invalid_request_error");
  CHECK(j["error"]["param"] == "prompt");
  CHECK(j["error"]["code"].is_null());
  CHECK(j["error"]["message"] == "bad \xEF\xBF\xBD byte");
  CHECK(nlohmann::json::parse(ErrorJson(401, "no key"))["error"]["type"] == "authentication_error");
  CHECK(nlohmann::json::parse(ErrorJson(503, "busy"))["error"]["type"] == "overloaded_error");
}

TEST_CASE("API keys: equal strings only") {
  CHECK(SameSecret("sk-123", "sk-123"));
  CHECK_FALSE(SameSecret("sk-123", "sk-12"));
  CHECK_FALSE(SameSecret("sk-123", "sk-1234"));
  CHECK_FALSE(SameSecret("sk-123", ""));
  CHECK_FALSE(SameSecret("sk-123", "sk-124"));
  CHECK_FALSE(SameSecret(std::string("a\0b", 3), "a"));
}

TEST_CASE("The chat page: settings written in, a model name cannot end its script") {
  const std::string page =
      ChatPage({.model = "</script><script>alert(1)</script>\u2028&", .chat = false});
  CHECK(page.starts_with("<!DOCTYPE html>"));
  CHECK(page.find("/*LMC_CONFIG*/") == std::string::npos);
  CHECK(page.find("alert(1)</script>") == std::string::npos);
  CHECK(page.find(R"("chat":false)") != std::string::npos);
  CHECK(page.find(R"("model":"\u003c/script\u003e\u003cscript\u003ealert(1))") !=
        std::string::npos);
  CHECK(page.find("</html>") != std::string::npos);
}

TEST_CASE("Embeddings: base64 as RFC 4648, a decoder's request refused") {
  CHECK(Base64("") == "");
  CHECK(Base64("f") == "Zg==");
  CHECK(Base64("fo") == "Zm8=");
  CHECK(Base64("foo") == "Zm9v");
  CHECK(Base64("foobar") == "Zm9vYmFy");
  CHECK(Base64(std::string("\xff\xfe\x00\x01", 4)) == "//4AAQ==");
  const float one = 1.0f;  // 0x3f800000, little-endian
  CHECK(Base64(std::string(reinterpret_cast<const char*>(&one), 4)) == "AACAPw==");
  const ModelLimits limits{"m", 100, 64};
  auto status = [&](const std::string& body) {
    try {
      Embeddings(body, nullptr, limits);
      return std::string("accepted");
    } catch (const ApiError& e) {
      return std::to_string(e.status) + " " + e.param;
    }
  };
  CHECK(status(R"({"input": "x"})") == "400 model");
  CHECK(status(R"({"input": "x", "model": "other"})") == "404 model");
  CHECK(status("{") == "400 ");
  CHECK(ParsePooling("mean") == Pooling::kMean);
  CHECK(ParsePooling("last") == Pooling::kLast);
  CHECK(ParsePooling("max") == std::nullopt);
}

}  // namespace
}  // namespace lmc::serve
