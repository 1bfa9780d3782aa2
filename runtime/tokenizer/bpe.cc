#include "runtime/tokenizer/bpe.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <queue>

#include "runtime/tokenizer/utf8.h"
#include "runtime/util/error.h"

namespace lmc::rt {
namespace {

inline uint64_t Mix(uint64_t h) {
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93ULL;
  h ^= h >> 32;
  return h;
}

inline uint64_t HashBytes(const char* p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xff51afd7ed558ccdULL);
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ v) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t v = 0;
    std::memcpy(&v, p, n);
    h = (h ^ v) * 0xc4ceb9fe1a85ec53ULL;
  }
  return Mix(h);
}

// A piece at least this long is merged with the heap; shorter ones with the
// plain loop, which is faster for them.
constexpr size_t kHeapThreshold = 48;
constexpr size_t kMaxCacheEntries = 1 << 16;
constexpr int32_t kNoMerge = INT32_MAX;

}  // namespace

// ---------------------------------------------------------------- BytesMap

void BytesMap::Reserve(size_t n) {
  if (arena_.empty()) arena_.reserve(n * 8);
  size_t capacity = 16;
  while (capacity < n * 2) capacity *= 2;
  if (capacity > slots_.size()) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{});
    for (const Slot& s : old) {
      if (s.length == UINT32_MAX) continue;
      size_t mask = slots_.size() - 1;
      size_t i = HashBytes(arena_.data() + s.offset, s.length) & mask;
      while (slots_[i].length != UINT32_MAX) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }
}

void BytesMap::Grow() { Reserve(std::max<size_t>(count_ + 1, slots_.size())); }

bool BytesMap::Insert(std::string_view key, int value) {
  if ((count_ + 1) * 2 > slots_.size()) Grow();
  uint64_t h = HashBytes(key.data(), key.size());
  size_t mask = slots_.size() - 1;
  size_t i = h & mask;
  for (;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.length == UINT32_MAX) break;
    if (s.hash == static_cast<uint32_t>(h >> 32) && s.length == key.size() &&
        std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0) {
      return false;
    }
  }
  Slot& s = slots_[i];
  s.offset = static_cast<uint32_t>(arena_.size());
  s.length = static_cast<uint32_t>(key.size());
  s.hash = static_cast<uint32_t>(h >> 32);
  s.value = value;
  arena_.append(key);
  ++count_;
  return true;
}

int BytesMap::Find(std::string_view key) const {
  if (slots_.empty()) return -1;
  uint64_t h = HashBytes(key.data(), key.size());
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.length == UINT32_MAX) return -1;
    if (s.hash == static_cast<uint32_t>(h >> 32) && s.length == key.size() &&
        std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0) {
      return s.value;
    }
  }
}

// ---------------------------------------------------------------- PairMap

void PairMap::Reserve(size_t n) {
  size_t capacity = 16;
  while (capacity < n * 2) capacity *= 2;
  if (capacity <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot{});
  count_ = 0;
  for (const Slot& s : old) {
    if (s.key != UINT64_MAX)
      Insert(static_cast<int>(s.key >> 32), static_cast<int>(s.key), s.merge);
  }
}

bool PairMap::Insert(int left, int right, Merge merge) {
  if ((count_ + 1) * 2 > slots_.size()) Reserve(count_ + 1 < 8 ? 8 : (count_ + 1) * 2);
  uint64_t key =
      (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  size_t mask = slots_.size() - 1;
  for (size_t i = Mix(key) & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.key == key) {
      s.merge = merge;  // A later duplicate wins, as in the references.
      return false;
    }
    if (s.key == UINT64_MAX) {
      s.key = key;
      s.merge = merge;
      ++count_;
      return true;
    }
  }
}

const PairMap::Merge* PairMap::Find(int left, int right) const {
  if (slots_.empty()) return nullptr;
  uint64_t key =
      (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  size_t mask = slots_.size() - 1;
  for (size_t i = Mix(key) & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.key == key) return &s.merge;
    if (s.key == UINT64_MAX) return nullptr;
  }
}

// ---------------------------------------------------------------- byte level

