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
  refuse(spec.family != Family::kDecoder, "family",
         fmt::format("family {}", NameOf<Family>(spec.family, kFamilyNames)));
  refuse(spec.norm.kind != NormKind::kRmsNorm, "norm.kind",
         fmt::format("norm.kind {}", NameOf<NormKind>(spec.norm.kind, kNormKindNames)));
  refuse(spec.norm.placement != NormPlacement::kPre, "norm.placement", "norm.placement post");
  refuse(!spec.norm.final_norm, "norm.final", "a decoder without a final norm");
  refuse(spec.feed_forward.activation != Activation::kSwiGlu, "feed_forward.activation",
         fmt::format("feed_forward.activation {}",
                     NameOf<Activation>(spec.feed_forward.activation, kActivationNames)));
  refuse(spec.feed_forward.bias, "feed_forward.bias", "feed-forward biases");
  refuse(spec.attention.bias, "attention.bias", "attention biases");
  refuse(spec.family == Family::kDecoder && !spec.attention.causal, "attention.causal",
         "a decoder with bidirectional attention");
  refuse(spec.position.kind != PositionKind::kRope, "position.kind",
         fmt::format("position.kind {}",
                     NameOf<PositionKind>(spec.position.kind, kPositionKindNames)));
  refuse(
      spec.position.kind == PositionKind::kRope && spec.position.rope.scaling != RopeScaling::kNone,
      "position.rope.scaling",
      fmt::format("RoPE scaling {}",
                  NameOf<RopeScaling>(spec.position.rope.scaling, kRopeScalingNames)));
  refuse(spec.embeddings.scale != 1.0, "embeddings.scale", "scaled token embeddings");
  refuse(spec.embeddings.dim != spec.sizes.d_model, "embeddings.dim",
         "embeddings.dim different from d_model");
  refuse(spec.dtype == DType::kF16, "dtype",
         fmt::format("dtype {}", NameOf<DType>(spec.dtype, kDTypeNames)));
  refuse(spec.weights.format == WeightsFormat::kGguf, "weights.format",
         fmt::format("weights.format {}",
                     NameOf<WeightsFormat>(spec.weights.format, kWeightsFormatNames)));
  refuse(
      spec.tokenizer.kind != TokenizerKind::kLlama2c && spec.tokenizer.kind != TokenizerKind::kNone,
      "tokenizer.kind",
      fmt::format("tokenizer.kind {}",
                  NameOf<TokenizerKind>(spec.tokenizer.kind, kTokenizerKindNames)));
  return diags.error_count() == errors_before;
}

// Tokens per prefill chunk: activations are [kChunk, row] buffers, and every
// matrix-matrix kernel reuses a weight tile across this many tokens.
constexpr int64_t kChunk = 128;

class DecoderLowering {
 public:
  explicit DecoderLowering(const Spec& spec) : spec_(spec) {}

  ir::Graph Run() {
    const auto& a = spec_.attention;
    g_.name = spec_.name;
    g_.n_layers = static_cast<int>(spec_.sizes.n_layers);
    t_ = g_.AddDim("T", std::min(kChunk, spec_.sizes.max_seq_len), /*dynamic=*/true);
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
    g_.AddDim("max_seq_len", spec_.sizes.max_seq_len);
    g_.info.weights_format = NameOf<WeightsFormat>(spec_.weights.format, kWeightsFormatNames);
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
    int final_norm = Weight("final_norm", {d_}, false);
    int normed = Emit(g_.body, ir::OpKind::kRmsNorm, "x.norm", {rows_, d_}, {last}, {final_norm},
                      {{"eps", spec_.norm.eps}});
    int classifier = spec_.embeddings.tied ? embedding : Weight("classifier", {vocab_, d_}, false);
    g_.output =
        Emit(g_.body, ir::OpKind::kLinear, "logits", {rows_, vocab_}, {normed}, {classifier});
    return std::move(g_);
  }

