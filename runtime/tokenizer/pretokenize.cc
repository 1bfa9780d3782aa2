#include "runtime/tokenizer/pretokenize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "runtime/tokenizer/unicode_class.h"
#include "runtime/tokenizer/utf8.h"
#include "runtime/util/error.h"

namespace lmc::rt {
namespace {

using unicode::IsLetter;
using unicode::IsNumber;
using unicode::IsSpace;

// Class bits of the ASCII characters, so the common case needs no table walk.
struct AsciiClasses {
  uint8_t bits[128];
  AsciiClasses() {
    for (uint32_t c = 0; c < 128; ++c) bits[c] = unicode::ClassBits(c);
  }
};
const AsciiClasses kAscii;

// The text being split and the matchers' primitives. Positions are byte offsets.
struct Text {
  std::string_view s;
  size_t n;

  unsigned char Byte(size_t pos) const { return static_cast<unsigned char>(s[pos]); }

  // Class bits of the character at `pos`; *len = its length in bytes.
  uint8_t Bits(size_t pos, size_t* len) const {
    unsigned char c = Byte(pos);
    if (c < 0x80) {
      *len = 1;
      return kAscii.bits[c];
    }
    return unicode::ClassBits(utf8::Decode(s, pos, len));
  }

  // Punctuation in the regexes' sense: [^\s\p{L}\p{N}].
  static bool IsPunct(uint8_t bits) { return !IsSpace(bits) && !IsLetter(bits) && !IsNumber(bits); }

  template <typename Pred>
  size_t Run(size_t pos, Pred pred) const {
    while (pos < n) {
      size_t len;
      if (!pred(Bits(pos, &len))) break;
      pos += len;
    }
    return pos;
  }

  // Up to `max` characters with class bits satisfying pred.
  template <typename Pred>
  size_t RunMax(size_t pos, int max, Pred pred) const {
    for (int i = 0; i < max && pos < n; ++i) {
      size_t len;
      if (!pred(Bits(pos, &len))) break;
      pos += len;
    }
    return pos;
  }

  size_t LineBreaks(size_t pos, bool slash) const {
    while (pos < n && (Byte(pos) == '\r' || Byte(pos) == '\n' || (slash && Byte(pos) == '/')))
      ++pos;
    return pos;
  }

  // One contraction after the apostrophe at `pos`: 's 't 're 've 'm 'll 'd.
  // Case-insensitive the way Unicode-aware regexes are: "s" also matches U+017F.
  size_t Contraction(size_t pos, bool ignore_case) const {
    if (pos >= n || Byte(pos) != '\'' || pos + 1 >= n) return 0;
    auto lower = [&](size_t p) -> unsigned char {
      unsigned char c = Byte(p);
      return ignore_case && c >= 'A' && c <= 'Z' ? c + 32 : c;
    };
    unsigned char a = lower(pos + 1);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return pos + 2;
    if (ignore_case && a == 0xC5 && pos + 2 < n && Byte(pos + 2) == 0xBF) return pos + 3;  // ſ
    if (pos + 2 >= n) return 0;
    unsigned char b = lower(pos + 2);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return pos + 3;
    return 0;
  }

  // The whitespace alternatives shared by all patterns, at a whitespace
  // character: \s*[\r\n]+ (if newline_run) | \s+(?!\S) | \s+.
  size_t Whitespace(size_t pos, bool newline_run) const {
    size_t end = pos, last_start = pos, after_newline = 0;
    while (end < n) {
      size_t len;
      if (!IsSpace(Bits(end, &len))) break;
      if (Byte(end) == '\r' || Byte(end) == '\n') after_newline = end + 1;
      last_start = end;
      end += len;
    }
    if (newline_run && after_newline) return after_newline;
    if (end == n) return end;
    if (last_start > pos) return last_start;
    return end;
  }

  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  size_t NextGpt2(size_t pos) const {
    if (size_t e = Contraction(pos, false)) return e;
    size_t len0;
    uint8_t b0 = Bits(pos, &len0);
    size_t start = pos;
    uint8_t b = b0;
    if (Byte(pos) == ' ' && pos + 1 < n) {
      size_t len1;
      b = Bits(pos + 1, &len1);
      start = pos + 1;
      if (!IsLetter(b) && !IsNumber(b) && !IsPunct(b)) {
        start = pos;
        b = b0;
      }
    }
    if (IsLetter(b)) return Run(start, IsLetter);
    if (IsNumber(b)) return Run(start, IsNumber);
    if (IsPunct(b)) return Run(start, IsPunct);
    return Whitespace(pos, false);
  }

