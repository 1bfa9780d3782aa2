// Generated from specs/t5-small.yaml by lmc 0.1.0. Do not edit: change the spec and run lmc.
//
// Compiled once per SIMD target (Highway's foreach_target re-includes this
// file); the runtime picks the best target once per call.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "t5_small.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <string>

#include "t5_small.h"
#include "runtime/kernels/rows-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lmc::models::t5_small {
namespace HWY_NAMESPACE {

namespace k = lmc::kernels::HWY_NAMESPACE;

// Runs tokens[0, n) at positions[0, n) (1 <= n <= kChunk), segment by segment
// where a sequence's state is read or written (its earlier positions are
// there), and returns the outputs of rows out_rows[0, rows), [rows, width].
constexpr int kT5Buckets0[] = {31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 26, 26, 26, 26, 26, 26, 26, 26, 25, 25, 25, 25, 25, 25, 25, 24, 24, 24, 24, 24, 24, 23, 23, 23, 23, 23, 23, 22, 22, 22, 22, 22, 21, 21, 21, 21, 20, 20, 20, 20, 19, 19, 19, 18, 18, 18, 17, 17, 16, 16, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
constexpr int kT5Buckets1[] = {15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 11, 11, 11, 11, 11, 11, 11, 11, 11, 10, 10, 10, 10, 10, 10, 10, 9, 9, 9, 9, 8, 8, 8, 8, 7, 6, 5, 4, 3, 2, 1, 0, 17, 18, 19, 20, 21, 22, 23, 24, 24, 24, 24, 25, 25, 25, 25, 26, 26, 26, 26, 26, 26, 26, 27, 27, 27, 27, 27, 27, 27, 27, 27, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31};

// Runs the encoder over source tokens[0, n) at positions[0, n), keeps the
// decoder's cross-attention K/V in the state and returns the encoder's last
// hidden state, [n, kDModel].
const float* Encode(const Weights& w, State& s, Activations& a, const int* tokens,
                    const int* positions, int n) {
  k::Embedding(a.x, w.token_embedding, tokens, n, kDModel);
  for (int l = 0; l < kEncoderLayers; ++l) {
    const EncoderLayerWeights& lw = w.encoder_layers[l];
    float* enc_k_cache = s.enc_k_cache.get() + static_cast<size_t>(l) * kChunk * kKvDim;
    float* enc_v_cache = s.enc_v_cache.get() + static_cast<size_t>(l) * kChunk * kKvDim;
    k::RmsNormRows(a.xb, a.x, lw.enc_attn_norm, n, kDModel, 1e-06f);
    k::Linear(a.q, lw.enc_wq, a.xb, n, kQDim, kDModel);
    k::Linear(a.k, lw.enc_wk, a.xb, n, kKvDim, kDModel);
    k::Linear(a.v, lw.enc_wv, a.xb, n, kKvDim, kDModel);
    k::KvStore(enc_k_cache, enc_v_cache, a.k, a.v, positions, n, kKvDim, kHeadDim, kChunk);
    const lmc::kernels::RelativeBias att_bias{w.enc_relative_bias, kT5Buckets1, 128, kHeads};
    k::AttentionRows(a.att, a.q, enc_k_cache, enc_v_cache, positions, n, kHeads, kKvHeads, kHeadDim, kChunk, 1.0f, /*causal=*/false, nullptr, &att_bias, nullptr);
    k::Linear(a.xb, lw.enc_wo, a.att, n, kDModel, kQDim);
    k::AddRows(a.x, a.xb, n, kDModel);
    k::RmsNormRows(a.xb, a.x, lw.enc_ffn_norm, n, kDModel, 1e-06f);
    k::Linear(a.up, lw.enc_w_up, a.xb, n, kHidden, kDModel);
    k::ReluRows(a.up, a.up, n, kHidden);
    k::Linear(a.xb, lw.enc_w_down, a.up, n, kDModel, kHidden);
    k::AddRows(a.x, a.xb, n, kDModel);
  }
  k::RmsNormRows(a.x, a.x, w.enc_final_norm, n, kDModel, 1e-06f);
  for (int l = 0; l < kLayers; ++l) {
    const LayerWeights& lw = w.layers[l];
    float* cross_k = s.cross_k.get() + static_cast<size_t>(l) * kChunk * kKvDim;
    float* cross_v = s.cross_v.get() + static_cast<size_t>(l) * kChunk * kKvDim;
    k::Linear(a.k, lw.cross_wk, a.x, n, kKvDim, kDModel);
    k::Linear(a.v, lw.cross_wv, a.x, n, kKvDim, kDModel);
    k::KvStore(cross_k, cross_v, a.k, a.v, positions, n, kKvDim, kHeadDim, kChunk);
  }
  return a.x;
}

const float* Forward(const Weights& w, Activations& a, std::span<const Segment> segments,
                     const int* tokens, const int* positions, int n, const int* out_rows,
                     int rows) {
  k::Embedding(a.x, w.token_embedding, tokens, n, kDModel);
  for (int l = 0; l < kLayers; ++l) {
    const LayerWeights& lw = w.layers[l];
    k::RmsNormRows(a.xb, a.x, lw.attn_norm, n, kDModel, 1e-06f);
    k::Linear(a.q, lw.wq, a.xb, n, kQDim, kDModel);
    k::Linear(a.k, lw.wk, a.xb, n, kKvDim, kDModel);
    k::Linear(a.v, lw.wv, a.xb, n, kKvDim, kDModel);
    for (const Segment& seg : segments) {
      State& s = *seg.state;
      float* k_cache = s.k_cache.get() + static_cast<size_t>(l) * s.capacity * kKvDim;
      float* v_cache = s.v_cache.get() + static_cast<size_t>(l) * s.capacity * kKvDim;
      k::KvStore(k_cache, v_cache, a.k + seg.first * kKvDim, a.v + seg.first * kKvDim, positions + seg.first, seg.n, kKvDim, kHeadDim, s.capacity);
      const lmc::kernels::RelativeBias att_bias{w.relative_bias, kT5Buckets0, 128, kHeads};
      k::AttentionRows(a.att + seg.first * kQDim, a.q + seg.first * kQDim, k_cache, v_cache, positions + seg.first, seg.n, kHeads, kKvHeads, kHeadDim, s.capacity, 1.0f, /*causal=*/true, nullptr, &att_bias, nullptr);
    }
    k::Linear(a.xb, lw.wo, a.att, n, kDModel, kQDim);
    k::AddRows(a.x, a.xb, n, kDModel);
    k::RmsNormRows(a.xb, a.x, lw.cross_norm, n, kDModel, 1e-06f);
    k::Linear(a.q, lw.cross_wq, a.xb, n, kQDim, kDModel);
    for (const Segment& seg : segments) {
      State& s = *seg.state;
      float* cross_k = s.cross_k.get() + static_cast<size_t>(l) * kChunk * kKvDim;
      float* cross_v = s.cross_v.get() + static_cast<size_t>(l) * kChunk * kKvDim;
      k::CrossAttentionRows(a.att + seg.first * kQDim, a.q + seg.first * kQDim, cross_k, cross_v, seg.n, s.source_len, kHeads, kKvHeads, kHeadDim, kChunk, 1.0f);
    }
    k::Linear(a.xb, lw.cross_wo, a.att, n, kDModel, kQDim);
    k::AddRows(a.x, a.xb, n, kDModel);
    k::RmsNormRows(a.xb, a.x, lw.ffn_norm, n, kDModel, 1e-06f);
    k::Linear(a.up, lw.w_up, a.xb, n, kHidden, kDModel);
    k::ReluRows(a.up, a.up, n, kHidden);
    k::Linear(a.xb, lw.w_down, a.up, n, kDModel, kHidden);
    k::AddRows(a.x, a.xb, n, kDModel);
  }
  // A pass within a prompt that ends in a later one has no rows to output.
  if (rows == 0) return nullptr;
  // The rows whose outputs were asked for, in order (out_rows[i] >= i).
  for (int i = 0; i < rows; ++i) {
    std::memmove(a.xb + static_cast<size_t>(i) * kDModel, a.x + static_cast<size_t>(out_rows[i]) * kDModel,
                 sizeof(float) * kDModel);
  }
  k::RmsNormRows(a.xb, a.xb, w.final_norm, rows, kDModel, 1e-06f);
  k::ScaleRows(a.xb, a.xb, rows, kDModel, 0.044194173f);
  k::Linear(a.logits, w.token_embedding, a.xb, rows, kVocab, kDModel);
  return a.logits;
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::models::t5_small
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "lmc/lmc.h"
#include "runtime/api/open_model.h"
#include "runtime/weights/checkpoint.h"

namespace lmc::models::t5_small {

HWY_EXPORT(Forward);
HWY_EXPORT(Encode);

void BindWeights(lmc::rt::TensorSource& source, Weights& w) {
  w.token_embedding = source.F32("shared.weight", {kVocab, kDModel});
  w.enc_relative_bias = source.F32("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", {kBuckets, kHeads});
  w.enc_final_norm = source.F32("encoder.final_layer_norm.weight", {kDModel});
  w.relative_bias = source.F32("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", {kBuckets, kHeads});
  w.final_norm = source.F32("decoder.final_layer_norm.weight", {kDModel});
  for (int l = 0; l < kEncoderLayers; ++l) {
    EncoderLayerWeights& lw = w.encoder_layers[l];
    const std::string n = std::to_string(l);
    lw.enc_attn_norm = source.F32("encoder.block." + n + ".layer.0.layer_norm.weight", {kDModel});
    lw.enc_wq = source.F32("encoder.block." + n + ".layer.0.SelfAttention.q.weight", {kQDim, kDModel});
    lw.enc_wk = source.F32("encoder.block." + n + ".layer.0.SelfAttention.k.weight", {kKvDim, kDModel});
    lw.enc_wv = source.F32("encoder.block." + n + ".layer.0.SelfAttention.v.weight", {kKvDim, kDModel});
    lw.enc_wo = source.F32("encoder.block." + n + ".layer.0.SelfAttention.o.weight", {kDModel, kQDim});
    lw.enc_ffn_norm = source.F32("encoder.block." + n + ".layer.1.layer_norm.weight", {kDModel});
    lw.enc_w_up = source.F32("encoder.block." + n + ".layer.1.DenseReluDense.wi.weight", {kHidden, kDModel});
    lw.enc_w_down = source.F32("encoder.block." + n + ".layer.1.DenseReluDense.wo.weight", {kDModel, kHidden});
  }
  for (int l = 0; l < kLayers; ++l) {
    LayerWeights& lw = w.layers[l];
    const std::string n = std::to_string(l);
    lw.cross_wk = source.F32("decoder.block." + n + ".layer.1.EncDecAttention.k.weight", {kKvDim, kDModel});
    lw.cross_wv = source.F32("decoder.block." + n + ".layer.1.EncDecAttention.v.weight", {kKvDim, kDModel});
    lw.attn_norm = source.F32("decoder.block." + n + ".layer.0.layer_norm.weight", {kDModel});
    lw.wq = source.F32("decoder.block." + n + ".layer.0.SelfAttention.q.weight", {kQDim, kDModel});
    lw.wk = source.F32("decoder.block." + n + ".layer.0.SelfAttention.k.weight", {kKvDim, kDModel});
    lw.wv = source.F32("decoder.block." + n + ".layer.0.SelfAttention.v.weight", {kKvDim, kDModel});
    lw.wo = source.F32("decoder.block." + n + ".layer.0.SelfAttention.o.weight", {kDModel, kQDim});
    lw.cross_norm = source.F32("decoder.block." + n + ".layer.1.layer_norm.weight", {kDModel});
    lw.cross_wq = source.F32("decoder.block." + n + ".layer.1.EncDecAttention.q.weight", {kQDim, kDModel});
    lw.cross_wo = source.F32("decoder.block." + n + ".layer.1.EncDecAttention.o.weight", {kDModel, kQDim});
    lw.ffn_norm = source.F32("decoder.block." + n + ".layer.2.layer_norm.weight", {kDModel});
    lw.w_up = source.F32("decoder.block." + n + ".layer.2.DenseReluDense.wi.weight", {kHidden, kDModel});
    lw.w_down = source.F32("decoder.block." + n + ".layer.2.DenseReluDense.wo.weight", {kDModel, kHidden});
  }
}

void State::Allocate(int positions) {
  capacity = positions;
  // Not zeroed: pages are touched only as the caches fill.
  k_cache.reset(new float[kLayers * static_cast<size_t>(capacity) * kKvDim]);
  v_cache.reset(new float[kLayers * static_cast<size_t>(capacity) * kKvDim]);
  enc_k_cache.reset(new float[kEncoderLayers * static_cast<size_t>(kChunk) * kKvDim]);
  enc_v_cache.reset(new float[kEncoderLayers * static_cast<size_t>(kChunk) * kKvDim]);
  cross_k.reset(new float[kLayers * static_cast<size_t>(kChunk) * kKvDim]);
  cross_v.reset(new float[kLayers * static_cast<size_t>(kChunk) * kKvDim]);
  source_len = 0;
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
      std::copy_n(out + static_cast<size_t>(i) * kVocab, kVocab, chunk.out_dest[i]);
    }
  }

  void EncodeChunk(lmc::rt::Session& session, const int* tokens, int n,
                   float* out) override {
    State& s = static_cast<CompiledSession&>(session).state;
    int positions[kChunk];
    for (int i = 0; i < n; ++i) positions[i] = i;
    s.source_len = n;
    auto a = activations_.Take();
    std::copy_n(HWY_DYNAMIC_DISPATCH(Encode)(weights_, s, *a, tokens, positions, n), n * kDModel,
                out);
  }

 private:
  std::unique_ptr<lmc::rt::TensorSource> source_;
  Weights weights_{};
  lmc::rt::ScratchPool<Activations> activations_;
};

}  // namespace

const lmc::rt::ModelInfo& Info() {
  static const lmc::rt::ModelInfo info{
      .name = "t5-small",
      .spec_path = "specs/t5-small.yaml",
      .spec_yaml = "lmc: 1\n"
    "name: t5-small\n"
    "description: \"T5-small (Google, 2019)\"\n"
    "family: encoder-decoder\n"
    "sizes:\n"
    "  vocab: 32128\n"
    "  d_model: 512\n"
    "  n_layers: 6\n"
    "  n_decoder_layers: 6\n"
    "  max_seq_len: 512\n"
    "attention:\n"
    "  n_heads: 8\n"
    "  head_dim: 64\n"
    "  scale: 1\n"
    "norm:\n"
    "  kind: rmsnorm\n"
    "  placement: pre\n"
    "  eps: 1.0e-6\n"
    "  final: true\n"
    "feed_forward:\n"
    "  activation: relu\n"
    "  hidden: 2048\n"
    "position:\n"
    "  kind: t5_relative\n"
    "  t5:\n"
    "    num_buckets: 32\n"
    "    max_distance: 128\n"
    "embeddings:\n"
    "  tied: true\n"
    "  output_scale: 0.044194173824159216\n"
    "tokenizer:\n"
    "  kind: none\n"
    "  eos: 1\n"
    "  pad: 0\n"
    "  unk: 2\n"
    "  decoder_start: 0\n"
    "weights:\n"
    "  format: safetensors\n"
    "  layout: t5\n",
      .vocab_size = kVocab,
      .output_width = kVocab,
      .d_model = kDModel,
      .encoder = false,
      .encoder_decoder = true,
      .max_seq_len = kMaxSeqLen,
      .chunk = kChunk,
      .bos = -1,
      .eos = 1,
      .decoder_start = 0,
      .tokenizer_kind = "none",
      .tokenizer_file = "",
      .weights_format = "safetensors",
      .pooler = false,
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

}  // namespace lmc::models::t5_small

// The C API's entry point (include/lmc/lmc.h).
extern "C" LMC_DECLARE_MODEL(t5_small) {
  return lmc::api::Open(&lmc::models::t5_small::CreateModel, weights_path, options, error);
}

#endif  // HWY_ONCE
