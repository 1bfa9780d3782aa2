// The one entry point generated code opens its weights through, whatever the
// spec's weights.format says.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "runtime/weights/tensor_source.h"

namespace lmc::rt {

// The sizes a model was compiled for. Formats whose files carry a config
// (llama2.c's header) check it against these; the others are checked tensor
// by tensor when the weights are bound.
struct ModelDims {
  int64_t d_model = 0;
  int64_t hidden = 0;
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t vocab = 0;
  int64_t max_seq_len = 0;
  bool tied = true;  // the classifier is the token embedding
};

// Opens the checkpoint at `path` in `format`: "llama2c", "safetensors" (a file, a shard index,
// or a folder holding either; see sharded_safetensors.h) or "gguf".
// Throws Error naming the file and what was expected versus found.
std::unique_ptr<TensorSource> OpenCheckpoint(const std::string& path, std::string_view format,
                                             const ModelDims& dims);

}  // namespace lmc::rt
