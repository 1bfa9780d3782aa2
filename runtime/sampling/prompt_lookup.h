// Prompt lookup, speculative decoding without a draft model: the tokens that followed an
// earlier occurrence of the context's last few tokens are a cheap guess of what comes next
// (summaries, code edits and answers quoting their question repeat their context). The target
// model checks the guess in one batched step.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace lmc::rt {

// The `max_tokens` tokens that followed the latest earlier occurrence of the context's last n
// tokens, for the largest n <= max_ngram that occurs, read on past the context's end into the
// draft itself (a repeating context drafts its period); empty when none occurs.
std::vector<int> LookupDraft(std::span<const int> context, size_t max_tokens, size_t max_ngram = 3);

}  // namespace lmc::rt
