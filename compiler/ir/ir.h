// lmc's IR: a model as a module of typed ops on tensors with named dimensions.
//
// A Graph is one forward pass over a chunk of T tokens (T <= the chunk bound,
// counted at run time): `prefill` runs it on a prompt chunk, `decode` on one
// token, both at explicit positions. Its inputs are the token ids and their
// positions; its output the logits of the requested rows (or, a decoder's, their
// final hidden state instead). Persistent state (the per-layer KV caches) is
// declared in the graph with its shape; its capacity is a run-time dimension. A
// `layers` op holds the per-layer Block that runs n_layers times, carrying the
// residual stream as a block argument (like MLIR's scf.for iter_args). Every
// value is defined once.
//
// Each op kind is declared once, in the table in ops.cpp: operands, weights,
// typed attributes, states, shape rule, in-place rule. The verifier, printer, buffer planner,
// interpreter and emitter all read that table.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "runtime/weights/tensor_source.h"

namespace lmc::ir {

// Op kinds; each is declared in full (operands, attributes, shape rule,
// in-place rule) by its entry in the table in ops.cpp.
enum class OpKind {
  kEmbedding,             // rows of a [vocab, d] table for the token ids
  kRmsNorm,               // x / rms(x) * weight, per row
  kLinear,                // x · weight^T: [T, k] x [m, k] -> [T, m]
  kGatedLinear,           // act(x · gate^T) * (x · up^T), fused
  kRope,                  // rotary position encoding, per head, at each row's position
  kKvStore,               // writes k, v rows into the layer's caches at their positions
  kAttention,             // queries over a KV state, with a mask
  kSwiGlu,                // a * sigmoid(beta * a) * b
  kAdd,                   // residual connection
  kLastRows,              // the rows whose logits the entry point returns
  kLayers,                // the per-layer block, repeated
  kLayerNorm,             // (x - mean) / std * weight (+ bias), per row
  kActivation,            // relu, gelu, gelu_tanh or silu, elementwise
  kMul,                   // a * b, elementwise (an unfused gated unit)
  kScale,                 // x * factor (embedding scale)
  kAddPositionEmbedding,  // x + table[position], per row (learned positions)
  kAddSinusoidal,         // x + the Vaswani sinusoid of the row's position
  kAddBias,               // x + bias, per row (BERT's token-type 0 embedding)
  kCrossAttention,        // queries over the encoder's K/V state (encoder-decoders)
  kFirstRow,              // row 0 of a chunk (an encoder pooler's [CLS] state)
  kAllReduce,             // the sum of each rank's rows (tensor parallelism), in rank order
  kGather,                // each rank's columns side by side, on rank 0 (tensor parallelism)
  kCount
};

// ---- Dimensions ----------------------------------------------------------
// Every size in a graph is a named dimension: static (a compile-time constant,
// emitted as kDModel), or dynamic (known at run time, with a compile-time bound
// where one exists: the chunk's token count T; the KV capacity).
using DimId = int;

struct Dim {
  std::string name;  // "d_model": emitted as kDModel.
  int64_t size = 0;  // The value when static; the bound when dynamic (0: none).
  bool dynamic = false;
};

// ---- Typed attributes ----------------------------------------------------
// Enumerated attributes. Each has one spelling table (EnumNames below), used
// by the printer, the parser and the verifier alike.
enum class RopeStyle { kInterleaved, kHalf };
enum class RopeScaling { kNone, kLinear, kLlama3, kDynamicNtk };
enum class GateActivation { kSwiGlu };
enum class AttentionMask { kCausal, kNone };
enum class PositionBias { kNone, kAlibi, kT5Relative, kCope };  // Added to attention scores.
enum class LayerStack { kMain, kEncoder };  // Which layers a `layers` op repeats.
enum class Activation { kRelu, kGelu, kGeluTanh, kSilu, kTanh };

template <typename E>
struct EnumNames;
template <>
struct EnumNames<RopeStyle> {
  static constexpr const char* names[] = {"interleaved", "half"};
};
template <>
struct EnumNames<RopeScaling> {
  static constexpr const char* names[] = {"none", "linear", "llama3", "dynamic_ntk"};
};
template <>
struct EnumNames<GateActivation> {
  static constexpr const char* names[] = {"swiglu"};
};
template <>
struct EnumNames<AttentionMask> {
  static constexpr const char* names[] = {"causal", "none"};
};
template <>
struct EnumNames<PositionBias> {
  static constexpr const char* names[] = {"none", "alibi", "t5_relative", "cope"};
};
template <>
struct EnumNames<LayerStack> {
  static constexpr const char* names[] = {"main", "encoder"};
};
template <>
struct EnumNames<Activation> {
  static constexpr const char* names[] = {"relu", "gelu", "gelu_tanh", "silu", "tanh"};
};

template <typename E>
const char* Name(E v) {
  return EnumNames<E>::names[static_cast<int>(v)];
}
template <typename E>
std::optional<E> EnumByName(std::string_view word) {
  const auto& names = EnumNames<E>::names;
  for (size_t i = 0; i < std::size(names); ++i) {
    if (word == names[i]) return static_cast<E>(i);
  }
  return std::nullopt;
}

// A dimension used as an attribute (head counts): printed and emitted by name.
struct DimRef {
  DimId id;
  bool operator==(const DimRef&) const = default;
};

// The alternatives' order is AttrType's.
using Attr = std::variant<double, DimRef, RopeStyle, RopeScaling, GateActivation, AttentionMask,
                          PositionBias, Activation, LayerStack>;

enum class AttrType {
  kFloat,
  kDim,
  kRopeStyle,
  kRopeScaling,
  kGateActivation,
  kAttentionMask,
  kPositionBias,
  kActivation,
  kLayerStack
};

// An attribute's name with its C++ type, declared once (namespace attr
// below): the op table lists the keys, and readers get typed values
// (op.Get(attr::kEps) is a double), so a misspelt or mistyped read does not
// compile.
template <typename T>
struct AttrKey {
  const char* name;
};

// T's AttrType: its index among Attr's alternatives.
template <typename T, size_t I = 0>
constexpr AttrType AttrTypeOf() {
  if constexpr (std::is_same_v<std::variant_alternative_t<I, Attr>, T>) {
    return static_cast<AttrType>(I);
  } else {
    return AttrTypeOf<T, I + 1>();
  }
}

struct AttrDef {
  template <typename T>
  constexpr AttrDef(AttrKey<T> key, bool optional = false)
      : name(key.name), type(AttrTypeOf<T>()), optional(optional) {}

