#include "runtime/weights/safetensors_writer.h"

#include <nlohmann/json.hpp>
#include <set>

#include "runtime/util/error.h"
#include "runtime/util/output_file.h"

namespace lmc::rt {
namespace {

const char* SafetensorsDType(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kF16:
      return "F16";
    case DType::kBF16:
      return "BF16";
    default:  // block-quantized: refused by WriteSafetensors
      break;
  }
  return "?";
}

}  // namespace

void WriteSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const NamedTensor& t : tensors) {
    if (t.name.empty()) Fail("{}: a tensor has an empty name", path);
    if (t.name == "__metadata__") Fail("{}: '__metadata__' cannot name a tensor", path);
    if (!names.insert(t.name).second) Fail("{}: tensor '{}' is given twice", path, t.name);
    if (IsBlockQuantized(t.dtype)) {
      Fail("{}: tensor '{}' is {}, which safetensors cannot store (write GGUF)", path, t.name,
           DTypeName(t.dtype));
    }
    uint64_t bytes = DTypeSize(t.dtype);
    for (int64_t d : t.shape) {
      if (d < 0)
        Fail("{}: tensor '{}' has negative shape {}", path, t.name, ShapeToString(t.shape));
      if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes)) {
        Fail("{}: tensor '{}' shape {} overflows 64 bits", path, t.name, ShapeToString(t.shape));
      }
    }
    if (bytes != t.data.size()) {
      Fail("{}: tensor '{}' is {} {} = {} bytes, but {} bytes were given", path, t.name,
           DTypeName(t.dtype), ShapeToString(t.shape), bytes, t.data.size());
    }
    header[t.name] = {{"dtype", SafetensorsDType(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned, as the
  // safetensors crate does: f32 tensors can then be used in place.
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t length = text.size();

  OutputFile out(path);
  out.Write(&length, sizeof(length));  // little-endian (see tensor_source.cc)
  out.Write(text.data(), text.size());
  for (const NamedTensor& t : tensors) out.Write(t.data.data(), t.data.size());
  out.Commit();
}

}  // namespace lmc::rt
