#include "runtime/cli/load_progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <utility>

namespace lmc::rt {

LoadProgress::LoadProgress(std::string weights_path, const std::string& tokenizer_path)
    : weights_path_(std::move(weights_path)), tokenizer_path_(tokenizer_path) {
  if (!tokenizer_path_.empty()) options_.tokenizer_path = tokenizer_path_.c_str();
  if (isatty(STDERR_FILENO)) {
    options_.progress = Draw;
    options_.progress_user = this;
  }
}

LoadProgress::~LoadProgress() {
  if (shown_ >= 0) fmt::print(stderr, "\r\033[K");  // the command's own lines follow
}

void LoadProgress::Draw(uint64_t done, uint64_t total, void* self) {
  constexpr uint64_t kMinBytes = uint64_t{64} << 20;
  auto* p = static_cast<LoadProgress*>(self);
  if (total < kMinBytes) return;
  const int percent = static_cast<int>(done * 100 / total);
  if (percent == p->shown_) return;
  p->shown_ = percent;
  fmt::print(stderr, "\rloading {}  {:3d}% ({} / {} MB)", p->weights_path_, percent, done >> 20,
             total >> 20);
  std::fflush(stderr);
}

}  // namespace lmc::rt
