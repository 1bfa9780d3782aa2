// LoadTokenizer: the kind named by the spec (or detected from the file) to a
// Tokenizer. llama2.c's tokenizer.bin is wrapped; byte-level BPE kinds are in
// bpe.h, SentencePiece, WordPiece and GGUF vocabs in their own files.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "runtime/tokenizer/bpe.h"
#include "runtime/tokenizer/gguf_vocab.h"
#include "runtime/tokenizer/llama2c_tokenizer.h"
#include "runtime/tokenizer/sentencepiece.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/wordpiece.h"
#include "runtime/util/error.h"

namespace lmc::rt {
namespace {

namespace fs = std::filesystem;

class Llama2cAdapter final : public Tokenizer {
 public:
  explicit Llama2cAdapter(Llama2cTokenizer tokenizer) : tokenizer_(std::move(tokenizer)) {}

  std::vector<int> Encode(std::string_view text, const EncodeOptions& options) const override {
    return tokenizer_.Encode(text, options.add_bos, options.add_eos);
  }
  // As SentencePiece decodes: BOS/EOS print nothing, and the first piece loses
  // the dummy-prefix space.
  std::string Decode(std::span<const int> ids) const override {
    std::string out;
    int prev = Llama2cTokenizer::kBos;
    for (int id : ids) {
      if (id == Llama2cTokenizer::kBos || id == Llama2cTokenizer::kEos) {
        prev = id;
        continue;
      }
      out.append(tokenizer_.Piece(prev, id));
      prev = id;
    }
    return out;
  }
  int vocab_size() const override { return tokenizer_.vocab_size(); }
  int bos() const override { return Llama2cTokenizer::kBos; }
  int eos() const override { return Llama2cTokenizer::kEos; }
  const std::string& path() const override { return tokenizer_.path(); }

 private:
  Llama2cTokenizer tokenizer_;
};

// tokenizer.bin does not store its size: count the entries up to the end.
int CountLlama2cEntries(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail("{}: cannot read: {}", path, std::strerror(errno));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = 4;
  int count = 0;
  while (pos + 8 <= data.size()) {
    int32_t len;
    std::memcpy(&len, data.data() + pos + 4, 4);
    if (len < 0 || pos + 8 + static_cast<size_t>(len) > data.size()) break;
    pos += 8 + len;
    ++count;
  }
  if (count == 0 || pos != data.size()) {
    Fail("{}: not a llama2.c tokenizer.bin (entries do not end at the end of the file at byte {})",
         path, pos);
  }
  return count;
}

std::string Head(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string head(n, '\0');
  in.read(head.data(), static_cast<std::streamsize>(n));
  head.resize(static_cast<size_t>(in.gcount()));
  return head;
}

// The kind of `path` from its name, then its first bytes.
std::string DetectKind(const std::string& path) {
  std::error_code ec;
  fs::path p(path);
  if (!fs::exists(p, ec)) Fail("{}: no such file or folder", path);
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "tokenizer.json", ec)) return "huggingface";
    if ((fs::exists(p / "encoder.json", ec) || fs::exists(p / "vocab.json", ec)) &&
        (fs::exists(p / "vocab.bpe", ec) || fs::exists(p / "merges.txt", ec))) {
      return "gpt2_bpe";
    }
    if (fs::exists(p / "tokenizer.model", ec)) return "sentencepiece";
    Fail(
        "{}: a folder without tokenizer.json, encoder.json/vocab.json + vocab.bpe/merges.txt or "
        "tokenizer.model",
        path);
  }
  std::string name = p.filename().string(), ext = p.extension().string();
  if (ext == ".tiktoken") return "tiktoken";
  if (name == "encoder.json" || name == "vocab.json" || name == "vocab.bpe" ||
      name == "merges.txt") {
    return "gpt2_bpe";
  }
  if (ext == ".gguf") return "gguf";
  if (ext == ".model") return "sentencepiece";
  if (ext == ".json") return "huggingface";
  if (ext == ".bin") return "llama2c";
  std::string head = Head(path, 64);
  if (head.starts_with("GGUF")) return "gguf";
  if (head.starts_with("{")) return "huggingface";
  size_t space = head.find(' ');
  if (space != std::string::npos && space > 0 &&
      head.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") ==
          space) {
    return "tiktoken";
  }
  Fail(
      "{}: cannot tell the tokenizer kind from the name or content; name it with --kind "
      "(tiktoken, gpt2_bpe, huggingface, sentencepiece, wordpiece, gguf, llama2c)",
      path);
}

// A tokenizer.json whose model is WordPiece (BERT) rather than byte-level BPE.
bool IsWordPieceJson(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.find("\"type\": \"WordPiece\"") != std::string::npos ||
         text.find("\"type\":\"WordPiece\"") != std::string::npos;
}

}  // namespace

std::unique_ptr<Tokenizer> LoadTokenizer(const std::string& kind, const std::string& path,
                                         int vocab_size) {
  std::string k = kind.empty() ? DetectKind(path) : kind;
  std::unique_ptr<Tokenizer> tokenizer;
  if (k == "llama2c") {
    int size = vocab_size > 0 ? vocab_size : CountLlama2cEntries(path);
    tokenizer = std::make_unique<Llama2cAdapter>(Llama2cTokenizer::Load(path, size));
  } else if (k == "tiktoken") {
    tokenizer = LoadTiktoken(path);
  } else if (k == "gpt2_bpe") {
    tokenizer = LoadGpt2Bpe(path);
  } else if (k == "huggingface") {
    tokenizer = IsWordPieceJson(path) ? LoadWordPiece(path) : LoadHuggingFaceBpe(path);
  } else if (k == "sentencepiece") {
    std::error_code ec;
    bool folder = std::filesystem::is_directory(path, ec);
    if (folder && !std::filesystem::exists(path + "/tokenizer.model", ec)) {
      Fail("{}: a folder without tokenizer.model (the tokenizer kind is sentencepiece)", path);
    }
    tokenizer = LoadSentencePiece(folder ? path + "/tokenizer.model" : path);
  } else if (k == "wordpiece") {
    tokenizer = LoadWordPiece(path);
  } else if (k == "gguf") {
    tokenizer = LoadGgufTokenizer(path);
  } else {
    Fail(
        "{}: unknown tokenizer kind '{}' (expected llama2c, sentencepiece, tiktoken, gpt2_bpe, "
        "huggingface, wordpiece or gguf)",
        path, k);
  }
  if (vocab_size > 0 && tokenizer->vocab_size() > vocab_size) {
    Fail("{}: the tokenizer has {} tokens, the model's vocab_size is {}", path,
         tokenizer->vocab_size(), vocab_size);
  }
  return tokenizer;
}

}  // namespace lmc::rt
