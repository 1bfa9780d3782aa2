// The op table: every op kind declared once. Its operands and weights are
// positional; its attributes typed; its shape rule gives the result's dims from
// the operands' (T is the chunk's token dimension, always first).
#include <fmt/format.h>

#include "compiler/ir/ir.h"
#include "runtime/kernels/position_tables.h"
#include "runtime/weights/quant.h"

namespace lmc::ir {

namespace {

using Dims = std::vector<DimId>;
using ShapeResult = std::variant<Dims, std::string>;

const Dims& DimsOf(const Graph& g, int value) { return g.values[value].dims; }
const Dims& WeightDims(const Graph& g, const Op& op, size_t i) {
  return g.weights[op.weights[i]].dims;
}
std::string DimName(const Graph& g, DimId d) { return g.dims[d].name; }

// [T, k] operand: its token and row dims, or an error.
bool Rows(const Graph& g, int value, DimId& t, DimId& row) {
  const Dims& d = DimsOf(g, value);
  if (d.size() != 2) return false;
  t = d[0];
  row = d[1];
  return true;
}

std::string Mismatch(const Graph& g, const char* what, DimId a, DimId b) {
  return fmt::format("{}: {} vs {}", what, DimName(g, a), DimName(g, b));
}

ShapeResult EmbeddingShape(const Graph& g, const Op& op) {
  const Dims& ids = DimsOf(g, op.operands[0]);
  const Dims& table = WeightDims(g, op, 0);
  if (ids.size() != 1 || g.values[op.operands[0]].type != ValueType::kI32) {
    return std::string("token ids must be [T] i32");
  }
  if (table.size() != 2) return std::string("the table must be [vocab, d]");
  return Dims{ids[0], table[1]};
}

ShapeResult RowwiseShape(const Graph& g, const Op& op) {
  DimId t, row;
  if (!Rows(g, op.operands[0], t, row)) return std::string("operand must be [T, n]");
  for (size_t i = 1; i < op.operands.size(); ++i) {
    if (DimsOf(g, op.operands[i]) != DimsOf(g, op.operands[0])) {
      return fmt::format("operand {} differs in shape from operand 0", i);
    }
  }
  for (size_t i = 0; i < op.weights.size(); ++i) {
    if (WeightDims(g, op, i) != Dims{row})
      return Mismatch(g, "weight", WeightDims(g, op, i)[0], row);
  }
  return Dims{t, row};
}

ShapeResult PositionsOk(const Graph& g, int positions, DimId t);

// [T, k] x weight 0 [m, k] -> [T, m].
ShapeResult MatMulShape(const Graph& g, const Op& op) {
  DimId t, k;
  if (!Rows(g, op.operands[0], t, k)) return std::string("input must be [T, k]");
  const Dims& w = WeightDims(g, op, 0);
  if (w.size() != 2) return std::string("weight must be [m, k]");
  if (w[1] != k) return Mismatch(g, "weight columns vs input", w[1], k);
  return Dims{t, w[0]};
}

ShapeResult LinearShape(const Graph& g, const Op& op) {
  if (op.weights.size() == 2 && WeightDims(g, op, 1) != Dims{WeightDims(g, op, 0)[0]}) {
    return std::string("the bias must be [m]");
  }
  return MatMulShape(g, op);
}

ShapeResult GatedLinearShape(const Graph& g, const Op& op) {
  if (WeightDims(g, op, 1) != WeightDims(g, op, 0)) {
    return std::string("gate and up weights differ in shape");
  }
  return MatMulShape(g, op);
}

ShapeResult AddPositionEmbeddingShape(const Graph& g, const Op& op) {
  DimId t, row;
  if (!Rows(g, op.operands[0], t, row)) return std::string("input must be [T, d]");
  if (auto bad = PositionsOk(g, op.operands[1], t); std::holds_alternative<std::string>(bad)) {
    return bad;
  }
  const Dims& table = WeightDims(g, op, 0);
  if (table.size() != 2 || table[1] != row) return std::string("the table must be [positions, d]");
  return Dims{t, row};
}

ShapeResult AddSinusoidalShape(const Graph& g, const Op& op) {
  DimId t, row;
  if (!Rows(g, op.operands[0], t, row)) return std::string("input must be [T, d]");
  if (auto bad = PositionsOk(g, op.operands[1], t); std::holds_alternative<std::string>(bad)) {
    return bad;
  }
  if (g.dims[row].size % 2 != 0) return std::string("the width must be even");
  return Dims{t, row};
}

ShapeResult PositionsOk(const Graph& g, int positions, DimId t) {
  const Dims& p = DimsOf(g, positions);
  if (p.size() != 1 || p[0] != t || g.values[positions].type != ValueType::kI32) {
    return std::string("positions must be [T] i32");
  }
  return Dims{};
}

ShapeResult RopeShape(const Graph& g, const Op& op) {
  DimId t, n;
  if (!Rows(g, op.operands[0], t, n)) return std::string("input must be [T, heads * head_dim]");
  if (auto bad = PositionsOk(g, op.operands[1], t); std::holds_alternative<std::string>(bad)) {
    return bad;
  }
  int64_t heads = g.dims[op.GetDim(attr::kHeads)].size;
  int64_t head_dim = g.dims[op.GetDim(attr::kHeadDim)].size;
  if (heads * head_dim != g.dims[n].size || head_dim % 2 != 0) {
    return fmt::format("heads * head_dim ({} * {}) must equal {} with head_dim even", heads,
                       head_dim, DimName(g, n));
  }
  const int64_t rotary = RotaryDims(g, op);
  if (rotary < 2 || rotary % 2 != 0 || rotary > head_dim) {
    return fmt::format("rotary_dims ({}) must be even, in [2, head_dim = {}]", rotary, head_dim);
  }
  if (op.GetOr(attr::kScaling, RopeScaling::kNone) == RopeScaling::kDynamicNtk &&
      (!op.Has(attr::kFactor) || !op.Has(attr::kOriginalMaxSeqLen) || rotary < 4)) {
    return std::string(
        "dynamic_ntk scaling needs factor, original_max_seq_len and at least 4 rotated dims");
  }
  return Dims{t, n};
}

// The caches are [capacity, kv_dim] per layer; k and v rows must be [T, kv_dim].
std::string KvStatesOk(const Graph& g, const Op& op, DimId row) {
  for (int s : op.states) {
    const State& state = g.states[s];
    if (state.dims.size() != 2 || state.dims[1] != row) {
      return fmt::format("state {} must be [capacity, {}]", state.name, DimName(g, row));
    }
  }
  return "";
}

ShapeResult KvStoreShape(const Graph& g, const Op& op) {
  DimId t, row;
  if (!Rows(g, op.operands[0], t, row)) return std::string("k must be [T, kv_dim]");
  if (DimsOf(g, op.operands[1]) != DimsOf(g, op.operands[0])) {
    return std::string("k and v differ in shape");
  }
  if (auto bad = PositionsOk(g, op.operands[2], t); std::holds_alternative<std::string>(bad)) {
    return bad;
  }
  if (auto bad = KvStatesOk(g, op, row); !bad.empty()) return bad;
  return Dims{};
}

// The head attributes against q's width, and each K/V state's rows against
// kv_heads * head_dim (and its first dim against `rows`, when given).
std::string HeadsOk(const Graph& g, const Op& op, DimId q_dim, const char* rows) {
  int64_t heads = g.dims[op.GetDim(attr::kHeads)].size;
  int64_t kv_heads = g.dims[op.GetDim(attr::kKvHeads)].size;
  int64_t head_dim = g.dims[op.GetDim(attr::kHeadDim)].size;
  if (heads * head_dim != g.dims[q_dim].size) return "heads * head_dim != q width";
  if (kv_heads < 1 || heads % kv_heads != 0) return "heads % kv_heads != 0";
  for (int s : op.states) {
    const State& state = g.states[s];
    if (state.dims.size() != 2 || g.dims[state.dims[1]].size != kv_heads * head_dim ||
        (rows && g.dims[state.dims[0]].name != rows)) {
      return fmt::format("state {} must be [{}, kv_heads * head_dim]", state.name,
                         rows ? rows : "capacity");
    }
    // A q8_0 cache's blocks of 32 values must lie within a head.
    if (state.dtype == rt::DType::kQ8_0 && head_dim % static_cast<int64_t>(rt::kQuantBlock) != 0) {
      return fmt::format("state {} is q8_0: head_dim ({}) must be a multiple of {}", state.name,
                         head_dim, rt::kQuantBlock);
    }
  }
  return "";
}

ShapeResult AttentionShape(const Graph& g, const Op& op) {
  DimId t, q_dim;
  if (!Rows(g, op.operands[0], t, q_dim)) return std::string("q must be [T, heads * head_dim]");
  if (auto bad = PositionsOk(g, op.operands[1], t); std::holds_alternative<std::string>(bad)) {
    return bad;
  }
  const Value& kv = g.values[op.operands[2]];
  if (kv.kind != Value::Kind::kState) return std::string("operand 2 must be a state token");
  if (auto bad = HeadsOk(g, op, q_dim, nullptr); !bad.empty()) return bad;
  const int64_t heads = g.dims[op.GetDim(attr::kHeads)].size;
  const int64_t head_dim = g.dims[op.GetDim(attr::kHeadDim)].size;
  // T5's table is [num_buckets, heads]; CoPE's position embedding [head_dim, positions].
  const PositionBias bias = op.GetOr(attr::kPositionBias, PositionBias::kNone);
  const bool tabled = bias == PositionBias::kT5Relative || bias == PositionBias::kCope;
  if (op.weights.empty() == tabled) {
    return std::string("a weight goes with position_bias t5_relative or cope, and only with them");
  }
  if (bias == PositionBias::kT5Relative) {
    const Dims& table = WeightDims(g, op, 0);
    if (table.size() != 2 || g.dims[table[1]].size != heads ||
        g.dims[table[0]].size != static_cast<int64_t>(op.Get(attr::kNumBuckets))) {
      return std::string("the bias table must be [num_buckets, heads]");
    }
  }
  if (bias == PositionBias::kCope) {
    const Dims& embedding = WeightDims(g, op, 0);
    if (embedding.size() != 2 || g.dims[embedding[0]].size != head_dim) {
      return std::string("CoPE's position embedding must be [head_dim, positions]");
    }
    if (op.Get(attr::kMask) != AttentionMask::kCausal) {
      return std::string("CoPE counts positions back from the query: it needs mask = causal");
    }
  }
  return Dims{t, q_dim};
}

// S: the source length, the rows the encode entry wrote.
ShapeResult CrossAttentionShape(const Graph& g, const Op& op) {
  DimId t, q_dim;
  if (!Rows(g, op.operands[0], t, q_dim)) return std::string("q must be [T, heads * head_dim]");
  if (auto bad = HeadsOk(g, op, q_dim, "S"); !bad.empty()) return bad;
  return Dims{t, q_dim};
}

ShapeResult LastRowsShape(const Graph& g, const Op& op) {
  DimId t, row;
  if (!Rows(g, op.operands[0], t, row)) return std::string("input must be [T, n]");
  DimId rows = g.FindDim("R");
  if (rows < 0) return std::string("the graph declares no output-rows dimension R");
  return Dims{rows, row};
}

ShapeResult FirstRowShape(const Graph& g, const Op& op) {
  DimId t, row;
  if (!Rows(g, op.operands[0], t, row)) return std::string("input must be [T, n]");
  DimId one = g.FindDim("one");
  if (one < 0 || g.dims[one].size != 1 || g.dims[one].dynamic) {
    return std::string("the graph declares no static dimension one = 1");
  }
  return Dims{one, row};
}

// [T, local] -> [T, full]: every rank's `local` columns (the first ceil(full / ranks) of the
// full dim's cut, padding after a rank's real ones), side by side.
ShapeResult GatherShape(const Graph& g, const Op& op) {
  DimId t, local;
  if (!Rows(g, op.operands[0], t, local)) return std::string("input must be [T, n]");
  const DimId full = op.GetDim(attr::kFull);
  const int64_t n = g.tensor_parallel, whole = g.dims[full].size;
  if (g.dims[local].size != (whole + n - 1) / n) {
    return fmt::format("input width {} ({}) must be ceil({} / {} ranks)", DimName(g, local),
                       g.dims[local].size, DimName(g, full), n);
  }
  return Dims{t, full};
}

ShapeResult LayersShape(const Graph& g, const Op& op) { return DimsOf(g, op.operands[0]); }

const OpDef kOps[] = {
    {OpKind::kEmbedding,
     "embedding",
     1,
     1,
     -1,
     0,
     "rows of the table for each token id",
     {},
     EmbeddingShape},
    {OpKind::kRmsNorm,
     "rmsnorm",
     1,
     1,
     0,
     0,
     "x / sqrt(mean(x^2) + eps) * weight",
     {attr::kEps},
     RowwiseShape},
    {OpKind::kLinear, "linear", 1, 1, -1, 0, "x · weight^T (+ bias)", {}, LinearShape, 1},
    {OpKind::kGatedLinear,
     "gated_linear",
     1,
     2,
     -1,
     0,
     "act(x · gate^T) * (x · up^T)",
     {attr::kGateActivation, attr::kBeta},
     GatedLinearShape},
    {OpKind::kRope,
     "rope",
     2,
     0,
     0,
     0,
     "rotates each head's pairs by its row's position",
     {attr::kHeads,
      attr::kHeadDim,
      attr::kTheta,
      attr::kStyle,
      // Context extension: absent means none.
      {attr::kScaling, true},
      {attr::kFactor, true},
      {attr::kLowFreqFactor, true},
      {attr::kHighFreqFactor, true},
      {attr::kOriginalMaxSeqLen, true},
      // Partial rotary: the first rotary_dims of each head turn, the rest pass.
      {attr::kRotaryDims, true}},
     RopeShape},
    {OpKind::kKvStore,
     "kv_store",
     3,
     0,
     -1,
     2,
     "k, v rows into the caches at their positions",
     {},
     KvStoreShape,
     0,
     /*state_result=*/true},
    {OpKind::kAttention,
     "attention",
     3,
     0,
     -1,
     2,
     "softmax(scale * q · K^T + position bias + mask) · V over the cached positions",
     {attr::kHeads,
      attr::kKvHeads,
      attr::kHeadDim,
      attr::kScale,
      attr::kMask,
      // A bias on each score from the key's and the query's positions: ALiBi's
      // slopes, T5's bucketed table or CoPE's position embedding (the op's
      // optional weight).
      {attr::kPositionBias, true},
      {attr::kNumBuckets, true},
      {attr::kMaxDistance, true},
      {attr::kGlobalHeads, true}},  // Set by the tensor-parallel pass (ALiBi).
     AttentionShape,
     1},
    {OpKind::kSwiGlu,
     "swiglu",
     2,
     0,
     0,
     0,
     "a * sigmoid(beta * a) * b",
     {attr::kBeta},
     RowwiseShape},
    {OpKind::kAdd, "add", 2, 0, 0, 0, "a + b", {}, RowwiseShape},
    {OpKind::kLastRows,
     "last_rows",
     1,
     0,
     -1,
     0,
     "the last R rows (R chosen by the caller)",
     {},
     LastRowsShape},
    {OpKind::kLayers,
     "layers",
     1,
     0,
     -1,
     0,
     "the body, once per layer of the stack (main unless stack = encoder)",
     {{attr::kStack, true}},
     LayersShape},
    {OpKind::kLayerNorm,
     "layernorm",
     1,
     1,
     0,
     0,
     "(x - mean(x)) / sqrt(var(x) + eps) * weight (+ bias)",
     {attr::kEps},
     RowwiseShape,
     1},
    {OpKind::kActivation,
     "activation",
     1,
     0,
     0,
     0,
     "f(x) elementwise",
     {attr::kFunction},
     RowwiseShape},
    {OpKind::kMul, "mul", 2, 0, 0, 0, "a * b", {}, RowwiseShape},
    {OpKind::kScale, "scale", 1, 0, 0, 0, "x * factor", {attr::kFactor}, RowwiseShape},
    {OpKind::kAddPositionEmbedding,
     "add_position_embedding",
     2,
     1,
     0,
     0,
     "x + table[position] per row",
     {},
     AddPositionEmbeddingShape},
    {OpKind::kAddSinusoidal,
     "add_sinusoidal",
     2,
     0,
     0,
     0,
     "x + [sin(p / 10000^(2i/d)), cos(...)] interleaved, per row",
     {},
     AddSinusoidalShape},
    {OpKind::kAddBias, "add_bias", 1, 1, 0, 0, "x + bias per row", {}, RowwiseShape},
    {OpKind::kCrossAttention,
     "cross_attention",
     1,
     0,
     -1,
     2,
     "softmax(scale * q · K^T) · V over every source position of the encoder's K/V",
     {attr::kHeads, attr::kKvHeads, attr::kHeadDim, attr::kScale},
     CrossAttentionShape},
    {OpKind::kFirstRow, "first_row", 1, 0, -1, 0, "row 0 of the chunk", {}, FirstRowShape},
    {OpKind::kAllReduce,
     "all_reduce",
     1,
     0,
     0,
     0,
     "the sum over the tensor-parallel ranks of each one's rows, added in rank order",
     {},
     RowwiseShape},
    {OpKind::kGather,
     "gather",
     1,
     0,
     -1,
     0,
     "rank 0: each tensor-parallel rank's real columns of `full`, side by side in rank order",
     {attr::kFull},
     GatherShape},
};
static_assert(std::size(kOps) == static_cast<size_t>(OpKind::kCount));

}  // namespace

int RotaryDims(const Graph& graph, const Op& rope) {
  const DimRef* rotary = rope.Find(attr::kRotaryDims);
  return static_cast<int>(graph.dims[rotary ? rotary->id : rope.GetDim(attr::kHeadDim)].size);
}

std::vector<float> RopeInvFreq(const Graph& graph, const Op& rope) {
  // Dynamic NTK's frequencies depend on the run-time length: no constant table.
  const RopeScaling scaling = rope.GetOr(attr::kScaling, RopeScaling::kNone);
  if (scaling == RopeScaling::kNone || scaling == RopeScaling::kDynamicNtk) return {};
  kernels::RopeScalingParams params;
  params.kind = scaling == RopeScaling::kLinear ? kernels::RopeScalingKind::kLinear
                                                : kernels::RopeScalingKind::kLlama3;
  params.factor = static_cast<float>(rope.Get(attr::kFactor));
  if (rope.Has(attr::kLowFreqFactor)) {
    params.low_freq_factor = static_cast<float>(rope.Get(attr::kLowFreqFactor));
    params.high_freq_factor = static_cast<float>(rope.Get(attr::kHighFreqFactor));
    params.original_max_seq_len = static_cast<float>(rope.Get(attr::kOriginalMaxSeqLen));
  }
  return kernels::RopeInvFreq(static_cast<float>(rope.Get(attr::kTheta)), RotaryDims(graph, rope),
                              params);
}

std::vector<float> AlibiSlopes(const Graph& graph, const Op& attention) {
  if (attention.GetOr(attr::kPositionBias, PositionBias::kNone) != PositionBias::kAlibi) return {};
  // One tensor-parallel rank's attention: the slopes of every head of the model.
  const DimRef* global = attention.Find(attr::kGlobalHeads);
  return kernels::AlibiSlopes(
      static_cast<int>(graph.dims[global ? global->id : attention.GetDim(attr::kHeads)].size));
}

std::vector<int> T5Buckets(const Op& attention) {
  if (attention.GetOr(attr::kPositionBias, PositionBias::kNone) != PositionBias::kT5Relative) {
    return {};
  }
  const int buckets = static_cast<int>(attention.Get(attr::kNumBuckets));
  const int max_distance = static_cast<int>(attention.Get(attr::kMaxDistance));
  const bool bidirectional = attention.Get(attr::kMask) == AttentionMask::kNone;
  std::vector<int> table;
  for (int r = -max_distance; r <= max_distance; ++r) {
    table.push_back(kernels::T5Bucket(r, bidirectional, buckets, max_distance));
  }
  return table;
}

const OpDef& Def(OpKind kind) {
  const OpDef& def = kOps[static_cast<size_t>(kind)];
  if (def.kind != kind) throw std::logic_error("internal error: op table out of order");
  return def;
}

const char* OpName(OpKind kind) { return Def(kind).name; }

std::optional<OpKind> OpByName(const std::string& name) {
  for (const OpDef& def : kOps) {
    if (name == def.name) return def.kind;
  }
  return std::nullopt;
}

}  // namespace lmc::ir
