// Generated from specs/transformer-base.yaml by lmc 0.1.0. Do not edit: change the spec and run lmc.
//
// Module transformer-base: 6 encoder and 6 decoder layers; entry points encode (a source
// of up to kChunk tokens), then prefill (up to kChunk tokens) and decode.
#pragma once

#include <hwy/base.h>

#include <memory>

#include "runtime/model/model.h"
#include "runtime/weights/tensor_source.h"

namespace lmc::models::transformer_base {

// Dimensions.
inline constexpr int kLayers = 6;
inline constexpr int kEncoderLayers = 6;
inline constexpr int kChunk = 1024;  // tokens per call (T <= kChunk)
inline constexpr int kVocab = 37000;
inline constexpr int kDModel = 512;
inline constexpr int kHeads = 8;
inline constexpr int kKvHeads = 8;
inline constexpr int kHeadDim = 64;
inline constexpr int kQDim = 512;
inline constexpr int kKvDim = 512;
inline constexpr int kHidden = 2048;
inline constexpr int kMaxSeqLen = 1024;

// Pointers into the mapped checkpoint, with the tensors' shapes and names.
struct EncoderLayerWeights {
  const float* enc_wq;  // [kQDim, kDModel] encoder.layers.{layer}.self_attn.in_proj_weight
  const float* enc_wq_bias;  // [kQDim] encoder.layers.{layer}.self_attn.in_proj_bias
  const float* enc_wk;  // [kKvDim, kDModel] encoder.layers.{layer}.self_attn.in_proj_weight
  const float* enc_wk_bias;  // [kKvDim] encoder.layers.{layer}.self_attn.in_proj_bias
  const float* enc_wv;  // [kKvDim, kDModel] encoder.layers.{layer}.self_attn.in_proj_weight
  const float* enc_wv_bias;  // [kKvDim] encoder.layers.{layer}.self_attn.in_proj_bias
  const float* enc_wo;  // [kDModel, kQDim] encoder.layers.{layer}.self_attn.out_proj.weight
  const float* enc_wo_bias;  // [kDModel] encoder.layers.{layer}.self_attn.out_proj.bias
  const float* enc_attn_norm;  // [kDModel] encoder.layers.{layer}.norm1.weight
  const float* enc_attn_norm_bias;  // [kDModel] encoder.layers.{layer}.norm1.bias
  const float* enc_w_up;  // [kHidden, kDModel] encoder.layers.{layer}.linear1.weight
  const float* enc_w_up_bias;  // [kHidden] encoder.layers.{layer}.linear1.bias
  const float* enc_w_down;  // [kDModel, kHidden] encoder.layers.{layer}.linear2.weight
  const float* enc_w_down_bias;  // [kDModel] encoder.layers.{layer}.linear2.bias
  const float* enc_ffn_norm;  // [kDModel] encoder.layers.{layer}.norm2.weight
  const float* enc_ffn_norm_bias;  // [kDModel] encoder.layers.{layer}.norm2.bias
};

struct LayerWeights {
  const float* cross_wk;  // [kKvDim, kDModel] decoder.layers.{layer}.multihead_attn.in_proj_weight
  const float* cross_wk_bias;  // [kKvDim] decoder.layers.{layer}.multihead_attn.in_proj_bias
  const float* cross_wv;  // [kKvDim, kDModel] decoder.layers.{layer}.multihead_attn.in_proj_weight
  const float* cross_wv_bias;  // [kKvDim] decoder.layers.{layer}.multihead_attn.in_proj_bias
  const float* wq;  // [kQDim, kDModel] decoder.layers.{layer}.self_attn.in_proj_weight
  const float* wq_bias;  // [kQDim] decoder.layers.{layer}.self_attn.in_proj_bias
  const float* wk;  // [kKvDim, kDModel] decoder.layers.{layer}.self_attn.in_proj_weight
  const float* wk_bias;  // [kKvDim] decoder.layers.{layer}.self_attn.in_proj_bias
  const float* wv;  // [kKvDim, kDModel] decoder.layers.{layer}.self_attn.in_proj_weight
  const float* wv_bias;  // [kKvDim] decoder.layers.{layer}.self_attn.in_proj_bias
  const float* wo;  // [kDModel, kQDim] decoder.layers.{layer}.self_attn.out_proj.weight
  const float* wo_bias;  // [kDModel] decoder.layers.{layer}.self_attn.out_proj.bias
  const float* attn_norm;  // [kDModel] decoder.layers.{layer}.norm1.weight
  const float* attn_norm_bias;  // [kDModel] decoder.layers.{layer}.norm1.bias
  const float* cross_wq;  // [kQDim, kDModel] decoder.layers.{layer}.multihead_attn.in_proj_weight
  const float* cross_wq_bias;  // [kQDim] decoder.layers.{layer}.multihead_attn.in_proj_bias
  const float* cross_wo;  // [kDModel, kQDim] decoder.layers.{layer}.multihead_attn.out_proj.weight
  const float* cross_wo_bias;  // [kDModel] decoder.layers.{layer}.multihead_attn.out_proj.bias
  const float* cross_norm;  // [kDModel] decoder.layers.{layer}.norm2.weight
  const float* cross_norm_bias;  // [kDModel] decoder.layers.{layer}.norm2.bias
  const float* w_up;  // [kHidden, kDModel] decoder.layers.{layer}.linear1.weight
  const float* w_up_bias;  // [kHidden] decoder.layers.{layer}.linear1.bias
  const float* w_down;  // [kDModel, kHidden] decoder.layers.{layer}.linear2.weight
  const float* w_down_bias;  // [kDModel] decoder.layers.{layer}.linear2.bias
  const float* ffn_norm;  // [kDModel] decoder.layers.{layer}.norm3.weight
  const float* ffn_norm_bias;  // [kDModel] decoder.layers.{layer}.norm3.bias
};

struct Weights {
  const float* token_embedding;  // [kVocab, kDModel] shared.weight
  const float* enc_final_norm;  // [kDModel] encoder.norm.weight
  const float* enc_final_norm_bias;  // [kDModel] encoder.norm.bias
  const float* final_norm;  // [kDModel] decoder.norm.weight
  const float* final_norm_bias;  // [kDModel] decoder.norm.bias
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
  float q[kChunk * kQDim];
  float k[kChunk * kKvDim];
  float v[kChunk * kKvDim];
  float att[kChunk * kQDim];
  float att_out[kChunk * kDModel];
  float up[kChunk * kHidden];
  float logits[kChunk * kVocab];
  float sinusoid[kDModel];  // one position's encoding
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

}  // namespace lmc::models::transformer_base
