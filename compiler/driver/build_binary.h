// `lmc build`: compiles generated C++ against the prebuilt runtime with a C++
// compiler found through LLVM's program lookup, caching results by content.
#pragma once

#include <llvm/Support/raw_ostream.h>

#include <string>

#include "compiler/emit/emit_cpp.h"

namespace lmc {

struct BuildOptions {
  std::string output;     // Path of the binary to leave.
  std::string cxx;        // Compiler name or path; empty: the one that built lmc.
  std::string cache_dir;  // Empty: $LMC_CACHE_DIR, else $XDG_CACHE_HOME/lmc, else ~/.cache/lmc.
  bool use_cache = true;
};

// Returns false after printing why to `log` (the compiler's own output included).
bool BuildBinary(const GeneratedFiles& files, const std::string& spec_path,
                 const BuildOptions& options, llvm::raw_ostream& log);

}  // namespace lmc
