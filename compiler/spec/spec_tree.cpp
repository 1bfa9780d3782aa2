#include "compiler/spec/spec_tree.h"

#include <fmt/format.h>
#include <llvm/ADT/SmallString.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Path.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "compiler/support/file_io.h"

namespace lmc {

const SpecNode* SpecNode::Find(const std::string& name) const {
  for (const auto& entry : entries) {
    if (entry.key == name) return &entry;
  }
  return nullptr;
}

SpecNode* SpecNode::Find(const std::string& name) {
  return const_cast<SpecNode*>(std::as_const(*this).Find(name));
}

namespace {

// Plain scalars that YAML would read back differently must be quoted.
bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  if (s.find_first_of(":#{}[],&*!|>'\"%@`\n") != std::string::npos) return true;
  return s.front() == ' ' || s.back() == ' ' || s.front() == '-' || s.front() == '?';
}

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string ScalarText(const SpecNode& node) {
  return node.quoted || NeedsQuotes(node.scalar) ? Quote(node.scalar) : node.scalar;
}

}  // namespace

std::string SpecNode::ToYaml(int indent) const {
  std::string pad(indent, ' ');
  std::string out;
  switch (kind) {
    case Kind::kNull:
      return "null";
    case Kind::kScalar:
      return ScalarText(*this);
    case Kind::kSequence: {
      out = "[";
      for (size_t i = 0; i < items.size(); ++i) {
        out += (i ? ", " : "") + items[i].ToYaml(indent + 2);
      }
      return out + "]";
    }
    case Kind::kMap:
      for (const auto& entry : entries) {
        if (entry.kind == Kind::kMap) {
          out += pad + entry.key + ":\n" + entry.ToYaml(indent + 2);
        } else {
          out += pad + entry.key + ": " + entry.ToYaml(indent + 2) + "\n";
        }
      }
      return out;
  }
  return out;
}

namespace {

// 1-based line and column of byte `offset` in `text`.
Location LocationOf(const std::string& text, size_t offset, unsigned buffer,
                    unsigned column_offset) {
  unsigned line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  unsigned column = static_cast<unsigned>(offset - line_start) + 1;
  if (line == 1) column += column_offset;
  return Location{buffer, line, column, 0};
}

// Length of the UTF-8 sequence starting at text[i], or 0 if it is invalid.
size_t Utf8Length(const std::string& text, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
  if (n == 0 || i + n > text.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  unsigned char c1 = byte(i + 1);
  if (c == 0xE0 && c1 < 0xA0) return 0;   // Overlong.
  if (c == 0xED && c1 >= 0xA0) return 0;  // UTF-16 surrogates.
  if (c == 0xF0 && c1 < 0x90) return 0;   // Overlong.
  if (c == 0xF4 && c1 >= 0x90) return 0;  // Beyond U+10FFFF.
  return n;
}

// A spec is UTF-8 text with LF or CRLF line ends: reports the first byte that
// is not (YAML would misread it with a message about something else).
bool CheckText(const std::string& text, unsigned buffer, unsigned column_offset,
               Diagnostics& diags) {
  size_t i = 0;
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;  // A UTF-8 byte order mark.
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    std::string problem;
    if (c == '\r' && (i + 1 >= text.size() || text[i + 1] != '\n')) {
      problem =
          "a line ends with a lone CR (carriage return); save the spec with LF or CRLF "
          "line ends";
    } else if (c == 0) {
      problem = "a NUL byte in the spec; a spec is UTF-8 text";
    } else if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      problem = fmt::format("control character 0x{:02x} in the spec; a spec is UTF-8 text", c);
    }
    size_t length = problem.empty() ? Utf8Length(text, i) : 1;
    if (problem.empty() && length == 0) {
      problem = fmt::format("byte 0x{:02x} is not valid UTF-8; a spec is UTF-8 text", c);
    }
    if (!problem.empty()) {
      diags.Error(LocationOf(text, i, buffer, column_offset), problem);
      return false;
    }
    i += length;
  }
  return true;
}

