// The reference interpreter's run: the values, states and weights an op's
// reference semantics (op_semantics.cpp) read and write. Internal to
// compiler/interp/; the interface is interpreter.h.
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "compiler/ir/ir.h"
#include "runtime/weights/quant.h"
#include "runtime/weights/tensor_source.h"

namespace lmc::interp {

// A tensor value: `rows` rows of `width` floats.
struct Tensor {
  int rows = 0, width = 0;
  std::vector<float> data;
  float* row(int r) { return data.data() + static_cast<size_t>(r) * width; }
};

class Interpreter {
 public:
  Interpreter(const ir::Graph& graph, rt::TensorSource& weights)
      : g_(graph), source_(weights), values_(graph.values.size()), states_(graph.states.size()) {}

  // The encode entry over the source tokens, then the main entry over `tokens`.
  std::vector<float> Run(std::span<const int> tokens, std::span<const int> source,
                         std::vector<float>* encoder_output, std::vector<float>* hidden_output);

  // ---- For the ops' semantics ----
  const ir::Graph& graph() const { return g_; }
  // The current entry's token ids, their positions (0, 1, ...) and count.
  const std::vector<int>& tokens() const { return tokens_; }
  const std::vector<int>& positions() const { return positions_; }
  int n() const { return n_; }
  int source_len() const { return source_len_; }  // Rows of the encoder's K/V states.

  // A dimension's size: every run-time one is the whole sequence here (the
  // interpreter takes all tokens in one call and returns every row).
  int Size(ir::DimId d) const;
  // The width of an op's result rows (0 for a state token).
  int Width(const ir::Op& op) const;

  Tensor& Value(int id) { return values_[id]; }
  Tensor& In(const ir::Op& op, size_t i) { return values_[op.operands.at(i)]; }
  // The op's result, sized [rows, width] and zeroed.
  Tensor& Result(const ir::Op& op, int rows, int width);
  // The op's state i, of layer `layer` when per layer: [positions, row].
  std::vector<float>& StateOf(const ir::Op& op, int i, int layer);

  // A weight's values as f32 (quantized ones dequantized by the reference routine).
  const float* WeightData(int id, int layer);
  // A Q8_0 / Q4_0 weight's blocks (null for other dtypes): Linear and GatedLinear multiply
  // them by activations quantized to int8 as the compiled kernels do (scalar_ops.h).
  const rt::BlockQ8_0* Q8Weight(int id, int layer);
  const rt::BlockQ4_0* Q4Weight(int id, int layer);
  // A weight stored in kquant.h's block types, or in block types that differ per layer, as
  // its layer's blocks in place (data null for other weights): Linear and GatedLinear
  // multiply them as kquant_scalar.h defines.
  rt::AnyBlocks BlockWeight(int id, int layer);

  void RunBlock(const ir::Block& block, int layer);

 private:
  void Start(std::span<const int> tokens);
  rt::Shape WeightShape(const ir::Weight& w) const;

  const ir::Graph& g_;
  rt::TensorSource& source_;
  std::vector<int> tokens_, positions_;
  int n_ = 0;
  int source_len_ = 0;
  std::vector<Tensor> values_;
  std::vector<std::vector<std::vector<float>>> states_;    // [state][layer] -> [positions, row]
  std::map<std::string, std::vector<float>> dequantized_;  // quantized weights, by tensor name
};

}  // namespace lmc::interp
