// libFuzzer: bytes as a GGUF vocab (tokenizer.ggml.*: llama, bert and gpt2
// models), then encode and decode (tokenizer_loader_fuzz.h).
#include "tests/fuzz/tokenizer_loader_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return lmc::fuzz::Run(data, size, [](std::string_view file) {
    return lmc::rt::LoadTokenizer("gguf", lmc::fuzz::WriteScratch("vocab.gguf", file));
  });
}
