// IR -> readable C++: a header (constants, weight struct, state, entry
// points) and a source (weight binding, the forward pass, the runtime glue),
// with every size a compile-time constant.
#pragma once

#include <string>

#include "compiler/ir/ir.h"
#include "compiler/spec/spec.h"

namespace lmc {

struct GeneratedFiles {
  std::string stem;  // File name stem: "stories260k" -> stories260k.h / .cpp / .ir
  std::string header;
  std::string source;
  std::string ir;
};

// `spec_path` is how the banner names the spec (relative to the repo for
// checked-in output). The graph must be verified and buffer-planned.
GeneratedFiles EmitCpp(const Spec& spec, const ir::Graph& graph, const std::string& spec_path);

}  // namespace lmc