  // cl100k_base, Llama 3 (max_digits 3) and Qwen2 (max_digits 1):
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
  //  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  size_t NextCl100k(size_t pos, int max_digits) const {
    if (size_t e = Contraction(pos, true)) return e;
    size_t len0;
    uint8_t b0 = Bits(pos, &len0);
    unsigned char c0 = Byte(pos);
    if (IsLetter(b0)) return Run(pos + len0, IsLetter);
    if (IsNumber(b0)) return RunMax(pos, max_digits, IsNumber);
    if (c0 != '\r' && c0 != '\n' && pos + len0 < n) {
      size_t len1;
      uint8_t b1 = Bits(pos + len0, &len1);
      if (IsLetter(b1)) return Run(pos + len0 + len1, IsLetter);
      if (c0 == ' ' && IsPunct(b1)) return LineBreaks(Run(pos + 1, IsPunct), false);
    }
    if (IsPunct(b0)) return LineBreaks(Run(pos, IsPunct), false);
    return Whitespace(pos, true);
  }

  // o200k_base's letters: upper-case-ish U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}],
  // lower-case-ish W = [\p{Ll}\p{Lm}\p{Lo}\p{M}].
  static bool IsUpperish(uint8_t bits) {
    uint8_t c = bits & unicode::kClassMask;
    return c == unicode::kLu || c == unicode::kLt || c == unicode::kLm || c == unicode::kLo ||
           c == unicode::kMark;
  }
  static bool IsLowerish(uint8_t bits) {
    uint8_t c = bits & unicode::kClassMask;
    return c == unicode::kLl || c == unicode::kLm || c == unicode::kLo || c == unicode::kMark;
  }

  // U*W+ at `pos` as a backtracking regex matches it, or 0. U* takes the longest
  // run; if no W follows, it gives back characters until the last W in the run.
  size_t UpperLower(size_t pos) const {
    size_t end = pos, after_last_lower = 0;
    while (end < n) {
      size_t len;
      uint8_t b = Bits(end, &len);
      if (!IsUpperish(b)) break;
      if (IsLowerish(b)) after_last_lower = end + len;
      end += len;
    }
    if (end < n) {
      size_t len;
      if (IsLowerish(Bits(end, &len))) return Run(end + len, IsLowerish);
    }
    return after_last_lower;
  }

  // U+W* at `pos`, or 0.
  size_t UpperPlus(size_t pos) const {
    size_t end = Run(pos, IsUpperish);
    if (end == pos) return 0;
    return Run(end, IsLowerish);
  }

  size_t Suffix(size_t end) const {
    size_t e = Contraction(end, true);
    return e ? e : end;
  }

  // [^\r\n\p{L}\p{N}]?U*W+(?i:'s|...)?|[^\r\n\p{L}\p{N}]?U+W*(?i:'s|...)?|\p{N}{1,3}|
  //  ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
  size_t NextO200k(size_t pos) const {
    size_t len0;
    uint8_t b0 = Bits(pos, &len0);
    unsigned char c0 = Byte(pos);
    bool prefix = c0 != '\r' && c0 != '\n' && !IsLetter(b0) && !IsNumber(b0);
    if (prefix && pos + len0 < n) {
      if (size_t e = UpperLower(pos + len0)) return Suffix(e);
    }
    if (size_t e = UpperLower(pos)) return Suffix(e);
    if (prefix && pos + len0 < n) {
      if (size_t e = UpperPlus(pos + len0)) return Suffix(e);
    }
    if (size_t e = UpperPlus(pos)) return Suffix(e);
    if (IsNumber(b0)) return RunMax(pos, 3, IsNumber);
    if (c0 == ' ' && pos + 1 < n) {
      size_t len1;
      if (IsPunct(Bits(pos + 1, &len1))) return LineBreaks(Run(pos + 1, IsPunct), true);
    }
    if (IsPunct(b0)) return LineBreaks(Run(pos, IsPunct), true);
    return Whitespace(pos, true);
  }
};

// PCRE2's \s (with UCP) leaves out U+0085, which Unicode's White_Space, Rust's
// regex and Oniguruma include: add it.
std::string WithUnicodeWhiteSpace(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      char e = pattern[++i];
      if (e == 's') {
        out += in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
      } else if (e == 'S' && !in_class) {
        out += "[^\\s\\x{85}]";
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

// Match state for pcre2_match: one ovector pair (the whole match; captures are
// not used) and a JIT stack that grows to 8 MiB for deep backtracking.
struct MatchScratch {
  pcre2_match_data* match = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  MatchScratch() { pcre2_jit_stack_assign(context, nullptr, stack); }
  ~MatchScratch() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(match);
  }
  MatchScratch(const MatchScratch&) = delete;
  MatchScratch& operator=(const MatchScratch&) = delete;
};

}  // namespace

struct Pretokenizer::Pcre2 {
  pcre2_code* code = nullptr;
  ~Pcre2() { pcre2_code_free(code); }
};

Pretokenizer Pretokenizer::ForPattern(std::string_view pattern, bool keep_gaps,
                                      const std::string& where, bool force_pcre2) {
  Pretokenizer p;
  p.pattern_ = std::string(pattern);
  p.where_ = where;
  p.keep_gaps_ = keep_gaps;
  if (!force_pcre2) {
    if (pattern == kGpt2Pattern) p.engine_ = Engine::kGpt2;
    if (pattern == kCl100kPattern) p.engine_ = Engine::kCl100k;
    if (pattern == kQwen2Pattern) p.engine_ = Engine::kQwen2;
    if (pattern == kO200kPattern) p.engine_ = Engine::kO200k;
    if (p.engine_ != Engine::kPcre2) return p;
  }
  int error = 0;
  PCRE2_SIZE offset = 0;
  std::string rewritten = WithUnicodeWhiteSpace(pattern);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    Fail("{}: invalid pre-tokenizer regex (near offset {} of '{}'): {}", where, offset, rewritten,
         reinterpret_cast<const char*>(message));
  }
  p.pcre2_ = std::make_shared<Pcre2>();
  p.pcre2_->code = code;
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // Falls back to the interpreter if unavailable.
  return p;
}

