// The cost of JSON token masks on a real vocabulary: builds the vocabulary's byte strings and
// tries as `MODEL serve` does, then times one trie walk (TokenMask::Compute) and one cached
// lookup at automaton states met in JSON output. docs/serving.md#constrained-output.
//
// usage: json_mask_bench TOKENIZER [REPS]   (any tokenizer file lmc reads, kind detected)
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "runtime/sampling/json_grammar.h"
#include "runtime/sampling/token_mask.h"
#include "runtime/tokenizer/tokenizer.h"

namespace {

using namespace lmc::rt;
using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

int Run(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: json_mask_bench TOKENIZER [REPS]\n");
    return 2;
  }
  const int reps = argc > 2 ? std::max(1, std::atoi(argv[2])) : 20;
  std::unique_ptr<Tokenizer> tokenizer = LoadTokenizer("", argv[1]);
  const std::vector<int> a = tokenizer->Encode("a", {});
  const auto t0 = Clock::now();
  auto vocabulary = TokenVocabulary::FromDecoder(
      tokenizer->vocab_size(), a.empty() ? -1 : a.back(), {tokenizer->bos(), tokenizer->eos()},
      [&](std::span<const int32_t> ids) {
        return tokenizer->Decode(std::vector<int>(ids.begin(), ids.end()));
      });
  const auto t1 = Clock::now();
  std::printf("%d tokens, trie of %zu nodes (%zu for the tokens not plain ASCII): %.1f ms\n",
              vocabulary->size(), vocabulary->trie().nodes.size(),
              vocabulary->not_plain().nodes.size(), Ms(t0, t1));

  auto object = JsonGrammar::AnyJson(JsonGrammar::kObject);
  auto schema = JsonGrammar::FromSchema(R"({"type": "array", "items": {"type": "object",
      "properties": {"id": {"type": "integer"}, "ok": {"type": "boolean"},
                     "tag": {"enum": ["alpha", "beta", "gamma"]}, "score": {"type": "number"}},
      "required": ["id", "ok", "tag"]}})");
  struct Case {
    const char* what;
    const std::shared_ptr<const JsonGrammar>& grammar;
    const char* prefix;
  };
  const Case cases[] = {
      {"json_object: start", object, ""},
      {"json_object: inside a string", object, "{\"ab"},
      {"json_object: after ':'", object, "{\"a\":"},
      {"json_object: in a number", object, "{\"a\": 12"},
      {"schema: start", schema, ""},
      {"schema: a key", schema, "[{\""},
      {"schema: in a number", schema, "[{\"score\": 1.5"},
      {"schema: in an enum", schema, "[{\"tag\": \"be"},
  };
  std::printf("%-32s %8s %12s %12s\n", "state", "allowed", "walk ms", "cached ms");
  for (const Case& c : cases) {
    JsonMatcher state(c.grammar.get());
    if (!state.Feed(std::string_view(c.prefix))) {
      std::fprintf(stderr, "json_mask_bench: '%s' refused\n", c.prefix);
      return 1;
    }
    TokenMask masks(vocabulary, c.grammar, {tokenizer->eos()});
    size_t allowed = 0;
    const auto w0 = Clock::now();
    for (int r = 0; r < reps; ++r) {
      allowed = 0;
      for (uint64_t word : masks.Compute(state)) allowed += __builtin_popcountll(word);
    }
    const auto w1 = Clock::now();
    masks.Allowed(state);
    const int lookups = 1000;
    const auto c0 = Clock::now();
    for (int r = 0; r < lookups; ++r) masks.Allowed(state);
    const auto c1 = Clock::now();
    std::printf("%-32s %8zu %12.4f %12.5f\n", c.what, allowed, Ms(w0, w1) / reps,
                Ms(c0, c1) / lookups);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "json_mask_bench: %s\n", e.what());
    return 1;
  }
}
