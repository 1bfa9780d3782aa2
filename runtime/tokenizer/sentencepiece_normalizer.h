// SentencePiece's text normalizer: the model's precompiled charsmap (a
// Darts-clone double-array trie over UTF-8 prefixes plus the replacement
// strings), whitespace trimming and collapsing, the dummy "▁" prefix, and " "
// escaped to "▁". Reproduces libsentencepiece's Normalizer::Normalize,
// including one U+FFFD per byte of malformed UTF-8.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/tokenizer/sentencepiece_tables.h"

namespace lmc::rt {

struct SpmNormalizerOptions {
  std::string precompiled_charsmap;  // Empty: identity.
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
  bool treat_whitespace_as_suffix = false;
};

class SpmNormalizer {
 public:
  // Checks the charsmap's layout; throws Error naming `path` when it is corrupt.
  SpmNormalizer(SpmNormalizerOptions options, const std::string& path);

  // Pieces that bypass normalization (USER_DEFINED), longest match first.
  void SetUserDefined(const ByteTrie* matcher);

  // Appends the normalized form of `input` to *out (cleared first).
  void Normalize(std::string_view input, std::string* out) const;

  const SpmNormalizerOptions& options() const { return options_; }

 private:
  // The replacement of the longest prefix of `input` and the bytes it consumes.
  std::string_view NormalizePrefix(std::string_view input, size_t* consumed) const;

  SpmNormalizerOptions options_;
  std::vector<uint32_t> trie_;   // Darts-clone units.
  std::string_view normalized_;  // Null-terminated replacement strings.
  const ByteTrie* user_defined_ = nullptr;
  // ASCII bytes that normalize to themselves: neither the charsmap nor a
  // user-defined piece starts with them. Runs of them are copied whole.
  std::array<bool, 128> ascii_identity_;
};

// Length of the valid UTF-8 character at the start of `s` (1..4), or 0 when it
// is malformed (as libsentencepiece decides: overlong forms, surrogates and
// code points above U+10FFFF are malformed). `s` must be non-empty.
size_t ValidUtf8Length(std::string_view s);

// libsentencepiece's OneCharLen: the length the lead byte announces (1..4),
// without validating the continuation bytes.
inline size_t OneCharLen(unsigned char lead) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

}  // namespace lmc::rt
