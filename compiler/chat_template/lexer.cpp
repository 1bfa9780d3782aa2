#include "compiler/chat_template/lexer.h"

#include "compiler/chat_template/ast.h"

namespace lmc::chat_template {

namespace {

// The template after @huggingface/jinja's preprocessing, with each byte's original offset.
struct Preprocessed {
  std::string text;
  std::vector<size_t> origin;  // origin[i]: offset in the source of text[i]; one past the end too
};

bool AtLineStart(const std::string& s, size_t i) {
  if (i == 0) return true;
  char c = s[i - 1];
  if (c == '\n' || c == '\r') return true;
  // U+2028 / U+2029 (JavaScript's multiline ^ matches after them too).
  return i >= 3 && s.compare(i - 3, 2, "\xE2\x80") == 0 &&
         (s[i - 1] == '\xA8' || s[i - 1] == '\xA9');
}

Preprocessed Preprocess(std::string_view source) {
  Preprocessed p;
  p.text.assign(source);
  for (size_t i = 0; i <= source.size(); ++i) p.origin.push_back(i);
  if (!p.text.empty() && p.text.back() == '\n') {
    p.text.pop_back();
    p.origin.erase(p.origin.end() - 2);
  }
  auto rebuild = [&p](auto keep) {
    Preprocessed out;
    for (size_t i = 0; i < p.text.size(); ++i) {
      if (!keep(i)) continue;
      out.text.push_back(p.text[i]);
      out.origin.push_back(p.origin[i]);
    }
    out.origin.push_back(p.origin.back());
    p = std::move(out);
  };
  // lstrip_blocks: /^[ \t]*({[#%-])/gm -> "$1"
  {
    std::vector<bool> drop(p.text.size(), false);
    for (size_t i = 0; i < p.text.size(); ++i) {
      if (!AtLineStart(p.text, i)) continue;
      size_t j = i;
      while (j < p.text.size() && (p.text[j] == ' ' || p.text[j] == '\t')) ++j;
      if (j > i && j + 1 < p.text.size() && p.text[j] == '{' &&
          (p.text[j + 1] == '#' || p.text[j + 1] == '%' || p.text[j + 1] == '-'))
        for (size_t k = i; k < j; ++k) drop[k] = true;
    }
    rebuild([&drop](size_t i) { return !drop[i]; });
  }
  // trim_blocks: /([#%-]})\n/g -> "$1"
  {
    std::vector<bool> drop(p.text.size(), false);
    for (size_t i = 0; i + 2 < p.text.size(); ++i) {
      char c = p.text[i];
      if ((c == '#' || c == '%' || c == '-') && p.text[i + 1] == '}' && p.text[i + 2] == '\n') {
        drop[i + 2] = true;
        i += 2;
      }
    }
    rebuild([&drop](size_t i) { return !drop[i]; });
  }
  return p;
}

// The reference's isWhitespace (/\s/), on the UTF-8 sequence at s[i]; its length in *n.
bool SpaceAt(const std::string& s, size_t i, size_t* n) {
  unsigned char c = s[i];
  *n = 1;
  if (c == ' ' || (c >= 9 && c <= 13)) return true;
  if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA0) {
    *n = 2;
    return true;
  }
  if ((c == 0xE1 || c == 0xE2 || c == 0xE3 || c == 0xEF) && i + 2 < s.size()) {
    unsigned cp = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
    if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
        cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF) {
      *n = 3;
      return true;
    }
  }
  return false;
}

