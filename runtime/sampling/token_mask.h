// Which tokens may come next under a JSON grammar: the vocabulary's byte strings in a trie,
// walked against the automaton (json_grammar.h) so that a shared prefix is matched once and a
// refused byte prunes every token under it; masks cached by automaton state.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/sampling/json_grammar.h"

namespace lmc::rt {

// The bytes each token adds to the text in the middle of a sequence, and their trie.
class TokenVocabulary {
 public:
  // bytes[id]: "" for a token never produced under a grammar (special tokens).
  explicit TokenVocabulary(std::vector<std::string> bytes);
  // From a detokenizer: each token's bytes after `ref`, an ordinary token (how a tokenizer
  // spells a token can depend on the one before: SentencePiece drops a first piece's space),
  // "" for the ids in `none` (BOS, EOS). ref < 0: each token decoded alone.
  using Decode = std::function<std::string(std::span<const int32_t>)>;
  static std::shared_ptr<const TokenVocabulary> FromDecoder(int vocab_size, int32_t ref,
                                                            const std::vector<int32_t>& none,
                                                            const Decode& decode);

  int size() const { return static_cast<int>(bytes_.size()); }
  const std::string& bytes(int id) const { return bytes_[id]; }

  struct TrieNode {
    uint32_t first_child = 0, child_count = 0;  // children are contiguous
    uint32_t token_begin = 0, token_end = 0;    // tokens_[begin, end): spelled by this path
    uint8_t byte = 0;                           // the edge into this node
  };
  struct Trie {
    std::vector<TrieNode> nodes;  // nodes[0]: the root (the empty string)
    std::vector<int32_t> tokens;  // ids sorted by bytes
  };
  // Every token with bytes.
  const Trie& trie() const { return all_; }
  // Tokens of printable ASCII but '"' and '\\' (which a string's body takes as they are), as a
  // mask; and the trie of the others.
  const std::vector<uint64_t>& plain() const { return plain_; }
  const Trie& not_plain() const { return not_plain_; }
  size_t max_length() const { return max_length_; }

 private:
  void Build(Trie* trie, uint32_t node, size_t lo, size_t hi, size_t depth);
  Trie Make(std::vector<int32_t> ids);

  std::vector<std::string> bytes_;
  Trie all_, not_plain_;
  std::vector<uint64_t> plain_;
  size_t max_length_ = 0;
};

class TokenMask {
 public:
  // end_ids: the tokens that end generation, allowed exactly where the document may end.
  TokenMask(std::shared_ptr<const TokenVocabulary> vocabulary,
            std::shared_ptr<const JsonGrammar> grammar, std::vector<int32_t> end_ids);

  // Bit `id` of word id / 64 is set if token `id` may follow `state`.
  const std::vector<uint64_t>& Allowed(const JsonMatcher& state);
  // The walk itself, uncached (the tests compare it with a walk per token).
  std::vector<uint64_t> Compute(const JsonMatcher& state);

  static bool Test(const std::vector<uint64_t>& mask, int id) {
    return mask[id >> 6] >> (id & 63) & 1;
  }

  size_t hits() const { return hits_; }
  size_t misses() const { return misses_; }

 private:
  void Walk(const TokenVocabulary::Trie& trie, uint32_t node, size_t depth,
            std::vector<uint64_t>* mask);

  std::shared_ptr<const TokenVocabulary> vocabulary_;
  std::shared_ptr<const JsonGrammar> grammar_;
  std::vector<int32_t> end_ids_;
  std::vector<JsonMatcher> levels_;  // the state after each byte of the path walked
  std::unordered_map<std::string, std::vector<uint64_t>> cache_;
  size_t hits_ = 0, misses_ = 0;
};

}  // namespace lmc::rt
