#include "runtime/tokenizer/sentencepiece.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "runtime/tokenizer/protobuf_reader.h"
#include "runtime/util/error.h"
#include "runtime/weights/mapped_file.h"

namespace lmc::rt {
namespace {

constexpr std::string_view kSpaceSymbol = "\xe2\x96\x81";  // "▁"
// libsentencepiece's unigram penalty for an unknown character, below the lowest score.
constexpr float kUnkPenalty = 10.0f;
// More pieces than any real vocab; keeps a corrupt count from allocating gigabytes.
constexpr size_t kMaxPieces = 1u << 24;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The byte of a "<0xXX>" piece (upper-case hex, as sentencepiece writes them), or -1.
int BytePiece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  const int hi = HexDigit(piece[3]), lo = HexDigit(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

const char* TypeName(SpmPieceType t) {
  switch (t) {
    case SpmPieceType::kNormal:
      return "normal";
    case SpmPieceType::kUnknown:
      return "unknown";
    case SpmPieceType::kControl:
      return "control";
    case SpmPieceType::kUserDefined:
      return "user-defined";
    case SpmPieceType::kUnused:
      return "unused";
    case SpmPieceType::kByte:
      return "byte";
  }
  return "?";
}

void ParsePiece(ProtobufReader msg, SentencePieceSpec* spec, const std::string& path) {
  const size_t start = msg.offset();
  std::string piece;
  float score = 0;
  uint64_t type = 1;
  bool has_piece = false;
  while (msg.Next()) {
    switch (msg.field()) {
      case 1:
        piece = std::string(msg.Bytes());
        has_piece = true;
        break;
      case 2:
        score = msg.Float();
        break;
      case 3:
        type = msg.Varint();
        if (type < 1 || type > 6) {
          Fail("{}: byte offset {}: piece {} has type {}, expected 1..6", path, start,
               spec->pieces.size(), type);
        }
        break;
      default:
        msg.Skip();
    }
  }
  if (!has_piece)
    Fail("{}: byte offset {}: piece {} has no text", path, start, spec->pieces.size());
  spec->pieces.push_back(std::move(piece));
  spec->scores.push_back(score);
  spec->types.push_back(static_cast<SpmPieceType>(type));
}

}  // namespace

SentencePieceSpec ParseSentencePieceModel(std::string_view bytes, const std::string& path) {
  SentencePieceSpec spec;
  ProtobufReader top(bytes, path);
  uint64_t model_type = 1;  // UNIGRAM is the proto default.
  while (top.Next()) {
    switch (top.field()) {
      case 1:
        if (spec.pieces.size() >= kMaxPieces) {
          Fail("{}: byte offset {}: more than {} pieces", path, top.offset(), kMaxPieces);
        }
        ParsePiece(top.Message(), &spec, path);
        break;
      case 2: {  // TrainerSpec
        ProtobufReader t = top.Message();
        while (t.Next()) {
          switch (t.field()) {
            case 3:
              model_type = t.Varint();
              break;
            case 24:
              spec.normalizer.treat_whitespace_as_suffix = t.Bool();
              break;
            case 35:
              spec.byte_fallback = t.Bool();
              break;
            case 44:
              spec.unk_surface = std::string(t.Bytes());
              break;
            case 46:
              spec.bos_piece = std::string(t.Bytes());
              break;
            case 47:
              spec.eos_piece = std::string(t.Bytes());
              break;
            default:
              t.Skip();
          }
        }
        break;
      }
      case 3: {  // NormalizerSpec
        ProtobufReader n = top.Message();
        while (n.Next()) {
          switch (n.field()) {
            case 1:
              spec.normalizer_name = std::string(n.Bytes());
              break;
            case 2:
              spec.normalizer.precompiled_charsmap = std::string(n.Bytes());
              break;
            case 3:
              spec.normalizer.add_dummy_prefix = n.Bool();
              break;
            case 4:
              spec.normalizer.remove_extra_whitespaces = n.Bool();
              break;
            case 5:
              spec.normalizer.escape_whitespaces = n.Bool();
              break;
            default:
              n.Skip();
          }
        }
        break;
      }
      default:
        top.Skip();
    }
  }
  if (model_type == 1) {
    spec.algorithm = SentencePieceSpec::Algorithm::kUnigram;
  } else if (model_type == 2) {
    spec.algorithm = SentencePieceSpec::Algorithm::kBpe;
  } else {
    Fail(
        "{}: trainer_spec.model_type is {}, expected 1 (unigram) or 2 (bpe); word and char "
        "models are not supported",
        path, model_type);
  }
  if (spec.pieces.empty()) Fail("{}: no pieces; not a SentencePiece .model file?", path);
  return spec;
}

SentencePieceTokenizer::SentencePieceTokenizer(SentencePieceSpec spec, std::string path)
    : spec_(std::move(spec)), path_(std::move(path)), normalizer_(spec_.normalizer, path_) {
  const size_t n = spec_.pieces.size();
  if (n == 0) Fail("{}: the vocab is empty", path_);
  if (n > kMaxPieces) Fail("{}: {} pieces, expected at most {}", path_, n, kMaxPieces);
  if (spec_.scores.size() != n || spec_.types.size() != n) {
    Fail("{}: {} pieces but {} scores and {} types", path_, n, spec_.scores.size(),
         spec_.types.size());
  }
  std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
  pieces_.Reserve(n);
  final_id_.assign(n, -1);
  bool first_normal = true;
  for (size_t i = 0; i < n; ++i) {
    const std::string& p = spec_.pieces[i];
    const SpmPieceType t = spec_.types[i];
    const int id = static_cast<int>(i);
    if (p.empty()) Fail("{}: piece {} is empty", path_, i);
    const bool normal =
        t == SpmPieceType::kNormal || t == SpmPieceType::kUserDefined || t == SpmPieceType::kUnused;
    if (!(normal ? pieces_ : reserved_).Insert(p, id)) {
      Fail("{}: piece {} \"{}\" ({}) is already defined", path_, i, Printable(p), TypeName(t));
    }
    if (t == SpmPieceType::kUserDefined) user_defined_.Insert(p, id);
    if (t == SpmPieceType::kUnused) has_unused_ = true;
    if (t == SpmPieceType::kControl || t == SpmPieceType::kUnknown) control_trie_.Insert(p, id);
    if (t == SpmPieceType::kUnknown) {
      if (unk_ >= 0) Fail("{}: pieces {} and {} are both the unknown piece", path_, unk_, i);
      unk_ = id;
    }
    if (t == SpmPieceType::kByte) {
      if (!spec_.byte_fallback) {
        Fail("{}: piece {} \"{}\" is a byte piece but byte_fallback is off", path_, i,
             Printable(p));
      }
      const int b = BytePiece(p);
      if (b < 0) Fail("{}: byte piece {} is \"{}\", expected <0xXX>", path_, i, Printable(p));
      byte_ids_[b] = id;
    }
    if (t == SpmPieceType::kNormal) {
      const float s = spec_.scores[i];
      if (first_normal || s < min_score_) min_score_ = s;
      if (first_normal || s > max_score_) max_score_ = s;
      first_normal = false;
    }
  }
  if (unk_ < 0)
    Fail("{}: no piece has the unknown type; every SentencePiece vocab needs one", path_);
  for (int& b : byte_ids_) {
    if (b < 0) b = unk_;
  }
  // A piece formed by merges is looked up as libsentencepiece's PieceToId
  // does: reserved pieces first.
  for (size_t i = 0; i < n; ++i) {
    const int r = reserved_.Find(spec_.pieces[i]);
    final_id_[i] = r >= 0 ? r : static_cast<int>(i);
  }
  if (!user_defined_.empty()) normalizer_.SetUserDefined(&user_defined_);

  auto lookup = [&](int given, const std::string& piece) {
    if (given != -2) return given >= 0 && static_cast<size_t>(given) < n ? given : -1;
    int id = reserved_.Find(piece);
    if (id < 0) id = pieces_.Find(piece);
    return id == unk_ ? -1 : id;
  };
  bos_ = lookup(spec_.bos_id, spec_.bos_piece);
  eos_ = lookup(spec_.eos_id, spec_.eos_piece);

  if (spec_.algorithm == SentencePieceSpec::Algorithm::kUnigram) {
    // Values are id * 2 + 1 for a user-defined piece (scored by its length);
    // unused pieces stay in the trie without a value, as libsentencepiece skips them.
    std::vector<DoubleArrayTrie::Key> keys;
    for (size_t i = 0; i < n; ++i) {
      const SpmPieceType t = spec_.types[i];
      if (t == SpmPieceType::kNormal || t == SpmPieceType::kUserDefined) {
        const int32_t v = static_cast<int32_t>(i) * 2 + (t == SpmPieceType::kUserDefined ? 1 : 0);
        keys.push_back({spec_.pieces[i], v, spec_.scores[i]});
      } else if (t == SpmPieceType::kUnused) {
        keys.push_back({spec_.pieces[i], -1, 0.0f});
      }
    }
    unigram_trie_.Build(keys);
  } else {
    // Splitting before "▁" is exact when no mergeable piece holds a "▁" after
    // another character, and no unused piece (whose resegmentation
    // libsentencepiece records for the whole text) exists.
    split_at_spaces_ = spec_.normalizer.escape_whitespaces && !has_unused_;
    for (size_t i = 0; i < n && split_at_spaces_; ++i) {
      const SpmPieceType t = spec_.types[i];
      if (t != SpmPieceType::kNormal && t != SpmPieceType::kUserDefined) continue;
      std::string_view p = spec_.pieces[i];
      while (p.substr(0, 3) == kSpaceSymbol) p.remove_prefix(3);
      if (p.find(kSpaceSymbol) != std::string_view::npos) split_at_spaces_ = false;
    }
    if (split_at_spaces_) cache_.resize(kCacheSize);
  }
}

std::string SentencePieceTokenizer::Normalize(std::string_view text) const {
  std::string out;
  normalizer_.Normalize(text, &out);
  return out;
}

void SentencePieceTokenizer::EmitUnknown(std::string_view piece, std::vector<int>* ids,
                                         bool* prev_unk) const {
  if (spec_.byte_fallback) {
    for (char c : piece) ids->push_back(byte_ids_[static_cast<unsigned char>(c)]);
  } else if (!*prev_unk) {
    ids->push_back(unk_);  // A run of unknown pieces is one unknown id.
  }
  *prev_unk = true;
}

void SentencePieceTokenizer::EmitPiece(std::string_view piece, int id, std::vector<int>* ids,
                                       bool* prev_unk) const {
  if (id == unk_) {
    EmitUnknown(piece, ids, prev_unk);
    return;
  }
  ids->push_back(id);
  *prev_unk = false;
}

namespace {

struct Symbol {
  int start;
  int len;
  int prev;
  int next;
  bool freeze;
  int id;  // Of the piece a merge formed; -1 for an initial character.
};

struct Pair {
  float score;
  int left;
  int right;
  int size;
  int id;
};

// Max-heap order of libsentencepiece's agenda: higher score first, then the
// leftmost pair.
struct PairLess {
  bool operator()(const Pair& a, const Pair& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

void SentencePieceTokenizer::EncodeBpe(std::string_view text, std::vector<int>* ids) const {
  std::vector<Symbol> symbols;
  std::vector<Pair> agenda;
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> rev_merge;
  bool prev_unk = false;
  const char* base = text.data();

  auto add_pair = [&](int left, int right) {
    if (left < 0 || right < 0 || symbols[left].freeze || symbols[right].freeze) return;
    const int size = symbols[left].len + symbols[right].len;
    const std::string_view piece(base + symbols[left].start, size);
    const int id = pieces_.Find(piece);
    if (id < 0) return;
    agenda.push_back(Pair{spec_.scores[id], left, right, size, id});
    std::push_heap(agenda.begin(), agenda.end(), PairLess{});
    if (has_unused_ && spec_.types[id] == SpmPieceType::kUnused) {
      rev_merge[piece] = {std::string_view(base + symbols[left].start, symbols[left].len),
                          std::string_view(base + symbols[right].start, symbols[right].len)};
    }
  };

  // Final pieces: UNUSED ones split back into the pieces they were merged from.
  auto emit = [&](auto&& self, std::string_view w) -> void {
    int id = reserved_.Find(w);
    if (id < 0) {
      id = pieces_.Find(w);
      if (id >= 0) {
        if (has_unused_ && spec_.types[id] == SpmPieceType::kUnused) {
          const auto it = rev_merge.find(w);
          if (it != rev_merge.end()) {
            self(self, it->second.first);
            self(self, it->second.second);
            return;
          }
        }
      } else {
        id = unk_;
      }
    }
    EmitPiece(w, id, ids, &prev_unk);
  };

  auto encode_segment = [&](int begin, int end, std::vector<int>* out, bool* prev_unk) {
    symbols.clear();
    agenda.clear();
    for (int pos = begin; pos < end;) {
      Symbol s{pos, 0, -1, -1, false, -1};
      int udid = -1;
      size_t len = user_defined_.empty() ? 0
                                         : user_defined_.LongestPrefix(
                                               std::string_view(base + pos, end - pos), &udid);
      if (len > 0) {
        s.freeze = true;
      } else {
        len = std::min<size_t>(OneCharLen(static_cast<unsigned char>(base[pos])), end - pos);
      }
      s.len = static_cast<int>(len);
      const int index = static_cast<int>(symbols.size());
      s.prev = index - 1;
      pos += s.len;
      s.next = pos < end ? index + 1 : -1;
      symbols.push_back(s);
    }
    for (size_t i = 1; i < symbols.size(); ++i)
      add_pair(static_cast<int>(i) - 1, static_cast<int>(i));
    while (!agenda.empty()) {
      std::pop_heap(agenda.begin(), agenda.end(), PairLess{});
      const Pair top = agenda.back();
      agenda.pop_back();
      Symbol& l = symbols[top.left];
      Symbol& r = symbols[top.right];
      if (l.len == 0 || r.len == 0 || l.len + r.len != top.size) continue;
      l.len += r.len;
      l.id = top.id;
      l.next = r.next;
      if (r.next >= 0) symbols[r.next].prev = top.left;
      r.len = 0;
      add_pair(l.prev, top.left);
      add_pair(top.left, l.next);
    }
    for (int i = symbols.empty() ? -1 : 0; i != -1; i = symbols[i].next) {
      const Symbol& s = symbols[i];
      const std::string_view w(base + s.start, s.len);
      if (!has_unused_) {
        // `emit` without resegmentation: reserved pieces first, as PieceToId.
        int id = s.id >= 0 ? s.id : pieces_.Find(w);
        id = id >= 0 ? final_id_[id] : reserved_.Find(w);
        EmitPiece(w, id >= 0 ? id : unk_, out, prev_unk);
      } else {
        emit(emit, w);
      }
    }
  };
  // Parts of the text merge alone, so their ids are cached (keyed by the part).
  std::vector<int> part_ids;
  auto encode_part = [&](int begin, int end) {
    const std::string_view part(base + begin, end - begin);
    if (part.size() > kMaxCachedPart) {
      encode_segment(begin, end, ids, &prev_unk);
      return;
    }
    const uint64_t h = HashBytes(part.data(), part.size());
    CacheEntry& e = cache_[h & (kCacheSize - 1)];
    bool hit = false;
    {
      std::lock_guard<std::mutex> lock(cache_mu_);
      if (e.key == part) {
        part_ids = e.ids;
        hit = true;
      }
    }
    if (!hit) {
      part_ids.clear();
      bool unk = false;
      encode_segment(begin, end, &part_ids, &unk);
      std::lock_guard<std::mutex> lock(cache_mu_);
      e.key.assign(part);
      e.ids = part_ids;
    }
    if (part_ids.empty()) return;
    // A run of unknown pieces across parts is one unknown id, as in one pass.
    const bool skip_first = !spec_.byte_fallback && prev_unk && part_ids[0] == unk_;
    ids->insert(ids->end(), part_ids.begin() + (skip_first ? 1 : 0), part_ids.end());
    prev_unk = part_ids.back() == unk_;
  };

  const int n = static_cast<int>(text.size());
  if (!split_at_spaces_) {
    encode_segment(0, n, ids, &prev_unk);
    return;
  }
  // Parts start at a "▁" that follows a character other than "▁".
  int begin = 0;
  int pos = 0;
  bool prev_space = false;
  while (pos < n) {
    const bool space = pos + 3 <= n && std::memcmp(base + pos, kSpaceSymbol.data(), 3) == 0;
    if (space && pos > begin && !prev_space) {
      encode_part(begin, pos);
      begin = pos;
    }
    prev_space = space;
    pos += space ? 3 : 1;
  }
  if (begin < n) encode_part(begin, n);
}

void SentencePieceTokenizer::EncodeUnigram(std::string_view text, std::vector<int>* ids) const {
  // One entry per byte position: the best path's score up to here, where its
  // last piece starts and that piece's id (libsentencepiece's EncodeOptimized).
  struct Node {
    float score;
    int starts_at;
    int id;
  };
  const int size = static_cast<int>(text.size());
  if (size == 0) return;
  const float unk_score = min_score_ - kUnkPenalty;
  thread_local std::vector<Node> best;
  best.assign(static_cast<size_t>(size) + 1, Node{0.0f, -1, -1});
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const DoubleArrayTrie::Unit* units = unigram_trie_.units();
  for (int starts_at = 0; starts_at < size;) {
    const float till_here = best[starts_at].score;
    const int mblen = std::min<int>(OneCharLen(bytes[starts_at]), size - starts_at);
    bool has_single_node = false;
    int32_t node = 0;
    for (int key_pos = starts_at; key_pos < size;) {
      const int32_t t = units[node].base + bytes[key_pos];
      if (units[t].check != node) break;
      node = t;
      ++key_pos;
      const int32_t value = units[node].value;
      if (value < 0) continue;
      const int length = key_pos - starts_at;
      // As libsentencepiece computes it: a user-defined piece scores
      // length * max_score - 0.1 (in double), others their score.
      const double score = (value & 1) != 0
                               ? static_cast<double>(static_cast<float>(length) * max_score_) - 0.1
                               : static_cast<double>(units[node].score);
      const double candidate = score + static_cast<double>(till_here);
      Node& target = best[key_pos];
      if (target.starts_at == -1 || candidate > static_cast<double>(target.score)) {
        target.score = static_cast<float>(candidate);
        target.starts_at = starts_at;
        target.id = value >> 1;
      }
      if (length == mblen) has_single_node = true;
    }
    if (!has_single_node) {
      Node& target = best[starts_at + mblen];
      const float candidate = unk_score + till_here;
      if (target.starts_at == -1 || candidate > target.score) {
        target.score = candidate;
        target.starts_at = starts_at;
        target.id = unk_;
      }
    }
    starts_at += mblen;
  }
  // Backtrack (reusing `starts_at` as the forward link), then emit in text order.
  int next = -1;
  for (int ends_at = size; ends_at > 0;) {
    const int from = best[ends_at].starts_at;
    best[ends_at].starts_at = next;
    next = ends_at;
    ends_at = from;
  }
  bool prev_unk = false;
  for (int begin = 0, end = next; end > 0;) {
    const Node& n = best[end];
    if (n.id == unk_) {
      EmitUnknown(text.substr(begin, end - begin), ids, &prev_unk);
    } else {
      ids->push_back(n.id);
      prev_unk = false;
    }
    begin = end;
    end = n.starts_at;
  }
}

void SentencePieceTokenizer::EncodeNormalized(std::string_view normalized,
                                              std::vector<int>* ids) const {
  if (spec_.algorithm == SentencePieceSpec::Algorithm::kBpe) {
    EncodeBpe(normalized, ids);
  } else {
    EncodeUnigram(normalized, ids);
  }
}

std::vector<int> SentencePieceTokenizer::Encode(std::string_view text,
                                                const EncodeOptions& options) const {
  std::vector<int> ids;
  ids.reserve(text.size() / 3 + 4);
  if (options.add_bos && bos_ >= 0) ids.push_back(bos_);
  std::string normalized;
  if (!options.parse_special || control_trie_.empty()) {
    normalizer_.Normalize(text, &normalized);
    EncodeNormalized(normalized, &ids);
  } else {
    // Control pieces in the text are their ids; each run of text between them
    // is encoded as a text of its own (dummy prefix included, as llama.cpp does).
    size_t start = 0;
    auto flush = [&](size_t end) {
      if (end > start) {
        normalizer_.Normalize(text.substr(start, end - start), &normalized);
        EncodeNormalized(normalized, &ids);
      }
    };
    for (size_t pos = 0; pos < text.size();) {
      int id = -1;
      const size_t len = control_trie_.LongestPrefix(text.substr(pos), &id);
      if (len == 0) {
        ++pos;
        continue;
      }
      flush(pos);
      ids.push_back(id);
      pos += len;
      start = pos;
    }
    flush(text.size());
  }
  if (options.add_eos && eos_ >= 0) ids.push_back(eos_);
  return ids;
}

std::string SentencePieceTokenizer::Decode(std::span<const int> ids) const {
  std::string out;
  // As libsentencepiece: the first piece that is not a control piece loses
  // its leading "▁" (the dummy prefix); when whitespace runs are collapsed,
  // every piece does until some text is out.
  const SpmNormalizerOptions& n = spec_.normalizer;
  const bool strip =
      !n.treat_whitespace_as_suffix && (n.add_dummy_prefix || n.remove_extra_whitespaces);
  bool first = true;
  for (const int id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= spec_.pieces.size()) {
      Fail("{}: cannot decode token id {}: the vocab has {} pieces", path_, id,
           spec_.pieces.size());
    }
    const std::string& piece = spec_.pieces[id];
    switch (spec_.types[id]) {
      case SpmPieceType::kControl:
        break;
      case SpmPieceType::kUnknown:
        out += spec_.unk_surface;
        first = false;
        break;
      case SpmPieceType::kByte:
        out.push_back(static_cast<char>(BytePiece(piece)));
        first = false;
        break;
      default: {
        std::string_view p = piece;
        if (strip && (n.remove_extra_whitespaces ? out.empty() : first) &&
            p.substr(0, 3) == kSpaceSymbol) {
          p.remove_prefix(3);
        }
        first = false;
        size_t i = 0;
        while (i < p.size()) {
          const size_t at = p.find(kSpaceSymbol, i);
          if (at == std::string_view::npos) {
            out.append(p.substr(i));
            break;
          }
          out.append(p.substr(i, at - i));
          out.push_back(' ');
          i = at + 3;
        }
      }
    }
  }
  return out;
}

std::unique_ptr<Tokenizer> LoadSentencePiece(const std::string& path) {
  const MappedFile file = MappedFile::Open(path);
  const std::string_view bytes(reinterpret_cast<const char*>(file.data()), file.size());
  return std::make_unique<SentencePieceTokenizer>(ParseSentencePieceModel(bytes, path), path);
}

}  // namespace lmc::rt
