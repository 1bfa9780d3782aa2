#include "compiler/driver/import_yaml.h"

#include <fmt/format.h>
#include <llvm/Support/raw_ostream.h>

#include <cctype>

#include "compiler/spec/parse_spec.h"
#include "compiler/spec/spec_tree.h"
#include "compiler/spec/validate_spec.h"
#include "compiler/support/diagnostics.h"

namespace lmc {

namespace fs = std::filesystem;

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string Number(double v) { return fmt::format("{}", v); }

std::string RelativeTo(const fs::path& file, const fs::path& spec_dir) {
  std::error_code ec;
  fs::path rel =
      fs::relative(fs::weakly_canonical(file, ec), fs::weakly_canonical(spec_dir, ec), ec);
  if (ec || rel.empty()) return fs::absolute(file, ec).string();
  return rel.generic_string();
}

std::string CheckSpecTextKeepingTemplateOut(std::string& yaml, const std::string& name,
                                            const std::string& where,
                                            std::vector<std::string>& warnings) {
  std::string problem = CheckSpecText(yaml, name);
  const std::string template_line = "\n  chat_template: ";
  const size_t at = yaml.find(template_line);
  if (problem.empty() || problem.find("chat_template") == std::string::npos ||
      at == std::string::npos) {
    return problem;
  }
  yaml.erase(at + 1, yaml.find('\n', at + 1) - at);
  const std::string marker = "error: tokenizer.chat_template: ";
  const size_t why = problem.find(marker);
  warnings.push_back(
      fmt::format("{}tokenizer.chat_template: left out: {}", where,
                  why == std::string::npos ? problem : problem.substr(why + marker.size())));
  // The header is a YAML comment: a control character in a path must not end it.
  std::string header = "# warning: " + warnings.back() + "\n";
  for (size_t i = 0; i + 1 < header.size(); ++i) {
    if (static_cast<unsigned char>(header[i]) < 0x20 || header[i] == 0x7f) header[i] = '?';
  }
  yaml.insert(yaml.find("\nlmc: 1\n") + 1, header);
  return CheckSpecText(yaml, name);
}

std::string CheckSpecText(const std::string& text, const std::string& name) {
  std::string output;
  llvm::raw_string_ostream stream(output);
  Diagnostics diags(stream);
  auto tree = LoadSpecTreeFromText(text, name, {}, diags);
  bool ok = tree != nullptr;
  if (ok) {
    auto spec = ParseSpec(*tree, diags);
    ok = spec && ValidateSpec(*spec, diags);
  }
  stream.flush();
  if (ok) return "";
  size_t eol = output.find('\n');
  return output.substr(0, eol);
}

std::string SpecName(const std::string& base) {
  std::string out;
  for (char c : base) {
    unsigned char u = static_cast<unsigned char>(c);
    char next = std::isalnum(u) || c == '-' ? c : '_';
    if (next == '_' && !out.empty() && (out.back() == '_' || out.back() == '-')) continue;
    if (out.empty() && !std::isalpha(static_cast<unsigned char>(next))) continue;
    out += next;
  }
  while (!out.empty() && (out.back() == '_' || out.back() == '-')) out.pop_back();
  if (out.size() > 48) out.resize(48);
  return out.empty() ? "imported" : out;
}

}  // namespace lmc
