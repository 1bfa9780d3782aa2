// Test driver for the llama2.c tokenizer (runtime/tokenizer/llama2c_tokenizer):
//   llama2c_tool TOKENIZER VOCAB_SIZE CORPUS
// CORPUS holds records (uint32 little-endian length, bytes); prints one line
// of space-separated ids (with BOS) per record. Errors: one line, exit 1.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "runtime/tokenizer/llama2c_tokenizer.h"
#include "runtime/util/error.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s TOKENIZER VOCAB_SIZE CORPUS\n", argv[0]);
    return 2;
  }
  try {
    const auto tok = lmc::rt::Llama2cTokenizer::Load(argv[1], std::atoi(argv[2]));
    std::ifstream in(argv[3], std::ios::binary);
    if (!in) lmc::rt::Fail("{}: cannot open", argv[3]);
    const std::string corpus((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
    std::string line;
    for (size_t at = 0; at < corpus.size();) {
      uint32_t len;
      if (corpus.size() - at < 4) lmc::rt::Fail("{}: truncated record at {}", argv[3], at);
      std::memcpy(&len, corpus.data() + at, 4);
      at += 4;
      if (corpus.size() - at < len) lmc::rt::Fail("{}: truncated record at {}", argv[3], at);
      line.clear();
      for (int id : tok.Encode(std::string_view(corpus).substr(at, len), true, false)) {
        if (!line.empty()) line += ' ';
        line += std::to_string(id);
      }
      line += '\n';
      std::fwrite(line.data(), 1, line.size(), stdout);
      at += len;
    }
  } catch (const lmc::rt::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return std::fflush(stdout) == 0 && !std::ferror(stdout) ? 0 : 1;
}
