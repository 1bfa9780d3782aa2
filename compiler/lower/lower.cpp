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
  refuse(spec.family == Family::kDecoder && !spec.attention.causal, "attention.causal",
         "a decoder with bidirectional attention");
  const PositionKind position = spec.position.kind;
  refuse(position == PositionKind::kCope && spec.family != Family::kDecoder, "position.kind",
         "CoPE in an encoder: its positions count back from the query, so it needs causal "
         "attention");
  refuse(spec.feed_forward.activation == Activation::kSilu && spec.feed_forward.beta != 1.0,
         "feed_forward.beta", "silu with a beta other than 1");
  refuse(spec.embeddings.dim != spec.sizes.d_model, "embeddings.dim",
         "embeddings.dim different from d_model");
  refuse(spec.dtype == rt::DType::kF16, "dtype",
         fmt::format("dtype {}", NameOf<rt::DType>(spec.dtype, kDTypeNames)));
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

// A decoder, an encoder or an encoder-decoder: embeddings (token type, scale,
// learned or sinusoidal positions, then an optional norm), blocks in pre- or
// post-norm order, a final norm, and for a decoder the classifier over the
// requested rows (an encoder returns the hidden states). An encoder-decoder's
// encoder is the module's encode entry; its decoder blocks add cross-attention.
class Lowering {
 public:
  explicit Lowering(const Spec& spec) : spec_(spec) {}

