// Generated from specs/gpt2.yaml by lmc 0.1.0. Do not edit: change the spec and run lmc.
//
// Compiled once per SIMD target (Highway's foreach_target re-includes this
// file); the runtime picks the best target once per call.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "gpt2.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <string>

#include "gpt2.h"
#include "runtime/kernels/rows-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lmc::models::gpt2 {
namespace HWY_NAMESPACE {

namespace k = lmc::kernels::HWY_NAMESPACE;

// Runs tokens[0, n) at positions[0, n) (1 <= n <= kChunk), segment by segment
// where a sequence's state is read or written (its earlier positions are
// there), and returns the outputs of rows out_rows[0, rows), [rows, width].
// With `hidden`, the outputs are the final hidden states, [rows, kDModel], instead
// of the logits.
const float* Forward(const Weights& w, Activations& a, std::span<const Segment> segments,
                     const int* tokens, const int* positions, int n, const int* out_rows,
                     int rows, bool hidden) {
  k::Embedding(a.x, w.token_embedding, tokens, n, kDModel);
  k::AddPositionEmbeddingRows(a.x, w.position_embedding, positions, n, kDModel);
  for (int l = 0; l < kLayers; ++l) {
    const LayerWeights& lw = w.layers[l];
    k::LayerNormRows(a.xb, a.x, lw.attn_norm, lw.attn_norm_bias, n, kDModel, 1e-05f);
    k::Linear(a.q, lw.wq, a.xb, n, kQDim, kDModel);
    k::AddBiasRows(a.q, lw.wq_bias, n, kQDim);
    k::Linear(a.k, lw.wk, a.xb, n, kKvDim, kDModel);
    k::AddBiasRows(a.k, lw.wk_bias, n, kKvDim);
    k::Linear(a.v, lw.wv, a.xb, n, kKvDim, kDModel);
    k::AddBiasRows(a.v, lw.wv_bias, n, kKvDim);
    for (const Segment& seg : segments) {
      State& s = *seg.state;
      float* k_cache = s.k_cache.get() + static_cast<size_t>(l) * s.capacity * kKvDim;
      float* v_cache = s.v_cache.get() + static_cast<size_t>(l) * s.capacity * kKvDim;
      k::KvStore(k_cache, v_cache, a.k + seg.first * kKvDim, a.v + seg.first * kKvDim, positions + seg.first, seg.n, kKvDim, kHeadDim, s.capacity);
      k::AttentionRows(a.att + seg.first * kQDim, a.q + seg.first * kQDim, k_cache, v_cache, positions + seg.first, seg.n, kHeads, kKvHeads, kHeadDim, s.capacity, 0.125f, /*causal=*/true, nullptr, nullptr, nullptr);
    }
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
  // A pass within a prompt that ends in a later one has no rows to output.
  if (rows == 0) return nullptr;
  // The rows whose outputs were asked for, in order (out_rows[i] >= i).
  for (int i = 0; i < rows; ++i) {
    std::memmove(a.xb + static_cast<size_t>(i) * kDModel, a.x + static_cast<size_t>(out_rows[i]) * kDModel,
                 sizeof(float) * kDModel);
  }
  k::LayerNormRows(a.xb, a.xb, w.final_norm, w.final_norm_bias, rows, kDModel, 1e-05f);
  if (hidden) return a.xb;
  k::Linear(a.logits, w.token_embedding, a.xb, rows, kVocab, kDModel);
  return a.logits;
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::models::gpt2
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "lmc/lmc.h"
#include "runtime/api/open_model.h"
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
        chunk.positions, chunk.n, chunk.out_rows, chunk.rows, chunk.hidden);
    const size_t width = chunk.hidden ? kDModel : kVocab;
    for (int i = 0; i < chunk.rows; ++i) {
      std::copy_n(out + static_cast<size_t>(i) * width, width, chunk.out_dest[i]);
    }
  }

 private:
  std::unique_ptr<lmc::rt::TensorSource> source_;
  Weights weights_{};
  lmc::rt::ScratchPool<Activations> activations_;
};

}  // namespace

const lmc::rt::ModelInfo& Info() {
  static const lmc::rt::ModelInfo info{
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
      .vocab_size = kVocab,
      .output_width = kVocab,
      .d_model = kDModel,
      .encoder = false,
      .encoder_decoder = false,
      .max_seq_len = kMaxSeqLen,
      .chunk = kChunk,
      .bos = 50256,
      .eos = 50256,
      .decoder_start = -1,
      .tokenizer_kind = "none",
      .tokenizer_file = "",
      .weights_format = "safetensors",
      .pooler = false,
      .hidden = true,
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

}  // namespace lmc::models::gpt2

// The C API's entry point (include/lmc/lmc.h).
extern "C" LMC_DECLARE_MODEL(gpt2) {
  return lmc::api::Open(&lmc::models::gpt2::CreateModel, weights_path, options, error);
}

#endif  // HWY_ONCE
