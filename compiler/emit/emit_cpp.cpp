// The emitter reads the IR only: every size is named from the graph's
// dimensions. Each op kind's emission is its entry in op_emitters.cpp; this
// file writes the module around the forward pass.
#include "compiler/emit/emit_cpp.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <span>
#include <stdexcept>
#include <vector>

#include "compiler/emit/code_writer.h"
#include "compiler/emit/forward_emitter.h"
#include "compiler/emit/op_emitters.h"
#include "compiler/support/cpp_literal.h"

#ifndef LMC_VERSION
#define LMC_VERSION "dev"
#endif

namespace lmc {

namespace {

// "stories-260K" -> "stories_260k": a C++ identifier for namespaces and files.
std::string Identifier(const std::string& name) {
  std::string out;
  for (char c : name) {
    out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  }
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "m_" + out;
  return out;
}

// The module: the forward pass's bodies (ForwardEmitter) in the structs, weight
// binding and runtime glue around them.
class Emitter : public ForwardEmitter {
 public:
  Emitter(const ir::Graph& graph, const std::string& spec_path)
      : ForwardEmitter(graph), spec_path_(spec_path), ns_(Identifier(graph.name)) {}

  GeneratedFiles Run() {
    GeneratedFiles files;
    files.stem = ns_;
    files.header = Header();
    files.source = Source();
    files.ir = "# " + BannerText() + "\n" + ir::Print(g_);
    files.tensor_parallel = g_.tensor_parallel;
    return files;
  }

 private:
  std::string BannerText() const {
    // The path is user text: keep it on one line.
    std::string path;
    for (char c : spec_path_) path += (c == '\n' || c == '\r') ? '?' : c;
    return fmt::format("Generated from {} by lmc {}. Do not edit: change the spec and run lmc.",
                       path, LMC_VERSION);
  }

