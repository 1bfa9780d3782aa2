// The shared body of the tokenizer-loader fuzz harnesses (fuzz_load_*.cc): the
// input is one byte n, n bytes of text, then the tokenizer file(s). A loader
// must accept the file or throw Error; a loaded tokenizer must encode the text
// (both ways: special tokens as text and matched) to ids inside its vocabulary
// and decode them without an Error, and must refuse an id past the end.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <span>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/tokenizer/tokenizer.h"
#include "runtime/util/error.h"

namespace lmc::fuzz {

// A folder of this process's own, for the files a harness writes.
inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    std::string d = std::filesystem::temp_directory_path().string() + "/lmc_fuzz_tok_" +
                    std::to_string(::getpid());
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::string WriteScratch(const std::string& name, std::string_view bytes) {
  std::string path = ScratchDir() + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  return path;
}

inline void Exercise(const rt::Tokenizer& tokenizer, std::string_view text) {
  const int vocab = tokenizer.vocab_size();
  for (bool special : {false, true}) {
    rt::EncodeOptions options;
    options.add_bos = special;
    options.add_eos = special;
    options.parse_special = special;
    std::vector<int> ids = tokenizer.Encode(text, options);
    for (int id : ids) {
      if (id < 0 || id >= vocab) std::abort();
    }
    volatile size_t n = tokenizer.Decode(ids).size();
    (void)n;
  }
  // Ids decode in pairs (first pieces, byte tokens), or are refused (an id a
  // vocabulary leaves unused) with an Error.
  for (int id = 0; id < std::min(vocab, 64); ++id) {
    int pair[2] = {id, vocab - 1 - id};
    try {
      volatile size_t n = tokenizer.Decode(std::span<const int>(pair, 2)).size();
      (void)n;
    } catch (const rt::Error&) {
    }
  }
  int past = vocab;
  try {
    tokenizer.Decode(std::span<const int>(&past, 1));
    std::abort();  // An id past the vocabulary must be refused.
  } catch (const rt::Error&) {
  }
}

// Splits the input, then load(file bytes) -> tokenizer, then Exercise.
inline int Run(const uint8_t* data, size_t size,
               const std::function<std::unique_ptr<rt::Tokenizer>(std::string_view)>& load) {
  if (size < 1) return 0;
  size_t text_size = std::min<size_t>(data[0], size - 1);
  std::string_view text(reinterpret_cast<const char*>(data + 1), text_size);
  std::string_view file(reinterpret_cast<const char*>(data + 1 + text_size), size - 1 - text_size);
  std::unique_ptr<rt::Tokenizer> tokenizer;
  try {
    tokenizer = load(file);
  } catch (const rt::Error&) {
    return 0;
  }
  try {
    Exercise(*tokenizer, text);
  } catch (const rt::Error& e) {
    // Encoding valid or invalid text never throws once a tokenizer has loaded.
    std::fprintf(stderr, "encode/decode threw: %s\n", e.what());
    std::abort();
  }
  return 0;
}

}  // namespace lmc::fuzz
