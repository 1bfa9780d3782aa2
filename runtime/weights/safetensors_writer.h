// Writes tensors as a safetensors file that Hugging Face's loaders and
// SafetensorsCheckpoint read (header __metadata__ {"format": "pt"}).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "runtime/weights/tensor_source.h"

namespace lmc::rt {

struct NamedTensor {
  std::string name;
  DType dtype;
  Shape shape;
  // Little-endian elements, row-major: exactly elements x DTypeSize(dtype) bytes.
  std::span<const std::byte> data;
};

// Writes `tensors` to `path` in the given order, atomically: a temporary file
// in the same folder, fsync, then rename over `path`. Throws Error naming the
// file (and the tensor) on a bad tensor or an I/O failure; `path` is then
// left as it was.
void WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors);

}  // namespace lmc::rt
