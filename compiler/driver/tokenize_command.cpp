#include "compiler/driver/tokenize_command.h"

#include "runtime/cli/tokenize_command.h"

namespace lmc {

// No model: --tokenizer is required and its kind is detected unless --kind names it.
int RunTokenize(int argc, char** argv) { return rt::RunTokenize(argc, argv, {}); }
int RunDetokenize(int argc, char** argv) { return rt::RunDetokenize(argc, argv, {}); }

}  // namespace lmc
