#include "runtime/tokenizer/llama2c_tokenizer.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "runtime/util/error.h"
#include "runtime/weights/mapped_file.h"

namespace lmc::rt {
namespace {

// Every byte as a one-character string, so Piece can return a view for it.
constexpr std::array<char, 256> MakeBytes() {
  std::array<char, 256> bytes{};
  for (int i = 0; i < 256; ++i) bytes[i] = static_cast<char>(i);
  return bytes;
}
constexpr std::array<char, 256> kBytes = MakeBytes();

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The byte of a "<0xXX>" token, or -1.
int ByteToken(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  const int hi = HexDigit(piece[3]), lo = HexDigit(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

Llama2cTokenizer Llama2cTokenizer::Load(const std::string& path, int vocab_size) {
  if (vocab_size <= 0) Fail("{}: vocab size {} must be positive", path, vocab_size);
  const MappedFile file = MappedFile::Open(path);
  const uint8_t* data = file.data();
  const size_t size = file.size();
  size_t offset = 0;
  auto read_i32 = [&](const char* what, int index) {
    if (size - offset < 4) {
      Fail("{}: truncated at byte offset {}: expected the {} of token {} of {}, found end of file",
           path, offset, what, index, vocab_size);
    }
    int32_t v;
    std::memcpy(&v, data + offset, 4);
    offset += 4;
    return v;
  };

  if (size < 4)
    Fail("{}: truncated: expected a 4-byte max_token_length, found {} bytes", path, size);
  int32_t max_len;
  std::memcpy(&max_len, data, 4);
  offset = 4;
  if (max_len <= 0 || static_cast<uint64_t>(max_len) > size) {
    Fail(
        "{}: max_token_length at byte offset 0 is {}, expected between 1 and the file size {}; "
        "not a llama2.c tokenizer.bin?",
        path, max_len, size);
  }

  Llama2cTokenizer tok;
  tok.path_ = path;
  tok.pieces_.reserve(vocab_size);
  tok.scores_.reserve(vocab_size);
  tok.ids_.reserve(vocab_size);
  for (int i = 0; i < vocab_size; ++i) {
    const int32_t score_bits = read_i32("score", i);
    float score;
    std::memcpy(&score, &score_bits, 4);
    const size_t len_offset = offset;
    const int32_t len = read_i32("length", i);
    if (len < 0 || len > max_len) {
      Fail("{}: token {} at byte offset {} has length {}, expected 0..{} (max_token_length)", path,
           i, len_offset, len, max_len);
    }
    if (size - offset < static_cast<size_t>(len)) {
      Fail("{}: truncated at byte offset {}: expected {} bytes of token {} of {}, found {}", path,
           offset, len, i, vocab_size, size - offset);
    }
    tok.pieces_.emplace_back(reinterpret_cast<const char*>(data + offset), len);
    tok.scores_.push_back(score);
    // On duplicate pieces the lowest id wins.
    tok.ids_.emplace(tok.pieces_.back(), i);
    offset += len;
    tok.max_token_length_ = std::max(tok.max_token_length_, static_cast<int>(len));
  }
  if (offset != size) {
    Fail(
        "{}: {} trailing bytes after {} tokens (ending at byte offset {}); is the vocab size {} "
        "right for this file?",
        path, size - offset, vocab_size, offset, vocab_size);
  }
  return tok;
}

int Llama2cTokenizer::Lookup(const std::string& piece) const {
  auto it = ids_.find(piece);
  return it == ids_.end() ? -1 : it->second;
}

std::vector<int> Llama2cTokenizer::Encode(std::string_view text, bool bos, bool eos) const {
  std::vector<int> tokens;
  tokens.reserve(text.size() + 3);
  if (bos) tokens.push_back(kBos);

  auto push_bytes = [&](std::string_view bytes) {
    for (unsigned char b : bytes) {
      const int id = b + 3;  // <0x00> is id 3 in SentencePiece byte-fallback vocabs
      if (id >= vocab_size()) {
        Fail("{}: cannot encode byte 0x{:02X}: no byte-fallback token (vocab size {})", path_, b,
             vocab_size());
      }
      tokens.push_back(id);
    }
  };

  std::string buffer;
  if (!text.empty()) {
    // SentencePiece's add_dummy_prefix: the text starts as if after a space.
    buffer = " ";
    const int space = Lookup(buffer);
    if (space >= 0) {
      tokens.push_back(space);
    } else {
      push_bytes(buffer);
    }
  }

  // One token per codepoint: a lead byte plus its continuation bytes, at most 4
  // bytes (malformed UTF-8 is split exactly as llama2.c splits it).
  for (size_t i = 0; i < text.size();) {
    size_t end = i + 1;
    while (end < text.size() && end - i < 4 && IsContinuation(text[end])) ++end;
    buffer.assign(text.substr(i, end - i));
    const int id = Lookup(buffer);
    if (id >= 0) {
      tokens.push_back(id);
    } else {
      push_bytes(buffer);
    }
    i = end;
  }

  // Like llama2.c, merging includes BOS.
  MergePairs(&tokens);
  if (eos) tokens.push_back(kEos);
  return tokens;
}

namespace {

// An adjacent pair that merges into `id`. `left` and `right` index the symbol
// list; `left_version`/`right_version` tell whether either symbol changed since.
struct Candidate {
  float score;
  int id;
  int left;
  int right;
  uint32_t left_version;
  uint32_t right_version;
};

// Max-heap order: the highest score first, then the leftmost pair. Symbols keep
// their order, so the smallest left index is the leftmost pair in the list.
struct CandidateLess {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

// llama2.c merges the best-scoring pair (the first one on ties) and rescans the
// whole list, O(n^2). The same merges in O(n log n): every adjacent pair that
// is in the vocab waits in a heap; a merge retires its two symbols' entries
// (the versions change) and adds the merged symbol's two new pairs.
void Llama2cTokenizer::MergePairs(std::vector<int>* tokens) const {
  struct Symbol {
    int id;
    int prev;
    int next;  // -1 at the ends
    uint32_t version;
    bool alive;
  };
  const int n = static_cast<int>(tokens->size());
  std::vector<Symbol> symbols(n);
  for (int i = 0; i < n; ++i) symbols[i] = {(*tokens)[i], i - 1, i + 1 < n ? i + 1 : -1, 0, true};

  std::vector<Candidate> heap;
  std::string buffer;
  auto add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string& a = pieces_[symbols[left].id];
    const std::string& b = pieces_[symbols[right].id];
    // No piece is longer than the longest: skip the lookup (a hostile file may
    // hold one huge piece, e.g. for BOS).
    if (a.size() + b.size() > static_cast<size_t>(max_token_length_)) return;
    buffer.assign(a);
    buffer += b;
    const int id = Lookup(buffer);
    // The -1e10 floor matches llama2.c: pairs scoring at or below it (or NaN)
    // never merge.
    if (id < 0 || !(scores_[id] > -1e10f)) return;
    heap.push_back({scores_[id], id, left, right, symbols[left].version, symbols[right].version});
    std::push_heap(heap.begin(), heap.end(), CandidateLess{});
  };
  for (int i = 0; i + 1 < n; ++i) add(i, i + 1);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), CandidateLess{});
    const Candidate c = heap.back();
    heap.pop_back();
    Symbol& l = symbols[c.left];
    Symbol& r = symbols[c.right];
    if (!l.alive || !r.alive || l.next != c.right || l.version != c.left_version ||
        r.version != c.right_version) {
      continue;  // stale: a neighbour merged since this pair was found
    }
    l.id = c.id;
    ++l.version;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = c.left;
    r.alive = false;
    add(l.prev, c.left);
    add(c.left, l.next);
  }

  tokens->clear();
  for (int i = n > 0 ? 0 : -1; i >= 0; i = symbols[i].next) tokens->push_back(symbols[i].id);
}

std::string_view Llama2cTokenizer::Piece(int prev_token, int token) const {
  if (token < 0 || token >= vocab_size()) {
    Fail("{}: token id {} is out of range for vocab size {}", path_, token, vocab_size());
  }
  std::string_view piece = pieces_[token];
  if (prev_token == kBos && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
  const int byte = ByteToken(piece);
  if (byte >= 0) return std::string_view(&kBytes[byte], 1);
  return piece;
}

}  // namespace lmc::rt