// A spec is one YAML document: reports a document marker ("---" or "...")
// that starts a second one. Such markers only mean that at the start of a line.
bool CheckOneDocument(const std::string& text, unsigned buffer, unsigned column_offset,
                      Diagnostics& diags) {
  bool content = false, ended = false;
  for (size_t start = 0; start < text.size();) {
    size_t end = std::min(text.find('\n', start), text.size());
    std::string_view line(text.data() + start, end - start);
    auto marker = [&](std::string_view m) {
      return line.substr(0, 3) == m &&
             (line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r');
    };
    size_t first = line.find_first_not_of(" \t\r");
    bool blank = first == std::string_view::npos || line[first] == '#';
    std::string problem;
    if (marker("---")) {
      if (content || ended) problem = "a second YAML document ('---'); a spec is one document";
      content = true;
    } else if (marker("...")) {
      ended = true;
    } else if (!blank && !(line[0] == '%' && !content)) {
      if (ended)
        problem = "text after the end of the YAML document ('...'); a spec is one document";
      content = true;
    }
    if (!problem.empty()) {
      diags.Error(LocationOf(text, start, buffer, column_offset), problem);
      return false;
    }
    start = end + 1;
  }
  return true;
}

// Converts yaml-cpp's tree, whose marks are 0-based, into located SpecNodes,
// expanding aliases within kMaxSpecValues values and kMaxSpecDepth levels.
// `column_offset` shifts columns on line 0 (for --set values inside a line).
class Converter {
 public:
  Converter(const std::string& text, unsigned buffer, unsigned column_offset, Diagnostics& diags)
      : text_(text), buffer_(buffer), column_offset_(column_offset), diags_(diags) {}

  // False once a limit was hit (reported once; the tree is then incomplete).
  bool ok() const { return !stopped_; }

  SpecNode Convert(const YAML::Node& node, const Location& fallback, int depth) {
    SpecNode out;
    out.location = At(node.Mark(), fallback);
    if (stopped_) return out;
    if (++values_ > kMaxSpecValues) {
      Stop(out.location, fmt::format("the spec has more than {} values (aliases count once per "
                                     "use); lmc reads at most that many",
                                     kMaxSpecValues));
      return out;
    }
    if (depth > kMaxSpecDepth) {
      Stop(out.location,
           fmt::format("values nested more than {} levels deep (a self-referencing alias?); "
                       "lmc reads at most that many",
                       kMaxSpecDepth));
      return out;
    }
    if (!CheckTag(node, out.location)) return out;
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        out.kind = SpecNode::Kind::kNull;
        break;
      case YAML::NodeType::Scalar:
        out.kind = SpecNode::Kind::kScalar;
        out.scalar = node.Scalar();
        out.quoted = node.Tag() == "!";
        out.location.length = static_cast<unsigned>(out.scalar.size() + (out.quoted ? 2 : 0));
        break;
      case YAML::NodeType::Sequence:
        out.kind = SpecNode::Kind::kSequence;
        for (const auto& item : node) {
          out.items.push_back(Convert(item, out.location, depth + 1));
          if (stopped_) break;
        }
        break;
      case YAML::NodeType::Map: {
        out.kind = SpecNode::Kind::kMap;
        std::unordered_map<std::string, size_t> seen;
        for (const auto& entry : node) {
          Location key_location = At(entry.first.Mark(), out.location);
          if (!entry.first.IsScalar()) {
            diags_.Error(key_location, "expected a plain key here");
            continue;
          }
          if (!CheckTag(entry.first, key_location)) continue;
          std::string key = entry.first.Scalar();
          key_location.length = static_cast<unsigned>(key.size());
          auto [earlier, inserted] = seen.emplace(key, out.entries.size());
          if (!inserted) {
            diags_.Error(key_location, "duplicate key '" + key + "'");
            diags_.Note(out.entries[earlier->second].key_location, "first given here");
            continue;
          }
          SpecNode value = Convert(entry.second, key_location, depth + 1);
          value.key = std::move(key);
          value.key_location = key_location;
          out.entries.push_back(std::move(value));
          if (stopped_) break;
        }
        break;
      }
    }
    return out;
  }

 private:
  Location At(const YAML::Mark& mark, const Location& fallback) const {
    if (mark.line < 0 || mark.column < 0) return fallback;
    unsigned column = static_cast<unsigned>(mark.column) + 1;
    if (mark.line == 0) column += column_offset_;
    return Location{buffer_, static_cast<unsigned>(mark.line) + 1, column, 0};
  }

  void Stop(const Location& where, const std::string& message) {
    diags_.Error(where, message);
    stopped_ = true;
  }

  // Tags (`!!int "5"`, `!!str 5`, `!foo 5`, a bare `!`) would let a value
  // say what type it is, around "a quoted value is a string": refused.
  // yaml-cpp gives quoted scalars the tag "!", as it does a bare `!`, so the
  // source text tells them apart.
  bool CheckTag(const YAML::Node& node, const Location& where) {
    const std::string& tag = node.Tag();
    if (tag.empty() || tag == "?") return true;
    size_t pos = node.Mark().pos >= 0 ? static_cast<size_t>(node.Mark().pos) : text_.size();
    if (pos < text_.size() && text_[pos] == '&') {  // Past an anchor: "&name ".
      while (pos < text_.size() && text_[pos] != ' ' && text_[pos] != '\t') ++pos;
      while (pos < text_.size() && (text_[pos] == ' ' || text_[pos] == '\t')) ++pos;
    }
    if (tag == "!" && pos < text_.size() && (text_[pos] == '"' || text_[pos] == '\'')) return true;
    std::string written = "!";
    if (pos < text_.size() && text_[pos] == '!') {
      size_t end = text_.find_first_of(" \t\n\r", pos);
      written = text_.substr(pos, std::min(end, text_.size()) - pos);
    }
    diags_.Error(where, fmt::format("YAML tags are not used in specs: remove '{}' (a value is a "
                                    "string when quoted, else what it reads as)",
                                    written));
    return false;
  }

  const std::string& text_;
  unsigned buffer_;
  unsigned column_offset_;
  Diagnostics& diags_;
  int values_ = 0;
  bool stopped_ = false;
};

