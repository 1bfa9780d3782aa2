#include "compiler/interp/interpreter.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "compiler/interp/interpreter_state.h"
#include "compiler/interp/op_semantics.h"
#include "runtime/util/error.h"
#include "runtime/weights/quant.h"
#include "runtime/weights/safetensors_writer.h"
#include "runtime/weights/weight_names.h"

namespace lmc {

namespace interp {

std::vector<float> Interpreter::Run(std::span<const int> tokens, std::span<const int> source,
                                    std::vector<float>* encoder_output,
                                    std::vector<float>* hidden_output) {
  const size_t capacity = std::max(tokens.size(), source.size());
  for (size_t s = 0; s < g_.states.size(); ++s) {
    int layers = g_.states[s].per_layer ? g_.LayerCount(g_.states[s].encoder) : 1;
    size_t row = static_cast<size_t>(g_.dims[g_.states[s].dims.back()].size);
    states_[s].assign(layers, std::vector<float>(row * capacity, 0.0f));
  }
  if (g_.HasEncode()) {
    Start(source);
    source_len_ = n_;
    RunBlock(g_.encode.body, -1);
    if (encoder_output) *encoder_output = values_[g_.encode.output].data;
  }
  Start(tokens);
  RunBlock(g_.body, -1);
  if (hidden_output && g_.hidden >= 0) *hidden_output = values_[g_.hidden].data;
  return values_[g_.output].data;
}

void Interpreter::Start(std::span<const int> tokens) {
  tokens_.assign(tokens.begin(), tokens.end());
  n_ = static_cast<int>(tokens_.size());
  positions_.clear();
  for (int t = 0; t < n_; ++t) positions_.push_back(t);
}

int Interpreter::Size(ir::DimId d) const {
  const ir::Dim& dim = g_.dims[d];
  return dim.dynamic ? n_ : static_cast<int>(dim.size);
}

int Interpreter::Width(const ir::Op& op) const {
  const auto& dims = g_.values[op.result].dims;
  return dims.empty() ? 0 : Size(dims.back());
}

rt::Shape Interpreter::WeightShape(const ir::Weight& w) const {
  rt::Shape shape;
  for (ir::DimId d : w.dims) shape.push_back(g_.dims[d].size);
  return shape;
}

const float* Interpreter::WeightData(int id, int layer) {
  const ir::Weight& w = g_.weights[id];
  std::string name = w.per_layer ? rt::TensorName(w.tensor, layer) : w.tensor;
  const rt::Shape shape = WeightShape(w);
  if (w.dtype == rt::DType::kQ8_0 || w.dtype == rt::DType::kQ4_0) {
    // The values the quantized blocks stand for, for ops other than Linear / GatedLinear
    // (those multiply the blocks themselves: Q8Weight).
    auto& values = dequantized_[name];
    if (values.empty()) {
      const size_t rows = static_cast<size_t>(shape[0]), cols = static_cast<size_t>(shape[1]);
      const size_t blocks = rt::QuantBlocks(cols);
      values.resize(rows * cols);
      for (size_t r = 0; r < rows; ++r) {
        if (w.dtype == rt::DType::kQ8_0) {
          rt::DequantizeRowQ8_0(source_.Q8_0(name, shape) + r * blocks, cols, &values[r * cols]);
        } else {
          rt::DequantizeRowQ4_0(source_.Q4_0(name, shape) + r * blocks, cols, &values[r * cols]);
        }
      }
    }
    return values.data();
  }
  return source_.F32(name, shape, rt::StoredAs{w.transposed, w.parts, w.part, w.groups});
}

rt::AnyBlocks Interpreter::BlockWeight(int id, int layer) {
  const ir::Weight& w = g_.weights[id];
  const rt::DType dtype = w.layer_dtypes.empty() ? w.dtype : w.layer_dtypes.at(layer);
  const bool quant_h = w.dtype == rt::DType::kQ8_0 || w.dtype == rt::DType::kQ4_0;
  if (!rt::IsBlockQuantized(dtype) || (quant_h && w.layer_dtypes.empty())) return {};
  const std::string name = w.per_layer ? rt::TensorName(w.tensor, layer) : w.tensor;
  return {source_.Blocks(name, WeightShape(w), dtype), dtype};
}

const rt::BlockQ8_0* Interpreter::Q8Weight(int id, int layer) {
  const ir::Weight& w = g_.weights[id];
  if (w.dtype != rt::DType::kQ8_0 || !w.layer_dtypes.empty()) return nullptr;
  return source_.Q8_0(w.per_layer ? rt::TensorName(w.tensor, layer) : w.tensor, WeightShape(w));
}

const rt::BlockQ4_0* Interpreter::Q4Weight(int id, int layer) {
  const ir::Weight& w = g_.weights[id];
  if (w.dtype != rt::DType::kQ4_0 || !w.layer_dtypes.empty()) return nullptr;
  return source_.Q4_0(w.per_layer ? rt::TensorName(w.tensor, layer) : w.tensor, WeightShape(w));
}

Tensor& Interpreter::Result(const ir::Op& op, int rows, int width) {
  Tensor& t = values_[op.result];
  t.rows = rows;
  t.width = width;
  t.data.assign(static_cast<size_t>(rows) * width, 0.0f);
  return t;
}

std::vector<float>& Interpreter::StateOf(const ir::Op& op, int i, int layer) {
  int s = op.states[i];
  return states_[s][g_.states[s].per_layer ? layer : 0];
}

void Interpreter::RunBlock(const ir::Block& block, int layer) {
  for (const ir::Op& op : block.ops) SemanticsOf(op.kind).run(*this, op, layer);
}

}  // namespace interp

namespace {

// splitmix64: a small, well-mixed generator whose output is the same everywhere.
uint64_t Next(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

float Uniform(uint64_t& state) {  // In [-1, 1).
  return static_cast<float>(static_cast<double>(Next(state) >> 11) * 0x1.0p-52 - 1.0);
}

}  // namespace

std::vector<float> Interpret(const ir::Graph& graph, rt::TensorSource& weights,
                             std::span<const int> tokens, std::span<const int> source,
                             std::vector<float>* encoder_output,
                             std::vector<float>* hidden_output) {
  if (tokens.empty()) rt::Fail("no tokens to run");
  if (graph.HasEncode() && source.empty()) rt::Fail("an encoder-decoder needs encoder tokens");
  if (!graph.HasEncode() && !source.empty())
    rt::Fail("encoder tokens given to a decoder-only model");
  return interp::Interpreter(graph, weights).Run(tokens, source, encoder_output, hidden_output);
}

void WriteRandomWeights(const ir::Graph& graph, const std::string& path, uint64_t seed) {
  std::vector<std::vector<float>> storage;
  std::vector<std::vector<uint16_t>> bf16_storage;
  std::vector<rt::NamedTensor> tensors;
  std::set<std::string> written;
  uint64_t state = seed;
  for (const ir::Weight& w : graph.weights) {
    // The tensor as the checkpoint stores it: a fused tensor is written once,
    // whole, for all of its parts.
    rt::Shape shape;
    for (ir::DimId d : w.dims) shape.push_back(graph.dims[d].size);
    shape[0] *= w.parts;
    if (w.transposed) std::swap(shape[0], shape[1]);
    int64_t elements = 1;
    for (int64_t d : shape) elements *= d;
    // Vectors are norm weights (around 1) or biases; matrices keep activations O(1).
    bool vector = shape.size() == 1;
    bool bias = w.role.ends_with("_bias");
    float scale = vector ? 0.1f : 1.0f / std::sqrt(static_cast<float>(graph.dims[w.dims[1]].size));
    for (int layer = 0; layer < (w.per_layer ? graph.LayerCount(w.encoder) : 1); ++layer) {
      std::string name = w.per_layer ? rt::TensorName(w.tensor, layer) : w.tensor;
      if (!written.insert(name).second) continue;
      std::vector<float> data(elements);
      for (float& x : data) x = (vector && !bias ? 1.0f : 0.0f) + scale * Uniform(state);
      if (w.dtype == rt::DType::kBF16) {  // Stored as the model keeps it: read in place.
        std::vector<uint16_t> bits(data.size());
        for (size_t i = 0; i < data.size(); ++i) bits[i] = rt::F32ToBF16(data[i]);
        bf16_storage.push_back(std::move(bits));
        const auto& stored = bf16_storage.back();
        tensors.push_back({name, rt::DType::kBF16, shape,
                           std::as_bytes(std::span<const uint16_t>(stored.data(), stored.size()))});
        continue;
      }
      storage.push_back(std::move(data));
      const auto& stored = storage.back();
      tensors.push_back({name, rt::DType::kF32, shape,
                         std::as_bytes(std::span<const float>(stored.data(), stored.size()))});
    }
  }
  rt::WriteSafetensors(path, tensors);
}

}  // namespace lmc
