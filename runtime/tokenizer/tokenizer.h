// The one tokenizer interface the model binary and `lmc tokenize` use. Each kind
// (llama2.c tokenizer.bin, SentencePiece .model, tiktoken ranks, GPT-2 BPE,
// Hugging Face tokenizer.json, GGUF vocab) implements it; LoadTokenizer picks
// the implementation from the kind named by the spec (or detected from the file).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lmc::rt {

// Token ids index dense tables, so the largest id a file names sets what loading it
// allocates. Loaders refuse ids from here on: 16 times the largest real vocabulary
// (Gemma's 262,144).
constexpr int kMaxVocabSize = 1 << 22;

struct EncodeOptions {
  bool add_bos = false;  // Prepend BOS where the tokenizer has one.
  bool add_eos = false;
  // Match special tokens ("<|endoftext|>", "[CLS]") in the text; otherwise they
  // are encoded as plain text.
  bool parse_special = false;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  virtual std::vector<int> Encode(std::string_view text, const EncodeOptions& options) const = 0;

  // The bytes of `ids` joined, as the reference implementation decodes them
  // (byte tokens to raw bytes, "▁" to space, "##" continuations joined). May
  // contain incomplete UTF-8 where the ids end mid-character; see StreamDecoder.
  virtual std::string Decode(std::span<const int> ids) const = 0;

  virtual int vocab_size() const = 0;
  virtual int bos() const { return -1; }  // -1 when there is none.
  virtual int eos() const { return -1; }
  virtual const std::string& path() const = 0;
};

// Kinds as the spec's tokenizer.kind names them: "llama2c", "sentencepiece",
// "tiktoken", "gpt2_bpe", "huggingface", "wordpiece", "gguf". An empty kind detects it
// from the file (by name and content). Throws Error naming the file and what was
// wrong. vocab_size, when > 0, is checked against the file's.
std::unique_ptr<Tokenizer> LoadTokenizer(const std::string& kind, const std::string& path,
                                         int vocab_size = 0);

}  // namespace lmc::rt
