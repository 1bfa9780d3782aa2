#include "compiler/lower/lower.h"

#include <fmt/format.h>

#include <algorithm>

#include "runtime/weights/weight_names.h"

namespace lmc {

namespace {

// Refuses, at the key responsible, each request the lowering cannot honour yet.
bool CheckSupported(const Spec& spec, Diagnostics& diags) {
  int errors_before = diags.error_count();
  auto refuse = [&](bool unsupported, const char* path, const std::string& what) {
    if (!unsupported) return;
    // A default has no place of its own: point at the family it follows from.
    Location at = spec.Given(path) ? spec.Where(path) : spec.Where("family");
    diags.Error(at, fmt::format("not supported yet: {} ({})", what, diags.Describe(at)));
  };
  refuse(spec.family == Family::kEncoderDecoder, "family",
         fmt::format("family {}", NameOf<Family>(spec.family, kFamilyNames)));
  refuse(spec.family == Family::kDecoder && !spec.attention.causal, "attention.causal",
         "a decoder with bidirectional attention");
  const PositionKind position = spec.position.kind;
  refuse(position == PositionKind::kT5Relative || position == PositionKind::kCope, "position.kind",
         fmt::format("position.kind {}", NameOf<PositionKind>(position, kPositionKindNames)));
  refuse(position == PositionKind::kRope && spec.position.rope.scaling == RopeScaling::kDynamicNtk,
         "position.rope.scaling", "RoPE scaling dynamic_ntk");
  refuse(spec.feed_forward.activation == Activation::kSilu && spec.feed_forward.beta != 1.0,
         "feed_forward.beta", "silu with a beta other than 1");
  refuse(spec.embeddings.dim != spec.sizes.d_model, "embeddings.dim",
         "embeddings.dim different from d_model");
  refuse(spec.dtype == DType::kF16, "dtype",
         fmt::format("dtype {}", NameOf<DType>(spec.dtype, kDTypeNames)));
  refuse(spec.weights.format == WeightsFormat::kGguf, "weights.format",
         fmt::format("weights.format {}",
                     NameOf<WeightsFormat>(spec.weights.format, kWeightsFormatNames)));
  return diags.error_count() == errors_before;
}

// Tokens per prefill chunk: activations are [kChunk, row] buffers, and every
// matrix-matrix kernel reuses a weight tile across this many tokens.
constexpr int64_t kChunk = 128;

ir::Activation ActivationOf(Activation a) {
  switch (a) {
    case Activation::kRelu:
      return ir::Activation::kRelu;
    case Activation::kGelu:
      return ir::Activation::kGelu;
    case Activation::kGeluTanh:
    case Activation::kGeGlu:  // T5 v1.1's gated-gelu uses the tanh form (gelu_new).
      return ir::Activation::kGeluTanh;
    case Activation::kSilu:
    case Activation::kSwiGlu:
      return ir::Activation::kSilu;
  }
  return ir::Activation::kSilu;
}

// A decoder or an encoder: embeddings (token type, scale, learned or
// sinusoidal positions, then an optional norm), n_layers blocks in pre- or
// post-norm order, a final norm, and for a decoder the classifier over the
// requested rows (an encoder returns the hidden states).
class Lowering {
 public:
  explicit Lowering(const Spec& spec) : spec_(spec) {}

