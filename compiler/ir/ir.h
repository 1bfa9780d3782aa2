// lmc's IR: the model's forward pass for one token as typed ops on tensors of
// static shape.
//
// A Graph holds one Block; a `layers` op holds the per-layer Block that runs
// n_layers times, carrying the residual stream as a block argument (like
// MLIR's scf.for iter_args). Every value is defined once. Weights are
// declared once per graph with their role, checkpoint name and shape; ops
// refer to them by index. Passes rewrite blocks; the verifier checks the
// rules after each one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace lmc::ir {

#define LMC_IR_OPS(X)                                                       \
  X(kEmbedding, "embedding")      /* token row of a [vocab, d] table */     \
  X(kRmsNorm, "rmsnorm")          /* x / rms(x) * weight */                 \
  X(kLinear, "linear")            /* weight[m, k] · x[k] */                \
  X(kGatedLinear, "gated_linear") /* act(gate · x) * (up · x), fused */   \
  X(kRope, "rope")                /* rotary position encoding, per head */  \
  X(kKvStore, "kv_store")         /* writes k, v at the current position */ \
  X(kAttention, "attention")      /* query over the layer's KV cache */     \
  X(kSwiGlu, "swiglu")            /* a * sigmoid(beta * a) * b */           \
  X(kAdd, "add")                  /* residual connection */                 \
  X(kLayers, "layers")            /* the per-layer block, repeated */

enum class OpKind {
#define LMC_IR_ENUM(kind, name) kind,
  LMC_IR_OPS(LMC_IR_ENUM)
#undef LMC_IR_ENUM
};

const char* OpName(OpKind kind);

// A value is a float32 tensor of static shape, or the "KV cache updated"
// token that orders an attention after its kv_store.
struct Value {
  std::string name;
  std::vector<int64_t> shape;
  bool is_cache = false;
  int buffer = -1;  // Set by the buffer planning pass.

  int64_t elements() const;
};

struct Weight {
  std::string role;    // "wq"; see spec weights.names.
  std::string tensor;  // Checkpoint name, with {layer} when per layer.
  std::vector<int64_t> shape;
  bool per_layer = false;
};

using Attr = std::variant<int64_t, double, std::string>;

struct Block;

struct Op {
  explicit Op(OpKind k) : kind(k) {}

  OpKind kind;
  std::vector<int> operands;  // Value ids.
  int result = -1;            // Value id.
  std::vector<int> weights;   // Weight ids.
  std::vector<std::pair<std::string, Attr>> attrs;
  std::unique_ptr<Block> body;  // For kLayers.

  const Attr* FindAttr(const std::string& name) const;
  int64_t IntAttr(const std::string& name) const;
  double FloatAttr(const std::string& name) const;
  const std::string& StringAttr(const std::string& name) const;
};

struct Block {
  std::vector<int> args;  // Values bound on entry (the carried residual).
  std::vector<Op> ops;
  int yield = -1;  // Value carried to the next iteration / out of the loop.
};

// Scratch memory for activations, assigned to values by the buffer planning
// pass so that values whose lifetimes do not overlap share storage.
struct Buffer {
  std::string name;
  int64_t elements = 0;
};

struct Graph {
  std::string name;
  std::vector<Value> values;
  std::vector<Weight> weights;
  std::vector<Buffer> buffers;  // Empty until planned.
  Block body;
  int output = -1;  // The logits.

  int AddValue(std::string name, std::vector<int64_t> shape, bool is_cache = false);
  int AddWeight(std::string role, std::string tensor, std::vector<int64_t> shape, bool per_layer);
};

// Textual form, as `lmc emit --ir` prints it and generated/*/X.ir stores it.
std::string Print(const Graph& graph);

// Checks definitions before uses, operand counts and shapes. Returns the
// problems found, empty when the graph is well formed.
std::vector<std::string> Verify(const Graph& graph);

}  // namespace lmc::ir
