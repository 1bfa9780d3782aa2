#include "compiler/spec/validate_spec.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "compiler/spec/chat_template_field.h"
#include "compiler/support/file_io.h"
#include "runtime/weights/quant.h"

namespace lmc {

namespace {

class Validator {
 public:
  Validator(const Spec& spec, Diagnostics& diags) : spec_(spec), diags_(diags) {}

  // Reports at the first of `paths` the spec actually gives.
  void Error(std::initializer_list<const char*> paths, const std::string& message) {
    Location at;
    for (const char* path : paths) {
      if (spec_.Given(path)) {
        at = spec_.Where(path);
        break;
      }
    }
    diags_.Error(at, message);
  }

  void Run(bool resources) {
    const auto& s = spec_;
    const auto& a = s.attention;
    if (a.n_kv_heads > a.n_heads) {
      Error({"attention.n_kv_heads"},
            fmt::format("attention.n_kv_heads ({}) must not exceed attention.n_heads ({})",
                        a.n_kv_heads, a.n_heads));
    } else if (a.n_heads % a.n_kv_heads != 0) {
      Error({"attention.n_kv_heads"},
            fmt::format("attention.n_heads ({}) must be divisible by attention.n_kv_heads ({})",
                        a.n_heads, a.n_kv_heads));
    }
    if (!s.Given("attention.head_dim") && s.sizes.d_model % a.n_heads != 0) {
      Error({"attention.n_heads"},
            fmt::format("sizes.d_model ({}) is not divisible by attention.n_heads ({}); give "
                        "attention.head_dim explicitly",
                        s.sizes.d_model, a.n_heads));
    }
    if (s.family == Family::kEncoder && a.causal) {
      Error({"attention.causal"}, "an encoder attends both ways: attention.causal must be false");
    }
    if (s.family == Family::kEncoderDecoder && !s.Given("sizes.n_decoder_layers")) {
      Error({"family"}, "an encoder-decoder needs sizes.n_decoder_layers");
    }
    if (s.family != Family::kEncoderDecoder && s.Given("sizes.n_decoder_layers")) {
      Error({"sizes.n_decoder_layers"},
            "sizes.n_decoder_layers is only for family: encoder-decoder (use sizes.n_layers)");
    }

    if (s.embeddings.token_types > 0 && s.family != Family::kEncoder) {
      Error({"embeddings.token_types"},
            "embeddings.token_types (segment embeddings) is only for family: encoder");
    }
    if (s.tokenizer.decoder_start >= 0 && s.family != Family::kEncoderDecoder) {
      Error({"tokenizer.decoder_start"},
            "tokenizer.decoder_start is only for family: encoder-decoder");
    }
    if (s.embeddings.output_scale != 1.0 && s.family == Family::kEncoder) {
      Error({"embeddings.output_scale"},
            "embeddings.output_scale scales the classifier's input: an encoder has none");
    }
    if (s.pooler && s.family != Family::kEncoder) {
      Error({"pooler"}, "pooler is only for family: encoder");
    }

    if (s.norm.kind == NormKind::kRmsNorm && s.norm.bias) {
      Error({"norm.bias"}, "rmsnorm has no bias: norm.bias must be false");
    }

    const auto& f = s.feed_forward;
    if (IsGated(f.activation) && !s.Given("feed_forward.hidden")) {
      Error({"feed_forward.activation"},
            fmt::format("gated activation {} needs feed_forward.hidden (the gate/up width)",
                        NameOf<Activation>(f.activation, kActivationNames)));
    }
    if (s.Given("feed_forward.beta") && f.activation != Activation::kSwiGlu &&
        f.activation != Activation::kSilu) {
      Error({"feed_forward.beta"},
            "feed_forward.beta (swish beta) applies only to silu and swiglu");
    }

    ValidatePosition();

    if (s.embeddings.tied && s.embeddings.dim != s.sizes.d_model) {
      Error({"embeddings.dim", "embeddings.tied"},
            fmt::format("tied embeddings need embeddings.dim ({}) equal to sizes.d_model ({})",
                        s.embeddings.dim, s.sizes.d_model));
    }

    const std::pair<const char*, int64_t> special[] = {
        {"tokenizer.bos", s.tokenizer.bos},
        {"tokenizer.eos", s.tokenizer.eos},
        {"tokenizer.pad", s.tokenizer.pad},
        {"tokenizer.unk", s.tokenizer.unk},
        {"tokenizer.cls", s.tokenizer.cls},
        {"tokenizer.sep", s.tokenizer.sep},
        {"tokenizer.mask", s.tokenizer.mask},
        {"tokenizer.decoder_start", s.tokenizer.decoder_start}};
    for (const auto& [path, id] : special) {
      if (id >= s.sizes.vocab) {
        Error({path},
              fmt::format("{} ({}) must be below sizes.vocab ({})", path, id, s.sizes.vocab));
      }
    }

    if (s.tokenizer.kind == TokenizerKind::kLlama2c) {
      if (s.tokenizer.bos != 1) {
        Error({"tokenizer.bos"}, "llama2c tokenizers have BOS id 1: tokenizer.bos must be 1");
      }
      if (s.tokenizer.eos != 2) {
        Error({"tokenizer.eos"}, "llama2c tokenizers have EOS id 2: tokenizer.eos must be 2");
      }
    }

    // weights.dtypes: a list has one dtype per layer of the role's stack.
    for (const auto& [role, dtypes] : s.weights.dtypes) {
      if (dtypes.size() == 1) continue;
      const bool encoder_stack =
          role.starts_with(kEncoderRolePrefix) || (s.family != Family::kEncoderDecoder);
      const int64_t layers = encoder_stack ? s.sizes.n_layers : s.sizes.n_decoder_layers;
      const std::string base = role.starts_with(kEncoderRolePrefix)
                                   ? role.substr(std::strlen(kEncoderRolePrefix))
                                   : role;
      bool per_layer = false;
      for (const WeightRole& known : kWeightRoles)
        per_layer |= known.name == base && known.per_layer;
      const std::string path = "weights.dtypes." + role;
      if (!per_layer) {
        Error({path.c_str()},
              fmt::format("{} is one tensor: expected one dtype, not a list", path));
      } else if (static_cast<int64_t>(dtypes.size()) != layers) {
        Error({path.c_str()}, fmt::format("{} lists {} dtypes, expected one per layer ({})", path,
                                          dtypes.size(), layers));
      }
    }

    // A GGUF may keep llama2.c's names (lmc quantize --spec from a llama2.c checkpoint).
    const bool llama2c_layout = s.weights.layout == WeightsLayout::kLlama2c;
    if ((s.weights.format == WeightsFormat::kLlama2c && !llama2c_layout) ||
        (s.weights.format == WeightsFormat::kSafetensors && llama2c_layout)) {
      Error(
          {"weights.layout", "weights.format"},
          "weights.layout llama2c goes with weights.format llama2c (or gguf), and only with them");
    }
    if (s.weights.layout == WeightsLayout::kGguf && s.weights.format != WeightsFormat::kGguf) {
      Error({"weights.layout", "weights.format"},
            "weights.layout gguf (llama.cpp's tensor names) goes with weights.format gguf");
    }
    const bool fused_qkv = s.weights.layout == WeightsLayout::kGpt2 ||
                           s.weights.layout == WeightsLayout::kOpenAiGpt ||
                           s.weights.layout == WeightsLayout::kBloom ||
                           s.weights.layout == WeightsLayout::kTorchTransformer;
    if (fused_qkv && s.attention.n_kv_heads != s.attention.n_heads) {
      Error({"attention.n_kv_heads", "weights.layout"},
            fmt::format("weights.layout {} fuses q, k and v in equal parts: attention.n_kv_heads "
                        "must equal n_heads",
                        NameOf<WeightsLayout>(s.weights.layout, kWeightsLayoutNames)));
    }
    for (const auto& [role, name] : s.weights.names) {
      bool per_layer = IsPerLayerRole(role);
      bool has_layer = name.find("{layer}") != std::string::npos;
      std::string path = "weights.names." + role;
      if (per_layer && !has_layer) {
        Error({path.c_str()},
              fmt::format("{} is per layer: its name needs a {{layer}} placeholder", path));
      } else if (!per_layer && has_layer) {
        Error({path.c_str()}, fmt::format("{} is not per layer: remove {{layer}}", path));
      }
    }

    if (s.weights.format == WeightsFormat::kLlama2c) ValidateLlama2cFormat();
    if (resources) ValidateResources();
  }

