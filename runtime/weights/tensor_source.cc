#include "runtime/weights/tensor_source.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <iterator>
#include <type_traits>
#include <utility>

#include "runtime/util/error.h"
#include "runtime/weights/kquant.h"
#include "runtime/weights/mapped_file.h"
#include "runtime/weights/weight_names.h"

namespace lmc::rt {
namespace {

static_assert(std::endian::native == std::endian::little,
              "checkpoints store little-endian tensors that are used in place");

// Levenshtein distance, for "did you mean" hints on a missing name.
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The stored name closest to `name`, if one is close enough to be a typo.
std::string ClosestName(const std::string& name, const std::vector<std::string>& names) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, name.size() / 4) + 1;
  for (const std::string& candidate : names) {
    const size_t d = EditDistance(name, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

int64_t Elements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // sources check shapes against their byte counts
  return n;
}

// Blocks of `Block` from possibly unaligned bytes, dequantized into out (block_values each).
template <typename Block>
void DequantizeBlocks(const std::byte* data, size_t blocks, float* out, size_t block_values) {
  for (size_t i = 0; i < blocks; ++i) {
    Block block;  // copied: the view may be unaligned
    std::memcpy(&block, data + i * sizeof(Block), sizeof(Block));
    if constexpr (std::is_same_v<Block, BlockQ8_0>) {
      DequantizeRowQ8_0(&block, kQuantBlock, out + i * block_values);
    } else if constexpr (std::is_same_v<Block, BlockQ4_0>) {
      DequantizeRowQ4_0(&block, kQuantBlock, out + i * block_values);
    } else {
      DequantizeBlock(block, out + i * block_values);
    }
  }
}

// Every value of a block-quantized tensor into `out`. Q8_0 / Q4_0 rows may end in a partial,
// zero-padded block (quant.h); the other types' rows are whole blocks (checked by the readers).
void Dequantize(const TensorView& view, float* out) {
  const size_t cols = view.shape.empty() ? 1 : static_cast<size_t>(view.shape.back());
  if (cols == 0) return;
  const size_t rows = static_cast<size_t>(Elements(view.shape)) / cols;
  const size_t per = DTypeBlock(view.dtype);
  const size_t blocks = (cols + per - 1) / per;
  const size_t row_bytes = blocks * DTypeSize(view.dtype);
  std::vector<float> row(blocks * per);
  for (size_t r = 0; r < rows; ++r) {
    const std::byte* at = view.data + r * row_bytes;
    switch (view.dtype) {
      case DType::kF32:
      case DType::kF16:
      case DType::kBF16:
        Fail("internal error: Dequantize of {}", DTypeName(view.dtype));
      case DType::kQ8_0:
        DequantizeBlocks<BlockQ8_0>(at, blocks, row.data(), per);
        break;
      case DType::kQ4_0:
        DequantizeBlocks<BlockQ4_0>(at, blocks, row.data(), per);
        break;
      case DType::kQ4_1:
        DequantizeBlocks<BlockQ4_1>(at, blocks, row.data(), per);
        break;
      case DType::kQ5_0:
        DequantizeBlocks<BlockQ5_0>(at, blocks, row.data(), per);
        break;
      case DType::kQ5_1:
        DequantizeBlocks<BlockQ5_1>(at, blocks, row.data(), per);
        break;
      case DType::kIQ4_NL:
        DequantizeBlocks<BlockIQ4_NL>(at, blocks, row.data(), per);
        break;
      case DType::kQ2_K:
        DequantizeBlocks<BlockQ2_K>(at, blocks, row.data(), per);
        break;
      case DType::kQ3_K:
        DequantizeBlocks<BlockQ3_K>(at, blocks, row.data(), per);
        break;
      case DType::kQ4_K:
        DequantizeBlocks<BlockQ4_K>(at, blocks, row.data(), per);
        break;
      case DType::kQ5_K:
        DequantizeBlocks<BlockQ5_K>(at, blocks, row.data(), per);
        break;
      case DType::kQ6_K:
        DequantizeBlocks<BlockQ6_K>(at, blocks, row.data(), per);
        break;
    }
    std::copy_n(row.data(), cols, out + r * cols);
  }
}

constexpr DTypeInfo kDTypeTable[] = {
    {DType::kF32, "f32", 1, 4, 0},
    {DType::kF16, "f16", 1, 2, 1},
    {DType::kBF16, "bf16", 1, 2, 30},
    {DType::kQ8_0, "q8_0", kQuantBlock, sizeof(BlockQ8_0), 8},
    {DType::kQ4_0, "q4_0", kQuantBlock, sizeof(BlockQ4_0), 2},
    {DType::kQ4_1, "q4_1", 32, sizeof(BlockQ4_1), 3},
    {DType::kQ5_0, "q5_0", 32, sizeof(BlockQ5_0), 6},
    {DType::kQ5_1, "q5_1", 32, sizeof(BlockQ5_1), 7},
    {DType::kIQ4_NL, "iq4_nl", 32, sizeof(BlockIQ4_NL), 20},
    {DType::kQ2_K, "q2_k", kSuperBlock, sizeof(BlockQ2_K), 10},
    {DType::kQ3_K, "q3_k", kSuperBlock, sizeof(BlockQ3_K), 11},
    {DType::kQ4_K, "q4_k", kSuperBlock, sizeof(BlockQ4_K), 12},
    {DType::kQ5_K, "q5_k", kSuperBlock, sizeof(BlockQ5_K), 13},
    {DType::kQ6_K, "q6_k", kSuperBlock, sizeof(BlockQ6_K), 14},
};
constexpr bool TableInOrder() {
  size_t i = 0;
  for (const DTypeInfo& info : kDTypeTable) {
    if (info.dtype != kAllDTypes[i++]) return false;
  }
  return i == std::size(kAllDTypes);
}
static_assert(TableInOrder(), "kDTypeTable lists every DType, in enum order");

}  // namespace

const TensorView* IndexedTensorSource::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

std::vector<std::string> IndexedTensorSource::Names() const {
  std::vector<std::string> names;
  names.reserve(tensors_.size());
  for (const auto& [name, view] : tensors_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

const DTypeInfo& InfoOf(DType dtype) { return kDTypeTable[static_cast<size_t>(dtype)]; }

const char* DTypeName(DType dtype) {
  return static_cast<size_t>(dtype) < std::size(kDTypeTable) ? InfoOf(dtype).name : "unknown";
}

std::optional<DType> DTypeOfGgml(uint32_t ggml_type) {
  for (const DTypeInfo& info : kDTypeTable) {
    if (info.ggml_type == ggml_type) return info.dtype;
  }
  return std::nullopt;
}

float F16ToF32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1Fu;
  uint32_t mantissa = bits & 0x3FFu;
  uint32_t out;
  if (exponent == 0x1F) {
    out = sign | 0x7F800000u | (mantissa << 13);  // infinity, or NaN with its payload
  } else if (exponent != 0) {
    out = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    out = sign;  // signed zero
  } else {
    // Subnormal: mantissa * 2^-24. Shift the leading one up to the implicit bit.
    int e = 127 - 15 + 1;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --e;
    }
    out = sign | (static_cast<uint32_t>(e) << 23) | ((mantissa & 0x3FFu) << 13);
  }
  return std::bit_cast<float>(out);
}

float BF16ToF32(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

uint16_t F32ToF16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  uint32_t abs = bits & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) {
    return static_cast<uint16_t>(sign | 0x7E00u | ((abs >> 13) & 0x3FFu));  // quiet NaN
  }
  if (abs >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 2^16, or infinity
  if (abs < 0x38800000u) {
    // Below 2^-14: a subnormal. Adding 0.5f, whose ulp is f16's 2^-24, rounds
    // to nearest even in hardware; the low bits are then the f16 mantissa.
    const float sum = std::bit_cast<float>(abs) + 0.5f;
    return static_cast<uint16_t>(sign | (std::bit_cast<uint32_t>(sum) - 0x3F000000u));
  }
  // Normal: rebias the exponent and round the 13 dropped bits to nearest even;
  // a carry may round up into the next binade or to infinity, as it should.
  const uint32_t odd = (abs >> 13) & 1u;
  abs += (static_cast<uint32_t>(15 - 127) << 23) + 0xFFFu + odd;
  return static_cast<uint16_t>(sign | (abs >> 13));
}

uint16_t F32ToBF16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  const uint32_t odd = (bits >> 16) & 1u;
  return static_cast<uint16_t>((bits + 0x7FFFu + odd) >> 16);
}

