#include "runtime/weights/gguf_reader.h"

#include <fmt/format.h>

#include "runtime/util/error.h"

namespace lmc::rt::gguf {

size_t ScalarSize(uint32_t type) {
  switch (type) {
    case kU8:
    case kI8:
    case kBool:
      return 1;
    case kU16:
    case kI16:
      return 2;
    case kU32:
    case kI32:
    case kF32:
      return 4;
    case kU64:
    case kI64:
    case kF64:
      return 8;
    default:
      return 0;
  }
}

const char* TypeName(uint32_t type) {
  static const char* kNames[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                 "int32",  "float32", "bool",   "string", "array",
                                 "uint64", "int64",   "float64"};
  return type <= kF64 ? kNames[type] : "unknown";
}

void Reader::Need(uint64_t n, std::string_view what) const {
  if (n > left()) {
    Fail("{}: truncated at byte offset {}: expected {} ({} bytes), {} left", path_, pos_,
         EscapeControlBytes(what), n, left());
  }
}

std::string_view Reader::String(std::string_view what, uint64_t max_length) {
  const size_t at = pos_;
  const uint64_t n = Read<uint64_t>(what);
  if (n > max_length) {
    Fail("{}: byte offset {}: {} is {} bytes long, expected at most {}", path_, at,
         EscapeControlBytes(what), n, max_length);
  }
  Need(n, what);
  std::string_view s(reinterpret_cast<const char*>(data_ + pos_), n);
  pos_ += n;
  return s;
}

void Reader::Skip(uint64_t n, std::string_view what) {
  Need(n, what);
  pos_ += n;
}

Preamble ReadPreamble(Reader& r) {
  const std::string& path = r.path();
  r.Need(4, "the GGUF magic");
  if (r.Read<uint32_t>("the GGUF magic") != 0x46554747u) {  // "GGUF" little-endian
    Fail("{}: byte offset 0: expected the magic \"GGUF\"; not a GGUF file", path);
  }
  Preamble p;
  p.version = r.Read<uint32_t>("the GGUF version");
  if (p.version != 2 && p.version != 3) {
    Fail("{}: byte offset 4: GGUF version {}, expected 2 or 3", path, p.version);
  }
  p.tensor_count = r.Read<uint64_t>("the tensor count");
  const size_t kv_at = r.offset();
  p.metadata_count = r.Read<uint64_t>("the metadata count");
  // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes.
  if (p.metadata_count > r.left() / 13) {
    Fail("{}: byte offset {}: {} metadata entries cannot fit in the {} bytes left", path, kv_at,
         p.metadata_count, r.left());
  }
  return p;
}

std::string_view ReadKey(Reader& r, std::unordered_set<std::string_view>& seen) {
  const size_t at = r.offset();
  const std::string_view key = r.String("a metadata key", kMaxKeyLength);
  if (!seen.insert(key).second) {
    Fail("{}: byte offset {}: metadata key \"{}\" appears twice; expected each key once", r.path(),
         at, EscapeControlBytes(key));
  }
  return key;
}

bool ReadBool(Reader& r, std::string_view key) {
  const size_t at = r.offset();
  const uint8_t value = r.Read<uint8_t>(key);
  if (value > 1) {
    Fail("{}: byte offset {}: metadata \"{}\" is a bool of value {}, expected 0 or 1", r.path(), at,
         EscapeControlBytes(key), value);
  }
  return value == 1;
}

namespace {

void Skip(Reader& r, uint32_t type, std::string_view key, uint64_t depth) {
  const std::string& path = r.path();
  if (type == kString) {
    r.String(key, r.left());
  } else if (type == kArray) {
    if (depth >= kMaxArrayDepth) {
      Fail("{}: byte offset {}: metadata \"{}\" nests arrays deeper than {}", path, r.offset(),
           EscapeControlBytes(key), kMaxArrayDepth);
    }
    const size_t at = r.offset();
    const uint32_t elem = r.Read<uint32_t>("an array element type");
    const uint64_t n = r.Read<uint64_t>("an array count");
    if (elem > kF64) {
      Fail("{}: byte offset {}: metadata \"{}\" has element type {}, expected 0..12", path, at,
           EscapeControlBytes(key), elem);
    }
    const uint64_t size = ScalarSize(elem);
    const uint64_t min_size = size > 0 ? size : 8;  // a string or array takes 8 bytes or more
    if (n > r.left() / min_size) {
      Fail(
          "{}: byte offset {}: metadata \"{}\" declares {} elements, more than the {} bytes "
          "left can hold",
          path, at + 4, EscapeControlBytes(key), n, r.left());
    }
    if (elem == kBool) {
      for (uint64_t k = 0; k < n; ++k) ReadBool(r, key);
    } else if (size > 0) {
      r.Skip(n * size, key);
    } else {
      for (uint64_t k = 0; k < n; ++k) Skip(r, elem, key, depth + 1);
    }
  } else if (type == kBool) {
    ReadBool(r, key);
  } else if (type <= kF64) {
    r.Skip(ScalarSize(type), key);
  } else {
    Fail("{}: byte offset {}: metadata \"{}\" has type {}, expected 0..12", path, r.offset(),
         EscapeControlBytes(key), type);
  }
}

}  // namespace

void SkipValue(Reader& r, uint32_t type, std::string_view key) { Skip(r, type, key, 0); }

}  // namespace lmc::rt::gguf
