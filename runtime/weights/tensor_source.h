// A checkpoint seen as named, typed tensors.
//
// Every checkpoint format (llama2.c, safetensors, later GGUF) implements this
// one interface: it lists its tensors as views (dtype, shape, bytes) into the
// mapped file. Generated code binds its weights by asking for each tensor by
// name and expected shape; the source checks both and fails with one line
// naming the file, the tensor, and the shape expected versus found.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/weights/kquant.h"
#include "runtime/weights/quant.h"

namespace lmc::rt {

using Shape = std::vector<int64_t>;

// Element types a checkpoint may store: lmc's one dtype enum, also the spec's
// `dtype` and the IR's weights'. Names as specs spell them. The block-quantized
// ones are GGUF's blocks (quant.h: q8_0, q4_0; kquant.h: the rest): a tensor of
// them has a last dimension that is a multiple of DTypeBlock, each row stored as
// its blocks. Q8_K is not here: it is only ever an activation format.
enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kQ8_0,
  kQ4_0,
  kQ4_1,
  kQ5_0,
  kQ5_1,
  kIQ4_NL,
  kQ2_K,
  kQ3_K,
  kQ4_K,
  kQ5_K,
  kQ6_K,
};
inline constexpr DType kAllDTypes[] = {DType::kF32,    DType::kF16,  DType::kBF16, DType::kQ8_0,
                                       DType::kQ4_0,   DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                                       DType::kIQ4_NL, DType::kQ2_K, DType::kQ3_K, DType::kQ4_K,
                                       DType::kQ5_K,   DType::kQ6_K};
// "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl", "q2_k" ... "q6_k"
const char* DTypeName(DType dtype);
// The dtype DTypeName spells `name`, if any.
inline std::optional<DType> DTypeByName(std::string_view name) {
  for (DType dtype : kAllDTypes) {
    if (name == DTypeName(dtype)) return dtype;
  }
  return std::nullopt;
}
// One row of the table every dtype question is answered from (tensor_source.cc):
// values per block (1 for f32/f16/bf16, 32, or 256 for the k-quants), bytes per
// block, and ggml's type id in GGUF.
struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t block;
  size_t bytes;
  uint32_t ggml_type;
};
const DTypeInfo& InfoOf(DType dtype);
inline size_t DTypeSize(DType dtype) { return InfoOf(dtype).bytes; }   // per element or block
inline size_t DTypeBlock(DType dtype) { return InfoOf(dtype).block; }  // values per block
inline bool IsBlockQuantized(DType dtype) { return DTypeBlock(dtype) > 1; }
// Bytes of a row of `cols` values (cols a multiple of DTypeBlock).
inline size_t RowBytes(DType dtype, size_t cols) {
  return cols / DTypeBlock(dtype) * DTypeSize(dtype);
}
// The dtype ggml's type id `ggml_type` names, if lmc reads it.
std::optional<DType> DTypeOfGgml(uint32_t ggml_type);

// A matrix of any block type whose dtype is known only at run time: a per-layer weight whose
// layers are stored in different block types (llama.cpp's Q4_K_M keeps some layers' ffn_down
// in Q6_K). The row kernels dispatch on `dtype` once per product (kquant_rows-inl.h).
struct AnyBlocks {
  const std::byte* data = nullptr;
  DType dtype = DType::kQ8_0;
};

// One stored tensor: little-endian elements (or blocks), row-major, `bytes` long. `data`
// points into the source's storage and lives as long as the source; it may be
// unaligned for the dtype.
struct TensorView {
  DType dtype;
  Shape shape;
  const std::byte* data;
  size_t bytes;
};

// How a checkpoint stores a weight that lmc computes with as `shape` [R, C...]:
// transposed ([C, R]), and/or as part `part` of `parts` fused along the first
// axis, in consecutive blocks (groups == 1) or interleaved in `groups` groups
// (rows [groups][parts][R / groups]: BLOOM's per-head query_key_value).
struct StoredAs {
  bool transposed = false;
  int parts = 1, part = 0, groups = 1;
  bool Plain() const { return !transposed && parts == 1; }
};

class TensorSource {
 public:
  virtual ~TensorSource() = default;

  // The tensor called `name`, or nullptr if the checkpoint has none.
  virtual const TensorView* Find(const std::string& name) const = 0;
  // Every tensor's name, sorted.
  virtual std::vector<std::string> Names() const = 0;
  // The checkpoint's path, for messages.
  virtual const std::string& path() const = 0;

  // The tensor called `name`, which must have `shape`. Throws Error naming the
  // file, the tensor and the shapes (or the closest name if there is none).
  TensorView Tensor(const std::string& name, const Shape& shape) const;

  // Called as tensors are taken (by Tensor and every accessor below) with the bytes taken
  // so far and the checkpoint's total: what a loading progress display shows.
  using Progress = std::function<void(uint64_t done, uint64_t total)>;
  void set_progress(Progress progress);

  // The tensor as float32, valid while the source lives: in place for stored
  // f32 (copied if the file leaves it unaligned), converted exactly once from
  // f16 or bf16 (or dequantized once from q8_0 / q4_0 blocks) into storage the
  // source owns.
  const float* F32(const std::string& name, const Shape& shape);

