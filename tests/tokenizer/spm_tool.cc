// Test and benchmark driver for the SentencePiece, WordPiece and GGUF-vocab
// tokenizers, used by the comparison scripts beside it:
//   spm_tool encode KIND FILE CORPUS [--bos] [--eos] [--special]
//       CORPUS holds records (uint32 little-endian length, bytes); prints one
//       line of space-separated ids per record.
//   spm_tool decode KIND FILE IDS   -- IDS: one line of ids per record; writes
//       the decoded records (uint32 length, bytes) to stdout.
//   spm_tool bench KIND FILE TEXT [--whole] -- encodes TEXT line by line (or as
//       one string), prints MB/s.
// KIND is sentencepiece, wordpiece or gguf.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/tokenizer/gguf_vocab.h"
#include "runtime/tokenizer/sentencepiece.h"
#include "runtime/tokenizer/wordpiece.h"
#include "runtime/util/error.h"

namespace {

using lmc::rt::Tokenizer;

std::unique_ptr<Tokenizer> Load(const std::string& kind, const std::string& path) {
  if (kind == "sentencepiece") return lmc::rt::LoadSentencePiece(path);
  if (kind == "wordpiece") return lmc::rt::LoadWordPiece(path);
  if (kind == "gguf") return lmc::rt::LoadGgufTokenizer(path);
  lmc::rt::Fail("unknown tokenizer kind '{}', expected sentencepiece, wordpiece or gguf", kind);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) lmc::rt::Fail("{}: cannot open", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> ReadRecords(const std::string& path) {
  const std::string data = ReadFile(path);
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < data.size()) {
    if (data.size() - pos < 4) lmc::rt::Fail("{}: truncated record length at {}", path, pos);
    uint32_t len;
    std::memcpy(&len, data.data() + pos, 4);
    pos += 4;
    if (len > data.size() - pos) lmc::rt::Fail("{}: truncated record at {}", path, pos);
    out.push_back(data.substr(pos, len));
    pos += len;
  }
  return out;
}

int Run(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: spm_tool encode|decode|bench KIND FILE INPUT [options]\n");
    return 2;
  }
  const std::string mode = argv[1];
  const auto tok = Load(argv[2], argv[3]);
  if (mode == "encode") {
    lmc::rt::EncodeOptions options;
    for (int i = 5; i < argc; ++i) {
      const std::string flag = argv[i];
      if (flag == "--bos") options.add_bos = true;
      if (flag == "--eos") options.add_eos = true;
      if (flag == "--special") options.parse_special = true;
    }
    std::string out;
    for (const std::string& text : ReadRecords(argv[4])) {
      const std::vector<int> ids = tok->Encode(text, options);
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i > 0) out.push_back(' ');
        out += std::to_string(ids[i]);
      }
      out.push_back('\n');
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  }
  if (mode == "decode") {
    std::ifstream in(argv[4]);
    std::string line;
    while (std::getline(in, line)) {
      std::vector<int> ids;
      std::istringstream ls(line);
      int id;
      while (ls >> id) ids.push_back(id);
      const std::string text = tok->Decode(ids);
      const uint32_t len = static_cast<uint32_t>(text.size());
      std::fwrite(&len, 4, 1, stdout);
      std::fwrite(text.data(), 1, text.size(), stdout);
    }
    return 0;
  }
  if (mode == "bench") {
    const std::string text = ReadFile(argv[4]);
    const bool whole = argc > 5 && std::string(argv[5]) == "--whole";
    const int repeat = 1;
    std::vector<std::string_view> lines;
    if (whole) lines.push_back(text);
    for (size_t pos = 0; pos < text.size() && !whole;) {
      size_t end = text.find('\n', pos);
      end = end == std::string::npos ? text.size() : end + 1;
      lines.push_back(std::string_view(text).substr(pos, end - pos));
      pos = end;
    }
    size_t tokens = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < repeat; ++r) {
      for (std::string_view l : lines) tokens += tok->Encode(l, {}).size();
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double mb = static_cast<double>(text.size()) * repeat / 1e6;
    std::printf("%.2f MB in %.3f s: %.2f MB/s, %zu tokens\n", mb, secs, mb / secs, tokens);
    return 0;
  }
  std::fprintf(stderr, "spm_tool: unknown mode '%s'\n", mode.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const lmc::rt::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
