#include "runtime/util/output_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "runtime/util/error.h"

namespace lmc::rt {
namespace {

struct Input {
  dev_t device;
  ino_t inode;
  std::string path;
};

std::atomic<bool> protecting{false};
std::mutex inputs_mutex;
std::vector<Input> inputs;

void Note(const struct stat& st, const std::string& path) {
  if (!protecting.load() || !S_ISREG(st.st_mode)) return;
  std::lock_guard<std::mutex> lock(inputs_mutex);
  for (const Input& input : inputs) {
    if (input.device == st.st_dev && input.inode == st.st_ino && input.path == path) return;
  }
  inputs.push_back({st.st_dev, st.st_ino, path});
}

// Temporary files a signal must remove: fixed slots, since the handler may only
// read memory and call async-signal-safe functions. A slot is claimed by one
// OutputFile, and ready once its path is complete.
constexpr int kSlots = 8;
constexpr size_t kMaxPath = 4096;
char temp_paths[kSlots][kMaxPath];
std::atomic<bool> slot_claimed[kSlots];
std::atomic<bool> slot_ready[kSlots];

extern "C" void RemoveTempFilesAndDie(int signal_number) {
  for (int i = 0; i < kSlots; ++i) {
    if (slot_ready[i].load()) ::unlink(temp_paths[i]);
  }
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}

// Installs the handler for the signals that end a process by default and have
// no other handler (an ignored SIGHUP, under nohup, stays ignored).
void InstallSignalCleanup() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) {
      struct sigaction old;
      if (::sigaction(signal_number, nullptr, &old) != 0 || old.sa_handler != SIG_DFL) continue;
      struct sigaction action {};
      action.sa_handler = RemoveTempFilesAndDie;
      sigemptyset(&action.sa_mask);
      ::sigaction(signal_number, &action, nullptr);
    }
  });
}

int TakeSlot(const std::string& path) {
  if (path.size() >= kMaxPath) return -1;
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (!slot_claimed[i].compare_exchange_strong(expected, true)) continue;
    std::memcpy(temp_paths[i], path.c_str(), path.size() + 1);
    slot_ready[i].store(true);
    return i;
  }
  return -1;  // Over kSlots files at once: written all the same, without signal cleanup.
}

void ReleaseSlot(int& slot) {
  if (slot < 0) return;
  slot_ready[slot].store(false);
  slot_claimed[slot].store(false);
  slot = -1;
}

// DIR.BASE.tmp-XXXXXX with six random letters, as mkstemp names them. The name's cleanup slot
// is claimed before the file is created, so a signal at any moment, on whichever thread takes
// it, finds the file in the list (one that comes before the file exists removes nothing: no
// other process makes the same random name in between).
std::string TempName(const std::string& dir, const std::string& base) {
  static constexpr char kLetters[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string name = dir + "." + base + ".tmp-";
  for (int i = 0; i < 6; ++i) name += kLetters[rng() % (sizeof kLetters - 1)];
  return name;
}

}  // namespace

const char* FileKind(unsigned mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

void ProtectInputs(bool on) { protecting.store(on); }

void NoteInput(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) == 0) Note(st, path);
}

void NoteInput(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) Note(st, path);
}

void CheckOutputPath(const std::string& target) {
  struct stat st;
  if (::stat(target.c_str(), &st) != 0) return;  // Nothing there (or a dangling link): new file.
  if (!S_ISREG(st.st_mode)) {
    Fail("{}: exists and is {}; only a regular file is replaced", target, FileKind(st.st_mode));
  }
  std::lock_guard<std::mutex> lock(inputs_mutex);
  for (const Input& input : inputs) {
    // Still the file at the input's path: an input deleted since may have lent its inode
    // number to a new file.
    struct stat now;
    if (input.device == st.st_dev && input.inode == st.st_ino &&
        ::stat(input.path.c_str(), &now) == 0 && now.st_dev == st.st_dev &&
        now.st_ino == st.st_ino) {
      Fail("{}: is the input {} (the same file); refusing to write over it", target, input.path);
    }
  }
}

OutputFile::OutputFile(std::string target, unsigned mode)
    : target_(std::move(target)), mode_(mode) {
  CheckOutputPath(target_);
  const size_t slash = target_.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : target_.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? target_ : target_.substr(slash + 1);
  if (base.empty()) Fail("{}: names a directory; give the path of a file", target_);
  InstallSignalCleanup();
  for (int attempt = 1;; ++attempt) {
    std::string name = TempName(dir, base);
    slot_ = TakeSlot(name);
    fd_ = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ >= 0) {
      temp_ = std::move(name);
      return;
    }
    const int open_errno = errno;
    ReleaseSlot(slot_);
    if (open_errno != EEXIST || attempt == 100) {
      Fail("{}: cannot create a temporary file in {}: {}", target_, dir.empty() ? "." : dir,
           std::strerror(open_errno));
    }
  }
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!temp_.empty()) ::unlink(temp_.c_str());
  ReleaseSlot(slot_);
}

void OutputFile::Write(const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd_, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Fail("{}: write failed: {}", target_, std::strerror(errno));
    p += n;
    bytes -= static_cast<size_t>(n);
  }
}

void OutputFile::Commit() {
  if (::fchmod(fd_, mode_) != 0 || ::fsync(fd_) != 0) {
    Fail("{}: write failed: {}", target_, std::strerror(errno));
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) Fail("{}: write failed: {}", target_, std::strerror(errno));
  CheckOutputPath(target_);
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    Fail("{}: cannot rename {} over it: {}", target_, temp_, std::strerror(errno));
  }
  temp_.clear();
  ReleaseSlot(slot_);
  const size_t slash = target_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : target_.substr(0, slash + 1);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);  // Best effort: the data itself is already synced.
    ::close(dir_fd);
  }
}

void WriteFileAtomically(const std::string& target, std::string_view data, unsigned mode) {
  OutputFile out(target, mode);
  out.Write(data.data(), data.size());
  out.Commit();
}

}  // namespace lmc::rt