  std::string Header() {
    CodeWriter c;
    c.Line("// {}", BannerText());
    c.Line("//");
    if (g_.HasEncode()) {
      c.Line("// Module {}: {} encoder and {} decoder layers; entry points encode (a source",
             g_.name, g_.n_encoder_layers, g_.n_layers);
      c.Line("// of up to kChunk tokens), then prefill (up to kChunk tokens) and decode.");
    } else {
      c.Line("// Module {}: {} layers; entry points prefill (up to kChunk tokens) and decode.",
             g_.name, g_.n_layers);
    }
    c.Line("#pragma once");
    c.Blank();
    c.Line("#include <hwy/base.h>");
    c.Blank();
    c.Line("#include <memory>");
    c.Blank();
    c.Line("#include \"runtime/model/model.h\"");
    c.Line("#include \"runtime/weights/tensor_source.h\"");
    if (Parallel()) c.Line("#include \"runtime/distributed/tensor_parallel.h\"");
    c.Blank();
    c.Line("namespace lmc::models::{} {{", ns_);
    c.Blank();
    c.Line("// Dimensions.");
    c.Line("inline constexpr int kLayers = {};", g_.n_layers);
    if (Parallel()) {
      c.Line("inline constexpr int kRanks = {};  // tensor-parallel: each rank's share below",
             g_.tensor_parallel);
    }
    if (g_.HasEncode()) c.Line("inline constexpr int kEncoderLayers = {};", g_.n_encoder_layers);
    for (const ir::Dim& d : g_.dims) {
      if (d.name == "T") {
        c.Line("inline constexpr int kChunk = {};  // tokens per call (T <= kChunk)", d.size);
      } else if (!d.dynamic) {
        c.Line("inline constexpr int {} = {};", ConstantName(d.name), d.size);
      }
    }
    c.Blank();
    c.Line("// Pointers into the mapped checkpoint, with the tensors' shapes and names.");
    for (bool encoder : Stacks()) {
      c.Line("struct {} {{", LayerStruct(encoder));
      c.Indent();
      for (const auto& w : g_.weights) {
        if (w.per_layer && w.encoder == encoder) WeightField(c, w);
      }
      c.Outdent();
      c.Line("}};");
      c.Blank();
    }
    c.Line("struct Weights {{");
    c.Indent();
    for (const auto& w : g_.weights) {
      if (!w.per_layer) WeightField(c, w);
    }
    for (bool encoder : Stacks()) {
      c.Line("{} {}[{}];", LayerStruct(encoder), LayerArray(encoder), LayerCount(encoder));
    }
    c.Outdent();
    c.Line("}};");
    c.Blank();
    c.Line("// What persists across calls for one sequence: the declared states, each");
    c.Line("// with room for `capacity` positions, chosen at run time.");
    c.Line("struct State {{");
    c.Indent();
    c.Line("int capacity = 0;");
    if (g_.HasEncode()) {
      c.Line("int source_len = 0;  // Rows of the encoder's K/V; 0 before encode.");
    }
    for (const auto& s : g_.states) {
      c.Line("std::unique_ptr<{}[]> {};  // {}{}", ForwardEmitter::StateType(s), s.name,
             s.per_layer ? fmt::format("[{}]", LayerCount(s.encoder)) : "", StateDimsComment(s));
    }
    c.Line("void Allocate(int capacity);");
    c.Outdent();
    c.Line("}};");
    c.Blank();
    c.Line("// One sequence's tokens in a batched forward pass: rows [first, first + n).");
    c.Line("struct Segment {{");
    c.Line("  State* state;");
    c.Line("  size_t first;");
    c.Line("  int n;");
    c.Line("}};");
    c.Blank();
    c.Line("// Activations of one call, [kChunk, row] each, shared by values whose");
    c.Line("// lifetimes do not overlap.");
    c.Line("struct Activations {{");
    c.Indent();
    for (const auto& b : g_.buffers) {
      c.Line("float {}[kChunk * {}];", b.name, Size(b.row));
    }
    std::vector<std::string> scratch;
    ScratchFields(c, g_.body, scratch);
    ScratchFields(c, g_.encode.body, scratch);
    c.Outdent();
    c.Line("}};");
    c.Blank();
    c.Line("// Binds every weight by name and shape; throws lmc::rt::Error on a mismatch.");
    if (Parallel()) {
      c.Line("// This rank's parts of the split weights are copied into `shards`.");
      c.Line(
          "void BindWeights(lmc::rt::TensorSource& source, Weights& w, lmc::dist::Shards& "
          "shards);");
    } else {
      c.Line("void BindWeights(lmc::rt::TensorSource& source, Weights& w);");
    }
    c.Blank();
    c.Line("// The model, for the runtime: what it is, and a new instance (weights not loaded).");
    c.Line("const lmc::rt::ModelInfo& Info();");
    c.Line("std::unique_ptr<lmc::rt::Model> CreateModel();");
    c.Blank();
    c.Line("// Defined by the build_info.cc `lmc build` writes: compiler, flags, lmc version;");
    c.Line("// the spec's tokenizer.file as an absolute path, or \"\" when it names none.");
    c.Line("extern const char* const kBuildInfo;");
    c.Line("extern const char* const kTokenizerFile;");
    c.Blank();
    c.Line("}}  // namespace lmc::models::{}", ns_);
    return c.str();
  }

  // The scratch fields the ops ask for (OpEmission::scratch), each once.
  void ScratchFields(CodeWriter& c, const ir::Block& block, std::vector<std::string>& seen) {
    for (const ir::Op& op : block.ops) {
      if (auto scratch = EmissionOf(op.kind).scratch) {
        std::string field = scratch(*this, op);
        if (std::find(seen.begin(), seen.end(), field) == seen.end()) {
          c.Line("{}", field);
          seen.push_back(field);
        }
      }
      if (op.body) ScratchFields(c, *op.body, seen);
    }
  }

  std::string StateDimsComment(const ir::State& s) const {
    std::vector<std::string> parts;
    for (ir::DimId d : s.dims) parts.push_back(StateRows(d, ""));
    return fmt::format("[{}]", fmt::join(parts, "]["));
  }

