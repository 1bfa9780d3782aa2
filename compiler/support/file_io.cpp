#include "compiler/support/file_io.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "runtime/util/error.h"
#include "runtime/util/output_file.h"

namespace lmc {

namespace {

std::string NotRegular(mode_t mode) {
  return S_ISDIR(mode) ? "is a directory"
                       : std::string("is not a regular file (") + rt::FileKind(mode) + ")";
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

}  // namespace

std::string DescribeBytes(double bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 6) {
    bytes /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f} bytes", bytes)
                   : fmt::format("{:.1f} {}", bytes, units[unit]);
}

bool ReadRegularFile(const std::string& path, size_t max_bytes, std::string& out,
                     std::string& error) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer.
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    error = std::strerror(errno);
    return false;
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    error = std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    error = NotRegular(st.st_mode);
    return false;
  }
  rt::NoteInput(fd.get(), path);
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    error = fmt::format("is {}; at most {} is read", DescribeBytes(st.st_size),
                        DescribeBytes(max_bytes));
    return false;
  }
  out.clear();
  char chunk[65536];
  while (true) {
    ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = std::strerror(errno);
      return false;
    }
    if (n == 0) break;
    out.append(chunk, static_cast<size_t>(n));
    if (out.size() > max_bytes) {  // The file grew while we read it.
      error = fmt::format("is more than {}", DescribeBytes(max_bytes));
      return false;
    }
  }
  return true;
}

bool WriteFileAtomically(const std::string& path, std::string_view data, unsigned mode,
                         std::string& error) {
  try {
    rt::WriteFileAtomically(path, data, mode);
    return true;
  } catch (const rt::Error& e) {
    error = e.what();
    return false;
  }
}

}  // namespace lmc
