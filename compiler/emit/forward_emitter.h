// What an op's emission (op_emitters.cpp) writes with: the C++ names of the
// graph's sizes, buffers, weights and states inside an entry point's body,
// which depend on whether the body runs per segment of a batched pass, and
// the constant tables the body reads.
#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "compiler/emit/code_writer.h"
#include "compiler/ir/ir.h"

namespace lmc {

// "d_model" -> "kDModel"; "kv_dim" -> "kKvDim".
std::string ConstantName(const std::string& dim);
// A float literal that reads back to the same float.
std::string FloatLiteral(double value);

class ForwardEmitter {
 public:
  explicit ForwardEmitter(const ir::Graph& graph) : g_(graph) {}

  const ir::Graph& graph() const { return g_; }

  // Emits an entry point's body. `batched`: the main entry, over a batch's
  // segments (ops with per-sequence state run once per segment), which returns
  // the graph's hidden output, when it declares one, as soon as it is computed
  // if its `hidden` argument asks for it.
  void EmitEntry(CodeWriter& c, const ir::Block& body, bool batched);
  // A `layers` op's body, or an entry's.
  void EmitBlock(CodeWriter& c, const ir::Block& block);
  // The constant tables the bodies emitted so far read.
  void EmitTables(CodeWriter& c) const;

  bool batched() const { return batched_; }

  // A dimension as C++: the constant for a static one; the run-time variable
  // for the token count T (n), the output rows R (rows) and the capacity.
  std::string Size(ir::DimId d) const;
  std::string DimsExpr(const std::vector<ir::DimId>& dims) const;
  std::string BufferName(int value) const;
  // A value's buffer; inside a segment loop, the segment's first row of it.
  std::string Buf(int value) const;
  // The token count and positions of the rows being run: the chunk's, or the segment's.
  std::string Tokens() const { return segment_ ? "seg.n" : "n"; }
  std::string Positions() const { return segment_ ? "positions + seg.first" : "positions"; }
  // The position of the last row being run: where its sequence has reached.
  std::string LastPosition() const {
    return segment_ ? "positions[seg.first + seg.n - 1]" : "positions[n - 1]";
  }
  std::string WeightExpr(int weight) const;
  std::string StateExpr(int state) const { return g_.states[state].name; }
  // The run-time row count of a value: n, or rows after last_rows.
  std::string RowsOf(int value) const { return Size(g_.values[value].dims[0]); }
  std::string Width(int value) const { return Size(g_.values[value].dims.back()); }
  // A state's rows: the KV capacity chosen at run time, or for the encoder's
  // K/V (rows S, the source length) room for the longest source, one chunk.
  std::string StateRows(ir::DimId d, const char* state) const;

  // A constant table the forward pass reads, emitted once per distinct content.
  std::string Table(const std::string& stem, const std::vector<float>& values);
  std::string IntTable(const std::string& stem, const std::vector<int>& values);

  // Ops that update in place copy their input first when the planner gave the
  // result another buffer.
  void CopyIfMoved(CodeWriter& c, const ir::Op& op) const;

  // The layer stacks' weight structs, arrays and counts.
  static const char* LayerStruct(bool encoder) {
    return encoder ? "EncoderLayerWeights" : "LayerWeights";
  }
  static const char* LayerArray(bool encoder) { return encoder ? "encoder_layers" : "layers"; }
  static std::string LayerCount(bool encoder) { return encoder ? "kEncoderLayers" : "kLayers"; }
  // The C++ element type a state (a KV cache) is kept in; the kernels are templates on it.
  static const char* StateType(const ir::State& s) {
    return s.dtype == rt::DType::kBF16   ? "hwy::bfloat16_t"
           : s.dtype == rt::DType::kF16  ? "hwy::float16_t"
           : s.dtype == rt::DType::kQ8_0 ? "lmc::rt::BlockQ8_0"
                                         : "float";
  }
  // Elements of a state's row: its width, or for a q8_0 cache its blocks of 32 values.
  std::string StateRowElements(const ir::State& s) const;
  static bool UsesState(const ir::Block& block, int state);

 protected:
  const ir::Graph& g_;

 private:
  // Ops that read or write a sequence's state, or depend on where its tokens
  // end, run once per segment (session) of a batched forward pass.
  static bool PerSegment(const ir::Op& op);
  // Ops run once per segment, with the segment's state and rows.
  void EmitSegmentLoop(CodeWriter& c, std::span<const ir::Op> ops);

  std::vector<std::pair<std::string, std::vector<float>>> tables_;
  std::vector<std::pair<std::string, std::vector<int>>> int_tables_;
  bool batched_ = false;  // Emitting the forward pass over a batch's segments.
  bool segment_ = false;  // Inside its loop over segments.
  // The batched entry's body has returned its hidden output when asked.
  bool hidden_returned_ = false;
};

}  // namespace lmc