 private:
  static bool IsPerLayerRole(std::string role) {
    if (role.starts_with(kEncoderRolePrefix)) role = role.substr(std::size(kEncoderRolePrefix) - 1);
    for (const auto& known : kWeightRoles) {
      if (role == known.name) return known.per_layer;
    }
    return false;
  }

  void ValidatePosition() {
    const auto& s = spec_;
    const auto& p = s.position;
    const std::pair<const char*, PositionKind> sections[] = {
        {"position.rope", PositionKind::kRope},
        {"position.t5", PositionKind::kT5Relative},
        {"position.cope", PositionKind::kCope}};
    for (const auto& [path, kind] : sections) {
      if (s.Given(path) && p.kind != kind) {
        Error({path}, fmt::format("{} is only used with position.kind: {}", path,
                                  NameOf<PositionKind>(kind, kPositionKindNames)));
      }
    }
    if (p.kind == PositionKind::kRope && s.attention.head_dim % 2 != 0) {
      if (s.Given("attention.head_dim")) {
        Error({"attention.head_dim"},
              fmt::format("RoPE rotates pairs of dimensions: head_dim ({}) must be even",
                          s.attention.head_dim));
      } else {
        Error({"attention.n_heads", "sizes.d_model", "position.kind"},
              fmt::format("RoPE rotates pairs of dimensions: head_dim (d_model {} / n_heads {} = "
                          "{}) must be even",
                          s.sizes.d_model, s.attention.n_heads, s.attention.head_dim));
      }
    }
    if (s.attention.kv_cache == rt::DType::kQ8_0 &&
        s.attention.head_dim % static_cast<int64_t>(rt::kQuantBlock) != 0) {
      Error({"attention.kv_cache"},
            fmt::format("attention.kv_cache q8_0 stores each head in blocks of 32 values: "
                        "head_dim ({}) must be a multiple of 32",
                        s.attention.head_dim));
    }
    if (s.Given("position.rope.dims") &&
        (p.rope.dims % 2 != 0 || p.rope.dims > s.attention.head_dim)) {
      Error({"position.rope.dims"},
            fmt::format("position.rope.dims ({}) must be even and at most head_dim ({})",
                        p.rope.dims, s.attention.head_dim));
    }
    if (p.kind == PositionKind::kCope && !s.Given("position.cope")) {
      Error({"position.kind"}, "position.kind cope needs position.cope.max_positions");
    }
    const auto& r = p.rope;
    if (r.scaling == RopeScaling::kNone) {
      for (const char* key :
           {"position.rope.factor", "position.rope.low_freq_factor",
            "position.rope.high_freq_factor", "position.rope.original_max_seq_len"}) {
        if (s.Given(key)) Error({key}, fmt::format("{} needs position.rope.scaling", key));
      }
    }
    if (r.scaling == RopeScaling::kDynamicNtk) {
      if (!s.Given("position.rope.original_max_seq_len")) {
        Error({"position.rope.scaling"},
              "dynamic_ntk RoPE scaling needs position.rope.original_max_seq_len (the length "
              "beyond which the base grows)");
      }
      const int64_t turned = r.dims != 0 ? r.dims : s.attention.head_dim;
      if (turned < 4) {
        Error({"position.rope.scaling"},
              fmt::format("dynamic_ntk RoPE scaling needs at least 4 rotated dims, found {} "
                          "(its exponent is dims / (dims - 2))",
                          turned));
      }
    }
    if (r.scaling == RopeScaling::kLlama3) {
      if (!s.Given("position.rope.original_max_seq_len")) {
        Error({"position.rope.scaling"},
              "llama3 RoPE scaling needs position.rope.original_max_seq_len");
      }
      if (r.high_freq_factor <= r.low_freq_factor) {
        Error({"position.rope.high_freq_factor", "position.rope.scaling"},
              "llama3 RoPE scaling needs high_freq_factor > low_freq_factor");
      }
    }
    if (p.kind == PositionKind::kT5Relative && p.t5.max_distance < p.t5.num_buckets) {
      Error({"position.t5.max_distance", "position.t5.num_buckets"},
            fmt::format("position.t5.max_distance ({}) must be at least num_buckets ({})",
                        p.t5.max_distance, p.t5.num_buckets));
    }
  }

