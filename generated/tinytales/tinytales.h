// Generated from specs/tinytales.yaml by lmc 0.1.0. Do not edit: change the spec and run lmc.
//
// tinytales: decoder, 4 layers, d_model 128, 4 heads (2 KV heads, GQA), head_dim 32,
// rmsnorm (pre-norm), swiglu hidden 352, rope (theta 10000), vocab 1024, tied embeddings.
#pragma once

#include "runtime/weights/tensor_source.h"

namespace lmc::models::tinytales {

inline constexpr int kVocab = 1024;
inline constexpr int kDModel = 128;
inline constexpr int kLayers = 4;
inline constexpr int kMaxSeqLen = 256;
inline constexpr int kHeads = 4;
inline constexpr int kKvHeads = 2;
inline constexpr int kHeadDim = 32;
inline constexpr int kQDim = kHeads * kHeadDim;
inline constexpr int kKvDim = kKvHeads * kHeadDim;
inline constexpr int kHidden = 352;
inline constexpr float kNormEps = 1e-05f;
inline constexpr float kRopeTheta = 10000.0f;
inline constexpr float kAttentionScale = 0.17677669f;  // 1/sqrt(head_dim) unless the spec says
inline constexpr float kSwishBeta = 1.0f;

// Pointers into the mapped checkpoint, with the tensors' shapes and names.
struct LayerWeights {
  const float* attn_norm;  // {kDModel} layers.{layer}.attention_norm.weight
  const float* wq;  // {kDModel, kDModel} layers.{layer}.attention.wq.weight
  const float* wk;  // {kKvDim, kDModel} layers.{layer}.attention.wk.weight
  const float* wv;  // {kKvDim, kDModel} layers.{layer}.attention.wv.weight
  const float* wo;  // {kDModel, kDModel} layers.{layer}.attention.wo.weight
  const float* ffn_norm;  // {kDModel} layers.{layer}.ffn_norm.weight
  const float* w_gate;  // {kHidden, kDModel} layers.{layer}.feed_forward.w1.weight
  const float* w_up;  // {kHidden, kDModel} layers.{layer}.feed_forward.w3.weight
  const float* w_down;  // {kDModel, kHidden} layers.{layer}.feed_forward.w2.weight
};

struct Weights {
  const float* token_embedding;  // {kVocab, kDModel} tok_embeddings.weight
  const float* final_norm;  // {kDModel} norm.weight
  LayerWeights layers[kLayers];
};

// Activations (buffers shared by values whose lifetimes do not overlap) and the
// KV cache of one sequence.
struct State {
  float x[kDModel];
  float xb[kDModel];
  float q[kDModel];
  float k[kKvDim];
  float v[kKvDim];
  float hb[kHidden];
  float logits[kVocab];
  float scores[kMaxSeqLen];
  float key_cache[kLayers][kMaxSeqLen][kKvDim];
  float value_cache[kLayers][kMaxSeqLen][kKvDim];
};

// Binds every weight by name and shape; throws lmc::rt::Error on a mismatch.
void BindWeights(lmc::rt::TensorSource& source, Weights& w);

// Runs `token` at position `pos` (earlier positions already run, 0 <= pos <
// kMaxSeqLen) and returns the logits [kVocab], which live in `s`.
const float* Forward(const Weights& w, State& s, int token, int pos);

}  // namespace lmc::models::tinytales
