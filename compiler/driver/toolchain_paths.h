// Where `lmc build` finds the runtime it compiles and links models against.
//
// In the build tree, lmc uses the paths CMake configured into it (toolchain.h).
// An installed lmc (`cmake --install`) reads <prefix>/share/lmc/toolchain.txt,
// <prefix> being the folder above its own bin/, whose relative paths are relative
// to <prefix>: the installation can be moved as a whole.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lmc {

struct ToolchainPaths {
  std::vector<std::string> include_dirs;  // -I, in order.
  std::vector<std::string> link_inputs;   // Libraries, in link order; full paths.
  // Tensor-parallel binaries' libraries: lmc_distributed, then MPI's (before and after
  // link_inputs); empty for an lmc built without MPI.
  std::vector<std::string> mpi_link_inputs;
};

// The installed toolchain file if there is one beside lmc, else the build
// tree's paths. Returns false with `error`, one line naming the file and what
// was expected.
bool FindToolchainPaths(ToolchainPaths& paths, std::string& error);

// Reads a toolchain file: '#' comments, blank lines, and lines `include PATH`, `link PATH`
// or `mpi PATH` (a relative PATH is relative to `prefix`); each PATH must exist.
bool ParseToolchainFile(std::string_view text, const std::string& file, const std::string& prefix,
                        ToolchainPaths& paths, std::string& error);

// The runtime headers the generated code includes (every .h under runtime/ of each include
// directory), their paths and content hashes in path order: part of `lmc build`'s cache key,
// since the kernels' templates (rows-inl.h, ops-inl.h) are instantiated in the model's own
// translation unit and a change to them need not change any library's bytes.
std::string RuntimeHeadersDigest(const ToolchainPaths& paths);

}  // namespace lmc
