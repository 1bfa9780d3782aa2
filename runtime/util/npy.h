// Writes float32 arrays as NumPy .npy files, for dumping activations that
// Python tools compare against a reference.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lmc::rt {

// Writes `data` (row-major, product(shape) floats) to `path` as .npy format
// version 1.0, dtype '<f4', C order. The header is padded so the data starts at
// a multiple of 64 bytes, as current numpy does. Throws Error naming the path if
// the file cannot be written or the shape is invalid.
void WriteNpy(const std::string& path, const float* data, const std::vector<int64_t>& shape);

}  // namespace lmc::rt
