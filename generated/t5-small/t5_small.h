// Generated from specs/t5-small.yaml by lmc 0.1.0. Do not edit: change the spec and run lmc.
//
// Module t5-small: 6 encoder and 6 decoder layers; entry points encode (a source
// of up to kChunk tokens), then prefill (up to kChunk tokens) and decode.
#pragma once

#include <hwy/base.h>

#include <memory>

#include "runtime/model/model.h"
#include "runtime/weights/tensor_source.h"

namespace lmc::models::t5_small {

// Dimensions.
inline constexpr int kLayers = 6;
inline constexpr int kEncoderLayers = 6;
inline constexpr int kChunk = 512;  // tokens per call (T <= kChunk)
inline constexpr int kVocab = 32128;
inline constexpr int kDModel = 512;
inline constexpr int kHeads = 8;
inline constexpr int kKvHeads = 8;
inline constexpr int kHeadDim = 64;
inline constexpr int kQDim = 512;
inline constexpr int kKvDim = 512;
inline constexpr int kHidden = 2048;
inline constexpr int kMaxSeqLen = 512;
inline constexpr int kBuckets = 32;

// Pointers into the mapped checkpoint, with the tensors' shapes and names.
struct EncoderLayerWeights {
  const float* enc_attn_norm;  // [kDModel] encoder.block.{layer}.layer.0.layer_norm.weight
  const float* enc_wq;  // [kQDim, kDModel] encoder.block.{layer}.layer.0.SelfAttention.q.weight
  const float* enc_wk;  // [kKvDim, kDModel] encoder.block.{layer}.layer.0.SelfAttention.k.weight
  const float* enc_wv;  // [kKvDim, kDModel] encoder.block.{layer}.layer.0.SelfAttention.v.weight
  const float* enc_wo;  // [kDModel, kQDim] encoder.block.{layer}.layer.0.SelfAttention.o.weight
  const float* enc_ffn_norm;  // [kDModel] encoder.block.{layer}.layer.1.layer_norm.weight
  const float* enc_w_up;  // [kHidden, kDModel] encoder.block.{layer}.layer.1.DenseReluDense.wi.weight
  const float* enc_w_down;  // [kDModel, kHidden] encoder.block.{layer}.layer.1.DenseReluDense.wo.weight
};

struct LayerWeights {
  const float* cross_wk;  // [kKvDim, kDModel] decoder.block.{layer}.layer.1.EncDecAttention.k.weight
  const float* cross_wv;  // [kKvDim, kDModel] decoder.block.{layer}.layer.1.EncDecAttention.v.weight
  const float* attn_norm;  // [kDModel] decoder.block.{layer}.layer.0.layer_norm.weight
  const float* wq;  // [kQDim, kDModel] decoder.block.{layer}.layer.0.SelfAttention.q.weight
  const float* wk;  // [kKvDim, kDModel] decoder.block.{layer}.layer.0.SelfAttention.k.weight
  const float* wv;  // [kKvDim, kDModel] decoder.block.{layer}.layer.0.SelfAttention.v.weight
  const float* wo;  // [kDModel, kQDim] decoder.block.{layer}.layer.0.SelfAttention.o.weight
  const float* cross_norm;  // [kDModel] decoder.block.{layer}.layer.1.layer_norm.weight
  const float* cross_wq;  // [kQDim, kDModel] decoder.block.{layer}.layer.1.EncDecAttention.q.weight
  const float* cross_wo;  // [kDModel, kQDim] decoder.block.{layer}.layer.1.EncDecAttention.o.weight
  const float* ffn_norm;  // [kDModel] decoder.block.{layer}.layer.2.layer_norm.weight
  const float* w_up;  // [kHidden, kDModel] decoder.block.{layer}.layer.2.DenseReluDense.wi.weight
  const float* w_down;  // [kDModel, kHidden] decoder.block.{layer}.layer.2.DenseReluDense.wo.weight
};

struct Weights {
  const float* token_embedding;  // [kVocab, kDModel] shared.weight
  const float* enc_relative_bias;  // [kBuckets, kHeads] encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight
  const float* enc_final_norm;  // [kDModel] encoder.final_layer_norm.weight
  const float* relative_bias;  // [kBuckets, kHeads] decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight
  const float* final_norm;  // [kDModel] decoder.final_layer_norm.weight
  EncoderLayerWeights encoder_layers[kEncoderLayers];
  LayerWeights layers[kLayers];
};

// What persists across calls for one sequence: the declared states, each
// with room for `capacity` positions, chosen at run time.
struct State {
  int capacity = 0;
  int source_len = 0;  // Rows of the encoder's K/V; 0 before encode.
  std::unique_ptr<float[]> k_cache;  // [kLayers][capacity][kKvDim]
  std::unique_ptr<float[]> v_cache;  // [kLayers][capacity][kKvDim]
  std::unique_ptr<float[]> enc_k_cache;  // [kEncoderLayers][kChunk][kKvDim]
  std::unique_ptr<float[]> enc_v_cache;  // [kEncoderLayers][kChunk][kKvDim]
  std::unique_ptr<float[]> cross_k;  // [kLayers][kChunk][kKvDim]
  std::unique_ptr<float[]> cross_v;  // [kLayers][kChunk][kKvDim]
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

}  // namespace lmc::models::t5_small
