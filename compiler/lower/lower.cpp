#include "compiler/lower/lower.h"

#include <fmt/format.h>

namespace lmc {

namespace {

// llama2.c checkpoints carry Meta's Llama tensor names (its export.py).
const std::map<std::string, std::string> kLlama2cNames = {
    {"token_embedding", "tok_embeddings.weight"},
    {"attn_norm", "layers.{layer}.attention_norm.weight"},
    {"wq", "layers.{layer}.attention.wq.weight"},
    {"wk", "layers.{layer}.attention.wk.weight"},
    {"wv", "layers.{layer}.attention.wv.weight"},
    {"wo", "layers.{layer}.attention.wo.weight"},
    {"ffn_norm", "layers.{layer}.ffn_norm.weight"},
    {"w_gate", "layers.{layer}.feed_forward.w1.weight"},
    {"w_down", "layers.{layer}.feed_forward.w2.weight"},
    {"w_up", "layers.{layer}.feed_forward.w3.weight"},
    {"final_norm", "norm.weight"},
    {"classifier", "output.weight"},
};

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
  refuse(spec.dtype != DType::kF32, "dtype",
         fmt::format("dtype {}", NameOf<DType>(spec.dtype, kDTypeNames)));
  refuse(spec.weights.format != WeightsFormat::kLlama2c, "weights.format",
         fmt::format("weights.format {}",
                     NameOf<WeightsFormat>(spec.weights.format, kWeightsFormatNames)));
  refuse(spec.tokenizer.kind != TokenizerKind::kLlama2c, "tokenizer.kind",
         fmt::format("tokenizer.kind {}",
                     NameOf<TokenizerKind>(spec.tokenizer.kind, kTokenizerKindNames)));
  return diags.error_count() == errors_before;
}

class DecoderLowering {
 public:
  explicit DecoderLowering(const Spec& spec) : spec_(spec) {}

  ir::Graph Run() {
    const int64_t d = spec_.sizes.d_model, vocab = spec_.sizes.vocab;
    g_.name = spec_.name;
    int embedding = Weight("token_embedding", {vocab, d}, false);
    int x = Emit(g_.body, ir::OpKind::kEmbedding, "x", {d}, {}, {embedding});

    ir::Op layers{ir::OpKind::kLayers};
    layers.operands = {x};
    layers.attrs = {{"count", spec_.sizes.n_layers}};
    layers.body = std::make_unique<ir::Block>();
    int residual = g_.AddValue("h", {d});
    layers.body->args = {residual};
    layers.body->yield = LowerLayer(*layers.body, residual);
    layers.result = g_.AddValue("x.out", {d});
    int out = layers.result;
    g_.body.ops.push_back(std::move(layers));

    int final_norm = Weight("final_norm", {d}, false);
    int normed = Emit(g_.body, ir::OpKind::kRmsNorm, "x.norm", {d}, {out}, {final_norm},
                      {{"eps", spec_.norm.eps}});
    int classifier = spec_.embeddings.tied ? embedding : Weight("classifier", {vocab, d}, false);
    g_.output = Emit(g_.body, ir::OpKind::kLinear, "logits", {vocab}, {normed}, {classifier});
    return std::move(g_);
  }

