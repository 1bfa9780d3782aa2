// Spec -> IR: the one place that knows how a family wires its blocks (norm
// placement, attention grouping, position encoding, tied classifier).
//
// Whatever the spec asks for that has no lowering yet is refused here with
// "not supported yet: ..." at the key that asks for it, never mis-compiled.
#pragma once

#include <optional>

#include "compiler/ir/ir.h"
#include "compiler/spec/spec.h"

namespace lmc {

std::optional<ir::Graph> Lower(const Spec& spec, Diagnostics& diags);

// The checkpoint tensor name of a weight role: weights.names, else the
// format's own naming.
std::string TensorName(const Spec& spec, const std::string& role);

}  // namespace lmc