std::string TensorSource::Resolve(const std::string& name) const {
  auto under = [&](const std::string& prefix) -> std::optional<std::string> {
    for (std::string candidate : {prefix + name, prefix + optional_prefix_ + name}) {
      if (Find(candidate) != nullptr) return candidate;
    }
    return std::nullopt;
  };
  if (auto found = under("")) return *found;
  if (module_prefix_) return under(*module_prefix_).value_or(name);
  const std::vector<std::string> prefixes = ModulePrefixes(name, optional_prefix_, Names());
  if (prefixes.size() > 1) {
    Fail(
        "{}: no tensor named '{}', but {} prefixes make one: '{}' and '{}'{}; say which with "
        "weights.prefix",
        path(), name, prefixes.size(), prefixes[0], prefixes[1],
        prefixes.size() > 2 ? ", ..." : "");
  }
  if (prefixes.empty()) return name;
  module_prefix_ = prefixes[0];
  return under(*module_prefix_).value_or(name);
}

TensorView TensorSource::Tensor(const std::string& wanted, const Shape& shape) const {
  const std::string name = Resolve(wanted);
  const TensorView* view = Find(name);
  if (view == nullptr) {
    const std::string close = ClosestName(name, Names());
    if (!close.empty()) Fail("{}: no tensor named '{}'; did you mean '{}'?", path(), name, close);
    Fail("{}: no tensor named '{}'", path(), name);
  }
  if (view->shape != shape) {
    Fail("{}: tensor '{}' has shape {}, expected {}", path(), name, ShapeToString(view->shape),
         ShapeToString(shape));
  }
  if (progress_) {  // a tensor taken twice (tied) counts twice: capped at the total
    progress_done_ = std::min(progress_done_ + view->bytes, progress_total_);
    progress_(progress_done_, progress_total_);
  }
  return *view;
}

