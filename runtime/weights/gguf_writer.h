// Writes tensors as a GGUF v3 file that GgufCheckpoint (and llama.cpp's
// gguf reader) read: one metadata entry, general.alignment = 32, then the
// tensor infos and the data, each tensor at an offset aligned to 32.
#pragma once

#include <string>
#include <vector>

#include "runtime/weights/safetensors_writer.h"  // NamedTensor
#include "runtime/weights/tensor_source.h"

namespace lmc::rt {

// Writes `tensors` to `path` in the given order, atomically (a temporary file
// beside it, fsync, rename). A tensor's data is its elements (or, for q8_0 /
// q4_0, its rows of blocks; the last dimension then a multiple of 32) in
// row-major order, outermost dimension first as in `shape`. Throws Error naming
// the file and the tensor on a bad tensor or an I/O failure; `path` is then
// left as it was.
void WriteGguf(const std::string& path, const std::vector<NamedTensor>& tensors);

// The bytes a tensor of `dtype` and `shape` takes (blocks: last dimension / 32
// blocks per row). Throws Error naming `name` if a quantized row is not a
// multiple of 32 or the size overflows.
uint64_t StoredBytes(const std::string& name, DType dtype, const Shape& shape);

}  // namespace lmc::rt
