// Generated from specs/transformer-base.yaml by lmc 0.1.0. Do not edit: change the spec and run lmc.
//
// Compiled once per SIMD target (Highway's foreach_target re-includes this
// file); the runtime picks the best target once per call.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "transformer_base.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <string>

#include "transformer_base.h"
#include "runtime/kernels/rows-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lmc::models::transformer_base {
namespace HWY_NAMESPACE {

namespace k = lmc::kernels::HWY_NAMESPACE;

// Runs tokens[0, n) at positions[0, n) (1 <= n <= kChunk), segment by segment
// where a sequence's state is read or written (its earlier positions are
// there), and returns the outputs of rows out_rows[0, rows), [rows, width].
// Runs the encoder over source tokens[0, n) at positions[0, n), keeps the
// decoder's cross-attention K/V in the state and returns the encoder's last
// hidden state, [n, kDModel].
const float* Encode(const Weights& w, State& s, Activations& a, const int* tokens,
                    const int* positions, int n) {
  k::Embedding(a.x, w.token_embedding, tokens, n, kDModel);
  k::ScaleRows(a.x, a.x, n, kDModel, 22.627417f);
  k::AddSinusoidalRows(a.x, positions, n, kDModel, a.sinusoid);
  for (int l = 0; l < kEncoderLayers; ++l) {
    const EncoderLayerWeights& lw = w.encoder_layers[l];
    float* enc_k_cache = s.enc_k_cache.get() + static_cast<size_t>(l) * kChunk * kKvDim;
    float* enc_v_cache = s.enc_v_cache.get() + static_cast<size_t>(l) * kChunk * kKvDim;
    k::Linear(a.q, lw.enc_wq, a.x, n, kQDim, kDModel);
    k::AddBiasRows(a.q, lw.enc_wq_bias, n, kQDim);
    k::Linear(a.k, lw.enc_wk, a.x, n, kKvDim, kDModel);
    k::AddBiasRows(a.k, lw.enc_wk_bias, n, kKvDim);
    k::Linear(a.v, lw.enc_wv, a.x, n, kKvDim, kDModel);
    k::AddBiasRows(a.v, lw.enc_wv_bias, n, kKvDim);
    k::KvStore(enc_k_cache, enc_v_cache, a.k, a.v, positions, n, kKvDim, kHeadDim, kChunk);
    k::AttentionRows(a.att, a.q, enc_k_cache, enc_v_cache, positions, n, kHeads, kKvHeads, kHeadDim, kChunk, 0.125f, /*causal=*/false, nullptr, nullptr, nullptr);
    k::Linear(a.att_out, lw.enc_wo, a.att, n, kDModel, kQDim);
    k::AddBiasRows(a.att_out, lw.enc_wo_bias, n, kDModel);
    k::AddRows(a.x, a.att_out, n, kDModel);
    k::LayerNormRows(a.x, a.x, lw.enc_attn_norm, lw.enc_attn_norm_bias, n, kDModel, 1e-05f);
    k::Linear(a.up, lw.enc_w_up, a.x, n, kHidden, kDModel);
    k::AddBiasRows(a.up, lw.enc_w_up_bias, n, kHidden);
    k::ReluRows(a.up, a.up, n, kHidden);
    k::Linear(a.att_out, lw.enc_w_down, a.up, n, kDModel, kHidden);
    k::AddBiasRows(a.att_out, lw.enc_w_down_bias, n, kDModel);
    k::AddRows(a.x, a.att_out, n, kDModel);
    k::LayerNormRows(a.x, a.x, lw.enc_ffn_norm, lw.enc_ffn_norm_bias, n, kDModel, 1e-05f);
  }
  k::LayerNormRows(a.x, a.x, w.enc_final_norm, w.enc_final_norm_bias, n, kDModel, 1e-05f);
  for (int l = 0; l < kLayers; ++l) {
    const LayerWeights& lw = w.layers[l];
    float* cross_k = s.cross_k.get() + static_cast<size_t>(l) * kChunk * kKvDim;
    float* cross_v = s.cross_v.get() + static_cast<size_t>(l) * kChunk * kKvDim;
    k::Linear(a.k, lw.cross_wk, a.x, n, kKvDim, kDModel);
    k::AddBiasRows(a.k, lw.cross_wk_bias, n, kKvDim);
    k::Linear(a.v, lw.cross_wv, a.x, n, kKvDim, kDModel);
    k::AddBiasRows(a.v, lw.cross_wv_bias, n, kKvDim);
    k::KvStore(cross_k, cross_v, a.k, a.v, positions, n, kKvDim, kHeadDim, kChunk);
  }
  return a.x;
}

const float* Forward(const Weights& w, Activations& a, std::span<const Segment> segments,
                     const int* tokens, const int* positions, int n, const int* out_rows,
                     int rows) {
  k::Embedding(a.x, w.token_embedding, tokens, n, kDModel);
  k::ScaleRows(a.x, a.x, n, kDModel, 22.627417f);
  k::AddSinusoidalRows(a.x, positions, n, kDModel, a.sinusoid);
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
      k::AttentionRows(a.att + seg.first * kQDim, a.q + seg.first * kQDim, k_cache, v_cache, positions + seg.first, seg.n, kHeads, kKvHeads, kHeadDim, s.capacity, 0.125f, /*causal=*/true, nullptr, nullptr, nullptr);
    }
    k::Linear(a.att_out, lw.wo, a.att, n, kDModel, kQDim);
    k::AddBiasRows(a.att_out, lw.wo_bias, n, kDModel);
    k::AddRows(a.x, a.att_out, n, kDModel);
    k::LayerNormRows(a.x, a.x, lw.attn_norm, lw.attn_norm_bias, n, kDModel, 1e-05f);
    k::Linear(a.q, lw.cross_wq, a.x, n, kQDim, kDModel);
    k::AddBiasRows(a.q, lw.cross_wq_bias, n, kQDim);
    for (const Segment& seg : segments) {
      State& s = *seg.state;
      float* cross_k = s.cross_k.get() + static_cast<size_t>(l) * kChunk * kKvDim;
      float* cross_v = s.cross_v.get() + static_cast<size_t>(l) * kChunk * kKvDim;
      k::CrossAttentionRows(a.att + seg.first * kQDim, a.q + seg.first * kQDim, cross_k, cross_v, seg.n, s.source_len, kHeads, kKvHeads, kHeadDim, kChunk, 0.125f);
    }
    k::Linear(a.att_out, lw.cross_wo, a.att, n, kDModel, kQDim);
    k::AddBiasRows(a.att_out, lw.cross_wo_bias, n, kDModel);
    k::AddRows(a.x, a.att_out, n, kDModel);
    k::LayerNormRows(a.x, a.x, lw.cross_norm, lw.cross_norm_bias, n, kDModel, 1e-05f);
    k::Linear(a.up, lw.w_up, a.x, n, kHidden, kDModel);
    k::AddBiasRows(a.up, lw.w_up_bias, n, kHidden);
    k::ReluRows(a.up, a.up, n, kHidden);
    k::Linear(a.att_out, lw.w_down, a.up, n, kDModel, kHidden);
    k::AddBiasRows(a.att_out, lw.w_down_bias, n, kDModel);
    k::AddRows(a.x, a.att_out, n, kDModel);
    k::LayerNormRows(a.x, a.x, lw.ffn_norm, lw.ffn_norm_bias, n, kDModel, 1e-05f);
  }
  // A pass within a prompt that ends in a later one has no rows to output.
  if (rows == 0) return nullptr;
  // The rows whose outputs were asked for, in order (out_rows[i] >= i).
  for (int i = 0; i < rows; ++i) {
    std::memmove(a.att_out + static_cast<size_t>(i) * kDModel, a.x + static_cast<size_t>(out_rows[i]) * kDModel,
                 sizeof(float) * kDModel);
  }
  k::LayerNormRows(a.att_out, a.att_out, w.final_norm, w.final_norm_bias, rows, kDModel, 1e-05f);
  k::Linear(a.logits, w.token_embedding, a.att_out, rows, kVocab, kDModel);
  return a.logits;
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::models::transformer_base
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "lmc/lmc.h"
#include "runtime/api/open_model.h"
#include "runtime/weights/checkpoint.h"

