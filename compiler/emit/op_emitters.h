// How each op kind is written as C++: the emitter's half of the op table
// (compiler/ir/ops.cpp declares the ops; interp/op_semantics.h runs them). One
// entry per OpKind, in OpKind order, checked at compile time, so an op without
// an emission does not build.
#pragma once

#include <string>

#include "compiler/emit/code_writer.h"
#include "compiler/emit/forward_emitter.h"
#include "compiler/ir/ir.h"

namespace lmc {

struct OpEmission {
  ir::OpKind kind;
  // Writes the op's statements: kernel calls on the buffers the planner gave it.
  void (*emit)(ForwardEmitter& e, CodeWriter& c, const ir::Op& op);
  // Whether the op, though it reads no state, depends on where each sequence's
  // tokens end, and so runs once per segment of a batched pass; null: never.
  bool (*per_segment)(const ir::Op& op) = nullptr;
  // A scratch field the op needs in Activations (a declaration line), or "".
  std::string (*scratch)(const ForwardEmitter& e, const ir::Op& op) = nullptr;
};

const OpEmission& EmissionOf(ir::OpKind kind);

}  // namespace lmc
