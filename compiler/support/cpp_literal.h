// User text embedded in generated C++.
#pragma once

#include <string>
#include <string_view>

namespace lmc {

// A C++ string literal holding exactly `bytes`: every byte outside printable
// ASCII, and every quote, backslash and '?', is an octal escape, so no input can
// end the literal, form a trigraph or change the text's length (NUL included).
std::string CppStringLiteral(std::string_view bytes);

}  // namespace lmc
