// `MODEL serve`: an OpenAI-compatible HTTP server over the model (docs/serving.md).
#pragma once

#include <vector>

#include "runtime/cli/args.h"
#include "runtime/cli/tokenize_command.h"

namespace lmc::serve {

extern const std::vector<rt::FlagSpec> kServeFlags;

// argv[1] is "serve". Runs until SIGTERM or SIGINT, then returns 0 once in-flight requests have
// finished or been cancelled. Throws rt::Error on bad flags or files (before serving).
int RunServe(int argc, char** argv, const rt::TokenizerSource& tokenizer);

}  // namespace lmc::serve
