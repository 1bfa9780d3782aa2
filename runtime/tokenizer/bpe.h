// Byte-level BPE tokenizers: tiktoken rank files, GPT-2's encoder.json +
// vocab.bpe, and Hugging Face tokenizer.json with a byte-level BPE model.
//
// Encoding: added/special tokens are cut out first; the rest is split by the
// model's pre-tokenizer regex (pretokenize.h) and each piece is merged by BPE on
// its bytes. Two merge rules exist: tiktoken merges the adjacent pair whose
// concatenation has the lowest rank; GPT-2/Hugging Face merge the pair with the
// lowest merge-list rank. Both pick the leftmost pair on ties and run in
// O(n log n) per piece (a heap over a linked list), so a long word is not quadratic.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/tokenizer/pretokenize.h"
#include "runtime/tokenizer/tokenizer.h"

namespace lmc::rt {

// Byte strings -> int, open addressing; keys live in one arena.
class BytesMap {
 public:
  void Reserve(size_t n);
  // False if `key` is already present (the old value stays).
  bool Insert(std::string_view key, int value);
  int Find(std::string_view key) const;  // -1 if absent.
  size_t size() const { return count_; }

 private:
  struct Slot {
    uint32_t offset = 0;
    uint32_t length = UINT32_MAX;  // UINT32_MAX: empty.
    uint32_t hash = 0;
    int32_t value = 0;
  };
  void Grow();
  std::vector<Slot> slots_;
  std::string arena_;
  size_t count_ = 0;
};

// (left id, right id) -> (merge rank, merged id), open addressing.
class PairMap {
 public:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  void Reserve(size_t n);
  bool Insert(int left, int right, Merge merge);
  const Merge* Find(int left, int right) const;

 private:
  struct Slot {
    uint64_t key = UINT64_MAX;
    Merge merge{};
  };
  std::vector<Slot> slots_;
  size_t count_ = 0;
};

struct AddedToken {
  std::string text;  // As it appears in input text.
  int id = -1;
  bool special = true;                  // Matched only with parse_special; others always.
  bool lstrip = false, rstrip = false;  // Also swallow whitespace before / after.
};

// What a loader fills in; BpeTokenizer checks it and builds the encoder.
struct BpeSpec {
  std::string path;
  enum class Merging { kRanks, kMergeList } merging = Merging::kRanks;
  // Emit a piece that is itself a token without merging (tiktoken always;
  // Hugging Face with ignore_merges).
  bool whole_piece_first = true;
  // Token bytes by id; ids without bytes (gaps, added tokens only) are empty
  // and has_bytes[id] is false.
  std::vector<std::string> tokens;
  std::vector<bool> has_bytes;
  // Merge list (kMergeList) in rank order: left + right = merged.
  struct MergeRule {
    int left, right, merged;
  };
  std::vector<MergeRule> merges;
  std::vector<AddedToken> added;
  // Pre-tokenizer regexes, applied in order, each to the pieces of the one before.
  std::vector<std::string> patterns;
  bool keep_gaps = false;         // Hugging Face Split "Isolated" keeps unmatched text.
  bool add_prefix_space = false;  // Hugging Face ByteLevel add_prefix_space.
  int bos = -1, eos = -1;
};

class BpeTokenizer final : public Tokenizer {
 public:
  // Throws Error naming spec.path if the vocabulary cannot encode every byte,
  // a merge is inconsistent, or the regex does not compile.
  explicit BpeTokenizer(BpeSpec spec);

  std::vector<int> Encode(std::string_view text, const EncodeOptions& options) const override;
  std::string Decode(std::span<const int> ids) const override;
  int vocab_size() const override { return static_cast<int>(tokens_.size()); }
  int bos() const override { return bos_; }
  int eos() const override { return eos_; }
  const std::string& path() const override { return path_; }

  const Pretokenizer& pretokenizer() const { return pretokenizer_; }

