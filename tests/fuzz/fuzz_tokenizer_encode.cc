// libFuzzer: arbitrary bytes encoded and decoded with the real stories260K
// tokenizer ($LMC_ASSETS/llama2c-stories260K/tok512.bin): every id must be in
// range and decode without error.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "runtime/tokenizer/llama2c_tokenizer.h"
#include "runtime/util/error.h"

namespace {
std::unique_ptr<lmc::rt::Llama2cTokenizer> tokenizer;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* assets = std::getenv("LMC_ASSETS");
  std::string path =
      std::string(assets ? assets : "../shared/assets") + "/llama2c-stories260K/tok512.bin";
  try {
    tokenizer =
        std::make_unique<lmc::rt::Llama2cTokenizer>(lmc::rt::Llama2cTokenizer::Load(path, 512));
  } catch (const lmc::rt::Error& e) {
    std::fprintf(stderr, "fuzz_tokenizer_encode: %s (set LMC_ASSETS)\n", e.what());
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ids = tokenizer->Encode(text, true, false);
  int prev = 1;
  for (int id : ids) {
    if (id < 0 || id >= tokenizer->vocab_size()) std::abort();
    volatile size_t n = tokenizer->Piece(prev, id).size();
    (void)n;
    prev = id;
  }
  return 0;
}
