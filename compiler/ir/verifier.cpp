// The IR's rules, checked after lowering and after every pass: each value is
// defined once and before its uses; each op has the operands, weights, states
// and typed attributes its table entry declares, and a result whose dims are
// what its shape rule gives.
#include <fmt/format.h>

#include "compiler/ir/ir.h"

namespace lmc::ir {

namespace {

// Attr's alternatives are in AttrType's order.
bool HasType(const Attr& attr, AttrType type) { return attr.index() == static_cast<size_t>(type); }

class Verifier {
 public:
  explicit Verifier(const Graph& graph) : g_(graph) {}

  // A tensor-parallel weight: its local axis holds the most units any rank takes.
  void VerifyShard(const Weight& w) {
    const std::string what = "weight @" + w.role + " shard: ";
    if (g_.tensor_parallel <= 1) return Expect(false, what + "the module is not tensor-parallel");
    if (w.shard.kind == ShardKind::kFirstRank) {
      Expect(w.dims.size() == 1, what + "first_rank expects a vector");
      return;
    }
    const size_t axis = w.shard.kind == ShardKind::kRows ? 0 : 1;
    if (!(w.dims.size() > axis && ValidDim(w.shard.full) && w.shard.unit > 0 &&
          w.layer_dtypes.empty())) {
      return Expect(false, what + "expected a matrix with the cut axis");
    }
    const int64_t full = g_.dims[w.shard.full].size, n = g_.tensor_parallel;
    const int64_t units = full / w.shard.unit;
    Expect(full % w.shard.unit == 0 && units >= n &&
               g_.dims[w.dims[axis]].size == (units + n - 1) / n * w.shard.unit,
           what + "the local axis must hold ceil(units / ranks) units, every rank one or more");
  }

  std::vector<std::string> Run() {
    defined_.assign(g_.values.size(), false);
    for (const Value& v : g_.values) {
      for (DimId d : v.dims) Expect(ValidDim(d), "value %" + v.name + " has an unknown dim");
    }
    for (const Weight& w : g_.weights) {
      for (DimId d : w.dims) Expect(ValidDim(d), "weight @" + w.role + " has an unknown dim");
      if (!w.layer_dtypes.empty()) {
        bool blocks = true;
        for (rt::DType d : w.layer_dtypes) blocks = blocks && rt::IsBlockQuantized(d);
        Expect(w.per_layer && w.dims.size() == 2 && !w.transposed && w.parts == 1 &&
                   static_cast<int64_t>(w.layer_dtypes.size()) == g_.LayerCount(w.encoder) &&
                   blocks && w.dtype == w.layer_dtypes[0],
               "weight @" + w.role +
                   " has layer_dtypes: expected a plain per-layer matrix, one block type per "
                   "layer, the first its dtype");
      }
      if (w.shard.kind != ShardKind::kNone) VerifyShard(w);
    }
    for (const State& s : g_.states) {
      Expect(!s.dims.empty() && ValidDim(s.dims[0]) && g_.dims[s.dims[0]].dynamic,
             "state " + s.name + " must lead with its run-time capacity");
      Expect(s.dtype == rt::DType::kF32 || s.dtype == rt::DType::kF16 ||
                 s.dtype == rt::DType::kBF16 || s.dtype == rt::DType::kQ8_0,
             "state " + s.name + " has dtype " + rt::DTypeName(s.dtype) +
                 ": expected f32, f16, bf16 or q8_0");
    }
    if (g_.HasEncode()) {
      Define(g_.encode.tokens, "encode input tokens");
      Define(g_.encode.positions, "encode input positions");
      VerifyBlock(g_.encode.body, kOutside);
      CheckValue(g_.encode.output, "encode output");
    }
    Define(g_.tokens, "input tokens");
    Define(g_.positions, "input positions");
    VerifyBlock(g_.body, kOutside);
    if (CheckValue(g_.output, "graph output")) {
      Expect(g_.values[g_.output].dims.size() == 2, "graph output must be [rows, vocab]");
    }
    if (g_.pooled >= 0 && CheckValue(g_.pooled, "pooled output")) {
      Expect(g_.values[g_.pooled].dims.size() == 2, "pooled output must be [one, d]");
    }
    if (g_.hidden >= 0 && CheckValue(g_.hidden, "hidden output") && ValidValue(g_.output)) {
      const auto& hidden = g_.values[g_.hidden].dims;
      const auto& output = g_.values[g_.output].dims;
      Expect(hidden.size() == 2 && output.size() == 2 && hidden[0] == output[0],
             "hidden output must be [rows, d], the graph output's rows");
    }
    return problems_;
  }

 private:
  void Problem(const std::string& message) { problems_.push_back(message); }
  void Expect(bool ok, const std::string& message) {
    if (!ok) Problem(message);
  }
  bool ValidDim(DimId d) const { return d >= 0 && d < static_cast<int>(g_.dims.size()); }
  bool ValidValue(int id) const { return id >= 0 && id < static_cast<int>(g_.values.size()); }

  bool CheckValue(int id, const std::string& where) {
    if (!ValidValue(id)) {
      Problem(fmt::format("{}: value id {} out of range", where, id));
      return false;
    }
    if (!defined_[id]) {
      Problem(fmt::format("{}: %{} used before it is defined", where, g_.values[id].name));
      return false;
    }
    return true;
  }

  void Define(int id, const std::string& where) {
    if (!ValidValue(id)) {
      Problem(fmt::format("{}: result id {} out of range", where, id));
      return;
    }
    if (defined_[id]) Problem(fmt::format("{}: %{} defined twice", where, g_.values[id].name));
    defined_[id] = true;
  }

