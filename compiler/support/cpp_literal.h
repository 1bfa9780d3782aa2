// C++ string literals for arbitrary bytes, for embedding user text (spec
// names, paths, the spec itself) in generated code.
#pragma once

#include <string>
#include <string_view>

namespace lmc {

// A double-quoted C++ string literal holding exactly `bytes`. Only printable
// ASCII other than `"`, `\` and `?` is written as itself; everything else
// (NUL, CR, LF, other control bytes, non-ASCII and invalid UTF-8 bytes) is a
// three-digit octal escape or a named one (\n, \t, \", \\, \?), so no input
// byte can end the literal, start a trigraph, or extend an escape.
std::string CppStringLiteral(std::string_view bytes);

// The same bytes as adjacent literals, one per source line of `bytes`: after
// each "\n" the literal closes and continues on a new line prefixed by
// `indent`. For multi-line text such as an embedded spec.
std::string CppStringLiteralLines(std::string_view bytes, std::string_view indent = "    ");

}  // namespace lmc
