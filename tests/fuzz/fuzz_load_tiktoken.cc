// libFuzzer: bytes as a tiktoken rank file (custom name, GPT-2's regex), then
// encode and decode (tokenizer_loader_fuzz.h).
#include "runtime/tokenizer/bpe.h"
#include "runtime/tokenizer/pretokenize.h"
#include "tests/fuzz/tokenizer_loader_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return lmc::fuzz::Run(data, size, [](std::string_view file) {
    return lmc::rt::LoadTiktoken(lmc::fuzz::WriteScratch("ranks.tiktoken", file),
                                 std::string(lmc::rt::kGpt2Pattern));
  });
}