  // The layer stacks: the main one (the decoder's), and the encoder's when the
  // module has an encode entry.
  std::vector<bool> Stacks() const {
    return g_.HasEncode() ? std::vector<bool>{true, false} : std::vector<bool>{false};
  }
  void WeightField(CodeWriter& c, const ir::Weight& w) {
    std::vector<std::string> dims;
    for (ir::DimId d : w.dims) dims.push_back(Size(d));
    // The tensor name is user text: a comment must not be ended by it.
    std::string tensor;
    for (char ch : w.tensor) tensor += (ch == '\n' || ch == '\r' || ch == '\\') ? '?' : ch;
    if (!w.layer_dtypes.empty()) {  // Block types per layer: the kernels dispatch on it.
      c.Line("lmc::rt::AnyBlocks {};  // [{}] {}", w.role, fmt::join(dims, ", "), tensor);
      return;
    }
    if (ReadAsQ4_0Matrix(w)) {  // Rows or panels, as the CPU's kernels read them.
      c.Line("lmc::rt::Q4_0Matrix {};  // [{}] {}", w.role, fmt::join(dims, ", "), tensor);
      return;
    }
    c.Line("const {}* {};  // [{}] {}", WeightType(w), w.role, fmt::join(dims, ", "), tensor);
  }

  // A Q4_0 matrix the products read, in the layout the CPU's kernels prefer; a table whose
  // rows are gathered (the token embedding) keeps its rows.
  static bool ReadAsQ4_0Matrix(const ir::Weight& w) {
    return w.dtype == rt::DType::kQ4_0 && w.layer_dtypes.empty() && w.role != "token_embedding";
  }