  ir::Graph Run() {
    const auto& a = spec_.attention;
    g_.name = spec_.name;
    g_.n_layers = static_cast<int>(spec_.sizes.n_layers);
    // An encoder attends both ways, so its whole input is one chunk.
    const bool encoder = spec_.family == Family::kEncoder;
    t_ = g_.AddDim("T",
                   encoder ? spec_.sizes.max_seq_len : std::min(kChunk, spec_.sizes.max_seq_len),
                   /*dynamic=*/true);
    rows_ = g_.AddDim("R", g_.dims[t_].size, /*dynamic=*/true);
    ctx_ = g_.AddDim("ctx", 0, /*dynamic=*/true);
    vocab_ = g_.AddDim("vocab", spec_.sizes.vocab);
    d_ = g_.AddDim("d_model", spec_.sizes.d_model);
    heads_ = g_.AddDim("heads", a.n_heads);
    kv_heads_ = g_.AddDim("kv_heads", a.n_kv_heads);
    head_dim_ = g_.AddDim("head_dim", a.head_dim);
    q_dim_ = g_.AddDim("q_dim", a.n_heads * a.head_dim);
    kv_dim_ = g_.AddDim("kv_dim", a.n_kv_heads * a.head_dim);
    hidden_ = g_.AddDim("hidden", spec_.feed_forward.hidden);
    max_seq_len_ = g_.AddDim("max_seq_len", spec_.sizes.max_seq_len);
    layout_ = NameOf<WeightsLayout>(spec_.weights.layout, kWeightsLayoutNames);
    g_.info.family = encoder ? "encoder" : "decoder";
    g_.info.weights_format = NameOf<WeightsFormat>(spec_.weights.format, kWeightsFormatNames);
    g_.info.tensor_prefix = rt::LayoutOptionalPrefix(layout_);
    g_.info.tokenizer_kind = NameOf<TokenizerKind>(spec_.tokenizer.kind, kTokenizerKindNames);
    g_.info.tokenizer_file = spec_.tokenizer.file;
    g_.info.bos = spec_.tokenizer.bos;
    g_.info.eos = spec_.tokenizer.eos;
    g_.info.spec_yaml = spec_.resolved_yaml;
    k_cache_ = g_.AddState("k_cache", {ctx_, kv_dim_}, /*per_layer=*/true);
    v_cache_ = g_.AddState("v_cache", {ctx_, kv_dim_}, /*per_layer=*/true);
    g_.tokens = g_.AddValue("tokens", {t_}, ir::DType::kI32);
    g_.positions = g_.AddValue("positions", {t_}, ir::DType::kI32);

    int embedding = Weight("token_embedding", {vocab_, d_}, false);
    int x = Emit(g_.body, ir::OpKind::kEmbedding, "x", {t_, d_}, {g_.tokens}, {embedding});
    if (spec_.embeddings.token_types > 0) {
      // Every token is of type 0 (one segment): its row is a bias.
      int types = Weight("token_type_embedding", {d_}, false);
      g_.weights[types].parts = static_cast<int>(spec_.embeddings.token_types);
      x = Emit(g_.body, ir::OpKind::kAddBias, "x.type", {t_, d_}, {x}, {types});
    }
    if (spec_.embeddings.scale != 1.0) {
      x = Emit(g_.body, ir::OpKind::kScale, "x.scaled", {t_, d_}, {x}, {},
               {{"factor", spec_.embeddings.scale}});
    }
    if (spec_.position.kind == PositionKind::kLearned) {
      x = Emit(g_.body, ir::OpKind::kAddPositionEmbedding, "x.pos", {t_, d_}, {x, g_.positions},
               {Weight("position_embedding", {max_seq_len_, d_}, false)});
    } else if (spec_.position.kind == PositionKind::kSinusoidal) {
      x = Emit(g_.body, ir::OpKind::kAddSinusoidal, "x.pos", {t_, d_}, {x, g_.positions});
    }
    if (spec_.norm.embedding) x = Norm(g_.body, "x.norm", x, "embed_norm", false);

    ir::Op layers{ir::OpKind::kLayers};
    layers.operands = {x};
    layers.body = std::make_unique<ir::Block>();
    int residual = g_.AddValue("h", {t_, d_});
    layers.body->args = {residual};
    layers.body->yield = LowerLayer(*layers.body, residual);
    layers.result = g_.AddValue("x.out", {t_, d_});
    int out = layers.result;
    g_.body.ops.push_back(std::move(layers));

    int last = Emit(g_.body, ir::OpKind::kLastRows, "x.last", {rows_, d_}, {out});
    if (spec_.norm.final_norm) last = Norm(g_.body, "x.final", last, "final_norm", false);
    if (encoder) {  // The last hidden state; the pooler is not lowered yet.
      g_.output = last;
      return std::move(g_);
    }
    int classifier = spec_.embeddings.tied ? embedding : Weight("classifier", {vocab_, d_}, false);
    g_.output = Emit(g_.body, ir::OpKind::kLinear, "logits", {rows_, vocab_}, {last}, {classifier});
    return std::move(g_);
  }

 private:
  bool PreNorm() const { return spec_.norm.placement == NormPlacement::kPre; }