namespace {

struct ByteLevelMaps {
  std::string chars[256];
  int16_t byte_of[512];
  ByteLevelMaps() {
    std::fill(std::begin(byte_of), std::end(byte_of), int16_t{-1});
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      uint32_t cp = printable ? b : 256 + extra++;
      utf8::Append(cp, &chars[b]);
      byte_of[cp] = static_cast<int16_t>(b);
    }
  }
};
const ByteLevelMaps kByteLevel;

}  // namespace

const std::string& ByteLevelChar(uint8_t byte) { return kByteLevel.chars[byte]; }

std::optional<std::string> ByteLevelDecode(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  size_t pos = 0;
  while (pos < token.size()) {
    size_t len;
    uint32_t cp = utf8::Decode(token, pos, &len);
    if (cp >= 512 || kByteLevel.byte_of[cp] < 0) return std::nullopt;
    if (cp == utf8::kReplacement) return std::nullopt;
    out.push_back(static_cast<char>(kByteLevel.byte_of[cp]));
    pos += len;
  }
  return out;
}

// ---------------------------------------------------------------- BpeTokenizer

BpeTokenizer::BpeTokenizer(BpeSpec spec)
    : path_(std::move(spec.path)),
      merging_(spec.merging),
      whole_piece_first_(spec.whole_piece_first),
      add_prefix_space_(spec.add_prefix_space),
      tokens_(std::move(spec.tokens)),
      has_bytes_(std::move(spec.has_bytes)),
      added_(std::move(spec.added)),
      bos_(spec.bos),
      eos_(spec.eos) {
  has_bytes_.resize(tokens_.size(), false);
  is_added_.assign(tokens_.size(), false);
  vocab_.Reserve(tokens_.size());
  for (size_t id = 0; id < tokens_.size(); ++id) {
    if (has_bytes_[id] && !vocab_.Insert(tokens_[id], static_cast<int>(id))) {
      Fail("{}: token {} has the same bytes as token {}", path_, id, vocab_.Find(tokens_[id]));
    }
  }
  // Encode hands BPE well-formed UTF-8 only, so the 13 bytes that never occur
  // in it (0xC0, 0xC1, 0xF5..0xFF) may be missing (GPT-NeoX's vocab has none).
  // A merge-list vocabulary may lack others too (Falcon lacks 0x03, StarCoder
  // 0xF1): Hugging Face then drops those bytes, as EncodePiece does; tiktoken
  // has no such rule.
  for (int b = 0; b < 256; ++b) {
    char c = static_cast<char>(b);
    byte_ids_[b] = vocab_.Find(std::string_view(&c, 1));
    bool never_in_utf8 = b == 0xC0 || b == 0xC1 || b >= 0xF5;
    if (byte_ids_[b] >= 0 || never_in_utf8) continue;
    if (merging_ == BpeSpec::Merging::kRanks) {
      Fail("{}: no token for the byte 0x{:02X}; a byte-level BPE vocabulary has every byte", path_,
           b);
    }
    lacks_bytes_ = true;
  }
  if (merging_ == BpeSpec::Merging::kMergeList) {
    merges_.Reserve(spec.merges.size());
    for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
      auto [left, right, merged] = spec.merges[rank];
      auto in_range = [&](int id) { return id >= 0 && static_cast<size_t>(id) < tokens_.size(); };
      if (!in_range(left) || !in_range(right) || !in_range(merged) ||
          tokens_[merged].size() != tokens_[left].size() + tokens_[right].size() ||
          !tokens_[merged].starts_with(tokens_[left]) ||
          !tokens_[merged].ends_with(tokens_[right])) {
        Fail("{}: merge {} joins tokens {} and {} into a string that is not in the vocabulary",
             path_, rank, left, right);
      }
      merges_.Insert(left, right, {static_cast<int32_t>(rank), merged});
    }
  }
  // Longest first, so the first match at a position is the longest.
  std::stable_sort(added_.begin(), added_.end(), [](const AddedToken& a, const AddedToken& b) {
    return a.text.size() > b.text.size();
  });
  std::erase_if(added_, [](const AddedToken& a) { return a.text.empty(); });
  for (const AddedToken& a : added_) {
    if (a.id < 0 || static_cast<size_t>(a.id) >= tokens_.size()) {
      Fail("{}: added token '{}' has id {} outside the vocabulary", path_, a.text, a.id);
    }
    added_first_byte_[static_cast<unsigned char>(a.text[0])] = true;
    is_added_[a.id] = true;
    tokens_[a.id] = a.text;  // Decodes to its text, even where its id also has bytes.
  }
  if (bos_ >= static_cast<int>(tokens_.size()) || eos_ >= static_cast<int>(tokens_.size())) {
    Fail("{}: BOS/EOS id outside the vocabulary", path_);
  }
  pretokenizer_ = Pretokenizer::ForPatterns(spec.patterns, spec.keep_gaps, path_);
}