  const char* name;
  AttrType type;
  bool optional;  // May be absent; attributes keep the declared order.
};

namespace attr {
inline constexpr AttrKey<double> kEps{"eps"};
inline constexpr AttrKey<double> kBeta{"beta"};
inline constexpr AttrKey<GateActivation> kGateActivation{"activation"};
inline constexpr AttrKey<DimRef> kHeads{"heads"};
inline constexpr AttrKey<DimRef> kKvHeads{"kv_heads"};
inline constexpr AttrKey<DimRef> kHeadDim{"head_dim"};
inline constexpr AttrKey<double> kTheta{"theta"};
inline constexpr AttrKey<RopeStyle> kStyle{"style"};
inline constexpr AttrKey<RopeScaling> kScaling{"scaling"};
inline constexpr AttrKey<double> kFactor{"factor"};  // RoPE scaling's, and the scale op's.
inline constexpr AttrKey<double> kLowFreqFactor{"low_freq_factor"};
inline constexpr AttrKey<double> kHighFreqFactor{"high_freq_factor"};
inline constexpr AttrKey<double> kOriginalMaxSeqLen{"original_max_seq_len"};
inline constexpr AttrKey<DimRef> kRotaryDims{"rotary_dims"};
inline constexpr AttrKey<double> kScale{"scale"};
inline constexpr AttrKey<AttentionMask> kMask{"mask"};
inline constexpr AttrKey<PositionBias> kPositionBias{"position_bias"};
inline constexpr AttrKey<double> kNumBuckets{"num_buckets"};
inline constexpr AttrKey<double> kMaxDistance{"max_distance"};
// Attention on one tensor-parallel rank's heads: the whole model's head count (ALiBi's slopes
// are the global heads').
inline constexpr AttrKey<DimRef> kGlobalHeads{"global_heads"};
// A gather's result width: the whole dim the ranks' columns were cut from.
inline constexpr AttrKey<DimRef> kFull{"full"};
inline constexpr AttrKey<LayerStack> kStack{"stack"};
inline constexpr AttrKey<Activation> kFunction{"function"};
}  // namespace attr

// An entry of Op::attrs, its value's type checked against its key's at
// compile time: AttrOf(attr::kEps, 1e-5).
template <typename T>
std::pair<std::string, Attr> AttrOf(AttrKey<T> key, std::type_identity_t<T> value) {
  return {key.name, std::move(value)};
}

// ---- Values, weights, state ------------------------------------------------
// A value's elements: activations are f32, the entry points' token ids and
// positions i32. What a weight or state is stored as is a checkpoint dtype
// (rt::DType).
enum class ValueType { kF32, kI32 };
template <>
struct EnumNames<ValueType> {
  static constexpr const char* names[] = {"f32", "i32"};
};

// A tensor value: element type and dimensions. A value of kind kState is the
// token "this state was updated", which orders a reader after its writer.
struct Value {
  enum class Kind { kTensor, kState };
  std::string name;
  ValueType type = ValueType::kF32;
  std::vector<DimId> dims;
  Kind kind = Kind::kTensor;
  int state = -1;   // For kState: which State.
  int buffer = -1;  // Set by the buffer planning pass.
};

// Tensor parallelism (compiler/passes/tensor_parallel.cpp): how each rank's part of a weight
// is cut from the stored tensor. The stored axis `full` is cut into units of `unit` elements
// (a KV group's rows, one FFN column), rank r of n taking units [r * U / n, (r + 1) * U / n)
// (U = full / unit) into the front of its dims, the rest zero: every rank has one shape.
enum class ShardKind {
  kNone,
  kRows,       // a range of rows (column-parallel products, their biases)
  kCols,       // a range of columns (row-parallel products)
  kFirstRank,  // whole on rank 0, zero on the others (a row-parallel product's bias)
};
template <>
struct EnumNames<ShardKind> {
  static constexpr const char* names[] = {"none", "rows", "cols", "first_rank"};
};
struct WeightShard {
  ShardKind kind = ShardKind::kNone;
  DimId full = -1;   // kRows / kCols: the cut axis' stored dimension.
  int64_t unit = 1;  // Elements per unit along it.
};

// A weight as the model computes with it, and where it is stored: a
// checkpoint may keep it transposed ([in, out]) and/or as part `part` of
// `parts` fused along the first axis, in consecutive blocks (groups == 1) or
// interleaved per head (rows [groups][parts][rows / groups]).
struct Weight {
  std::string role;    // "wq"; see spec weights.names.
  std::string tensor;  // Checkpoint name, with {layer} when per layer.
  rt::DType dtype = rt::DType::kF32;
  std::vector<DimId> dims;  // Row-major: [out, in] for linear weights.
  bool per_layer = false;
  bool encoder = false;  // Per layer of the encoder stack (encoder-decoders).
  bool transposed = false;
  int parts = 1, part = 0, groups = 1;
  // A per-layer matrix stored in block types that differ between layers: one dtype per layer
  // (all block-quantized; `dtype` is the first). Empty: every layer is `dtype`.
  std::vector<rt::DType> layer_dtypes = {};
  WeightShard shard = {};  // Tensor-parallel modules only.
};

// Persistent state of one sequence, kept across entry-point calls.
struct State {
  std::string name;  // "k_cache"
  rt::DType dtype = rt::DType::kF32;
  std::vector<DimId> dims;  // Per layer when per_layer; the first dim is the capacity.
  bool per_layer = false;
  bool encoder = false;  // Per layer of the encoder stack.
};

struct Block;

struct Op {
  explicit Op(OpKind k) : kind(k) {}

