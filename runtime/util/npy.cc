#include "runtime/util/npy.h"

#include <bit>

#include "runtime/util/error.h"
#include "runtime/util/output_file.h"

namespace lmc::rt {
namespace {

// '<f4' promises little-endian bytes; we write memory as is.
static_assert(std::endian::native == std::endian::little, "npy writer assumes little-endian");

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kPreludeSize = kMagicSize + 2 + 2;  // magic, version, header length
constexpr size_t kAlignment = 64;

// numpy's tuple repr: "()", "(3,)", "(2, 3)".
std::string ShapeTuple(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1) out += ",";
  return out + ")";
}

}  // namespace

void WriteNpy(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  uint64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) Fail("{}: cannot write .npy: negative dimension {} in shape", path, dim);
    if (dim != 0 && count > UINT64_MAX / sizeof(float) / static_cast<uint64_t>(dim)) {
      Fail("{}: cannot write .npy: shape is too large", path);
    }
    count *= static_cast<uint64_t>(dim);
  }
  if (count > 0 && data == nullptr) Fail("{}: cannot write .npy: no data", path);

  std::string header =
      fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': {}, }}", ShapeTuple(shape));
  // Pad with spaces and end with '\n' so prelude + header is a multiple of 64.
  const size_t unpadded = kPreludeSize + header.size() + 1;
  header.append((kAlignment - unpadded % kAlignment) % kAlignment, ' ');
  header += '\n';
  if (header.size() > UINT16_MAX) {
    Fail("{}: cannot write .npy: header of {} bytes does not fit format version 1.0", path,
         header.size());
  }

  std::string prelude(kMagic, kMagicSize);
  prelude += '\x01';  // major version
  prelude += '\x00';  // minor version
  prelude += static_cast<char>(header.size() & 0xff);
  prelude += static_cast<char>(header.size() >> 8);

  OutputFile file(path);
  file.Write(prelude);
  file.Write(header);
  file.Write(data, count * sizeof(float));
  file.Commit();
}

}  // namespace lmc::rt
