#include "runtime/weights/gguf_writer.h"

#include <set>
#include <string_view>

#include "runtime/util/error.h"
#include "runtime/util/output_file.h"
#include "runtime/weights/gguf_checkpoint.h"
#include "runtime/weights/gguf_reader.h"

namespace lmc::rt {
namespace {

constexpr uint64_t kAlignment = GgufCheckpoint::kDefaultAlignment;

uint64_t AlignUp(uint64_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

// Little-endian scalars and GGUF strings into a byte buffer (see tensor_source.cc).
class Buffer {
 public:
  template <typename T>
  void Put(T value) {
    const char* p = reinterpret_cast<const char*>(&value);
    bytes_.append(p, sizeof(T));
  }
  void PutString(std::string_view s) {
    Put<uint64_t>(s.size());
    bytes_.append(s);
  }
  std::string& bytes() { return bytes_; }

 private:
  std::string bytes_;
};

}  // namespace

uint64_t StoredBytes(const std::string& name, DType dtype, const Shape& shape) {
  uint64_t units = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) Fail("tensor '{}' has negative shape {}", name, ShapeToString(shape));
    uint64_t n = static_cast<uint64_t>(shape[i]);
    if (IsBlockQuantized(dtype) && i + 1 == shape.size()) {
      if (n % DTypeBlock(dtype) != 0) {
        Fail("tensor '{}' of shape {} cannot be {}: its rows of {} values are not a multiple of {}",
             name, ShapeToString(shape), DTypeName(dtype), n, DTypeBlock(dtype));
      }
      n /= DTypeBlock(dtype);
    }
    if (__builtin_mul_overflow(units, n, &units)) {
      Fail("tensor '{}' of shape {} overflows 64 bits", name, ShapeToString(shape));
    }
  }
  if (IsBlockQuantized(dtype) && shape.empty()) {
    Fail("tensor '{}' is a scalar and cannot be {}", name, DTypeName(dtype));
  }
  uint64_t bytes;
  if (__builtin_mul_overflow(units, DTypeSize(dtype), &bytes)) {
    Fail("tensor '{}' of shape {} overflows 64 bits", name, ShapeToString(shape));
  }
  return bytes;
}

void WriteGguf(const std::string& path, const std::vector<NamedTensor>& tensors) {
  Buffer header;
  header.Put<uint32_t>(0x46554747u);  // "GGUF"
  header.Put<uint32_t>(3);
  header.Put<uint64_t>(tensors.size());
  header.Put<uint64_t>(1);  // metadata entries
  header.PutString("general.alignment");
  header.Put<uint32_t>(gguf::kU32);
  header.Put<uint32_t>(static_cast<uint32_t>(kAlignment));

  std::set<std::string> names;
  uint64_t offset = 0;
  for (const NamedTensor& t : tensors) {
    if (t.name.empty()) Fail("{}: a tensor has an empty name", path);
    if (!names.insert(t.name).second) Fail("{}: tensor '{}' is given twice", path, t.name);
    if (t.shape.size() > GgufCheckpoint::kMaxDims) {
      Fail("{}: tensor '{}' has {} dimensions, GGUF holds at most {}", path, t.name, t.shape.size(),
           GgufCheckpoint::kMaxDims);
    }
    uint64_t bytes;
    try {
      bytes = StoredBytes(t.name, t.dtype, t.shape);
    } catch (const Error& e) {
      Fail("{}: {}", path, e.what());
    }
    if (bytes != t.data.size()) {
      Fail("{}: tensor '{}' is {} {} = {} bytes, but {} bytes were given", path, t.name,
           DTypeName(t.dtype), ShapeToString(t.shape), bytes, t.data.size());
    }
    header.PutString(t.name);
    header.Put<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) {  // innermost first
      header.Put<uint64_t>(static_cast<uint64_t>(*it));
    }
    header.Put<uint32_t>(GgufCheckpoint::GgmlTypeOf(t.dtype));
    header.Put<uint64_t>(offset);
    offset = AlignUp(offset + bytes);
  }
  std::string& bytes = header.bytes();
  bytes.resize(AlignUp(bytes.size()), '\0');

  OutputFile out(path);
  out.Write(bytes.data(), bytes.size());
  static const char kZeros[kAlignment] = {};
  for (const NamedTensor& t : tensors) {
    out.Write(t.data.data(), t.data.size());
    out.Write(kZeros, AlignUp(t.data.size()) - t.data.size());
  }
  out.Commit();
}

}  // namespace lmc::rt
