// GGUF (llama.cpp's format, v2 and v3) as a checkpoint: the file is mapped and
// each tensor viewed in place. Tensors stored as F32, F16, BF16, Q8_0, Q4_0,
// Q4_1, Q5_0, Q5_1, IQ4_NL or Q2_K..Q6_K (ggml types 0, 1, 30, 8, 2, 3, 6, 7, 20,
// 10-14; rt::InfoOf) are read; a block-quantized tensor is handed to a model
// that reads that dtype as it lies in the file (TensorSource::Q8_0 / Q4_0 /
// Blocks), and dequantized once if the model asks for f32 or bf16.
//
// GGUF lists a tensor's dims innermost first (ggml's ne): ne = {cols, rows}
// is the [rows, cols] matrix, and views carry the outermost-first shape.
// Metadata is skipped except general.alignment (uint32, a power of two;
// default 32), which places the data section and every tensor's offset.
// Everything is checked before a view is handed out: counts and string
// lengths against the bytes left, each type, a quantized row length that is a
// multiple of the type's block (32 or 256), that offsets are aligned and spans lie in the data
// section without overlapping, and that no name repeats; each failure is one line naming the file,
// the tensor and what was expected.
//
// Names are kept as stored: llama.cpp's own names (token_embd.weight,
// blk.N.attn_q.weight, ...) are not mapped to a layout yet.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "runtime/weights/mapped_file.h"
#include "runtime/weights/tensor_source.h"

namespace lmc::rt {

class GgufCheckpoint final : public IndexedTensorSource {
 public:
  // Some ggml tensor types (every one read here: rt::InfoOf(dtype).ggml_type).
  enum GgmlType : uint32_t { kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ8_0 = 8, kBF16 = 30 };
  static constexpr uint32_t kDefaultAlignment = 32;
  static constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS

  // Opens and validates `path`. Throws Error with one line naming the file
  // and the tensor or byte offset at fault.
  static std::unique_ptr<GgufCheckpoint> Open(const std::string& path);

  const std::string& path() const override { return file_.path(); }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }

  // The ggml type storing `dtype`.
  static uint32_t GgmlTypeOf(DType dtype);

 private:
  explicit GgufCheckpoint(MappedFile file) : file_(std::move(file)) {}

  MappedFile file_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kDefaultAlignment;
};

}  // namespace lmc::rt
