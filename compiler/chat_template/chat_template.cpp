#include "compiler/chat_template/chat_template.h"

#include <sys/stat.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "compiler/chat_template/codegen.h"
#include "compiler/chat_template/parser.h"
#include "compiler/support/file_io.h"
#include "runtime/tokenizer/gguf_vocab.h"
#include "runtime/util/error.h"
#include "runtime/weights/gguf_reader.h"
#include "runtime/weights/mapped_file.h"

namespace lmc::chat_template {

namespace {

constexpr size_t kMaxTemplateFile = 64 << 20;  // tokenizer_config.json files are < 10 MiB

// tokenizer_config.json's bos_token / eos_token: a string, an AddedToken object
// ({"content": "<s>", ...}) or null.
bool SpecialToken(const nlohmann::json& config, const char* key, std::string& token, bool& has,
                  const std::string& path, std::string& error) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return true;
  if (it->is_string()) {
    token = it->get<std::string>();
  } else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    token = (*it)["content"].get<std::string>();
  } else {
    error = path + ": \"" + key + "\" is neither a string nor an AddedToken with a \"content\"";
    return false;
  }
  has = true;
  return true;
}

bool LoadGguf(const std::string& path, TemplateFile& out, std::string& error) {
  try {
    rt::MappedFile file = rt::MappedFile::Open(path);
    rt::gguf::Reader r(file.data(), file.size(), path);
    rt::gguf::Preamble preamble = rt::gguf::ReadPreamble(r);
    std::unordered_set<std::string_view> seen;
    bool found = false;
    for (uint64_t k = 0; k < preamble.metadata_count; ++k) {
      std::string_view key = rt::gguf::ReadKey(r, seen);
      uint32_t type = r.Read<uint32_t>("a metadata value type");
      if (key == "tokenizer.chat_template") {
        if (type != rt::gguf::kString) {
          error =
              path + ": tokenizer.chat_template is " + rt::gguf::TypeName(type) + ", not a string";
          return false;
        }
        out.text = std::string(r.String("tokenizer.chat_template", kMaxTemplateFile));
        found = true;
        break;
      }
      rt::gguf::SkipValue(r, type, key);
    }
    if (!found) {
      error = path + ": the GGUF has no tokenizer.chat_template";
      return false;
    }
    rt::GgufVocab vocab = rt::ReadGgufVocab(path);
    auto token = [&vocab](int id, std::string& s, bool& has) {
      if (id < 0 || static_cast<size_t>(id) >= vocab.tokens.size()) return;
      s = vocab.tokens[id];
      has = true;
    };
    token(vocab.bos_id, out.bos_token, out.has_bos);
    token(vocab.eos_id, out.eos_token, out.has_eos);
    return true;
  } catch (const rt::Error& e) {
    error = e.what();
    return false;
  }
}

}  // namespace

bool LoadTemplateFile(const std::string& path, TemplateFile& out, std::string& error) {
  out = TemplateFile{};
  out.path = path;
  std::string bytes;
  {
    // The magic decides GGUF before reading the whole (perhaps huge) file.
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      FILE* f = std::fopen(path.c_str(), "rb");
      char magic[4] = {};
      size_t n = f ? std::fread(magic, 1, 4, f) : 0;
      if (f) std::fclose(f);
      if (n == 4 && std::string_view(magic, 4) == "GGUF") return LoadGguf(path, out, error);
    }
  }
  if (!ReadRegularFile(path, kMaxTemplateFile, bytes, error)) {
    error = path + ": " + error;
    return false;
  }
  bool json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  if (!json) {
    out.text = std::move(bytes);
    return true;
  }
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(bytes);
  } catch (const nlohmann::json::exception& e) {
    error = path + ": not valid JSON (" + rt::EscapeControlBytes(e.what()) + ")";
    return false;
  }
  if (!config.is_object()) {
    error = path + ": expected a JSON object (a tokenizer_config.json)";
    return false;
  }
  auto it = config.find("chat_template");
  if (it == config.end()) {
    error = path + ": no \"chat_template\" key";
    return false;
  }
  if (!it->is_string()) {
    error = path + ": \"chat_template\" is " +
            (it->is_array() ? "a list of named templates; name one .jinja file instead"
                            : "not a string");
    return false;
  }
  out.text = it->get<std::string>();
  return SpecialToken(config, "bos_token", out.bos_token, out.has_bos, path, error) &&
         SpecialToken(config, "eos_token", out.eos_token, out.has_eos, path, error);
}

bool CompileTemplate(std::string_view text, const std::string& name,
                     const std::string& cpp_namespace, std::string& cpp, std::string& error) {
  try {
    Body body = Parse(text);
    cpp = EmitCpp(body, cpp_namespace, name);
    return true;
  } catch (const CompileError& e) {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < e.offset && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
        ++column;
      }
    }
    error = name + ":" + std::to_string(line) + ":" + std::to_string(column) +
            ": error: " + rt::EscapeControlBytes(e.what());
    return false;
  }
}

}  // namespace lmc::chat_template
