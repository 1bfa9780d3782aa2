// `lmc check SPEC --weights FILE... [--scan]`: verifies checkpoints against a
// spec without building. Each FILE is opened as the spec's weights.format says
// (a sharded safetensors checkpoint: its index or its folder) and checked
// against the lowered model's weights (ir::Weight: the names, layouts and
// dtypes generated code binds), resolving names as the runtime does:
//   - every tensor the model reads is present, with the shape it is stored in
//     (transposed, or fused with others, as the layout says);
//   - its dtype is one the model reads, as stored or converted at load (a
//     matrix stored in one block type is refused where the model reads
//     another: requantizing would round twice);
//   - nothing else: a tensor the model does not read is reported, except a
//     classifier that is an exact copy of the token embedding it is tied to
//     (one that differs is reported);
//   - with `scan`, every tensor's values are finite (the first NaN or Inf).
// One line per problem on `err`, each naming the file and the tensor.
#pragma once

#include <llvm/Support/raw_ostream.h>

#include <string>
#include <vector>

#include "compiler/ir/ir.h"
#include "compiler/spec/spec.h"

namespace lmc {

// Returns the exit code: 0 when every file is fine (one summary line per file
// on `out`), 1 if any problem was found.
int CheckWeights(const Spec& spec, const ir::Graph& graph, const std::vector<std::string>& files,
                 bool scan, llvm::raw_ostream& out, llvm::raw_ostream& err);

}  // namespace lmc
