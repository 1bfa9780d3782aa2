// A whole file mapped read-only into memory, so weights are used in place
// without copying and pages load lazily.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace lmc::rt {

class MappedFile {
 public:
  // Maps `path`. Throws Error ("{path}: ...") if it is missing, a directory,
  // empty, or cannot be mapped.
  static MappedFile Open(const std::string& path);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  void Unmap();

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace lmc::rt
