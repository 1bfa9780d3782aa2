#include "compiler/driver/toolchain_paths.h"

#include <fmt/format.h>
#include <llvm/ADT/SmallString.h>
#include <llvm/ADT/SmallVector.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/xxhash.h>

#include <algorithm>

#include "compiler/driver/toolchain.h"
#include "compiler/support/file_io.h"

namespace lmc {

namespace {

// Where an installed lmc keeps its toolchain file, relative to the prefix.
constexpr const char* kToolchainFile = "share/lmc/toolchain.txt";

std::vector<std::string> SplitSpaces(llvm::StringRef text) {
  llvm::SmallVector<llvm::StringRef, 8> parts;
  text.split(parts, ' ', -1, false);
  return {parts.begin(), parts.end()};
}

}  // namespace

bool ParseToolchainFile(std::string_view text, const std::string& file, const std::string& prefix,
                        ToolchainPaths& paths, std::string& error) {
  paths = {};
  llvm::SmallVector<llvm::StringRef, 16> lines;
  llvm::StringRef(text.data(), text.size()).split(lines, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    llvm::StringRef line = lines[i].trim();
    if (line.empty() || line.startswith("#")) continue;
    auto [key, value] = line.split(' ');
    value = value.trim();
    std::vector<std::string>* list = key == "include" ? &paths.include_dirs
                                     : key == "link"  ? &paths.link_inputs
                                     : key == "mpi"   ? &paths.mpi_link_inputs
                                                      : nullptr;
    if (!list || value.empty()) {
      error = fmt::format("{}:{}: expected 'include PATH', 'link PATH' or 'mpi PATH'", file, i + 1);
      return false;
    }
    llvm::SmallString<256> path(value);
    if (llvm::sys::path::is_relative(path)) llvm::sys::fs::make_absolute(prefix, path);
    if (!llvm::sys::fs::exists(path)) {
      error = fmt::format("{}:{}: {} does not exist (was the installation moved in part?)", file,
                          i + 1, path.str());
      return false;
    }
    list->push_back(path.str().str());
  }
  if (paths.include_dirs.empty() || paths.link_inputs.empty()) {
    error = fmt::format("{}: expected 'include PATH' and 'link PATH' lines", file);
    return false;
  }
  return true;
}

bool FindToolchainPaths(ToolchainPaths& paths, std::string& error) {
  static int anchor = 0;
  llvm::SmallString<256> prefix(llvm::sys::fs::getMainExecutable("lmc", &anchor));
  llvm::sys::path::remove_filename(prefix);  // bin/
  llvm::sys::path::remove_filename(prefix);
  llvm::SmallString<256> file(prefix);
  llvm::sys::path::append(file, kToolchainFile);
  if (!prefix.empty() && llvm::sys::fs::exists(file)) {
    std::string text;
    if (!ReadRegularFile(file.str().str(), 1 << 20, text, error)) {
      error = fmt::format("{}: {}", file.str(), error);
      return false;
    }
    return ParseToolchainFile(text, file.str().str(), prefix.str().str(), paths, error);
  }
  // The build tree: the sources' runtime/ headers and include/lmc/, the built libraries.
  paths.include_dirs = {toolchain::kIncludeDir, std::string(toolchain::kIncludeDir) + "/include"};
  paths.link_inputs = SplitSpaces(toolchain::kLinkInputs);
  paths.mpi_link_inputs = SplitSpaces(toolchain::kMpiLinkInputs);
  return true;
}

std::string RuntimeHeadersDigest(const ToolchainPaths& paths) {
  std::vector<std::string> headers;
  for (const std::string& dir : paths.include_dirs) {
    std::error_code ec;
    for (llvm::sys::fs::recursive_directory_iterator it(dir + "/runtime", ec), end;
         it != end && !ec; it.increment(ec)) {
      if (llvm::StringRef(it->path()).endswith(".h")) headers.push_back(it->path());
    }
  }
  std::sort(headers.begin(), headers.end());
  std::string digest;
  for (const std::string& header : headers) {
    auto buffer = llvm::MemoryBuffer::getFile(header);
    digest += fmt::format("{} {:016x}\n", header,
                          buffer ? llvm::xxHash64((*buffer)->getBuffer()) : uint64_t{0});
  }
  return digest;
}

}  // namespace lmc
