// IR -> IR rewrites, one per file. The pipeline runs them in order and
// verifies the graph after each.
#pragma once

#include <string>

#include "compiler/ir/ir.h"

namespace lmc::passes {

struct Pass {
  const char* name;
  void (*run)(ir::Graph&);
};

// linear(x, gate) + linear(x, up) + swiglu -> one gated_linear: x is read
// once and the activation is applied while the outputs are in registers.
void FuseGatedFfn(ir::Graph& graph);

// Assigns every activation to a scratch buffer, reusing buffers whose value is
// dead, and updating in place where the kernel allows it.
void PlanBuffers(ir::Graph& graph);

// Shards the module for one rank of `ranks` (tensor parallelism, tensor_parallel.cpp): cut
// dims, sharded weights, an all_reduce after each row-parallel product. Runs before
// plan-buffers when lmc build --tensor-parallel N asks for it. Returns "" or why the module
// cannot be split that way (a user error: too many ranks, an unsupported feature).
std::string ShardTensorParallel(ir::Graph& graph, int ranks);

inline constexpr Pass kPipeline[] = {
    {"fuse-gated-ffn", FuseGatedFfn},
    {"plan-buffers", PlanBuffers},
};

}  // namespace lmc::passes
