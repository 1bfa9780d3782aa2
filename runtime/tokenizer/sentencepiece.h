// SentencePiece tokenizers, id-exact with libsentencepiece: BPE (Llama 1/2,
// llama2.c's tok512.model) and unigram (T5-style), with byte fallback,
// user-defined and control pieces, and the normalizer the model declares.
// Read from a .model file (protobuf ModelProto) or built from a GGUF vocab.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/tokenizer/sentencepiece_normalizer.h"
#include "runtime/tokenizer/sentencepiece_tables.h"
#include "runtime/tokenizer/tokenizer.h"

namespace lmc::rt {

// ModelProto.SentencePiece.Type (also llama.cpp's token types in GGUF).
enum class SpmPieceType : uint8_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Everything a SentencePiece tokenizer needs, as a .model file or a GGUF states it.
struct SentencePieceSpec {
  enum class Algorithm { kUnigram, kBpe };
  Algorithm algorithm = Algorithm::kUnigram;
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<SpmPieceType> types;
  bool byte_fallback = false;
  SpmNormalizerOptions normalizer;
  std::string normalizer_name;
  std::string bos_piece = "<s>";
  std::string eos_piece = "</s>";
  std::string unk_surface = " \xE2\x81\x87 ";  // " ⁇ "
  // Ids given explicitly (GGUF); -2 looks the piece names above up instead.
  int bos_id = -2;
  int eos_id = -2;
};

// Parses a serialized ModelProto. Throws Error naming `path` and the byte offset.
SentencePieceSpec ParseSentencePieceModel(std::string_view bytes, const std::string& path);

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Validates the vocab (byte pieces, one unknown piece, no duplicates) and
  // builds the lookup tables. Throws Error naming `path`.
  SentencePieceTokenizer(SentencePieceSpec spec, std::string path);

  // Normalizes, then BPE-merges (priority queue over a linked list of
  // symbols, O(n log n)) or finds the Viterbi path of the unigram lattice
  // (O(n * longest piece)); unknown pieces become byte tokens with byte
  // fallback, else one unknown id per run. With parse_special, control pieces
  // in the text become their ids and the text between them is encoded alone
  // (the dummy prefix only at the very start of the text).
  std::vector<int> Encode(std::string_view text, const EncodeOptions& options) const override;
  std::string Decode(std::span<const int> ids) const override;

  int vocab_size() const override { return static_cast<int>(spec_.pieces.size()); }
  int bos() const override { return bos_; }
  int eos() const override { return eos_; }
  int unk() const { return unk_; }
  const std::string& path() const override { return path_; }

  const std::string& piece(int id) const { return spec_.pieces.at(id); }
  SpmPieceType type(int id) const { return spec_.types.at(id); }
  const SentencePieceSpec& spec() const { return spec_; }

  // The normalized text, as the model sees it before segmentation.
  std::string Normalize(std::string_view text) const;

 private:
  void EncodeNormalized(std::string_view normalized, std::vector<int>* ids) const;
  void EncodeBpe(std::string_view normalized, std::vector<int>* ids) const;
  void EncodeUnigram(std::string_view normalized, std::vector<int>* ids) const;
  // Appends the id of a final piece (resegmenting UNUSED pieces) to `ids`.
  void EmitPiece(std::string_view piece, int id, std::vector<int>* ids, bool* prev_unk) const;
  void EmitUnknown(std::string_view piece, std::vector<int>* ids, bool* prev_unk) const;

  SentencePieceSpec spec_;
  std::string path_;
  SpmNormalizer normalizer_;
  PieceTable pieces_;    // NORMAL, USER_DEFINED and UNUSED pieces: what merges may form.
  PieceTable reserved_;  // CONTROL, UNKNOWN and BYTE pieces.
  ByteTrie user_defined_;
  DoubleArrayTrie unigram_trie_;  // Unigram: the pieces_ as a trie.
  ByteTrie control_trie_;         // parse_special: CONTROL pieces.
  std::vector<int> final_id_;     // A merged piece's id after reserved-first lookup.
  int byte_ids_[256];
  int unk_ = -1;
  int bos_ = -1;
  int eos_ = -1;
  bool has_unused_ = false;
  // BPE: no piece holds "▁" except as a leading run, so the text splits before
  // every "▁" that follows another character and each part merges alone.
  bool split_at_spaces_ = false;
  float min_score_ = 0;
  float max_score_ = 0;

  // BPE with split_at_spaces_: the ids of recently seen parts ("▁word"),
  // direct-mapped by hash. Shared by threads under the mutex.
  static constexpr size_t kCacheSize = 1 << 14;
  static constexpr size_t kMaxCachedPart = 64;
  struct CacheEntry {
    std::string key;
    std::vector<int> ids;
  };
  mutable std::mutex cache_mu_;
  mutable std::vector<CacheEntry> cache_;
};

// Loads a SentencePiece .model file. Throws Error naming the file.
std::unique_ptr<Tokenizer> LoadSentencePiece(const std::string& path);

}  // namespace lmc::rt