void TensorSource::set_progress(Progress progress) {
  progress_ = std::move(progress);
  progress_total_ = 0;
  progress_done_ = 0;
  for (const std::string& name : Names()) progress_total_ += Find(name)->bytes;
}

const float* TensorSource::F32(const std::string& name, const Shape& shape) {
  const TensorView view = std::as_const(*this).Tensor(name, shape);  // the view, not the shim
  if (view.dtype == DType::kF32 && reinterpret_cast<uintptr_t>(view.data) % alignof(float) == 0) {
    PopulatePages(view.data, view.bytes);
    return reinterpret_cast<const float*>(view.data);
  }
  auto& copy = f32_copies_[Resolve(name)];
  if (copy != nullptr) return copy.get();
  const size_t n = static_cast<size_t>(Elements(view.shape));
  copy = std::make_unique<float[]>(std::max<size_t>(n, 1));
  float* out = copy.get();
  switch (view.dtype) {
    case DType::kF32:
      std::memcpy(out, view.data, n * sizeof(float));
      break;
    case DType::kF16:
    case DType::kBF16: {
      const bool half = view.dtype == DType::kF16;
      for (size_t i = 0; i < n; ++i) {
        uint16_t bits;
        std::memcpy(&bits, view.data + 2 * i, 2);
        out[i] = half ? F16ToF32(bits) : BF16ToF32(bits);
      }
      break;
    }
    default:
      Dequantize(view, out);
      break;
  }
  ReleasePages(view.data, view.bytes);
  return out;
}

