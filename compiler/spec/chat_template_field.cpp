#include "compiler/spec/chat_template_field.h"

#include <filesystem>

#include "compiler/chat_template/chat_template.h"

namespace lmc {

std::string ChatTemplatePath(const Spec& spec, const Diagnostics& diags) {
  const std::string& file = spec.tokenizer.chat_template;
  Location where = spec.Where("tokenizer.chat_template");
  std::string named_in = where.valid() ? diags.BufferName(where.buffer) : "<--set>";
  std::filesystem::path path(file);
  if (path.is_relative() && named_in != "<--set>")
    path = std::filesystem::path(named_in).parent_path() / path;
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  return (ec ? path : absolute).lexically_normal().string();
}

bool CompileChatTemplateField(const Spec& spec, Diagnostics& diags, CompiledChatTemplate& out) {
  out = CompiledChatTemplate{};
  out.path = ChatTemplatePath(spec, diags);
  chat_template::TemplateFile file;
  std::string error;
  if (!chat_template::LoadTemplateFile(out.path, file, error) ||
      !chat_template::CompileTemplate(file.text, out.path, "lmc_chat_template", out.cpp, error)) {
    // One "error:" per line: the template's place follows the spec's.
    if (size_t at = error.find(": error: "); at != std::string::npos) error.erase(at, 7);
    diags.Error(spec.Where("tokenizer.chat_template"), "tokenizer.chat_template: " + error);
    return false;
  }
  out.bos_token = file.bos_token;
  out.eos_token = file.eos_token;
  out.has_bos = file.has_bos;
  out.has_eos = file.has_eos;
  return true;
}

void ValidateChatTemplate(const Spec& spec, Diagnostics& diags) {
  if (spec.tokenizer.chat_template.empty()) return;
  CompiledChatTemplate unused;
  CompileChatTemplateField(spec, diags, unused);
}

}  // namespace lmc
