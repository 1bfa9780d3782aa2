// Generated from specs/stories260k.yaml by lmc 0.1.0. Do not edit: change the spec and run lmc.
//
// Compiled once per SIMD target (Highway's foreach_target re-includes this
// file); the runtime picks the best target once per call.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "stories260k.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <string>

#include "stories260k.h"
#include "runtime/kernels/rows-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lmc::models::stories260k {
namespace HWY_NAMESPACE {

namespace k = lmc::kernels::HWY_NAMESPACE;

// Runs tokens[0, n) at positions[0, n) (1 <= n <= kChunk; earlier positions
// are in the state) and returns the logits of the last `rows` tokens, [rows, kVocab].
const float* Forward(const Weights& w, State& s, Activations& a, const int* tokens,
                     const int* positions, int n, int rows) {
  k::Embedding(a.x, w.token_embedding, tokens, n, kDModel);
  for (int l = 0; l < kLayers; ++l) {
    const LayerWeights& lw = w.layers[l];
    float* k_cache = s.k_cache.get() + static_cast<size_t>(l) * s.capacity * kKvDim;
    float* v_cache = s.v_cache.get() + static_cast<size_t>(l) * s.capacity * kKvDim;
    k::RmsNormRows(a.xb, a.x, lw.attn_norm, n, kDModel, 1e-05f);
    k::Linear(a.q, lw.wq, a.xb, n, kQDim, kDModel);
    k::Linear(a.k, lw.wk, a.xb, n, kKvDim, kDModel);
    k::Linear(a.v, lw.wv, a.xb, n, kKvDim, kDModel);
    k::RopeInterleavedRows(a.q, positions, n, kHeads, kHeadDim, 10000.0f, nullptr);
    k::RopeInterleavedRows(a.k, positions, n, kKvHeads, kHeadDim, 10000.0f, nullptr);
    k::KvStore(k_cache, v_cache, a.k, a.v, positions, n, kKvDim);
    k::AttentionRows(a.att, a.q, k_cache, v_cache, positions, n, kHeads, kKvHeads, kHeadDim, 0.35355338f, /*causal=*/true, nullptr, nullptr, nullptr, s.scores.get());
    k::Linear(a.xb, lw.wo, a.att, n, kDModel, kQDim);
    k::AddRows(a.x, a.xb, n, kDModel);
    k::RmsNormRows(a.xb, a.x, lw.ffn_norm, n, kDModel, 1e-05f);
    k::GatedLinear(a.hb, lw.w_gate, lw.w_up, a.xb, n, kHidden, kDModel, 1.0f);
    k::Linear(a.xb, lw.w_down, a.hb, n, kDModel, kHidden);
    k::AddRows(a.x, a.xb, n, kDModel);
  }
  // The rows whose logits were asked for: the last `rows` of the chunk.
  std::copy_n(a.x + static_cast<size_t>(n - rows) * kDModel, rows * kDModel, a.xb);
  k::RmsNormRows(a.xb, a.xb, w.final_norm, rows, kDModel, 1e-05f);
  k::Linear(a.logits, w.token_embedding, a.xb, rows, kVocab, kDModel);
  return a.logits;
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::models::stories260k
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "runtime/model/model.h"
#include "runtime/util/error.h"
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
    source_ = lmc::rt::OpenCheckpoint(path, "llama2c", kCheckpointDims);
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

}  // namespace lmc::models::stories260k

namespace lmc::rt {

const ModelInfo& GetModelInfo() {
  static const ModelInfo info{
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
      .vocab_size = models::stories260k::kVocab,
      .output_width = models::stories260k::kVocab,
      .d_model = models::stories260k::kDModel,
      .encoder = false,
      .encoder_decoder = false,
      .max_seq_len = models::stories260k::kMaxSeqLen,
      .chunk = models::stories260k::kChunk,
      .bos = 1,
      .eos = 2,
      .decoder_start = -1,
      .tokenizer_kind = "llama2c",
      .tokenizer_file = "",
      .weights_format = "llama2c",
      .cls = -1,
      .sep = -1,
  };
  return info;
}

std::unique_ptr<Model> CreateModel() {
  return std::make_unique<models::stories260k::CompiledModel>();
}

}  // namespace lmc::rt

#endif  // HWY_ONCE
