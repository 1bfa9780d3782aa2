#include "compiler/support/cpp_literal.h"

namespace lmc {

namespace {

void AppendEscaped(std::string& out, unsigned char c) {
  switch (c) {
    case '"':
      out += "\\\"";
      return;
    case '\\':
      out += "\\\\";
      return;
    case '?':
      out += "\\?";  // Never part of a trigraph ("??=" and friends).
      return;
    case '\n':
      out += "\\n";
      return;
    case '\t':
      out += "\\t";
      return;
    default:
      break;
  }
  if (c >= 0x20 && c < 0x7f) {
    out += static_cast<char>(c);
    return;
  }
  // Octal escapes take at most three digits, so always writing three means a
  // following digit can never be read as part of this escape (hex escapes
  // are greedy and would).
  out += '\\';
  out += static_cast<char>('0' + ((c >> 6) & 7));
  out += static_cast<char>('0' + ((c >> 3) & 7));
  out += static_cast<char>('0' + (c & 7));
}

}  // namespace

std::string CppStringLiteral(std::string_view bytes) {
  std::string out = "\"";
  out.reserve(bytes.size() + 2);
  for (char c : bytes) AppendEscaped(out, static_cast<unsigned char>(c));
  return out + "\"";
}

std::string CppStringLiteralLines(std::string_view bytes, std::string_view indent) {
  std::string out = "\"";
  for (size_t i = 0; i < bytes.size(); ++i) {
    AppendEscaped(out, static_cast<unsigned char>(bytes[i]));
    if (bytes[i] == '\n' && i + 1 < bytes.size()) {
      out += "\"\n";
      out += indent;
      out += "\"";
    }
  }
  return out + "\"";
}

}  // namespace lmc
