// Parses a chat template's tokens into a syntax tree. Statements other than if / for / set
// (macro, call, filter, include, block, generation, break, continue, ...) are refused here,
// naming the construct; expressions are parsed in full and checked when compiled.
#pragma once

#include <string_view>

#include "compiler/chat_template/ast.h"

namespace lmc::chat_template {

// Throws CompileError.
Body Parse(std::string_view source);

}  // namespace lmc::chat_template
