// A checkpoint seen as named float32 tensors.
//
// Generated code binds its weight struct by asking for each tensor by name and
// expected shape; the source checks both and fails with a message naming the
// file, the tensor, and the shape expected versus found. Every checkpoint
// format (llama2.c, safetensors, GGUF) implements this one interface.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lmc::rt {

using Shape = std::vector<int64_t>;

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  // Returns the tensor's data, valid while the source lives. Throws Error if the
  // name is unknown or the shape differs.
  virtual const float* Tensor(const std::string& name, const Shape& shape) = 0;
  // The checkpoint's path, for messages.
  virtual const std::string& path() const = 0;
};

// "[64, 172]"
std::string ShapeToString(const Shape& shape);

}  // namespace lmc::rt
