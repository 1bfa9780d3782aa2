#include "runtime/weights/checkpoint.h"

#include <climits>

#include "runtime/util/error.h"
#include "runtime/weights/gguf_checkpoint.h"
#include "runtime/weights/llama2c_checkpoint.h"
#include "runtime/weights/sharded_safetensors.h"

namespace lmc::rt {
namespace {

std::unique_ptr<TensorSource> OpenLlama2c(const std::string& path, const ModelDims& dims) {
  // The header holds int32 fields and no head_dim: refuse what it cannot describe.
  auto field = [&](const char* name, int64_t value) {
    if (value > INT_MAX) {
      Fail("{}: the model's {} is {}, more than a llama2.c header can hold", path, name, value);
    }
    return static_cast<int>(value);
  };
  if (dims.n_heads > 0 && dims.head_dim != dims.d_model / dims.n_heads) {
    Fail("{}: llama2.c checkpoints need head_dim = d_model / n_heads = {}, the model has {}", path,
         dims.d_model / dims.n_heads, dims.head_dim);
  }
  Llama2cConfig c;
  c.dim = field("d_model", dims.d_model);
  c.hidden_dim = field("hidden", dims.hidden);
  c.n_layers = field("n_layers", dims.n_layers);
  c.n_heads = field("n_heads", dims.n_heads);
  c.n_kv_heads = field("n_kv_heads", dims.n_kv_heads);
  c.vocab_size = field("vocab", dims.vocab);
  c.seq_len = field("max_seq_len", dims.max_seq_len);
  c.shared_classifier = dims.tied;
  return Llama2cCheckpoint::Open(path, c);
}

}  // namespace

std::unique_ptr<TensorSource> OpenCheckpoint(const std::string& path, std::string_view format,
                                             const ModelDims& dims) {
  if (format == "llama2c") return OpenLlama2c(path, dims);
  if (format == "safetensors") return OpenSafetensors(path);
  if (format == "gguf") return GgufCheckpoint::Open(path);
  Fail("{}: unknown weights format '{}': expected llama2c, safetensors or gguf", path, format);
}

}  // namespace lmc::rt