  // What the model will need, against the limits of generated code and of a
  // sensible machine, so `lmc check` refuses what `lmc build` or the binary
  // would fail on. Sizes are at most 2^24 each, so products of three fit in
  // an int64 and larger ones are computed in double.
  void ValidateResources() {
    const auto& s = spec_;
    const auto& a = s.attention;
    const double d = static_cast<double>(s.sizes.d_model);
    const double q_dim = static_cast<double>(a.n_heads) * static_cast<double>(a.head_dim);
    const double kv_dim = static_cast<double>(a.n_kv_heads) * static_cast<double>(a.head_dim);
    const double hidden = static_cast<double>(s.feed_forward.hidden);
    const double vocab = static_cast<double>(s.sizes.vocab);
    const double layers = static_cast<double>(s.sizes.n_layers + s.sizes.n_decoder_layers);
    const double emb = static_cast<double>(s.embeddings.dim);
    const double ffn_in = IsGated(s.feed_forward.activation) ? 2 : 1;

    // Every weight tensor is indexed with 32-bit ints by the kernels.
    struct Tensor {
      const char* what;
      double elements;
      std::initializer_list<const char*> paths;
    };
    const Tensor tensors[] = {{"the token embedding (sizes.vocab x embeddings.dim)",
                               vocab * emb,
                               {"sizes.vocab", "embeddings.dim", "sizes.d_model"}},
                              {"the query projection (sizes.d_model x n_heads*head_dim)",
                               d * q_dim,
                               {"attention.head_dim", "attention.n_heads", "sizes.d_model"}},
                              {"the key/value projections (sizes.d_model x n_kv_heads*head_dim)",
                               d * kv_dim,
                               {"attention.head_dim", "attention.n_kv_heads", "sizes.d_model"}},
                              {"a feed-forward matrix (sizes.d_model x feed_forward.hidden)",
                               d * hidden,
                               {"feed_forward.hidden", "sizes.d_model"}},
                              {"the output projection (sizes.vocab x sizes.d_model)",
                               vocab * d,
                               {"sizes.vocab", "sizes.d_model"}}};
    for (const auto& t : tensors) {
      if (t.elements > kMaxTensorElements) {
        Error(t.paths, fmt::format("{} would have {:.0f} elements; a tensor has at most {} "
                                   "(2^31 - 1, 32-bit indexing)",
                                   t.what, t.elements, kMaxTensorElements));
        return;
      }
    }

    const double per_layer = d * (2 * q_dim + 2 * kv_dim) + (ffn_in + 1) * d * hidden + 4 * d;
    const double weight_bytes =
        4 * (vocab * emb + (s.embeddings.tied ? 0 : vocab * d) + layers * per_layer + d);
    if (weight_bytes > kMaxWeightBytes) {
      Error({"sizes.n_layers", "sizes.d_model"},
            fmt::format("the weights would take {} as f32 (sizes.n_layers {}, sizes.d_model {}, "
                        "feed_forward.hidden {}, sizes.vocab {}); the limit is {}",
                        DescribeBytes(weight_bytes), s.sizes.n_layers, s.sizes.d_model,
                        s.feed_forward.hidden, s.sizes.vocab, DescribeBytes(kMaxWeightBytes)));
    }

    // Activations of one token (the model's State without its KV cache).
    const double seq = static_cast<double>(s.sizes.max_seq_len);
    const double activation_bytes =
        4 * (4 * d + 2 * hidden + q_dim + 2 * kv_dim + vocab + emb + seq);
    if (activation_bytes > kMaxActivationBytes) {
      Error({"sizes.max_seq_len", "feed_forward.hidden", "sizes.vocab"},
            fmt::format("the activations of one token would take {:.0f} bytes (sizes.d_model {}, "
                        "feed_forward.hidden {}, sizes.vocab {}, sizes.max_seq_len {}); the "
                        "limit is {:.0f} bytes ({})",
                        activation_bytes, s.sizes.d_model, s.feed_forward.hidden, s.sizes.vocab,
                        s.sizes.max_seq_len, kMaxActivationBytes,
                        DescribeBytes(kMaxActivationBytes)));
    }

    // The KV cache at the default context a model binary allocates.
    const int64_t ctx = std::min<int64_t>(s.sizes.max_seq_len, kDefaultContext);
    const double value_bytes = KvCacheBytesPerValue(a.kv_cache);
    const double kv_bytes = layers * 2 * kv_dim * static_cast<double>(ctx) * value_bytes;
    if (kv_bytes > kMaxKvCacheBytes) {
      Error({"sizes.n_layers", "attention.n_kv_heads", "attention.head_dim", "sizes.d_model",
             "attention.kv_cache"},
            fmt::format("the KV cache at the default context of {} tokens (min(sizes.max_seq_len, "
                        "{})) would take {} (layers {} x 2 x n_kv_heads {} x head_dim {} x {} x {} "
                        "bytes, attention.kv_cache {}); the limit is {}",
                        ctx, kDefaultContext, DescribeBytes(kv_bytes),
                        s.sizes.n_layers + s.sizes.n_decoder_layers, a.n_kv_heads, a.head_dim, ctx,
                        value_bytes, rt::DTypeName(a.kv_cache), DescribeBytes(kMaxKvCacheBytes)));
    }
  }

