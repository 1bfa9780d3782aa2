// Generated from specs/bert-base.yaml by lmc 0.1.0. Do not edit: change the spec and run lmc.
//
// Module bert-base: 12 layers; entry points prefill (up to kChunk tokens) and decode.
#pragma once

#include <hwy/base.h>

#include <memory>

#include "runtime/model/model.h"
#include "runtime/weights/tensor_source.h"

namespace lmc::models::bert_base {

// Dimensions.
inline constexpr int kLayers = 12;
inline constexpr int kChunk = 512;  // tokens per call (T <= kChunk)
inline constexpr int kVocab = 30522;
inline constexpr int kDModel = 768;
inline constexpr int kHeads = 12;
inline constexpr int kKvHeads = 12;
inline constexpr int kHeadDim = 64;
inline constexpr int kQDim = 768;
inline constexpr int kKvDim = 768;
inline constexpr int kHidden = 3072;
inline constexpr int kMaxSeqLen = 512;
inline constexpr int kOne = 1;

// Pointers into the mapped checkpoint, with the tensors' shapes and names.
struct LayerWeights {
  const float* wq;  // [kQDim, kDModel] encoder.layer.{layer}.attention.self.query.weight
  const float* wq_bias;  // [kQDim] encoder.layer.{layer}.attention.self.query.bias
  const float* wk;  // [kKvDim, kDModel] encoder.layer.{layer}.attention.self.key.weight
  const float* wk_bias;  // [kKvDim] encoder.layer.{layer}.attention.self.key.bias
  const float* wv;  // [kKvDim, kDModel] encoder.layer.{layer}.attention.self.value.weight
  const float* wv_bias;  // [kKvDim] encoder.layer.{layer}.attention.self.value.bias
  const float* wo;  // [kDModel, kQDim] encoder.layer.{layer}.attention.output.dense.weight
  const float* wo_bias;  // [kDModel] encoder.layer.{layer}.attention.output.dense.bias
  const float* attn_norm;  // [kDModel] encoder.layer.{layer}.attention.output.LayerNorm.weight
  const float* attn_norm_bias;  // [kDModel] encoder.layer.{layer}.attention.output.LayerNorm.bias
  const float* w_up;  // [kHidden, kDModel] encoder.layer.{layer}.intermediate.dense.weight
  const float* w_up_bias;  // [kHidden] encoder.layer.{layer}.intermediate.dense.bias
  const float* w_down;  // [kDModel, kHidden] encoder.layer.{layer}.output.dense.weight
  const float* w_down_bias;  // [kDModel] encoder.layer.{layer}.output.dense.bias
  const float* ffn_norm;  // [kDModel] encoder.layer.{layer}.output.LayerNorm.weight
  const float* ffn_norm_bias;  // [kDModel] encoder.layer.{layer}.output.LayerNorm.bias
};

struct Weights {
  const float* token_embedding;  // [kVocab, kDModel] embeddings.word_embeddings.weight
  const float* token_type_embedding;  // [kDModel] embeddings.token_type_embeddings.weight
  const float* position_embedding;  // [kMaxSeqLen, kDModel] embeddings.position_embeddings.weight
  const float* embed_norm;  // [kDModel] embeddings.LayerNorm.weight
  const float* embed_norm_bias;  // [kDModel] embeddings.LayerNorm.bias
  const float* pooler;  // [kDModel, kDModel] pooler.dense.weight
  const float* pooler_bias;  // [kDModel] pooler.dense.bias
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
  float q[kChunk * kQDim];
  float k[kChunk * kKvDim];
  float v[kChunk * kKvDim];
  float att[kChunk * kQDim];
  float att_out[kChunk * kDModel];
  float up[kChunk * kHidden];
  float x_first[kChunk * kDModel];
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

}  // namespace lmc::models::bert_base
