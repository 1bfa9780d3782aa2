// Lookup structures for tokenizer vocabularies: a flat open-addressing hash
// table from byte strings to ids, and a byte trie for longest/all-prefix
// matching. Both own their keys and never allocate while looking up.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace lmc::rt {

// `s` for a one-line error message: control and non-ASCII bytes as \xNN,
// at most 64 bytes shown.
inline std::string Printable(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size() && i < 64; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (s.size() > 64) out += "...";
  return out;
}

inline uint64_t HashBytes(const char* p, size_t n) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  uint64_t h = n * kMul;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  return h ^ (h >> 32);
}

// String -> int. Insert keeps the first id of a duplicate key and reports it.
class PieceTable {
 public:
  void Reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
  }

  // Returns false (and keeps the old id) when `key` is already present.
  bool Insert(std::string_view key, int id) {
    if ((count_ + 1) * 2 > slots_.size()) Grow();
    const uint64_t h = HashBytes(key.data(), key.size());
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.id < 0) {
        s.hash = static_cast<uint32_t>(h);
        s.offset = static_cast<uint32_t>(arena_.size());
        s.length = static_cast<uint32_t>(key.size());
        s.id = id;
        arena_.append(key);
        ++count_;
        return true;
      }
      if (s.hash == static_cast<uint32_t>(h) && Key(s) == key) return false;
    }
  }

  // The id of `key`, or -1.
  int Find(std::string_view key) const {
    if (count_ == 0) return -1;
    const uint64_t h = HashBytes(key.data(), key.size());
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id < 0) return -1;
      if (s.hash == static_cast<uint32_t>(h) && s.length == key.size() &&
          std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0) {
        return s.id;
      }
    }
  }

  size_t size() const { return count_; }

 private:
  struct Slot {
    uint32_t hash = 0;
    uint32_t offset = 0;
    uint32_t length = 0;
    int32_t id = -1;
  };
  std::string_view Key(const Slot& s) const {
    return std::string_view(arena_).substr(s.offset, s.length);
  }
  void Grow() {
    std::vector<Slot> old = std::move(slots_);
    const size_t cap = old.empty() ? 16 : old.size() * 2;
    slots_.assign(cap, Slot{});
    mask_ = cap - 1;
    for (const Slot& s : old) {
      if (s.id < 0) continue;
      for (size_t i = s.hash & mask_;; i = (i + 1) & mask_) {
        if (slots_[i].id < 0) {
          // The stored hash is truncated to 32 bits: re-probe from it, as Find
          // does with the full hash's low bits (mask_ < 2^32 keeps them equal).
          slots_[i] = s;
          break;
        }
      }
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t count_ = 0;
  std::string arena_;
};

// A byte trie over keys with ids. Children are found through one flat hash of
// (node, byte), so a walk costs one probe per byte.
class ByteTrie {
 public:
  ByteTrie() { values_.push_back(-1); }

  void Insert(std::string_view key, int id) {
    uint32_t node = 0;
    for (unsigned char c : key) {
      uint32_t child = Child(node, c);
      if (child == kNone) {
        child = static_cast<uint32_t>(values_.size());
        values_.push_back(-1);
        AddEdge(node, c, child);
      }
      node = child;
    }
    if (values_[node] < 0) values_[node] = id;
    if (key.size() > max_length_) max_length_ = key.size();
  }

  static constexpr uint32_t kNone = 0xFFFFFFFFu;

  // The child of `node` by byte `c`, or kNone.
  uint32_t Child(uint32_t node, unsigned char c) const {
    if (edges_.empty()) return kNone;
    const uint64_t key = (static_cast<uint64_t>(node) << 8) | c;
    for (size_t i = Mix(key) & mask_;; i = (i + 1) & mask_) {
      const Edge& e = edges_[i];
      if (e.child == kNone) return kNone;
      if (e.key == key) return e.child;
    }
  }
  // The id stored at `node`, or -1.
  int Value(uint32_t node) const { return values_[node]; }

  // Length of the longest key that is a prefix of `text` (0 if none); its id in *id.
  size_t LongestPrefix(std::string_view text, int* id) const {
    uint32_t node = 0;
    size_t best = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      node = Child(node, static_cast<unsigned char>(text[i]));
      if (node == kNone) break;
      if (values_[node] >= 0) {
        best = i + 1;
        *id = values_[node];
      }
    }
    return best;
  }

  bool empty() const { return values_.size() == 1; }
  size_t max_length() const { return max_length_; }

 private:
  struct Edge {
    uint64_t key = 0;
    uint32_t child = kNone;
  };
  static uint64_t Mix(uint64_t k) {
    k *= 0x9E3779B97F4A7C15ull;
    return k ^ (k >> 31);
  }
  void AddEdge(uint32_t node, unsigned char c, uint32_t child) {
    if ((edge_count_ + 1) * 2 > edges_.size()) {
      std::vector<Edge> old = std::move(edges_);
      const size_t cap = old.empty() ? 64 : old.size() * 2;
      edges_.assign(cap, Edge{});
      mask_ = cap - 1;
      for (const Edge& e : old) {
        if (e.child != kNone) Place(e);
      }
    }
    Place(Edge{(static_cast<uint64_t>(node) << 8) | c, child});
    ++edge_count_;
  }
  void Place(const Edge& e) {
    for (size_t i = Mix(e.key) & mask_;; i = (i + 1) & mask_) {
      if (edges_[i].child == kNone) {
        edges_[i] = e;
        return;
      }
    }
  }

  std::vector<int> values_;
  std::vector<Edge> edges_;
  size_t mask_ = 0;
  size_t edge_count_ = 0;
  size_t max_length_ = 0;
};

