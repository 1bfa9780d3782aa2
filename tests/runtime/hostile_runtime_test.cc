// Regression tests for hostile inputs to the runtime's sampler and the model
// binary's argument parser (issue "Hostile inputs").
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "runtime/cli/args.h"
#include "runtime/sampling/sampler.h"
#include "runtime/util/error.h"

using Catch::Matchers::Contains;
using lmc::rt::Args;
using lmc::rt::FlagSpec;
using lmc::rt::Sampler;
using lmc::rt::SamplerOptions;

namespace {

Args Parse(const std::string& command, std::vector<std::string> words,
           const std::vector<FlagSpec>& flags) {
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  return Args(command, static_cast<int>(argv.size()), argv.data(), 0, flags);
}

const std::vector<FlagSpec> kFlags = {
    {"weights", "checkpoint file"}, {"n", "number of new tokens"}, {"temperature", "0 for greedy"}};

}  // namespace

TEST_CASE("tiny temperatures sample the most likely token", "[sampler][hostile]") {
  // As t -> 0 the distribution becomes the argmax; 1e-38 used to overflow
  // logits / t to inf and crash on an empty candidate list.
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(512);
  for (auto& l : logits) l = normal(rng);
  const int expected =
      static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  const float temperatures[] = {1e-38f, 3e-38f, std::numeric_limits<float>::min(),
                                std::numeric_limits<float>::denorm_min() * 1e7f};
  const SamplerOptions variants[] = {
      {}, {.top_p = 1.0f}, {.top_k = 5}, {.top_p = 0.9f}, {.top_p = 0.5f, .top_k = 5}};
  for (float t : temperatures) {
    for (SamplerOptions options : variants) {
      options.temperature = t;
      if (!std::isfinite(1.0f / t)) {
        CHECK_THROWS_WITH(Sampler(512, options), Contains("too small"));
        continue;
      }
      Sampler sampler(512, options);
      for (int draw = 0; draw < 20; ++draw) {
        std::vector<float> copy = logits;
        INFO("t=" << t << " top_p=" << options.top_p << " top_k=" << options.top_k);
        CHECK(sampler.Sample(copy.data()) == expected);
      }
    }
  }
}

TEST_CASE("huge logit spreads sample without NaN", "[sampler][hostile]") {
  std::vector<float> logits = {-3e38f, 3e38f, 0.0f, 3e38f};
  Sampler sampler(4, {.temperature = 1e-30f, .top_k = 2});
  for (int draw = 0; draw < 20; ++draw) {
    std::vector<float> copy = logits;
    int id = sampler.Sample(copy.data());
    CHECK((id == 1 || id == 3));
  }
}

TEST_CASE("flags: one-dash forms, -- and plain numbers", "[args][hostile]") {
  CHECK(Parse("generate", {"-n=3"}, kFlags).Int("n", 0, 0, 10) == 3);
  CHECK(Parse("generate", {"--n=3"}, kFlags).Int("n", 0, 0, 10) == 3);
  CHECK(Parse("generate", {"-n", "3"}, kFlags).Int("n", 0, 0, 10) == 3);
  CHECK(Parse("generate", {"--temperature=0.5"}, kFlags).Float("temperature", 1, 0, 2) == 0.5f);

  // Spaces, '+' and hex are refused for floats as for integers.
  for (const char* text : {" 1", "1 ", "+1", "0x1p-1", "nan", ""}) {
    INFO(text);
    CHECK_THROWS_WITH(
        Parse("generate", {"--temperature", text}, kFlags).Float("temperature", 1, 0, 2),
        Contains("expects a number"));
  }
  CHECK_THROWS_WITH(Parse("generate", {"-n", " 5"}, kFlags).Int("n", 0, 0, 10),
                    Contains("expects an integer"));
  CHECK_THROWS_WITH(
      Parse("generate", {"--temperature", "inf"}, kFlags).Float("temperature", 1, 0, 2),
      Contains("must be in"));

  CHECK_THROWS_WITH(
      Parse("generate", {"--temperature", "1e-50"}, kFlags).Float("temperature", 1, 0, 2),
      Contains("beyond 32-bit float range"));
  // Subnormal values parse (the sampler decides whether it can divide by them).
  CHECK(Parse("generate", {"--temperature", "1e-45"}, kFlags).Float("temperature", 1, 0, 2) > 0);

  // -- ends the options: what follows is text, even when it starts with '-'.
  Args args = Parse("tokenize", {"--weights", "w", "--", "-n", "--weights"}, kFlags);
  REQUIRE(args.positional().size() == 2);
  CHECK(args.positional()[0] == "-n");
  CHECK(args.positional()[1] == "--weights");
  CHECK(Parse("tokenize", {"-"}, kFlags).positional().at(0) == "-");
}

TEST_CASE("flag errors say what to do", "[args][hostile]") {
  CHECK_THROWS_WITH(Parse("info", {"--x"}, {}), Contains("'info' takes no flags"));
  CHECK_THROWS_WITH(Parse("generate", {"--x"}, kFlags),
                    Contains("expected one of: --weights, -n, --temperature"));
  CHECK_THROWS_WITH(Parse("generate", {"--weights", ""}, kFlags).Required("weights"),
                    Contains("--weights expects a value (checkpoint file), found an empty string"));
  CHECK_THROWS_WITH(Parse("generate", {"--weights="}, kFlags).Required("weights"),
                    Contains("found an empty string"));
  CHECK_THROWS_WITH(Parse("generate", {"-n"}, kFlags), Contains("-n expects a value"));
}