Pretokenizer Pretokenizer::ForPatterns(const std::vector<std::string>& patterns, bool keep_gaps,
                                       const std::string& where) {
  if (patterns.empty()) {
    Pretokenizer whole;
    whole.engine_ = Engine::kWhole;
    return whole;
  }
  Pretokenizer first = ForPattern(patterns[0], keep_gaps, where);
  Pretokenizer* last = &first;
  for (size_t i = 1; i < patterns.size(); ++i) {
    auto next = std::make_shared<Pretokenizer>(ForPattern(patterns[i], keep_gaps, where));
    Pretokenizer* raw = next.get();
    last->then_ = std::move(next);
    last = raw;
  }
  return first;
}

void Pretokenizer::Split(std::string_view text, std::vector<std::string_view>* pieces) const {
  if (!then_) return SplitOnce(text, pieces);
  std::vector<std::string_view> stage;
  SplitOnce(text, &stage);
  for (std::string_view piece : stage) then_->Split(piece, pieces);
}

void Pretokenizer::SplitOnce(std::string_view text, std::vector<std::string_view>* pieces) const {
  if (engine_ == Engine::kWhole) {
    if (!text.empty()) pieces->push_back(text);
    return;
  }
  const Text t{text, text.size()};
  if (engine_ != Engine::kPcre2) {
    size_t pos = 0;
    while (pos < t.n) {
      size_t end = 0;
      switch (engine_) {
        case Engine::kGpt2:
          end = t.NextGpt2(pos);
          break;
        case Engine::kCl100k:
          end = t.NextCl100k(pos, 3);
          break;
        case Engine::kQwen2:
          end = t.NextCl100k(pos, 1);
          break;
        case Engine::kO200k:
          end = t.NextO200k(pos);
          break;
        case Engine::kPcre2:
        case Engine::kWhole:
          break;
      }
      if (end <= pos) end = pos + 1;  // Unreachable: every character starts a match.
      pieces->push_back(text.substr(pos, end - pos));
      pos = end;
    }
    return;
  }
  // Made once per thread, not per call: a chain splits every piece of the text.
  static thread_local const MatchScratch scratch;
  pcre2_match_data* match = scratch.match;
  pcre2_match_context* context = scratch.context;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0, gap_start = 0;
  int rc = 0;
  while (pos <= text.size()) {
    rc = pcre2_match(pcre2_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, match, context);
    if (rc < 0) break;
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
    size_t start = ovector[0], end = ovector[1];
    if (keep_gaps_ && start > gap_start)
      pieces->push_back(text.substr(gap_start, start - gap_start));
    if (end > start) pieces->push_back(text.substr(start, end - start));
    gap_start = end;
    if (end == start) {
      // An empty match: step over one character.
      if (end >= text.size()) break;
      size_t len;
      utf8::Decode(text, end, &len);
      pos = end + len;
    } else {
      pos = end;
    }
  }
  if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(rc, message, sizeof(message));
    Fail("{}: pre-tokenizer regex failed at byte {}: {}", where_, pos,
         reinterpret_cast<const char*>(message));
  }
  if (keep_gaps_ && gap_start < text.size()) pieces->push_back(text.substr(gap_start));
}

}  // namespace lmc::rt
