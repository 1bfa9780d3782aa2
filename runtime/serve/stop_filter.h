// Stop strings on a stream of text: what could still turn out to be the start of a stop
// string is held back until it cannot; a match ends the text before it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lmc::serve {

class StopFilter {
 public:
  explicit StopFilter(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  // Adds text and returns what may go out now. On a match, *stopped turns true, the text
  // before the match is returned and the rest (the stop string and after) is dropped.
  std::string Push(std::string_view text, bool* stopped);
  // The text held back: at the end of generation it can no longer match.
  std::string Finish();

 private:
  std::vector<std::string> stops_;
  std::string held_;
};

}  // namespace lmc::serve
