// User-facing runtime errors: bad checkpoints, tokenizer files, flags.
//
// Every message names the file (or flag), the place, and what was expected
// versus found, so the model binary can print it as one line and exit non-zero.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace lmc::rt {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws Error with a fmt-formatted message.
template <typename... Args>
[[noreturn]] void Fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// `text` from a file (a tensor name, a parser message) with control bytes
// escaped as \xNN, so that the error quoting it stays on one line.
std::string EscapeControlBytes(std::string_view text);

// Results on stdout are the point of a command: flushes it, and throws Error "cannot write to
// standard output: REASON" if anything written to it was lost (a full disk, a closed pipe).
void FinishStdout();
// fwrite to stdout, throwing that Error at once if it fails.
void WriteStdout(std::string_view bytes);

}  // namespace lmc::rt
