// Generated from specs/gpt2.yaml by lmc 0.1.0. Do not edit: change the spec and run lmc.
//
// Module gpt2: 12 layers; entry points prefill (up to kChunk tokens) and decode.
#pragma once

#include <hwy/base.h>

#include <memory>

#include "runtime/model/model.h"
#include "runtime/weights/tensor_source.h"

namespace lmc::models::gpt2 {

// Dimensions.
inline constexpr int kLayers = 12;
inline constexpr int kChunk = 128;  // tokens per call (T <= kChunk)
inline constexpr int kVocab = 50257;
inline constexpr int kDModel = 768;
inline constexpr int kHeads = 12;
inline constexpr int kKvHeads = 12;
inline constexpr int kHeadDim = 64;
inline constexpr int kQDim = 768;
inline constexpr int kKvDim = 768;
inline constexpr int kHidden = 3072;
inline constexpr int kMaxSeqLen = 1024;

// Pointers into the mapped checkpoint, with the tensors' shapes and names.
struct LayerWeights {
  const float* attn_norm;  // [kDModel] h.{layer}.ln_1.weight
  const float* attn_norm_bias;  // [kDModel] h.{layer}.ln_1.bias
  const float* wq;  // [kQDim, kDModel] h.{layer}.attn.c_attn.weight
  const float* wq_bias;  // [kQDim] h.{layer}.attn.c_attn.bias
  const float* wk;  // [kKvDim, kDModel] h.{layer}.attn.c_attn.weight
  const float* wk_bias;  // [kKvDim] h.{layer}.attn.c_attn.bias
  const float* wv;  // [kKvDim, kDModel] h.{layer}.attn.c_attn.weight
  const float* wv_bias;  // [kKvDim] h.{layer}.attn.c_attn.bias
  const float* wo;  // [kDModel, kQDim] h.{layer}.attn.c_proj.weight
  const float* wo_bias;  // [kDModel] h.{layer}.attn.c_proj.bias
  const float* ffn_norm;  // [kDModel] h.{layer}.ln_2.weight
  const float* ffn_norm_bias;  // [kDModel] h.{layer}.ln_2.bias
  const float* w_up;  // [kHidden, kDModel] h.{layer}.mlp.c_fc.weight
  const float* w_up_bias;  // [kHidden] h.{layer}.mlp.c_fc.bias
  const float* w_down;  // [kDModel, kHidden] h.{layer}.mlp.c_proj.weight
  const float* w_down_bias;  // [kDModel] h.{layer}.mlp.c_proj.bias
};

struct Weights {
  const float* token_embedding;  // [kVocab, kDModel] wte.weight
  const float* position_embedding;  // [kMaxSeqLen, kDModel] wpe.weight
  const float* final_norm;  // [kDModel] ln_f.weight
  const float* final_norm_bias;  // [kDModel] ln_f.bias
  LayerWeights layers[kLayers];
};

// What persists across calls for one sequence: the declared states, each
// with room for `capacity` positions, chosen at run time.
struct State {
  int capacity = 0;
  std::unique_ptr<float[]> k_cache;  // [kLayers][capacity][kKvDim]
  std::unique_ptr<float[]> v_cache;  // [kLayers][capacity][kKvDim]
  void Allocate(int capacity);
};

// One sequence's tokens in a batched forward pass: rows [first, first + n).
struct Segment {
  State* state;
  size_t first;
  int n;
};

// Activations of one call, [kChunk, row] each, shared by values whose
// lifetimes do not overlap.
struct Activations {
  float x[kChunk * kDModel];
  float xb[kChunk * kDModel];
  float q[kChunk * kQDim];
  float k[kChunk * kKvDim];
  float v[kChunk * kKvDim];
  float att[kChunk * kQDim];
  float up[kChunk * kHidden];
  float logits[kChunk * kVocab];
};

// Binds every weight by name and shape; throws lmc::rt::Error on a mismatch.
void BindWeights(lmc::rt::TensorSource& source, Weights& w);

// The model, for the runtime: what it is, and a new instance (weights not loaded).
const lmc::rt::ModelInfo& Info();
std::unique_ptr<lmc::rt::Model> CreateModel();

// Defined by the build_info.cc `lmc build` writes: compiler, flags, lmc version;
// the spec's tokenizer.file as an absolute path, or "" when it names none.
extern const char* const kBuildInfo;
extern const char* const kTokenizerFile;

}  // namespace lmc::models::gpt2
