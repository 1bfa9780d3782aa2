// Chat templates, ahead of time: where a template comes from (a .jinja file, a Hugging Face
// tokenizer_config.json, a GGUF's tokenizer.chat_template) and its compilation to C++
// (lexer -> parser -> codegen, in this folder).
#pragma once

#include <string>
#include <string_view>

namespace lmc::chat_template {

struct TemplateFile {
  std::string path;
  std::string text;       // the Jinja source
  std::string bos_token;  // tokenizer_config.json's bos_token / eos_token (a string or an
  std::string eos_token;  // AddedToken's "content"), a GGUF's tokens at bos/eos_token_id
  bool has_bos = false;
  bool has_eos = false;
};

// Reads `path`: a GGUF (by its magic), a JSON file (tokenizer_config.json: "chat_template"
// must be a string; a list of named templates is refused), else the template text itself.
// On failure returns false and sets `error`, one line naming the file and the key.
bool LoadTemplateFile(const std::string& path, TemplateFile& out, std::string& error);

// Compiles `text` into C++ defining `std::string <cpp_namespace>::RenderChat(const
// lmc::chat::Inputs&)`. On a template it cannot compile returns false and sets `error` to
// "NAME:LINE:COL: error: WHAT" (one line; LINE:COL in the template text).
bool CompileTemplate(std::string_view text, const std::string& name,
                     const std::string& cpp_namespace, std::string& cpp, std::string& error);

}  // namespace lmc::chat_template
