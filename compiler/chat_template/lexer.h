// Splits a chat template into text and tag tokens, as @huggingface/jinja (and transformers'
// Jinja environment) do: trim_blocks and lstrip_blocks on, one trailing newline dropped,
// `{%-` / `-%}` (and `{{-`, `-}}`, `{#-`, `-#}`) strip the whitespace beside them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lmc::chat_template {

struct Token {
  enum class Kind {
    kText,            // text between tags (whitespace control applied)
    kComment,         // {# ... #}: text may follow
    kOpenStatement,   // {%
    kCloseStatement,  // %}
    kOpenOutput,      // {{
    kCloseOutput,     // }}
    kName,
    kString,  // text holds the unescaped value
    kInt,
    kPunct,  // ( ) [ ] { } , . : | = + - ~ * / // % ** == != < > <= >=
    kEnd,
  };
  Kind kind;
  std::string text;
  int64_t number = 0;
  size_t offset = 0;  // byte of the original template
};

// Throws CompileError at the offending byte.
std::vector<Token> Tokenize(std::string_view source);

}  // namespace lmc::chat_template
