// A temporary file beside a target path, renamed over it once complete: the
// checkpoint writers' atomic write. Removed unless committed.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "runtime/util/error.h"

namespace lmc::rt {

class TempFile {
 public:
  explicit TempFile(const std::string& target) : target_(target) {
    std::string pattern = target + ".tmp.XXXXXX";
    fd_ = ::mkstemp(pattern.data());
    if (fd_ < 0) Fail("{}: cannot create a temporary file: {}", target, std::strerror(errno));
    path_ = pattern;
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }

  void Write(const void* data, size_t bytes) {
    const char* p = static_cast<const char*>(data);
    while (bytes > 0) {
      const ssize_t n = ::write(fd_, p, bytes);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) Fail("{}: write failed: {}", target_, std::strerror(errno));
      p += n;
      bytes -= static_cast<size_t>(n);
    }
  }

  // fsync, close, and rename over the target; then make the rename durable.
  void Commit() {
    if (::fchmod(fd_, 0644) != 0 || ::fsync(fd_) != 0) {
      Fail("{}: cannot sync: {}", target_, std::strerror(errno));
    }
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) Fail("{}: cannot close: {}", target_, std::strerror(errno));
    if (::rename(path_.c_str(), target_.c_str()) != 0) {
      Fail("{}: cannot rename {} over it: {}", target_, path_, std::strerror(errno));
    }
    committed_ = true;
    const std::string parent = std::filesystem::path(target_).parent_path().string();
    const char* dir = parent.empty() ? "." : parent.c_str();
    const int dir_fd = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);  // best effort: the data itself is already synced
      ::close(dir_fd);
    }
  }

 private:
  std::string target_;
  std::string path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace lmc::rt
