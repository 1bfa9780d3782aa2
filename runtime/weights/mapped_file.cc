#include "runtime/weights/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "runtime/util/error.h"
#include "runtime/util/output_file.h"
#include "runtime/weights/mapping_guard.h"

namespace lmc::rt {
namespace {

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14
#endif

constexpr uintptr_t kPage = 4096;

}  // namespace

void PopulatePages(const void* p, size_t n) {
  if (n == 0) return;
  // madvise takes a page-aligned start.
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(kPage - 1);
  const size_t length = reinterpret_cast<uintptr_t>(p) + n - begin;
  if (::madvise(reinterpret_cast<void*>(begin), length, MADV_POPULATE_READ) == 0 ||
      errno != EINVAL) {
    return;
  }
  volatile uint8_t sink = 0;  // kernels before 5.14 (EINVAL): touch each page
  const auto* bytes = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; i += kPage) sink = sink + bytes[i];
}

void ReleasePages(const void* p, size_t n) {
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kPage - 1) & ~(kPage - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) & ~(kPage - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

MappedFile MappedFile::Open(const std::string& path) {
  // Refuse FIFOs and devices before open(), which could block on them.
  struct stat before;
  if (::stat(path.c_str(), &before) == 0 && !S_ISREG(before.st_mode) && !S_ISDIR(before.st_mode)) {
    Fail("{}: not a regular file", path);
  }
  // A file truncated by someone else while mapped raises SIGBUS: inherent to mmap (the
  // mapping is guarded: mapping_guard.h).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Fail("{}: cannot open: {}", path, std::strerror(errno));
  NoteInput(fd, path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    Fail("{}: cannot stat: {}", path, std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    Fail("{}: is a directory, expected a file", path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    Fail("{}: not a regular file", path);
  }
  if (st.st_size == 0) {
    ::close(fd);
    Fail("{}: file is empty", path);
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (data == MAP_FAILED) Fail("{}: cannot mmap {} bytes: {}", path, size, std::strerror(err));
  GuardMapping(data, size, path);  // SIGBUS from the file shrinking: one line, exit 1
  // Pages the kernel reads for this mapping come as 2 MiB pages where it and the filesystem
  // allow (streamed weights read faster so: fewer TLB misses and page walks, which cost more
  // in a virtual machine); pages already cached stay as they are. Before the first fault.
  ::madvise(data, size, MADV_HUGEPAGE);  // fails harmlessly without THP
  return MappedFile(path, static_cast<const uint8_t*>(data), size);
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    Unmap();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() { Unmap(); }

void MappedFile::Unmap() {
  if (data_ != nullptr) {
    UnguardMapping(data_);
    ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  data_ = nullptr;
  size_ = 0;
}

}  // namespace lmc::rt