  ir::Graph Run() {
    const auto& a = spec_.attention;
    g_.name = spec_.name;
    const bool encoder_decoder = spec_.family == Family::kEncoderDecoder;
    const bool encoder_only = spec_.family == Family::kEncoder;
    g_.n_layers =
        static_cast<int>(encoder_decoder ? spec_.sizes.n_decoder_layers : spec_.sizes.n_layers);
    // An encoder attends both ways, so its whole input is one chunk.
    const bool whole_input = encoder_only || encoder_decoder;
    t_ = g_.AddDim(
        "T", whole_input ? spec_.sizes.max_seq_len : std::min(kChunk, spec_.sizes.max_seq_len),
        /*dynamic=*/true);
    rows_ = g_.AddDim("R", g_.dims[t_].size, /*dynamic=*/true);
    ctx_ = g_.AddDim("ctx", 0, /*dynamic=*/true);
    if (encoder_decoder) source_ = g_.AddDim("S", g_.dims[t_].size, /*dynamic=*/true);
    vocab_ = g_.AddDim("vocab", spec_.sizes.vocab);
    d_ = g_.AddDim("d_model", spec_.sizes.d_model);
    heads_ = g_.AddDim("heads", a.n_heads);
    kv_heads_ = g_.AddDim("kv_heads", a.n_kv_heads);
    head_dim_ = g_.AddDim("head_dim", a.head_dim);
    q_dim_ = g_.AddDim("q_dim", a.n_heads * a.head_dim);
    kv_dim_ = g_.AddDim("kv_dim", a.n_kv_heads * a.head_dim);
    hidden_ = g_.AddDim("hidden", spec_.feed_forward.hidden);
    max_seq_len_ = g_.AddDim("max_seq_len", spec_.sizes.max_seq_len);
    if (spec_.position.kind == PositionKind::kT5Relative) {
      buckets_ = g_.AddDim("buckets", spec_.position.t5.num_buckets);
    }
    if (spec_.position.kind == PositionKind::kCope) {
      cope_positions_ = g_.AddDim("cope_positions", spec_.position.cope.max_positions);
    }
    layout_ = NameOf<WeightsLayout>(spec_.weights.layout, kWeightsLayoutNames);
    g_.info.family = NameOf<Family>(spec_.family, kFamilyNames);
    g_.info.weights_format = NameOf<WeightsFormat>(spec_.weights.format, kWeightsFormatNames);
    g_.info.tensor_prefix = rt::LayoutOptionalPrefix(layout_);
    g_.info.module_prefix = spec_.weights.prefix;  // Else detected at load, when unambiguous.
    g_.info.tokenizer_kind = NameOf<TokenizerKind>(spec_.tokenizer.kind, kTokenizerKindNames);
    g_.info.tokenizer_file = spec_.tokenizer.file;
    g_.info.bos = spec_.tokenizer.bos;
    g_.info.eos = spec_.tokenizer.eos;
    g_.info.cls = spec_.tokenizer.cls;
    g_.info.sep = spec_.tokenizer.sep;
    g_.info.spec_yaml = spec_.resolved_yaml;
    k_cache_ = g_.AddState("k_cache", {ctx_, kv_dim_}, /*per_layer=*/true);
    v_cache_ = g_.AddState("v_cache", {ctx_, kv_dim_}, /*per_layer=*/true);
    g_.states[k_cache_].dtype = g_.states[v_cache_].dtype = spec_.attention.kv_cache;
    if (encoder_decoder) {
      g_.info.decoder_start = spec_.tokenizer.decoder_start >= 0
                                  ? spec_.tokenizer.decoder_start
                                  : std::max<int64_t>(spec_.tokenizer.pad, 0);
      LowerEncode();
    }

    g_.tokens = g_.AddValue("tokens", {t_}, ir::ValueType::kI32);
    g_.positions = g_.AddValue("positions", {t_}, ir::ValueType::kI32);
    positions_ = g_.positions;
    int out = Stack(g_.body, Embed(g_.body, g_.tokens), encoder_decoder);

    int last = Emit(g_.body, ir::OpKind::kLastRows, "x.last", {rows_, d_}, {out});
    if (spec_.norm.final_norm) last = Norm(g_.body, "x.final", last, "final_norm", false);
    if (encoder_only) {  // The last hidden state, and the pooler's vector beside it.
      g_.output = last;
      if (spec_.pooler) g_.pooled = Pooler(out);
      return std::move(g_);
    }
    // A decoder's embeddings: the state the classifier reads, returned instead of the logits.
    if (!encoder_decoder) g_.hidden = last;
    if (spec_.embeddings.output_scale != 1.0) {
      last = Emit(g_.body, ir::OpKind::kScale, "x.scaled", {rows_, d_}, {last}, {},
                  {ir::AttrOf(ir::attr::kFactor, spec_.embeddings.output_scale)});
    }
    // A tied classifier reads the token embedding's tensor: in a quantized build as a matrix
    // of its own (the classifier's dtype, converted at load unless the file stores it so), as
    // llama.cpp's files store output.weight, while the embedding's rows stay f32 to gather.
    const bool tied = spec_.embeddings.tied;
    int classifier = tied && rt::IsBlockQuantized(spec_.dtype)
                         ? Weight("tied_classifier", {vocab_, d_}, false, "token_embedding")
                         : Weight(tied ? "token_embedding" : "classifier", {vocab_, d_}, false);
    g_.output = Emit(g_.body, ir::OpKind::kLinear, "logits", {rows_, vocab_}, {last}, {classifier});
    return std::move(g_);
  }

 private:
  // The encode entry: the encoder stack over the source, its final norm, then
  // each decoder layer's cross-attention K/V of the result into the state.
  void LowerEncode() {
    ir::EncodeEntry& e = g_.encode;
    g_.n_encoder_layers = static_cast<int>(spec_.sizes.n_layers);
    enc_k_cache_ = g_.AddState("enc_k_cache", {source_, kv_dim_}, true);
    enc_v_cache_ = g_.AddState("enc_v_cache", {source_, kv_dim_}, true);
    g_.states[enc_k_cache_].encoder = g_.states[enc_v_cache_].encoder = true;
    cross_k_ = g_.AddState("cross_k", {source_, kv_dim_}, true);
    cross_v_ = g_.AddState("cross_v", {source_, kv_dim_}, true);
    e.tokens = g_.AddValue("src", {t_}, ir::ValueType::kI32);
    e.positions = g_.AddValue("src_positions", {t_}, ir::ValueType::kI32);
    positions_ = e.positions;
    encoder_ = true;
    int memory = Stack(e.body, Embed(e.body, e.tokens), false);
    if (spec_.norm.final_norm) memory = Norm(e.body, "memory", memory, "final_norm", false);
    encoder_ = false;

    ir::Op layers{ir::OpKind::kLayers};
    layers.operands = {memory};
    layers.body = std::make_unique<ir::Block>();
    int arg = g_.AddValue("m", {t_, d_});
    layers.body->args = {arg};
    const bool bias = spec_.attention.bias;
    int k = Linear(*layers.body, "cross.k", arg, "cross_wk", kv_dim_, d_, bias);
    int v = Linear(*layers.body, "cross.v", arg, "cross_wv", kv_dim_, d_, bias);
    int kv = Emit(*layers.body, ir::OpKind::kKvStore, "cross.kv", {}, {k, v, e.positions}, {}, {},
                  {cross_k_, cross_v_});
    g_.values[kv].kind = ir::Value::Kind::kState;
    layers.body->yield = arg;
    layers.result = g_.AddValue("memory.out", {t_, d_});
    e.output = layers.result;
    e.body.ops.push_back(std::move(layers));
  }

