// The spec as a tree of located YAML values, before it is given meaning.
//
// Loading resolves `extends:` (a base file the spec overrides, recursively)
// and applies `--set path.to.key=value` overrides, keeping for every value the
// file, line and column it came from, so later stages can point at it.
//
// Everything here is bounded, whatever the input: a spec file is a regular
// file of at most kMaxSpecBytes of UTF-8 text, with one YAML document and no
// tags; the tree has at most kMaxSpecValues values (aliases expanded) and is
// at most kMaxSpecDepth levels deep; extends chains are at most
// kMaxExtendsDepth files long.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compiler/support/diagnostics.h"

namespace lmc {

inline constexpr size_t kMaxSpecBytes = 1 << 20;
inline constexpr int kMaxSpecValues = 100000;
inline constexpr int kMaxSpecDepth = 32;
inline constexpr int kMaxExtendsDepth = 16;

struct SpecNode {
  enum class Kind { kNull, kScalar, kMap, kSequence };

  Kind kind = Kind::kNull;
  std::string scalar;             // For kScalar.
  bool quoted = false;            // A quoted scalar is always a string.
  std::string key;                // For an entry of a map: its key.
  std::vector<SpecNode> entries;  // For kMap, in file order, each with its key.
  std::vector<SpecNode> items;    // For kSequence.
  Location location;              // Of the value.
  Location key_location;          // Of the key that names this value, if any.

  const SpecNode* Find(const std::string& key) const;
  SpecNode* Find(const std::string& key);
  // Writes the tree back as YAML in block style (for embedding and hashing).
  std::string ToYaml(int indent = 0) const;
};

// Loads `path` with its extends chain and the --set overrides ("a.b=value").
// Returns null after reporting to `diags` if anything could not be read.
std::unique_ptr<SpecNode> LoadSpecTree(const std::string& path,
                                       const std::vector<std::string>& overrides,
                                       Diagnostics& diags);

// The same for spec text already in memory, named `name` in messages (for
// tests and fuzzers). A relative extends is resolved against `name`'s folder.
std::unique_ptr<SpecNode> LoadSpecTreeFromText(const std::string& text, const std::string& name,
                                               const std::vector<std::string>& overrides,
                                               Diagnostics& diags);

}  // namespace lmc
