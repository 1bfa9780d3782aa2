// The IR's rules, checked after lowering and after every pass: each value is
// defined once and before its uses, and each op has the operands, weights,
// attributes and shapes its kind requires.
#include <fmt/format.h>

#include <set>
#include <stdexcept>

#include "compiler/ir/ir.h"

namespace lmc::ir {

namespace {

using Shape = std::vector<int64_t>;

class Verifier {
 public:
  explicit Verifier(const Graph& graph) : graph_(graph) {}

  std::vector<std::string> Run() {
    defined_.assign(graph_.values.size(), false);
    VerifyBlock(graph_.body, /*in_layers=*/false);
    if (CheckValue(graph_.output, "graph output")) {
      Expect(graph_.values[graph_.output].shape.size() == 1, "graph output must be a vector");
    }
    return problems_;
  }

 private:
  void Problem(const std::string& message) { problems_.push_back(message); }
  void Expect(bool ok, const std::string& message) {
    if (!ok) Problem(message);
  }

  bool CheckValue(int id, const std::string& where) {
    if (id < 0 || id >= static_cast<int>(graph_.values.size())) {
      Problem(fmt::format("{}: value id {} out of range", where, id));
      return false;
    }
    if (!defined_[id]) {
      Problem(fmt::format("{}: %{} used before it is defined", where, graph_.values[id].name));
      return false;
    }
    return true;
  }

  void Define(int id, const std::string& where) {
    if (id < 0 || id >= static_cast<int>(graph_.values.size())) {
      Problem(fmt::format("{}: result id {} out of range", where, id));
      return;
    }
    if (defined_[id]) Problem(fmt::format("{}: %{} defined twice", where, graph_.values[id].name));
    defined_[id] = true;
  }

  const Shape& ShapeOf(int value) const { return graph_.values[value].shape; }

  void VerifyBlock(const Block& block, bool in_layers) {
    for (int arg : block.args) Define(arg, "block argument");
    std::vector<int> local = block.args;
    for (const Op& op : block.ops) {
      VerifyOp(op, in_layers);
      if (op.result >= 0) local.push_back(op.result);
    }
    if (in_layers) {
      if (CheckValue(block.yield, "layers yield") && !block.args.empty()) {
        Expect(ShapeOf(block.yield) == ShapeOf(block.args[0]),
               "layers: yield shape differs from the carried value's");
      }
      // Values of one iteration are not visible after the loop.
      for (int v : local) defined_[v] = false;
    }
  }

  void VerifyOp(const Op& op, bool in_layers) {
    std::string where = OpName(op.kind);
    if (op.result >= 0 && op.result < static_cast<int>(graph_.values.size())) {
      where += " %" + graph_.values[op.result].name;
    }
    for (int v : op.operands) {
      if (!CheckValue(v, where)) return;
    }
    for (int w : op.weights) {
      if (w < 0 || w >= static_cast<int>(graph_.weights.size())) {
        Problem(fmt::format("{}: weight id {} out of range", where, w));
        return;
      }
      if (graph_.weights[w].per_layer && !in_layers) {
        Problem(fmt::format("{}: per-layer weight @{} used outside layers", where,
                            graph_.weights[w].role));
      }
    }
    if (op.kind == OpKind::kLayers) {
      VerifyLayers(op, where);
      Define(op.result, where);
      return;
    }
    Define(op.result, where);
    if (op.result < 0 || op.result >= static_cast<int>(graph_.values.size())) return;
    try {
      VerifyShapes(op, where);
    } catch (const std::logic_error& e) {  // A missing or mistyped attribute.
      Problem(e.what());
    }
  }

  void VerifyLayers(const Op& op, const std::string& where) {
    if (!op.body || op.operands.size() != 1 || op.body->args.size() != 1) {
      Problem(where + ": layers needs one carried value and a body");
      return;
    }
    Expect(op.IntAttr("count") > 0, where + ": layer count must be positive");
    Expect(ShapeOf(op.operands[0]) == ShapeOf(op.body->args[0]),
           where + ": carried value's shape differs from the block argument's");
    VerifyBlock(*op.body, /*in_layers=*/true);
    if (op.result >= 0 && op.body->yield >= 0) {
      Expect(ShapeOf(op.result) == ShapeOf(op.body->yield),
             where + ": result shape differs from yield");
    }
  }