  // Token embeddings (token type, scale, learned or sinusoidal positions, then
  // an optional norm) of `tokens` at the current entry's positions.
  int Embed(ir::Block& b, int tokens) {
    int x = Emit(b, ir::OpKind::kEmbedding, "x", {t_, d_}, {tokens},
                 {Weight("token_embedding", {vocab_, d_}, false)});
    if (spec_.embeddings.token_types > 0) {
      // Every token is of type 0 (one segment): its row is a bias.
      int types = Weight("token_type_embedding", {d_}, false);
      g_.weights[types].parts = static_cast<int>(spec_.embeddings.token_types);
      x = Emit(b, ir::OpKind::kAddBias, "x.type", {t_, d_}, {x}, {types});
    }
    if (spec_.embeddings.scale != 1.0) {
      x = Emit(b, ir::OpKind::kScale, "x.scaled", {t_, d_}, {x}, {},
               {ir::AttrOf(ir::attr::kFactor, spec_.embeddings.scale)});
    }
    if (spec_.position.kind == PositionKind::kLearned) {
      x = Emit(b, ir::OpKind::kAddPositionEmbedding, "x.pos", {t_, d_}, {x, positions_},
               {Weight("position_embedding", {max_seq_len_, d_}, false)});
    } else if (spec_.position.kind == PositionKind::kSinusoidal) {
      x = Emit(b, ir::OpKind::kAddSinusoidal, "x.pos", {t_, d_}, {x, positions_});
    }
    if (spec_.norm.embedding) x = Norm(b, "x.norm", x, "embed_norm", false);
    return x;
  }

  // The layers of the current stack over x; returns the residual stream after
  // the last. `cross`: each layer also attends to the encoder's output.
  int Stack(ir::Block& b, int x, bool cross) {
    ir::Op layers{ir::OpKind::kLayers};
    if (encoder_) layers.attrs.push_back(ir::AttrOf(ir::attr::kStack, ir::LayerStack::kEncoder));
    layers.operands = {x};
    layers.body = std::make_unique<ir::Block>();
    int residual = g_.AddValue("h", {t_, d_});
    layers.body->args = {residual};
    layers.body->yield = LowerLayer(*layers.body, residual, cross);
    layers.result = g_.AddValue("x.out", {t_, d_});
    int out = layers.result;
    b.ops.push_back(std::move(layers));
    return out;
  }

  bool PreNorm() const { return spec_.norm.placement == NormPlacement::kPre; }

