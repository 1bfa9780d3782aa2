#include "compiler/emit/forward_emitter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "compiler/emit/op_emitters.h"

namespace lmc {

std::string ConstantName(const std::string& dim) {
  std::string out = "k";
  bool upper = true;
  for (char c : dim) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out;
}

std::string FloatLiteral(double value) {
  std::string s = fmt::format("{}", static_cast<float>(value));
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s + "f";
}

std::string ForwardEmitter::Size(ir::DimId d) const {
  const ir::Dim& dim = g_.dims[d];
  if (!dim.dynamic) return ConstantName(dim.name);
  if (dim.name == "T") return Tokens();
  if (dim.name == "R") return "rows";
  if (dim.name == "ctx") return "s.capacity";
  if (dim.name == "S") return "s.source_len";
  throw std::logic_error("internal error: no run-time variable for dim " + dim.name);
}

std::string ForwardEmitter::DimsExpr(const std::vector<ir::DimId>& dims) const {
  std::vector<std::string> parts;
  for (ir::DimId d : dims) parts.push_back(Size(d));
  return fmt::format("{{{}}}", fmt::join(parts, ", "));
}

std::string ForwardEmitter::BufferName(int value) const {
  int b = g_.values[value].buffer;
  if (b < 0) throw std::logic_error("internal error: emitting an unplanned graph");
  return g_.buffers[b].name;
}

std::string ForwardEmitter::Buf(int value) const {
  if (!segment_) return "a." + BufferName(value);
  return fmt::format("a.{} + seg.first * {}", BufferName(value), Width(value));
}

std::string ForwardEmitter::WeightExpr(int weight) const {
  const ir::Weight& w = g_.weights[weight];
  return (w.per_layer ? "lw." : "w.") + w.role;
}

std::string ForwardEmitter::StateRows(ir::DimId d, const char* state) const {
  const ir::Dim& dim = g_.dims[d];
  if (!dim.dynamic) return ConstantName(dim.name);
  if (dim.name == "ctx") return fmt::format("{}capacity", state);
  if (dim.name == "S") return "kChunk";
  throw std::logic_error("internal error: no rows for state dim " + dim.name);
}

std::string ForwardEmitter::StateRowElements(const ir::State& s) const {
  const std::string width = Size(s.dims.back());
  return s.dtype == rt::DType::kQ8_0 ? fmt::format("({} / lmc::rt::kQuantBlock)", width) : width;
}

namespace {

template <typename T>
std::string Intern(std::vector<std::pair<std::string, std::vector<T>>>& tables,
                   const std::string& stem, const std::vector<T>& values) {
  for (const auto& [name, existing] : tables) {
    if (existing == values) return name;
  }
  std::string name = fmt::format("{}{}", stem, tables.size());
  tables.emplace_back(name, values);
  return name;
}

}  // namespace

std::string ForwardEmitter::Table(const std::string& stem, const std::vector<float>& values) {
  return Intern(tables_, stem, values);
}

std::string ForwardEmitter::IntTable(const std::string& stem, const std::vector<int>& values) {
  return Intern(int_tables_, stem, values);
}

void ForwardEmitter::EmitTables(CodeWriter& c) const {
  for (const auto& [name, values] : tables_) {
    std::vector<std::string> literals;
    for (float v : values) literals.push_back(FloatLiteral(v));
    c.Line("constexpr float {}[] = {{{}}};", name, fmt::join(literals, ", "));
  }
  for (const auto& [name, values] : int_tables_) {
    c.Line("constexpr int {}[] = {{{}}};", name, fmt::join(values, ", "));
  }
  if (!tables_.empty() || !int_tables_.empty()) c.Blank();
}

void ForwardEmitter::CopyIfMoved(CodeWriter& c, const ir::Op& op) const {
  if (Buf(op.result) != Buf(op.operands[0])) {
    c.Line("std::copy_n({}, {} * {}, {});", Buf(op.operands[0]), RowsOf(op.result),
           Width(op.result), Buf(op.result));
  }
}

bool ForwardEmitter::UsesState(const ir::Block& block, int state) {
  for (const ir::Op& op : block.ops) {
    if (std::find(op.states.begin(), op.states.end(), state) != op.states.end()) return true;
    if (op.body && UsesState(*op.body, state)) return true;
  }
  return false;
}

void ForwardEmitter::EmitEntry(CodeWriter& c, const ir::Block& body, bool batched) {
  batched_ = batched;
  hidden_returned_ = false;
  EmitBlock(c, body);
  if (batched && g_.hidden >= 0 && !hidden_returned_) {
    throw std::logic_error("internal error: the hidden output is not defined by the entry's body");
  }
  batched_ = false;
}

void ForwardEmitter::EmitBlock(CodeWriter& c, const ir::Block& block) {
  for (size_t i = 0; i < block.ops.size(); ++i) {
    if (!batched_ || !PerSegment(block.ops[i])) {
      EmissionOf(block.ops[i].kind).emit(*this, c, block.ops[i]);
      if (batched_ && block.ops[i].result == g_.hidden && g_.hidden >= 0) {
        // The declared hidden output, when the caller asks for it instead of the logits.
        c.Line("if (hidden) return {};", Buf(g_.hidden));
        hidden_returned_ = true;
      }
      continue;
    }
    // A run of ops that each run per segment: one loop over the segments.
    size_t end = i;
    while (end < block.ops.size() && PerSegment(block.ops[end])) ++end;
    EmitSegmentLoop(c, std::span<const ir::Op>(block.ops).subspan(i, end - i));
    i = end - 1;
  }
}

bool ForwardEmitter::PerSegment(const ir::Op& op) {
  const OpEmission& emission = EmissionOf(op.kind);
  return !op.states.empty() || (emission.per_segment && emission.per_segment(op));
}

void ForwardEmitter::EmitSegmentLoop(CodeWriter& c, std::span<const ir::Op> ops) {
  std::vector<int> states;
  for (const ir::Op& op : ops) {
    for (int id : op.states) {
      if (std::find(states.begin(), states.end(), id) == states.end()) states.push_back(id);
    }
  }
  c.Line("for (const Segment& seg : segments) {{");
  c.Indent();
  if (!states.empty()) c.Line("State& s = *seg.state;");
  for (int id : states) {
    const ir::State& st = g_.states[id];
    if (st.per_layer) {
      c.Line("{}* {} = s.{}.get() + static_cast<size_t>(l) * {} * {};", StateType(st), st.name,
             st.name, StateRows(st.dims[0], "s."), StateRowElements(st));
    } else {
      c.Line("{}* {} = s.{}.get();", StateType(st), st.name, st.name);
    }
  }
  segment_ = true;
  for (const ir::Op& op : ops) EmissionOf(op.kind).emit(*this, c, op);
  segment_ = false;
  c.Outdent();
  c.Line("}}");
}

}  // namespace lmc
