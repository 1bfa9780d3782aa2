// Each op kind's emission: the row kernels of runtime/kernels/rows-inl.h
// called on the op's buffers, with every size named and every attribute the op
// carries honored.
#include "compiler/emit/op_emitters.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace lmc {

namespace {

using ir::attr::kBeta;
using ir::attr::kEps;

std::string F(const ir::Op& op, ir::AttrKey<double> key) { return FloatLiteral(op.Get(key)); }
std::string DimOf(const ForwardEmitter& e, const ir::Op& op, ir::AttrKey<ir::DimRef> key) {
  return e.Size(op.GetDim(key));
}
std::string In(const ForwardEmitter& e, const ir::Op& op, size_t i) {
  return e.Buf(op.operands.at(i));
}
std::string Out(const ForwardEmitter& e, const ir::Op& op) { return e.Buf(op.result); }

void EmitEmbedding(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  const ir::Weight& table = e.graph().weights[op.weights[0]];
  if (table.shard.kind == ir::ShardKind::kRows) {  // Tensor parallelism: a range of the rows.
    const std::string row =
        fmt::format("{} + static_cast<size_t>(i) * {}", Out(e, op), e.Width(op.result));
    c.Line("for (int i = 0; i < n; ++i) {{  // Another rank's token: zeros (the all_reduce adds)");
    c.Line("  const int row = static_cast<int>(lmc::dist::LocalRow({}, tokens[i]));",
           e.Size(table.shard.full));
    c.Line("  if (row >= 0) k::Embedding({}, {}, &row, 1, {});", row, e.WeightExpr(op.weights[0]),
           e.Width(op.result));
    c.Line("  if (row < 0) std::fill_n({}, {}, 0.0f);", row, e.Width(op.result));
    c.Line("}}");
    return;
  }
  c.Line("k::Embedding({}, {}, tokens, n, {});", Out(e, op), e.WeightExpr(op.weights[0]),
         e.Width(op.result));
}

void EmitRmsNorm(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  c.Line("k::RmsNormRows({}, {}, {}, {}, {}, {});", Out(e, op), In(e, op, 0),
         e.WeightExpr(op.weights[0]), e.RowsOf(op.result), e.Width(op.result), F(op, kEps));
}

void EmitLinear(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  const auto& w = e.graph().weights[op.weights[0]];
  c.Line("k::Linear({}, {}, {}, {}, {}, {});", Out(e, op), e.WeightExpr(op.weights[0]),
         In(e, op, 0), e.RowsOf(op.result), e.Size(w.dims[0]), e.Size(w.dims[1]));
  if (op.weights.size() > 1) {
    c.Line("k::AddBiasRows({}, {}, {}, {});", Out(e, op), e.WeightExpr(op.weights[1]),
           e.RowsOf(op.result), e.Size(w.dims[0]));
  }
}

void EmitGatedLinear(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  const auto& w = e.graph().weights[op.weights[0]];
  // One activation exists today; the switch makes a new one a compile error here.
  switch (op.Get(ir::attr::kGateActivation)) {
    case ir::GateActivation::kSwiGlu:
      c.Line("k::GatedLinear({}, {}, {}, {}, {}, {}, {}, {});", Out(e, op),
             e.WeightExpr(op.weights[0]), e.WeightExpr(op.weights[1]), In(e, op, 0),
             e.RowsOf(op.result), e.Size(w.dims[0]), e.Size(w.dims[1]), F(op, kBeta));
      break;
  }
}

bool DynamicRope(const ir::Op& op) {
  return op.GetOr(ir::attr::kScaling, ir::RopeScaling::kNone) == ir::RopeScaling::kDynamicNtk;
}

void EmitRope(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  e.CopyIfMoved(c, op);
  const char* kernel = op.Get(ir::attr::kStyle) == ir::RopeStyle::kInterleaved
                           ? "RopeInterleavedRows"
                           : "RopeHalfRows";
  std::vector<float> inv_freq = ir::RopeInvFreq(e.graph(), op);
  std::string freq = inv_freq.empty() ? "nullptr" : e.Table("kRopeInvFreq", inv_freq);
  const bool dynamic = DynamicRope(op);
  if (dynamic) {  // Frequencies for the length reached: the sequence's last position + 1.
    c.Line("{{");
    c.Indent();
    c.Line("float inv_freq[{}];", ir::RotaryDims(e.graph(), op) / 2);
    c.Line("lmc::kernels::RopeDynamicNtkInvFreq(inv_freq, {}, {}, {}, {}, {} + 1);",
           F(op, ir::attr::kTheta), ir::RotaryDims(e.graph(), op), F(op, ir::attr::kFactor),
           static_cast<int64_t>(op.Get(ir::attr::kOriginalMaxSeqLen)), e.LastPosition());
    freq = "inv_freq";
  }
  c.Line("k::{}({}, {}, {}, {}, {}, {}, {}{});", kernel, Out(e, op), e.Positions(), e.Tokens(),
         DimOf(e, op, ir::attr::kHeads), DimOf(e, op, ir::attr::kHeadDim), F(op, ir::attr::kTheta),
         freq, op.Has(ir::attr::kRotaryDims) ? ", " + DimOf(e, op, ir::attr::kRotaryDims) : "");
  if (dynamic) {
    c.Outdent();
    c.Line("}}");
  }
}

// The attention op that reads `state`, in `block` or the blocks inside it; nullptr if none.
const ir::Op* ReaderOf(const ir::Block& block, int state) {
  for (const ir::Op& op : block.ops) {
    if ((op.kind == ir::OpKind::kAttention || op.kind == ir::OpKind::kCrossAttention) &&
        std::find(op.states.begin(), op.states.end(), state) != op.states.end()) {
      return &op;
    }
    if (op.body) {
      if (const ir::Op* reader = ReaderOf(*op.body, state)) return reader;
    }
  }
  return nullptr;
}

// A K/V cache's rows (its capacity): the caches are head-major (rows-inl.h's KvStore).
std::string CacheCapacity(const ForwardEmitter& e, const ir::Op& op) {
  return e.StateRows(e.graph().states[op.states[0]].dims[0], "s.");
}

void EmitKvStore(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  // Head-major caches are laid out by the head_dim of the attention that reads them.
  const ir::Op* reader = ReaderOf(e.graph().body, op.states[0]);
  if (reader == nullptr) reader = ReaderOf(e.graph().encode.body, op.states[0]);
  if (reader == nullptr) throw std::logic_error("internal error: a K/V cache nothing attends to");
  c.Line("k::KvStore({}, {}, {}, {}, {}, {}, {}, {}, {});", e.StateExpr(op.states[0]),
         e.StateExpr(op.states[1]), In(e, op, 0), In(e, op, 1), e.Positions(), e.Tokens(),
         e.Width(op.operands[0]), DimOf(e, *reader, ir::attr::kHeadDim), CacheCapacity(e, op));
}

void EmitAttention(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  std::vector<float> alibi = ir::AlibiSlopes(e.graph(), op);
  std::string slopes = alibi.empty() ? "nullptr" : e.Table("kAlibiSlopes", alibi);
  if (const ir::DimRef* global = op.Find(ir::attr::kGlobalHeads); global && !alibi.empty()) {
    // One tensor-parallel rank's heads: its slopes start at its first group's first head.
    const ir::Graph& g = e.graph();
    const int64_t group =
        g.dims[op.GetDim(ir::attr::kHeads)].size / g.dims[op.GetDim(ir::attr::kKvHeads)].size;
    slopes = fmt::format("{} + lmc::dist::FirstUnit({}) * {}", slopes,
                         g.dims[global->id].size / group, group);
  }
  std::vector<int> buckets = ir::T5Buckets(op);
  std::string relative = "nullptr", cope = "nullptr";
  if (op.GetOr(ir::attr::kPositionBias, ir::PositionBias::kNone) == ir::PositionBias::kCope) {
    std::string name = e.BufferName(op.result) + "_cope";
    const ir::Weight& embedding = e.graph().weights[op.weights[0]];
    c.Line("const lmc::kernels::CopeBias {}{{{}, {}}};", name, e.WeightExpr(op.weights[0]),
           e.Size(embedding.dims[1]));
    cope = fmt::format("&{}", name);
  }
  if (!buckets.empty()) {
    std::string name = e.BufferName(op.result) + "_bias";
    c.Line("const lmc::kernels::RelativeBias {}{{{}, {}, {}, {}}};", name,
           e.WeightExpr(op.weights[0]), e.IntTable("kT5Buckets", buckets),
           static_cast<int>(op.Get(ir::attr::kMaxDistance)), DimOf(e, op, ir::attr::kHeads));
    relative = fmt::format("&{}", name);
  }
  c.Line("k::AttentionRows({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {});",
         Out(e, op), In(e, op, 0), e.StateExpr(op.states[0]), e.StateExpr(op.states[1]),
         e.Positions(), e.Tokens(), DimOf(e, op, ir::attr::kHeads),
         DimOf(e, op, ir::attr::kKvHeads), DimOf(e, op, ir::attr::kHeadDim), CacheCapacity(e, op),
         F(op, ir::attr::kScale),
         op.Get(ir::attr::kMask) == ir::AttentionMask::kCausal ? "/*causal=*/true"
                                                               : "/*causal=*/false",
         slopes, relative, cope);
}

void EmitCrossAttention(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  c.Line("k::CrossAttentionRows({}, {}, {}, {}, {}, s.source_len, {}, {}, {}, {}, {});", Out(e, op),
         In(e, op, 0), e.StateExpr(op.states[0]), e.StateExpr(op.states[1]), e.Tokens(),
         DimOf(e, op, ir::attr::kHeads), DimOf(e, op, ir::attr::kKvHeads),
         DimOf(e, op, ir::attr::kHeadDim), CacheCapacity(e, op), F(op, ir::attr::kScale));
}

void EmitSwiGlu(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  c.Line("k::SwiGluRows({}, {}, {}, {}, {}, {});", Out(e, op), In(e, op, 0), In(e, op, 1),
         e.RowsOf(op.result), e.Width(op.result), F(op, kBeta));
}

void EmitAdd(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  std::string o = Out(e, op), a = In(e, op, 0), b = In(e, op, 1);
  if (o == b) std::swap(a, b);
  if (o != a)
    c.Line("std::copy_n({}, {} * {}, {});", a, e.RowsOf(op.result), e.Width(op.result), o);
  c.Line("k::AddRows({}, {}, {}, {});", o, b, e.RowsOf(op.result), e.Width(op.result));
}

void EmitLastRows(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  const std::string width = e.Width(op.result);
  if (e.batched()) {  // The runtime asks for each sequence's last row, or every row.
    c.Line("// A pass within a prompt that ends in a later one has no rows to output.");
    c.Line("if (rows == 0) return nullptr;");
    c.Line("// The rows whose outputs were asked for, in order (out_rows[i] >= i).");
    c.Line("for (int i = 0; i < rows; ++i) {{");
    c.Line(
        "  std::memmove({} + static_cast<size_t>(i) * {}, {} + "
        "static_cast<size_t>(out_rows[i]) * {},",
        Out(e, op), width, In(e, op, 0), width);
    c.Line("               sizeof(float) * {});", width);
    c.Line("}}");
    return;
  }
  c.Line("// The rows whose logits were asked for: the last `rows` of the chunk.");
  c.Line("std::copy_n({} + static_cast<size_t>(n - rows) * {}, rows * {}, {});", In(e, op, 0),
         width, width, Out(e, op));
}

void EmitLayers(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  const ir::Graph& g = e.graph();
  int arg = op.body->args[0];
  if (e.Buf(arg) != In(e, op, 0)) {
    c.Line("std::copy_n({}, n * {}, {});", In(e, op, 0), e.Width(arg), e.Buf(arg));
  }
  const bool encoder =
      op.GetOr(ir::attr::kStack, ir::LayerStack::kMain) == ir::LayerStack::kEncoder;
  c.Line("for (int l = 0; l < {}; ++l) {{", ForwardEmitter::LayerCount(encoder));
  c.Indent();
  c.Line("const {}& lw = w.{}[l];", ForwardEmitter::LayerStruct(encoder),
         ForwardEmitter::LayerArray(encoder));
  // Unbatched, the layer's states are bound once here; batched, per segment.
  for (int id = 0; id < static_cast<int>(g.states.size()) && !e.batched(); ++id) {
    const ir::State& s = g.states[id];
    if (!s.per_layer || s.encoder != encoder || !ForwardEmitter::UsesState(*op.body, id)) continue;
    c.Line("{}* {} = s.{}.get() + static_cast<size_t>(l) * {} * {};", ForwardEmitter::StateType(s),
           s.name, s.name, e.StateRows(s.dims[0], "s."), e.StateRowElements(s));
  }
  e.EmitBlock(c, *op.body);
  if (e.Buf(op.body->yield) != e.Buf(arg)) {
    c.Line("std::copy_n({}, n * {}, {});", e.Buf(op.body->yield), e.Width(arg), e.Buf(arg));
  }
  c.Outdent();
  c.Line("}}");
}

void EmitLayerNorm(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  c.Line("k::LayerNormRows({}, {}, {}, {}, {}, {}, {});", Out(e, op), In(e, op, 0),
         e.WeightExpr(op.weights[0]),
         op.weights.size() > 1 ? e.WeightExpr(op.weights[1]) : "nullptr", e.RowsOf(op.result),
         e.Width(op.result), F(op, kEps));
}

const char* ActivationKernel(ir::Activation function) {
  switch (function) {
    case ir::Activation::kRelu:
      return "ReluRows";
    case ir::Activation::kGelu:
      return "GeluRows";
    case ir::Activation::kGeluTanh:
      return "GeluTanhRows";
    case ir::Activation::kSilu:
      return "SiluRows";
    case ir::Activation::kTanh:
      return "TanhRows";
  }
  throw std::logic_error("internal error: an activation without a kernel");
}

void EmitActivation(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  c.Line("k::{}({}, {}, {}, {});", ActivationKernel(op.Get(ir::attr::kFunction)), Out(e, op),
         In(e, op, 0), e.RowsOf(op.result), e.Width(op.result));
}

void EmitMul(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  c.Line("k::MulRows({}, {}, {}, {}, {});", Out(e, op), In(e, op, 0), In(e, op, 1),
         e.RowsOf(op.result), e.Width(op.result));
}

void EmitScale(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  c.Line("k::ScaleRows({}, {}, {}, {}, {});", Out(e, op), In(e, op, 0), e.RowsOf(op.result),
         e.Width(op.result), F(op, ir::attr::kFactor));
}

void EmitAddPositionEmbedding(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  e.CopyIfMoved(c, op);
  c.Line("k::AddPositionEmbeddingRows({}, {}, positions, n, {});", Out(e, op),
         e.WeightExpr(op.weights[0]), e.Width(op.result));
}

void EmitAddSinusoidal(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  e.CopyIfMoved(c, op);
  c.Line("k::AddSinusoidalRows({}, positions, n, {}, a.sinusoid);", Out(e, op), e.Width(op.result));
}

std::string SinusoidScratch(const ForwardEmitter& e, const ir::Op& op) {
  return fmt::format("float sinusoid[{}];  // one position's encoding", e.Width(op.result));
}

void EmitAddBias(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  e.CopyIfMoved(c, op);
  c.Line("k::AddBiasRows({}, {}, n, {});", Out(e, op), e.WeightExpr(op.weights[0]),
         e.Width(op.result));
}

void EmitFirstRow(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  c.Line("std::copy_n({}, {}, {});", In(e, op, 0), e.Width(op.result), Out(e, op));
}

// Every rank's partial rows summed, in rank order, into each rank's buffer
// (runtime/distributed/tensor_parallel.h).
void EmitAllReduce(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  e.CopyIfMoved(c, op);
  c.Line("lmc::dist::AllReduceSum({}, static_cast<size_t>({}) * {});", Out(e, op),
         e.RowsOf(op.result), e.Width(op.result));
}

// Every rank's real columns, side by side in rank order, into rank 0's buffer
// (runtime/distributed/tensor_parallel.h): only rank 0 reads the logits.
void EmitGather(ForwardEmitter& e, CodeWriter& c, const ir::Op& op) {
  c.Line("lmc::dist::GatherColumns({}, {}, {}, {}, {});", Out(e, op), In(e, op, 0),
         e.RowsOf(op.result), e.Width(op.operands[0]), DimOf(e, op, ir::attr::kFull));
}

constexpr OpEmission kEmissions[] = {
    {ir::OpKind::kEmbedding, EmitEmbedding},
    {ir::OpKind::kRmsNorm, EmitRmsNorm},
    {ir::OpKind::kLinear, EmitLinear},
    {ir::OpKind::kGatedLinear, EmitGatedLinear},
    {ir::OpKind::kRope, EmitRope, DynamicRope},
    {ir::OpKind::kKvStore, EmitKvStore},
    {ir::OpKind::kAttention, EmitAttention},
    {ir::OpKind::kSwiGlu, EmitSwiGlu},
    {ir::OpKind::kAdd, EmitAdd},
    {ir::OpKind::kLastRows, EmitLastRows},
    {ir::OpKind::kLayers, EmitLayers},
    {ir::OpKind::kLayerNorm, EmitLayerNorm},
    {ir::OpKind::kActivation, EmitActivation},
    {ir::OpKind::kMul, EmitMul},
    {ir::OpKind::kScale, EmitScale},
    {ir::OpKind::kAddPositionEmbedding, EmitAddPositionEmbedding},
    {ir::OpKind::kAddSinusoidal, EmitAddSinusoidal, nullptr, SinusoidScratch},
    {ir::OpKind::kAddBias, EmitAddBias},
    {ir::OpKind::kCrossAttention, EmitCrossAttention},
    {ir::OpKind::kFirstRow, EmitFirstRow},
    {ir::OpKind::kAllReduce, EmitAllReduce},
    {ir::OpKind::kGather, EmitGather},
};

constexpr bool InOpKindOrder() {
  for (size_t i = 0; i < std::size(kEmissions); ++i) {
    if (kEmissions[i].kind != static_cast<ir::OpKind>(i)) return false;
  }
  return std::size(kEmissions) == static_cast<size_t>(ir::OpKind::kCount);
}
static_assert(InOpKindOrder(), "one emission per op kind, in OpKind order");

}  // namespace

const OpEmission& EmissionOf(ir::OpKind kind) {
  if (kind >= ir::OpKind::kCount) throw std::logic_error("internal error: op of kind kCount");
  return kEmissions[static_cast<size_t>(kind)];
}

}  // namespace lmc