  // The enumerator of `dtype`: lmc::rt::DType::kQ4_K.
  static std::string DTypeEnumerator(rt::DType dtype) {
    std::string name = rt::DTypeName(dtype);
    for (char& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return "lmc::rt::DType::k" + name;
  }

  // The C++ element type a weight is kept in; the kernels are overloaded on it.
  static const char* WeightType(const ir::Weight& w) {
    switch (w.dtype) {
      case rt::DType::kF32:
        return "float";
      case rt::DType::kBF16:
        return "hwy::bfloat16_t";
      case rt::DType::kQ8_0:
        return "lmc::rt::BlockQ8_0";
      case rt::DType::kQ4_0:
        return "lmc::rt::BlockQ4_0";
      case rt::DType::kQ4_1:
        return "lmc::rt::BlockQ4_1";
      case rt::DType::kQ5_0:
        return "lmc::rt::BlockQ5_0";
      case rt::DType::kQ5_1:
        return "lmc::rt::BlockQ5_1";
      case rt::DType::kIQ4_NL:
        return "lmc::rt::BlockIQ4_NL";
      case rt::DType::kQ2_K:
        return "lmc::rt::BlockQ2_K";
      case rt::DType::kQ3_K:
        return "lmc::rt::BlockQ3_K";
      case rt::DType::kQ4_K:
        return "lmc::rt::BlockQ4_K";
      case rt::DType::kQ5_K:
        return "lmc::rt::BlockQ5_K";
      case rt::DType::kQ6_K:
        return "lmc::rt::BlockQ6_K";
      default:
        throw std::logic_error("internal error: no kernels for weight dtype " +
                               std::string(rt::DTypeName(w.dtype)));
    }
  }

  void BindWeight(CodeWriter& c, const ir::Weight& w) {
    std::string name = CppStringLiteral(w.tensor);
    if (w.per_layer) {
      size_t at = w.tensor.find("{layer}");
      if (at != std::string::npos) {
        name = fmt::format("{} + n + {}", CppStringLiteral(w.tensor.substr(0, at)),
                           CppStringLiteral(w.tensor.substr(at + 7)));
      }
    }
    const char* field = w.per_layer ? "lw" : "w";
    if (w.shard.kind != ir::ShardKind::kNone) return BindShard(c, w, field, name);
    if (w.dtype == rt::DType::kBF16) {  // Lowering keeps only weights read as stored in bf16.
      c.Line("{}.{} = reinterpret_cast<const hwy::bfloat16_t*>(source.BF16({}, {}));", field,
             w.role, name, DimsExpr(w.dims));
      return;
    }
    if (!w.layer_dtypes.empty()) {  // Each layer's blocks as stored, in place.
      std::vector<std::string> dtypes;
      for (rt::DType d : w.layer_dtypes) dtypes.push_back(DTypeEnumerator(d));
      c.Line("{{");
      c.Indent();
      c.Line("static constexpr lmc::rt::DType kDTypes[] = {{{}}};", fmt::join(dtypes, ", "));
      c.Line("{}.{} = {{source.Blocks({}, {}, kDTypes[l]), kDTypes[l]}};", field, w.role, name,
             DimsExpr(w.dims));
      c.Outdent();
      c.Line("}}");
      return;
    }
    if (w.dtype == rt::DType::kQ8_0 || (w.dtype == rt::DType::kQ4_0 && !ReadAsQ4_0Matrix(w))) {
      c.Line("{}.{} = source.{}({}, {});", field, w.role,  // Quantized at load.
             w.dtype == rt::DType::kQ8_0 ? "Q8_0" : "Q4_0", name, DimsExpr(w.dims));
      return;
    }
    if (ReadAsQ4_0Matrix(w)) {  // Quantized at load, repacked where that pays.
      c.Line("{}.{} = source.Q4_0Kernel({}, {}, q4_0_panels);", field, w.role, name,
             DimsExpr(w.dims));
      return;
    }
    if (rt::IsBlockQuantized(w.dtype)) {  // GGUF's blocks as stored, in place.
      c.Line("{}.{} = source.Blocks<{}>({}, {}, {});", field, w.role, WeightType(w), name,
             DimsExpr(w.dims), DTypeEnumerator(w.dtype));
      return;
    }
    std::string stored;
    if (w.transposed || w.parts > 1) {
      stored = fmt::format(", {{.transposed = {}, .parts = {}, .part = {}, .groups = {}}}",
                           w.transposed, w.parts, w.part, w.groups);
    }
    c.Line("{}.{} = source.F32({}, {}{});", field, w.role, name, DimsExpr(w.dims), stored);
  }

  bool Parallel() const { return g_.tensor_parallel > 1; }

  // This rank's part of a split weight, cut from the stored tensor at load, in the type the
  // model reads it as.
  void BindShard(CodeWriter& c, const ir::Weight& w, const std::string& field,
                 const std::string& name) {
    std::vector<ir::DimId> full = w.dims;
    const char* cut = "kFirstRank";
    std::string local = "0";
    if (w.shard.kind != ir::ShardKind::kFirstRank) {
      const size_t axis = w.shard.kind == ir::ShardKind::kRows ? 0 : 1;
      cut = axis == 0 ? "kRows" : "kCols";
      local = Size(w.dims[axis]);
      full[axis] = w.shard.full;
    }
    const std::string args = fmt::format(
        "source, {}, {}, {{.transposed = {}, .parts = {}, .part = {}, .groups = {}}}, "
        "lmc::dist::Cut::{}, {}, {}",
        name, DimsExpr(full), w.transposed, w.parts, w.part, w.groups, cut, w.shard.unit, local);
    if (w.dtype == rt::DType::kBF16) {
      c.Line("{}.{} = reinterpret_cast<const hwy::bfloat16_t*>(shards.BF16({}));", field, w.role,
             args);
    } else if (!w.layer_dtypes.empty()) {  // Each layer's blocks as stored.
      std::vector<std::string> dtypes;
      for (rt::DType d : w.layer_dtypes) dtypes.push_back(DTypeEnumerator(d));
      c.Line("{{");
      c.Indent();
      c.Line("static constexpr lmc::rt::DType kDTypes[] = {{{}}};", fmt::join(dtypes, ", "));
      c.Line("{}.{} = {{shards.Blocks({}, kDTypes[l]), kDTypes[l]}};", field, w.role, args);
      c.Outdent();
      c.Line("}}");
    } else if (ReadAsQ4_0Matrix(w)) {
      c.Line("{}.{} = shards.Q4_0Kernel({}, q4_0_panels);", field, w.role, args);
    } else if (rt::IsBlockQuantized(w.dtype)) {
      c.Line("{}.{} = shards.Blocks<{}>({}, {});", field, w.role, WeightType(w), args,
             DTypeEnumerator(w.dtype));
    } else {
      c.Line("{}.{} = shards.F32({});", field, w.role, args);
    }
  }

  // Dimensions the llama2.c format's header is checked against.
  void CheckpointDims(CodeWriter& c) {
    bool tied = true;
    for (const auto& w : g_.weights) tied = tied && w.role != "classifier";
    c.Line("const lmc::rt::ModelDims kCheckpointDims{{");
    c.Line("    .d_model = kDModel,");
    c.Line("    .hidden = kHidden,");
    c.Line("    .n_layers = kLayers,");
    c.Line("    .n_heads = kHeads,");
    c.Line("    .n_kv_heads = kKvHeads,");
    c.Line("    .head_dim = kHeadDim,");
    c.Line("    .vocab = kVocab,");
    c.Line("    .max_seq_len = kMaxSeqLen,");
    c.Line("    .tied = {},", tied ? "true" : "false");
    c.Line("}};");
  }

  std::string Source() {
    const ir::ModuleInfo& info = g_.info;
    CodeWriter c;
    c.Line("// {}", BannerText());
    c.Line("//");
    c.Line("// Compiled once per SIMD target (Highway's foreach_target re-includes this");
    c.Line("// file); the runtime picks the best target once per call.");
    c.Blank();
    c.Line("#undef HWY_TARGET_INCLUDE");
    c.Line("#define HWY_TARGET_INCLUDE \"{}.cpp\"", ns_);
    c.Line("#include <hwy/foreach_target.h>  // IWYU pragma: keep");
    c.Line("#include <hwy/highway.h>");
    c.Blank();
    c.Line("#include <algorithm>");
    c.Line("#include <cstring>");
    c.Line("#include <span>");
    c.Line("#include <string>");
    c.Blank();
    c.Line("#include \"{}.h\"", ns_);
    c.Line("#include \"runtime/kernels/rows-inl.h\"");
    c.Blank();
    c.Line("HWY_BEFORE_NAMESPACE();");
    c.Line("namespace lmc::models::{} {{", ns_);
    c.Line("namespace HWY_NAMESPACE {{");
    c.Blank();
    c.Line("namespace k = lmc::kernels::HWY_NAMESPACE;");
    c.Blank();
    c.Line("// Runs tokens[0, n) at positions[0, n) (1 <= n <= kChunk), segment by segment");
    c.Line("// where a sequence's state is read or written (its earlier positions are");
    c.Line("// there), and returns the outputs of rows out_rows[0, rows), [rows, width].");
    if (g_.hidden >= 0) {
      c.Line("// With `hidden`, the outputs are the final hidden states, [rows, {}], instead",
             Width(g_.hidden));
      c.Line("// of the logits.");
    }
    CodeWriter body, encode;
    body.Indent();
    encode.Indent();
    EmitEntry(body, g_.body, /*batched=*/true);
    if (g_.HasEncode()) EmitEntry(encode, g_.encode.body, /*batched=*/false);
    EmitTables(c);
    if (g_.HasEncode()) {
      c.Line("// Runs the encoder over source tokens[0, n) at positions[0, n), keeps the");
      c.Line("// decoder's cross-attention K/V in the state and returns the encoder's last");
      c.Line("// hidden state, [n, kDModel].");
      c.Line("const float* Encode(const Weights& w, State& s, Activations& a, const int* tokens,");
      c.Line("                    const int* positions, int n) {{");
      c.Raw(encode.str());
      c.Line("  return {};", Buf(g_.encode.output));
      c.Line("}}");
      c.Blank();
    }
    c.Line(
        "const float* Forward(const Weights& w, Activations& a, std::span<const Segment> "
        "segments,");
    c.Line(
        "                     const int* tokens, const int* positions, int n, const int* "
        "out_rows,");
    c.Line("                     int rows{}) {{", g_.hidden >= 0 ? ", bool hidden" : "");
    c.Raw(body.str());
    c.Line("  return {};", Buf(g_.output));
    c.Line("}}");
    c.Blank();
    c.Line("}}  // namespace HWY_NAMESPACE");
    c.Line("}}  // namespace lmc::models::{}", ns_);
    c.Line("HWY_AFTER_NAMESPACE();");
    c.Blank();
    c.Line("#if HWY_ONCE");
    c.Blank();
    c.Line("#include \"lmc/lmc.h\"");
    c.Line("#include \"runtime/api/open_model.h\"");
    c.Line("#include \"runtime/weights/checkpoint.h\"");
    c.Blank();
    c.Line("namespace lmc::models::{} {{", ns_);
    c.Blank();
    c.Line("HWY_EXPORT(Forward);");
    if (g_.HasEncode()) c.Line("HWY_EXPORT(Encode);");
    c.Blank();
    c.Line("void BindWeights(lmc::rt::TensorSource& source, Weights& w{}) {{",
           Parallel() ? ", lmc::dist::Shards& shards" : "");
    c.Indent();
    const bool q4_0 = std::any_of(g_.weights.begin(), g_.weights.end(), ReadAsQ4_0Matrix);
    if (q4_0) c.Line("const bool q4_0_panels = lmc::kernels::ReadsQ4_0Panels();");
    for (const auto& w : g_.weights) {
      if (!w.per_layer) BindWeight(c, w);
    }
    for (bool encoder : Stacks()) {
      c.Line("for (int l = 0; l < {}; ++l) {{", LayerCount(encoder));
      c.Indent();
      c.Line("{}& lw = w.{}[l];", LayerStruct(encoder), LayerArray(encoder));
      c.Line("const std::string n = std::to_string(l);");
      for (const auto& w : g_.weights) {
        if (w.per_layer && w.encoder == encoder) BindWeight(c, w);
      }
      c.Outdent();
      c.Line("}}");
    }
    c.Outdent();
    c.Line("}}");
    c.Blank();
    c.Line("void State::Allocate(int positions) {{");
    c.Indent();
    c.Line("capacity = positions;");
    c.Line("// Not zeroed: pages are touched only as the caches fill.");
    for (const auto& s : g_.states) {
      std::string elements = s.per_layer ? LayerCount(s.encoder) : "1";
      for (ir::DimId d : std::span(s.dims).first(s.dims.size() - 1)) {
        elements += g_.dims[d].dynamic ? fmt::format(" * static_cast<size_t>({})", StateRows(d, ""))
                                       : " * " + ConstantName(g_.dims[d].name);
      }
      elements += " * " + StateRowElements(s);
      c.Line("{}.reset(new {}[{}]);", s.name, ForwardEmitter::StateType(s), elements);
    }
    if (g_.HasEncode()) c.Line("source_len = 0;");
    c.Outdent();
    c.Line("}}");
    c.Blank();
    c.Line("namespace {{");
    c.Blank();
    CheckpointDims(c);
    c.Blank();
    c.Line("// One sequence: the declared state, sized for its capacity.");
    c.Line("class CompiledSession final : public lmc::rt::Session {{");
    c.Line(" public:");
    c.Line("  CompiledSession(const lmc::rt::Model& model, int capacity)");
    c.Line("      : lmc::rt::Session(model, capacity) {{");
    c.Line("    state.Allocate(capacity);");
    c.Line("  }}");
    if (Parallel()) {  // Its mirrors on the other ranks are known by its id.
      c.Line("  ~CompiledSession() override {{ lmc::dist::SessionGone(id); }}");
      c.Line("  const uint64_t id = lmc::dist::NewSessionId();");
    }
    c.Line("  State state;");
    c.Line("}};");
    c.Blank();
    c.Line("// The runtime's view of this model: it checks and packs the inputs; this");
    c.Line("// class owns the weights and runs forward passes.");
    c.Line("class CompiledModel final : public lmc::rt::Model {{");
    c.Line(" public:");
    c.Indent();
    c.Line("const lmc::rt::ModelInfo& info() const override {{ return Info(); }}");
    c.Blank();
    c.Line(
        "void LoadWeights(const std::string& path, lmc::rt::TensorSource::Progress progress) "
        "override {{");
    std::string indent = "  ";
    if (Parallel()) {  // Every rank loads the path rank 0 was given; all succeed or all fail.
      c.Line("  lmc::dist::LeadLoad(path);");
      c.Line("  std::string error;");
      c.Line("  try {{");
      indent = "    ";
    }
    c.Line("{}source_ = lmc::rt::OpenCheckpoint(path, {}, kCheckpointDims);", indent,
           CppStringLiteral(info.weights_format));
    c.Line("{}if (progress) source_->set_progress(std::move(progress));", indent);
    if (!info.tensor_prefix.empty()) {
      c.Line("{}source_->set_optional_prefix({});", indent, CppStringLiteral(info.tensor_prefix));
    }
    if (!info.module_prefix.empty()) {
      c.Line("{}source_->set_module_prefix({});", indent, CppStringLiteral(info.module_prefix));
    }
    if (Parallel()) {
      c.Line("    shards_ = std::make_unique<lmc::dist::Shards>();");
      c.Line("    BindWeights(*source_, weights_, *shards_);");
      c.Line("  }} catch (const std::exception& e) {{");
      c.Line("    error = e.what();");
      c.Line("  }}");
      c.Line("  lmc::dist::AgreeLoaded(error, source_.get());");
    } else {
      c.Line("  BindWeights(*source_, weights_);");
    }
    c.Line("}}");
    c.Outdent();
    c.Blank();
    c.Line(" protected:");
    c.Indent();
    c.Line("bool loaded() const override {{ return source_ != nullptr; }}");
    c.Blank();
    c.Line("std::unique_ptr<lmc::rt::Session> MakeSession(int capacity) override {{");
    c.Line("  return std::make_unique<CompiledSession>(*this, capacity);");
    c.Line("}}");
    c.Blank();
    c.Line("void ForwardChunk(const lmc::rt::Chunk& chunk) override {{");
    c.Indent();
    if (Parallel()) {  // The other ranks run this pass too, on their shards.
      c.Line("uint64_t ids[kChunk];");
      c.Line("for (size_t i = 0; i < chunk.segments.size(); ++i) {{");
      c.Line("  ids[i] = static_cast<const CompiledSession*>(chunk.segments[i].session)->id;");
      c.Line("}}");
      c.Line("const lmc::dist::ChunkTurn turn(chunk, ids);");
    }
    c.Line("Segment segments[kChunk];");
    c.Line("for (size_t i = 0; i < chunk.segments.size(); ++i) {{");
    c.Line("  const lmc::rt::ChunkSegment& segment = chunk.segments[i];");
    c.Line("  segments[i] = {{&static_cast<CompiledSession*>(segment.session)->state,");
    c.Line("                 static_cast<size_t>(segment.first), segment.n}};");
    c.Line("}}");
    c.Line("auto a = activations_.Take();");
    c.Line("const float* out = HWY_DYNAMIC_DISPATCH(Forward)(");
    c.Line(
        "    weights_, *a, std::span<const Segment>(segments, chunk.segments.size()), "
        "chunk.tokens,");
    c.Line("    chunk.positions, chunk.n, chunk.out_rows, chunk.rows{});",
           g_.hidden >= 0 ? ", chunk.hidden" : "");
    const std::string width = Size(g_.values[g_.output].dims.back());
    std::string row = width;
    if (g_.hidden >= 0) {
      c.Line("const size_t width = chunk.hidden ? {} : {};", Width(g_.hidden), width);
      row = "width";
    }
    c.Line("for (int i = 0; i < chunk.rows; ++i) {{");
    c.Line("  std::copy_n(out + static_cast<size_t>(i) * {}, {}, chunk.out_dest[i]);", row, row);
    c.Line("}}");
    if (g_.pooled >= 0) {
      c.Line("std::copy_n((*a).{}, {}, chunk.pooled);", BufferName(g_.pooled), Width(g_.pooled));
    }
    c.Outdent();
    c.Line("}}");
    if (g_.HasEncode()) {
      c.Blank();
      c.Line("void EncodeChunk(lmc::rt::Session& session, const int* tokens, int n,");
      c.Line("                 float* out) override {{");
      if (Parallel()) {  // The other ranks encode too, into their sessions' mirrors.
        c.Line("  const lmc::dist::EncodeTurn turn(static_cast<CompiledSession&>(session).id,");
        c.Line("                                   session.capacity(), tokens, n);");
      }
      c.Line("  State& s = static_cast<CompiledSession&>(session).state;");
      c.Line("  int positions[kChunk];");
      c.Line("  for (int i = 0; i < n; ++i) positions[i] = i;");
      c.Line("  s.source_len = n;");
      c.Line("  auto a = activations_.Take();");
      c.Line(
          "  std::copy_n(HWY_DYNAMIC_DISPATCH(Encode)(weights_, s, *a, tokens, positions, n), n * "
          "kDModel,");
      c.Line("              out);");
      c.Line("}}");
    }
    c.Outdent();
    c.Blank();
    c.Line(" private:");
    c.Indent();
    c.Line("std::unique_ptr<lmc::rt::TensorSource> source_;");
    if (Parallel()) c.Line("std::unique_ptr<lmc::dist::Shards> shards_;");
    c.Line("Weights weights_{{}};");
    c.Line("lmc::rt::ScratchPool<Activations> activations_;");
    c.Outdent();
    c.Line("}};");
    c.Blank();
    c.Line("}}  // namespace");
    c.Blank();
    c.Line("const lmc::rt::ModelInfo& Info() {{");
    c.Indent();
    c.Line("static const lmc::rt::ModelInfo info{{");
    c.Line("    .name = {},", CppStringLiteral(g_.name));
    c.Line("    .spec_path = {},", CppStringLiteral(spec_path_));
    c.Line("    .spec_yaml = {},", CppStringLiteralLines(info.spec_yaml, "    "));
    c.Line("    .vocab_size = kVocab,");
    c.Line("    .output_width = {},", width);
    c.Line("    .d_model = kDModel,");
    c.Line("    .encoder = {},", info.family == "encoder" ? "true" : "false");
    c.Line("    .encoder_decoder = {},", g_.HasEncode() ? "true" : "false");
    c.Line("    .max_seq_len = kMaxSeqLen,");
    c.Line("    .chunk = kChunk,");
    c.Line("    .bos = {},", info.bos);
    c.Line("    .eos = {},", info.eos);
    c.Line("    .decoder_start = {},", info.decoder_start);
    c.Line("    .tokenizer_kind = {},", CppStringLiteral(info.tokenizer_kind));
    c.Line("    .tokenizer_file = {},", CppStringLiteral(info.tokenizer_file));
    c.Line("    .weights_format = {},", CppStringLiteral(info.weights_format));
    c.Line("    .pooler = {},", g_.pooled >= 0 ? "true" : "false");
    if (g_.hidden >= 0) c.Line("    .hidden = true,");
    c.Line("    .cls = {},", info.cls);
    c.Line("    .sep = {},", info.sep);
    c.Line("    .build_info = kBuildInfo,");
    c.Line("    .tokenizer_path = kTokenizerFile,");
    c.Line("}};");
    c.Line("return info;");
    c.Outdent();
    c.Line("}}");
    c.Blank();
    c.Line("std::unique_ptr<lmc::rt::Model> CreateModel() {{");
    c.Line("  return std::make_unique<CompiledModel>();");
    c.Line("}}");
    c.Blank();
    c.Line("}}  // namespace lmc::models::{}", ns_);
    c.Blank();
    c.Line("// The C API's entry point (include/lmc/lmc.h).");
    c.Line("extern \"C\" LMC_DECLARE_MODEL({}) {{", ns_);
    c.Line("  return lmc::api::Open(&lmc::models::{}::CreateModel, weights_path, options, error);",
           ns_);
    c.Line("}}");
    c.Blank();
    c.Line("#endif  // HWY_ONCE");
    return c.str();
  }

  std::string spec_path_;
  std::string ns_;
};

}  // namespace

GeneratedFiles EmitCpp(const ir::Graph& graph, const std::string& spec_path) {
  return Emitter(graph, spec_path).Run();
}

}  // namespace lmc
