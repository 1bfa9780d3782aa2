// Karpathy's llama2.c checkpoint, legacy (version 0) export format: a 7-int32
// header then float32 tensors in a fixed order. Tensors are exposed under the
// names of llama2.c's export.py / Meta's Llama checkpoints
// (DefaultTensorNames("llama2c")).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "runtime/weights/mapped_file.h"
#include "runtime/weights/tensor_source.h"

namespace lmc::rt {

struct Llama2cConfig {
  int dim = 0;
  int hidden_dim = 0;
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int vocab_size = 0;  // always positive here; the file's sign becomes shared_classifier
  int seq_len = 0;
  bool shared_classifier = true;  // output.weight is tok_embeddings.weight
};

class Llama2cCheckpoint final : public IndexedTensorSource {
 public:
  // Opens and validates a llama2.c legacy (version 0) checkpoint against the
  // config the model was compiled for. Throws Error naming the file and what
  // was expected versus found.
  static std::unique_ptr<Llama2cCheckpoint> Open(const std::string& path,
                                                 const Llama2cConfig& expected);

  // Tensors (Find, Names) are views into the mapped file (no copy), all f32.
  const Llama2cConfig& config() const { return config_; }
  const std::string& path() const override { return file_.path(); }

 private:
  Llama2cCheckpoint(MappedFile file, const Llama2cConfig& config)
      : file_(std::move(file)), config_(config) {}

  MappedFile file_;
  Llama2cConfig config_;
};

}  // namespace lmc::rt
