// Linear-scan buffer planning over the program order, with the layer loop
// flattened once: a value defined before the loop and used inside it stays
// live to the loop's end, since every iteration reads it.
#include <algorithm>
#include <map>

#include "compiler/passes/passes.h"

namespace lmc::passes {

namespace {

class Planner {
 public:
  explicit Planner(ir::Graph& graph)
      : g_(graph), def_(graph.values.size(), -1), last_(graph.values.size(), -1) {}

  void Run() {
    g_.buffers.clear();
    for (auto& v : g_.values) v.buffer = -1;
    // The encode entry runs before, never during, a prefill or decode: its
    // values are dead once it returns, so the main entry reuses its buffers.
    int time = 0;
    if (g_.HasEncode()) {
      Number(g_.encode.body, time);
      last_[g_.encode.output] = ++time;
    }
    Number(g_.body, time);
    if (g_.output >= 0) last_[g_.output] = time + 1;
    if (g_.pooled >= 0) last_[g_.pooled] = time + 1;
    owner_.clear();
    if (g_.HasEncode()) Assign(g_.encode.body);
    Assign(g_.body);
  }

 private:
  struct Loop {
    int start, end;
  };

  // Gives ops times and records definitions and last uses.
  void Number(const ir::Block& block, int& time) {
    for (const ir::Op& op : block.ops) {
      int t = ++time;
      time_[&op] = t;
      for (int v : op.operands) Use(v, t);
      if (op.body) {
        for (int arg : op.body->args) def_[arg] = t;
        Number(*op.body, time);
        Loop loop{t, ++time};
        Use(op.body->yield, loop.end);
        // Outer values read in the body live to the loop's end.
        ExtendOuterUses(*op.body, loop);
      }
      def_[op.result] = op.body ? time : t;
    }
  }

  void Use(int value, int t) { last_[value] = std::max(last_[value], t); }

  void ExtendOuterUses(const ir::Block& body, const Loop& loop) {
    for (const ir::Op& op : body.ops) {
      for (int v : op.operands) {
        if (def_[v] < loop.start) last_[v] = std::max(last_[v], loop.end);
      }
      if (op.body) ExtendOuterUses(*op.body, loop);
    }
  }

  bool Free(int buffer, int t) const {
    auto it = owner_.find(buffer);
    return it == owner_.end() || last_[it->second] < t;
  }

  void Give(int value, int buffer) {
    g_.values[value].buffer = buffer;
    owner_[buffer] = value;
  }

  int NewBuffer(int value) {
    std::string name = g_.values[value].name;
    std::replace(name.begin(), name.end(), '.', '_');
    g_.buffers.push_back(ir::Buffer{name, RowDim(value)});
    return static_cast<int>(g_.buffers.size()) - 1;
  }

  ir::DimId RowDim(int value) const { return g_.values[value].dims.back(); }

  void Allocate(int value, int t) {
    for (int b = 0; b < static_cast<int>(g_.buffers.size()); ++b) {
      if (g_.buffers[b].row == RowDim(value) && Free(b, t)) {
        Give(value, b);
        return;
      }
    }
    Give(value, NewBuffer(value));
  }

  void Assign(const ir::Block& block) {
    for (const ir::Op& op : block.ops) {
      int t = time_.at(&op);
      if (g_.values[op.result].kind == ir::Value::Kind::kState) continue;
      if (op.kind == ir::OpKind::kLayers) {
        int init = op.operands[0], arg = op.body->args[0];
        if (last_[init] == t && g_.values[init].buffer >= 0) {
          Give(arg, g_.values[init].buffer);
        } else {
          Give(arg, NewBuffer(arg));
        }
        Assign(*op.body);
        // The emitter copies the yield into the argument's buffer if they differ.
        Give(op.result, g_.values[arg].buffer);
        continue;
      }
      int inplace = ir::Def(op.kind).inplace;
      int first = inplace < 0 ? -1 : op.operands[inplace];
      if (first >= 0 && last_[first] == t && g_.values[first].buffer >= 0 &&
          g_.values[first].dims == g_.values[op.result].dims) {
        Give(op.result, g_.values[first].buffer);
        continue;
      }
      Allocate(op.result, t);
    }
  }

  ir::Graph& g_;
  std::vector<int> def_, last_;
  std::map<const ir::Op*, int> time_;
  std::map<int, int> owner_;  // buffer -> value now held
};

}  // namespace

void PlanBuffers(ir::Graph& graph) { Planner(graph).Run(); }

}  // namespace lmc::passes
