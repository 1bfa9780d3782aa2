// Generated from specs/llama2-7b.yaml by lmc 0.1.0. Do not edit: change the spec and run lmc.
//
// Compiled once per SIMD target (Highway's foreach_target re-includes this
// file); the runtime picks the best target once per call.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "llama2_7b.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <string>

#include "llama2_7b.h"
#include "runtime/kernels/rows-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lmc::models::llama2_7b {
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
  for (int l = 0; l < kLayers; ++l) {
    const LayerWeights& lw = w.layers[l];
    k::RmsNormRows(a.xb, a.x, lw.attn_norm, n, kDModel, 1e-05f);
    k::Linear(a.q, lw.wq, a.xb, n, kQDim, kDModel);
    k::Linear(a.k, lw.wk, a.xb, n, kKvDim, kDModel);
    k::Linear(a.v, lw.wv, a.xb, n, kKvDim, kDModel);
    k::RopeHalfRows(a.q, positions, n, kHeads, kHeadDim, 10000.0f, nullptr);
    k::RopeHalfRows(a.k, positions, n, kKvHeads, kHeadDim, 10000.0f, nullptr);
    for (const Segment& seg : segments) {
      State& s = *seg.state;
      float* k_cache = s.k_cache.get() + static_cast<size_t>(l) * s.capacity * kKvDim;
      float* v_cache = s.v_cache.get() + static_cast<size_t>(l) * s.capacity * kKvDim;
      k::KvStore(k_cache, v_cache, a.k + seg.first * kKvDim, a.v + seg.first * kKvDim, positions + seg.first, seg.n, kKvDim, kHeadDim, s.capacity);
      k::AttentionRows(a.att + seg.first * kQDim, a.q + seg.first * kQDim, k_cache, v_cache, positions + seg.first, seg.n, kHeads, kKvHeads, kHeadDim, s.capacity, 0.088388346f, /*causal=*/true, nullptr, nullptr, nullptr);
    }
    k::Linear(a.xb, lw.wo, a.att, n, kDModel, kQDim);
    k::AddRows(a.x, a.xb, n, kDModel);
    k::RmsNormRows(a.xb, a.x, lw.ffn_norm, n, kDModel, 1e-05f);
    k::GatedLinear(a.hb, lw.w_gate, lw.w_up, a.xb, n, kHidden, kDModel, 1.0f);
    k::Linear(a.xb, lw.w_down, a.hb, n, kDModel, kHidden);
    k::AddRows(a.x, a.xb, n, kDModel);
  }
  // A pass within a prompt that ends in a later one has no rows to output.
  if (rows == 0) return nullptr;
  // The rows whose outputs were asked for, in order (out_rows[i] >= i).
  for (int i = 0; i < rows; ++i) {
    std::memmove(a.xb + static_cast<size_t>(i) * kDModel, a.x + static_cast<size_t>(out_rows[i]) * kDModel,
                 sizeof(float) * kDModel);
  }
  k::RmsNormRows(a.xb, a.xb, w.final_norm, rows, kDModel, 1e-05f);
  if (hidden) return a.xb;
  k::Linear(a.logits, w.classifier, a.xb, rows, kVocab, kDModel);
  return a.logits;
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::models::llama2_7b
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "lmc/lmc.h"
#include "runtime/api/open_model.h"
#include "runtime/weights/checkpoint.h"

namespace lmc::models::llama2_7b {

HWY_EXPORT(Forward);

void BindWeights(lmc::rt::TensorSource& source, Weights& w) {
  w.token_embedding = source.F32("model.embed_tokens.weight", {kVocab, kDModel});
  w.final_norm = source.F32("model.norm.weight", {kDModel});
  w.classifier = source.F32("lm_head.weight", {kVocab, kDModel});
  for (int l = 0; l < kLayers; ++l) {
    LayerWeights& lw = w.layers[l];
    const std::string n = std::to_string(l);
    lw.attn_norm = source.F32("model.layers." + n + ".input_layernorm.weight", {kDModel});
    lw.wq = source.F32("model.layers." + n + ".self_attn.q_proj.weight", {kQDim, kDModel});
    lw.wk = source.F32("model.layers." + n + ".self_attn.k_proj.weight", {kKvDim, kDModel});
    lw.wv = source.F32("model.layers." + n + ".self_attn.v_proj.weight", {kKvDim, kDModel});
    lw.wo = source.F32("model.layers." + n + ".self_attn.o_proj.weight", {kDModel, kQDim});
    lw.ffn_norm = source.F32("model.layers." + n + ".post_attention_layernorm.weight", {kDModel});
    lw.w_gate = source.F32("model.layers." + n + ".mlp.gate_proj.weight", {kHidden, kDModel});
    lw.w_up = source.F32("model.layers." + n + ".mlp.up_proj.weight", {kHidden, kDModel});
    lw.w_down = source.F32("model.layers." + n + ".mlp.down_proj.weight", {kDModel, kHidden});
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
    .tied = false,
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
      .name = "llama2-7b",
      .spec_path = "specs/llama2-7b.yaml",
      .spec_yaml = "family: decoder\n"
    "attention:\n"
    "  causal: true\n"
    "  n_heads: 32\n"
    "norm:\n"
    "  kind: rmsnorm\n"
    "  placement: pre\n"
    "  eps: 1.0e-5\n"
    "feed_forward:\n"
    "  activation: swiglu\n"
    "  hidden: 11008\n"
    "position:\n"
    "  kind: rope\n"
    "  rope:\n"
    "    theta: 10000\n"
    "    style: half\n"
    "embeddings:\n"
    "  tied: false\n"
    "tokenizer:\n"
    "  kind: none\n"
    "  bos: 1\n"
    "  eos: 2\n"
    "weights:\n"
    "  format: safetensors\n"
    "  layout: llama\n"
    "lmc: 1\n"
    "name: llama2-7b\n"
    "description: \"Llama 2 7B (Meta, July 2023)\"\n"
    "sizes:\n"
    "  vocab: 32000\n"
    "  d_model: 4096\n"
    "  n_layers: 32\n"
    "  max_seq_len: 4096\n",
      .vocab_size = kVocab,
      .output_width = kVocab,
      .d_model = kDModel,
      .encoder = false,
      .encoder_decoder = false,
      .max_seq_len = kMaxSeqLen,
      .chunk = kChunk,
      .bos = 1,
      .eos = 2,
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

}  // namespace lmc::models::llama2_7b

// The C API's entry point (include/lmc/lmc.h).
extern "C" LMC_DECLARE_MODEL(llama2_7b) {
  return lmc::api::Open(&lmc::models::llama2_7b::CreateModel, weights_path, options, error);
}

#endif  // HWY_ONCE
