// The spec as a tree of located YAML values, before it is given meaning.
//
// Loading resolves `extends:` (a base file the spec overrides, recursively)
// and applies `--set path.to.key=value` overrides, keeping for every value the
// file, line and column it came from, so later stages can point at it.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "compiler/support/diagnostics.h"

namespace lmc {

struct SpecNode {
  enum class Kind { kNull, kScalar, kMap, kSequence };

  Kind kind = Kind::kNull;
  std::string scalar;                                     // For kScalar.
  bool quoted = false;                                    // A quoted scalar is always a string.
  std::vector<std::pair<std::string, SpecNode>> entries;  // For kMap, in file order.
  std::vector<SpecNode> items;                            // For kSequence.
  Location location;                                      // Of the value.
  Location key_location;  // Of the key that names this value, if any.

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

}  // namespace lmc