 private:
  // One pre-norm decoder block; returns the residual stream after it.
  int LowerLayer(ir::Block& b, int h) {
    const auto& a = spec_.attention;
    const int64_t d = spec_.sizes.d_model, hidden = spec_.feed_forward.hidden;
    const int64_t q_dim = a.n_heads * a.head_dim, kv_dim = a.n_kv_heads * a.head_dim;

    int xb = Emit(b, ir::OpKind::kRmsNorm, "xb", {d}, {h}, {Weight("attn_norm", {d}, true)},
                  {{"eps", spec_.norm.eps}});
    int q = Emit(b, ir::OpKind::kLinear, "q", {q_dim}, {xb}, {Weight("wq", {q_dim, d}, true)});
    int k = Emit(b, ir::OpKind::kLinear, "k", {kv_dim}, {xb}, {Weight("wk", {kv_dim, d}, true)});
    int v = Emit(b, ir::OpKind::kLinear, "v", {kv_dim}, {xb}, {Weight("wv", {kv_dim, d}, true)});
    q = Rope(b, q, a.n_heads);
    k = Rope(b, k, a.n_kv_heads);
    int cache = Emit(b, ir::OpKind::kKvStore, "kv", {}, {k, v}, {}, {}, /*is_cache=*/true);
    int att = Emit(b, ir::OpKind::kAttention, "att", {q_dim}, {q, cache}, {},
                   {{"heads", a.n_heads},
                    {"kv_heads", a.n_kv_heads},
                    {"head_dim", a.head_dim},
                    {"scale", a.scale}});
    int o = Emit(b, ir::OpKind::kLinear, "att.out", {d}, {att}, {Weight("wo", {d, q_dim}, true)});
    h = Emit(b, ir::OpKind::kAdd, "h.att", {d}, {h, o});

    int fb = Emit(b, ir::OpKind::kRmsNorm, "xb.ffn", {d}, {h}, {Weight("ffn_norm", {d}, true)},
                  {{"eps", spec_.norm.eps}});
    int gate =
        Emit(b, ir::OpKind::kLinear, "gate", {hidden}, {fb}, {Weight("w_gate", {hidden, d}, true)});
    int up =
        Emit(b, ir::OpKind::kLinear, "up", {hidden}, {fb}, {Weight("w_up", {hidden, d}, true)});
    int act = Emit(b, ir::OpKind::kSwiGlu, "hb", {hidden}, {gate, up}, {},
                   {{"beta", spec_.feed_forward.beta}});
    int down =
        Emit(b, ir::OpKind::kLinear, "ffn.out", {d}, {act}, {Weight("w_down", {d, hidden}, true)});
    return Emit(b, ir::OpKind::kAdd, "h.ffn", {d}, {h, down});
  }

  int Rope(ir::Block& b, int x, int64_t heads) {
    const auto& r = spec_.position.rope;
    return Emit(b, ir::OpKind::kRope, g_.values[x].name + ".rope", g_.values[x].shape, {x}, {},
                {{"heads", heads},
                 {"head_dim", spec_.attention.head_dim},
                 {"theta", r.theta},
                 {"style", std::string(NameOf<RopeStyle>(r.style, kRopeStyleNames))}});
  }

  int Weight(const std::string& role, std::vector<int64_t> shape, bool per_layer) {
    return g_.AddWeight(role, TensorName(spec_, role), std::move(shape), per_layer);
  }

  int Emit(ir::Block& b, ir::OpKind kind, const std::string& name, std::vector<int64_t> shape,
           std::vector<int> operands, std::vector<int> weights = {},
           std::vector<std::pair<std::string, ir::Attr>> attrs = {}, bool is_cache = false) {
    ir::Op op{kind};
    op.operands = std::move(operands);
    op.weights = std::move(weights);
    op.attrs = std::move(attrs);
    op.result = g_.AddValue(name, std::move(shape), is_cache);
    b.ops.push_back(std::move(op));
    return b.ops.back().result;
  }

  const Spec& spec_;
  ir::Graph g_;
};

}  // namespace

std::string TensorName(const Spec& spec, const std::string& role) {
  auto given = spec.weights.names.find(role);
  if (given != spec.weights.names.end()) return given->second;
  auto known = kLlama2cNames.find(role);
  return known != kLlama2cNames.end() ? known->second : role;
}

std::optional<ir::Graph> Lower(const Spec& spec, Diagnostics& diags) {
  if (!CheckSupported(spec, diags)) return std::nullopt;
  return DecoderLowering(spec).Run();
}

}  // namespace lmc
