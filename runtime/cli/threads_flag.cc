#include <fmt/format.h>

#include <charconv>
#include <cstring>
#include <string_view>

#include "runtime/cli/bench.h"
#include "runtime/kernels/thread_pool.h"

namespace lmc::rt {

const FlagSpec kThreadsFlag = {
    "threads", "worker threads, 1 to 1024 (default: every core this process may run on)"};

int TakeThreadsFlag(int& argc, char** argv) {
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") {  // Everything after is positional.
      while (i < argc) argv[out++] = argv[i++];
      break;
    }
    std::string_view value;
    if (arg == "--threads" || arg == "-threads") {
      if (i + 1 >= argc) {
        fmt::print(stderr, "error: --threads expects a value\n");
        return 2;
      }
      value = argv[++i];
    } else if (arg.starts_with("--threads=") || arg.starts_with("-threads=")) {
      value = arg.substr(arg.find('=') + 1);
    } else {
      argv[out++] = argv[i];
      continue;
    }
    int threads = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), threads);
    if (ec != std::errc() || end != value.data() + value.size() || threads < 1 || threads > 1024) {
      fmt::print(stderr, "error: --threads expects an integer in [1, 1024], got '{}'\n", value);
      return 2;
    }
    SetThreads(threads);
  }
  argc = out;
  argv[argc] = nullptr;
  return 0;
}

}  // namespace lmc::rt