bool BpeTokenizer::FindAdded(std::string_view text, size_t pos, bool parse_special, size_t* start,
                             size_t* end, const AddedToken** token) const {
  for (size_t i = pos; i < text.size(); ++i) {
    if (!added_first_byte_[static_cast<unsigned char>(text[i])]) continue;
    for (const AddedToken& a : added_) {
      if (a.special && !parse_special) continue;
      if (text.compare(i, a.text.size(), a.text) != 0) continue;
      size_t s = i, e = i + a.text.size();
      auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
      if (a.lstrip) {
        while (s > pos && space(text[s - 1])) --s;
      }
      if (a.rstrip) {
        while (e < text.size() && space(text[e])) ++e;
      }
      *start = s;
      *end = e;
      *token = &a;
      return true;
    }
  }
  return false;
}

std::vector<int> BpeTokenizer::Encode(std::string_view text, const EncodeOptions& options) const {
  std::string lossy;
  if (!utf8::IsValid(text)) {
    lossy = utf8::Lossy(text);
    text = lossy;
  }
  std::vector<int> out;
  out.reserve(text.size() / 3 + 4);
  if (options.add_bos && bos_ >= 0) out.push_back(bos_);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start, end;
    const AddedToken* token;
    if (added_.empty() || !FindAdded(text, pos, options.parse_special, &start, &end, &token)) {
      EncodeOrdinary(text.substr(pos), &out);
      break;
    }
    EncodeOrdinary(text.substr(pos, start - pos), &out);
    out.push_back(token->id);
    pos = end;
  }
  if (options.add_eos && eos_ >= 0) out.push_back(eos_);
  return out;
}

void BpeTokenizer::EncodeOrdinary(std::string_view text, std::vector<int>* out) const {
  if (text.empty()) return;
  std::string prefixed;
  if (add_prefix_space_ && text[0] != ' ') {
    prefixed.reserve(text.size() + 1);
    prefixed.push_back(' ');
    prefixed.append(text);
    text = prefixed;
  }
  std::vector<std::string_view> pieces;
  pieces.reserve(text.size() / 4 + 1);
  pretokenizer_.Split(text, &pieces);
  for (std::string_view piece : pieces) EncodePiece(piece, out);
}

PairMap::Merge BpeTokenizer::MergeOf(std::string_view piece, size_t a, size_t b, size_t c, int left,
                                     int right) const {
  if (merging_ == BpeSpec::Merging::kRanks) {
    (void)b;
    int id = vocab_.Find(piece.substr(a, c - a));
    return {id < 0 ? kNoMerge : id, id};
  }
  const PairMap::Merge* m = merges_.Find(left, right);
  return m ? *m : PairMap::Merge{kNoMerge, -1};
}

void BpeTokenizer::EncodePiece(std::string_view piece, std::vector<int>* out) const {
  if (piece.empty()) return;
  if (piece.size() == 1) {
    const int id = byte_ids_[static_cast<unsigned char>(piece[0])];
    if (id >= 0) out->push_back(id);  // Else a byte the vocabulary lacks: dropped.
    return;
  }
  if (whole_piece_first_) {
    int id = vocab_.Find(piece);
    if (id >= 0) {
      out->push_back(id);
      return;
    }
  }
  if (lacks_bytes_) {
    std::string kept;
    for (char c : piece) {
      if (byte_ids_[static_cast<unsigned char>(c)] >= 0) kept.push_back(c);
    }
    if (kept.size() != piece.size()) return MergePiece(kept, out);
  }
  MergePiece(piece, out);
}

