// The tokenizer of Karpathy's llama2.c (tokenizer.bin): a SentencePiece BPE
// vocab with scores, encoded by greedy highest-score pair merging. Encode
// reproduces llama2.c run.c encode() exactly, so prompts give the same ids.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lmc::rt {

class Llama2cTokenizer {
 public:
  static constexpr int kBos = 1;
  static constexpr int kEos = 2;

  // Reads a tokenizer.bin: int32 max_token_length, then `vocab_size` entries of
  // (float32 score, int32 len, len bytes). The file does not store the vocab
  // size, so the model passes it. Throws Error naming the file and byte offset.
  static Llama2cTokenizer Load(const std::string& path, int vocab_size);

  // Optional BOS (1); the dummy-prefix " " if text is non-empty; one token per
  // UTF-8 codepoint (byte fallback id = byte + 3 if absent); highest-score
  // merges until none apply (first pair on ties); optional EOS (2). O(n log n)
  // in the text's length.
  std::vector<int> Encode(std::string_view text, bool bos, bool eos) const;

  // Text of `token` for streaming output, as llama2.c decode(): drops the
  // leading space after BOS and maps "<0xXX>" byte tokens to the raw byte.
  // Valid until the tokenizer is destroyed. Throws Error on an out-of-range id.
  std::string_view Piece(int prev_token, int token) const;

  int vocab_size() const { return static_cast<int>(pieces_.size()); }
  // The longest piece in bytes (at least 1), as read, not the file's header
  // (which only bounds it): a text of B bytes needs at least B / this tokens.
  int max_token_length() const { return max_token_length_; }
  const std::string& path() const { return path_; }

 private:
  int Lookup(const std::string& piece) const;
  // Replaces `tokens` by the result of llama2.c's merge loop.
  void MergePairs(std::vector<int>* tokens) const;

  std::string path_;
  int max_token_length_ = 1;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int> ids_;
};

}  // namespace lmc::rt