const float* TensorSource::F32(const std::string& name, const Shape& shape,
                               const StoredAs& stored) {
  if (stored.Plain()) return F32(name, shape);
  const int64_t rows = shape.at(0);
  const int64_t cols = Elements(shape) / std::max<int64_t>(rows, 1);
  if (stored.groups < 1 || rows % stored.groups != 0 || stored.parts < 1 ||
      stored.part >= stored.parts) {
    Fail("internal error: tensor '{}' stored as part {} of {} in {} groups", name, stored.part,
         stored.parts, stored.groups);
  }
  Shape stored_shape = shape;
  stored_shape[0] = rows * stored.parts;
  if (stored.transposed) {
    if (shape.size() != 2) Fail("internal error: tensor '{}' transposed but not 2-D", name);
    std::swap(stored_shape[0], stored_shape[1]);
  }
  // A vector that is one row of a [parts, n] table (BERT's token types).
  if (shape.size() == 1 && stored.groups == 1 && !stored.transposed) {
    const TensorView* view = Find(Resolve(name));
    if (view != nullptr && view->shape == Shape{stored.parts, rows}) stored_shape = view->shape;
  }
  const float* src = F32(name, stored_shape);
  auto& copy = f32_copies_[fmt::format("{}#{}/{}/{}{}", Resolve(name), stored.part, stored.parts,
                                       stored.groups, stored.transposed ? "T" : "")];
  if (copy != nullptr) return copy.get();
  copy = std::make_unique<float[]>(std::max<int64_t>(rows * cols, 1));
  const int64_t per_group = rows / stored.groups;
  const int64_t fused_rows = rows * stored.parts;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t g = r / per_group;
    const int64_t from = (g * stored.parts + stored.part) * per_group + r % per_group;
    for (int64_t c = 0; c < cols; ++c) {
      copy[r * cols + c] = stored.transposed ? src[c * fused_rows + from] : src[from * cols + c];
    }
  }
  return copy.get();
}

const uint16_t* TensorSource::BF16(const std::string& name, const Shape& shape) {
  const TensorView view = std::as_const(*this).Tensor(name, shape);
  if (view.dtype == DType::kBF16 &&
      reinterpret_cast<uintptr_t>(view.data) % alignof(uint16_t) == 0) {
    PopulatePages(view.data, view.bytes);
    return reinterpret_cast<const uint16_t*>(view.data);
  }
  auto& copy = bf16_copies_[name];
  if (copy != nullptr) return copy.get();
  const size_t n = static_cast<size_t>(Elements(view.shape));
  copy = std::make_unique<uint16_t[]>(std::max<size_t>(n, 1));
  uint16_t* out = copy.get();
  if (IsBlockQuantized(view.dtype)) {
    std::vector<float> values(n);
    Dequantize(view, values.data());
    for (size_t i = 0; i < n; ++i) out[i] = F32ToBF16(values[i]);
    ReleasePages(view.data, view.bytes);
    return out;
  }
  for (size_t i = 0; i < n; ++i) {
    switch (view.dtype) {
      case DType::kF32: {
        float value;
        std::memcpy(&value, view.data + 4 * i, 4);
        out[i] = F32ToBF16(value);
        break;
      }
      case DType::kF16: {
        uint16_t bits;
        std::memcpy(&bits, view.data + 2 * i, 2);
        out[i] = F32ToBF16(F16ToF32(bits));
        break;
      }
      case DType::kBF16:
        std::memcpy(&out[i], view.data + 2 * i, 2);
        break;
      default:
        break;  // dequantized above
    }
  }
  ReleasePages(view.data, view.bytes);
  return out;
}

