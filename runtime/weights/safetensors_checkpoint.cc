#include "runtime/weights/safetensors_checkpoint.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "runtime/util/error.h"
#include "runtime/weights/checkpoint_json.h"

namespace lmc::rt {
namespace {

using Json = nlohmann::json;

constexpr size_t kLengthBytes = 8;

const char* JsonType(const Json& j) { return j.type_name(); }

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin;
  uint64_t end;
};

// One tensor's header entry, checked against itself and the data section size.
Entry ParseEntry(const std::string& path, const std::string& name, const Json& j,
                 uint64_t data_bytes) {
  const std::string shown = EscapeControlBytes(name);
  if (name.empty()) Fail("{}: a tensor has an empty name", path);
  if (!j.is_object()) {
    Fail("{}: tensor '{}': expected an object with dtype, shape and data_offsets, found {}", path,
         shown, JsonType(j));
  }
  for (const auto& [key, value] : j.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      Fail("{}: tensor '{}' has unknown field '{}'; expected dtype, shape and data_offsets", path,
           shown, EscapeControlBytes(key));
    }
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!j.contains(key)) Fail("{}: tensor '{}' has no {}", path, shown, key);
  }

  Entry e;
  e.name = name;
  const Json& dtype = j["dtype"];
  if (!dtype.is_string()) {
    Fail("{}: tensor '{}': dtype must be a string, found {}", path, shown, JsonType(dtype));
  }
  const std::string d = dtype.get<std::string>();
  if (d == "F32") {
    e.dtype = DType::kF32;
  } else if (d == "F16") {
    e.dtype = DType::kF16;
  } else if (d == "BF16") {
    e.dtype = DType::kBF16;
  } else {
    Fail("{}: tensor '{}' has dtype {}; lmc reads F32, F16 and BF16", path, shown,
         EscapeControlBytes(d));
  }

  const Json& shape = j["shape"];
  if (!shape.is_array()) {
    Fail("{}: tensor '{}': shape must be an array, found {}", path, shown, JsonType(shape));
  }
  uint64_t bytes = DTypeSize(e.dtype);
  bool overflow = false;
  for (const Json& dim : shape) {
    if (!dim.is_number_unsigned() || dim.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      Fail("{}: tensor '{}': shape {} must hold non-negative integers", path, shown,
           EscapeControlBytes(shape.dump()));
    }
    const uint64_t n = dim.get<uint64_t>();
    e.shape.push_back(static_cast<int64_t>(n));
    overflow = overflow || __builtin_mul_overflow(bytes, n, &bytes);
  }
  const Json& offsets = j["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    Fail("{}: tensor '{}': data_offsets {} must be two non-negative integers [begin, end]", path,
         shown, EscapeControlBytes(offsets.dump()));
  }
  e.begin = offsets[0].get<uint64_t>();
  e.end = offsets[1].get<uint64_t>();
  if (e.begin > e.end) {
    Fail("{}: tensor '{}' has data_offsets [{}, {}]: begin is after end", path, shown, e.begin,
         e.end);
  }
  if (e.end > data_bytes) {
    Fail("{}: tensor '{}' has data_offsets [{}, {}] past the end of the data section ({} bytes)",
         path, shown, e.begin, e.end, data_bytes);
  }
  overflow = overflow || !ShapeFitsInt64(e.shape);
  if (overflow || bytes != e.end - e.begin) {
    Fail("{}: tensor '{}' is {} {} = {} bytes, but its data_offsets [{}, {}] span {}", path, shown,
         d, ShapeToString(e.shape),
         overflow ? std::string("more than 2^63 values or 2^64") : std::to_string(bytes), e.begin,
         e.end, e.end - e.begin);
  }
  return e;
}

// Parses the header, refusing a key repeated within any object.
Json ParseHeader(const std::string& path, std::string_view text) {
  RepeatedKey repeated;
  Json header = ParseCheckpointJson(path, text, kLengthBytes, "header", &repeated);
  if (!repeated.key.empty()) {
    if (repeated.depth <= 1)
      Fail("{}: tensor '{}' appears twice in the header", path, EscapeControlBytes(repeated.key));
    Fail("{}: header repeats the key '{}' inside an entry", path, EscapeControlBytes(repeated.key));
  }
  return header;
}

}  // namespace

std::unique_ptr<SafetensorsCheckpoint> SafetensorsCheckpoint::Open(const std::string& path) {
  MappedFile file = MappedFile::Open(path);
  const uint64_t size = file.size();
  if (size < kLengthBytes) {
    Fail("{}: truncated: a safetensors file starts with an 8-byte header length, found {} bytes",
         path, size);
  }
  uint64_t header_bytes;
  std::memcpy(&header_bytes, file.data(), kLengthBytes);
  if (header_bytes > kMaxHeaderBytes) {
    Fail("{}: header length {} (file bytes 0-7) is over the {}-byte limit; not a safetensors file?",
         path, header_bytes, kMaxHeaderBytes);
  }
  if (header_bytes > size - kLengthBytes) {
    Fail("{}: header length {} (file bytes 0-7) runs past the end of the file ({} bytes)", path,
         header_bytes, size);
  }
  const char* text = reinterpret_cast<const char*>(file.data() + kLengthBytes);
  const Json header = ParseHeader(path, std::string_view(text, header_bytes));
  if (!header.is_object()) {
    Fail("{}: header is a JSON {}, expected an object mapping tensor names to entries", path,
         JsonType(header));
  }

  auto checkpoint =
      std::unique_ptr<SafetensorsCheckpoint>(new SafetensorsCheckpoint(std::move(file)));
  const uint64_t data_start = kLengthBytes + header_bytes;
  const uint64_t data_bytes = size - data_start;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) {
        Fail("{}: __metadata__ must be an object of strings, found {}", path, JsonType(value));
      }
      for (const auto& [key, text_value] : value.items()) {
        if (!text_value.is_string()) {
          Fail("{}: __metadata__ entry '{}' must be a string, found {}", path,
               EscapeControlBytes(key), JsonType(text_value));
        }
        checkpoint->metadata_[key] = text_value.get<std::string>();
      }
      continue;
    }
    entries.push_back(ParseEntry(path, name, value, data_bytes));
  }

  // The spans must tile the data section exactly: no overlap, no hole.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < covered) {
      Fail("{}: tensors '{}' [{}, {}] and '{}' [{}, {}] overlap", path,
           EscapeControlBytes(previous->name), previous->begin, previous->end,
           EscapeControlBytes(e.name), e.begin, e.end);
    }
    if (e.begin > covered) {
      Fail("{}: data bytes [{}, {}) before tensor '{}' belong to no tensor", path, covered, e.begin,
           EscapeControlBytes(e.name));
    }
    covered = e.end;
    previous = &e;
  }
  if (covered != data_bytes) {
    Fail("{}: data bytes [{}, {}) after the last tensor belong to no tensor", path, covered,
         data_bytes);
  }

  const std::byte* data = reinterpret_cast<const std::byte*>(checkpoint->file_.data() + data_start);
  for (Entry& e : entries) {
    checkpoint->tensors_.emplace(
        e.name, TensorView{e.dtype, std::move(e.shape), data + e.begin, e.end - e.begin});
  }
  return checkpoint;
}

}  // namespace lmc::rt