  // One block; returns the residual stream after it. Pre-norm normalizes each
  // sub-block's input; post-norm (Vaswani, GPT-1, BERT) the sum after each
  // residual add.
  int LowerLayer(ir::Block& b, int h) {
    int xb = PreNorm() ? Norm(b, "xb", h, "attn_norm", true) : h;
    h = Emit(b, ir::OpKind::kAdd, "h.att", {t_, d_}, {h, SelfAttention(b, xb)});
    if (!PreNorm()) h = Norm(b, "h.att.norm", h, "attn_norm", true);
    int fb = PreNorm() ? Norm(b, "xb.ffn", h, "ffn_norm", true) : h;
    h = Emit(b, ir::OpKind::kAdd, "h.ffn", {t_, d_}, {h, FeedForward(b, fb)});
    if (!PreNorm()) h = Norm(b, "h.ffn.norm", h, "ffn_norm", true);
    return h;
  }

  int SelfAttention(ir::Block& b, int xb) {
    const auto& a = spec_.attention;
    int q = Linear(b, "q", xb, "wq", q_dim_, d_, a.bias);
    int k = Linear(b, "k", xb, "wk", kv_dim_, d_, a.bias);
    int v = Linear(b, "v", xb, "wv", kv_dim_, d_, a.bias);
    if (spec_.position.kind == PositionKind::kRope) {
      q = Rope(b, q, heads_);
      k = Rope(b, k, kv_heads_);
    }
    int kv =
        Emit(b, ir::OpKind::kKvStore, "kv", {}, {k, v, g_.positions}, {}, {}, {k_cache_, v_cache_});
    g_.values[kv].kind = ir::Value::Kind::kState;
    std::vector<std::pair<std::string, ir::Attr>> attrs = {
        {"heads", ir::DimRef{heads_}},
        {"kv_heads", ir::DimRef{kv_heads_}},
        {"head_dim", ir::DimRef{head_dim_}},
        {"scale", a.scale},
        {"mask", a.causal ? ir::AttentionMask::kCausal : ir::AttentionMask::kNone}};
    if (spec_.position.kind == PositionKind::kAlibi) {
      attrs.emplace_back("position_bias", ir::PositionBias::kAlibi);
    }
    int att = Emit(b, ir::OpKind::kAttention, "att", {t_, q_dim_}, {q, g_.positions, kv}, {},
                   std::move(attrs), {k_cache_, v_cache_});
    return Linear(b, "att.out", att, "wo", d_, q_dim_, a.out_bias);
  }

  int FeedForward(ir::Block& b, int x) {
    const auto& f = spec_.feed_forward;
    int act;
    if (IsGated(f.activation)) {
      int gate = Linear(b, "gate", x, "w_gate", hidden_, d_, f.bias);
      int up = Linear(b, "up", x, "w_up", hidden_, d_, f.bias);
      act = f.activation == Activation::kSwiGlu ? Emit(b, ir::OpKind::kSwiGlu, "hb", {t_, hidden_},
                                                       {gate, up}, {}, {{"beta", f.beta}})
                                                : Emit(b, ir::OpKind::kMul, "hb", {t_, hidden_},
                                                       {Activate(b, gate, f.activation), up});
    } else {
      act = Activate(b, Linear(b, "up", x, "w_up", hidden_, d_, f.bias), f.activation);
    }
    return Linear(b, "ffn.out", act, "w_down", d_, hidden_, f.bias);
  }

  int Activate(ir::Block& b, int x, Activation a) {
    return Emit(b, ir::OpKind::kActivation, g_.values[x].name + ".act", g_.values[x].dims, {x}, {},
                {{"function", ActivationOf(a)}});
  }

  int Linear(ir::Block& b, const std::string& name, int x, const std::string& role, ir::DimId out,
             ir::DimId in, bool bias) {
    std::vector<int> weights = {Weight(role, {out, in}, true)};
    if (bias) weights.push_back(Weight(role + "_bias", {out}, true));
    return Emit(b, ir::OpKind::kLinear, name, {t_, out}, {x}, std::move(weights));
  }

  int Norm(ir::Block& b, const std::string& name, int x, const std::string& role, bool per_layer) {
    const auto& dims = g_.values[x].dims;
    std::vector<int> weights = {Weight(role, {d_}, per_layer)};
    if (spec_.norm.kind == NormKind::kRmsNorm) {
      return Emit(b, ir::OpKind::kRmsNorm, name, dims, {x}, weights, {{"eps", spec_.norm.eps}});
    }
    if (spec_.norm.bias) weights.push_back(Weight(role + "_bias", {d_}, per_layer));
    return Emit(b, ir::OpKind::kLayerNorm, name, dims, {x}, weights, {{"eps", spec_.norm.eps}});
  }

