// `MODEL perplexity`: how well a decoder predicts a text, over sliding windows.
#pragma once

#include <vector>

#include "runtime/cli/args.h"
#include "runtime/cli/tokenize_command.h"

namespace lmc::rt {

extern const std::vector<FlagSpec> kPerplexityFlags;

// argv[1] is "perplexity". Returns the exit code (2: bad flags or an input too short); throws
// Error on bad files.
int RunPerplexity(int argc, char** argv, const TokenizerSource& tokenizer);

}  // namespace lmc::rt
