#include "compiler/spec/spec_tree.h"

#include <llvm/ADT/SmallString.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

namespace lmc {

const SpecNode* SpecNode::Find(const std::string& key) const {
  for (const auto& [name, value] : entries) {
    if (name == key) return &value;
  }
  return nullptr;
}

SpecNode* SpecNode::Find(const std::string& key) {
  return const_cast<SpecNode*>(std::as_const(*this).Find(key));
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
      for (const auto& [key, value] : entries) {
        if (value.kind == Kind::kMap) {
          out += pad + key + ":\n" + value.ToYaml(indent + 2);
        } else {
          out += pad + key + ": " + value.ToYaml(indent + 2) + "\n";
        }
      }
      return out;
  }
  return out;
}

namespace {

// Converts yaml-cpp's tree, whose marks are 0-based, into located SpecNodes.
// `column_offset` shifts columns on line 0 (for --set values inside a line).
class Converter {
 public:
  Converter(unsigned buffer, unsigned column_offset, Diagnostics& diags)
      : buffer_(buffer), column_offset_(column_offset), diags_(diags) {}

  SpecNode Convert(const YAML::Node& node, const Location& fallback) {
    SpecNode out;
    out.location = At(node.Mark(), fallback);
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
        for (const auto& item : node) out.items.push_back(Convert(item, out.location));
        break;
      case YAML::NodeType::Map:
        out.kind = SpecNode::Kind::kMap;
        for (const auto& entry : node) {
          Location key_location = At(entry.first.Mark(), out.location);
          if (!entry.first.IsScalar()) {
            diags_.Error(key_location, "expected a plain key here");
            continue;
          }
          std::string key = entry.first.Scalar();
          key_location.length = static_cast<unsigned>(key.size());
          if (const SpecNode* earlier = out.Find(key)) {
            diags_.Error(key_location, "duplicate key '" + key + "'");
            diags_.Note(earlier->key_location, "first given here");
            continue;
          }
          SpecNode value = Convert(entry.second, key_location);
          value.key_location = key_location;
          out.entries.emplace_back(key, std::move(value));
        }
        break;
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

  unsigned buffer_;
  unsigned column_offset_;
  Diagnostics& diags_;
};

std::unique_ptr<SpecNode> ParseYamlText(const std::string& text, unsigned buffer,
                                        unsigned column_offset, Diagnostics& diags) {
  try {
    YAML::Node root = YAML::Load(text);
    int errors_before = diags.error_count();
    Converter converter(buffer, column_offset, diags);
    auto node = std::make_unique<SpecNode>(converter.Convert(root, Location{buffer, 1, 1, 0}));
    if (diags.error_count() != errors_before) return nullptr;
    return node;
  } catch (const YAML::Exception& e) {
    Location where{buffer, static_cast<unsigned>(std::max(e.mark.line, 0)) + 1,
                   static_cast<unsigned>(std::max(e.mark.column, 0)) + 1 + column_offset, 0};
    diags.Error(where, "invalid YAML: " + e.msg);
    return nullptr;
  }
}

// Overlays `over` on `base`: maps merge key by key, anything else replaces.
void Merge(SpecNode& base, SpecNode over) {
  if (base.kind != SpecNode::Kind::kMap || over.kind != SpecNode::Kind::kMap) {
    Location key_location = base.key_location;
    base = std::move(over);
    if (!base.key_location.valid()) base.key_location = key_location;
    return;
  }
  for (auto& [key, value] : over.entries) {
    if (SpecNode* existing = base.Find(key)) {
      Merge(*existing, std::move(value));
    } else {
      base.entries.emplace_back(key, std::move(value));
    }
  }
}

class TreeLoader {
 public:
  explicit TreeLoader(Diagnostics& diags) : diags_(diags) {}

  // `from` is where the file was named (the extends value), if anywhere.
  std::unique_ptr<SpecNode> Load(const std::string& path, const Location& from) {
    std::string canonical = path;
    llvm::SmallString<256> real;
    if (!llvm::sys::fs::real_path(path, real)) canonical = std::string(real);
    if (std::find(stack_.begin(), stack_.end(), canonical) != stack_.end()) {
      std::string chain;
      for (const auto& p : stack_) chain += llvm::sys::path::filename(p).str() + " -> ";
      diags_.Error(from, "cyclic extends: " + chain + llvm::sys::path::filename(path).str());
      return nullptr;
    }
    auto file = llvm::MemoryBuffer::getFile(path);
    if (!file) {
      diags_.Error(from, "cannot read spec '" + path + "': " + file.getError().message());
      return nullptr;
    }
    std::string text = (*file)->getBuffer().str();
    unsigned buffer = diags_.AddBuffer(text, path);
    auto tree = ParseYamlText(text, buffer, 0, diags_);
    if (!tree) return nullptr;
    if (tree->kind != SpecNode::Kind::kMap) {
      diags_.Error(tree->location, "a spec must be a YAML mapping of keys to values");
      return nullptr;
    }
    auto extends = std::find_if(tree->entries.begin(), tree->entries.end(),
                                [](const auto& entry) { return entry.first == "extends"; });
    if (extends == tree->entries.end()) return tree;

    SpecNode base_name = std::move(extends->second);
    tree->entries.erase(extends);
    if (base_name.kind != SpecNode::Kind::kScalar) {
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
    while (true) {
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
      if (node->kind != SpecNode::Kind::kMap) {
        diags_.Error(key_location, "--set path goes through a value that is not a mapping");
        return false;
      }
      SpecNode* child = node->Find(key);
      if (!child) {
        SpecNode map;
        map.kind = SpecNode::Kind::kMap;
        node->entries.emplace_back(key, std::move(map));
        child = &node->entries.back().second;
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

}  // namespace

std::unique_ptr<SpecNode> LoadSpecTree(const std::string& path,
                                       const std::vector<std::string>& overrides,
                                       Diagnostics& diags) {
  TreeLoader loader(diags);
  auto tree = loader.Load(path, Location{});
  if (!tree) return nullptr;
  bool ok = true;
  for (const auto& text : overrides) ok = loader.ApplyOverride(*tree, text) && ok;
  return ok ? std::move(tree) : nullptr;
}

}  // namespace lmc
