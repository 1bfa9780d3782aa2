#include "runtime/util/error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace lmc::rt {
namespace {

[[noreturn]] void FailStdout(int err) {
  if (err == 0) Fail("cannot write to standard output");
  Fail("cannot write to standard output: {}", std::strerror(err));
}

}  // namespace

std::string EscapeControlBytes(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void FinishStdout() {
  errno = 0;
  const bool failed = std::fflush(stdout) != 0;
  const int err = errno;
  if (failed || std::ferror(stdout)) FailStdout(err);
}

void WriteStdout(std::string_view bytes) {
  errno = 0;
  if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size()) FailStdout(errno);
}

}  // namespace lmc::rt
