// tensor-parallel: the module one rank of N runs, Megatron-style.
//
// Attention is cut by whole KV groups (a group's query heads stay with its K/V head, so GQA
// needs no communication), the feed-forward by hidden columns. The products that widen into
// a cut dimension (Q, K, V, gate, up, a GELU FFN's first matrix) take a range of their
// weight's rows and are column-parallel; the ones that narrow back to d_model (the attention
// output, down) take a range of columns, produce a partial sum, and are followed by an
// all_reduce. The vocabulary is cut by rows: the token embedding (a rank looks up the tokens
// it holds, zeros for the others, and an all_reduce gives every rank the rows) and the
// classifier (each rank computes its logits, a gather puts them side by side on rank 0, the
// only rank that reads them); tied, they are one shard. Norms and position tables stay whole.
// Cross-attention is cut as self-attention is (its K/V state holds the rank's groups). Position
// biases per head follow the heads: T5's table [buckets, heads] takes the rank's columns, and
// ALiBi's slopes are the global heads' (attribute global_heads), read from the rank's first
// head on. CoPE's position embedding is shared by every head, so it stays whole.
//
// Sizes are compile-time constants, so every rank runs one shape: the most units any rank
// takes (ceil(U / N)); a rank with fewer has zero rows and columns at the end, whose products
// are exact zeros (a zero query against zero keys averages zero values; a zero column adds
// nothing). The slowest rank holds ceil(U / N) units either way, so this costs no time.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "compiler/passes/passes.h"

namespace lmc::passes {

namespace {

using ir::DimId;

struct Cut {
  DimId local;
  int64_t unit;  // Elements of the full dim per unit.
};

class Sharder {
 public:
  Sharder(ir::Graph& graph, int ranks) : g_(graph), n_(ranks) {}

  std::string Run() {
    std::vector<ir::Op*> ops;
    Collect(g_.body, ops);
    Collect(g_.encode.body, ops);
    const ir::Op* attention = nullptr;
    for (ir::Op* op : ops) {
      if (op->kind != ir::OpKind::kAttention && op->kind != ir::OpKind::kCrossAttention) continue;
      if (!attention) attention = op;
      if (op->GetDim(ir::attr::kHeads) != attention->GetDim(ir::attr::kHeads) ||
          op->GetDim(ir::attr::kKvHeads) != attention->GetDim(ir::attr::kKvHeads)) {
        return "not supported yet: tensor parallelism of layers with different head counts";
      }
    }
    if (!attention) return "tensor parallelism needs attention layers to split";
    const DimId heads = attention->GetDim(ir::attr::kHeads);
    const DimId kv_heads = attention->GetDim(ir::attr::kKvHeads);
    const int64_t head_dim = g_.dims[attention->GetDim(ir::attr::kHeadDim)].size;
    const DimId q_dim = g_.values[attention->operands[0]].dims[1];
    const DimId kv_dim = g_.states[attention->states[0]].dims[1];
    const int64_t groups = g_.dims[kv_heads].size;
    const int64_t group = g_.dims[heads].size / groups;
    if (n_ > groups) {
      return fmt::format(
          "--tensor-parallel {}: the model has {} KV group{} (attention.n_kv_heads) and each "
          "rank takes whole groups; use at most {} ranks",
          n_, groups, groups == 1 ? "" : "s", groups);
    }
    AddCut(heads, group, groups);
    AddCut(kv_heads, 1, groups);
    AddCut(q_dim, group * head_dim, groups);
    AddCut(kv_dim, head_dim, groups);
    if (DimId hidden = g_.FindDim("hidden"); hidden >= 0) {
      // Matrices read in blocks along their hidden columns (down) are cut in whole blocks.
      const int64_t size = g_.dims[hidden].size;
      int64_t block = 1;
      for (const ir::Weight& w : g_.weights) {
        if (w.dims.size() == 2 && w.dims[1] == hidden) block = std::max(block, BlockOf(w));
      }
      if (size % block != 0) block = 1;  // Refused below, naming the weight.
      if (size / block < n_) {
        return fmt::format("--tensor-parallel {}: feed_forward.hidden ({}) has fewer {}", n_, size,
                           block == 1 ? "columns" : fmt::format("blocks of {} columns", block));
      }
      AddCut(hidden, block, size / block);
    }

    for (ir::Value& v : g_.values) Remap(v.dims);
    for (ir::State& s : g_.states) Remap(s.dims);
    for (ir::Op* op : ops) {
      for (auto& [name, value] : op->attrs) {
        if (auto* ref = std::get_if<ir::DimRef>(&value)) {
          if (auto it = cuts_.find(ref->id); it != cuts_.end()) ref->id = it->second.local;
        }
      }
      // ALiBi's slope of a head depends on its index among all heads: the op keeps the
      // global count, and a rank reads the slopes from its first head on (its first group is
      // known at run time, from the rank).
      if (op->kind == ir::OpKind::kAttention &&
          op->GetOr(ir::attr::kPositionBias, ir::PositionBias::kNone) == ir::PositionBias::kAlibi) {
        op->attrs.push_back(ir::AttrOf(ir::attr::kGlobalHeads, ir::DimRef{heads}));
      }
    }
    // The vocabulary: the token embedding's and the classifier's rows (one shard when they are
    // tied). Cut in weights only: the embedding's rows and the logits get their own values
    // when the reductions are inserted (the rest of the module keeps whole rows).
    if (DimId vocab = g_.FindDim("vocab"); vocab >= 0 && g_.dims[vocab].size >= n_) {
      bool rows = false;
      for (const ir::Weight& w : g_.weights) rows = rows || (!w.dims.empty() && w.dims[0] == vocab);
      if (rows) AddCut(vocab, 1, g_.dims[vocab].size);
    }
    for (ir::Weight& w : g_.weights) {
      if (std::string error = ShardWeight(w); !error.empty()) return error;
    }
    for (const ir::Op* op : ops) {
      if (std::string error = CheckOp(*op); !error.empty()) return error;
    }
    g_.tensor_parallel = n_;
    InsertReductions(g_.body);
    if (g_.HasEncode()) InsertReductions(g_.encode.body);
    return "";
  }

