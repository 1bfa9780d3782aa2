// Each op kind's reference semantics, on the scalar kernels of
// runtime/kernels/scalar_ops.h. It shares no code with the emitter or the SIMD
// kernels: this is the oracle the generated binaries are compared with.
#include "compiler/interp/op_semantics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <vector>

#include "runtime/kernels/cache_types.h"
#include "runtime/kernels/kquant_scalar.h"
#include "runtime/kernels/position_tables.h"
#include "runtime/kernels/scalar_ops.h"
#include "runtime/util/error.h"

namespace lmc::interp {

namespace {

namespace ref = lmc::kernels::scalar;
using ir::attr::kBeta;
using ir::attr::kEps;

float F(const ir::Op& op, ir::AttrKey<double> key) { return static_cast<float>(op.Get(key)); }

void RunEmbedding(Interpreter& run, const ir::Op& op, int layer) {
  const int width = run.Width(op);
  const float* table = run.WeightData(op.weights[0], layer);
  const ir::Graph& g = run.graph();
  int vocab = static_cast<int>(g.dims[g.weights[op.weights[0]].dims[0]].size);
  Tensor& out = run.Result(op, run.n(), width);
  for (int t = 0; t < run.n(); ++t) {
    const int token = run.tokens()[t];
    if (token < 0 || token >= vocab) {
      rt::Fail("token id {} is outside the vocabulary [0, {})", token, vocab);
    }
    std::memcpy(out.row(t), table + static_cast<size_t>(token) * width, width * sizeof(float));
  }
}

void RunRmsNorm(Interpreter& run, const ir::Op& op, int layer) {
  const int width = run.Width(op);
  const float* w = run.WeightData(op.weights[0], layer);
  Tensor& x = run.In(op, 0);
  Tensor& out = run.Result(op, x.rows, width);
  for (int r = 0; r < x.rows; ++r) ref::RmsNorm(out.row(r), x.row(r), w, width, F(op, kEps));
}

void RunLinear(Interpreter& run, const ir::Op& op, int layer) {
  const int width = run.Width(op);
  const float* bias = op.weights.size() > 1 ? run.WeightData(op.weights[1], layer) : nullptr;
  Tensor& x = run.In(op, 0);
  Tensor& out = run.Result(op, x.rows, width);
  const size_t tokens = static_cast<size_t>(x.rows), cols = static_cast<size_t>(x.width);
  if (const rt::AnyBlocks blocks = run.BlockWeight(op.weights[0], layer); blocks.data) {
    ref::LinearAs(blocks.dtype, out.data.data(), blocks.data, x.data.data(), x.rows, width,
                  x.width);
  } else if (const auto* q8 = run.Q8Weight(op.weights[0], layer)) {
    ref::QuantizedMatMul(out.data.data(), q8, x.data.data(), tokens, width, cols);
  } else if (const auto* q4 = run.Q4Weight(op.weights[0], layer)) {
    ref::QuantizedMatMul(out.data.data(), q4, x.data.data(), tokens, width, cols);
  } else {
    const float* w = run.WeightData(op.weights[0], layer);
    for (int r = 0; r < x.rows; ++r) ref::MatVec(out.row(r), w, x.row(r), width, x.width);
  }
  if (bias) {
    for (int r = 0; r < x.rows; ++r) ref::AddInPlace(out.row(r), bias, width);
  }
}

void RunGatedLinear(Interpreter& run, const ir::Op& op, int layer) {
  const int width = run.Width(op);
  Tensor& x = run.In(op, 0);
  Tensor& out = run.Result(op, x.rows, width);
  const size_t tokens = static_cast<size_t>(x.rows), cols = static_cast<size_t>(x.width);
  const float beta = F(op, kBeta);
  if (const rt::AnyBlocks gate = run.BlockWeight(op.weights[0], layer); gate.data) {
    ref::GatedLinearAs(gate.dtype, out.data.data(), gate.data,
                       run.BlockWeight(op.weights[1], layer).data, x.data.data(), x.rows, width,
                       x.width, beta);
    return;
  }
  if (const auto* q8 = run.Q8Weight(op.weights[0], layer)) {
    ref::QuantizedMatMulSwiGlu(out.data.data(), q8, run.Q8Weight(op.weights[1], layer),
                               x.data.data(), tokens, width, cols, beta);
    return;
  }
  if (const auto* q4 = run.Q4Weight(op.weights[0], layer)) {
    ref::QuantizedMatMulSwiGlu(out.data.data(), q4, run.Q4Weight(op.weights[1], layer),
                               x.data.data(), tokens, width, cols, beta);
    return;
  }
  const float* gate = run.WeightData(op.weights[0], layer);
  const float* up = run.WeightData(op.weights[1], layer);
  switch (op.Get(ir::attr::kGateActivation)) {
    case ir::GateActivation::kSwiGlu:
      for (int r = 0; r < x.rows; ++r) {
        ref::MatVecSwiGlu(out.row(r), gate, up, x.row(r), width, x.width, beta);
      }
      break;
  }
}

void RunRope(Interpreter& run, const ir::Op& op, int) {
  const ir::Graph& g = run.graph();
  Tensor& out = run.Result(op, run.In(op, 0).rows, run.Width(op));
  out.data = run.In(op, 0).data;
  int heads = run.Size(op.GetDim(ir::attr::kHeads));
  int head_dim = run.Size(op.GetDim(ir::attr::kHeadDim));
  float theta = F(op, ir::attr::kTheta);
  bool interleaved = op.Get(ir::attr::kStyle) == ir::RopeStyle::kInterleaved;
  std::vector<float> inv_freq = ir::RopeInvFreq(g, op);
  const int rotary = ir::RotaryDims(g, op);
  if (op.GetOr(ir::attr::kScaling, ir::RopeScaling::kNone) == ir::RopeScaling::kDynamicNtk) {
    // The whole sequence in one call: every position uses its length.
    inv_freq.resize(rotary / 2);
    kernels::RopeDynamicNtkInvFreq(inv_freq.data(), theta, rotary, F(op, ir::attr::kFactor),
                                   static_cast<int>(op.Get(ir::attr::kOriginalMaxSeqLen)), run.n());
  }
  const float* freq = inv_freq.empty() ? nullptr : inv_freq.data();
  const std::vector<int>& positions = run.positions();
  for (int r = 0; r < out.rows; ++r) {
    if (interleaved) {
      ref::RopeInterleaved(out.row(r), heads, head_dim, positions[r], theta, freq, rotary);
    } else {
      ref::RopeHalf(out.row(r), heads, head_dim, positions[r], theta, freq, rotary);
    }
  }
}

// A 16-bit or q8_0 cache holds its values rounded as the generated KvStore rounds them
// (cache_types.h; q8_0: ggml's blocks of 32, which lie within a head); the interpreter keeps
// them widened, which is exactly what attention reads.
void RoundForCache(const float* x, int width, rt::DType dtype, float* out) {
  switch (dtype) {
    case rt::DType::kBF16:
      for (int c = 0; c < width; ++c) out[c] = kernels::FromBf16(kernels::ToBf16(x[c]));
      return;
    case rt::DType::kF16:
      for (int c = 0; c < width; ++c) out[c] = kernels::FromF16(kernels::ToF16(x[c]));
      return;
    case rt::DType::kQ8_0: {
      std::vector<rt::BlockQ8_0> blocks(rt::QuantBlocks(width));
      rt::QuantizeRowQ8_0(x, width, blocks.data());
      rt::DequantizeRowQ8_0(blocks.data(), width, out);
      return;
    }
    default:
      std::copy_n(x, width, out);
  }
}

void RunKvStore(Interpreter& run, const ir::Op& op, int layer) {
  for (int i = 0; i < 2; ++i) {
    Tensor& src = run.In(op, i);
    std::vector<float>& cache = run.StateOf(op, i, layer);
    const rt::DType dtype = run.graph().states[op.states[i]].dtype;
    for (int r = 0; r < src.rows; ++r) {
      float* row = cache.data() + static_cast<size_t>(run.positions()[r]) * src.width;
      RoundForCache(src.row(r), src.width, dtype, row);
    }
  }
}

void RunAttention(Interpreter& run, const ir::Op& op, int layer) {
  const ir::Graph& g = run.graph();
  Tensor& q = run.In(op, 0);
  Tensor& out = run.Result(op, q.rows, run.Width(op));
  int heads = run.Size(op.GetDim(ir::attr::kHeads));
  int kv_heads = run.Size(op.GetDim(ir::attr::kKvHeads));
  int head_dim = run.Size(op.GetDim(ir::attr::kHeadDim));
  bool causal = op.Get(ir::attr::kMask) == ir::AttentionMask::kCausal;
  const std::vector<float>& k = run.StateOf(op, 0, layer);
  const std::vector<float>& v = run.StateOf(op, 1, layer);
  std::vector<float> scores(run.n());
  std::vector<float> slopes = ir::AlibiSlopes(g, op);
  std::vector<int> buckets = ir::T5Buckets(op);
  std::optional<kernels::RelativeBias> relative;
  std::optional<kernels::CopeBias> cope;
  if (op.GetOr(ir::attr::kPositionBias, ir::PositionBias::kNone) == ir::PositionBias::kCope) {
    cope = kernels::CopeBias{run.WeightData(op.weights[0], layer),
                             run.Size(g.weights[op.weights[0]].dims[1])};
  }
  if (!buckets.empty()) {
    relative = kernels::RelativeBias{run.WeightData(op.weights[0], layer), buckets.data(),
                                     static_cast<int>(op.Get(ir::attr::kMaxDistance)), heads};
  }
  const std::vector<int>& positions = run.positions();
  for (int r = 0; r < q.rows; ++r) {
    int visible = causal ? positions[r] + 1 : run.n();
    ref::Attention(out.row(r), q.row(r), k.data(), v.data(), visible, heads, kv_heads, head_dim,
                   kv_heads * head_dim, F(op, ir::attr::kScale), scores.data(),
                   slopes.empty() ? nullptr : slopes.data(), positions[r],
                   relative ? &*relative : nullptr, cope ? &*cope : nullptr);
  }
}

void RunCrossAttention(Interpreter& run, const ir::Op& op, int layer) {
  Tensor& q = run.In(op, 0);
  Tensor& out = run.Result(op, q.rows, run.Width(op));
  int heads = run.Size(op.GetDim(ir::attr::kHeads));
  int kv_heads = run.Size(op.GetDim(ir::attr::kKvHeads));
  int head_dim = run.Size(op.GetDim(ir::attr::kHeadDim));
  std::vector<float> scores(run.source_len());
  for (int r = 0; r < q.rows; ++r) {
    ref::Attention(out.row(r), q.row(r), run.StateOf(op, 0, layer).data(),
                   run.StateOf(op, 1, layer).data(), run.source_len(), heads, kv_heads, head_dim,
                   kv_heads * head_dim, F(op, ir::attr::kScale), scores.data());
  }
}

void RunSwiGlu(Interpreter& run, const ir::Op& op, int) {
  Tensor& out = run.Result(op, run.In(op, 0).rows, run.Width(op));
  ref::SwiGlu(out.data.data(), run.In(op, 0).data.data(), run.In(op, 1).data.data(),
              static_cast<int>(out.data.size()), F(op, kBeta));
}

void RunAdd(Interpreter& run, const ir::Op& op, int) {
  Tensor& out = run.Result(op, run.In(op, 0).rows, run.Width(op));
  out.data = run.In(op, 0).data;
  ref::AddInPlace(out.data.data(), run.In(op, 1).data.data(), static_cast<int>(out.data.size()));
}

void RunLastRows(Interpreter& run, const ir::Op& op, int) {
  // Every row: the oracle's output covers the whole sequence.
  run.Value(op.result) = run.In(op, 0);
}

void RunLayers(Interpreter& run, const ir::Op& op, int) {
  int arg = op.body->args[0];
  run.Value(arg) = run.In(op, 0);
  const int layers = run.graph().LayerCount(op.GetOr(ir::attr::kStack, ir::LayerStack::kMain) ==
                                            ir::LayerStack::kEncoder);
  for (int l = 0; l < layers; ++l) {
    run.RunBlock(*op.body, l);
    run.Value(arg) = run.Value(op.body->yield);
  }
  run.Value(op.result) = run.Value(arg);
}

void RunLayerNorm(Interpreter& run, const ir::Op& op, int layer) {
  const int width = run.Width(op);
  const float* w = run.WeightData(op.weights[0], layer);
  const float* bias = op.weights.size() > 1 ? run.WeightData(op.weights[1], layer) : nullptr;
  Tensor& x = run.In(op, 0);
  Tensor& out = run.Result(op, x.rows, width);
  for (int r = 0; r < x.rows; ++r) {
    ref::LayerNorm(out.row(r), x.row(r), w, bias, width, F(op, kEps));
  }
}

using Elementwise = float (*)(float);

Elementwise ActivationFunction(ir::Activation function) {
  switch (function) {
    case ir::Activation::kRelu:
      return ref::Relu;
    case ir::Activation::kGelu:
      return ref::Gelu;
    case ir::Activation::kGeluTanh:
      return ref::GeluTanh;
    case ir::Activation::kSilu:
      return [](float x) { return ref::Swish(x, 1.0f); };
    case ir::Activation::kTanh:
      return [](float x) { return std::tanh(x); };
  }
  throw std::logic_error("internal error: an activation without a reference function");
}

void RunActivation(Interpreter& run, const ir::Op& op, int) {
  Tensor& out = run.Result(op, run.In(op, 0).rows, run.Width(op));
  const Elementwise f = ActivationFunction(op.Get(ir::attr::kFunction));
  const std::vector<float>& x = run.In(op, 0).data;
  for (size_t i = 0; i < out.data.size(); ++i) out.data[i] = f(x[i]);
}

void RunMul(Interpreter& run, const ir::Op& op, int) {
  Tensor& out = run.Result(op, run.In(op, 0).rows, run.Width(op));
  const std::vector<float>&a = run.In(op, 0).data, &b = run.In(op, 1).data;
  for (size_t i = 0; i < out.data.size(); ++i) out.data[i] = a[i] * b[i];
}

void RunScale(Interpreter& run, const ir::Op& op, int) {
  Tensor& out = run.Result(op, run.In(op, 0).rows, run.Width(op));
  const float factor = F(op, ir::attr::kFactor);
  const std::vector<float>& x = run.In(op, 0).data;
  for (size_t i = 0; i < out.data.size(); ++i) out.data[i] = x[i] * factor;
}

void RunAddPositionEmbedding(Interpreter& run, const ir::Op& op, int layer) {
  const int width = run.Width(op);
  const float* table = run.WeightData(op.weights[0], layer);
  Tensor& out = run.Result(op, run.In(op, 0).rows, width);
  out.data = run.In(op, 0).data;
  for (int r = 0; r < out.rows; ++r) {
    ref::AddInPlace(out.row(r), table + static_cast<size_t>(run.positions()[r]) * width, width);
  }
}

void RunAddSinusoidal(Interpreter& run, const ir::Op& op, int) {
  const int width = run.Width(op);
  Tensor& out = run.Result(op, run.In(op, 0).rows, width);
  out.data = run.In(op, 0).data;
  std::vector<float> encoding(width);
  for (int r = 0; r < out.rows; ++r) {
    kernels::Sinusoid(encoding.data(), run.positions()[r], width);
    ref::AddInPlace(out.row(r), encoding.data(), width);
  }
}

void RunAddBias(Interpreter& run, const ir::Op& op, int layer) {
  const int width = run.Width(op);
  const float* bias = run.WeightData(op.weights[0], layer);
  Tensor& out = run.Result(op, run.In(op, 0).rows, width);
  out.data = run.In(op, 0).data;
  for (int r = 0; r < out.rows; ++r) ref::AddInPlace(out.row(r), bias, width);
}

void RunFirstRow(Interpreter& run, const ir::Op& op, int) {
  const int width = run.Width(op);
  Tensor& out = run.Result(op, 1, width);
  std::memcpy(out.row(0), run.In(op, 0).row(0), width * sizeof(float));
}

// One process holds every rank's part: the sum over one rank is the rows themselves.
void RunAllReduce(Interpreter& run, const ir::Op& op, int) {
  Tensor& out = run.Result(op, run.In(op, 0).rows, run.Width(op));
  out.data = run.In(op, 0).data;
}

// One process holds every rank's columns: they are the whole row already.
void RunGather(Interpreter& run, const ir::Op& op, int) {
  Tensor& in = run.In(op, 0);
  Tensor& out = run.Result(op, in.rows, run.Width(op));
  if (in.width == out.width) {
    out.data = in.data;
    return;
  }
  for (int r = 0; r < in.rows; ++r) {  // A sharded module: the columns it holds.
    std::copy_n(in.row(r), std::min(in.width, out.width), out.row(r));
  }
}

constexpr OpSemantics kSemantics[] = {
    {ir::OpKind::kEmbedding, RunEmbedding},
    {ir::OpKind::kRmsNorm, RunRmsNorm},
    {ir::OpKind::kLinear, RunLinear},
    {ir::OpKind::kGatedLinear, RunGatedLinear},
    {ir::OpKind::kRope, RunRope},
    {ir::OpKind::kKvStore, RunKvStore},
    {ir::OpKind::kAttention, RunAttention},
    {ir::OpKind::kSwiGlu, RunSwiGlu},
    {ir::OpKind::kAdd, RunAdd},
    {ir::OpKind::kLastRows, RunLastRows},
    {ir::OpKind::kLayers, RunLayers},
    {ir::OpKind::kLayerNorm, RunLayerNorm},
    {ir::OpKind::kActivation, RunActivation},
    {ir::OpKind::kMul, RunMul},
    {ir::OpKind::kScale, RunScale},
    {ir::OpKind::kAddPositionEmbedding, RunAddPositionEmbedding},
    {ir::OpKind::kAddSinusoidal, RunAddSinusoidal},
    {ir::OpKind::kAddBias, RunAddBias},
    {ir::OpKind::kCrossAttention, RunCrossAttention},
    {ir::OpKind::kFirstRow, RunFirstRow},
    {ir::OpKind::kAllReduce, RunAllReduce},
    {ir::OpKind::kGather, RunGather},
};

constexpr bool InOpKindOrder() {
  for (size_t i = 0; i < std::size(kSemantics); ++i) {
    if (kSemantics[i].kind != static_cast<ir::OpKind>(i)) return false;
  }
  return std::size(kSemantics) == static_cast<size_t>(ir::OpKind::kCount);
}
static_assert(InOpKindOrder(), "one reference semantics per op kind, in OpKind order");

}  // namespace

const OpSemantics& SemanticsOf(ir::OpKind kind) {
  if (kind >= ir::OpKind::kCount) throw std::logic_error("internal error: op of kind kCount");
  return kSemantics[static_cast<size_t>(kind)];
}

}  // namespace lmc::interp
