// The emitter reads the IR only: every size is named from the graph's
// dimensions, every attribute an op carries is honored, and each op kind has
// exactly one emission below.
#include "compiler/emit/emit_cpp.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <span>
#include <stdexcept>
#include <vector>

#include "compiler/emit/code_writer.h"
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

// "d_model" -> "kDModel"; "kv_dim" -> "kKvDim".
std::string ConstantName(const std::string& dim) {
  std::string out = "k";
  bool upper = true;
  for (char c : dim) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out;
}

// A float literal that reads back to the same float.
std::string FloatLiteral(double value) {
  std::string s = fmt::format("{}", static_cast<float>(value));
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s + "f";
}

class Emitter {
 public:
  Emitter(const ir::Graph& graph, const std::string& spec_path)
      : g_(graph), spec_path_(spec_path), ns_(Identifier(graph.name)) {}

  GeneratedFiles Run() {
    GeneratedFiles files;
    files.stem = ns_;
    files.header = Header();
    files.source = Source();
    files.ir = "# " + BannerText() + "\n" + ir::Print(g_);
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

  // A dimension as C++: the constant for a static one; the run-time variable
  // for the token count T (n), the output rows R (rows) and the capacity.
  std::string Size(ir::DimId d) const {
    const ir::Dim& dim = g_.dims[d];
    if (!dim.dynamic) return ConstantName(dim.name);
    if (dim.name == "T") return segment_ ? "seg.n" : "n";
    if (dim.name == "R") return "rows";
    if (dim.name == "ctx") return "s.capacity";
    if (dim.name == "S") return "s.source_len";
    throw std::logic_error("internal error: no run-time variable for dim " + dim.name);
  }

  std::string DimsExpr(const std::vector<ir::DimId>& dims) const {
    std::vector<std::string> parts;
    for (ir::DimId d : dims) parts.push_back(Size(d));
    return fmt::format("{{{}}}", fmt::join(parts, ", "));
  }

  int64_t DimSize(const std::string& name) const {
    ir::DimId d = g_.FindDim(name);
    if (d < 0) throw std::logic_error("internal error: the graph has no dim " + name);
    return g_.dims[d].size;
  }

  std::string BufferName(int value) const {
    int b = g_.values[value].buffer;
    if (b < 0) throw std::logic_error("internal error: emitting an unplanned graph");
    return g_.buffers[b].name;
  }
  // A value's buffer; inside a segment loop, the segment's first row of it.
  std::string Buf(int value) const {
    if (!segment_) return "a." + BufferName(value);
    return fmt::format("a.{} + seg.first * {}", BufferName(value),
                       Size(g_.values[value].dims.back()));
  }
  std::string Positions() const { return segment_ ? "positions + seg.first" : "positions"; }

  std::string WeightExpr(int weight) const {
    const ir::Weight& w = g_.weights[weight];
    return (w.per_layer ? "lw." : "w.") + w.role;
  }

  std::string StateExpr(int state) const { return g_.states[state].name; }

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
    c.Blank();
    c.Line("namespace lmc::models::{} {{", ns_);
    c.Blank();
    c.Line("// Dimensions.");
    c.Line("inline constexpr int kLayers = {};", g_.n_layers);
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
      c.Line("std::unique_ptr<float[]> {};  // {}{}", s.name,
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
    std::vector<const ir::Op*> sinusoids = OpsOfKind(g_.body, ir::OpKind::kAddSinusoidal);
    CollectOps(g_.encode.body, ir::OpKind::kAddSinusoidal, sinusoids);
    if (!sinusoids.empty()) {
      c.Line("float sinusoid[{}];  // one position's encoding", Width(sinusoids[0]->result));
    }
    c.Outdent();
    c.Line("}};");
    c.Blank();
    c.Line("// Binds every weight by name and shape; throws lmc::rt::Error on a mismatch.");
    c.Line("void BindWeights(lmc::rt::TensorSource& source, Weights& w);");
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

  std::string StateDimsComment(const ir::State& s) const {
    std::vector<std::string> parts;
    for (ir::DimId d : s.dims) parts.push_back(StateRows(d, ""));
    return fmt::format("[{}]", fmt::join(parts, "]["));
  }

  // A state's rows: the KV capacity chosen at run time, or for the encoder's
  // K/V (rows S, the source length) room for the longest source, one chunk.
  std::string StateRows(ir::DimId d, const char* state) const {
    const ir::Dim& dim = g_.dims[d];
    if (!dim.dynamic) return ConstantName(dim.name);
    if (dim.name == "ctx") return fmt::format("{}capacity", state);
    if (dim.name == "S") return "kChunk";
    throw std::logic_error("internal error: no rows for state dim " + dim.name);
  }

  // The layer stacks: the main one (the decoder's), and the encoder's when the
  // module has an encode entry.
  std::vector<bool> Stacks() const {
    return g_.HasEncode() ? std::vector<bool>{true, false} : std::vector<bool>{false};
  }
  static const char* LayerStruct(bool encoder) {
    return encoder ? "EncoderLayerWeights" : "LayerWeights";
  }
  static const char* LayerArray(bool encoder) { return encoder ? "encoder_layers" : "layers"; }
  static std::string LayerCount(bool encoder) { return encoder ? "kEncoderLayers" : "kLayers"; }

  void WeightField(CodeWriter& c, const ir::Weight& w) {
    std::vector<std::string> dims;
    for (ir::DimId d : w.dims) dims.push_back(Size(d));
    // The tensor name is user text: a comment must not be ended by it.
    std::string tensor;
    for (char ch : w.tensor) tensor += (ch == '\n' || ch == '\r' || ch == '\\') ? '?' : ch;
    c.Line("const {}* {};  // [{}] {}", WeightType(w), w.role, fmt::join(dims, ", "), tensor);
  }

  // The C++ element type a weight is kept in; the kernels are overloaded on it.
  static const char* WeightType(const ir::Weight& w) {
    switch (w.dtype) {
      case ir::DType::kF32:
        return "float";
      case ir::DType::kBF16:
        return "hwy::bfloat16_t";
      case ir::DType::kQ8_0:
        return "lmc::rt::BlockQ8_0";
      case ir::DType::kQ4_0:
        return "lmc::rt::BlockQ4_0";
      default:
        throw std::logic_error("internal error: no kernels for weight dtype " +
                               std::string(ir::Name(w.dtype)));
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
    if (w.dtype == ir::DType::kBF16) {  // Lowering keeps only weights read as stored in bf16.
      c.Line("{}.{} = reinterpret_cast<const hwy::bfloat16_t*>(source.BF16({}, {}));", field,
             w.role, name, DimsExpr(w.dims));
      return;
    }
    if (w.dtype == ir::DType::kQ8_0 || w.dtype == ir::DType::kQ4_0) {  // Quantized at load.
      c.Line("{}.{} = source.{}({}, {});", field, w.role,
             w.dtype == ir::DType::kQ8_0 ? "Q8_0" : "Q4_0", name, DimsExpr(w.dims));
      return;
    }
    std::string stored;
    if (w.transposed || w.parts > 1) {
      stored = fmt::format(", {{.transposed = {}, .parts = {}, .part = {}, .groups = {}}}",
                           w.transposed, w.parts, w.part, w.groups);
    }
    c.Line("{}.{} = source.F32({}, {}{});", field, w.role, name, DimsExpr(w.dims), stored);
  }

  static bool HasCope(const ir::Op& op) {
    return op.kind == ir::OpKind::kAttention && op.Has("position_bias") &&
           op.Get<ir::PositionBias>("position_bias") == ir::PositionBias::kCope;
  }
  static bool UsesState(const ir::Block& block, int state) {
    for (const ir::Op& op : block.ops) {
      if (std::find(op.states.begin(), op.states.end(), state) != op.states.end()) return true;
      if (op.body && UsesState(*op.body, state)) return true;
    }
    return false;
  }

  static void CollectOps(const ir::Block& block, ir::OpKind kind, std::vector<const ir::Op*>& out) {
    for (const ir::Op& op : block.ops) {
      if (op.kind == kind) out.push_back(&op);
      if (op.body) CollectOps(*op.body, kind, out);
    }
  }
  static std::vector<const ir::Op*> OpsOfKind(const ir::Block& block, ir::OpKind kind) {
    std::vector<const ir::Op*> out;
    CollectOps(block, kind, out);
    return out;
  }

  // A constant table the forward pass reads, emitted once per distinct content.
  template <typename T>
  static std::string Intern(std::vector<std::pair<std::string, std::vector<T>>>& tables,
                            const std::string& stem, const std::vector<T>& values) {
    for (const auto& [name, existing] : tables) {
      if (existing == values) return name;
    }
    std::string name = fmt::format("{}{}", stem, tables.size());
    tables.emplace_back(name, values);
    return name;
  }
  std::string Table(const std::string& stem, const std::vector<float>& values) {
    return Intern(tables_, stem, values);
  }
  std::string IntTable(const std::string& stem, const std::vector<int>& values) {
    return Intern(int_tables_, stem, values);
  }

  void EmitTables(CodeWriter& c) const {
    for (const auto& [name, values] : tables_) {
      std::vector<std::string> literals;
      for (float v : values) literals.push_back(FloatLiteral(v));
      c.Line("constexpr float {}[] = {{{}}};", name, fmt::join(literals, ", "));
    }
    for (const auto& [name, values] : int_tables_) {
      c.Line("constexpr int {}[] = {{{}}};", name, fmt::join(values, ", "));
    }
    if (!tables_.empty() || !int_tables_.empty()) c.Blank();
  }

  void EmitBlock(CodeWriter& c, const ir::Block& block) {
    for (size_t i = 0; i < block.ops.size(); ++i) {
      if (!batched_ || !PerSegment(block.ops[i])) {
        EmitOp(c, block.ops[i]);
        continue;
      }
      // A run of ops that each run per segment: one loop over the segments.
      size_t end = i;
      while (end < block.ops.size() && PerSegment(block.ops[end])) ++end;
      EmitSegmentLoop(c, std::span<const ir::Op>(block.ops).subspan(i, end - i));
      i = end - 1;
    }
  }

  // The run-time row count of a value: n, or rows after last_rows.
  std::string RowsOf(int value) const { return Size(g_.values[value].dims[0]); }
  std::string Width(int value) const { return Size(g_.values[value].dims.back()); }

  // Ops that read or write a sequence's state, or depend on where its tokens
  // end, run once per segment (session) of a batched forward pass.
  bool PerSegment(const ir::Op& op) const {
    return !op.states.empty() || (op.kind == ir::OpKind::kRope && DynamicRope(op));
  }
  static bool DynamicRope(const ir::Op& op) {
    return op.Has("scaling") && op.Get<ir::RopeScaling>("scaling") == ir::RopeScaling::kDynamicNtk;
  }

  // Ops run once per segment, with the segment's state and rows.
  void EmitSegmentLoop(CodeWriter& c, std::span<const ir::Op> ops) {
    std::vector<int> states;
    for (const ir::Op& op : ops) {
      for (int id : op.states) {
        if (std::find(states.begin(), states.end(), id) == states.end()) states.push_back(id);
      }
    }
    c.Line("for (const Segment& seg : segments) {{");
    c.Indent();
    if (!states.empty()) c.Line("State& s = *seg.state;");
    for (int id : states) {
      const ir::State& st = g_.states[id];
      if (st.per_layer) {
        c.Line("float* {} = s.{}.get() + static_cast<size_t>(l) * {} * {};", st.name, st.name,
               StateRows(st.dims[0], "s."), Size(st.dims.back()));
      } else {
        c.Line("float* {} = s.{}.get();", st.name, st.name);
      }
    }
    segment_ = true;
    for (const ir::Op& op : ops) EmitOp(c, op);
    segment_ = false;
    c.Outdent();
    c.Line("}}");
  }

  void EmitOp(CodeWriter& c, const ir::Op& op) {
    const std::string tokens = segment_ ? "seg.n" : "n";
    auto in = [&](size_t i) { return Buf(op.operands.at(i)); };
    auto out = [&] { return Buf(op.result); };
    auto f = [&](const char* attr) { return FloatLiteral(op.Float(attr)); };
    auto dim = [&](const char* attr) { return Size(op.DimAttr(attr)); };
    switch (op.kind) {
      case ir::OpKind::kEmbedding:
        c.Line("k::Embedding({}, {}, tokens, n, {});", out(), WeightExpr(op.weights[0]),
               Width(op.result));
        break;
      case ir::OpKind::kRmsNorm:
        c.Line("k::RmsNormRows({}, {}, {}, {}, {}, {});", out(), in(0), WeightExpr(op.weights[0]),
               RowsOf(op.result), Width(op.result), f("eps"));
        break;
      case ir::OpKind::kLinear: {
        const auto& w = g_.weights[op.weights[0]];
        c.Line("k::Linear({}, {}, {}, {}, {}, {});", out(), WeightExpr(op.weights[0]), in(0),
               RowsOf(op.result), Size(w.dims[0]), Size(w.dims[1]));
        if (op.weights.size() > 1) {
          c.Line("k::AddBiasRows({}, {}, {}, {});", out(), WeightExpr(op.weights[1]),
                 RowsOf(op.result), Size(w.dims[0]));
        }
        break;
      }
      case ir::OpKind::kLayerNorm:
        c.Line("k::LayerNormRows({}, {}, {}, {}, {}, {}, {});", out(), in(0),
               WeightExpr(op.weights[0]),
               op.weights.size() > 1 ? WeightExpr(op.weights[1]) : "nullptr", RowsOf(op.result),
               Width(op.result), f("eps"));
        break;
      case ir::OpKind::kActivation: {
        const char* kernel = "";
        switch (op.Get<ir::Activation>("function")) {
          case ir::Activation::kRelu:
            kernel = "ReluRows";
            break;
          case ir::Activation::kGelu:
            kernel = "GeluRows";
            break;
          case ir::Activation::kGeluTanh:
            kernel = "GeluTanhRows";
            break;
          case ir::Activation::kSilu:
            kernel = "SiluRows";
            break;
          case ir::Activation::kTanh:
            kernel = "TanhRows";
            break;
        }
        c.Line("k::{}({}, {}, {}, {});", kernel, out(), in(0), RowsOf(op.result), Width(op.result));
        break;
      }
      case ir::OpKind::kMul:
        c.Line("k::MulRows({}, {}, {}, {}, {});", out(), in(0), in(1), RowsOf(op.result),
               Width(op.result));
        break;
      case ir::OpKind::kScale:
        c.Line("k::ScaleRows({}, {}, {}, {}, {});", out(), in(0), RowsOf(op.result),
               Width(op.result), f("factor"));
        break;
      case ir::OpKind::kAddPositionEmbedding:
        CopyIfMoved(c, op);
        c.Line("k::AddPositionEmbeddingRows({}, {}, positions, n, {});", out(),
               WeightExpr(op.weights[0]), Width(op.result));
        break;
      case ir::OpKind::kAddBias:
        CopyIfMoved(c, op);
        c.Line("k::AddBiasRows({}, {}, n, {});", out(), WeightExpr(op.weights[0]),
               Width(op.result));
        break;
      case ir::OpKind::kAddSinusoidal:
        CopyIfMoved(c, op);
        c.Line("k::AddSinusoidalRows({}, positions, n, {}, a.sinusoid);", out(), Width(op.result));
        break;
      case ir::OpKind::kGatedLinear: {
        const auto& w = g_.weights[op.weights[0]];
        // One activation exists today; the switch makes a new one a compile error here.
        switch (op.Get<ir::GateActivation>("activation")) {
          case ir::GateActivation::kSwiGlu:
            c.Line("k::GatedLinear({}, {}, {}, {}, {}, {}, {}, {});", out(),
                   WeightExpr(op.weights[0]), WeightExpr(op.weights[1]), in(0), RowsOf(op.result),
                   Size(w.dims[0]), Size(w.dims[1]), f("beta"));
            break;
        }
        break;
      }
      case ir::OpKind::kRope: {
        CopyIfMoved(c, op);
        const char* kernel = op.Get<ir::RopeStyle>("style") == ir::RopeStyle::kInterleaved
                                 ? "RopeInterleavedRows"
                                 : "RopeHalfRows";
        std::vector<float> inv_freq = ir::RopeInvFreq(g_, op);
        std::string freq = inv_freq.empty() ? "nullptr" : Table("kRopeInvFreq", inv_freq);
        const bool dynamic = DynamicRope(op);
        if (dynamic) {  // Frequencies for the length reached: the sequence's last position + 1.
          c.Line("{{");
          c.Indent();
          c.Line("float inv_freq[{}];", ir::RotaryDims(g_, op) / 2);
          c.Line("lmc::kernels::RopeDynamicNtkInvFreq(inv_freq, {}, {}, {}, {}, {}[{} - 1] + 1);",
                 f("theta"), ir::RotaryDims(g_, op), f("factor"),
                 static_cast<int64_t>(op.Float("original_max_seq_len")), Positions(), tokens);
          freq = "inv_freq";
        }
        c.Line("k::{}({}, {}, {}, {}, {}, {}, {}{});", kernel, out(), Positions(), tokens,
               dim("heads"), dim("head_dim"), f("theta"), freq,
               op.Has("rotary_dims") ? ", " + dim("rotary_dims") : "");
        if (dynamic) {
          c.Outdent();
          c.Line("}}");
        }
        break;
      }
      case ir::OpKind::kKvStore:
        c.Line("k::KvStore({}, {}, {}, {}, {}, {}, {});", StateExpr(op.states[0]),
               StateExpr(op.states[1]), in(0), in(1), Positions(), tokens, Width(op.operands[0]));
        break;
      case ir::OpKind::kAttention: {
        std::vector<float> alibi = ir::AlibiSlopes(g_, op);
        std::string slopes = alibi.empty() ? "nullptr" : Table("kAlibiSlopes", alibi);
        std::vector<int> buckets = ir::T5Buckets(op);
        std::string relative = "nullptr", cope = "nullptr";
        if (HasCope(op)) {
          std::string name = BufferName(op.result) + "_cope";
          const ir::Weight& embedding = g_.weights[op.weights[0]];
          c.Line("const lmc::kernels::CopeBias {}{{{}, {}}};", name, WeightExpr(op.weights[0]),
                 Size(embedding.dims[1]));
          cope = fmt::format("&{}", name);
        }
        if (!buckets.empty()) {
          std::string name = BufferName(op.result) + "_bias";
          c.Line("const lmc::kernels::RelativeBias {}{{{}, {}, {}, {}}};", name,
                 WeightExpr(op.weights[0]), IntTable("kT5Buckets", buckets),
                 static_cast<int>(op.Float("max_distance")), dim("heads"));
          relative = fmt::format("&{}", name);
        }
        c.Line("k::AttentionRows({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {});", out(),
               in(0), StateExpr(op.states[0]), StateExpr(op.states[1]), Positions(), tokens,
               dim("heads"), dim("kv_heads"), dim("head_dim"), f("scale"),
               op.Get<ir::AttentionMask>("mask") == ir::AttentionMask::kCausal ? "/*causal=*/true"
                                                                               : "/*causal=*/false",
               slopes, relative, cope);
        break;
      }
      case ir::OpKind::kCrossAttention:
        c.Line("k::CrossAttentionRows({}, {}, {}, {}, {}, s.source_len, {}, {}, {}, {});", out(),
               in(0), StateExpr(op.states[0]), StateExpr(op.states[1]), tokens, dim("heads"),
               dim("kv_heads"), dim("head_dim"), f("scale"));
        break;
      case ir::OpKind::kSwiGlu:
        c.Line("k::SwiGluRows({}, {}, {}, {}, {}, {});", out(), in(0), in(1), RowsOf(op.result),
               Width(op.result), f("beta"));
        break;
      case ir::OpKind::kAdd: {
        std::string o = out(), a = in(0), b = in(1);
        if (o == b) std::swap(a, b);
        if (o != a)
          c.Line("std::copy_n({}, {} * {}, {});", a, RowsOf(op.result), Width(op.result), o);
        c.Line("k::AddRows({}, {}, {}, {});", o, b, RowsOf(op.result), Width(op.result));
        break;
      }
      case ir::OpKind::kLastRows:
        if (batched_) {  // The runtime asks for each sequence's last row, or every row.
          c.Line("// The rows whose outputs were asked for, in order (out_rows[i] >= i).");
          c.Line("for (int i = 0; i < rows; ++i) {{");
          c.Line(
              "  std::memmove({} + static_cast<size_t>(i) * {}, {} + "
              "static_cast<size_t>(out_rows[i]) * {},",
              out(), Width(op.result), in(0), Width(op.result));
          c.Line("               sizeof(float) * {});", Width(op.result));
          c.Line("}}");
          break;
        }
        c.Line("// The rows whose logits were asked for: the last `rows` of the chunk.");
        c.Line("std::copy_n({} + static_cast<size_t>(n - rows) * {}, rows * {}, {});", in(0),
               Width(op.result), Width(op.result), out());
        break;
      case ir::OpKind::kFirstRow:
        c.Line("std::copy_n({}, {}, {});", in(0), Width(op.result), out());
        break;
      case ir::OpKind::kLayers: {
        int arg = op.body->args[0];
        if (Buf(arg) != in(0)) {
          c.Line("std::copy_n({}, n * {}, {});", in(0), Width(arg), Buf(arg));
        }
        const bool encoder =
            op.Has("stack") && op.Get<ir::LayerStack>("stack") == ir::LayerStack::kEncoder;
        c.Line("for (int l = 0; l < {}; ++l) {{", LayerCount(encoder));
        c.Indent();
        c.Line("const {}& lw = w.{}[l];", LayerStruct(encoder), LayerArray(encoder));
        for (int id = 0; id < static_cast<int>(g_.states.size()) && !batched_; ++id) {
          const ir::State& s = g_.states[id];
          if (!s.per_layer || s.encoder != encoder || !UsesState(*op.body, id)) continue;
          c.Line("float* {} = s.{}.get() + static_cast<size_t>(l) * {} * {};", s.name, s.name,
                 StateRows(s.dims[0], "s."), Size(s.dims.back()));
        }
        EmitBlock(c, *op.body);
        if (Buf(op.body->yield) != Buf(arg)) {
          c.Line("std::copy_n({}, n * {}, {});", Buf(op.body->yield), Width(arg), Buf(arg));
        }
        c.Outdent();
        c.Line("}}");
        break;
      }
      case ir::OpKind::kCount:
        throw std::logic_error("internal error: op of kind kCount");
    }
  }

  // Ops that update in place copy their input first when the planner gave the
  // result another buffer.
  void CopyIfMoved(CodeWriter& c, const ir::Op& op) {
    if (Buf(op.result) != Buf(op.operands[0])) {
      c.Line("std::copy_n({}, {} * {}, {});", Buf(op.operands[0]), RowsOf(op.result),
             Width(op.result), Buf(op.result));
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
    CodeWriter body, encode;
    body.Indent();
    encode.Indent();
    batched_ = true;
    EmitBlock(body, g_.body);
    batched_ = false;
    if (g_.HasEncode()) EmitBlock(encode, g_.encode.body);
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
    c.Line("                     int rows) {{");
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
    c.Line("void BindWeights(lmc::rt::TensorSource& source, Weights& w) {{");
    c.Indent();
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
      for (ir::DimId d : s.dims) {
        elements += g_.dims[d].dynamic ? fmt::format(" * static_cast<size_t>({})", StateRows(d, ""))
                                       : " * " + ConstantName(g_.dims[d].name);
      }
      c.Line("{}.reset(new float[{}]);", s.name, elements);
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
    c.Line("void LoadWeights(const std::string& path) override {{");
    c.Line("  source_ = lmc::rt::OpenCheckpoint(path, {}, kCheckpointDims);",
           CppStringLiteral(info.weights_format));
    if (!info.tensor_prefix.empty()) {
      c.Line("  source_->set_optional_prefix({});", CppStringLiteral(info.tensor_prefix));
    }
    c.Line("  BindWeights(*source_, weights_);");
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
    c.Line("    chunk.positions, chunk.n, chunk.out_rows, chunk.rows);");
    const std::string width = Size(g_.values[g_.output].dims.back());
    c.Line("for (int i = 0; i < chunk.rows; ++i) {{");
    c.Line("  std::copy_n(out + static_cast<size_t>(i) * {}, {}, chunk.out_dest[i]);", width,
           width);
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

  const ir::Graph& g_;
  std::string spec_path_;
  std::string ns_;
  std::vector<std::pair<std::string, std::vector<float>>> tables_;
  std::vector<std::pair<std::string, std::vector<int>>> int_tables_;
  bool batched_ = false;  // Emitting the forward pass over a batch's segments.
  bool segment_ = false;  // Inside its loop over segments.
};

}  // namespace

GeneratedFiles EmitCpp(const ir::Graph& graph, const std::string& spec_path) {
  return Emitter(graph, spec_path).Run();
}

}  // namespace lmc
