#include "runtime/tokenizer/sentencepiece_normalizer.h"

#include <cstring>

#include "runtime/util/error.h"

namespace lmc::rt {
namespace {

constexpr std::string_view kSpaceSymbol = "\xe2\x96\x81";  // U+2581 "▁"
constexpr std::string_view kReplacement = "\xef\xbf\xbd";  // U+FFFD

bool IsTrail(unsigned char c) { return (c & 0xC0) == 0x80; }
bool IsValidCodepoint(uint32_t c) { return c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF); }

// Darts-clone unit accessors.
bool HasLeaf(uint32_t u) { return (u >> 8) & 1; }
uint32_t Value(uint32_t u) { return u & ((1u << 31) - 1); }
uint32_t Label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
uint32_t Offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

}  // namespace

size_t ValidUtf8Length(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  if (p[0] < 0x80) return 1;
  if (n >= 2 && (p[0] & 0xE0) == 0xC0) {
    const uint32_t cp = ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    if (IsTrail(p[1]) && cp >= 0x80) return 2;
  } else if (n >= 3 && (p[0] & 0xF0) == 0xE0) {
    const uint32_t cp = ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
    if (IsTrail(p[1]) && IsTrail(p[2]) && cp >= 0x800 && IsValidCodepoint(cp)) return 3;
  } else if (n >= 4 && (p[0] & 0xF8) == 0xF0) {
    const uint32_t cp =
        ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
    if (IsTrail(p[1]) && IsTrail(p[2]) && IsTrail(p[3]) && cp >= 0x10000 && IsValidCodepoint(cp)) {
      return 4;
    }
  }
  return 0;
}

SpmNormalizer::SpmNormalizer(SpmNormalizerOptions options, const std::string& path)
    : options_(std::move(options)) {
  ascii_identity_.fill(true);
  const std::string& blob = options_.precompiled_charsmap;
  if (blob.empty()) return;
  if (blob.size() < 4) {
    Fail("{}: precompiled_charsmap is {} bytes, expected at least a 4-byte trie size", path,
         blob.size());
  }
  uint32_t trie_size;
  std::memcpy(&trie_size, blob.data(), 4);
  if (trie_size % 4 != 0 || trie_size == 0 || trie_size > blob.size() - 4) {
    Fail(
        "{}: precompiled_charsmap trie size {} is not a positive multiple of 4 within the {} "
        "bytes of the charsmap",
        path, trie_size, blob.size());
  }
  trie_.resize(trie_size / 4);
  std::memcpy(trie_.data(), blob.data() + 4, trie_size);
  normalized_ = std::string_view(blob).substr(4 + trie_size);
  if (normalized_.empty() || normalized_.back() != '\0') {
    Fail("{}: precompiled_charsmap replacement strings do not end with a NUL byte", path);
  }
  // A byte without a transition from the root starts no charsmap entry.
  for (uint32_t c = 0; c < 128; ++c) {
    const uint32_t pos = Offset(trie_[0]) ^ c;
    ascii_identity_[c] = !(pos < trie_.size() && Label(trie_[pos]) == c);
  }
}

void SpmNormalizer::SetUserDefined(const ByteTrie* matcher) {
  user_defined_ = matcher;
  for (uint32_t c = 0; c < 128; ++c) {
    if (matcher->Child(0, static_cast<unsigned char>(c)) != ByteTrie::kNone) {
      ascii_identity_[c] = false;
    }
  }
}

std::string_view SpmNormalizer::NormalizePrefix(std::string_view input, size_t* consumed) const {
  if (user_defined_ != nullptr) {
    int id = -1;
    const size_t len = user_defined_->LongestPrefix(input, &id);
    if (len > 0) {
      *consumed = len;
      return input.substr(0, len);
    }
  }
  size_t longest = 0;
  uint32_t value = 0;
  if (!trie_.empty()) {
    // Darts-clone commonPrefixSearch, bounds-checked against the unit array.
    const size_t units = trie_.size();
    uint32_t pos = Offset(trie_[0]);
    for (size_t i = 0; i < input.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(input[i]);
      pos ^= c;
      if (pos >= units) break;
      const uint32_t unit = trie_[pos];
      if (Label(unit) != c) break;
      pos ^= Offset(unit);
      if (pos >= units) break;
      if (HasLeaf(unit)) {
        longest = i + 1;
        value = Value(trie_[pos]);
      }
    }
  }
  if (longest > 0 && value < normalized_.size()) {
    *consumed = longest;
    const char* s = normalized_.data() + value;
    return std::string_view(s, std::strlen(s));  // Terminated: the blob ends with NUL.
  }
  const size_t len = ValidUtf8Length(input);
  if (len == 0) {
    *consumed = 1;
    return kReplacement;
  }
  *consumed = len;
  return input.substr(0, len);
}

void SpmNormalizer::Normalize(std::string_view input, std::string* out) const {
  out->clear();
  if (input.empty()) return;
  const bool remove_ws = options_.remove_extra_whitespaces;
  const bool escape = options_.escape_whitespaces;
  size_t consumed = 0;
  if (remove_ws) {
    while (!input.empty()) {
      const std::string_view p = NormalizePrefix(input, &consumed);
      if (p != " ") break;
      input.remove_prefix(consumed);
    }
    if (input.empty()) return;
  }
  out->reserve(input.size() * 3 / 2 + 8);
  auto add_ws = [&] {
    if (escape) {
      out->append(kSpaceSymbol);
    } else {
      out->push_back(' ');
    }
  };
  if (!options_.treat_whitespace_as_suffix && options_.add_dummy_prefix) add_ws();

  bool is_prev_space = remove_ws;
  auto identity = [&](char c) {
    return static_cast<unsigned char>(c) < 0x80 && ascii_identity_[static_cast<unsigned char>(c)];
  };
  while (!input.empty()) {
    std::string_view sp;
    if (identity(input[0])) {
      // A run of bytes that map to themselves: copy it whole (spaces escaped or collapsed below).
      size_t n = 1;
      while (n < input.size() && identity(input[n])) ++n;
      sp = input.substr(0, n);
      consumed = n;
      if (!remove_ws && !escape) {
        out->append(sp);
        input.remove_prefix(n);
        continue;
      }
      for (char c : sp) {
        if (c == ' ') {
          if (remove_ws && is_prev_space) continue;
          if (escape) {
            out->append(kSpaceSymbol);
          } else {
            out->push_back(' ');
          }
          is_prev_space = remove_ws;
        } else {
          out->push_back(c);
          is_prev_space = false;
        }
      }
      input.remove_prefix(n);
      continue;
    }
    sp = NormalizePrefix(input, &consumed);
    if (is_prev_space) {
      while (!sp.empty() && sp[0] == ' ') sp.remove_prefix(1);
    }
    if (!sp.empty()) {
      for (char c : sp) {
        if (escape && c == ' ') {
          out->append(kSpaceSymbol);
        } else {
          out->push_back(c);
        }
      }
      is_prev_space = sp.back() == ' ';
    }
    input.remove_prefix(consumed);
    if (!remove_ws) is_prev_space = false;
  }

  if (remove_ws) {
    const std::string_view space = escape ? kSpaceSymbol : std::string_view(" ");
    while (out->size() >= space.size() &&
           std::string_view(*out).substr(out->size() - space.size()) == space) {
      out->resize(out->size() - space.size());
    }
  }
  if (options_.treat_whitespace_as_suffix && options_.add_dummy_prefix) add_ws();
}

}  // namespace lmc::rt
