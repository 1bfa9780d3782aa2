// Each op kind's reference semantics: the interpreter's half of the op table
// (compiler/ir/ops.cpp declares the ops; emit/op_emitters.h writes them as
// C++). One entry per OpKind, in OpKind order, checked at compile time, so an
// op without semantics does not build.
#pragma once

#include "compiler/interp/interpreter_state.h"
#include "compiler/ir/ir.h"

namespace lmc::interp {

struct OpSemantics {
  ir::OpKind kind;
  // Computes the op's result (or updates its states) on the scalar reference
  // kernels, for every row of the sequence at once; `layer` is the layer being
  // run inside a `layers` op, -1 outside.
  void (*run)(Interpreter& in, const ir::Op& op, int layer);
};

const OpSemantics& SemanticsOf(ir::OpKind kind);

}  // namespace lmc::interp