 private:
  static void Collect(ir::Block& block, std::vector<ir::Op*>& ops) {
    for (ir::Op& op : block.ops) {
      ops.push_back(&op);
      if (op.body) Collect(*op.body, ops);
    }
  }

  // `full` cut into `units` units of `unit` elements: a dim for the most any rank holds.
  void AddCut(DimId full, int64_t unit, int64_t units) {
    if (cuts_.count(full)) return;
    const int64_t local = (units + n_ - 1) / n_ * unit;
    DimId id = g_.AddDim(g_.dims[full].name + "_tp", local);
    cuts_[full] = Cut{id, unit};
  }

  void Remap(std::vector<DimId>& dims) const {
    for (DimId& d : dims) {
      if (auto it = cuts_.find(d); it != cuts_.end()) d = it->second.local;
    }
  }

  std::string ShardWeight(ir::Weight& w) {
    std::vector<size_t> cut_axes;
    for (size_t i = 0; i < w.dims.size(); ++i) {
      if (cuts_.count(w.dims[i])) cut_axes.push_back(i);
    }
    if (cut_axes.empty()) return "";
    if (cut_axes.size() > 1 || w.dims.size() > 2) {
      return fmt::format("not supported yet: tensor parallelism of weight @{} (cut on {} axes)",
                         w.role, cut_axes.size());
    }
    const size_t axis = cut_axes[0];
    const Cut& cut = cuts_.at(w.dims[axis]);
    // A row keeps its blocks whole, but a column cut must fall between blocks.
    if (const int64_t block = BlockOf(w); axis == 1 && cut.unit % block != 0) {
      return fmt::format(
          "--tensor-parallel {}: weight @{} is read in {} blocks of {} columns, and a rank's "
          "columns of {} come in units of {}: a cut would split a block (use dtype f32, or "
          "sizes whose units are whole blocks)",
          n_, w.role, rt::DTypeName(w.layer_dtypes.empty() ? w.dtype : w.layer_dtypes[0]), block,
          g_.dims[w.dims[axis]].name, cut.unit);
    }
    w.shard = ir::WeightShard{axis == 0 ? ir::ShardKind::kRows : ir::ShardKind::kCols, w.dims[axis],
                              cut.unit};
    w.dims[axis] = cut.local;
    return "";
  }

  // The values per block of the weight's storage (1 unless block-quantized), the largest
  // over its layers' types.
  static int64_t BlockOf(const ir::Weight& w) {
    int64_t block = static_cast<int64_t>(rt::DTypeBlock(w.dtype));
    for (rt::DType d : w.layer_dtypes) {
      block = std::max(block, static_cast<int64_t>(rt::DTypeBlock(d)));
    }
    return block;
  }

  bool IsCut(DimId d) const {
    for (const auto& [full, cut] : cuts_) {
      if (cut.local == d) return true;
    }
    return false;
  }

