// Generated from specs/tinytales.yaml by lmc 0.1.0. Do not edit: change the spec and run lmc.

#include "tinytales.h"

#include <algorithm>
#include <memory>
#include <string>

#include "runtime/kernels/ops.h"
#include "runtime/model/model.h"
#include "runtime/util/error.h"
#include "runtime/weights/llama2c_checkpoint.h"

namespace lmc::models::tinytales {

namespace k = lmc::kernels;

void BindWeights(lmc::rt::TensorSource& source, Weights& w) {
  w.token_embedding = source.Tensor("tok_embeddings.weight", {kVocab, kDModel});
  w.final_norm = source.Tensor("norm.weight", {kDModel});
  for (int l = 0; l < kLayers; ++l) {
    LayerWeights& lw = w.layers[l];
    const std::string n = std::to_string(l);
    lw.attn_norm = source.Tensor("layers." + n + ".attention_norm.weight", {kDModel});
    lw.wq = source.Tensor("layers." + n + ".attention.wq.weight", {kDModel, kDModel});
    lw.wk = source.Tensor("layers." + n + ".attention.wk.weight", {kKvDim, kDModel});
    lw.wv = source.Tensor("layers." + n + ".attention.wv.weight", {kKvDim, kDModel});
    lw.wo = source.Tensor("layers." + n + ".attention.wo.weight", {kDModel, kDModel});
    lw.ffn_norm = source.Tensor("layers." + n + ".ffn_norm.weight", {kDModel});
    lw.w_gate = source.Tensor("layers." + n + ".feed_forward.w1.weight", {kHidden, kDModel});
    lw.w_up = source.Tensor("layers." + n + ".feed_forward.w3.weight", {kHidden, kDModel});
    lw.w_down = source.Tensor("layers." + n + ".feed_forward.w2.weight", {kDModel, kHidden});
  }
}

const float* Forward(const Weights& w, State& s, int token, int pos) {
  std::copy_n(w.token_embedding + static_cast<size_t>(token) * kDModel, kDModel, s.x);
  for (int l = 0; l < kLayers; ++l) {
    const LayerWeights& lw = w.layers[l];
    // Attention block.
    k::RmsNorm(s.xb, s.x, lw.attn_norm, kDModel, kNormEps);
    k::MatVec(s.q, lw.wq, s.xb, kDModel, kDModel);
    k::MatVec(s.k, lw.wk, s.xb, kKvDim, kDModel);
    k::MatVec(s.v, lw.wv, s.xb, kKvDim, kDModel);
    k::RopeInterleaved(s.q, kHeads, kHeadDim, pos, kRopeTheta);
    k::RopeInterleaved(s.k, kKvHeads, kHeadDim, pos, kRopeTheta);
    std::copy_n(s.k, kKvDim, s.key_cache[l][pos]);
    std::copy_n(s.v, kKvDim, s.value_cache[l][pos]);
    k::Attention(s.xb, s.q, s.key_cache[l][0], s.value_cache[l][0], pos + 1, kHeads, kKvHeads,
                 kHeadDim, kKvDim, kAttentionScale, s.scores);
    k::MatVec(s.q, lw.wo, s.xb, kDModel, kDModel);
    k::AddInPlace(s.x, s.q, kDModel);
    // Feed-forward block.
    k::RmsNorm(s.xb, s.x, lw.ffn_norm, kDModel, kNormEps);
    k::MatVecSwiGlu(s.hb, lw.w_gate, lw.w_up, s.xb, kHidden, kDModel, kSwishBeta);
    k::MatVec(s.xb, lw.w_down, s.hb, kDModel, kHidden);
    k::AddInPlace(s.x, s.xb, kDModel);
  }
  // Final norm and classifier.
  k::RmsNorm(s.xb, s.x, w.final_norm, kDModel, kNormEps);
  k::MatVec(s.logits, w.token_embedding, s.xb, kVocab, kDModel);
  return s.logits;
}

namespace {

// The runtime's view of this model: checks inputs, owns weights and state.
class CompiledModel final : public lmc::rt::Model {
 public:
  void LoadWeights(const std::string& path) override {
    lmc::rt::Llama2cConfig expected{};
    expected.dim = kDModel;
    expected.hidden_dim = kHidden;
    expected.n_layers = kLayers;
    expected.n_heads = kHeads;
    expected.n_kv_heads = kKvHeads;
    expected.vocab_size = kVocab;
    expected.seq_len = kMaxSeqLen;
    expected.shared_classifier = true;
    source_ = lmc::rt::Llama2cCheckpoint::Open(path, expected);
    BindWeights(*source_, weights_);
  }

  const float* Forward(int token, int pos) override {
    if (!source_) lmc::rt::Fail("no weights loaded");
    if (token < 0 || token >= kVocab) {
      lmc::rt::Fail("token id {} is outside the vocabulary [0, {})", token, kVocab);
    }
    if (pos < 0 || pos >= kMaxSeqLen) {
      lmc::rt::Fail("position {} is past max_seq_len {}", pos, kMaxSeqLen);
    }
    return tinytales::Forward(weights_, *state_, token, pos);
  }

 private:
  std::unique_ptr<lmc::rt::TensorSource> source_;
  Weights weights_{};
  // Default-initialised: the KV cache's pages are touched only as it fills.
  std::unique_ptr<State> state_{new State};
};

}  // namespace

}  // namespace lmc::models::tinytales

namespace lmc::rt {

const ModelInfo& GetModelInfo() {
  static const ModelInfo info{
      .name = "tinytales",
      .spec_path = "specs/tinytales.yaml",
      .spec_yaml = "family: decoder\n"
    "attention:\n"
    "  causal: true\n"
    "  n_heads: 4\n"
    "  n_kv_heads: 2\n"
    "norm:\n"
    "  kind: rmsnorm\n"
    "  placement: pre\n"
    "  eps: 1.0e-5\n"
    "feed_forward:\n"
    "  activation: swiglu\n"
    "  hidden: 352\n"
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
    "name: tinytales\n"
    "description: \"lmc's default model, trained on the project's own story grammar\"\n"
    "sizes:\n"
    "  vocab: 1024\n"
    "  d_model: 128\n"
    "  n_layers: 4\n"
    "  max_seq_len: 256\n"
    "",
      .vocab_size = models::tinytales::kVocab,
      .max_seq_len = models::tinytales::kMaxSeqLen,
      .bos = 1,
      .eos = 2,
      .tokenizer_kind = "llama2c",
      .weights_format = "llama2c",
  };
  return info;
}

std::unique_ptr<Model> CreateModel() {
  return std::make_unique<models::tinytales::CompiledModel>();
}

}  // namespace lmc::rt
