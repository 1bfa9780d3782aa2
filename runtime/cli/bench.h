// Commands and flags of the model binary that live outside model_main.cc.
#pragma once

#include <vector>

#include "runtime/cli/args.h"

namespace lmc::rt {

// bench's flags; --threads, which main() takes for any command.
extern const std::vector<FlagSpec> kBenchFlags;
extern const FlagSpec kThreadsFlag;

// `MODEL bench ...` (bench.cc): speed and roofline shares; returns the exit code.
int Bench(int argc, char** argv);

// Takes `--threads N` (or `--threads=N`) out of argv, before the command's own flags are
// read, and sizes the thread pool; without it the pool uses every core. Returns 0, or 2
// after printing the error when N is not an integer in [1, 1024].
int TakeThreadsFlag(int& argc, char** argv);

}  // namespace lmc::rt