void BpeTokenizer::MergePiece(std::string_view piece, std::vector<int>* out) const {
  if (piece.empty()) return;
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t first = out->size();
  if (piece.size() < kHeapThreshold) {
    EncodePieceQuadratic(piece, out);
  } else {
    MergeHeap(piece, out);
  }
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= kMaxCacheEntries) cache_.clear();
  cache_.emplace(std::string(piece), std::vector<int>(out->begin() + first, out->end()));
}

void BpeTokenizer::EncodePieceQuadratic(std::string_view piece, std::vector<int>* out) const {
  // parts[i]: start byte, id, and the merge of part i with part i + 1.
  struct Part {
    size_t start;
    int id;
    PairMap::Merge merge;
  };
  const size_t n = piece.size();
  std::vector<Part> parts(n + 1);
  for (size_t i = 0; i < n; ++i) {
    parts[i] = {i, byte_ids_[static_cast<unsigned char>(piece[i])], {kNoMerge, -1}};
  }
  parts[n] = {n, -1, {kNoMerge, -1}};
  for (size_t i = 0; i + 1 < n; ++i) {
    parts[i].merge = MergeOf(piece, i, i + 1, i + 2, parts[i].id, parts[i + 1].id);
  }
  // parts.size() - 1 real parts; the last entry is the end sentinel.
  while (parts.size() > 2) {
    size_t best = 0;
    int32_t best_rank = kNoMerge;
    for (size_t i = 0; i + 2 < parts.size(); ++i) {
      if (parts[i].merge.rank < best_rank) {
        best_rank = parts[i].merge.rank;
        best = i;
      }
    }
    if (best_rank == kNoMerge) break;
    parts[best].id = parts[best].merge.id;
    parts.erase(parts.begin() + best + 1);
    auto recompute = [&](size_t i) {
      if (i + 2 < parts.size()) {
        parts[i].merge = MergeOf(piece, parts[i].start, parts[i + 1].start, parts[i + 2].start,
                                 parts[i].id, parts[i + 1].id);
      } else {
        parts[i].merge = {kNoMerge, -1};
      }
    };
    recompute(best);
    if (best > 0) recompute(best - 1);
  }
  for (size_t i = 0; i + 1 < parts.size(); ++i) out->push_back(parts[i].id);
}

void BpeTokenizer::MergeHeap(std::string_view piece, std::vector<int>* out) const {
  // Symbols indexed by their start byte; a merge keeps the left one.
  const int n = static_cast<int>(piece.size());
  std::vector<int> id(n), prev(n), next(n);
  std::vector<char> alive(n, 1);
  for (int i = 0; i < n; ++i) {
    id[i] = byte_ids_[static_cast<unsigned char>(piece[i])];
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  auto end_of = [&](int i) { return next[i] < 0 ? n : next[i]; };
  struct Candidate {
    int32_t rank;
    int left;
    int right;
    int right_end;
    int merged;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : left > o.left;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto consider = [&](int left) {
    if (left < 0) return;
    int right = next[left];
    if (right < 0) return;
    PairMap::Merge m = MergeOf(piece, left, right, end_of(right), id[left], id[right]);
    if (m.rank != kNoMerge) heap.push({m.rank, left, right, end_of(right), m.id});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    Candidate c = heap.top();
    heap.pop();
    if (!alive[c.left] || next[c.left] != c.right || !alive[c.right] ||
        end_of(c.right) != c.right_end) {
      continue;  // Stale: one side has merged since.
    }
    id[c.left] = c.merged;
    alive[c.right] = 0;
    next[c.left] = next[c.right];
    if (next[c.left] >= 0) prev[next[c.left]] = c.left;
    consider(prev[c.left]);
    consider(c.left);
  }
  for (int i = 0; i >= 0; i = next[i]) out->push_back(id[i]);
}

std::string BpeTokenizer::Decode(std::span<const int> ids) const {
  std::string out;
  for (int id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= tokens_.size()) {
      Fail("{}: token id {} is out of range for vocab size {}", path_, id, tokens_.size());
    }
    if (!has_bytes_[id] && !is_added_[id])
      Fail("{}: token id {} is not used by this vocabulary", path_, id);
    out.append(tokens_[id]);
  }
  return out;
}

}  // namespace lmc::rt
