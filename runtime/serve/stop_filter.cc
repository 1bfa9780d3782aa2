#include "runtime/serve/stop_filter.h"

#include <algorithm>

namespace lmc::serve {

std::string StopFilter::Push(std::string_view text, bool* stopped) {
  *stopped = false;
  held_ += text;
  size_t first = std::string::npos;
  for (const std::string& stop : stops_) first = std::min(first, held_.find(stop));
  if (first != std::string::npos) {
    *stopped = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  // Hold back the longest tail that is a proper prefix of a stop string. A stop string starts
  // at a character boundary, so the text released ends at one.
  size_t keep = 0;
  for (const std::string& stop : stops_) {
    for (size_t n = std::min(held_.size(), stop.size() - 1); n > keep; --n) {
      if (std::string_view(held_).substr(held_.size() - n) == std::string_view(stop).substr(0, n)) {
        keep = n;
        break;
      }
    }
  }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopFilter::Finish() {
  std::string out = std::move(held_);
  held_.clear();
  return out;
}

}  // namespace lmc::serve