  // llama2.c checkpoints hold exactly one architecture; say which key breaks it.
  void ValidateLlama2cFormat() {
    const auto& s = spec_;
    auto need = [&](bool ok, std::initializer_list<const char*> paths, const char* what) {
      if (!ok)
        Error(paths,
              fmt::format("weights.format llama2c holds only Llama-style decoders: {}", what));
    };
    need(s.family == Family::kDecoder, {"family"}, "family must be decoder");
    need(s.norm.kind == NormKind::kRmsNorm, {"norm.kind"}, "norm.kind must be rmsnorm");
    need(s.feed_forward.activation == Activation::kSwiGlu, {"feed_forward.activation"},
         "feed_forward.activation must be swiglu");
    need(s.position.kind == PositionKind::kRope, {"position.kind"}, "position.kind must be rope");
    need(!s.attention.bias, {"attention.bias"}, "attention.bias must be false");
    need(!s.feed_forward.bias, {"feed_forward.bias"}, "feed_forward.bias must be false");
    need(s.attention.head_dim == 0 || s.attention.head_dim * s.attention.n_heads == s.sizes.d_model,
         {"attention.head_dim", "attention.n_heads"}, "head_dim * n_heads must equal d_model");
    need(s.weights.names.empty(), {"weights.names"},
         "its tensor names are fixed by the format, so weights.names must be absent");
    need(s.weights.prefix.empty(), {"weights.prefix"},
         "its tensor names are fixed by the format, so weights.prefix must be absent");
  }

  const Spec& spec_;
  Diagnostics& diags_;
};

}  // namespace

bool ValidateSpec(const Spec& spec, Diagnostics& diags, bool resources) {
  int errors_before = diags.error_count();
  Validator(spec, diags).Run(resources);
  ValidateChatTemplate(spec, diags);
  return diags.error_count() == errors_before;
}

}  // namespace lmc
