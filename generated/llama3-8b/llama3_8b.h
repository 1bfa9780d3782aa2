// Generated from specs/llama3-8b.yaml by lmc 0.1.0. Do not edit: change the spec and run lmc.
//
// Module llama3-8b: 32 layers; entry points prefill (up to kChunk tokens) and decode.
#pragma once

#include <hwy/base.h>

#include <memory>

#include "runtime/model/model.h"
#include "runtime/weights/tensor_source.h"

namespace lmc::models::llama3_8b {

// Dimensions.
inline constexpr int kLayers = 32;
inline constexpr int kChunk = 128;  // tokens per call (T <= kChunk)
inline constexpr int kVocab = 128256;
inline constexpr int kDModel = 4096;
inline constexpr int kHeads = 32;
inline constexpr int kKvHeads = 8;
inline constexpr int kHeadDim = 128;
inline constexpr int kQDim = 4096;
inline constexpr int kKvDim = 1024;
inline constexpr int kHidden = 14336;
inline constexpr int kMaxSeqLen = 8192;

// Pointers into the mapped checkpoint, with the tensors' shapes and names.
struct LayerWeights {
  const float* attn_norm;  // [kDModel] model.layers.{layer}.input_layernorm.weight
  const float* wq;  // [kQDim, kDModel] model.layers.{layer}.self_attn.q_proj.weight
  const float* wk;  // [kKvDim, kDModel] model.layers.{layer}.self_attn.k_proj.weight
  const float* wv;  // [kKvDim, kDModel] model.layers.{layer}.self_attn.v_proj.weight
  const float* wo;  // [kDModel, kQDim] model.layers.{layer}.self_attn.o_proj.weight
  const float* ffn_norm;  // [kDModel] model.layers.{layer}.post_attention_layernorm.weight
  const float* w_gate;  // [kHidden, kDModel] model.layers.{layer}.mlp.gate_proj.weight
  const float* w_up;  // [kHidden, kDModel] model.layers.{layer}.mlp.up_proj.weight
  const float* w_down;  // [kDModel, kHidden] model.layers.{layer}.mlp.down_proj.weight
};

struct Weights {
  const float* token_embedding;  // [kVocab, kDModel] model.embed_tokens.weight
  const float* final_norm;  // [kDModel] model.norm.weight
  const float* classifier;  // [kVocab, kDModel] lm_head.weight
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
  float hb[kChunk * kHidden];
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

}  // namespace lmc::models::llama3_8b
