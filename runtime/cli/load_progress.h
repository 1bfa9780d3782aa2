// A loading progress bar for the model binary's commands: on a terminal only.
#pragma once

#include <string>

#include "lmc/lmc.h"

namespace lmc::rt {

// Open options that draw `loading W  42% (350 / 844 MB)` on stderr while the weights load,
// when stderr is a terminal and the checkpoint holds at least 64 MiB; the line is erased when
// this goes out of scope. Otherwise (a pipe, a file, a small model) they draw nothing.
class LoadProgress {
 public:
  // tokenizer_path: as lmc_open_options.tokenizer_path ("": the spec's).
  explicit LoadProgress(std::string weights_path, const std::string& tokenizer_path = "");
  ~LoadProgress();
  LoadProgress(const LoadProgress&) = delete;
  LoadProgress& operator=(const LoadProgress&) = delete;

  const lmc_open_options& options() const { return options_; }

 private:
  static void Draw(uint64_t done, uint64_t total, void* self);

  std::string weights_path_, tokenizer_path_;
  lmc_open_options options_{};
  int shown_ = -1;  // the percentage on the screen, if any
};

}  // namespace lmc::rt