 private:
  // One pre-norm decoder block; returns the residual stream after it.
  int LowerLayer(ir::Block& b, int h) {
    const auto& a = spec_.attention;
    int xb = Emit(b, ir::OpKind::kRmsNorm, "xb", {t_, d_}, {h}, {Weight("attn_norm", {d_}, true)},
                  {{"eps", spec_.norm.eps}});
    int q =
        Emit(b, ir::OpKind::kLinear, "q", {t_, q_dim_}, {xb}, {Weight("wq", {q_dim_, d_}, true)});
    int k =
        Emit(b, ir::OpKind::kLinear, "k", {t_, kv_dim_}, {xb}, {Weight("wk", {kv_dim_, d_}, true)});
    int v =
        Emit(b, ir::OpKind::kLinear, "v", {t_, kv_dim_}, {xb}, {Weight("wv", {kv_dim_, d_}, true)});
    q = Rope(b, q, heads_);
    k = Rope(b, k, kv_heads_);
    int kv =
        Emit(b, ir::OpKind::kKvStore, "kv", {}, {k, v, g_.positions}, {}, {}, {k_cache_, v_cache_});
    g_.values[kv].kind = ir::Value::Kind::kState;
    int att = Emit(b, ir::OpKind::kAttention, "att", {t_, q_dim_}, {q, g_.positions, kv}, {},
                   {{"heads", ir::DimRef{heads_}},
                    {"kv_heads", ir::DimRef{kv_heads_}},
                    {"head_dim", ir::DimRef{head_dim_}},
                    {"scale", a.scale},
                    {"mask", a.causal ? ir::AttentionMask::kCausal : ir::AttentionMask::kNone}},
                   {k_cache_, v_cache_});
    int o = Emit(b, ir::OpKind::kLinear, "att.out", {t_, d_}, {att},
                 {Weight("wo", {d_, q_dim_}, true)});
    h = Emit(b, ir::OpKind::kAdd, "h.att", {t_, d_}, {h, o});

    int fb = Emit(b, ir::OpKind::kRmsNorm, "xb.ffn", {t_, d_}, {h},
                  {Weight("ffn_norm", {d_}, true)}, {{"eps", spec_.norm.eps}});
    int gate = Emit(b, ir::OpKind::kLinear, "gate", {t_, hidden_}, {fb},
                    {Weight("w_gate", {hidden_, d_}, true)});
    int up = Emit(b, ir::OpKind::kLinear, "up", {t_, hidden_}, {fb},
                  {Weight("w_up", {hidden_, d_}, true)});
    int act = Emit(b, ir::OpKind::kSwiGlu, "hb", {t_, hidden_}, {gate, up}, {},
                   {{"beta", spec_.feed_forward.beta}});
    int down = Emit(b, ir::OpKind::kLinear, "ffn.out", {t_, d_}, {act},
                    {Weight("w_down", {d_, hidden_}, true)});
    return Emit(b, ir::OpKind::kAdd, "h.ffn", {t_, d_}, {h, down});
  }

  int Rope(ir::Block& b, int x, ir::DimId heads) {
    const auto& r = spec_.position.rope;
    return Emit(b, ir::OpKind::kRope, g_.values[x].name + ".rope", g_.values[x].dims,
                {x, g_.positions}, {},
                {{"heads", ir::DimRef{heads}},
                 {"head_dim", ir::DimRef{head_dim_}},
                 {"theta", r.theta},
                 {"style", r.style == RopeStyle::kInterleaved ? ir::RopeStyle::kInterleaved
                                                              : ir::RopeStyle::kHalf}});
  }

  // Matrices are kept in the spec's dtype (the matmul kernels widen bf16 as they load it);
  // vectors (norm weights) stay f32.
  int Weight(const std::string& role, std::vector<ir::DimId> dims, bool per_layer) {
    const bool matrix = dims.size() == 2;
    int id = g_.AddWeight(role, TensorName(spec_, role), std::move(dims), per_layer);
    if (matrix && spec_.dtype == DType::kBF16) g_.weights[id].dtype = ir::DType::kBF16;
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
  ir::DimId t_, rows_, ctx_, vocab_, d_, heads_, kv_heads_, head_dim_, q_dim_, kv_dim_, hidden_;
  int k_cache_, v_cache_;
};

}  // namespace

std::string TensorName(const Spec& spec, const std::string& role) {
  auto given = spec.weights.names.find(role);
  if (given != spec.weights.names.end()) return given->second;
  const auto& defaults =
      rt::DefaultTensorNames(NameOf<WeightsFormat>(spec.weights.format, kWeightsFormatNames));
  auto known = defaults.find(role);
  return known != defaults.end() ? known->second : role;
}

std::optional<ir::Graph> Lower(const Spec& spec, Diagnostics& diags) {
  if (!CheckSupported(spec, diags)) return std::nullopt;
  return DecoderLowering(spec).Run();
}

}  // namespace lmc
