#include "compiler/driver/build_binary.h"

#include <fmt/format.h>
#include <llvm/ADT/SmallString.h>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Host.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/Program.h>
#include <llvm/Support/xxhash.h>

#include <chrono>
#include <cstdlib>

#include "compiler/driver/toolchain.h"

namespace lmc {

namespace {

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> out;
  llvm::SmallVector<llvm::StringRef, 16> parts;
  llvm::StringRef(text).split(parts, ' ', -1, false);
  for (auto p : parts) out.push_back(p.str());
  return out;
}

std::string DefaultCacheDir() {
  if (const char* dir = std::getenv("LMC_CACHE_DIR")) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME")) return std::string(xdg) + "/lmc";
  if (const char* home = std::getenv("HOME")) return std::string(home) + "/.cache/lmc";
  return ".lmc-cache";
}

bool WriteFile(const std::string& path, const std::string& text, llvm::raw_ostream& log) {
  std::error_code ec;
  llvm::raw_fd_ostream out(path, ec);
  if (ec) {
    log << "lmc: error: cannot write " << path << ": " << ec.message() << "\n";
    return false;
  }
  out << text;
  return true;
}

// Finds the compiler: a path as given, else a name looked up on PATH.
std::string FindCompiler(const std::string& requested, llvm::raw_ostream& log) {
  std::string name = requested.empty() ? toolchain::kDefaultCxx : requested;
  if (name.find('/') != std::string::npos) {
    if (llvm::sys::fs::can_execute(name)) return name;
    log << "lmc: error: C++ compiler '" << name << "' is not an executable file\n";
    return "";
  }
  auto found = llvm::sys::findProgramByName(name);
  if (!found) {
    log << "lmc: error: no C++ compiler named '" << name << "' on PATH\n";
    return "";
  }
  return *found;
}

// Runs a program, sending its output to `output_file`; returns its exit code.
int Run(const std::string& program, const std::vector<std::string>& args,
        const std::string& output_file, std::string& error) {
  std::vector<llvm::StringRef> argv{program};
  for (const auto& a : args) argv.push_back(a);
  llvm::Optional<llvm::StringRef> redirects[] = {llvm::None, llvm::StringRef(output_file),
                                                 llvm::StringRef(output_file)};
  return llvm::sys::ExecuteAndWait(program, argv, llvm::None, redirects, 0, 0, &error);
}

std::string ReadFileOr(const std::string& path, const std::string& fallback) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  return buffer ? (*buffer)->getBuffer().str() : fallback;
}

uint64_t HashFile(const std::string& path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  return buffer ? llvm::xxHash64((*buffer)->getBuffer()) : 0;
}

}  // namespace

