#include "runtime/weights/safetensors_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "runtime/util/error.h"

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
  }
  return "?";
}

// A temporary file beside the target, removed unless committed.
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

  TempFile out(path);
  out.Write(&length, sizeof(length));  // little-endian (see tensor_source.cc)
  out.Write(text.data(), text.size());
  for (const NamedTensor& t : tensors) out.Write(t.data.data(), t.data.size());
  out.Commit();
}

}  // namespace lmc::rt