  int Rope(ir::Block& b, int x, ir::DimId heads) {
    const auto& r = spec_.position.rope;
    std::vector<std::pair<std::string, ir::Attr>> attrs = {
        {"heads", ir::DimRef{heads}},
        {"head_dim", ir::DimRef{head_dim_}},
        {"theta", r.theta},
        {"style",
         r.style == RopeStyle::kInterleaved ? ir::RopeStyle::kInterleaved : ir::RopeStyle::kHalf}};
    if (r.scaling != RopeScaling::kNone) {
      attrs.emplace_back("scaling", r.scaling == RopeScaling::kLinear ? ir::RopeScaling::kLinear
                                                                      : ir::RopeScaling::kLlama3);
      attrs.emplace_back("factor", r.factor);
      if (r.scaling == RopeScaling::kLlama3) {
        attrs.emplace_back("low_freq_factor", r.low_freq_factor);
        attrs.emplace_back("high_freq_factor", r.high_freq_factor);
        attrs.emplace_back("original_max_seq_len", static_cast<double>(r.original_max_seq_len));
      }
    }
    return Emit(b, ir::OpKind::kRope, g_.values[x].name + ".rope", g_.values[x].dims,
                {x, g_.positions}, {}, std::move(attrs));
  }

  // The weight for `role`, named and laid out as the checkpoint stores it.
  // Matrices read as stored are kept in the spec's dtype (the matmul kernels
  // widen bf16 and dequantize q8_0 / q4_0 as they load them); vectors, tables
  // read by row (positions; for q8_0 / q4_0 also the token embedding, so a tied
  // classifier stays f32 too) and rearranged weights stay f32.
  int Weight(const std::string& role, std::vector<ir::DimId> dims, bool per_layer) {
    for (size_t i = 0; i < g_.weights.size(); ++i) {
      if (g_.weights[i].role == role) return static_cast<int>(i);
    }
    const bool matrix = dims.size() == 2 && role != "position_embedding";
    int id = g_.AddWeight(role, TensorName(spec_, role), std::move(dims), per_layer);
    ir::Weight& w = g_.weights[id];
    if (!spec_.weights.names.count(role)) {
      const auto& table = rt::LayoutTensors(layout_);
      if (auto it = table.find(role); it != table.end()) {
        w.transposed = it->second.transposed;
        w.parts = it->second.parts;
        w.part = it->second.part;
        w.groups = it->second.per_head ? static_cast<int>(spec_.attention.n_heads) : 1;
      }
    }
    if (matrix && !w.transposed && w.parts == 1) {
      switch (spec_.dtype) {
        case DType::kBF16:
          w.dtype = ir::DType::kBF16;
          break;
        case DType::kQ8_0:
        case DType::kQ4_0:
          if (role != "token_embedding") {
            w.dtype = spec_.dtype == DType::kQ8_0 ? ir::DType::kQ8_0 : ir::DType::kQ4_0;
          }
          break;
        case DType::kF32:
        case DType::kF16:
          break;
      }
    }
    return id;
  }

  int Emit(ir::Block& b, ir::OpKind kind, const std::string& name, std::vector<ir::DimId> dims,
           std::vector<int> operands, std::vector<int> weights = {},
           std::vector<std::pair<std::string, ir::Attr>> attrs = {}, std::vector<int> states = {}) {
    ir::Op op{kind};
    op.operands = std::move(operands);
    op.weights = std::move(weights);
    op.attrs = std::move(attrs);
    op.states = std::move(states);
    op.result = g_.AddValue(name, std::move(dims));
    b.ops.push_back(std::move(op));
    return b.ops.back().result;
  }

  const Spec& spec_;
  ir::Graph g_;
  std::string layout_;
  ir::DimId t_, rows_, ctx_, vocab_, d_, heads_, kv_heads_, head_dim_, q_dim_, kv_dim_, hidden_,
      max_seq_len_;
  int k_cache_, v_cache_;
};

}  // namespace

std::string TensorName(const Spec& spec, const std::string& role) {
  auto given = spec.weights.names.find(role);
  if (given != spec.weights.names.end()) return given->second;
  const auto& table =
      rt::LayoutTensors(NameOf<WeightsLayout>(spec.weights.layout, kWeightsLayoutNames));
  auto known = table.find(role);
  return known != table.end() ? known->second.name : role;
}

std::optional<ir::Graph> Lower(const Spec& spec, Diagnostics& diags) {
  if (!CheckSupported(spec, diags)) return std::nullopt;
  return Lowering(spec).Run();
}

}  // namespace lmc