bool BuildBinary(const GeneratedFiles& files, const std::string& spec_path,
                 const BuildOptions& options, llvm::raw_ostream& log) {
  auto start = std::chrono::steady_clock::now();
  std::string cxx = FindCompiler(options.cxx, log);
  if (cxx.empty()) return false;

  std::vector<std::string> compile_flags = Split(toolchain::kCompileFlags);
  std::vector<std::string> link_inputs = Split(toolchain::kLinkInputs);
  std::vector<std::string> link_flags = Split(toolchain::kLinkFlags);
  std::string build_info =
      fmt::format("lmc {}; spec {}; compiler {}; flags {}; built on a {} host", toolchain::kVersion,
                  spec_path, cxx, toolchain::kCompileFlags, llvm::sys::getHostCPUName().str());
  std::string build_info_source = fmt::format(
      "// Written by lmc build.\n#include \"runtime/model/model.h\"\n\nnamespace lmc::rt {{\n"
      "const char* const kBuildInfo = \"{}\";\n}}  // namespace lmc::rt\n",
      build_info);

  // Everything that can change the binary goes into the cache key.
  std::string key = files.header + files.source + build_info_source + cxx +
                    toolchain::kCompileFlags + toolchain::kLinkFlags;
  for (const auto& input : link_inputs) key += input + std::to_string(HashFile(input));
  std::string hash = fmt::format("{:016x}", llvm::xxHash64(key));
  std::string cache_root = options.cache_dir.empty() ? DefaultCacheDir() : options.cache_dir;
  std::string dir = cache_root + "/" + files.stem + "-" + hash;
  std::string binary = dir + "/" + files.stem;

  bool cached = options.use_cache && llvm::sys::fs::can_execute(binary);
  if (cached) {
    log << "[1/1] " << files.stem << ": up to date in cache " << dir << "\n";
  } else {
    if (auto ec = llvm::sys::fs::create_directories(dir)) {
      log << "lmc: error: cannot create cache directory " << dir << ": " << ec.message() << "\n";
      return false;
    }
    std::string source = dir + "/" + files.stem + ".cpp";
    if (!WriteFile(dir + "/" + files.stem + ".h", files.header, log) ||
        !WriteFile(source, files.source, log) ||
        !WriteFile(dir + "/build_info.cc", build_info_source, log)) {
      return false;
    }
    struct Step {
      std::string what;
      std::vector<std::string> args;
    };
    std::vector<std::string> include = {"-I", toolchain::kIncludeDir, "-I", dir};
    auto compile = [&](const std::string& src, const std::string& obj) {
      std::vector<std::string> args = compile_flags;
      args.insert(args.end(), include.begin(), include.end());
      args.insert(args.end(), {"-c", src, "-o", obj});
      return args;
    };
    std::vector<std::string> link = {dir + "/model.o", dir + "/build_info.o"};
    link.insert(link.end(), link_inputs.begin(), link_inputs.end());
    link.insert(link.end(), link_flags.begin(), link_flags.end());
    link.insert(link.end(), {"-o", binary + ".tmp"});
    std::vector<Step> steps = {
        {"compiling " + files.stem + ".cpp", compile(source, dir + "/model.o")},
        {"compiling build_info.cc", compile(dir + "/build_info.cc", dir + "/build_info.o")},
        {"linking " + files.stem, link}};
    std::string output = dir + "/compiler-output.txt";
    for (size_t i = 0; i < steps.size(); ++i) {
      log << "[" << i + 1 << "/" << steps.size() << "] " << steps[i].what << "\n";
      log.flush();
      std::string error;
      int rc = Run(cxx, steps[i].args, output, error);
      std::string printed = ReadFileOr(output, "");
      if (rc != 0) {
        log << printed;
        log << "lmc: error: " << cxx << " failed ("
            << (error.empty() ? "exit " + std::to_string(rc) : error) << ") while " << steps[i].what
            << "; command: " << cxx << " " << llvm::join(steps[i].args, " ") << "\n";
        return false;
      }
      // The generated code must compile cleanly; show any warning.
      log << printed;
    }
    if (auto ec = llvm::sys::fs::rename(binary + ".tmp", binary)) {
      log << "lmc: error: cannot move " << binary << ".tmp: " << ec.message() << "\n";
      return false;
    }
  }

  llvm::SmallString<256> parent(options.output);
  llvm::sys::path::remove_filename(parent);
  if (!parent.empty()) llvm::sys::fs::create_directories(parent);
  llvm::sys::fs::remove(options.output);
  if (auto ec = llvm::sys::fs::copy_file(binary, options.output)) {
    log << "lmc: error: cannot write " << options.output << ": " << ec.message() << "\n";
    return false;
  }
  llvm::sys::fs::setPermissions(options.output, llvm::sys::fs::all_read | llvm::sys::fs::all_exe |
                                                    llvm::sys::fs::owner_write);
  uint64_t size = 0;
  llvm::sys::fs::file_size(options.output, size);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log << fmt::format("lmc: built {} ({:.1f} KiB) in {:.2f} s{}\n", options.output, size / 1024.0,
                     seconds, cached ? " (cached)" : "");
  return true;
}

}  // namespace lmc
