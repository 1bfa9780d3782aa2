#include "runtime/sampling/prompt_lookup.h"

#include <algorithm>
#include <vector>

namespace lmc::rt {

std::vector<int> LookupDraft(std::span<const int> context, size_t max_tokens, size_t max_ngram) {
  const size_t size = context.size();
  if (max_tokens == 0 || size < 2) return {};
  for (size_t n = std::min(max_ngram, size - 1); n >= 1; --n) {
    const auto pattern = context.subspan(size - n);
    // Latest first: the most recent context is the likeliest to continue the same way.
    for (size_t start = size - n; start-- > 0;) {
      if (std::equal(pattern.begin(), pattern.end(), context.begin() + start)) {
        // What followed, read on into the draft itself where the context ends (a loop goes
        // round again).
        std::vector<int> draft;
        for (size_t i = start + n; draft.size() < max_tokens; ++i) {
          draft.push_back(i < size ? context[i] : draft[i - size]);
        }
        return draft;
      }
    }
  }
  return {};
}

}  // namespace lmc::rt
