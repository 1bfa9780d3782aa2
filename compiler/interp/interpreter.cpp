#include "compiler/interp/interpreter.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "runtime/kernels/position_tables.h"
#include "runtime/kernels/scalar_ops.h"
#include "runtime/util/error.h"
#include "runtime/weights/quant.h"
#include "runtime/weights/safetensors_writer.h"
#include "runtime/weights/weight_names.h"

namespace lmc {

namespace {

namespace ref = lmc::kernels::scalar;

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
                         std::vector<float>* encoder_output) {
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
    return values_[g_.output].data;
  }

 private:
  void Start(std::span<const int> tokens) {
    tokens_.assign(tokens.begin(), tokens.end());
    n_ = static_cast<int>(tokens_.size());
    positions_.clear();
    for (int t = 0; t < n_; ++t) positions_.push_back(t);
  }

  int Size(ir::DimId d) const {
    const ir::Dim& dim = g_.dims[d];
    // Every run-time dimension is the whole sequence here: the interpreter
    // takes all tokens in one call and returns every row.
    return dim.dynamic ? n_ : static_cast<int>(dim.size);
  }

  const float* WeightData(int id, int layer) {
    const ir::Weight& w = g_.weights[id];
    std::string name = w.per_layer ? rt::TensorName(w.tensor, layer) : w.tensor;
    rt::Shape shape;
    for (ir::DimId d : w.dims) shape.push_back(g_.dims[d].size);
    if (w.dtype == ir::DType::kQ8_0 || w.dtype == ir::DType::kQ4_0) {
      // The values the quantized blocks stand for, dequantized by the reference routine, for
      // ops other than Linear / GatedLinear (those multiply the blocks themselves: Q8Weight).
      auto& values = dequantized_[name];
      if (values.empty()) {
        const size_t rows = static_cast<size_t>(shape[0]), cols = static_cast<size_t>(shape[1]);
        const size_t blocks = rt::QuantBlocks(cols);
        values.resize(rows * cols);
        for (size_t r = 0; r < rows; ++r) {
          if (w.dtype == ir::DType::kQ8_0) {
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

  // A Q8_0 / Q4_0 weight's blocks (null for other dtypes): Linear and GatedLinear multiply
  // them by activations quantized to int8 as the compiled kernels do (scalar_ops.h).
  const rt::BlockQ8_0* Q8Weight(int id, int layer) {
    const ir::Weight& w = g_.weights[id];
    if (w.dtype != ir::DType::kQ8_0) return nullptr;
    rt::Shape shape;
    for (ir::DimId d : w.dims) shape.push_back(g_.dims[d].size);
    return source_.Q8_0(w.per_layer ? rt::TensorName(w.tensor, layer) : w.tensor, shape);
  }
  const rt::BlockQ4_0* Q4Weight(int id, int layer) {
    const ir::Weight& w = g_.weights[id];
    if (w.dtype != ir::DType::kQ4_0) return nullptr;
    rt::Shape shape;
    for (ir::DimId d : w.dims) shape.push_back(g_.dims[d].size);
    return source_.Q4_0(w.per_layer ? rt::TensorName(w.tensor, layer) : w.tensor, shape);
  }

  Tensor& Result(const ir::Op& op, int rows, int width) {
    Tensor& t = values_[op.result];
    t.rows = rows;
    t.width = width;
    t.data.assign(static_cast<size_t>(rows) * width, 0.0f);
    return t;
  }

  std::vector<float>& StateOf(const ir::Op& op, int i, int layer) {
    int s = op.states[i];
    return states_[s][g_.states[s].per_layer ? layer : 0];
  }

  void RunBlock(const ir::Block& block, int layer) {
    for (const ir::Op& op : block.ops) RunOp(op, layer);
  }

  void RunOp(const ir::Op& op, int layer) {
    auto in = [&](size_t i) -> Tensor& { return values_[op.operands.at(i)]; };
    const auto& dims = g_.values[op.result].dims;
    const int width = dims.empty() ? 0 : Size(dims.back());
    switch (op.kind) {
      case ir::OpKind::kEmbedding: {
        const float* table = WeightData(op.weights[0], layer);
        int vocab = static_cast<int>(g_.dims[g_.weights[op.weights[0]].dims[0]].size);
        Tensor& out = Result(op, n_, width);
        for (int t = 0; t < n_; ++t) {
          if (tokens_[t] < 0 || tokens_[t] >= vocab) {
            rt::Fail("token id {} is outside the vocabulary [0, {})", tokens_[t], vocab);
          }
          std::memcpy(out.row(t), table + static_cast<size_t>(tokens_[t]) * width,
                      width * sizeof(float));
        }
        break;
      }
      case ir::OpKind::kRmsNorm: {
        const float* w = WeightData(op.weights[0], layer);
        Tensor& x = in(0);
        Tensor& out = Result(op, x.rows, width);
        for (int r = 0; r < x.rows; ++r) {
          ref::RmsNorm(out.row(r), x.row(r), w, width, static_cast<float>(op.Float("eps")));
        }
        break;
      }
      case ir::OpKind::kLinear: {
        const float* bias = op.weights.size() > 1 ? WeightData(op.weights[1], layer) : nullptr;
        Tensor& x = in(0);
        Tensor& out = Result(op, x.rows, width);
        const size_t tokens = static_cast<size_t>(x.rows), cols = static_cast<size_t>(x.width);
        if (const auto* q8 = Q8Weight(op.weights[0], layer)) {
          ref::QuantizedMatMul(out.data.data(), q8, x.data.data(), tokens, width, cols);
        } else if (const auto* q4 = Q4Weight(op.weights[0], layer)) {
          ref::QuantizedMatMul(out.data.data(), q4, x.data.data(), tokens, width, cols);
        } else {
          const float* w = WeightData(op.weights[0], layer);
          for (int r = 0; r < x.rows; ++r) ref::MatVec(out.row(r), w, x.row(r), width, x.width);
        }
        if (bias) {
          for (int r = 0; r < x.rows; ++r) ref::AddInPlace(out.row(r), bias, width);
        }
        break;
      }
      case ir::OpKind::kLayerNorm: {
        const float* w = WeightData(op.weights[0], layer);
        const float* bias = op.weights.size() > 1 ? WeightData(op.weights[1], layer) : nullptr;
        Tensor& x = in(0);
        Tensor& out = Result(op, x.rows, width);
        for (int r = 0; r < x.rows; ++r) {
          ref::LayerNorm(out.row(r), x.row(r), w, bias, width, static_cast<float>(op.Float("eps")));
        }
        break;
      }
      case ir::OpKind::kActivation: {
        Tensor& out = Result(op, in(0).rows, width);
        float (*f)(float) = nullptr;
        switch (op.Get<ir::Activation>("function")) {
          case ir::Activation::kRelu:
            f = ref::Relu;
            break;
          case ir::Activation::kGelu:
            f = ref::Gelu;
            break;
          case ir::Activation::kGeluTanh:
            f = ref::GeluTanh;
            break;
          case ir::Activation::kSilu:
            f = [](float x) { return ref::Swish(x, 1.0f); };
            break;
          case ir::Activation::kTanh:
            f = [](float x) { return std::tanh(x); };
            break;
        }
        for (size_t i = 0; i < out.data.size(); ++i) out.data[i] = f(in(0).data[i]);
        break;
      }
      case ir::OpKind::kMul: {
        Tensor& out = Result(op, in(0).rows, width);
        for (size_t i = 0; i < out.data.size(); ++i) out.data[i] = in(0).data[i] * in(1).data[i];
        break;
      }
      case ir::OpKind::kScale: {
        Tensor& out = Result(op, in(0).rows, width);
        const float factor = static_cast<float>(op.Float("factor"));
        for (size_t i = 0; i < out.data.size(); ++i) out.data[i] = in(0).data[i] * factor;
        break;
      }
      case ir::OpKind::kAddPositionEmbedding: {
        const float* table = WeightData(op.weights[0], layer);
        Tensor& out = Result(op, in(0).rows, width);
        out.data = in(0).data;
        for (int r = 0; r < out.rows; ++r) {
          ref::AddInPlace(out.row(r), table + static_cast<size_t>(positions_[r]) * width, width);
        }
        break;
      }
      case ir::OpKind::kAddBias: {
        const float* bias = WeightData(op.weights[0], layer);
        Tensor& out = Result(op, in(0).rows, width);
        out.data = in(0).data;
        for (int r = 0; r < out.rows; ++r) ref::AddInPlace(out.row(r), bias, width);
        break;
      }
      case ir::OpKind::kAddSinusoidal: {
        Tensor& out = Result(op, in(0).rows, width);
        out.data = in(0).data;
        std::vector<float> encoding(width);
        for (int r = 0; r < out.rows; ++r) {
          kernels::Sinusoid(encoding.data(), positions_[r], width);
          ref::AddInPlace(out.row(r), encoding.data(), width);
        }
        break;
      }
      case ir::OpKind::kGatedLinear: {
        Tensor& x = in(0);
        Tensor& out = Result(op, x.rows, width);
        const size_t tokens = static_cast<size_t>(x.rows), cols = static_cast<size_t>(x.width);
        const float beta = static_cast<float>(op.Float("beta"));
        if (const auto* q8 = Q8Weight(op.weights[0], layer)) {
          ref::QuantizedMatMulSwiGlu(out.data.data(), q8, Q8Weight(op.weights[1], layer),
                                     x.data.data(), tokens, width, cols, beta);
          break;
        }
        if (const auto* q4 = Q4Weight(op.weights[0], layer)) {
          ref::QuantizedMatMulSwiGlu(out.data.data(), q4, Q4Weight(op.weights[1], layer),
                                     x.data.data(), tokens, width, cols, beta);
          break;
        }
        const float* gate = WeightData(op.weights[0], layer);
        const float* up = WeightData(op.weights[1], layer);
        switch (op.Get<ir::GateActivation>("activation")) {
          case ir::GateActivation::kSwiGlu:
            for (int r = 0; r < x.rows; ++r) {
              ref::MatVecSwiGlu(out.row(r), gate, up, x.row(r), width, x.width,
                                static_cast<float>(op.Float("beta")));
            }
            break;
        }
        break;
      }
      case ir::OpKind::kRope: {
        Tensor& out = Result(op, in(0).rows, width);
        out.data = in(0).data;
        int heads = Size(op.DimAttr("heads")), head_dim = Size(op.DimAttr("head_dim"));
        float theta = static_cast<float>(op.Float("theta"));
        bool interleaved = op.Get<ir::RopeStyle>("style") == ir::RopeStyle::kInterleaved;
        std::vector<float> inv_freq = ir::RopeInvFreq(g_, op);
        const int rotary = ir::RotaryDims(g_, op);
        if (op.Has("scaling") &&
            op.Get<ir::RopeScaling>("scaling") == ir::RopeScaling::kDynamicNtk) {
          // The whole sequence in one call: every position uses its length.
          inv_freq.resize(rotary / 2);
          kernels::RopeDynamicNtkInvFreq(inv_freq.data(), theta, rotary,
                                         static_cast<float>(op.Float("factor")),
                                         static_cast<int>(op.Float("original_max_seq_len")), n_);
        }
        const float* freq = inv_freq.empty() ? nullptr : inv_freq.data();
        for (int r = 0; r < out.rows; ++r) {
          if (interleaved) {
            ref::RopeInterleaved(out.row(r), heads, head_dim, positions_[r], theta, freq, rotary);
          } else {
            ref::RopeHalf(out.row(r), heads, head_dim, positions_[r], theta, freq, rotary);
          }
        }
        break;
      }
      case ir::OpKind::kKvStore: {
        for (int i = 0; i < 2; ++i) {
          Tensor& src = in(i);
          std::vector<float>& cache = StateOf(op, i, layer);
          for (int r = 0; r < src.rows; ++r) {
            std::memcpy(cache.data() + static_cast<size_t>(positions_[r]) * src.width, src.row(r),
                        src.width * sizeof(float));
          }
        }
        break;
      }
      case ir::OpKind::kAttention: {
        Tensor& q = in(0);
        Tensor& out = Result(op, q.rows, width);
        int heads = Size(op.DimAttr("heads")), kv_heads = Size(op.DimAttr("kv_heads"));
        int head_dim = Size(op.DimAttr("head_dim"));
        bool causal = op.Get<ir::AttentionMask>("mask") == ir::AttentionMask::kCausal;
        const std::vector<float>& k = StateOf(op, 0, layer);
        const std::vector<float>& v = StateOf(op, 1, layer);
        std::vector<float> scores(n_);
        std::vector<float> slopes = ir::AlibiSlopes(g_, op);
        std::vector<int> buckets = ir::T5Buckets(op);
        std::optional<kernels::RelativeBias> relative;
        std::optional<kernels::CopeBias> cope;
        if (op.Has("position_bias") &&
            op.Get<ir::PositionBias>("position_bias") == ir::PositionBias::kCope) {
          cope = kernels::CopeBias{WeightData(op.weights[0], layer),
                                   Size(g_.weights[op.weights[0]].dims[1])};
        }
        if (!buckets.empty()) {
          relative = kernels::RelativeBias{WeightData(op.weights[0], layer), buckets.data(),
                                           static_cast<int>(op.Float("max_distance")), heads};
        }
        for (int r = 0; r < q.rows; ++r) {
          int visible = causal ? positions_[r] + 1 : n_;
          ref::Attention(out.row(r), q.row(r), k.data(), v.data(), visible, heads, kv_heads,
                         head_dim, kv_heads * head_dim, static_cast<float>(op.Float("scale")),
                         scores.data(), slopes.empty() ? nullptr : slopes.data(), positions_[r],
                         relative ? &*relative : nullptr, cope ? &*cope : nullptr);
        }
        break;
      }
      case ir::OpKind::kCrossAttention: {
        Tensor& q = in(0);
        Tensor& out = Result(op, q.rows, width);
        int heads = Size(op.DimAttr("heads")), kv_heads = Size(op.DimAttr("kv_heads"));
        int head_dim = Size(op.DimAttr("head_dim"));
        std::vector<float> scores(source_len_);
        for (int r = 0; r < q.rows; ++r) {
          ref::Attention(out.row(r), q.row(r), StateOf(op, 0, layer).data(),
                         StateOf(op, 1, layer).data(), source_len_, heads, kv_heads, head_dim,
                         kv_heads * head_dim, static_cast<float>(op.Float("scale")), scores.data());
        }
        break;
      }
      case ir::OpKind::kSwiGlu: {
        Tensor& out = Result(op, in(0).rows, width);
        ref::SwiGlu(out.data.data(), in(0).data.data(), in(1).data.data(),
                    static_cast<int>(out.data.size()), static_cast<float>(op.Float("beta")));
        break;
      }
      case ir::OpKind::kAdd: {
        Tensor& out = Result(op, in(0).rows, width);
        out.data = in(0).data;
        ref::AddInPlace(out.data.data(), in(1).data.data(), static_cast<int>(out.data.size()));
        break;
      }
      case ir::OpKind::kLastRows:
        // Every row: the oracle's output covers the whole sequence.
        values_[op.result] = in(0);
        break;
      case ir::OpKind::kFirstRow: {
        Tensor& out = Result(op, 1, width);
        std::memcpy(out.row(0), in(0).row(0), width * sizeof(float));
        break;
      }
      case ir::OpKind::kLayers: {
        int arg = op.body->args[0];
        values_[arg] = in(0);
        const int layers = g_.LayerCount(op.Has("stack") && op.Get<ir::LayerStack>("stack") ==
                                                                ir::LayerStack::kEncoder);
        for (int l = 0; l < layers; ++l) {
          RunBlock(*op.body, l);
          values_[arg] = values_[op.body->yield];
        }
        values_[op.result] = values_[arg];
        break;
      }
      case ir::OpKind::kCount:
        throw std::logic_error("internal error: op of kind kCount");
    }
  }

  const ir::Graph& g_;
  rt::TensorSource& source_;
  std::vector<int> tokens_, positions_;
  int n_ = 0;
  int source_len_ = 0;  // Rows of the encoder's K/V states.
  std::vector<Tensor> values_;
  std::vector<std::vector<std::vector<float>>> states_;    // [state][layer] -> [positions, row]
  std::map<std::string, std::vector<float>> dequantized_;  // quantized weights, by tensor name
};

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
                             std::vector<float>* encoder_output) {
  if (tokens.empty()) rt::Fail("no tokens to run");
  if (graph.HasEncode() && source.empty()) rt::Fail("an encoder-decoder needs encoder tokens");
  if (!graph.HasEncode() && !source.empty())
    rt::Fail("encoder tokens given to a decoder-only model");
  return Interpreter(graph, weights).Run(tokens, source, encoder_output);
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
      if (w.dtype == ir::DType::kBF16) {  // Stored as the model keeps it: read in place.
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
