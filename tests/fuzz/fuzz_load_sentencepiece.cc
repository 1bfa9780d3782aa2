// libFuzzer: bytes as a SentencePiece .model (protobuf), then encode and decode
// (tokenizer_loader_fuzz.h).
#include "tests/fuzz/tokenizer_loader_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return lmc::fuzz::Run(data, size, [](std::string_view file) {
    return lmc::rt::LoadTokenizer("sentencepiece", lmc::fuzz::WriteScratch("fuzz.model", file));
  });
}
