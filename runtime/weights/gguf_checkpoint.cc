#include "runtime/weights/gguf_checkpoint.h"

#include <algorithm>
#include <optional>
#include <unordered_set>
#include <vector>

#include "runtime/util/error.h"
#include "runtime/weights/gguf_reader.h"

namespace lmc::rt {
namespace {

struct Info {
  std::string name;
  DType dtype;
  Shape shape;  // outermost first
  uint64_t offset;
  uint64_t bytes;
};

// One tensor info, checked against itself (not yet against the data section).
Info ReadInfo(gguf::Reader& r, std::unordered_set<std::string_view>& seen) {
  const std::string& path = r.path();
  const std::string_view name = r.String("a tensor name", gguf::kMaxKeyLength);
  const std::string shown = EscapeControlBytes(name);
  if (name.empty()) Fail("{}: byte offset {}: a tensor has an empty name", path, r.offset());
  if (!seen.insert(name).second) Fail("{}: tensor '{}' appears twice", path, shown);
  Info info;
  info.name = std::string(name);
  const uint32_t n_dims = r.Read<uint32_t>("a tensor's dimension count");
  if (n_dims > GgufCheckpoint::kMaxDims) {
    Fail("{}: tensor '{}' has {} dimensions, expected at most {}", path, shown, n_dims,
         GgufCheckpoint::kMaxDims);
  }
  std::vector<uint64_t> ne(n_dims);
  for (uint64_t& n : ne) {
    n = r.Read<uint64_t>("a tensor dimension");
    if (n > static_cast<uint64_t>(INT64_MAX)) {
      Fail("{}: tensor '{}' has dimension {}, expected at most 2^63 - 1", path, shown, n);
    }
  }
  const uint32_t type = r.Read<uint32_t>("a tensor type");
  info.offset = r.Read<uint64_t>("a tensor offset");
  const std::optional<DType> dtype = DTypeOfGgml(type);
  if (!dtype) {
    Fail(
        "{}: tensor '{}' has ggml type {}; lmc reads F32 (0), F16 (1), BF16 (30), Q8_0 (8), "
        "Q4_0 (2), Q4_1 (3), Q5_0 (6), Q5_1 (7), IQ4_NL (20) and Q2_K..Q6_K (10-14)",
        path, shown, type);
  }
  info.dtype = *dtype;
  for (auto it = ne.rbegin(); it != ne.rend(); ++it)
    info.shape.push_back(static_cast<int64_t>(*it));

  // Bytes: elements x size, or for blocks: (row length / block) blocks per row.
  const bool blocks = IsBlockQuantized(info.dtype);
  const uint64_t block = DTypeBlock(info.dtype);
  uint64_t units = 1;
  bool overflow = false;
  for (size_t i = 0; i < ne.size(); ++i) {
    uint64_t n = ne[i];
    if (i == 0 && blocks) {
      if (n % block != 0) {
        Fail("{}: tensor '{}' is {} with rows of {} values, expected a multiple of {}", path, shown,
             DTypeName(info.dtype), n, block);
      }
      n /= block;
    }
    overflow = overflow || __builtin_mul_overflow(units, n, &units);
  }
  if (blocks && ne.empty()) {
    Fail("{}: tensor '{}' is a {} scalar, expected rows of a multiple of {} values", path, shown,
         DTypeName(info.dtype), block);
  }
  overflow = overflow || __builtin_mul_overflow(units, DTypeSize(info.dtype), &info.bytes);
  if (overflow || !ShapeFitsInt64(info.shape)) {
    Fail("{}: tensor '{}' of shape {} holds more than 2^63 values or 2^64 bytes", path, shown,
         ShapeToString(info.shape));
  }
  return info;
}

}  // namespace

uint32_t GgufCheckpoint::GgmlTypeOf(DType dtype) { return InfoOf(dtype).ggml_type; }

std::unique_ptr<GgufCheckpoint> GgufCheckpoint::Open(const std::string& path) {
  auto checkpoint = std::unique_ptr<GgufCheckpoint>(new GgufCheckpoint(MappedFile::Open(path)));
  const MappedFile& file = checkpoint->file_;
  gguf::Reader r(file.data(), file.size(), path);
  const gguf::Preamble preamble = gguf::ReadPreamble(r);
  checkpoint->version_ = preamble.version;

  std::unordered_set<std::string_view> keys;
  for (uint64_t i = 0; i < preamble.metadata_count; ++i) {
    const std::string_view key = gguf::ReadKey(r, keys);
    const size_t type_at = r.offset();
    const uint32_t type = r.Read<uint32_t>("a metadata type");
    if (key != "general.alignment") {
      gguf::SkipValue(r, type, key);
      continue;
    }
    if (type != gguf::kU32) {
      Fail("{}: byte offset {}: metadata \"general.alignment\" is {}, expected uint32", path,
           type_at, gguf::TypeName(type));
    }
    const uint32_t alignment = r.Read<uint32_t>(key);
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
      Fail("{}: byte offset {}: general.alignment is {}, expected a power of two", path,
           type_at + 4, alignment);
    }
    checkpoint->alignment_ = alignment;
  }

