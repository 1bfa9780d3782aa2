// UTF-8 decoding as the references see text: invalid input is decoded lossily
// (each maximal invalid subpart becomes U+FFFD, as in the WHATWG Encoding
// Standard that Node and Rust's from_utf8_lossy follow), and a streaming
// decoder that holds back an incomplete character until its last byte arrives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lmc::rt::utf8 {

inline constexpr uint32_t kReplacement = 0xFFFD;

// Decodes the code point at text[pos]. Sets *length to the bytes consumed (>= 1).
// An invalid or truncated sequence gives kReplacement and consumes its maximal
// subpart (one byte if the first byte cannot start a character).
inline uint32_t Decode(std::string_view text, size_t pos, size_t* length) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size();
  uint32_t c = s[pos];
  if (c < 0x80) {
    *length = 1;
    return c;
  }
  size_t need;
  uint32_t lower = 0x80, upper = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
    c &= 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lower = 0xA0;
    if (c == 0xED) upper = 0x9F;
    c &= 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lower = 0x90;
    if (c == 0xF4) upper = 0x8F;
    c &= 0x07;
  } else {
    *length = 1;
    return kReplacement;
  }
  size_t i = 1;
  for (; i <= need; ++i) {
    if (pos + i >= n) break;
    uint32_t b = s[pos + i];
    if (b < lower || b > upper) break;
    lower = 0x80;
    upper = 0xBF;
    c = (c << 6) | (b & 0x3F);
  }
  *length = i;
  return i == need + 1 ? c : kReplacement;
}

// Appends the UTF-8 encoding of `cp` (a scalar value) to `out`.
void Append(uint32_t cp, std::string* out);

// True if `text` is well-formed UTF-8.
bool IsValid(std::string_view text);

// `text` with every invalid subpart replaced by U+FFFD.
std::string Lossy(std::string_view text);

// Feeds bytes in, gets whole characters out: an incomplete character at the end
// is held until the next Push completes it (or Finish replaces it by U+FFFD).
// Invalid bytes become U+FFFD, so the output is always well-formed UTF-8.
class StreamDecoder {
 public:
  std::string Push(std::string_view bytes);
  std::string Finish();

 private:
  std::string pending_;
};

}  // namespace lmc::rt::utf8