  // One block; returns the residual stream after it. Pre-norm normalizes each
  // sub-block's input; post-norm (Vaswani, GPT-1, BERT) the sum after each
  // residual add.
  int LowerLayer(ir::Block& b, int h, bool cross) {
    int xb = PreNorm() ? Norm(b, "xb", h, "attn_norm", true) : h;
    h = Emit(b, ir::OpKind::kAdd, "h.att", {t_, d_}, {h, SelfAttention(b, xb)});
    if (!PreNorm()) h = Norm(b, "h.att.norm", h, "attn_norm", true);
    if (cross) {
      int cb = PreNorm() ? Norm(b, "xb.cross", h, "cross_norm", true) : h;
      h = Emit(b, ir::OpKind::kAdd, "h.cross", {t_, d_}, {h, CrossAttention(b, cb)});
      if (!PreNorm()) h = Norm(b, "h.cross.norm", h, "cross_norm", true);
    }
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
    const int k_cache = encoder_ ? enc_k_cache_ : k_cache_;
    const int v_cache = encoder_ ? enc_v_cache_ : v_cache_;
    int kv =
        Emit(b, ir::OpKind::kKvStore, "kv", {}, {k, v, positions_}, {}, {}, {k_cache, v_cache});
    g_.values[kv].kind = ir::Value::Kind::kState;
    std::vector<std::pair<std::string, ir::Attr>> attrs = {
        ir::AttrOf(ir::attr::kHeads, ir::DimRef{heads_}),
        ir::AttrOf(ir::attr::kKvHeads, ir::DimRef{kv_heads_}),
        ir::AttrOf(ir::attr::kHeadDim, ir::DimRef{head_dim_}),
        ir::AttrOf(ir::attr::kScale, a.scale),
        // An encoder-decoder's encoder attends both ways.
        ir::AttrOf(ir::attr::kMask,
                   a.causal && !encoder_ ? ir::AttentionMask::kCausal : ir::AttentionMask::kNone)};
    std::vector<int> table;
    if (spec_.position.kind == PositionKind::kAlibi) {
      attrs.push_back(ir::AttrOf(ir::attr::kPositionBias, ir::PositionBias::kAlibi));
    } else if (spec_.position.kind == PositionKind::kT5Relative) {
      // One table per stack, stored with its first layer and used by all.
      attrs.push_back(ir::AttrOf(ir::attr::kPositionBias, ir::PositionBias::kT5Relative));
      attrs.push_back(
          ir::AttrOf(ir::attr::kNumBuckets, static_cast<double>(spec_.position.t5.num_buckets)));
      attrs.push_back(
          ir::AttrOf(ir::attr::kMaxDistance, static_cast<double>(spec_.position.t5.max_distance)));
      table.push_back(Weight("relative_bias", {buckets_, heads_}, false));
    } else if (spec_.position.kind == PositionKind::kCope) {
      attrs.push_back(ir::AttrOf(ir::attr::kPositionBias, ir::PositionBias::kCope));
      table.push_back(Weight("cope", {head_dim_, cope_positions_}, true));
    }
    int att = Emit(b, ir::OpKind::kAttention, "att", {t_, q_dim_}, {q, positions_, kv},
                   std::move(table), std::move(attrs), {k_cache, v_cache});
    return Linear(b, "att.out", att, "wo", d_, q_dim_, a.out_bias);
  }

  // Queries from the decoder over the encoder's K/V, which encode stored.
  int CrossAttention(ir::Block& b, int xb) {
    const auto& a = spec_.attention;
    int q = Linear(b, "cross.q", xb, "cross_wq", q_dim_, d_, a.bias);
    int att = Emit(b, ir::OpKind::kCrossAttention, "cross.att", {t_, q_dim_}, {q}, {},
                   {ir::AttrOf(ir::attr::kHeads, ir::DimRef{heads_}),
                    ir::AttrOf(ir::attr::kKvHeads, ir::DimRef{kv_heads_}),
                    ir::AttrOf(ir::attr::kHeadDim, ir::DimRef{head_dim_}),
                    ir::AttrOf(ir::attr::kScale, a.scale)},
                   {cross_k_, cross_v_});
    return Linear(b, "cross.out", att, "cross_wo", d_, q_dim_, a.out_bias);
  }

  int FeedForward(ir::Block& b, int x) {
    const auto& f = spec_.feed_forward;
    int act;
    if (IsGated(f.activation)) {
      int gate = Linear(b, "gate", x, "w_gate", hidden_, d_, f.bias);
      int up = Linear(b, "up", x, "w_up", hidden_, d_, f.bias);
      act = f.activation == Activation::kSwiGlu
                ? Emit(b, ir::OpKind::kSwiGlu, "hb", {t_, hidden_}, {gate, up}, {},
                       {ir::AttrOf(ir::attr::kBeta, f.beta)})
                : Emit(b, ir::OpKind::kMul, "hb", {t_, hidden_},
                       {Activate(b, gate, f.activation), up});
    } else {
      act = Activate(b, Linear(b, "up", x, "w_up", hidden_, d_, f.bias), f.activation);
    }
    return Linear(b, "ffn.out", act, "w_down", d_, hidden_, f.bias);
  }

