// The spec's tokenizer.chat_template: FILE, a .jinja file, a tokenizer_config.json or a GGUF
// (relative to the spec that names it). Validation reads and compiles it, so `lmc check`
// reports a template lmc cannot compile at the spec's line and the template's line:col.
#pragma once

#include <string>

#include "compiler/spec/spec.h"
#include "compiler/support/diagnostics.h"

namespace lmc {

struct CompiledChatTemplate {
  std::string path;  // absolute
  std::string cpp;   // defines lmc_chat_template::RenderChat
  std::string bos_token, eos_token;
  bool has_bos = false, has_eos = false;
};

// tokenizer.chat_template resolved against the spec file that gives it.
std::string ChatTemplatePath(const Spec& spec, const Diagnostics& diags);

// Loads and compiles tokenizer.chat_template; on failure reports one error at the spec key
// (naming the template's own line:col) and returns false.
bool CompileChatTemplateField(const Spec& spec, Diagnostics& diags, CompiledChatTemplate& out);

// Reports what CompileChatTemplateField would, if the spec gives a chat template.
void ValidateChatTemplate(const Spec& spec, Diagnostics& diags);

}  // namespace lmc
