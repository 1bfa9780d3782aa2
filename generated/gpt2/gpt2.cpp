// Generated from specs/gpt2.yaml by lmc 0.1.0. Do not edit: change the spec and run lmc.
//
// Compiled once per SIMD target (Highway's foreach_target re-includes this
// file); the runtime picks the best target once per call.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "gpt2.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <string>

#include "gpt2.h"
#include "runtime/kernels/rows-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lmc::models::gpt2 {
namespace HWY_NAMESPACE {

namespace k = lmc::kernels::HWY_NAMESPACE;

// Runs tokens[0, n) at positions[0, n) (1 <= n <= kChunk; earlier positions
// are in the state) and returns the logits of the last `rows` tokens, [rows, kVocab].
const float* Forward(const Weights& w, State& s, Activations& a, const int* tokens,
                     const int* positions, int n, int rows) {
  k::Embedding(a.x, w.token_embedding, tokens, n, kDModel);
  k::AddPositionEmbeddingRows(a.x, w.position_embedding, positions, n, kDModel);
  for (int l = 0; l < kLayers; ++l) {
    const LayerWeights& lw = w.layers[l];
    float* k_cache = s.k_cache.get() + static_cast<size_t>(l) * s.capacity * kKvDim;
    float* v_cache = s.v_cache.get() + static_cast<size_t>(l) * s.capacity * kKvDim;
    k::LayerNormRows(a.xb, a.x, lw.attn_norm, lw.attn_norm_bias, n, kDModel, 1e-05f);
    k::Linear(a.q, lw.wq, a.xb, n, kQDim, kDModel);
    k::AddBiasRows(a.q, lw.wq_bias, n, kQDim);
    k::Linear(a.k, lw.wk, a.xb, n, kKvDim, kDModel);
    k::AddBiasRows(a.k, lw.wk_bias, n, kKvDim);
    k::Linear(a.v, lw.wv, a.xb, n, kKvDim, kDModel);
    k::AddBiasRows(a.v, lw.wv_bias, n, kKvDim);
    k::KvStore(k_cache, v_cache, a.k, a.v, positions, n, kKvDim);
    k::AttentionRows(a.att, a.q, k_cache, v_cache, positions, n, kHeads, kKvHeads, kHeadDim, 0.125f, /*causal=*/true, nullptr, nullptr, nullptr, s.scores.get());
    k::Linear(a.xb, lw.wo, a.att, n, kDModel, kQDim);
    k::AddBiasRows(a.xb, lw.wo_bias, n, kDModel);
    k::AddRows(a.x, a.xb, n, kDModel);
    k::LayerNormRows(a.xb, a.x, lw.ffn_norm, lw.ffn_norm_bias, n, kDModel, 1e-05f);
    k::Linear(a.up, lw.w_up, a.xb, n, kHidden, kDModel);
    k::AddBiasRows(a.up, lw.w_up_bias, n, kHidden);
    k::GeluTanhRows(a.up, a.up, n, kHidden);
    k::Linear(a.xb, lw.w_down, a.up, n, kDModel, kHidden);
    k::AddBiasRows(a.xb, lw.w_down_bias, n, kDModel);
    k::AddRows(a.x, a.xb, n, kDModel);
  }
  // The rows whose logits were asked for: the last `rows` of the chunk.
  std::copy_n(a.x + static_cast<size_t>(n - rows) * kDModel, rows * kDModel, a.xb);
  k::LayerNormRows(a.xb, a.xb, w.final_norm, w.final_norm_bias, rows, kDModel, 1e-05f);
  k::Linear(a.logits, w.token_embedding, a.xb, rows, kVocab, kDModel);
  return a.logits;
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::models::gpt2
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "runtime/model/model.h"
#include "runtime/util/error.h"
#include "runtime/weights/checkpoint.h"

namespace lmc::models::gpt2 {

HWY_EXPORT(Forward);

void BindWeights(lmc::rt::TensorSource& source, Weights& w) {
  w.token_embedding = source.F32("wte.weight", {kVocab, kDModel});
  w.position_embedding = source.F32("wpe.weight", {kMaxSeqLen, kDModel});
  w.final_norm = source.F32("ln_f.weight", {kDModel});
  w.final_norm_bias = source.F32("ln_f.bias", {kDModel});
  for (int l = 0; l < kLayers; ++l) {
    LayerWeights& lw = w.layers[l];
    const std::string n = std::to_string(l);
    lw.attn_norm = source.F32("h." + n + ".ln_1.weight", {kDModel});
    lw.attn_norm_bias = source.F32("h." + n + ".ln_1.bias", {kDModel});
    lw.wq = source.F32("h." + n + ".attn.c_attn.weight", {kQDim, kDModel}, {.transposed = true, .parts = 3, .part = 0, .groups = 1});
    lw.wq_bias = source.F32("h." + n + ".attn.c_attn.bias", {kQDim}, {.transposed = false, .parts = 3, .part = 0, .groups = 1});
    lw.wk = source.F32("h." + n + ".attn.c_attn.weight", {kKvDim, kDModel}, {.transposed = true, .parts = 3, .part = 1, .groups = 1});
    lw.wk_bias = source.F32("h." + n + ".attn.c_attn.bias", {kKvDim}, {.transposed = false, .parts = 3, .part = 1, .groups = 1});
    lw.wv = source.F32("h." + n + ".attn.c_attn.weight", {kKvDim, kDModel}, {.transposed = true, .parts = 3, .part = 2, .groups = 1});
    lw.wv_bias = source.F32("h." + n + ".attn.c_attn.bias", {kKvDim}, {.transposed = false, .parts = 3, .part = 2, .groups = 1});
    lw.wo = source.F32("h." + n + ".attn.c_proj.weight", {kDModel, kQDim}, {.transposed = true, .parts = 1, .part = 0, .groups = 1});
    lw.wo_bias = source.F32("h." + n + ".attn.c_proj.bias", {kDModel});
    lw.ffn_norm = source.F32("h." + n + ".ln_2.weight", {kDModel});
    lw.ffn_norm_bias = source.F32("h." + n + ".ln_2.bias", {kDModel});
    lw.w_up = source.F32("h." + n + ".mlp.c_fc.weight", {kHidden, kDModel}, {.transposed = true, .parts = 1, .part = 0, .groups = 1});
    lw.w_up_bias = source.F32("h." + n + ".mlp.c_fc.bias", {kHidden});
    lw.w_down = source.F32("h." + n + ".mlp.c_proj.weight", {kDModel, kHidden}, {.transposed = true, .parts = 1, .part = 0, .groups = 1});
    lw.w_down_bias = source.F32("h." + n + ".mlp.c_proj.bias", {kDModel});
  }
}

void State::Allocate(int positions) {
  capacity = positions;
  // Not zeroed: pages are touched only as the caches fill.
  k_cache.reset(new float[kLayers * static_cast<size_t>(capacity) * kKvDim]);
  v_cache.reset(new float[kLayers * static_cast<size_t>(capacity) * kKvDim]);
  scores.reset(new float[capacity]);
}

namespace {

const lmc::rt::ModelDims kCheckpointDims{
    .d_model = kDModel,
    .hidden = kHidden,
    .n_layers = kLayers,
    .n_heads = kHeads,
    .n_kv_heads = kKvHeads,
    .head_dim = kHeadDim,
    .vocab = kVocab,
    .max_seq_len = kMaxSeqLen,
    .tied = true,
};

// The runtime's view of this model: checks inputs, owns weights and state.
class CompiledModel final : public lmc::rt::Model {
 public:
  void LoadWeights(const std::string& path) override {
    source_ = lmc::rt::OpenCheckpoint(path, "safetensors", kCheckpointDims);
    source_->set_optional_prefix("transformer.");
    BindWeights(*source_, weights_);
  }

  void Allocate(int capacity) override {
    if (capacity < 1 || capacity > kMaxSeqLen) {
      lmc::rt::Fail("context capacity {} is outside [1, {}]", capacity, kMaxSeqLen);
    }
    state_.Allocate(capacity);
  }

  int capacity() const override { return state_.capacity; }

  const float* Forward(const int* tokens, int n, int start, int rows) override {
    if (!source_) lmc::rt::Fail("no weights loaded");
    if (n < 1 || n > kChunk || rows < 1 || rows > n) {
      lmc::rt::Fail("internal error: {} tokens, {} rows per call", n, rows);
    }
    if (start < 0 || start + n > state_.capacity) {
      lmc::rt::Fail("positions {}..{} are past the context capacity {} (--ctx)", start,
                    start + n - 1, state_.capacity);
    }
    int positions[kChunk];
    for (int i = 0; i < n; ++i) {
      if (tokens[i] < 0 || tokens[i] >= kVocab) {
        lmc::rt::Fail("token id {} is outside the vocabulary [0, {})", tokens[i], kVocab);
      }
      positions[i] = start + i;
    }
    return HWY_DYNAMIC_DISPATCH(Forward)(weights_, state_, *activations_, tokens, positions, n,
                                         rows);
  }

 private:
  std::unique_ptr<lmc::rt::TensorSource> source_;
  Weights weights_{};
  State state_;
  std::unique_ptr<Activations> activations_{new Activations};
};

}  // namespace

}  // namespace lmc::models::gpt2

namespace lmc::rt {

const ModelInfo& GetModelInfo() {
  static const ModelInfo info{
      .name = "gpt2",
      .spec_path = "specs/gpt2.yaml",
      .spec_yaml = "lmc: 1\n"
    "name: gpt2\n"
    "description: \"GPT-2 small (OpenAI, 2019)\"\n"
    "family: decoder\n"
    "sizes:\n"
    "  vocab: 50257\n"
    "  d_model: 768\n"
    "  n_layers: 12\n"
    "  max_seq_len: 1024\n"
    "attention:\n"
    "  n_heads: 12\n"
    "  causal: true\n"
    "  bias: true\n"
    "norm:\n"
    "  kind: layernorm\n"
    "  placement: pre\n"
    "  eps: 1.0e-5\n"
    "  bias: true\n"
    "  final: true\n"
    "feed_forward:\n"
    "  activation: gelu_tanh\n"
    "  hidden: 3072\n"
    "  bias: true\n"
    "position:\n"
    "  kind: learned\n"
    "embeddings:\n"
    "  tied: true\n"
    "tokenizer:\n"
    "  kind: none\n"
    "  bos: 50256\n"
    "  eos: 50256\n"
    "weights:\n"
    "  format: safetensors\n"
    "  layout: gpt2\n",
      .vocab_size = models::gpt2::kVocab,
      .output_width = models::gpt2::kVocab,
      .d_model = models::gpt2::kDModel,
      .encoder = false,
      .encoder_decoder = false,
      .max_seq_len = models::gpt2::kMaxSeqLen,
      .chunk = models::gpt2::kChunk,
      .bos = 50256,
      .eos = 50256,
      .decoder_start = -1,
      .tokenizer_kind = "none",
      .tokenizer_file = "",
      .weights_format = "safetensors",
      .cls = -1,
      .sep = -1,
  };
  return info;
}

std::unique_ptr<Model> CreateModel() {
  return std::make_unique<models::gpt2::CompiledModel>();
}

}  // namespace lmc::rt

#endif  // HWY_ONCE