namespace lmc::models::transformer_base {

HWY_EXPORT(Forward);
HWY_EXPORT(Encode);

void BindWeights(lmc::rt::TensorSource& source, Weights& w) {
  w.token_embedding = source.F32("shared.weight", {kVocab, kDModel});
  w.enc_final_norm = source.F32("encoder.norm.weight", {kDModel});
  w.enc_final_norm_bias = source.F32("encoder.norm.bias", {kDModel});
  w.final_norm = source.F32("decoder.norm.weight", {kDModel});
  w.final_norm_bias = source.F32("decoder.norm.bias", {kDModel});
  for (int l = 0; l < kEncoderLayers; ++l) {
    EncoderLayerWeights& lw = w.encoder_layers[l];
    const std::string n = std::to_string(l);
    lw.enc_wq = source.F32("encoder.layers." + n + ".self_attn.in_proj_weight", {kQDim, kDModel}, {.transposed = false, .parts = 3, .part = 0, .groups = 1});
    lw.enc_wq_bias = source.F32("encoder.layers." + n + ".self_attn.in_proj_bias", {kQDim}, {.transposed = false, .parts = 3, .part = 0, .groups = 1});
    lw.enc_wk = source.F32("encoder.layers." + n + ".self_attn.in_proj_weight", {kKvDim, kDModel}, {.transposed = false, .parts = 3, .part = 1, .groups = 1});
    lw.enc_wk_bias = source.F32("encoder.layers." + n + ".self_attn.in_proj_bias", {kKvDim}, {.transposed = false, .parts = 3, .part = 1, .groups = 1});
    lw.enc_wv = source.F32("encoder.layers." + n + ".self_attn.in_proj_weight", {kKvDim, kDModel}, {.transposed = false, .parts = 3, .part = 2, .groups = 1});
    lw.enc_wv_bias = source.F32("encoder.layers." + n + ".self_attn.in_proj_bias", {kKvDim}, {.transposed = false, .parts = 3, .part = 2, .groups = 1});
    lw.enc_wo = source.F32("encoder.layers." + n + ".self_attn.out_proj.weight", {kDModel, kQDim});
    lw.enc_wo_bias = source.F32("encoder.layers." + n + ".self_attn.out_proj.bias", {kDModel});
    lw.enc_attn_norm = source.F32("encoder.layers." + n + ".norm1.weight", {kDModel});
    lw.enc_attn_norm_bias = source.F32("encoder.layers." + n + ".norm1.bias", {kDModel});
    lw.enc_w_up = source.F32("encoder.layers." + n + ".linear1.weight", {kHidden, kDModel});
    lw.enc_w_up_bias = source.F32("encoder.layers." + n + ".linear1.bias", {kHidden});
    lw.enc_w_down = source.F32("encoder.layers." + n + ".linear2.weight", {kDModel, kHidden});
    lw.enc_w_down_bias = source.F32("encoder.layers." + n + ".linear2.bias", {kDModel});
    lw.enc_ffn_norm = source.F32("encoder.layers." + n + ".norm2.weight", {kDModel});
    lw.enc_ffn_norm_bias = source.F32("encoder.layers." + n + ".norm2.bias", {kDModel});
  }
  for (int l = 0; l < kLayers; ++l) {
    LayerWeights& lw = w.layers[l];
    const std::string n = std::to_string(l);
    lw.cross_wk = source.F32("decoder.layers." + n + ".multihead_attn.in_proj_weight", {kKvDim, kDModel}, {.transposed = false, .parts = 3, .part = 1, .groups = 1});
    lw.cross_wk_bias = source.F32("decoder.layers." + n + ".multihead_attn.in_proj_bias", {kKvDim}, {.transposed = false, .parts = 3, .part = 1, .groups = 1});
    lw.cross_wv = source.F32("decoder.layers." + n + ".multihead_attn.in_proj_weight", {kKvDim, kDModel}, {.transposed = false, .parts = 3, .part = 2, .groups = 1});
    lw.cross_wv_bias = source.F32("decoder.layers." + n + ".multihead_attn.in_proj_bias", {kKvDim}, {.transposed = false, .parts = 3, .part = 2, .groups = 1});
    lw.wq = source.F32("decoder.layers." + n + ".self_attn.in_proj_weight", {kQDim, kDModel}, {.transposed = false, .parts = 3, .part = 0, .groups = 1});
    lw.wq_bias = source.F32("decoder.layers." + n + ".self_attn.in_proj_bias", {kQDim}, {.transposed = false, .parts = 3, .part = 0, .groups = 1});
    lw.wk = source.F32("decoder.layers." + n + ".self_attn.in_proj_weight", {kKvDim, kDModel}, {.transposed = false, .parts = 3, .part = 1, .groups = 1});
    lw.wk_bias = source.F32("decoder.layers." + n + ".self_attn.in_proj_bias", {kKvDim}, {.transposed = false, .parts = 3, .part = 1, .groups = 1});
    lw.wv = source.F32("decoder.layers." + n + ".self_attn.in_proj_weight", {kKvDim, kDModel}, {.transposed = false, .parts = 3, .part = 2, .groups = 1});
    lw.wv_bias = source.F32("decoder.layers." + n + ".self_attn.in_proj_bias", {kKvDim}, {.transposed = false, .parts = 3, .part = 2, .groups = 1});
    lw.wo = source.F32("decoder.layers." + n + ".self_attn.out_proj.weight", {kDModel, kQDim});
    lw.wo_bias = source.F32("decoder.layers." + n + ".self_attn.out_proj.bias", {kDModel});
    lw.attn_norm = source.F32("decoder.layers." + n + ".norm1.weight", {kDModel});
    lw.attn_norm_bias = source.F32("decoder.layers." + n + ".norm1.bias", {kDModel});
    lw.cross_wq = source.F32("decoder.layers." + n + ".multihead_attn.in_proj_weight", {kQDim, kDModel}, {.transposed = false, .parts = 3, .part = 0, .groups = 1});
    lw.cross_wq_bias = source.F32("decoder.layers." + n + ".multihead_attn.in_proj_bias", {kQDim}, {.transposed = false, .parts = 3, .part = 0, .groups = 1});
    lw.cross_wo = source.F32("decoder.layers." + n + ".multihead_attn.out_proj.weight", {kDModel, kQDim});
    lw.cross_wo_bias = source.F32("decoder.layers." + n + ".multihead_attn.out_proj.bias", {kDModel});
    lw.cross_norm = source.F32("decoder.layers." + n + ".norm2.weight", {kDModel});
    lw.cross_norm_bias = source.F32("decoder.layers." + n + ".norm2.bias", {kDModel});
    lw.w_up = source.F32("decoder.layers." + n + ".linear1.weight", {kHidden, kDModel});
    lw.w_up_bias = source.F32("decoder.layers." + n + ".linear1.bias", {kHidden});
    lw.w_down = source.F32("decoder.layers." + n + ".linear2.weight", {kDModel, kHidden});
    lw.w_down_bias = source.F32("decoder.layers." + n + ".linear2.bias", {kDModel});
    lw.ffn_norm = source.F32("decoder.layers." + n + ".norm3.weight", {kDModel});
    lw.ffn_norm_bias = source.F32("decoder.layers." + n + ".norm3.bias", {kDModel});
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
    source_->set_optional_prefix("transformer.");
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
      .name = "transformer-base",
      .spec_path = "specs/transformer-base.yaml",
      .spec_yaml = "lmc: 1\n"
    "name: transformer-base\n"
    "description: Transformer base (Vaswani et al. 2017)\n"
    "family: encoder-decoder\n"
    "sizes:\n"
    "  vocab: 37000\n"
    "  d_model: 512\n"
    "  n_layers: 6\n"
    "  n_decoder_layers: 6\n"
    "  max_seq_len: 1024\n"
    "attention:\n"
    "  n_heads: 8\n"
    "  bias: true\n"
    "norm:\n"
    "  kind: layernorm\n"
    "  placement: post\n"
    "  eps: 1.0e-5\n"
    "  bias: true\n"
    "  final: true\n"
    "feed_forward:\n"
    "  activation: relu\n"
    "  hidden: 2048\n"
    "  bias: true\n"
    "position:\n"
    "  kind: sinusoidal\n"
    "embeddings:\n"
    "  tied: true\n"
    "  scale: 22.627416997969522\n"
    "tokenizer:\n"
    "  kind: none\n"
    "  decoder_start: 1\n"
    "weights:\n"
    "  format: safetensors\n"
    "  layout: torch_transformer\n",
      .vocab_size = kVocab,
      .output_width = kVocab,
      .d_model = kDModel,
      .encoder = false,
      .encoder_decoder = true,
      .max_seq_len = kMaxSeqLen,
      .chunk = kChunk,
      .bos = -1,
      .eos = -1,
      .decoder_start = 1,
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

}  // namespace lmc::models::transformer_base

// The C API's entry point (include/lmc/lmc.h).
extern "C" LMC_DECLARE_MODEL(transformer_base) {
  return lmc::api::Open(&lmc::models::transformer_base::CreateModel, weights_path, options, error);
}

#endif  // HWY_ONCE