  // Where an op is: outside any layers op, or in the body of one repeating the
  // main or the encoder stack.
  static constexpr int kOutside = -1;
  static int StackOf(bool encoder) {
    return static_cast<int>(encoder ? LayerStack::kEncoder : LayerStack::kMain);
  }

  void VerifyBlock(const Block& block, int in_layers) {
    for (int arg : block.args) Define(arg, "block argument");
    std::vector<int> local = block.args;
    for (const Op& op : block.ops) {
      VerifyOp(op, in_layers);
      if (op.result >= 0) local.push_back(op.result);
    }
    if (in_layers != kOutside) {
      if (CheckValue(block.yield, "layers yield") && !block.args.empty()) {
        Expect(g_.values[block.yield].dims == g_.values[block.args[0]].dims,
               "layers: yield shape differs from the carried value's");
      }
      // Values of one iteration are not visible after the loop.
      for (int v : local) defined_[v] = false;
    }
  }

  bool VerifyCounts(const Op& op, const OpDef& def, const std::string& where) {
    const int weights = static_cast<int>(op.weights.size());
    if (static_cast<int>(op.operands.size()) != def.operands || weights < def.weights ||
        weights > def.weights + def.optional_weights ||
        static_cast<int>(op.states.size()) != def.states) {
      Problem(fmt::format(
          "{}: expected {} operands, {} weights, {} states; found {}, {}, {}", where, def.operands,
          def.optional_weights
              ? fmt::format("{} to {}", def.weights, def.weights + def.optional_weights)
              : std::to_string(def.weights),
          def.states, op.operands.size(), op.weights.size(), op.states.size()));
      return false;
    }
    bool ok = true;
    for (int v : op.operands) ok = CheckValue(v, where) && ok;
    for (int w : op.weights) {
      if (w < 0 || w >= static_cast<int>(g_.weights.size())) {
        Problem(fmt::format("{}: weight id {} out of range", where, w));
        ok = false;
      }
    }
    for (int s : op.states) {
      if (s < 0 || s >= static_cast<int>(g_.states.size())) {
        Problem(fmt::format("{}: state id {} out of range", where, s));
        ok = false;
      }
    }
    // The op's attributes, matched in declared order; optional ones may be skipped.
    size_t i = 0;
    for (const AttrDef& attr : def.attrs) {
      if (i < op.attrs.size() && op.attrs[i].first == attr.name) {
        const Attr& value = op.attrs[i++].second;
        if (!HasType(value, attr.type)) {
          Problem(fmt::format("{}: attribute {} is not of its declared type", where, attr.name));
          ok = false;
        } else if (auto* dim = std::get_if<DimRef>(&value); dim && !ValidDim(dim->id)) {
          Problem(fmt::format("{}: attribute {} names an unknown dim", where, attr.name));
          ok = false;
        }
      } else if (!attr.optional) {
        Problem(fmt::format("{}: missing attribute {}", where, attr.name));
        return false;
      }
    }
    if (i != op.attrs.size()) {
      Problem(fmt::format("{}: unexpected attribute {} (attributes go in declared order)", where,
                          op.attrs[i].first));
      return false;
    }
    return ok;
  }

  void VerifyOp(const Op& op, int in_layers) {
    if (static_cast<int>(op.kind) < 0 || op.kind >= OpKind::kCount) {
      Problem("an op of unknown kind");
      return;
    }
    const OpDef& def = Def(op.kind);
    std::string where = def.name;
    if (ValidValue(op.result)) where += " %" + g_.values[op.result].name;
    if (!VerifyCounts(op, def, where)) {
      Define(op.result, where);
      return;
    }
    for (int w : op.weights) {
      const Weight& weight = g_.weights[w];
      if (weight.per_layer && in_layers != StackOf(weight.encoder)) {
        Problem(fmt::format("{}: per-layer weight @{} used outside layers of its stack", where,
                            weight.role));
      }
    }
    for (int s : op.states) {
      const State& state = g_.states[s];
      if (state.per_layer && in_layers != StackOf(state.encoder)) {
        Problem(fmt::format("{}: per-layer state {} used outside layers of its stack", where,
                            state.name));
      }
    }
    if (op.kind == OpKind::kLayers) VerifyLayers(op, where);
    Define(op.result, where);
    if (!ValidValue(op.result)) return;
    auto shape = def.shape(g_, op);
    if (auto* error = std::get_if<std::string>(&shape)) {
      Problem(fmt::format("{}: {}", where, *error));
      return;
    }
    const Value& result = g_.values[op.result];
    const bool state_result = def.state_result;
    Expect((result.kind == Value::Kind::kState) == state_result,
           where + (state_result ? ": result must be a state token" : ": result must be a tensor"));
    Expect(result.dims == std::get<std::vector<DimId>>(shape),
           where + ": result dims differ from the op's shape rule");
  }

  void VerifyLayers(const Op& op, const std::string& where) {
    if (!op.body || op.body->args.size() != 1) {
      Problem(where + ": layers needs one carried value and a body");
      return;
    }
    const bool encoder = op.GetOr(attr::kStack, LayerStack::kMain) == LayerStack::kEncoder;
    Expect(g_.LayerCount(encoder) > 0, where + ": the stack's layer count must be positive");
    Expect(g_.values[op.operands[0]].dims == g_.values[op.body->args[0]].dims,
           where + ": carried value's shape differs from the block argument's");
    VerifyBlock(*op.body, StackOf(encoder));
  }

  const Graph& g_;
  std::vector<bool> defined_;
  std::vector<std::string> problems_;
};

}  // namespace

std::vector<std::string> Verify(const Graph& graph) { return Verifier(graph).Run(); }

}  // namespace lmc::ir
