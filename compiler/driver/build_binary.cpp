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
#include <stdlib.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "compiler/driver/toolchain.h"
#include "compiler/support/cpp_literal.h"
#include "compiler/support/file_io.h"

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
  std::string error;
  if (!WriteFileAtomically(path, text, 0644, error)) {
    log << "lmc: error: cannot write " << path << ": " << error << "\n";
    return false;
  }
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
  const std::string& output_path = options.output;

  // Never replace an input, a directory or a device with the binary.
  for (const auto& input : options.inputs) {
    if (SameFile(input, output_path)) {
      log << "lmc: error: -o " << output_path << " is the input " << input
          << "; choose another path for the binary\n";
      return false;
    }
  }
  if (llvm::sys::fs::is_directory(output_path)) {
    log << "lmc: error: -o " << output_path
        << " is a directory; give the path of the binary to write\n";
    return false;
  }
  if (llvm::sys::fs::exists(output_path) && !llvm::sys::fs::is_regular_file(output_path)) {
    log << "lmc: error: -o " << output_path
        << " exists and is not a regular file; lmc build writes only regular files\n";
    return false;
  }

  std::string cxx = FindCompiler(options.cxx, log);
  if (cxx.empty()) return false;

  std::vector<std::string> compile_flags = Split(toolchain::kCompileFlags);
  std::vector<std::string> link_inputs = Split(toolchain::kLinkInputs);
  std::vector<std::string> link_flags = Split(toolchain::kLinkFlags);
  std::string build_info =
      fmt::format("lmc {}; spec {}; compiler {}; flags {}; built on a {} host", toolchain::kVersion,
                  spec_path, cxx, toolchain::kCompileFlags, llvm::sys::getHostCPUName().str());
  // Every byte of the spec path and compiler path is escaped: none can end
  // the literal.
  std::string build_info_source = fmt::format(
      "// Written by lmc build.\n#include \"runtime/model/model.h\"\n\nnamespace lmc::rt {{\n"
      "const char* const kBuildInfo = {};\nconst char* const kTokenizerFile = {};\n"
      "}}  // namespace lmc::rt\n",
      CppStringLiteral(build_info), CppStringLiteral(files.tokenizer_file));
  if (!files.tokenizer_file.empty() && !llvm::sys::fs::exists(files.tokenizer_file)) {
    log << "lmc: warning: tokenizer.file " << files.tokenizer_file
        << " does not exist; the binary will need --tokenizer\n";
  }

  // Everything that can change the binary goes into the cache key.
  std::string key = files.header + files.source + build_info_source + cxx +
                    toolchain::kCompileFlags + toolchain::kLinkFlags;
  for (const auto& input : link_inputs) key += input + std::to_string(HashFile(input));
  std::string hash = fmt::format("{:016x}", llvm::xxHash64(key));
  std::string cache_root = options.cache_dir.empty() ? DefaultCacheDir() : options.cache_dir;
  std::string dir = cache_root + "/" + files.stem + "-" + hash;
  std::string binary = dir + "/" + files.stem;

  // A cache entry appears whole or not at all: it is built in a directory of
  // its own and renamed into place, so concurrent builds never share a file.
  std::string work_dir;
  auto cleanup = [&] {
    if (!work_dir.empty()) llvm::sys::fs::remove_directories(work_dir);
  };
  bool cached = options.use_cache && llvm::sys::fs::can_execute(binary);
  if (cached) {
    log << "[1/1] " << files.stem << ": up to date in cache " << dir << "\n";
  } else {
    if (auto ec = llvm::sys::fs::create_directories(cache_root)) {
      log << "lmc: error: cannot create cache directory " << cache_root << ": " << ec.message()
          << "\n";
      return false;
    }
    std::string pattern = dir + ".tmp-XXXXXX";
    std::vector<char> temp(pattern.begin(), pattern.end());
    temp.push_back('\0');
    if (!::mkdtemp(temp.data())) {
      log << "lmc: error: cannot create a build directory in " << cache_root << ": "
          << std::strerror(errno) << "\n";
      return false;
    }
    work_dir = temp.data();
    std::string source = work_dir + "/" + files.stem + ".cpp";
    if (!WriteFile(work_dir + "/" + files.stem + ".h", files.header, log) ||
        !WriteFile(source, files.source, log) ||
        !WriteFile(work_dir + "/build_info.cc", build_info_source, log)) {
      cleanup();
      return false;
    }
    struct Step {
      std::string what;
      std::vector<std::string> args;
    };
    std::vector<std::string> include = {"-I", toolchain::kIncludeDir, "-I", work_dir};
    auto compile = [&](const std::string& src, const std::string& obj) {
      std::vector<std::string> args = compile_flags;
      args.insert(args.end(), include.begin(), include.end());
      args.insert(args.end(), {"-c", src, "-o", obj});
      return args;
    };
    std::string work_binary = work_dir + "/" + files.stem;
    std::vector<std::string> link = {work_dir + "/model.o", work_dir + "/build_info.o"};
    link.insert(link.end(), link_inputs.begin(), link_inputs.end());
    link.insert(link.end(), link_flags.begin(), link_flags.end());
    link.insert(link.end(), {"-o", work_binary});
    std::vector<Step> steps = {
        {"compiling " + files.stem + ".cpp", compile(source, work_dir + "/model.o")},
        {"compiling build_info.cc",
         compile(work_dir + "/build_info.cc", work_dir + "/build_info.o")},
        {"linking " + files.stem, link}};
    for (size_t i = 0; i < steps.size(); ++i) {
      log << "[" << i + 1 << "/" << steps.size() << "] " << steps[i].what << "\n";
      log.flush();
      // One output file per step, so each step's warnings are shown once.
      std::string output = fmt::format("{}/step{}-output.txt", work_dir, i + 1);
      std::string error;
      int rc = Run(cxx, steps[i].args, output, error);
      std::string printed = ReadFileOr(output, "");
      if (rc != 0) {
        log << printed;
        log << "lmc: error: " << cxx << " failed ("
            << (error.empty() ? "exit " + std::to_string(rc) : error) << ") while " << steps[i].what
            << "; command: " << cxx << " " << llvm::join(steps[i].args, " ") << "\n";
        cleanup();
        return false;
      }
      // The generated code must compile cleanly; show any warning.
      log << printed;
    }
    if (!options.use_cache) {
      binary = work_binary;  // --no-cache: use this build, leave the cache as it was.
    } else if (::rename(work_dir.c_str(), dir.c_str()) == 0) {
      work_dir.clear();  // Now the cache entry.
    } else if (!llvm::sys::fs::can_execute(binary)) {
      binary = work_binary;  // Another entry holds the name but no binary: use ours.
    }                        // Else a concurrent build of the same key won; its binary is the same.
  }

  auto data = llvm::MemoryBuffer::getFile(binary, /*IsText=*/false,
                                          /*RequiresNullTerminator=*/false);
  if (!data) {
    log << "lmc: error: cannot read " << binary << ": " << data.getError().message() << "\n";
    cleanup();
    return false;
  }
  llvm::SmallString<256> parent(output_path);
  llvm::sys::path::remove_filename(parent);
  if (!parent.empty()) llvm::sys::fs::create_directories(parent);
  std::string error;
  if (!WriteFileAtomically(output_path, (*data)->getBuffer(), 0755, error)) {
    log << "lmc: error: cannot write " << output_path << ": " << error << "\n";
    cleanup();
    return false;
  }
  uint64_t size = (*data)->getBufferSize();
  cleanup();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log << fmt::format("lmc: built {} ({:.1f} KiB) in {:.2f} s{}\n", output_path, size / 1024.0,
                     seconds, cached ? " (cached)" : "");
  return true;
}

}  // namespace lmc
