// libFuzzer: bytes as a llama2.c tokenizer file, then encode and decode.
// Layout: 2 bytes vocab size (1..1024), 1 byte text length, that many bytes
// of text, then the tokenizer file.
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "runtime/tokenizer/llama2c_tokenizer.h"
#include "runtime/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  int vocab = 1 + ((data[0] | (data[1] << 8)) % 1024);
  size_t text_size = std::min<size_t>(data[2], size - 3);
  std::string_view text(reinterpret_cast<const char*>(data + 3), text_size);
  static const std::string path = "/tmp/lmc_fuzz_tokenizer_" + std::to_string(::getpid()) + ".bin";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data + 3 + text_size, 1, size - 3 - text_size, f);
  std::fclose(f);
  try {
    auto tokenizer = lmc::rt::Llama2cTokenizer::Load(path, vocab);
    auto ids = tokenizer.Encode(text, true, true);
    int prev = 1;
    for (int id : ids) {
      volatile size_t n = tokenizer.Piece(prev, id).size();
      (void)n;
      prev = id;
    }
  } catch (const lmc::rt::Error&) {
  }
  return 0;
}