  // BERT's pooler: tanh(W h[0] + b) on the first token's final state.
  int Pooler(int out) {
    ir::DimId one = g_.AddDim("one", 1);
    int first = Emit(g_.body, ir::OpKind::kFirstRow, "x.first", {one, d_}, {out});
    if (spec_.norm.final_norm) first = Norm(g_.body, "x.first.final", first, "final_norm", false);
    int dense = Emit(g_.body, ir::OpKind::kLinear, "pooler", {one, d_}, {first},
                     {Weight("pooler", {d_, d_}, false), Weight("pooler_bias", {d_}, false)});
    return Emit(g_.body, ir::OpKind::kActivation, "pooled", {one, d_}, {dense}, {},
                {ir::AttrOf(ir::attr::kFunction, ir::Activation::kTanh)});
  }

  int Activate(ir::Block& b, int x, Activation a) {
    return Emit(b, ir::OpKind::kActivation, g_.values[x].name + ".act", g_.values[x].dims, {x}, {},
                {ir::AttrOf(ir::attr::kFunction, ActivationOf(a))});
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
      return Emit(b, ir::OpKind::kRmsNorm, name, dims, {x}, weights,
                  {ir::AttrOf(ir::attr::kEps, spec_.norm.eps)});
    }
    if (spec_.norm.bias) weights.push_back(Weight(role + "_bias", {d_}, per_layer));
    return Emit(b, ir::OpKind::kLayerNorm, name, dims, {x}, weights,
                {ir::AttrOf(ir::attr::kEps, spec_.norm.eps)});
  }

  int Rope(ir::Block& b, int x, ir::DimId heads) {
    const auto& r = spec_.position.rope;
    std::vector<std::pair<std::string, ir::Attr>> attrs = {
        ir::AttrOf(ir::attr::kHeads, ir::DimRef{heads}),
        ir::AttrOf(ir::attr::kHeadDim, ir::DimRef{head_dim_}),
        ir::AttrOf(ir::attr::kTheta, r.theta),
        {"style",
         r.style == RopeStyle::kInterleaved ? ir::RopeStyle::kInterleaved : ir::RopeStyle::kHalf}};
    if (r.scaling != RopeScaling::kNone) {
      attrs.push_back(ir::AttrOf(
          ir::attr::kScaling, r.scaling == RopeScaling::kLinear   ? ir::RopeScaling::kLinear
                              : r.scaling == RopeScaling::kLlama3 ? ir::RopeScaling::kLlama3
                                                                  : ir::RopeScaling::kDynamicNtk));
      attrs.push_back(ir::AttrOf(ir::attr::kFactor, r.factor));
      if (r.scaling == RopeScaling::kLlama3) {
        attrs.push_back(ir::AttrOf(ir::attr::kLowFreqFactor, r.low_freq_factor));
        attrs.push_back(ir::AttrOf(ir::attr::kHighFreqFactor, r.high_freq_factor));
      }
      if (r.scaling != RopeScaling::kLinear) {
        attrs.push_back(
            ir::AttrOf(ir::attr::kOriginalMaxSeqLen, static_cast<double>(r.original_max_seq_len)));
      }
    }
    if (r.dims != 0 && r.dims != spec_.attention.head_dim) {
      attrs.push_back(
          ir::AttrOf(ir::attr::kRotaryDims, ir::DimRef{g_.AddDim("rotary_dims", r.dims)}));
    }
    return Emit(b, ir::OpKind::kRope, g_.values[x].name + ".rope", g_.values[x].dims,
                {x, positions_}, {}, std::move(attrs));
  }

  // The weight for `role`, named and laid out as the checkpoint stores it.
  // Matrices read as stored are kept in the spec's dtype (the matmul kernels
  // widen bf16 and dequantize q8_0 / q4_0 as they load them); vectors, tables
  // read by row (positions; for q8_0 / q4_0 also the token embedding, so a tied
  // classifier reads it as a matrix of its own) and rearranged weights stay f32. The
  // encoder stack of an encoder-decoder prefixes its own roles (enc_wq,
  // enc_final_norm); the embeddings are shared. `stored_role`: the role whose tensor
  // (name, layout, stored dtype) this one reads, when not its own.
  int Weight(std::string role, std::vector<ir::DimId> dims, bool per_layer,
             std::string stored_role = "") {
    if (encoder_ && (per_layer || role.starts_with("final_norm") || role == "relative_bias")) {
      role = kEncoderRolePrefix + role;
    }
    for (size_t i = 0; i < g_.weights.size(); ++i) {
      if (g_.weights[i].role == role) return static_cast<int>(i);
    }
    if (stored_role.empty()) stored_role = role;
    const bool matrix = dims.size() == 2 && role != "position_embedding" &&
                        !role.ends_with("relative_bias") && role != "cope";
    std::string tensor = TensorName(spec_, stored_role);
    // A per-layer role the layout does not name gets a name per layer.
    if (per_layer && tensor.find("{layer}") == std::string::npos) {
      tensor = "layers.{layer}." + role;
    }
    int id = g_.AddWeight(role, std::move(tensor), std::move(dims), per_layer);
    ir::Weight& w = g_.weights[id];
    w.encoder = per_layer && encoder_;
    if (StoredAsLayoutSays(stored_role)) {
      const auto& table = rt::LayoutTensors(layout_);
      if (auto it = table.find(stored_role); it != table.end()) {
        w.transposed = it->second.transposed;
        w.parts = it->second.parts;
        w.part = it->second.part;
        w.groups = it->second.per_head ? static_cast<int>(spec_.attention.n_heads) : 1;
      }
    }
    // Matrices read as stored keep the spec's dtype: bf16 ones, and quantized
    // ones but the token embedding (rows gathered, not multiplied).
    const bool stored = spec_.dtype == rt::DType::kBF16 ||
                        (rt::IsBlockQuantized(spec_.dtype) && role != "token_embedding");
    if (matrix && !w.transposed && w.parts == 1 && stored) w.dtype = spec_.dtype;
    // weights.dtypes: the matrix as the file stores it, read in place (the token embedding's
    // rows dequantized as they are gathered).
    if (auto given = spec_.weights.dtypes.find(stored_role);
        given != spec_.weights.dtypes.end() && matrix && !w.transposed && w.parts == 1) {
      const std::vector<rt::DType>& dtypes = given->second;
      w.dtype = dtypes[0];
      if (per_layer &&
          std::adjacent_find(dtypes.begin(), dtypes.end(),
                             [](rt::DType a, rt::DType b) { return a != b; }) != dtypes.end()) {
        w.layer_dtypes = dtypes;
      }
    }
    return id;
  }

  // Whether `role`'s tensor is transposed or split as the layout stores it: a role
  // weights.names does not rename, or one the layout fuses with others (q, k and v in
  // one in_proj) that is renamed together with all of them, to one tensor.
  bool StoredAsLayoutSays(const std::string& role) const {
    auto given = spec_.weights.names.find(role);
    if (given == spec_.weights.names.end()) return true;
    const auto& table = rt::LayoutTensors(layout_);
    auto stored = table.find(role);
    if (stored == table.end() || stored->second.parts == 1) return false;
    for (const auto& [other, tensor] : table) {
      if (tensor.name != stored->second.name) continue;
      auto named = spec_.weights.names.find(other);
      if (named == spec_.weights.names.end() || named->second != given->second) return false;
    }
    return true;
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
  ir::DimId t_, rows_, ctx_, source_ = -1, vocab_, d_, heads_, kv_heads_, head_dim_, q_dim_,
                             kv_dim_, hidden_, max_seq_len_, buckets_ = -1, cope_positions_ = -1;
  int k_cache_, v_cache_, enc_k_cache_ = -1, enc_v_cache_ = -1, cross_k_ = -1, cross_v_ = -1;
  int positions_ = -1;    // The positions of the entry being lowered.
  bool encoder_ = false;  // Lowering an encoder-decoder's encoder stack.
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
