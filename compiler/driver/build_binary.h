// `lmc build`: compiles generated C++ against the prebuilt runtime with a C++
// compiler found through LLVM's program lookup, caching results by content:
// a model binary, or (--library) a static library for a program of one's own.
#pragma once

#include <llvm/Support/raw_ostream.h>

#include <string>

#include "compiler/emit/emit_cpp.h"

namespace lmc {

struct BuildOptions {
  std::string output;     // Path of the binary (or library) to leave.
  std::string cxx;        // Compiler name or path; empty: the one that built lmc.
  std::string cache_dir;  // Empty: $LMC_CACHE_DIR, else $XDG_CACHE_HOME/lmc, else ~/.cache/lmc.
  bool use_cache = true;
  // Compile for this machine's CPU only (-march=native, Highway's static target): about 4x
  // less compile time than every x86 target, and a binary that may not run on other CPUs.
  bool native = false;
  // A static library (the model and its build info, archived with `ar`) that exports
  // lmc_open_<name>, instead of a binary: no main(), no link step. Programs link it
  // with the runtime libraries (lmc::runtime), not with lmc_cli.
  bool library = false;
};

// Returns false after printing why to `log` (the compiler's own output included).
// The binary (or library) is written to a temporary file beside `options.output` and
// renamed over it: a failure leaves any old binary in place. An output that is
// an input, a directory or not a regular file is refused (runtime/util/output_file.h).
// With `draft`, a second model is linked into the binary for `generate --speculate draft:W`
// (not with options.library).
bool BuildBinary(const GeneratedFiles& files, const std::string& spec_path,
                 const BuildOptions& options, llvm::raw_ostream& log,
                 const GeneratedFiles* draft = nullptr);

}  // namespace lmc