  OpKind kind;
  std::vector<int> operands;  // Value ids.
  int result = -1;            // Value id.
  std::vector<int> weights;   // Weight ids.
  std::vector<int> states;    // State ids read or written (kv_store, attention).
  std::vector<std::pair<std::string, Attr>> attrs;
  std::unique_ptr<Block> body;  // For kLayers.

  const Attr* FindAttr(const std::string& name) const;
  // The attribute's value; null when absent (optional attributes).
  template <typename T>
  const T* Find(AttrKey<T> key) const;
  // The attribute's value; a missing or mistyped one is a compiler bug (throws).
  template <typename T>
  const T& Get(AttrKey<T> key) const;
  template <typename T>
  T GetOr(AttrKey<T> key, T absent) const {
    const T* value = Find(key);
    return value ? *value : absent;
  }
  template <typename T>
  bool Has(AttrKey<T> key) const {
    return Find(key) != nullptr;
  }
  DimId GetDim(AttrKey<DimRef> key) const { return Get(key).id; }
};

struct Block {
  std::vector<int> args;  // Values bound on entry (the carried residual).
  std::vector<Op> ops;
  int yield = -1;  // Value carried to the next iteration / out of the loop.
};

// Scratch memory for activations, assigned to values by the buffer planning
// pass so that values whose lifetimes do not overlap share storage. Sized
// [chunk bound, row] floats.
struct Buffer {
  std::string name;
  DimId row = -1;  // Elements per token row.
};

// What the runtime needs beside the computation: how to open the checkpoint and
// the tokenizer, and the spec the module was compiled from.
struct ModuleInfo {
  std::string family;          // "decoder" (returns logits), "encoder" (hidden states)
  std::string weights_format;  // "llama2c", "safetensors"
  std::string tensor_prefix;   // A prefix tensor names may carry in the file.
  std::string module_prefix;   // weights.prefix: before the names (and tensor_prefix), or not.
  std::string tokenizer_kind;  // "llama2c", ..., "none"
  std::string tokenizer_file;  // Default tokenizer path; may be empty.
  int64_t bos = -1, eos = -1;
  int64_t decoder_start = -1;  // Encoder-decoders: the first decoder id.
  int64_t cls = -1, sep = -1;  // BERT-style encoders: what `embed --prompt` wraps text in.
  std::string spec_yaml;       // The spec after extends and --set.
};

// An encoder-decoder's second entry point: runs the encoder over the source
// tokens once, fills the states the main entry's cross-attention reads, and
// returns the encoder's last hidden state.
struct EncodeEntry {
  int tokens = -1;     // Input: source token ids [T] i32.
  int positions = -1;  // Input: their positions [T] i32.
  Block body;
  int output = -1;
};

struct Graph {
  std::string name;
  ModuleInfo info;
  std::vector<Dim> dims;
  std::vector<Value> values;
  std::vector<Weight> weights;
  std::vector<State> states;
  std::vector<Buffer> buffers;  // Empty until planned.
  int n_layers = 0;             // Layers of the main stack (the decoder's).
  int n_encoder_layers = 0;     // Layers of the encoder stack, when there is an encode entry.
  int tokens = -1;              // Input: token ids [T] i32.
  int positions = -1;           // Input: their positions [T] i32.
  Block body;
  int output = -1;          // The logits of the requested rows.
  int pooled = -1;          // An encoder's pooler output [one, d]; -1 without a pooler.
  EncodeEntry encode;       // Encoder-decoders only: encode.tokens >= 0.
  int tensor_parallel = 1;  // Ranks the module is sharded for (`parallel tensor = N`).
  // A decoder's final hidden state of the requested rows [R, d] (after the final norm, before
  // the classifier), which a pass may return instead of `output` (embeddings); -1: none.
  int hidden = -1;

