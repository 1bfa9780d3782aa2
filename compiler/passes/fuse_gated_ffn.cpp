#include <map>

#include "compiler/passes/passes.h"

namespace lmc::passes {

namespace {

void CountUses(const ir::Block& block, std::map<int, int>& uses) {
  for (const ir::Op& op : block.ops) {
    for (int v : op.operands) ++uses[v];
    if (op.body) CountUses(*op.body, uses);
  }
  if (block.yield >= 0) ++uses[block.yield];
}

// Gate and up become one gated_linear only when their weights are stored alike (one kernel
// reads both).
bool SameStorage(const ir::Weight& a, const ir::Weight& b) {
  return a.dtype == b.dtype && a.layer_dtypes == b.layer_dtypes;
}

void FuseBlock(ir::Block& block, std::map<int, int>& uses, const std::vector<ir::Weight>& weights) {
  std::map<int, size_t> producer;  // value -> index of the op defining it in this block.
  std::vector<bool> dead(block.ops.size(), false);
  for (size_t i = 0; i < block.ops.size(); ++i) {
    ir::Op& op = block.ops[i];
    if (op.body) FuseBlock(*op.body, uses, weights);
    producer[op.result] = i;
    if (op.kind != ir::OpKind::kSwiGlu) continue;
    auto gate_it = producer.find(op.operands[0]);
    auto up_it = producer.find(op.operands[1]);
    if (gate_it == producer.end() || up_it == producer.end()) continue;
    ir::Op& gate = block.ops[gate_it->second];
    ir::Op& up = block.ops[up_it->second];
    // gated_linear has no biases: biased projections stay apart.
    bool fusable = gate.kind == ir::OpKind::kLinear && up.kind == ir::OpKind::kLinear &&
                   gate.weights.size() == 1 && up.weights.size() == 1 &&
                   gate.operands == up.operands && uses[gate.result] == 1 && uses[up.result] == 1 &&
                   gate.result != up.result &&
                   SameStorage(weights[gate.weights[0]], weights[up.weights[0]]);
    if (!fusable) continue;
    ir::Op fused{ir::OpKind::kGatedLinear};
    fused.operands = gate.operands;
    fused.weights = {gate.weights[0], up.weights[0]};
    fused.attrs = {ir::AttrOf(ir::attr::kGateActivation, ir::GateActivation::kSwiGlu),
                   ir::AttrOf(ir::attr::kBeta, op.Get(ir::attr::kBeta))};
    fused.result = op.result;
    dead[gate_it->second] = dead[up_it->second] = true;
    op = std::move(fused);
  }
  std::vector<ir::Op> kept;
  for (size_t i = 0; i < block.ops.size(); ++i) {
    if (!dead[i]) kept.push_back(std::move(block.ops[i]));
  }
  block.ops = std::move(kept);
}

}  // namespace

void FuseGatedFfn(ir::Graph& graph) {
  std::map<int, int> uses;
  CountUses(graph.body, uses);
  if (graph.output >= 0) ++uses[graph.output];
  if (graph.HasEncode()) {
    CountUses(graph.encode.body, uses);
    ++uses[graph.encode.output];
    FuseBlock(graph.encode.body, uses, graph.weights);
  }
  FuseBlock(graph.body, uses, graph.weights);
}

}  // namespace lmc::passes