  // Ops that read a cut row must treat its elements independently (or per head, or as a
  // product's input): a norm over a cut width would see only a part of it.
  std::string CheckOp(const ir::Op& op) const {
    for (size_t i = 0; i < op.weights.size(); ++i) {  // The vocabulary's rows: looked up or
      if (VocabRows(op.weights[i]) &&                 // multiplied, nothing else.
          !(op.kind == ir::OpKind::kEmbedding ||
            (op.kind == ir::OpKind::kLinear && g_.values[op.result].dims.size() == 2))) {
        return fmt::format("not supported yet: tensor parallelism where {} reads @{}",
                           ir::OpName(op.kind), g_.weights[op.weights[i]].role);
      }
    }
    switch (op.kind) {
      case ir::OpKind::kLinear:
      case ir::OpKind::kGatedLinear:
      case ir::OpKind::kRope:
      case ir::OpKind::kKvStore:
      case ir::OpKind::kAttention:
      case ir::OpKind::kCrossAttention:
      case ir::OpKind::kSwiGlu:
      case ir::OpKind::kActivation:
      case ir::OpKind::kMul:
      case ir::OpKind::kScale:
      case ir::OpKind::kAddBias:
      case ir::OpKind::kLayers:
      case ir::OpKind::kEmbedding:
      case ir::OpKind::kGather:
        return "";
      default:
        break;
    }
    for (int v : op.operands) {
      const auto& dims = g_.values[v].dims;
      if (g_.values[v].kind == ir::Value::Kind::kTensor && dims.size() == 2 && IsCut(dims[1])) {
        return fmt::format("not supported yet: tensor parallelism where {} reads a split row (%{})",
                           ir::OpName(op.kind), g_.values[v].name);
      }
    }
    return "";
  }

  // A weight whose rows are the rank's range of the vocabulary.
  bool VocabRows(int weight) const {
    const ir::WeightShard& shard = g_.weights[weight].shard;
    const DimId vocab = g_.FindDim("vocab");
    return shard.kind == ir::ShardKind::kRows && vocab >= 0 && shard.full == vocab;
  }

  // `op` writes a new value of `dims` (named after its result + suffix); then `kind` reads it
  // and writes the op's old result, inserted after block.ops[i]. Returns the inserted op.
  ir::Op& Follow(ir::Block& block, size_t i, ir::OpKind kind, const char* suffix,
                 std::vector<DimId> dims) {
    const int whole = block.ops[i].result;
    const int part = g_.AddValue(g_.values[whole].name + suffix, std::move(dims));
    block.ops[i].result = part;
    ir::Op next(kind);
    next.operands = {part};
    next.result = whole;
    return *block.ops.insert(block.ops.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                             std::move(next));
  }

  // After each row-parallel product: the sum of every rank's partial rows. Its bias is
  // added on rank 0 only, so the sum has it once. After the embedding of a vocabulary cut
  // by rows: the sum of the owner's row and the others' zeros. After the classifier's rows:
  // the gather of every rank's logits on rank 0.
  void InsertReductions(ir::Block& block) {
    for (size_t i = 0; i < block.ops.size(); ++i) {
      ir::Op& op = block.ops[i];
      if (op.body) InsertReductions(*op.body);
      if (op.kind == ir::OpKind::kEmbedding && VocabRows(op.weights[0])) {
        Follow(block, i, ir::OpKind::kAllReduce, ".part", g_.values[op.result].dims);
        ++i;
        continue;
      }
      if (op.kind == ir::OpKind::kLinear && VocabRows(op.weights[0])) {
        std::vector<DimId> dims = g_.values[op.result].dims;
        const DimId full = dims.back();
        dims.back() = cuts_.at(full).local;
        ir::Op& gather = Follow(block, i, ir::OpKind::kGather, ".part", dims);
        gather.attrs.push_back(ir::AttrOf(ir::attr::kFull, ir::DimRef{full}));
        ++i;
        continue;
      }
      if (op.kind != ir::OpKind::kLinear ||
          g_.weights[op.weights[0]].shard.kind != ir::ShardKind::kCols) {
        continue;
      }
      if (op.weights.size() > 1) {
        g_.weights[op.weights[1]].shard = ir::WeightShard{ir::ShardKind::kFirstRank};
      }
      const int partial = op.result;
      const int sum = g_.AddValue(g_.values[partial].name + ".sum", g_.values[partial].dims);
      for (size_t j = i + 1; j < block.ops.size(); ++j) Replace(block.ops[j], partial, sum);
      if (block.yield == partial) block.yield = sum;
      ir::Op reduce(ir::OpKind::kAllReduce);
      reduce.operands = {partial};
      reduce.result = sum;
      block.ops.insert(block.ops.begin() + static_cast<std::ptrdiff_t>(i) + 1, std::move(reduce));
      ++i;
    }
  }

  static void Replace(ir::Op& op, int from, int to) {
    for (int& v : op.operands) {
      if (v == from) v = to;
    }
    if (op.body) {
      for (ir::Op& inner : op.body->ops) Replace(inner, from, to);
    }
  }

  ir::Graph& g_;
  int n_;
  std::map<DimId, Cut> cuts_;  // Full dim -> its per-rank dim.
};

}  // namespace

std::string ShardTensorParallel(ir::Graph& graph, int ranks) {
  if (ranks < 1 || ranks > 4096)
    return fmt::format("--tensor-parallel {}: expected 1 to 4096", ranks);
  if (ranks == 1) return "";
  if (graph.tensor_parallel > 1) {
    return fmt::format("the module is already sharded for {} ranks", graph.tensor_parallel);
  }
  if (!graph.buffers.empty()) return "a planned module cannot be sharded: shard before planning";
  return Sharder(graph, ranks).Run();
}

}  // namespace lmc::passes
