// Generated from specs/bert-base.yaml by lmc 0.1.0. Do not edit: change the spec and run lmc.
//
// Compiled once per SIMD target (Highway's foreach_target re-includes this
// file); the runtime picks the best target once per call.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bert_base.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <string>

#include "bert_base.h"
#include "runtime/kernels/rows-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lmc::models::bert_base {
namespace HWY_NAMESPACE {

namespace k = lmc::kernels::HWY_NAMESPACE;

// Runs tokens[0, n) at positions[0, n) (1 <= n <= kChunk; earlier positions
// are in the state) and returns the logits of the last `rows` tokens, [rows, kVocab].
const float* Forward(const Weights& w, State& s, Activations& a, const int* tokens,
                     const int* positions, int n, int rows) {
  k::Embedding(a.x, w.token_embedding, tokens, n, kDModel);
  k::AddBiasRows(a.x, w.token_type_embedding, n, kDModel);
  k::AddPositionEmbeddingRows(a.x, w.position_embedding, positions, n, kDModel);
  k::LayerNormRows(a.x, a.x, w.embed_norm, w.embed_norm_bias, n, kDModel, 1e-12f);
  for (int l = 0; l < kLayers; ++l) {
    const LayerWeights& lw = w.layers[l];
    float* k_cache = s.k_cache.get() + static_cast<size_t>(l) * s.capacity * kKvDim;
    float* v_cache = s.v_cache.get() + static_cast<size_t>(l) * s.capacity * kKvDim;
    k::Linear(a.q, lw.wq, a.x, n, kQDim, kDModel);
    k::AddBiasRows(a.q, lw.wq_bias, n, kQDim);
    k::Linear(a.k, lw.wk, a.x, n, kKvDim, kDModel);
    k::AddBiasRows(a.k, lw.wk_bias, n, kKvDim);
    k::Linear(a.v, lw.wv, a.x, n, kKvDim, kDModel);
    k::AddBiasRows(a.v, lw.wv_bias, n, kKvDim);
    k::KvStore(k_cache, v_cache, a.k, a.v, positions, n, kKvDim);
    k::AttentionRows(a.att, a.q, k_cache, v_cache, positions, n, kHeads, kKvHeads, kHeadDim, 0.125f, /*causal=*/false, nullptr, nullptr, nullptr, s.scores.get());
    k::Linear(a.att_out, lw.wo, a.att, n, kDModel, kQDim);
    k::AddBiasRows(a.att_out, lw.wo_bias, n, kDModel);
    k::AddRows(a.x, a.att_out, n, kDModel);
    k::LayerNormRows(a.x, a.x, lw.attn_norm, lw.attn_norm_bias, n, kDModel, 1e-12f);
    k::Linear(a.up, lw.w_up, a.x, n, kHidden, kDModel);
    k::AddBiasRows(a.up, lw.w_up_bias, n, kHidden);
    k::GeluRows(a.up, a.up, n, kHidden);
    k::Linear(a.att_out, lw.w_down, a.up, n, kDModel, kHidden);
    k::AddBiasRows(a.att_out, lw.w_down_bias, n, kDModel);
    k::AddRows(a.x, a.att_out, n, kDModel);
    k::LayerNormRows(a.x, a.x, lw.ffn_norm, lw.ffn_norm_bias, n, kDModel, 1e-12f);
  }
  // The rows whose logits were asked for: the last `rows` of the chunk.
  std::copy_n(a.x + static_cast<size_t>(n - rows) * kDModel, rows * kDModel, a.att_out);
  return a.att_out;
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::models::bert_base
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "runtime/model/model.h"
#include "runtime/util/error.h"
#include "runtime/weights/checkpoint.h"

namespace lmc::models::bert_base {

HWY_EXPORT(Forward);

void BindWeights(lmc::rt::TensorSource& source, Weights& w) {
  w.token_embedding = source.F32("embeddings.word_embeddings.weight", {kVocab, kDModel});
  w.token_type_embedding = source.F32("embeddings.token_type_embeddings.weight", {kDModel}, {.transposed = false, .parts = 2, .part = 0, .groups = 1});
  w.position_embedding = source.F32("embeddings.position_embeddings.weight", {kMaxSeqLen, kDModel});
  w.embed_norm = source.F32("embeddings.LayerNorm.weight", {kDModel});
  w.embed_norm_bias = source.F32("embeddings.LayerNorm.bias", {kDModel});
  for (int l = 0; l < kLayers; ++l) {
    LayerWeights& lw = w.layers[l];
    const std::string n = std::to_string(l);
    lw.wq = source.F32("encoder.layer." + n + ".attention.self.query.weight", {kQDim, kDModel});
    lw.wq_bias = source.F32("encoder.layer." + n + ".attention.self.query.bias", {kQDim});
    lw.wk = source.F32("encoder.layer." + n + ".attention.self.key.weight", {kKvDim, kDModel});
    lw.wk_bias = source.F32("encoder.layer." + n + ".attention.self.key.bias", {kKvDim});
    lw.wv = source.F32("encoder.layer." + n + ".attention.self.value.weight", {kKvDim, kDModel});
    lw.wv_bias = source.F32("encoder.layer." + n + ".attention.self.value.bias", {kKvDim});
    lw.wo = source.F32("encoder.layer." + n + ".attention.output.dense.weight", {kDModel, kQDim});
    lw.wo_bias = source.F32("encoder.layer." + n + ".attention.output.dense.bias", {kDModel});
    lw.attn_norm = source.F32("encoder.layer." + n + ".attention.output.LayerNorm.weight", {kDModel});
    lw.attn_norm_bias = source.F32("encoder.layer." + n + ".attention.output.LayerNorm.bias", {kDModel});
    lw.w_up = source.F32("encoder.layer." + n + ".intermediate.dense.weight", {kHidden, kDModel});
    lw.w_up_bias = source.F32("encoder.layer." + n + ".intermediate.dense.bias", {kHidden});
    lw.w_down = source.F32("encoder.layer." + n + ".output.dense.weight", {kDModel, kHidden});
    lw.w_down_bias = source.F32("encoder.layer." + n + ".output.dense.bias", {kDModel});
    lw.ffn_norm = source.F32("encoder.layer." + n + ".output.LayerNorm.weight", {kDModel});
    lw.ffn_norm_bias = source.F32("encoder.layer." + n + ".output.LayerNorm.bias", {kDModel});
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

}  // namespace lmc::models::bert_base

namespace lmc::rt {

const ModelInfo& GetModelInfo() {
  static const ModelInfo info{
      .name = "bert-base",
      .spec_path = "specs/bert-base.yaml",
      .spec_yaml = "lmc: 1\n"
    "name: bert-base\n"
    "description: \"BERT-base uncased (Google, 2018)\"\n"
    "family: encoder\n"
    "sizes:\n"
    "  vocab: 30522\n"
    "  d_model: 768\n"
    "  n_layers: 12\n"
    "  max_seq_len: 512\n"
    "attention:\n"
    "  n_heads: 12\n"
    "  causal: false\n"
    "  bias: true\n"
    "norm:\n"
    "  kind: layernorm\n"
    "  placement: post\n"
    "  eps: 1.0e-12\n"
    "  bias: true\n"
    "  final: false\n"
    "  embedding: true\n"
    "feed_forward:\n"
    "  activation: gelu\n"
    "  hidden: 3072\n"
    "  bias: true\n"
    "position:\n"
    "  kind: learned\n"
    "embeddings:\n"
    "  token_types: 2\n"
    "pooler: true\n"
    "tokenizer:\n"
    "  kind: none\n"
    "  pad: 0\n"
    "  unk: 100\n"
    "weights:\n"
    "  format: safetensors\n"
    "  names:\n"
    "    token_embedding: embeddings.word_embeddings.weight\n"
    "    position_embedding: embeddings.position_embeddings.weight\n"
    "    token_type_embedding: embeddings.token_type_embeddings.weight\n"
    "    embed_norm: embeddings.LayerNorm.weight\n"
    "    embed_norm_bias: embeddings.LayerNorm.bias\n"
    "    wq: \"encoder.layer.{layer}.attention.self.query.weight\"\n"
    "    wq_bias: \"encoder.layer.{layer}.attention.self.query.bias\"\n"
    "    wk: \"encoder.layer.{layer}.attention.self.key.weight\"\n"
    "    wk_bias: \"encoder.layer.{layer}.attention.self.key.bias\"\n"
    "    wv: \"encoder.layer.{layer}.attention.self.value.weight\"\n"
    "    wv_bias: \"encoder.layer.{layer}.attention.self.value.bias\"\n"
    "    wo: \"encoder.layer.{layer}.attention.output.dense.weight\"\n"
    "    wo_bias: \"encoder.layer.{layer}.attention.output.dense.bias\"\n"
    "    attn_norm: \"encoder.layer.{layer}.attention.output.LayerNorm.weight\"\n"
    "    attn_norm_bias: \"encoder.layer.{layer}.attention.output.LayerNorm.bias\"\n"
    "    w_up: \"encoder.layer.{layer}.intermediate.dense.weight\"\n"
    "    w_up_bias: \"encoder.layer.{layer}.intermediate.dense.bias\"\n"
    "    w_down: \"encoder.layer.{layer}.output.dense.weight\"\n"
    "    w_down_bias: \"encoder.layer.{layer}.output.dense.bias\"\n"
    "    ffn_norm: \"encoder.layer.{layer}.output.LayerNorm.weight\"\n"
    "    ffn_norm_bias: \"encoder.layer.{layer}.output.LayerNorm.bias\"\n"
    "    pooler: pooler.dense.weight\n"
    "    pooler_bias: pooler.dense.bias\n",
      .vocab_size = models::bert_base::kVocab,
      .output_width = models::bert_base::kDModel,
      .d_model = models::bert_base::kDModel,
      .encoder = true,
      .encoder_decoder = false,
      .max_seq_len = models::bert_base::kMaxSeqLen,
      .chunk = models::bert_base::kChunk,
      .bos = -1,
      .eos = -1,
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
  return std::make_unique<models::bert_base::CompiledModel>();
}

}  // namespace lmc::rt

#endif  // HWY_ONCE