template <typename Block>
const Block* TensorSource::Quantized(const std::string& name, const Shape& shape,
                                     std::map<std::string, std::unique_ptr<Block[]>>& copies,
                                     DType block_dtype,
                                     void (*quantize)(const float*, size_t, Block*)) {
  const TensorView view = std::as_const(*this).Tensor(name, shape);
  if (shape.size() != 2) Fail("internal error: quantized tensor '{}' is not a matrix", name);
  if (view.dtype == block_dtype && reinterpret_cast<uintptr_t>(view.data) % alignof(Block) == 0) {
    PopulatePages(view.data, view.bytes);
    return reinterpret_cast<const Block*>(view.data);  // stored as used (GGUF): in place
  }
  if (IsBlockQuantized(view.dtype) && view.dtype != block_dtype) {
    Fail(
        "{}: tensor '{}' is stored as {}, the model reads it as {}; requantizing would round "
        "twice: write the checkpoint with lmc quantize --dtype {} (or build with dtype {})",
        path(), Resolve(name), DTypeName(view.dtype), DTypeName(block_dtype),
        DTypeName(block_dtype), DTypeName(view.dtype));
  }
  auto& copy = copies[Resolve(name)];
  if (copy != nullptr) return copy.get();
  const size_t rows = static_cast<size_t>(shape[0]), cols = static_cast<size_t>(shape[1]);
  const size_t blocks = QuantBlocks(cols);
  copy = std::make_unique<Block[]>(std::max<size_t>(rows * blocks, 1));
  if (view.dtype == block_dtype) {  // stored as used, but unaligned
    std::memcpy(static_cast<void*>(copy.get()), view.data, view.bytes);
    ReleasePages(view.data, view.bytes);
    return copy.get();
  }
  std::vector<float> row(cols);
  const size_t element = DTypeSize(view.dtype);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) {
      const std::byte* at = view.data + (r * cols + c) * element;
      if (view.dtype == DType::kF32) {
        std::memcpy(&row[c], at, 4);
      } else {
        uint16_t bits;
        std::memcpy(&bits, at, 2);
        row[c] = view.dtype == DType::kF16 ? F16ToF32(bits) : BF16ToF32(bits);
      }
      if (!std::isfinite(row[c])) {
        Fail("{}: tensor '{}' holds {} at [{}, {}]; quantized weights must be finite", path(),
             Resolve(name), row[c], r, c);
      }
    }
    quantize(row.data(), cols, copy.get() + r * blocks);
  }
  ReleasePages(view.data, view.bytes);  // converted: the file's pages are not read again
  return copy.get();
}

const BlockQ8_0* TensorSource::Q8_0(const std::string& name, const Shape& shape) {
  return Quantized(name, shape, q8_0_copies_, DType::kQ8_0, QuantizeRowQ8_0);
}

const BlockQ4_0* TensorSource::Q4_0(const std::string& name, const Shape& shape) {
  return Quantized(name, shape, q4_0_copies_, DType::kQ4_0, QuantizeRowQ4_0);
}

Q4_0Matrix TensorSource::Q4_0Kernel(const std::string& name, const Shape& shape, bool panels) {
  if (!panels) return {.rows = Q4_0(name, shape)};
  auto& packed = q4_0_panels_[Resolve(name)];
  if (packed == nullptr) {
    const BlockQ4_0* rows = Q4_0(name, shape);
    const size_t n_rows = static_cast<size_t>(shape[0]);
    const size_t blocks = QuantBlocks(static_cast<size_t>(shape[1]));
    packed = std::make_unique<PanelQ4_0[]>(std::max<size_t>(Q4_0PanelCount(n_rows, blocks), 1));
    PackQ4_0Panels(rows, n_rows, blocks, packed.get());
    // The rows are not read again: a converted copy is freed, a mapped file's pages given back.
    const auto copy = q4_0_copies_.find(Resolve(name));
    if (copy != q4_0_copies_.end() && copy->second.get() == rows) {
      q4_0_copies_.erase(copy);
    } else {
      ReleasePages(rows, n_rows * blocks * sizeof(BlockQ4_0));
    }
  }
  return {.panels = packed.get()};
}

const std::byte* TensorSource::Blocks(const std::string& name, const Shape& shape, DType dtype) {
  const TensorView view = std::as_const(*this).Tensor(name, shape);
  if (shape.size() != 2) Fail("internal error: block tensor '{}' is not a matrix", name);
  if (view.dtype != dtype) {
    Fail("{}: tensor '{}' is stored as {}, the model was compiled to read it as {}", path(),
         Resolve(name), DTypeName(view.dtype), DTypeName(dtype));
  }
  if (reinterpret_cast<uintptr_t>(view.data) % 4 == 0) {  // in place
    PopulatePages(view.data, view.bytes);
    return view.data;
  }
  auto& copy = block_copies_[Resolve(name)];
  if (copy == nullptr) {
    copy = std::make_unique<std::byte[]>(std::max<size_t>(view.bytes, 1));
    std::memcpy(copy.get(), view.data, view.bytes);
    ReleasePages(view.data, view.bytes);
  }
  return copy.get();
}

std::string ShapeToString(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

bool ShapeFitsInt64(const Shape& shape) {
  int64_t product = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && __builtin_mul_overflow(product, d, &product))) return false;
  }
  return true;
}

}  // namespace lmc::rt