std::unique_ptr<SpecNode> ParseYamlText(const std::string& text, unsigned buffer,
                                        unsigned column_offset, Diagnostics& diags) {
  if (!CheckText(text, buffer, column_offset, diags)) return nullptr;
  auto located = [&](const YAML::Mark& mark) {
    return Location{
        buffer, static_cast<unsigned>(std::max(mark.line, 0)) + 1,
        static_cast<unsigned>(std::max(mark.column, 0)) + 1 + (mark.line <= 0 ? column_offset : 0),
        0};
  };
  try {
    // YAML::LoadAll loops forever on some inputs (",dk"), so the second
    // document is found in the text: a line starting with "---" after content.
    if (!CheckOneDocument(text, buffer, column_offset, diags)) return nullptr;
    YAML::Node root = YAML::Load(text);
    int errors_before = diags.error_count();
    Converter converter(text, buffer, column_offset, diags);
    auto node = std::make_unique<SpecNode>(converter.Convert(root, Location{buffer, 1, 1, 0}, 0));
    if (!converter.ok() || diags.error_count() != errors_before) return nullptr;
    return node;
  } catch (const YAML::DeepRecursion& e) {
    diags.Error(located(e.mark), fmt::format("values nested too deep for YAML parsing; a spec "
                                             "needs at most {} levels",
                                             kMaxSpecDepth));
    return nullptr;
  } catch (const YAML::Exception& e) {
    diags.Error(located(e.mark), "invalid YAML: " + e.msg);
    return nullptr;
  }
}

// Overlays `over` on `base`: maps merge key by key, anything else replaces.
// Linear in the number of keys.
void Merge(SpecNode& base, SpecNode over) {
  if (base.kind != SpecNode::Kind::kMap || over.kind != SpecNode::Kind::kMap) {
    Location key_location = base.key_location;
    std::string key = std::move(base.key);
    base = std::move(over);
    base.key = std::move(key);
    if (!base.key_location.valid()) base.key_location = key_location;
    return;
  }
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < base.entries.size(); ++i) index.emplace(base.entries[i].key, i);
  for (auto& value : over.entries) {
    auto found = index.find(value.key);
    if (found != index.end()) {
      Merge(base.entries[found->second], std::move(value));
    } else {
      index.emplace(value.key, base.entries.size());
      base.entries.push_back(std::move(value));
    }
  }
}

class TreeLoader {
 public:
  explicit TreeLoader(Diagnostics& diags) : diags_(diags) {}

  // `from` is where the file was named (the extends value), if anywhere.
  std::unique_ptr<SpecNode> Load(const std::string& path, const Location& from) {
    std::string text, error;
    if (!ReadRegularFile(path, kMaxSpecBytes, text, error)) {
      diags_.Error(from, "cannot read spec '" + path + "': " + error);
      return nullptr;
    }
    return LoadText(text, path, from);
  }

