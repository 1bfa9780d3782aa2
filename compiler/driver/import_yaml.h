// The spec text `lmc import` writes, shared by its Hugging Face (import_command.cpp) and GGUF
// (import_gguf.cpp) front ends: a tree of keys in insertion order, each value with a comment
// naming where it came from; quoting; paths relative to the spec; and the check (parse and
// validate, as `lmc check` does) an imported spec passes before it is written.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace lmc {

// The spec being written: a tree of keys in insertion order, each value with
// the comment that says where it came from.
struct YamlEntry {
  std::string key;
  std::string value;  // Empty for a mapping.
  std::string comment;
  std::vector<YamlEntry> children;
};

class YamlSpec {
 public:
  // Sets `path` ("position.rope.theta") to `value`, creating mappings on the way.
  void Set(const std::string& path, const std::string& value, const std::string& comment = "") {
    std::vector<YamlEntry>* level = &root_;
    size_t start = 0;
    while (true) {
      size_t dot = path.find('.', start);
      std::string key =
          path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      YamlEntry* entry = nullptr;
      for (auto& e : *level) {
        if (e.key == key) entry = &e;
      }
      if (!entry) {
        level->push_back({key, "", "", {}});
        entry = &level->back();
      }
      if (dot == std::string::npos) {
        entry->value = value;
        entry->comment = comment;
        return;
      }
      level = &entry->children;
      start = dot + 1;
    }
  }

  // A comment on the mapping `key` at the top level (its own line above it).
  void Note(const std::string& key, const std::string& comment) { notes_[key].push_back(comment); }

  std::string Render(const std::string& header) const {
    std::string out = header;
    Write(root_, 0, out, true);
    return out;
  }

 private:
  void Write(const std::vector<YamlEntry>& entries, int indent, std::string& out, bool top) const {
    for (const auto& e : entries) {
      if (top) {
        auto it = notes_.find(e.key);
        if (it != notes_.end()) {
          for (const auto& note : it->second) out += "# " + note + "\n";
        }
      }
      std::string line = std::string(indent, ' ') + e.key + ":";
      if (e.children.empty()) line += " " + e.value;
      if (!e.comment.empty()) {
        line.resize(std::max<size_t>(line.size() + 2, indent == 0 ? 24 : 32), ' ');
        line += "# " + e.comment;
      }
      out += line + "\n";
      Write(e.children, indent + 2, out, false);
    }
  }

  std::vector<YamlEntry> root_;
  std::map<std::string, std::vector<std::string>> notes_;
};

// A YAML double-quoted string, '"' and '\\' escaped. Control bytes are left for the caller to
// refuse (the spec allows none).
std::string Quote(const std::string& s);

// The shortest text that reads back as `v`.
std::string Number(double v);

// The relative path from the spec's folder to `file` (absolute when there is none).
std::string RelativeTo(const std::filesystem::path& file, const std::filesystem::path& spec_dir);

// Parses and validates the text as `lmc check` would (without lowering); the
// first error, or "" when it is valid.
std::string CheckSpecText(const std::string& text, const std::string& name);

// CheckSpecText, after leaving out a chat template lmc cannot compile (the rest of the model
// still runs): its line goes from `yaml`, and a warning "<where>tokenizer.chat_template: left
// out: <why>" joins `warnings` and the spec's header. Returns the problem left, or "".
std::string CheckSpecTextKeepingTemplateOut(std::string& yaml, const std::string& name,
                                            const std::string& where,
                                            std::vector<std::string>& warnings);

// A spec name from `text` (a folder's or a model's name): letters, digits, '_' and '-', starting
// with a letter, without '__' (a C++ namespace and file stem); "imported" when nothing is left.
std::string SpecName(const std::string& text);

}  // namespace lmc
