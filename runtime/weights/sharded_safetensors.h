// Hugging Face's sharded safetensors: `model.safetensors.index.json` maps each
// tensor name to the shard file (beside the index) that holds it:
//   {"metadata": {...}, "weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors", ...}}
// Every shard is opened and validated as a safetensors file, and the index
// and the shards must agree exactly: each listed tensor is in its shard, and
// each shard holds only the tensors listed for it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/weights/safetensors_checkpoint.h"
#include "runtime/weights/tensor_source.h"

namespace lmc::rt {

class ShardedSafetensors final : public IndexedTensorSource {
 public:
  // An index larger than this is refused before it is read.
  static constexpr size_t kMaxIndexBytes = 100'000'000;

  // Opens the index at `path` and every shard it names. Throws Error with one
  // line naming the index or shard and the tensor at fault.
  static std::unique_ptr<ShardedSafetensors> Open(const std::string& path);

  const std::string& path() const override { return path_; }

 private:
  explicit ShardedSafetensors(std::string path) : path_(std::move(path)) {}

  std::string path_;
  std::vector<std::unique_ptr<SafetensorsCheckpoint>> shards_;
};

// The safetensors checkpoint at `path`: a `.safetensors` file, a
// `.index.json` shard index, or a folder holding `model.safetensors` or else
// `model.safetensors.index.json` (Hugging Face's save_pretrained names).
std::unique_ptr<TensorSource> OpenSafetensors(const std::string& path);

}  // namespace lmc::rt
