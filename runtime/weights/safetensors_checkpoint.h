// Hugging Face safetensors: an 8-byte little-endian header length, a JSON
// header mapping each tensor name to {dtype, shape, data_offsets}, then the
// tensors' bytes. The file is mapped and tensors are viewed in place.
//
// Everything in the header is checked before a view is handed out: the
// length, the JSON, each dtype (F32, F16 or BF16), that shape x dtype size is
// the data_offsets span, that spans lie inside the file, do not overlap, leave
// no holes, and that no name repeats. `__metadata__` (strings) is allowed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/weights/mapped_file.h"
#include "runtime/weights/tensor_source.h"

namespace lmc::rt {

class SafetensorsCheckpoint final : public IndexedTensorSource {
 public:
  // A larger header is refused before it is read (the safetensors crate's limit).
  static constexpr uint64_t kMaxHeaderBytes = 100'000'000;

  // Opens and validates `path`. Throws Error with one line naming the file
  // and the tensor or byte offset at fault.
  static std::unique_ptr<SafetensorsCheckpoint> Open(const std::string& path);

  const std::string& path() const override { return file_.path(); }
  // The header's __metadata__ (empty if absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  explicit SafetensorsCheckpoint(MappedFile file) : file_(std::move(file)) {}

  MappedFile file_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace lmc::rt
