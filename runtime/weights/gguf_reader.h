// Reading GGUF (llama.cpp's format, v2 and v3, little-endian) safely: the
// pieces the tokenizer reader (runtime/tokenizer/gguf_vocab.cc) and the
// weights reader (gguf_checkpoint.cc) share. Every length and count is checked
// against the bytes left before anything is read or allocated; a corrupt file
// fails with one Error naming the file and the byte offset.
//
// Layout: "GGUF", u32 version, u64 tensor count, u64 metadata count, the
// metadata (key string, u32 value type, value), the tensor infos (name, u32
// n_dims, u64 ne[n_dims] innermost first, u32 ggml type, u64 offset into the
// data section), padding to general.alignment, the data section. A string is
// a u64 length and its bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_set>

namespace lmc::rt::gguf {

// Metadata value types.
enum ValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

// Bytes of a scalar of `type` (0 for strings and arrays, or unknown types).
size_t ScalarSize(uint32_t type);
// "uint8", ..., "float64"; "unknown" past kF64.
const char* TypeName(uint32_t type);

// Longer keys and names than any real file holds are corruption.
inline constexpr uint64_t kMaxKeyLength = 1 << 16;
inline constexpr uint64_t kMaxArrayDepth = 4;

class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& path)
      : data_(data), size_(size), path_(path) {}

  size_t offset() const { return pos_; }
  size_t left() const { return size_ - pos_; }
  const std::string& path() const { return path_; }

  // Fails unless `n` more bytes are there to read `what`.
  void Need(uint64_t n, std::string_view what) const;
  template <typename T>
  T Read(std::string_view what) {
    Need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  // A string of at most `max_length` bytes, viewed in place.
  std::string_view String(std::string_view what, uint64_t max_length);
  void Skip(uint64_t n, std::string_view what);

 private:
  const uint8_t* data_;
  size_t size_;
  const std::string& path_;
  size_t pos_ = 0;
};

// The fixed header, checked: the magic, a version of 2 or 3, and counts the
// metadata count the bytes left can hold (an entry takes at least 13 bytes).
struct Preamble {
  uint32_t version = 0;
  uint64_t tensor_count = 0;
  uint64_t metadata_count = 0;
};
Preamble ReadPreamble(Reader& r);

// Reads a metadata key, refusing one that `seen` (the keys read before, viewed in place) holds:
// readers keep one value per key, and which one would be a guess.
std::string_view ReadKey(Reader& r, std::unordered_set<std::string_view>& seen);

// Reads a bool metadata value of the key `key`, refusing a byte other than 0 or 1.
bool ReadBool(Reader& r, std::string_view key);

// Skips one metadata value of `type` (arrays of arrays to kMaxArrayDepth) of the key `key`,
// checking its bools.
void SkipValue(Reader& r, uint32_t type, std::string_view key);

}  // namespace lmc::rt::gguf
