// `lmc tokenize` and `lmc detokenize`: any tokenizer file, without a model.
// The commands live in the runtime (runtime/cli/tokenize_command.h), which
// model binaries share for their own `tokenize` and `detokenize`.
#pragma once

namespace lmc {

// argv[0] is the command name ("tokenize" / "detokenize").
int RunTokenize(int argc, char** argv);
int RunDetokenize(int argc, char** argv);

}  // namespace lmc
