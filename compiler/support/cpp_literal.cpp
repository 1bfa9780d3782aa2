#include "compiler/support/cpp_literal.h"

#include <fmt/format.h>

namespace lmc {

std::string CppStringLiteral(std::string_view bytes) {
  std::string out = "\"";
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '?';
    // Three-digit octal escapes end by length, so a following digit is safe.
    out += plain ? std::string(1, ch) : fmt::format("\\{:03o}", c);
    if (c == '\n') out += "\"\n    \"";  // Long texts stay readable, line by line.
  }
  return out + "\"";
}

}  // namespace lmc
