// Generated from specs/bert-base.yaml by lmc 0.1.0. Do not edit: change the spec and run lmc.
//
// Compiled once per SIMD target (Highway's foreach_target re-includes this
// file); the runtime picks the best target once per call.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bert_base.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <string>

#include "bert_base.h"
#include "runtime/kernels/rows-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lmc::models::bert_base {
namespace HWY_NAMESPACE {

namespace k = lmc::kernels::HWY_NAMESPACE;

// Runs tokens[0, n) at positions[0, n) (1 <= n <= kChunk), segment by segment
// where a sequence's state is read or written (its earlier positions are
// there), and returns the outputs of rows out_rows[0, rows), [rows, width].
const float* Forward(const Weights& w, Activations& a, std::span<const Segment> segments,
                     const int* tokens, const int* positions, int n, const int* out_rows,
                     int rows) {
  k::Embedding(a.x, w.token_embedding, tokens, n, kDModel);
  k::AddBiasRows(a.x, w.token_type_embedding, n, kDModel);
  k::AddPositionEmbeddingRows(a.x, w.position_embedding, positions, n, kDModel);
  k::LayerNormRows(a.x, a.x, w.embed_norm, w.embed_norm_bias, n, kDModel, 1e-12f);
  for (int l = 0; l < kLayers; ++l) {
    const LayerWeights& lw = w.layers[l];
    k::Linear(a.q, lw.wq, a.x, n, kQDim, kDModel);
    k::AddBiasRows(a.q, lw.wq_bias, n, kQDim);
    k::Linear(a.k, lw.wk, a.x, n, kKvDim, kDModel);
    k::AddBiasRows(a.k, lw.wk_bias, n, kKvDim);
    k::Linear(a.v, lw.wv, a.x, n, kKvDim, kDModel);
    k::AddBiasRows(a.v, lw.wv_bias, n, kKvDim);
    for (const Segment& seg : segments) {
      State& s = *seg.state;
      float* k_cache = s.k_cache.get() + static_cast<size_t>(l) * s.capacity * kKvDim;
      float* v_cache = s.v_cache.get() + static_cast<size_t>(l) * s.capacity * kKvDim;
      k::KvStore(k_cache, v_cache, a.k + seg.first * kKvDim, a.v + seg.first * kKvDim, positions + seg.first, seg.n, kKvDim, kHeadDim, s.capacity);
      k::AttentionRows(a.att + seg.first * kQDim, a.q + seg.first * kQDim, k_cache, v_cache, positions + seg.first, seg.n, kHeads, kKvHeads, kHeadDim, s.capacity, 0.125f, /*causal=*/false, nullptr, nullptr, nullptr);
    }
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
  // A pass within a prompt that ends in a later one has no rows to output.
  if (rows == 0) return nullptr;
  // The rows whose outputs were asked for, in order (out_rows[i] >= i).
  for (int i = 0; i < rows; ++i) {
    std::memmove(a.att_out + static_cast<size_t>(i) * kDModel, a.x + static_cast<size_t>(out_rows[i]) * kDModel,
                 sizeof(float) * kDModel);
  }
  std::copy_n(a.x, kDModel, a.x_first);
  k::Linear(a.x, w.pooler, a.x_first, kOne, kDModel, kDModel);
  k::AddBiasRows(a.x, w.pooler_bias, kOne, kDModel);
  k::TanhRows(a.x, a.x, kOne, kDModel);
  return a.att_out;
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::models::bert_base
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "lmc/lmc.h"
#include "runtime/api/open_model.h"
#include "runtime/weights/checkpoint.h"

namespace lmc::models::bert_base {

HWY_EXPORT(Forward);

void BindWeights(lmc::rt::TensorSource& source, Weights& w) {
  w.token_embedding = source.F32("embeddings.word_embeddings.weight", {kVocab, kDModel});
  w.token_type_embedding = source.F32("embeddings.token_type_embeddings.weight", {kDModel}, {.transposed = false, .parts = 2, .part = 0, .groups = 1});
  w.position_embedding = source.F32("embeddings.position_embeddings.weight", {kMaxSeqLen, kDModel});
  w.embed_norm = source.F32("embeddings.LayerNorm.weight", {kDModel});
  w.embed_norm_bias = source.F32("embeddings.LayerNorm.bias", {kDModel});
  w.pooler = source.F32("pooler.dense.weight", {kDModel, kDModel});
  w.pooler_bias = source.F32("pooler.dense.bias", {kDModel});
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

// One sequence: the declared state, sized for its capacity.
class CompiledSession final : public lmc::rt::Session {
 public:
  CompiledSession(const lmc::rt::Model& model, int capacity)
      : lmc::rt::Session(model, capacity) {
    state.Allocate(capacity);
  }
  State state;
};

// The runtime's view of this model: it checks and packs the inputs; this
// class owns the weights and runs forward passes.
class CompiledModel final : public lmc::rt::Model {
 public:
  const lmc::rt::ModelInfo& info() const override { return Info(); }

  void LoadWeights(const std::string& path, lmc::rt::TensorSource::Progress progress) override {
    source_ = lmc::rt::OpenCheckpoint(path, "safetensors", kCheckpointDims);
    if (progress) source_->set_progress(std::move(progress));
    BindWeights(*source_, weights_);
  }

 protected:
  bool loaded() const override { return source_ != nullptr; }

  std::unique_ptr<lmc::rt::Session> MakeSession(int capacity) override {
    return std::make_unique<CompiledSession>(*this, capacity);
  }

  void ForwardChunk(const lmc::rt::Chunk& chunk) override {
    Segment segments[kChunk];
    for (size_t i = 0; i < chunk.segments.size(); ++i) {
      const lmc::rt::ChunkSegment& segment = chunk.segments[i];
      segments[i] = {&static_cast<CompiledSession*>(segment.session)->state,
                     static_cast<size_t>(segment.first), segment.n};
    }
    auto a = activations_.Take();
    const float* out = HWY_DYNAMIC_DISPATCH(Forward)(
        weights_, *a, std::span<const Segment>(segments, chunk.segments.size()), chunk.tokens,
        chunk.positions, chunk.n, chunk.out_rows, chunk.rows);
    for (int i = 0; i < chunk.rows; ++i) {
      std::copy_n(out + static_cast<size_t>(i) * kDModel, kDModel, chunk.out_dest[i]);
    }
    std::copy_n((*a).x, kDModel, chunk.pooled);
  }

 private:
  std::unique_ptr<lmc::rt::TensorSource> source_;
  Weights weights_{};
  lmc::rt::ScratchPool<Activations> activations_;
};

}  // namespace

const lmc::rt::ModelInfo& Info() {
  static const lmc::rt::ModelInfo info{
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
      .vocab_size = kVocab,
      .output_width = kDModel,
      .d_model = kDModel,
      .encoder = true,
      .encoder_decoder = false,
      .max_seq_len = kMaxSeqLen,
      .chunk = kChunk,
      .bos = -1,
      .eos = -1,
      .decoder_start = -1,
      .tokenizer_kind = "none",
      .tokenizer_file = "",
      .weights_format = "safetensors",
      .pooler = true,
      .cls = -1,
      .sep = -1,
      .build_info = kBuildInfo,
      .tokenizer_path = kTokenizerFile,
  };
  return info;
}

std::unique_ptr<lmc::rt::Model> CreateModel() {
  return std::make_unique<CompiledModel>();
}

}  // namespace lmc::models::bert_base

// The C API's entry point (include/lmc/lmc.h).
extern "C" LMC_DECLARE_MODEL(bert_base) {
  return lmc::api::Open(&lmc::models::bert_base::CreateModel, weights_path, options, error);
}

#endif  // HWY_ONCE
