// libFuzzer: bytes as a Hugging Face tokenizer.json (byte-level BPE or
// WordPiece, as LoadTokenizer tells them apart), then encode and decode
// (tokenizer_loader_fuzz.h).
#include "tests/fuzz/tokenizer_loader_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return lmc::fuzz::Run(data, size, [](std::string_view file) {
    return lmc::rt::LoadTokenizer("huggingface", lmc::fuzz::WriteScratch("tokenizer.json", file));
  });
}