// A byte trie as a double array (as darts-clone, which libsentencepiece uses):
// node t is a child of node s by byte c when t == base(s) + c and
// check(t) == s, so a step is one add and one compare on one 16-byte unit.
// Every node carries an int value (-1: no key ends here) and a float.
class DoubleArrayTrie {
 public:
  struct Unit {
    int32_t base = 0;
    int32_t check = -1;
    int32_t value = -1;
    float score = 0;
  };

  // Builds from (key, value, score) triples; the first of equal keys wins.
  struct Key {
    std::string_view key;
    int32_t value;
    float score;
  };
  void Build(const std::vector<Key>& keys) {
    // A pointer trie first, its children sorted by byte.
    struct Tmp {
      std::vector<std::pair<unsigned char, uint32_t>> kids;
      int32_t value = -1;
      float score = 0;
    };
    std::vector<Tmp> tmp(1);
    for (const Key& k : keys) {
      uint32_t node = 0;
      for (unsigned char c : k.key) {
        uint32_t child = 0;
        for (const auto& [b, t] : tmp[node].kids) {
          if (b == c) child = t;
        }
        if (child == 0) {
          child = static_cast<uint32_t>(tmp.size());
          tmp[node].kids.emplace_back(c, child);
          tmp.emplace_back();
        }
        node = child;
      }
      if (tmp[node].value < 0) {
        tmp[node].value = k.value;
        tmp[node].score = k.score;
      }
    }
    // Place the nodes breadth first: each node's children at base + byte,
    // the smallest base whose slots are all free.
    units_.assign(512, Unit{});
    std::vector<uint8_t> used(512, 0);
    used[0] = 1;
    units_[0].check = -2;
    std::vector<std::pair<uint32_t, int32_t>> queue{{0u, 0}};  // (tmp node, unit)
    size_t first_free = 1;
    for (size_t q = 0; q < queue.size(); ++q) {
      Tmp& n = tmp[queue[q].first];
      const int32_t s = queue[q].second;
      units_[s].value = n.value;
      units_[s].score = n.score;
      if (n.kids.empty()) continue;
      std::sort(n.kids.begin(), n.kids.end());
      const unsigned c0 = n.kids.front().first;
      while (first_free < used.size() && used[first_free]) ++first_free;
      for (size_t p = first_free;; ++p) {
        if (p + 256 >= used.size()) {
          used.resize(used.size() * 2, 0);
          units_.resize(used.size());
        }
        if (used[p] || p < c0 + 1) continue;
        const size_t b = p - c0;
        bool fits = true;
        for (const auto& kid : n.kids) {
          if (used[b + kid.first]) {
            fits = false;
            break;
          }
        }
        if (!fits) continue;
        units_[s].base = static_cast<int32_t>(b);
        for (const auto& [c, t] : n.kids) {
          used[b + c] = 1;
          units_[b + c].check = s;
          queue.emplace_back(t, static_cast<int32_t>(b + c));
        }
        break;
      }
    }
    // Trim, keeping 256 spare units so base + byte never leaves the array.
    size_t last = used.size();
    while (last > 1 && !used[last - 1]) --last;
    units_.resize(last + 256);
  }

  // The child of node `s` by byte `c`, or -1.
  int32_t Child(int32_t s, unsigned char c) const {
    const int32_t t = units_[s].base + c;
    return units_[t].check == s ? t : -1;
  }
  const Unit& unit(int32_t s) const { return units_[s]; }
  const Unit* units() const { return units_.data(); }
  bool empty() const { return units_.empty(); }

 private:
  std::vector<Unit> units_;
};

}  // namespace lmc::rt