  // A tensor info takes at least 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset) bytes.
  if (preamble.tensor_count > r.left() / 24) {
    Fail("{}: byte offset {}: {} tensor infos cannot fit in the {} bytes left", path, r.offset(),
         preamble.tensor_count, r.left());
  }
  std::vector<Info> infos;
  infos.reserve(preamble.tensor_count);
  std::unordered_set<std::string_view> seen;
  for (uint64_t i = 0; i < preamble.tensor_count; ++i) infos.push_back(ReadInfo(r, seen));

  const uint64_t alignment = checkpoint->alignment_;
  const uint64_t infos_end = r.offset();
  const uint64_t data_start = (infos_end + alignment - 1) / alignment * alignment;
  if (!infos.empty() && data_start > file.size()) {
    Fail(
        "{}: the data section starts at byte {} (the tensor infos end at {}, aligned to {}), "
        "past the end of the file ({} bytes)",
        path, data_start, infos_end, alignment, file.size());
  }
  const uint64_t data_bytes = infos.empty() ? 0 : file.size() - data_start;
  for (const Info& info : infos) {
    const std::string shown = EscapeControlBytes(info.name);
    if (info.offset % alignment != 0) {
      Fail("{}: tensor '{}' is at data offset {}, expected a multiple of general.alignment {}",
           path, shown, info.offset, alignment);
    }
    if (info.offset > data_bytes || info.bytes > data_bytes - info.offset) {
      Fail(
          "{}: tensor '{}' ({} {} = {} bytes at data offset {}) runs past the end of the data "
          "section ({} bytes)",
          path, shown, DTypeName(info.dtype), ShapeToString(info.shape), info.bytes, info.offset,
          data_bytes);
    }
  }
  std::vector<const Info*> order;
  for (const Info& info : infos) order.push_back(&info);
  std::sort(order.begin(), order.end(),
            [](const Info* a, const Info* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < order.size(); ++i) {
    const Info& a = *order[i - 1];
    const Info& b = *order[i];
    if (b.offset < a.offset + a.bytes) {
      Fail("{}: tensors '{}' [{}, {}) and '{}' [{}, {}) overlap", path, EscapeControlBytes(a.name),
           a.offset, a.offset + a.bytes, EscapeControlBytes(b.name), b.offset, b.offset + b.bytes);
    }
  }

  const std::byte* data = reinterpret_cast<const std::byte*>(file.data() + data_start);
  for (Info& info : infos) {
    checkpoint->tensors_.emplace(std::move(info.name), TensorView{info.dtype, std::move(info.shape),
                                                                  data + info.offset, info.bytes});
  }
  return checkpoint;
}

}  // namespace lmc::rt