  bool Arity(const Op& op, const std::string& where, size_t operands, size_t weights) {
    if (op.operands.size() == operands && op.weights.size() == weights) return true;
    Problem(fmt::format("{}: expected {} operands and {} weights, found {} and {}", where, operands,
                        weights, op.operands.size(), op.weights.size()));
    return false;
  }

  void SameShape(const Shape& a, const Shape& b, const std::string& where, const char* what) {
    if (a != b) {
      Problem(
          fmt::format("{}: {} [{}] vs [{}]", where, what, fmt::join(a, ", "), fmt::join(b, ", ")));
    }
  }

  void VerifyShapes(const Op& op, const std::string& where) {
    const Shape& out = ShapeOf(op.result);
    auto weight = [&](size_t i) -> const Shape& { return graph_.weights[op.weights[i]].shape; };
    switch (op.kind) {
      case OpKind::kEmbedding:
        if (!Arity(op, where, 0, 1)) return;
        Expect(weight(0).size() == 2 && out == Shape{weight(0)[1]},
               where + ": result must be one row of the embedding table");
        break;
      case OpKind::kRmsNorm:
        if (!Arity(op, where, 1, 1)) return;
        SameShape(ShapeOf(op.operands[0]), weight(0), where, "input vs weight");
        SameShape(ShapeOf(op.operands[0]), out, where, "input vs result");
        break;
      case OpKind::kLinear:
      case OpKind::kGatedLinear: {
        if (!Arity(op, where, 1, op.kind == OpKind::kLinear ? 1 : 2)) return;
        for (size_t i = 0; i < op.weights.size(); ++i) {
          if (weight(i).size() != 2) {
            Problem(where + ": linear weights must be matrices");
            return;
          }
          SameShape(Shape{weight(i)[1]}, ShapeOf(op.operands[0]), where, "weight columns vs input");
          SameShape(Shape{weight(i)[0]}, out, where, "weight rows vs result");
        }
        break;
      }
      case OpKind::kRope: {
        if (!Arity(op, where, 1, 0)) return;
        int64_t heads = op.IntAttr("heads"), head_dim = op.IntAttr("head_dim");
        Expect(head_dim % 2 == 0, where + ": head_dim must be even");
        SameShape(ShapeOf(op.operands[0]), Shape{heads * head_dim}, where,
                  "input vs heads*head_dim");
        SameShape(ShapeOf(op.operands[0]), out, where, "input vs result");
        break;
      }
      case OpKind::kKvStore:
        if (!Arity(op, where, 2, 0)) return;
        SameShape(ShapeOf(op.operands[0]), ShapeOf(op.operands[1]), where, "k vs v");
        Expect(graph_.values[op.result].is_cache, where + ": result must be the cache token");
        break;
      case OpKind::kAttention: {
        if (!Arity(op, where, 2, 0)) return;
        int64_t heads = op.IntAttr("heads"), kv_heads = op.IntAttr("kv_heads");
        int64_t head_dim = op.IntAttr("head_dim");
        Expect(kv_heads > 0 && heads % kv_heads == 0,
               where + ": heads must be a multiple of kv_heads");
        SameShape(ShapeOf(op.operands[0]), Shape{heads * head_dim}, where,
                  "query vs heads*head_dim");
        Expect(graph_.values[op.operands[1]].is_cache,
               where + ": second operand must be kv_store's");
        SameShape(out, Shape{heads * head_dim}, where, "result vs heads*head_dim");
        break;
      }
      case OpKind::kSwiGlu:
      case OpKind::kAdd:
        if (!Arity(op, where, 2, 0)) return;
        SameShape(ShapeOf(op.operands[0]), ShapeOf(op.operands[1]), where, "operands");
        SameShape(ShapeOf(op.operands[0]), out, where, "operand vs result");
        break;
      case OpKind::kLayers:
        break;
    }
  }

  const Graph& graph_;
  std::vector<bool> defined_;
  std::vector<std::string> problems_;
};

}  // namespace

std::vector<std::string> Verify(const Graph& graph) { return Verifier(graph).Run(); }

}  // namespace lmc::ir