  // The weight `shape` as float32 from a tensor stored as `stored` describes:
  // the stored shape is checked, and a rearranged copy made once.
  const float* F32(const std::string& name, const Shape& shape, const StoredAs& stored);

  // Names may carry this prefix in the file, or not (Hugging Face saves
  // "transformer.h.0..." or "h.0..." depending on the class that saved them).
  void set_optional_prefix(std::string prefix) { optional_prefix_ = std::move(prefix); }

  // The module prefix a wrapping module put before every name ("model."), before the
  // optional prefix: names are looked up without it, then with it. Without this call it
  // is detected (see Resolve).
  void set_module_prefix(std::string prefix) { module_prefix_ = std::move(prefix); }

  // The file's name for tensor `name`: as given, or with the optional prefix, or either
  // under the module prefix. That one, unless set, is detected at the first name found
  // only under it, when exactly one prefix makes the name resolve (rt::ModulePrefixes),
  // and kept for every later name. A name the file does not have comes back as given; one
  // under several prefixes throws Error naming them.
  std::string Resolve(const std::string& name) const;

  // The tensor as bfloat16 bits, valid while the source lives: in place for stored bf16
  // (copied if the file leaves it unaligned), else converted exactly once, rounding to
  // nearest even, into storage the source owns (q8_0 / q4_0 are dequantized first).
  const uint16_t* BF16(const std::string& name, const Shape& shape);

  // The matrix `shape` [rows, cols] quantized to GGUF's Q8_0 / Q4_0 blocks (see quant.h: each
  // row is QuantBlocks(cols) blocks, the last zero-padded), converted exactly once from f32,
  // f16 or bf16 into storage the source owns. A non-finite value fails, naming the tensor.
  // A tensor stored in the same blocks (GGUF) is used in place, without a copy; one stored in
  // the other block type is refused (requantizing would round twice).
  const BlockQ8_0* Q8_0(const std::string& name, const Shape& shape);
  const BlockQ4_0* Q4_0(const std::string& name, const Shape& shape);
  // The same Q4_0 matrix for the kernels: with `panels`, repacked once into storage the source
  // owns (its rows' memory given back), else Q4_0's rows.
  Q4_0Matrix Q4_0Kernel(const std::string& name, const Shape& shape, bool panels);

  // The matrix `shape` [rows, cols] as the blocks of `dtype` it is stored in (any block type:
  // GGUF's k-quants, Q4_1, Q5_0, Q5_1, IQ4_NL, and Q8_0 / Q4_0 too), in place (copied once
  // if the file leaves it unaligned), never converted: a tensor stored in another dtype is
  // refused, naming it and both dtypes.
  const std::byte* Blocks(const std::string& name, const Shape& shape, DType dtype);
  template <typename Block>
  const Block* Blocks(const std::string& name, const Shape& shape, DType dtype) {
    return reinterpret_cast<const Block*>(Blocks(name, shape, dtype));
  }
  // The dtype `name` is stored in (Tensor's checks and errors).
  DType StoredDType(const std::string& name, const Shape& shape) const {
    return Tensor(name, shape).dtype;
  }

 private:
  template <typename Block>
  const Block* Quantized(const std::string& name, const Shape& shape,
                         std::map<std::string, std::unique_ptr<Block[]>>& copies, DType block_dtype,
                         void (*quantize)(const float*, size_t, Block*));

  std::map<std::string, std::unique_ptr<float[]>> f32_copies_;
  Progress progress_;
  uint64_t progress_total_ = 0;
  mutable uint64_t progress_done_ = 0;
  std::string optional_prefix_;
  mutable std::optional<std::string> module_prefix_;  // Set, or detected by Resolve.
  std::map<std::string, std::unique_ptr<uint16_t[]>> bf16_copies_;
  std::map<std::string, std::unique_ptr<BlockQ8_0[]>> q8_0_copies_;
  std::map<std::string, std::unique_ptr<BlockQ4_0[]>> q4_0_copies_;
  std::map<std::string, std::unique_ptr<PanelQ4_0[]>> q4_0_panels_;
  std::map<std::string, std::unique_ptr<std::byte[]>> block_copies_;
};

// A source that indexes its file once when opened: its tensors are views kept
// by name, and Find and Names look there (llama2.c, safetensors).
class IndexedTensorSource : public TensorSource {
 public:
  const TensorView* Find(const std::string& name) const final;
  std::vector<std::string> Names() const final;

 protected:
  std::unordered_map<std::string, TensorView> tensors_;
};

// "[64, 172]"
std::string ShapeToString(const Shape& shape);

// True when the product of the non-zero dimensions fits in int64_t, so every
// partial product of the shape, in any order, does too. Readers refuse shapes
// that fail this: consumers multiply dimensions without checking.
bool ShapeFitsInt64(const Shape& shape);

// Exact widening of one IEEE binary16 / bfloat16 value (bits as stored) to
// float32: subnormals, infinities and NaN payloads included.
float F16ToF32(uint16_t bits);
float BF16ToF32(uint16_t bits);
// Narrowing of float32 to binary16 / bfloat16 bits, rounding to nearest even:
// too large becomes infinity, too small a subnormal or zero; NaN stays a
// (quiet) NaN with its sign and top payload bits.
uint16_t F32ToF16(float value);
uint16_t F32ToBF16(float value);

}  // namespace lmc::rt
