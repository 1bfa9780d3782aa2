#include "runtime/tokenizer/utf8.h"

namespace lmc::rt::utf8 {

void Append(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsValid(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    size_t length;
    if (Decode(text, pos, &length) == kReplacement) {
      // U+FFFD itself is valid: EF BF BD.
      if (length != 3 || text.compare(pos, 3, "\xEF\xBF\xBD") != 0) return false;
    }
    pos += length;
  }
  return true;
}

std::string Lossy(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t length;
    uint32_t cp = Decode(text, pos, &length);
    if (cp == kReplacement) {
      Append(cp, &out);
    } else {
      out.append(text.substr(pos, length));
    }
    pos += length;
  }
  return out;
}

namespace {

// Bytes a character starting with `lead` takes, or 0 if `lead` cannot start one.
size_t SequenceLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

}  // namespace

std::string StreamDecoder::Push(std::string_view bytes) {
  pending_.append(bytes);
  // Keep back a tail that is a valid but incomplete character.
  size_t keep = 0;
  for (size_t back = 1; back <= 3 && back <= pending_.size(); ++back) {
    size_t start = pending_.size() - back;
    size_t need = SequenceLength(static_cast<unsigned char>(pending_[start]));
    if (need == 0) continue;  // A continuation byte: look further back.
    if (need > back) {
      size_t length;
      Decode(pending_, start, &length);
      if (length == back) keep = back;  // Valid so far, only cut short.
    }
    break;
  }
  std::string out = Lossy(std::string_view(pending_).substr(0, pending_.size() - keep));
  pending_.erase(0, pending_.size() - keep);
  return out;
}

std::string StreamDecoder::Finish() {
  std::string out = Lossy(pending_);
  pending_.clear();
  return out;
}

}  // namespace lmc::rt::utf8