  bool HasEncode() const { return encode.tokens >= 0; }
  int LayerCount(bool encoder) const { return encoder ? n_encoder_layers : n_layers; }

  DimId AddDim(std::string name, int64_t size, bool dynamic = false);
  DimId FindDim(const std::string& name) const;  // -1 if absent.
  int AddValue(std::string name, std::vector<DimId> dims, ValueType type = ValueType::kF32);
  int AddWeight(std::string role, std::string tensor, std::vector<DimId> dims, bool per_layer);
  int AddState(std::string name, std::vector<DimId> dims, bool per_layer);

  // Elements of one token row of a value (its dims after the leading T).
  int64_t RowElements(int value) const;
  int64_t Elements(const std::vector<DimId>& dims) const;  // Static dims only.
};

// ---- The op table --------------------------------------------------------
struct OpDef {
  OpKind kind;
  const char* name;
  int operands;  // Exact count.
  int weights;   // Exact count.
  int inplace;   // Operand whose buffer the result may reuse; -1 none.
  int states;    // Exact count of states read or written.
  const char* doc;
  std::vector<AttrDef> attrs;  // In this order; all but the optional ones required.
  // The result's dims from the operands', weights' and attributes'; an error
  // message when they do not fit.
  using ShapeRule = std::variant<std::vector<DimId>, std::string> (*)(const Graph&, const Op&);
  ShapeRule shape;
  int optional_weights = 0;   // Trailing weights that may be absent (biases).
  bool state_result = false;  // The result is a state token ("these states were updated").
};

const OpDef& Def(OpKind kind);
const char* OpName(OpKind kind);
std::optional<OpKind> OpByName(const std::string& name);

// The constant tables position attributes stand for, as the emitter writes
// them and the interpreter uses them: a rope op's scaled frequencies (empty
// when unscaled: the kernels compute them; empty for dynamic NTK, computed per
// call from the length reached), an attention op's ALiBi slopes
// (empty without ALiBi; on a tensor-parallel rank, global_heads' slopes).
std::vector<float> RopeInvFreq(const Graph& graph, const Op& rope);
// The dims of each head a rope op turns: rotary_dims when given, else head_dim.
int RotaryDims(const Graph& graph, const Op& rope);
std::vector<float> AlibiSlopes(const Graph& graph, const Op& attention);
// T5's bucket of each relative position key - query in [-max_distance,
// max_distance] (beyond it the bucket no longer changes), for an attention op
// with position_bias t5_relative; empty otherwise. Bidirectional unless causal.
std::vector<int> T5Buckets(const Op& attention);

// ModuleInfo's fields by the names the text form gives them (`info bos = 1`,
// `info family = "decoder"`): the printer writes each, the parser reads them.
struct InfoField {
  const char* name;
  std::variant<std::string ModuleInfo::*, int64_t ModuleInfo::*> member;
};
std::span<const InfoField> InfoFields();

// A string as the text form quotes it: in double quotes, with \\, \", \n, \t,
// \r and \xHH (other control characters) escaped.
std::string Quote(std::string_view text);

// Textual form, as `lmc emit --ir` prints it and generated/*/X.ir stores it:
// the whole module, its info included, so that `lmc emit`/`lmc build` can
// start from it.
std::string Print(const Graph& graph);

// Reads Print's text form back; info lines may be absent (defaults). On
// failure returns nullopt and sets `error` to "line:col: what was expected".
std::optional<Graph> Parse(std::string_view text, std::string* error);

// Checks definitions before uses, operand, weight, attribute and state counts
// and types, and every result's dims against its op's shape rule. Returns the
// problems found, empty when the graph is well formed.
std::vector<std::string> Verify(const Graph& graph);

// ---- Template definitions -------------------------------------------------
std::string MissingAttr(const Op& op, const std::string& name);

template <typename T>
const T* Op::Find(AttrKey<T> key) const {
  const Attr* attr = FindAttr(key.name);
  if (attr && !std::holds_alternative<T>(*attr))
    throw std::logic_error(MissingAttr(*this, key.name));
  return attr ? &std::get<T>(*attr) : nullptr;
}

template <typename T>
const T& Op::Get(AttrKey<T> key) const {
  const T* value = Find(key);
  if (!value) throw std::logic_error(MissingAttr(*this, key.name));
  return *value;
}

}  // namespace lmc::ir
