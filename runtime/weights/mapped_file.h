// A whole file mapped read-only into memory, so weights are used in place
// without copying and pages load lazily: the tensors a model reads in place are
// mapped in when it takes them (PopulatePages), and the pages of tensors it
// converts are given back once converted (ReleasePages), so loading an f32 file as
// q4_0 never holds the whole file and its conversion at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace lmc::rt {

// Maps every page of [p, p + n) now, so the first tokens do not pay for page faults
// and load time is honest about I/O.
void PopulatePages(const void* p, size_t n);
// Gives back the pages wholly inside [p, p + n) of a MappedFile: resident memory drops, and
// a later read maps them in again from the file (a read-only mapping has nothing to lose).
void ReleasePages(const void* p, size_t n);

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
