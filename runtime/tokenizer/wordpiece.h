// BERT's WordPiece tokenizer, id-exact with Hugging Face tokenizers: the
// BertNormalizer (control characters removed, whitespace to " ", CJK
// ideographs spaced, accents stripped and lower-cased when uncased), the
// BertPreTokenizer (split on whitespace and around punctuation) and greedy
// longest-match WordPiece with "##" continuations and [UNK] for words that do
// not segment or exceed max_input_chars_per_word. Read from a Hugging Face
// tokenizer.json ("model": {"type": "WordPiece"}) or built from a GGUF vocab.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/tokenizer/sentencepiece_tables.h"
#include "runtime/tokenizer/tokenizer.h"

namespace lmc::rt {

struct WordPieceSpec {
  std::vector<std::string> vocab;  // Continuations carry the prefix ("##ing").
  std::string unk_token = "[UNK]";
  std::string continuing_prefix = "##";
  int max_input_chars_per_word = 100;
  bool lowercase = true;
  bool strip_accents = true;
  bool clean_text = true;
  bool handle_chinese_chars = true;
  // Specials: [CLS] is the BOS-like id, [SEP] the EOS-like one (-1: none).
  int cls_id = -1;
  int sep_id = -1;
  // Added tokens matched in the text with parse_special (id, content).
  std::vector<std::pair<int, std::string>> special_tokens;
};

class WordPieceTokenizer : public Tokenizer {
 public:
  WordPieceTokenizer(WordPieceSpec spec, std::string path);

  // add_bos prepends [CLS], add_eos appends [SEP] (the BERT template "[CLS] $A
  // [SEP]"). Text that is not valid UTF-8 is decoded lossily (U+FFFD), then
  // cleaned like any other text.
  std::vector<int> Encode(std::string_view text, const EncodeOptions& options) const override;
  // Tokens joined by " ", "##" continuations glued to the previous token, as
  // the WordPiece decoder does (cleanup of spaces before punctuation included).
  std::string Decode(std::span<const int> ids) const override;

  int vocab_size() const override { return static_cast<int>(spec_.vocab.size()); }
  int bos() const override { return spec_.cls_id; }
  int eos() const override { return spec_.sep_id; }
  const std::string& path() const override { return path_; }

  // The normalized text (BertNormalizer), for tests.
  std::string Normalize(std::string_view text) const;

 private:
  void EncodeText(std::string_view text, std::vector<int>* ids) const;
  void EncodeWord(std::string_view word, std::vector<int>* ids) const;

  WordPieceSpec spec_;
  std::string path_;
  PieceTable words_;          // Word-initial pieces.
  PieceTable continuations_;  // Continuation pieces, without the prefix.
  ByteTrie specials_;
  int unk_ = -1;
};

// Loads a Hugging Face tokenizer.json whose model is WordPiece. Throws Error
// naming the file and what was wrong.
std::unique_ptr<Tokenizer> LoadWordPiece(const std::string& path);

}  // namespace lmc::rt
