#include "compiler/driver/inspect_command.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "compiler/support/file_io.h"

namespace lmc {

namespace {

int64_t QDim(const Spec& s) { return s.attention.n_heads * s.attention.head_dim; }
int64_t KvDim(const Spec& s) { return s.attention.n_kv_heads * s.attention.head_dim; }

// Weight matrices one token is multiplied by in one attention block:
// Q, K, V and O (a decoder's cross-attention has the same shapes).
int64_t AttentionMatrixParams(const Spec& s) {
  const int64_t d = s.sizes.d_model;
  return d * QDim(s) + 2 * d * KvDim(s) + QDim(s) * d;
}

int64_t FeedForwardMatrixParams(const Spec& s) {
  const int64_t matrices = IsGated(s.feed_forward.activation) ? 3 : 2;
  return matrices * s.sizes.d_model * s.feed_forward.hidden;
}

// One block: attention (and cross-attention), feed-forward, and a norm per
// sub-block (pre-LN: before it, post-LN: after the residual add).
int64_t BlockParams(const Spec& s, bool cross) {
  const int64_t attention = AttentionParams(s) * (cross ? 2 : 1);
  const int64_t norms = NormParams(s) * (cross ? 3 : 2);
  return attention + FeedForwardParams(s) + norms;
}

struct Stack {
  const char* name;  // "blocks", "encoder blocks", "decoder blocks"
  int64_t layers;
  bool cross;
};

std::vector<Stack> Stacks(const Spec& s) {
  if (s.family == Family::kEncoderDecoder) {
    return {{"encoder", s.sizes.n_layers, false}, {"decoder", s.sizes.n_decoder_layers, true}};
  }
  return {{s.family == Family::kEncoder ? "encoder" : "decoder", s.sizes.n_layers, false}};
}

std::string Grouped(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

// FLOPs per token: 2 per multiply-add of every weight matrix the token goes
// through, plus attention: q.k and p.v over `context` positions, 2 * 2 *
// n_heads * head_dim * context per layer. Norms, activations, softmax and
// RoPE are left out (a few per element of d_model, under 1% at these sizes).
struct Flops {
  double prefill = 0;  // Per prompt token, averaged over a prompt of `context` tokens.
  double decode = 0;   // Per generated token at position `context` (the last).
  bool has_decode = true;
};

Flops CountFlops(const Spec& s) {
  const double c = static_cast<double>(s.sizes.max_seq_len);
  const double score = 4.0 * static_cast<double>(QDim(s));  // Per layer per attended position.
  const double block =
      2.0 * static_cast<double>(AttentionMatrixParams(s) + FeedForwardMatrixParams(s));
  const double classifier =
      2.0 * static_cast<double>(s.sizes.vocab) * static_cast<double>(s.sizes.d_model);
  const double emb_projection = s.embeddings.dim != s.sizes.d_model
                                    ? 2.0 * static_cast<double>(s.embeddings.dim * s.sizes.d_model)
                                    : 0;
  Flops f;
  const double n = static_cast<double>(s.sizes.n_layers);
  if (s.family == Family::kDecoder) {
    // A causal prompt of c tokens: token i attends to i + 1 positions, (c + 1) / 2 on average.
    f.prefill = emb_projection + n * (block + score * (c + 1) / 2) + classifier;
    f.decode = emb_projection + n * (block + score * c) + classifier;
  } else if (s.family == Family::kEncoder) {
    f.prefill = emb_projection + n * (block + score * c);
    f.has_decode = false;
  } else {
    // Encoder tokens: the encoder blocks, then each decoder layer's cross K/V
    // projections of the encoder output (computed once per input).
    const double nd = static_cast<double>(s.sizes.n_decoder_layers);
    const double cross_kv = 2.0 * 2 * static_cast<double>(s.sizes.d_model * KvDim(s));
    f.prefill = emb_projection + n * (block + score * c) + nd * cross_kv;
    // A decoder token: self-attention (all four projections) over c positions,
    // cross-attention (Q and O; K/V are cached) over c encoder tokens.
    const double cross_qo = 2.0 * 2 * static_cast<double>(s.sizes.d_model * QDim(s));
    f.decode = emb_projection + nd * (block + cross_qo + 2 * score * c) + classifier;
  }
  return f;
}

// KV cache as the runtime keeps it: K and V rows of kv_dim per layer, in attention.kv_cache's
// type (q8_0: 34 bytes a block of 32); an encoder-decoder's cross-attention K/V in f32.
struct KvCache {
  int64_t per_token = 0;        // Self-attention K/V per (decoder) token.
  int64_t per_input_token = 0;  // Encoder-decoder: cross-attention K/V per encoder token.
  int64_t at_limit = 0;         // Both, at max_seq_len tokens each.
};

KvCache CountKvCache(const Spec& s) {
  KvCache kv;
  const auto row = static_cast<int64_t>(rt::RowBytes(s.attention.kv_cache, 2 * KvDim(s)));
  const auto cross_row = static_cast<int64_t>(rt::RowBytes(rt::DType::kF32, 2 * KvDim(s)));
  if (s.family == Family::kDecoder) kv.per_token = s.sizes.n_layers * row;
  if (s.family == Family::kEncoderDecoder) {
    kv.per_token = s.sizes.n_decoder_layers * row;
    kv.per_input_token = s.sizes.n_decoder_layers * cross_row;
  }
  kv.at_limit = (kv.per_token + kv.per_input_token) * s.sizes.max_seq_len;
  return kv;
}

std::string Gib(double bytes) { return DescribeBytes(bytes); }

}  // namespace

int64_t TokenEmbeddingParams(const Spec& s) {
  const int64_t dim = s.embeddings.dim;
  // A narrower embedding (embeddings.dim) is projected to d_model by a matrix without bias.
  return s.sizes.vocab * dim + (dim != s.sizes.d_model ? dim * s.sizes.d_model : 0);
}

int64_t TokenTypeParams(const Spec& s) { return s.embeddings.token_types * s.embeddings.dim; }

int64_t PositionParams(const Spec& s, int64_t stack_layers) {
  switch (s.position.kind) {
    case PositionKind::kLearned:
      return s.sizes.max_seq_len * s.sizes.d_model;
    case PositionKind::kT5Relative:
      // One bias per bucket and head, in the stack's first layer, shared by its layers.
      return s.position.t5.num_buckets * s.attention.n_heads;
    case PositionKind::kCope:
      // Per layer, one position embedding [head_dim, max_positions] shared by its heads
      // (Golovneva et al. 2024, the paper's code).
      return stack_layers * s.position.cope.max_positions * s.attention.head_dim;
    case PositionKind::kNone:
    case PositionKind::kSinusoidal:
    case PositionKind::kRope:
    case PositionKind::kAlibi:
      return 0;
  }
  return 0;
}

int64_t AttentionParams(const Spec& s) {
  int64_t biases = s.attention.bias ? QDim(s) + 2 * KvDim(s) : 0;
  if (s.attention.out_bias) biases += s.sizes.d_model;
  return AttentionMatrixParams(s) + biases;
}

int64_t NormParams(const Spec& s) {
  const bool bias = s.norm.kind == NormKind::kLayerNorm && s.norm.bias;
  return s.sizes.d_model * (bias ? 2 : 1);
}

int64_t FeedForwardParams(const Spec& s) {
  int64_t biases = 0;
  if (s.feed_forward.bias) {
    // Gated: gate and up have the hidden width; down has d_model.
    biases = (IsGated(s.feed_forward.activation) ? 2 : 1) * s.feed_forward.hidden + s.sizes.d_model;
  }
  return FeedForwardMatrixParams(s) + biases;
}

int64_t ClassifierParams(const Spec& s) {
  if (s.family == Family::kEncoder || s.embeddings.tied) return 0;
  return s.sizes.vocab * s.sizes.d_model;
}

int64_t PoolerParams(const Spec& s) {
  return s.pooler ? s.sizes.d_model * s.sizes.d_model + s.sizes.d_model : 0;
}

ParameterCount CountParameters(const Spec& s) {
  ParameterCount count;
  auto add = [&](std::string name, int64_t n, std::string detail) {
    if (n == 0) return;
    count.parts.push_back({std::move(name), n, std::move(detail)});
    count.total += n;
  };
  add("token embedding", TokenEmbeddingParams(s),
      fmt::format("vocab {} x {}{}", s.sizes.vocab, s.embeddings.dim,
                  s.embeddings.dim != s.sizes.d_model ? " + projection to d_model" : "") +
          (s.family == Family::kEncoderDecoder ? ", shared by encoder and decoder" : ""));
  add("token types", TokenTypeParams(s),
      fmt::format("{} x {}", s.embeddings.token_types, s.embeddings.dim));
  const auto stacks = Stacks(s);
  const bool per_stack_position = s.position.kind != PositionKind::kNone;
  for (const auto& stack : stacks) {
    std::string prefix = stacks.size() > 1 ? std::string(stack.name) + " " : "";
    if (per_stack_position) {
      const char* what =
          s.position.kind == PositionKind::kT5Relative ? "relative bias" : "positions";
      add(prefix + what, PositionParams(s, stack.layers),
          NameOf<PositionKind>(s.position.kind, kPositionKindNames).data());
    }
    if (s.norm.embedding) add(prefix + "embedding norm", NormParams(s), "");
    const int64_t block = BlockParams(s, stack.cross);
    add(prefix + "blocks", stack.layers * block,
        fmt::format(
            "{} x {}: attention {}{}, feed-forward {}, norms {}", stack.layers, Grouped(block),
            Grouped(AttentionParams(s)),
            stack.cross ? fmt::format(", cross-attention {}", Grouped(AttentionParams(s))) : "",
            Grouped(FeedForwardParams(s)), Grouped(NormParams(s) * (stack.cross ? 3 : 2))));
    if (s.norm.final_norm) add(prefix + "final norm", NormParams(s), "");
  }
  add("pooler", PoolerParams(s), "d_model x d_model + bias");
  add("classifier", ClassifierParams(s), fmt::format("{} x {}", s.sizes.vocab, s.sizes.d_model));
  return count;
}

void PrintInspection(const Spec& s, const std::string& path, bool json, llvm::raw_ostream& out) {
  const ParameterCount params = CountParameters(s);
  const Flops flops = CountFlops(s);
  const KvCache kv = CountKvCache(s);
  const double p = static_cast<double>(params.total);
  const std::string family(NameOf<Family>(s.family, kFamilyNames));
  const std::string dtype(NameOf<rt::DType>(s.dtype, kDTypeNames));
  if (json) {
    nlohmann::ordered_json j;
    j["name"] = s.name;
    j["family"] = family;
    j["parameters"] = params.total;
    auto& parts = j["parameter_parts"] = nlohmann::ordered_json::object();
    for (const auto& part : params.parts) parts[part.name] = part.count;
    j["dtype"] = dtype;
    // q8_0 / q4_0: every parameter in blocks of 32 with an f16 scale (an estimate: their
    // vectors and token embedding stay f32).
    j["weight_bytes"] = {{"f32", params.total * 4},
                         {"f16", params.total * 2},
                         {"bf16", params.total * 2},
                         {"q8_0", params.total / 32 * 34},
                         {"q4_0", params.total / 32 * 18}};
    j["context"] = s.sizes.max_seq_len;
    j["flops_per_token"]["prefill"] = flops.prefill;
    if (flops.has_decode) {
      j["flops_per_token"]["decode"] = flops.decode;
    } else {
      j["flops_per_token"]["decode"] = nullptr;
    }
    j["kv_cache"]["bytes_per_token"] = kv.per_token;
    if (s.family == Family::kEncoderDecoder) {
      j["kv_cache"]["cross_bytes_per_encoder_token"] = kv.per_input_token;
    }
    j["kv_cache"]["bytes_at_context_limit"] = kv.at_limit;
    out << j.dump(2) << "\n";
    return;
  }
  out << fmt::format("{} ({}): {}, d_model {}, {} layers{}, vocab {}\n", s.name, path, family,
                     s.sizes.d_model, s.sizes.n_layers,
                     s.family == Family::kEncoderDecoder
                         ? fmt::format(" + {} decoder layers", s.sizes.n_decoder_layers)
                         : "",
                     s.sizes.vocab);
  out << fmt::format("parameters        {:>16}\n", Grouped(params.total));
  for (const auto& part : params.parts) {
    out << fmt::format("  {:<22}{:>16}{}\n", part.name, Grouped(part.count),
                       part.detail.empty() ? "" : "   (" + part.detail + ")");
  }
  out << fmt::format(
      "weights           f32 {}, f16 {}, bf16 {}, q8_0 ~{}, q4_0 ~{} (the spec's dtype: {})\n",
      Gib(4 * p), Gib(2 * p), Gib(2 * p), Gib(p / 32 * 34), Gib(p / 32 * 18), dtype);
  if (rt::IsBlockQuantized(s.dtype)) {
    out << "                  (q8_0 / q4_0 quantize the weight matrices at load, rows padded to\n"
           "                  blocks of 32; norms, biases and the token embedding stay f32)\n";
  }
  const int64_t c = s.sizes.max_seq_len;
  if (s.family == Family::kEncoderDecoder) {
    out << fmt::format(
        "FLOPs per token   encoder {:.4g} (input of {} tokens); decoder {:.4g} (at position {})\n",
        flops.prefill, c, flops.decode, c);
  } else if (flops.has_decode) {
    out << fmt::format(
        "FLOPs per token   prefill {:.4g} (prompt of {} tokens); decode {:.4g} (at position {})\n",
        flops.prefill, c, flops.decode, c);
  } else {
    out << fmt::format("FLOPs per token   {:.4g} (input of {} tokens)\n", flops.prefill, c);
  }
  if (s.family == Family::kEncoder) {
    out << "KV cache          none (an encoder keeps no state between calls)\n";
  } else {
    out << fmt::format(
        "KV cache          {} bytes per token{}; {} at the context limit ({} tokens)\n",
        Grouped(kv.per_token),
        s.family == Family::kEncoderDecoder
            ? fmt::format(" + {} per encoder token (cross-attention)", Grouped(kv.per_input_token))
            : "",
        Gib(static_cast<double>(kv.at_limit)), c);
  }
}

}  // namespace lmc