  std::unique_ptr<SpecNode> LoadText(const std::string& text, const std::string& path,
                                     const Location& from) {
    std::string canonical = path;
    llvm::SmallString<256> real;
    if (!llvm::sys::fs::real_path(path, real)) canonical = std::string(real);
    if (std::find(stack_.begin(), stack_.end(), canonical) != stack_.end()) {
      std::string chain;
      for (const auto& p : stack_) chain += llvm::sys::path::filename(p).str() + " -> ";
      diags_.Error(from, "cyclic extends: " + chain + llvm::sys::path::filename(path).str());
      return nullptr;
    }
    if (stack_.size() >= static_cast<size_t>(kMaxExtendsDepth)) {
      diags_.Error(from, fmt::format("extends chain longer than {} files", kMaxExtendsDepth));
      return nullptr;
    }
    unsigned buffer = diags_.AddBuffer(text, path);
    auto tree = ParseYamlText(text, buffer, 0, diags_);
    if (!tree) return nullptr;
    if (tree->kind != SpecNode::Kind::kMap) {
      diags_.Error(tree->location, "a spec must be a YAML mapping of keys to values");
      return nullptr;
    }
    auto extends = std::find_if(tree->entries.begin(), tree->entries.end(),
                                [](const SpecNode& entry) { return entry.key == "extends"; });
    if (extends == tree->entries.end()) return tree;

    SpecNode base_name = std::move(*extends);
    tree->entries.erase(extends);
    if (base_name.kind != SpecNode::Kind::kScalar || base_name.scalar.empty()) {
      diags_.Error(base_name.location, "extends takes the path of a base spec");
      return nullptr;
    }
    llvm::SmallString<256> base_path(base_name.scalar);
    if (llvm::sys::path::is_relative(base_path)) {
      base_path = llvm::sys::path::parent_path(path);
      llvm::sys::path::append(base_path, base_name.scalar);
    }
    stack_.push_back(canonical);
    auto base = Load(std::string(base_path), base_name.location);
    stack_.pop_back();
    if (!base) return nullptr;
    Merge(*base, std::move(*tree));
    return base;
  }

  // Applies one "a.b.c=value" override.
  bool ApplyOverride(SpecNode& root, const std::string& text) {
    unsigned buffer = diags_.AddBuffer(text, "<--set>");
    size_t equals = text.find('=');
    if (equals == std::string::npos || equals == 0) {
      diags_.Error(Location{buffer, 1, 1, static_cast<unsigned>(text.size())},
                   "--set expects path.to.key=value");
      return false;
    }
    auto value =
        ParseYamlText(text.substr(equals + 1), buffer, static_cast<unsigned>(equals + 1), diags_);
    if (!value) return false;
    SpecNode* node = &root;
    size_t start = 0;
    for (int depth = 1;; ++depth) {
      size_t dot = text.find('.', start);
      bool last = dot == std::string::npos || dot > equals;
      size_t end = last ? equals : dot;
      std::string key = text.substr(start, end - start);
      Location key_location{buffer, 1, static_cast<unsigned>(start + 1),
                            static_cast<unsigned>(end - start)};
      if (key.empty()) {
        diags_.Error(key_location, "empty key in --set path");
        return false;
      }
      if (depth > kMaxSpecDepth) {
        diags_.Error(key_location, fmt::format("--set path deeper than {} keys", kMaxSpecDepth));
        return false;
      }
      if (node->kind != SpecNode::Kind::kMap) {
        diags_.Error(key_location, "--set path goes through a value that is not a mapping");
        return false;
      }
      SpecNode* child = node->Find(key);
      if (!child) {
        SpecNode map;
        map.kind = SpecNode::Kind::kMap;
        map.key = key;
        node->entries.push_back(std::move(map));
        child = &node->entries.back();
        child->location = key_location;
      }
      child->key_location = key_location;
      if (last) {
        Merge(*child, std::move(*value));
        child->key_location = key_location;
        return true;
      }
      node = child;
      start = dot + 1;
    }
  }

 private:
  Diagnostics& diags_;
  std::vector<std::string> stack_;
};

std::unique_ptr<SpecNode> ApplyOverrides(TreeLoader& loader, std::unique_ptr<SpecNode> tree,
                                         const std::vector<std::string>& overrides) {
  if (!tree) return nullptr;
  bool ok = true;
  for (const auto& text : overrides) ok = loader.ApplyOverride(*tree, text) && ok;
  return ok ? std::move(tree) : nullptr;
}

}  // namespace

std::unique_ptr<SpecNode> LoadSpecTree(const std::string& path,
                                       const std::vector<std::string>& overrides,
                                       Diagnostics& diags) {
  TreeLoader loader(diags);
  return ApplyOverrides(loader, loader.Load(path, Location{}), overrides);
}

std::unique_ptr<SpecNode> LoadSpecTreeFromText(const std::string& text, const std::string& name,
                                               const std::vector<std::string>& overrides,
                                               Diagnostics& diags) {
  TreeLoader loader(diags);
  if (text.size() > kMaxSpecBytes) {
    diags.Error(Location{}, fmt::format("cannot read spec '{}': is {}; at most {} is read", name,
                                        DescribeBytes(text.size()), DescribeBytes(kMaxSpecBytes)));
    return nullptr;
  }
  return ApplyOverrides(loader, loader.LoadText(text, name, Location{}), overrides);
}

}  // namespace lmc
