// Generated from specs/stories260k.yaml by lmc 0.1.0. Do not edit: change the spec and run lmc.
//
// Compiled once per SIMD target (Highway's foreach_target re-includes this
// file); the runtime picks the best target once per call.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "stories260k.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <string>

#include "stories260k.h"
#include "runtime/kernels/rows-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lmc::models::stories260k {
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
    k::RopeInterleavedRows(a.q, positions, n, kHeads, kHeadDim, 10000.0f, nullptr);
    k::RopeInterleavedRows(a.k, positions, n, kKvHeads, kHeadDim, 10000.0f, nullptr);
    for (const Segment& seg : segments) {
      State& s = *seg.state;
      float* k_cache = s.k_cache.get() + static_cast<size_t>(l) * s.capacity * kKvDim;
      float* v_cache = s.v_cache.get() + static_cast<size_t>(l) * s.capacity * kKvDim;
      k::KvStore(k_cache, v_cache, a.k + seg.first * kKvDim, a.v + seg.first * kKvDim, positions + seg.first, seg.n, kKvDim, kHeadDim, s.capacity);
      k::AttentionRows(a.att + seg.first * kQDim, a.q + seg.first * kQDim, k_cache, v_cache, positions + seg.first, seg.n, kHeads, kKvHeads, kHeadDim, s.capacity, 0.35355338f, /*causal=*/true, nullptr, nullptr, nullptr);
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
  k::Linear(a.logits, w.token_embedding, a.xb, rows, kVocab, kDModel);
  return a.logits;
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::models::stories260k
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "lmc/lmc.h"
#include "runtime/api/open_model.h"
#include "runtime/weights/checkpoint.h"

namespace lmc::models::stories260k {

HWY_EXPORT(Forward);

void BindWeights(lmc::rt::TensorSource& source, Weights& w) {
  w.token_embedding = source.F32("tok_embeddings.weight", {kVocab, kDModel});
  w.final_norm = source.F32("norm.weight", {kDModel});
  for (int l = 0; l < kLayers; ++l) {
    LayerWeights& lw = w.layers[l];
    const std::string n = std::to_string(l);
    lw.attn_norm = source.F32("layers." + n + ".attention_norm.weight", {kDModel});
    lw.wq = source.F32("layers." + n + ".attention.wq.weight", {kQDim, kDModel});
    lw.wk = source.F32("layers." + n + ".attention.wk.weight", {kKvDim, kDModel});
    lw.wv = source.F32("layers." + n + ".attention.wv.weight", {kKvDim, kDModel});
    lw.wo = source.F32("layers." + n + ".attention.wo.weight", {kDModel, kQDim});
    lw.ffn_norm = source.F32("layers." + n + ".ffn_norm.weight", {kDModel});
    lw.w_gate = source.F32("layers." + n + ".feed_forward.w1.weight", {kHidden, kDModel});
    lw.w_up = source.F32("layers." + n + ".feed_forward.w3.weight", {kHidden, kDModel});
    lw.w_down = source.F32("layers." + n + ".feed_forward.w2.weight", {kDModel, kHidden});
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
    source_ = lmc::rt::OpenCheckpoint(path, "llama2c", kCheckpointDims);
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
      .name = "stories260k",
      .spec_path = "specs/stories260k.yaml",
      .spec_yaml = "family: decoder\n"
    "attention:\n"
    "  causal: true\n"
    "  n_heads: 8\n"
    "  n_kv_heads: 4\n"
    "norm:\n"
    "  kind: rmsnorm\n"
    "  placement: pre\n"
    "  eps: 1.0e-5\n"
    "feed_forward:\n"
    "  activation: swiglu\n"
    "  hidden: 172\n"
    "position:\n"
    "  kind: rope\n"
    "  rope:\n"
    "    theta: 10000\n"
    "    style: interleaved\n"
    "embeddings:\n"
    "  tied: true\n"
    "tokenizer:\n"
    "  kind: llama2c\n"
    "  bos: 1\n"
    "  eos: 2\n"
    "weights:\n"
    "  format: llama2c\n"
    "lmc: 1\n"
    "name: stories260k\n"
    "description: \"llama2.c stories260K (TinyStories), Llama 2 architecture\"\n"
    "sizes:\n"
    "  vocab: 512\n"
    "  d_model: 64\n"
    "  n_layers: 5\n"
    "  max_seq_len: 512\n",
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
      .tokenizer_kind = "llama2c",
      .tokenizer_file = "",
      .weights_format = "llama2c",
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

}  // namespace lmc::models::stories260k

// The C API's entry point (include/lmc/lmc.h).
extern "C" LMC_DECLARE_MODEL(stories260k) {
  return lmc::api::Open(&lmc::models::stories260k::CreateModel, weights_path, options, error);
}

#endif  // HWY_ONCE