void TrimEnd(std::string& s) {
  // Strips trailing whitespace by scanning forward (UTF-8 sequences are short).
  size_t keep = 0;
  for (size_t i = 0; i < s.size();) {
    size_t n;
    bool space = SpaceAt(s, i, &n);
    i += n;
    if (!space) keep = i;
  }
  s.resize(keep);
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : p_(Preprocess(source)), s_(p_.text) {}

  std::vector<Token> Run() {
    while (pos_ < s_.size()) {
      Token::Kind last = tokens_.empty() ? Token::Kind::kEnd : tokens_.back().kind;
      bool outside = tokens_.empty() || last == Token::Kind::kCloseStatement ||
                     last == Token::Kind::kCloseOutput || last == Token::Kind::kComment;
      if (outside) {
        size_t end = pos_;
        while (true) {
          end = s_.find('{', end);
          if (end == std::string::npos) {
            end = s_.size();
            break;
          }
          if (end + 1 < s_.size() &&
              (s_[end + 1] == '%' || s_[end + 1] == '{' || s_[end + 1] == '#'))
            break;
          ++end;
        }
        if (end > pos_) {
          Push(Token::Kind::kText, s_.substr(pos_, end - pos_));
          pos_ = end;
          continue;
        }
      }
      if (outside || last == Token::Kind::kText) {
        // A tag opens at pos_.
        char next = s_[pos_ + 1];
        bool strip = pos_ + 2 < s_.size() && s_[pos_ + 2] == '-';
        if (next == '#') {
          pos_ += 2;
          if (strip) ++pos_;
          size_t end_comment = s_.find("#}", pos_);
          if (end_comment == std::string::npos)
            Fail(pos_ - 2, "a comment {# is never closed by #}");
          bool strip_after = end_comment > pos_ && s_[end_comment - 1] == '-';
          if (strip) StripTrailing();
          Push(Token::Kind::kComment, "");
          pos_ = end_comment + 2;
          if (strip_after) SkipSpace();
          continue;
        }
        if (strip) StripTrailing();
        Push(next == '%' ? Token::Kind::kOpenStatement : Token::Kind::kOpenOutput,
             next == '%' ? "{%" : "{{");
        pos_ += strip ? 3 : 2;
        continue;
      }
      SkipSpace();
      if (pos_ >= s_.size()) break;
      char c = s_[pos_];
      if (c == '-' && pos_ + 2 < s_.size() && s_[pos_ + 2] == '}' &&
          (s_[pos_ + 1] == '%' || s_[pos_ + 1] == '}')) {
        Push(s_[pos_ + 1] == '%' ? Token::Kind::kCloseStatement : Token::Kind::kCloseOutput,
             s_[pos_ + 1] == '%' ? "%}" : "}}");
        pos_ += 3;
        SkipSpace();
        continue;
      }
      if ((c == '%' || c == '}') && pos_ + 1 < s_.size() && s_[pos_ + 1] == '}') {
        Push(c == '%' ? Token::Kind::kCloseStatement : Token::Kind::kCloseOutput,
             c == '%' ? "%}" : "}}");
        pos_ += 2;
        continue;
      }
      if (c == '\'' || c == '"') {
        LexString(c);
        continue;
      }
      if (c >= '0' && c <= '9') {
        size_t start = pos_;
        int64_t value = 0;
        while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
          if (value > (INT64_MAX - 9) / 10) Fail(start, "integer literal out of range");
          value = value * 10 + (s_[pos_++] - '0');
        }
        if (pos_ + 1 < s_.size() && s_[pos_] == '.' && s_[pos_ + 1] >= '0' && s_[pos_ + 1] <= '9')
          Fail(start, "floating-point numbers are not supported");
        Push(Token::Kind::kInt, s_.substr(start, pos_ - start), start);
        tokens_.back().number = value;
        continue;
      }
      if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        size_t start = pos_;
        while (pos_ < s_.size() &&
               (s_[pos_] == '_' || (s_[pos_] >= 'a' && s_[pos_] <= 'z') ||
                (s_[pos_] >= 'A' && s_[pos_] <= 'Z') || (s_[pos_] >= '0' && s_[pos_] <= '9')))
          ++pos_;
        Push(Token::Kind::kName, s_.substr(start, pos_ - start), start);
        continue;
      }
      static const char* const kPuncts[] = {"**", "//", "==", "!=", "<=", ">=", "(", ")", "[",
                                            "]",  "{",  "}",  ",",  ".",  ":",  "|", "<", ">",
                                            "+",  "-",  "~",  "*",  "/",  "%",  "="};
      bool matched = false;
      for (const char* p : kPuncts) {
        std::string_view punct(p);
        if (s_.compare(pos_, punct.size(), punct) == 0) {
          Push(Token::Kind::kPunct, std::string(punct), pos_);
          pos_ += punct.size();
          matched = true;
          break;
        }
      }
      if (!matched) Fail(pos_, "unexpected character '" + std::string(1, c) + "' in a tag");
    }
    Token end;
    end.kind = Token::Kind::kEnd;
    end.offset = p_.origin.back();
    tokens_.push_back(end);
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void Fail(size_t pos, const std::string& message) {
    throw CompileError(p_.origin[std::min(pos, s_.size())], message);
  }

  void Push(Token::Kind kind, std::string text, size_t at = SIZE_MAX) {
    Token t;
    t.kind = kind;
    t.text = std::move(text);
    t.offset = p_.origin[at == SIZE_MAX ? pos_ : at];
    tokens_.push_back(std::move(t));
  }

  void StripTrailing() {
    if (tokens_.empty() || tokens_.back().kind != Token::Kind::kText) return;
    TrimEnd(tokens_.back().text);
    if (tokens_.back().text.empty()) tokens_.pop_back();
  }

  void SkipSpace() {
    size_t n;
    while (pos_ < s_.size() && SpaceAt(s_, pos_, &n)) pos_ += n;
  }

  void LexString(char quote) {
    size_t start = pos_++;
    std::string value;
    while (true) {
      if (pos_ >= s_.size()) Fail(start, "a string literal is never closed");
      char c = s_[pos_++];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) Fail(start, "a string literal is never closed");
      char e = s_[pos_++];
      switch (e) {
        case 'n':
          value.push_back('\n');
          break;
        case 't':
          value.push_back('\t');
          break;
        case 'r':
          value.push_back('\r');
          break;
        case 'b':
          value.push_back('\b');
          break;
        case 'f':
          value.push_back('\f');
          break;
        case 'v':
          value.push_back('\v');
          break;
        case '\'':
          value.push_back('\'');
          break;
        case '"':
          value.push_back('"');
          break;
        case '\\':
          value.push_back('\\');
          break;
        default:
          Fail(pos_ - 2, std::string("escape \\") + e + " in a string literal is not supported");
      }
    }
    Push(Token::Kind::kString, std::move(value), start);
  }

  Preprocessed p_;
  const std::string& s_;
  size_t pos_ = 0;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> Tokenize(std::string_view source) { return Lexer(source).Run(); }

}  // namespace lmc::chat_template
