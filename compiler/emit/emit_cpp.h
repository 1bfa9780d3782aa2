// IR -> readable C++: a header (constants, weight struct, state, entry
// points) and a source (weight binding, the forward pass, the runtime glue),
// with every size a compile-time constant.
#pragma once

#include <cstdint>
#include <string>

#include "compiler/ir/ir.h"

namespace lmc {

struct GeneratedFiles {
  std::string stem;  // File name stem: "stories260k" -> stories260k.h / .cpp / .ir
  std::string header;
  std::string source;
  std::string ir;
  // Not part of the emitted code (which must not depend on where the spec
  // lives): the spec's tokenizer.file made absolute, for lmc build to embed.
  std::string tokenizer_file;
};

// What the runtime glue states beside the IR: the spec's special ids a
// BERT-style encoder's prompt is wrapped in (-1: not given).
struct EmitOptions {
  int64_t cls = -1;
  int64_t sep = -1;
};

// A function of the IR (and `options`): `spec_path` only names the spec in
// banners (relative to the repo for checked-in output). The graph must be
// verified and buffer-planned.
GeneratedFiles EmitCpp(const ir::Graph& graph, const std::string& spec_path,
                       const EmitOptions& options = {});

}  // namespace lmc
