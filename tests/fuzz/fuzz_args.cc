// libFuzzer: NUL-separated words as a model binary's command line, parsed
// against generate's flags and read back the way model_main reads them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/cli/args.h"
#include "runtime/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> words(1);
  for (size_t i = 0; i < size && words.size() < 64; ++i) {
    if (data[i] == 0) {
      words.emplace_back();
    } else {
      words.back() += static_cast<char>(data[i]);
    }
  }
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  static const std::vector<lmc::rt::FlagSpec> flags = {
      {"weights", "checkpoint file"}, {"tokens", "ids"},       {"n", "count"},
      {"temperature", "t"},           {"seed", "random seed"}, {"verbose", "more", false}};
  try {
    lmc::rt::Args args("generate", static_cast<int>(argv.size()), argv.data(), 0, flags);
    (void)args.String("weights", "");
    (void)args.Int("n", 0, 0, 1 << 20);
    (void)args.Float("temperature", 1.0f, 0.0f, 100.0f);
    (void)args.Uint64("seed", 42);
    if (args.Has("tokens")) (void)args.IntList("tokens");
    (void)args.Required("weights");
  } catch (const lmc::rt::Error&) {
  }
  return 0;
}
