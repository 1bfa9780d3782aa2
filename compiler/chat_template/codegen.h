// Emits a parsed chat template as a C++ function over lmc::chat values
// (runtime/chat/template_runtime.h).
//
// The function is specialized to what `chat` passes: `messages` (a list of messages with a
// string role and content), `bos_token` and `eos_token` (strings), `add_generation_prompt`
// (a boolean); every other name is undefined. The emitter tracks what it knows of each value
// (a constant, or its kind) and folds what that decides: `tools is defined` is false,
// `'tool_calls' in message` is false, so a Llama 3.1 template's tool branches are not compiled
// at all. Any construct left in a branch that can run must be one the runtime implements
// exactly as @huggingface/jinja; otherwise the template is refused (CompileError naming it).
#pragma once

#include <string>

#include "compiler/chat_template/ast.h"

namespace lmc::chat_template {

// The C++ of namespace `cpp_namespace` holding
// `std::string RenderChat(const lmc::chat::Inputs& in)`. `source_name` goes in a comment.
std::string EmitCpp(const Body& body, const std::string& cpp_namespace,
                    const std::string& source_name);

}  // namespace lmc::chat_template