  // BPE of one piece of well-formed UTF-8 (exposed for tests), appended to `out`.
  void EncodePiece(std::string_view piece, std::vector<int>* out) const;
  // The same with the plain O(n^2) loop, for tests of the heap version.
  void EncodePieceQuadratic(std::string_view piece, std::vector<int>* out) const;

 private:
  void EncodeOrdinary(std::string_view text, std::vector<int>* out) const;
  // Merges of a piece whose every byte has a token, cached.
  void MergePiece(std::string_view piece, std::vector<int>* out) const;
  void MergeHeap(std::string_view piece, std::vector<int>* out) const;
  // Rank and resulting id of merging the parts [a, b) and [b, c) of `piece`
  // whose ids are left and right; rank INT32_MAX if they do not merge.
  PairMap::Merge MergeOf(std::string_view piece, size_t a, size_t b, size_t c, int left,
                         int right) const;
  // Leftmost-longest added token starting at or after `pos`.
  bool FindAdded(std::string_view text, size_t pos, bool parse_special, size_t* start, size_t* end,
                 const AddedToken** token) const;

  std::string path_;
  BpeSpec::Merging merging_;
  bool whole_piece_first_;
  bool add_prefix_space_;
  std::vector<std::string> tokens_;
  std::vector<bool> has_bytes_;
  std::vector<bool> is_added_;
  BytesMap vocab_;
  PairMap merges_;
  int byte_ids_[256];  // -1: the vocabulary lacks the byte.
  bool lacks_bytes_ = false;
  std::vector<AddedToken> added_;
  bool added_first_byte_[256] = {};
  Pretokenizer pretokenizer_;
  int bos_, eos_;

  // Pieces already merged (words repeat); bounded.
  mutable std::mutex cache_mutex_;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  mutable std::unordered_map<std::string, std::vector<int>, StringHash, std::equal_to<>> cache_;
};

// Loaders. Each throws Error naming the file, the place and what was wrong.
// A .tiktoken rank file ("base64 rank" per line). Its name (cl100k_base,
// o200k_base, r50k_base, p50k_base, p50k_edit, gpt2) selects the regex and the
// special tokens; other names need `pattern` (then there are no special tokens).
std::unique_ptr<BpeTokenizer> LoadTiktoken(const std::string& path,
                                           const std::string& pattern = "");
// GPT-2's encoder.json (or vocab.json) and vocab.bpe (or merges.txt): `path` is
// their folder or either file.
std::unique_ptr<BpeTokenizer> LoadGpt2Bpe(const std::string& path);
// A Hugging Face tokenizer.json with a byte-level BPE model (or its folder).
// `pattern` overrides the pre-tokenizer regex when not empty.
std::unique_ptr<BpeTokenizer> LoadHuggingFaceBpe(const std::string& path,
                                                 const std::string& pattern = "");

// A byte-level BPE from a vocabulary already in memory (a GGUF file's
// tokenizer.ggml.*): token strings by id (byte-level characters, or raw text for
// added tokens), "left right" merges in rank order, and which ids are added
// tokens (special: matched only with parse_special). `where` names the source.
struct ByteLevelBpeSource {
  std::string where;
  std::vector<std::string> tokens;
  std::vector<std::string> merges;
  std::vector<AddedToken> added;      // ids; their text is the token's string as stored.
  std::vector<std::string> patterns;  // A chain, as BpeSpec::patterns; gaps are kept.
  bool ignore_merges = false;         // Emit a piece that is a token whole (Llama 3).
  int bos = -1, eos = -1;
};
std::unique_ptr<BpeTokenizer> MakeByteLevelBpe(ByteLevelBpeSource source);

// GPT-2's reversible byte <-> printable character map ("Ġ" is the space).
const std::string& ByteLevelChar(uint8_t byte);  // UTF-8 of the character.
// Bytes of a byte-level token string; nullopt if a character is not in the map.
std::optional<std::string> ByteLevelDecode(std::string_view token);

}  // namespace lmc::rt
