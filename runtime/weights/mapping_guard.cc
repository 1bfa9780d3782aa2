#include "runtime/weights/mapping_guard.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "runtime/util/error.h"

namespace lmc::rt {
namespace {

// The guarded ranges. Registration takes the mutex; the handler only reads the atomics.
struct Slot {
  std::atomic<uintptr_t> begin{0}, end{0};  // nothing when end == 0
  std::atomic<char*> message{nullptr};      // "PROGRAM: error: PATH: ...\n", from new[]
  std::atomic<size_t> length{0};
};
constexpr int kSlots = 256;
Slot slots[kSlots];
std::mutex slots_mutex;
bool installed = false;  // under slots_mutex
std::atomic<bool> enabled{false};
struct sigaction previous;

std::atomic<const char*> unwritten_data{nullptr};
std::atomic<size_t> unwritten_size{0};
std::atomic<bool> reporting{false};

void WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t written = ::write(fd, p, n);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;
    p += written;
    n -= static_cast<size_t>(written);
  }
}

void OnSigbus(int sig, siginfo_t* info, void* context) {
  const uintptr_t at = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& slot : slots) {
    const uintptr_t begin = slot.begin.load(std::memory_order_acquire);
    const uintptr_t end = slot.end.load(std::memory_order_acquire);
    if (at < begin || at >= end) continue;
    // Threads faulting together: the first reports, the others wait for its _exit.
    if (reporting.exchange(true)) {
      for (;;) ::pause();
    }
    const int saved = errno;
    WriteAll(STDOUT_FILENO, unwritten_data.load(), unwritten_size.load());
    WriteAll(STDERR_FILENO, slot.message.load(), slot.length.load());
    errno = saved;
    ::_exit(1);
  }
  // Not a guarded mapping: whoever handled SIGBUS before, else the default (death).
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction != nullptr) previous.sa_sigaction(sig, info, context);
    return;
  }
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
    return;
  }
  const bool sent = info->si_code <= 0;  // by kill() or raise(), not by a fault
  if (sent && previous.sa_handler == SIG_IGN) return;
  ::signal(SIGBUS, SIG_DFL);  // a fault repeats on return; a sent signal is raised again
  if (sent) ::raise(sig);
}

}  // namespace

void EnableMappingGuards() { enabled = true; }

void GuardMapping(const void* data, size_t size, const std::string& path) {
  if (!enabled) return;
  const std::string line =
      fmt::format("{}: error: {}: the file was truncated or changed while in use\n",
                  program_invocation_short_name, EscapeControlBytes(path));
  std::lock_guard<std::mutex> lock(slots_mutex);
  if (!installed) {
    struct sigaction action = {};
    action.sa_sigaction = OnSigbus;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (::sigaction(SIGBUS, &action, &previous) != 0) return;
    installed = true;
  }
  for (Slot& slot : slots) {
    if (slot.end.load(std::memory_order_relaxed) != 0) continue;
    char* message = new char[line.size()];
    std::memcpy(message, line.data(), line.size());
    delete[] slot.message.exchange(message);
    slot.length.store(line.size());
    const uintptr_t begin = reinterpret_cast<uintptr_t>(data);
    slot.begin.store(begin, std::memory_order_release);
    slot.end.store(begin + size, std::memory_order_release);
    return;
  }
}

void UnguardMapping(const void* data) {
  std::lock_guard<std::mutex> lock(slots_mutex);
  for (Slot& slot : slots) {
    if (slot.end.load(std::memory_order_relaxed) == 0 ||
        slot.begin.load(std::memory_order_relaxed) != reinterpret_cast<uintptr_t>(data)) {
      continue;
    }
    slot.end.store(0, std::memory_order_release);
    slot.begin.store(0, std::memory_order_release);
    return;
  }
}

void SetUnwrittenOutput(const char* data, size_t size) {
  unwritten_size.store(0);
  unwritten_data.store(data);
  unwritten_size.store(size);
}

}  // namespace lmc::rt
