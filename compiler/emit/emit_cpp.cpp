#include "compiler/emit/emit_cpp.h"

#include <fmt/format.h>

#include <cctype>
#include <stdexcept>
#include <vector>

#include "compiler/emit/code_writer.h"

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

// A float literal that reads back to the same float.
std::string FloatLiteral(double value) {
  std::string s = fmt::format("{}", static_cast<float>(value));
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s + "f";
}

std::string CppString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n\"\n    \"";
        break;
      default:
        out += c;
    }
  }
  return out + "\"";
}

class Emitter {
 public:
  Emitter(const Spec& spec, const ir::Graph& graph, const std::string& spec_path)
      : spec_(spec), g_(graph), spec_path_(spec_path), ns_(Identifier(spec.name)) {
    const auto& a = spec.attention;
    // Preference order: when two sizes are equal, the first name is used.
    sizes_ = {{"kDModel", spec.sizes.d_model},
              {"kQDim", a.n_heads * a.head_dim},
              {"kKvDim", a.n_kv_heads * a.head_dim},
              {"kHidden", spec.feed_forward.hidden},
              {"kVocab", spec.sizes.vocab}};
  }

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
    return fmt::format("Generated from {} by lmc {}. Do not edit: change the spec and run lmc.",
                       spec_path_, LMC_VERSION);
  }

  std::string Summary() const {
    const auto& s = spec_;
    const auto& a = s.attention;
    std::string grouping = a.n_kv_heads == a.n_heads ? "MHA" : a.n_kv_heads == 1 ? "MQA" : "GQA";
    return fmt::format(
        "{}: {}, {} layers, d_model {}, {} heads ({} KV heads, {}), head_dim {},\n// {} ({}-norm), "
        "{} hidden {}, {} (theta {}), vocab {}, {} embeddings.",
        s.name, NameOf<Family>(s.family, kFamilyNames), s.sizes.n_layers, s.sizes.d_model,
        a.n_heads, a.n_kv_heads, grouping, a.head_dim,
        NameOf<NormKind>(s.norm.kind, kNormKindNames),
        NameOf<NormPlacement>(s.norm.placement, kNormPlacementNames),
        NameOf<Activation>(s.feed_forward.activation, kActivationNames), s.feed_forward.hidden,
        NameOf<PositionKind>(s.position.kind, kPositionKindNames), s.position.rope.theta,
        s.sizes.vocab, s.embeddings.tied ? "tied" : "untied");
  }

  std::string Size(int64_t n) const {
    for (const auto& [name, value] : sizes_) {
      if (value == n) return name;
    }
    return std::to_string(n);
  }

  std::string Buf(int value) const {
    int b = g_.values[value].buffer;
    if (b < 0) throw std::logic_error("internal error: emitting an unplanned graph");
    return "s." + g_.buffers[b].name;
  }

  std::string WeightExpr(int weight) const {
    const ir::Weight& w = g_.weights[weight];
    return (w.per_layer ? "lw." : "w.") + w.role;
  }

  std::string ShapeExpr(const std::vector<int64_t>& shape) const {
    std::vector<std::string> dims;
    for (int64_t d : shape) dims.push_back(Size(d));
    return fmt::format("{{{}}}", fmt::join(dims, ", "));
  }

  std::string Header() {
    const auto& s = spec_;
    const auto& a = s.attention;
    CodeWriter c;
    c.Line("// {}", BannerText());
    c.Line("//");
    c.Line("// {}", Summary());
    c.Line("#pragma once");
    c.Blank();
    c.Line("#include \"runtime/weights/tensor_source.h\"");
    c.Blank();
    c.Line("namespace lmc::models::{} {{", ns_);
    c.Blank();
    c.Line("inline constexpr int kVocab = {};", s.sizes.vocab);
    c.Line("inline constexpr int kDModel = {};", s.sizes.d_model);
    c.Line("inline constexpr int kLayers = {};", s.sizes.n_layers);
    c.Line("inline constexpr int kMaxSeqLen = {};", s.sizes.max_seq_len);
    c.Line("inline constexpr int kHeads = {};", a.n_heads);
    c.Line("inline constexpr int kKvHeads = {};", a.n_kv_heads);
    c.Line("inline constexpr int kHeadDim = {};", a.head_dim);
    c.Line("inline constexpr int kQDim = kHeads * kHeadDim;");
    c.Line("inline constexpr int kKvDim = kKvHeads * kHeadDim;");
    c.Line("inline constexpr int kHidden = {};", s.feed_forward.hidden);
    c.Line("inline constexpr float kNormEps = {};", FloatLiteral(s.norm.eps));
    c.Line("inline constexpr float kRopeTheta = {};", FloatLiteral(s.position.rope.theta));
    c.Line("inline constexpr float kAttentionScale = {};  // 1/sqrt(head_dim) unless the spec says",
           FloatLiteral(a.scale));
    c.Line("inline constexpr float kSwishBeta = {};", FloatLiteral(s.feed_forward.beta));
    c.Blank();
    c.Line("// Pointers into the mapped checkpoint, with the tensors' shapes and names.");
    c.Line("struct LayerWeights {{");
    c.Indent();
    for (const auto& w : g_.weights) {
      if (w.per_layer) c.Line("const float* {};  // {} {}", w.role, ShapeExpr(w.shape), w.tensor);
    }
    c.Outdent();
    c.Line("}};");
    c.Blank();
    c.Line("struct Weights {{");
    c.Indent();
    for (const auto& w : g_.weights) {
      if (!w.per_layer) c.Line("const float* {};  // {} {}", w.role, ShapeExpr(w.shape), w.tensor);
    }
    c.Line("LayerWeights layers[kLayers];");
    c.Outdent();
    c.Line("}};");
    c.Blank();
    c.Line("// Activations (buffers shared by values whose lifetimes do not overlap) and the");
    c.Line("// KV cache of one sequence.");
    c.Line("struct State {{");
    c.Indent();
    for (const auto& b : g_.buffers) c.Line("float {}[{}];", b.name, Size(b.elements));
    c.Line("float scores[kMaxSeqLen];");
    c.Line("float key_cache[kLayers][kMaxSeqLen][kKvDim];");
    c.Line("float value_cache[kLayers][kMaxSeqLen][kKvDim];");
    c.Outdent();
    c.Line("}};");
    c.Blank();
    c.Line("// Binds every weight by name and shape; throws lmc::rt::Error on a mismatch.");
    c.Line("void BindWeights(lmc::rt::TensorSource& source, Weights& w);");
    c.Blank();
    c.Line("// Runs `token` at position `pos` (earlier positions already run, 0 <= pos <");
    c.Line("// kMaxSeqLen) and returns the logits [kVocab], which live in `s`.");
    c.Line("const float* Forward(const Weights& w, State& s, int token, int pos);");
    c.Blank();
    c.Line("}}  // namespace lmc::models::{}", ns_);
    return c.str();
  }

  void BindWeight(CodeWriter& c, const ir::Weight& w) {
    std::string name;
    if (w.per_layer) {
      size_t at = w.tensor.find("{layer}");
      name = fmt::format("\"{}\" + n + \"{}\"", w.tensor.substr(0, at), w.tensor.substr(at + 7));
      c.Line("lw.{} = source.Tensor({}, {});", w.role, name, ShapeExpr(w.shape));
    } else {
      c.Line("w.{} = source.Tensor(\"{}\", {});", w.role, w.tensor, ShapeExpr(w.shape));
    }
  }

  void EmitBlock(CodeWriter& c, const ir::Block& block) {
    for (const ir::Op& op : block.ops) EmitOp(c, op);
  }

  void EmitOp(CodeWriter& c, const ir::Op& op) {
    auto in = [&](size_t i) { return Buf(op.operands.at(i)); };
    auto n = [&](int value) { return Size(g_.values[value].elements()); };
    auto eps = [&] {
      double v = op.FloatAttr("eps");
      return v == spec_.norm.eps ? std::string("kNormEps") : FloatLiteral(v);
    };
    auto beta = [&] {
      double v = op.FloatAttr("beta");
      return v == spec_.feed_forward.beta ? std::string("kSwishBeta") : FloatLiteral(v);
    };
    switch (op.kind) {
      case ir::OpKind::kEmbedding:
        c.Line("std::copy_n({} + static_cast<size_t>(token) * kDModel, kDModel, {});",
               WeightExpr(op.weights[0]), Buf(op.result));
        break;
      case ir::OpKind::kRmsNorm: {
        const std::string& role = g_.weights[op.weights[0]].role;
        if (role == "attn_norm") c.Line("// Attention block.");
        if (role == "ffn_norm") c.Line("// Feed-forward block.");
        if (role == "final_norm") c.Line("// Final norm and classifier.");
        c.Line("k::RmsNorm({}, {}, {}, {}, {});", Buf(op.result), in(0), WeightExpr(op.weights[0]),
               n(op.result), eps());
        break;
      }
      case ir::OpKind::kLinear: {
        const auto& shape = g_.weights[op.weights[0]].shape;
        c.Line("k::MatVec({}, {}, {}, {}, {});", Buf(op.result), WeightExpr(op.weights[0]), in(0),
               Size(shape[0]), Size(shape[1]));
        break;
      }
      case ir::OpKind::kGatedLinear: {
        const auto& shape = g_.weights[op.weights[0]].shape;
        c.Line("k::MatVecSwiGlu({}, {}, {}, {}, {}, {}, {});", Buf(op.result),
               WeightExpr(op.weights[0]), WeightExpr(op.weights[1]), in(0), Size(shape[0]),
               Size(shape[1]), beta());
        break;
      }
      case ir::OpKind::kRope: {
        if (Buf(op.result) != in(0)) {
          c.Line("std::copy_n({}, {}, {});", in(0), n(op.result), Buf(op.result));
        }
        const char* kernel =
            op.StringAttr("style") == "interleaved" ? "RopeInterleaved" : "RopeHalf";
        int64_t heads = op.IntAttr("heads");
        c.Line("k::{}({}, {}, kHeadDim, pos, {});", kernel, Buf(op.result),
               heads == spec_.attention.n_heads ? "kHeads" : "kKvHeads",
               op.FloatAttr("theta") == spec_.position.rope.theta
                   ? "kRopeTheta"
                   : FloatLiteral(op.FloatAttr("theta")));
        break;
      }
      case ir::OpKind::kKvStore:
        c.Line("std::copy_n({}, kKvDim, s.key_cache[l][pos]);", in(0));
        c.Line("std::copy_n({}, kKvDim, s.value_cache[l][pos]);", in(1));
        break;
      case ir::OpKind::kAttention:
        c.Line(
            "k::Attention({}, {}, s.key_cache[l][0], s.value_cache[l][0], pos + 1, kHeads, "
            "kKvHeads,",
            Buf(op.result), in(0));
        c.Line("             kHeadDim, kKvDim, kAttentionScale, s.scores);");
        break;
      case ir::OpKind::kSwiGlu:
        c.Line("k::SwiGlu({}, {}, {}, {}, {});", Buf(op.result), in(0), in(1), n(op.result),
               beta());
        break;
      case ir::OpKind::kAdd: {
        std::string out = Buf(op.result), a = in(0), b = in(1);
        if (out == b) std::swap(a, b);
        if (out != a) c.Line("std::copy_n({}, {}, {});", a, n(op.result), out);
        c.Line("k::AddInPlace({}, {}, {});", out, b, n(op.result));
        break;
      }
      case ir::OpKind::kLayers: {
        int arg = op.body->args[0];
        if (Buf(arg) != in(0)) c.Line("std::copy_n({}, {}, {});", in(0), n(arg), Buf(arg));
        c.Line("for (int l = 0; l < kLayers; ++l) {{");
        c.Indent();
        c.Line("const LayerWeights& lw = w.layers[l];");
        EmitBlock(c, *op.body);
        if (Buf(op.body->yield) != Buf(arg)) {
          c.Line("std::copy_n({}, {}, {});", Buf(op.body->yield), n(arg), Buf(arg));
        }
        c.Outdent();
        c.Line("}}");
        break;
      }
    }
  }

  std::string Source() {
    const auto& s = spec_;
    CodeWriter c;
    c.Line("// {}", BannerText());
    c.Blank();
    c.Line("#include \"{}.h\"", ns_);
    c.Blank();
    c.Line("#include <algorithm>");
    c.Line("#include <memory>");
    c.Line("#include <string>");
    c.Blank();
    c.Line("#include \"runtime/kernels/ops.h\"");
    c.Line("#include \"runtime/model/model.h\"");
    c.Line("#include \"runtime/util/error.h\"");
    c.Line("#include \"runtime/weights/llama2c_checkpoint.h\"");
    c.Blank();
    c.Line("namespace lmc::models::{} {{", ns_);
    c.Blank();
    c.Line("namespace k = lmc::kernels;");
    c.Blank();
    c.Line("void BindWeights(lmc::rt::TensorSource& source, Weights& w) {{");
    c.Indent();
    for (const auto& w : g_.weights) {
      if (!w.per_layer) BindWeight(c, w);
    }
    c.Line("for (int l = 0; l < kLayers; ++l) {{");
    c.Indent();
    c.Line("LayerWeights& lw = w.layers[l];");
    c.Line("const std::string n = std::to_string(l);");
    for (const auto& w : g_.weights) {
      if (w.per_layer) BindWeight(c, w);
    }
    c.Outdent();
    c.Line("}}");
    c.Outdent();
    c.Line("}}");
    c.Blank();
    c.Line("const float* Forward(const Weights& w, State& s, int token, int pos) {{");
    c.Indent();
    EmitBlock(c, g_.body);
    c.Line("return {};", Buf(g_.output));
    c.Outdent();
    c.Line("}}");
    c.Blank();
    c.Line("namespace {{");
    c.Blank();
    c.Line("// The runtime's view of this model: checks inputs, owns weights and state.");
    c.Line("class CompiledModel final : public lmc::rt::Model {{");
    c.Line(" public:");
    c.Indent();
    c.Line("void LoadWeights(const std::string& path) override {{");
    c.Indent();
    c.Line("lmc::rt::Llama2cConfig expected{{}};");
    c.Line("expected.dim = kDModel;");
    c.Line("expected.hidden_dim = kHidden;");
    c.Line("expected.n_layers = kLayers;");
    c.Line("expected.n_heads = kHeads;");
    c.Line("expected.n_kv_heads = kKvHeads;");
    c.Line("expected.vocab_size = kVocab;");
    c.Line("expected.seq_len = kMaxSeqLen;");
    c.Line("expected.shared_classifier = {};", s.embeddings.tied ? "true" : "false");
    c.Line("source_ = lmc::rt::Llama2cCheckpoint::Open(path, expected);");
    c.Line("BindWeights(*source_, weights_);");
    c.Outdent();
    c.Line("}}");
    c.Blank();
    c.Line("const float* Forward(int token, int pos) override {{");
    c.Indent();
    c.Line("if (!source_) lmc::rt::Fail(\"no weights loaded\");");
    c.Line("if (token < 0 || token >= kVocab) {{");
    c.Line(
        "  lmc::rt::Fail(\"token id {{}} is outside the vocabulary [0, {{}})\", token, kVocab);");
    c.Line("}}");
    c.Line("if (pos < 0 || pos >= kMaxSeqLen) {{");
    c.Line("  lmc::rt::Fail(\"position {{}} is past max_seq_len {{}}\", pos, kMaxSeqLen);");
    c.Line("}}");
    c.Line("return {}::Forward(weights_, *state_, token, pos);", ns_);
    c.Outdent();
    c.Line("}}");
    c.Outdent();
    c.Blank();
    c.Line(" private:");
    c.Indent();
    c.Line("std::unique_ptr<lmc::rt::TensorSource> source_;");
    c.Line("Weights weights_{{}};");
    c.Line("// Default-initialised: the KV cache's pages are touched only as it fills.");
    c.Line("std::unique_ptr<State> state_{{new State}};");
    c.Outdent();
    c.Line("}};");
    c.Blank();
    c.Line("}}  // namespace");
    c.Blank();
    c.Line("}}  // namespace lmc::models::{}", ns_);
    c.Blank();
    c.Line("namespace lmc::rt {{");
    c.Blank();
    c.Line("const ModelInfo& GetModelInfo() {{");
    c.Indent();
    c.Line("static const ModelInfo info{{");
    c.Line("    .name = {},", CppString(s.name));
    c.Line("    .spec_path = {},", CppString(spec_path_));
    c.Line("    .spec_yaml = {},", CppString(s.resolved_yaml));
    c.Line("    .vocab_size = models::{}::kVocab,", ns_);
    c.Line("    .max_seq_len = models::{}::kMaxSeqLen,", ns_);
    c.Line("    .bos = {},", s.tokenizer.bos);
    c.Line("    .eos = {},", s.tokenizer.eos);
    c.Line("    .tokenizer_kind = \"{}\",",
           NameOf<TokenizerKind>(s.tokenizer.kind, kTokenizerKindNames));
    c.Line("    .weights_format = \"{}\",",
           NameOf<WeightsFormat>(s.weights.format, kWeightsFormatNames));
    c.Line("}};");
    c.Line("return info;");
    c.Outdent();
    c.Line("}}");
    c.Blank();
    c.Line("std::unique_ptr<Model> CreateModel() {{");
    c.Line("  return std::make_unique<models::{}::CompiledModel>();", ns_);
    c.Line("}}");
    c.Blank();
    c.Line("}}  // namespace lmc::rt");
    return c.str();
  }

  const Spec& spec_;
  const ir::Graph& g_;
  std::string spec_path_;
  std::string ns_;
  std::vector<std::pair<std::string, int64_t>> sizes_;
};

}  // namespace

GeneratedFiles EmitCpp(const Spec& spec, const ir::Graph& graph, const std::string& spec_path) {
  return Emitter(spec, graph, spec_path).Run();
}

}  // namespace lmc
