#include "compiler/driver/build_binary.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <llvm/ADT/SmallString.h>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Host.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/Program.h>
#include <llvm/Support/xxhash.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iterator>

#include "compiler/driver/toolchain.h"
#include "compiler/driver/toolchain_paths.h"
#include "compiler/support/cpp_literal.h"
#include "compiler/support/file_io.h"
#include "runtime/util/error.h"
#include "runtime/util/output_file.h"

namespace lmc {

namespace {

// --native: the host's instruction set, and only Highway's static target (the best one
// those flags enable) instead of one copy of every kernel per x86 target. Tuning stays generic,
// as in the default build's per-target kernels: GCC 12's tuning for Zen 3 (-march=native there)
// made the f32 matmuls of prefill half as fast (62-67 -> 29-37 GFLOP/s a core; stories260K
// prefill 43K -> 35K tok/s); the integer kernels ran the same.
constexpr const char* kNativeFlags[] = {"-march=native", "-mtune=generic",
                                        "-DHWY_COMPILE_ONLY_STATIC=1"};

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
    log << "lmc: error: " << error << "\n";
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

// Finds `ar` for --library: beside the compiler (binutils' or LLVM's), else on PATH.
std::string FindArchiver(const std::string& cxx, llvm::raw_ostream& log) {
  llvm::StringRef dir = llvm::sys::path::parent_path(cxx);
  for (const char* name : {"ar", "llvm-ar"}) {
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, name);
    if (llvm::sys::fs::can_execute(path)) return path.str().str();
  }
  if (auto found = llvm::sys::findProgramByName("ar")) return *found;
  log << "lmc: error: --library needs 'ar': none beside " << cxx << " nor on PATH\n";
  return "";
}

// The compiler runs in a process group of its own, which a signal to lmc is
// forwarded to: killing lmc build ends the compiler, cc1plus, as and ld too.
std::atomic<pid_t> child_group{0};
volatile sig_atomic_t received_signal = 0;
constexpr int kForwardedSignals[] = {SIGINT, SIGTERM, SIGHUP};

extern "C" void ForwardSignal(int signal_number) {
  received_signal = signal_number;
  if (pid_t group = child_group.load(); group > 0) ::kill(-group, signal_number);
}

// Forwards SIGINT, SIGTERM and SIGHUP (unless ignored) while it lives.
class SignalForwarding {
 public:
  SignalForwarding() {
    for (size_t i = 0; i < std::size(kForwardedSignals); ++i) {
      ::sigaction(kForwardedSignals[i], nullptr, &old_[i]);
      if (old_[i].sa_handler == SIG_IGN) continue;
      struct sigaction action {};
      action.sa_handler = ForwardSignal;
      sigemptyset(&action.sa_mask);
      ::sigaction(kForwardedSignals[i], &action, nullptr);
    }
  }
  ~SignalForwarding() {
    for (size_t i = 0; i < std::size(kForwardedSignals); ++i) {
      ::sigaction(kForwardedSignals[i], &old_[i], nullptr);
    }
  }
  // After cleaning up: dies of the signal that arrived, if one did.
  static void DieIfSignalled() {
    if (received_signal == 0) return;
    ::signal(received_signal, SIG_DFL);
    ::raise(received_signal);
  }

 private:
  struct sigaction old_[std::size(kForwardedSignals)];
};

// Runs a program in a new process group, sending its output to `output_file`;
// returns its exit code, or -1 with `error` set.
int Run(const std::string& program, const std::vector<std::string>& args,
        const std::string& output_file, std::string& error) {
  std::vector<char*> argv{const_cast<char*>(program.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 1, output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&files, 1, 2);
  // Signals stay blocked until child_group is set, so none is missed; the child
  // starts with the old mask.
  sigset_t blocked, old_mask;
  sigemptyset(&blocked);
  for (int signal_number : kForwardedSignals) sigaddset(&blocked, signal_number);
  ::pthread_sigmask(SIG_BLOCK, &blocked, &old_mask);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setsigmask(&attributes, &old_mask);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, program.c_str(), &files, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&files);
  if (rc != 0) {
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    error = std::strerror(rc);
    return -1;
  }
  child_group.store(pid);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  child_group.store(0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  error = fmt::format("killed by signal {}", WTERMSIG(status));
  return -1;
}

// Removes build folders (NAME.tmp-XXXXXX) that a killed lmc build left in the
// cache; an hour old at least, so never one a concurrent build is using.
void RemoveStaleBuildFolders(const std::string& cache_root) {
  std::error_code ec;
  auto now = llvm::sys::toTimePoint(std::time(nullptr));
  for (llvm::sys::fs::directory_iterator it(cache_root, ec), end; it != end && !ec;
       it.increment(ec)) {
    llvm::StringRef name = llvm::sys::path::filename(it->path());
    llvm::sys::fs::file_status status;
    if (!name.contains(".tmp-") || llvm::sys::fs::status(it->path(), status) ||
        status.type() != llvm::sys::fs::file_type::directory_file) {
      continue;
    }
    if (now - status.getLastModificationTime() > std::chrono::hours(1)) {
      llvm::sys::fs::remove_directories(it->path());
    }
  }
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
                 const BuildOptions& options, llvm::raw_ostream& log, const GeneratedFiles* draft) {
  auto start = std::chrono::steady_clock::now();
  const std::string& output_path = options.output;

  // An input (the spec, its bases), a directory or a device is refused before compiling.
  try {
    rt::CheckOutputPath(output_path);
  } catch (const rt::Error& e) {
    log << "lmc: error: " << e.what() << "\n";
    return false;
  }

  std::string cxx = FindCompiler(options.cxx, log);
  if (cxx.empty()) return false;
  std::string ar;
  if (options.library && (ar = FindArchiver(cxx, log)).empty()) return false;
  ToolchainPaths toolchain_paths;
  if (std::string error; !FindToolchainPaths(toolchain_paths, error)) {
    log << "lmc: error: " << error << "\n";
    return false;
  }

  std::vector<std::string> compile_flags = Split(toolchain::kCompileFlags);
  if (options.native) {
    compile_flags.insert(compile_flags.end(), std::begin(kNativeFlags), std::end(kNativeFlags));
  }
  std::vector<std::string> link_inputs = toolchain_paths.link_inputs;
  std::vector<std::string> link_flags = Split(toolchain::kLinkFlags);
  // A tensor-parallel module: lmc_distributed, and MPI's shared libraries.
  if (files.tensor_parallel > 1) {
    const std::vector<std::string>& mpi = toolchain_paths.mpi_link_inputs;
    if (mpi.empty()) {
      log << "lmc: error: --tensor-parallel needs MPI, and this lmc was built without it "
             "(install libopenmpi-dev, then configure and build lmc again)\n";
      return false;
    }
    if (options.library) {
      log << "lmc: error: --tensor-parallel builds a binary (mpirun runs it); not with "
             "--library\n";
      return false;
    }
    link_inputs.insert(link_inputs.begin(), mpi.front());
    link_inputs.insert(link_inputs.end(), mpi.begin() + 1, mpi.end());
    // Open MPI has no static libraries.
    link_flags.erase(std::remove(link_flags.begin(), link_flags.end(), "-static"),
                     link_flags.end());
  }
  const std::string flags = llvm::join(compile_flags, " ");
  std::string build_info =
      fmt::format("lmc {}; spec {}; compiler {}; flags {}; built on a {} host", toolchain::kVersion,
                  spec_path, cxx, flags, llvm::sys::getHostCPUName().str());
  // Every byte of the spec path and compiler path is escaped: none can end
  // the literal.
  // The model's build facts.
  std::string build_info_source = fmt::format(
      "// Written by lmc build.\n#include \"{0}.h\"\n#include "
      "\"runtime/chat/template_runtime.h\"\n\nnamespace lmc::models::{0} {{\n"
      "const char* const kBuildInfo = {1};\nconst char* const kTokenizerFile = {2};\n"
      "}}  // namespace lmc::models::{0}\n",
      files.stem, CppStringLiteral(build_info), CppStringLiteral(files.tokenizer_file));
  // A binary's main() (lmc_cli) gets its model from here. A library has no main() and
  // defines no global name but lmc_open_<name>, so that models link side by side.
  if (!options.library) {
    build_info_source += fmt::format(
        "\n#include <hwy/detect_targets.h>\n\nextern \"C\" LMC_DECLARE_MODEL({0});\n\nnamespace "
        "lmc::rt {{\n"
        "const ModelInfo& GetModelInfo() {{ return models::{0}::Info(); }}\n"
        "lmc_model* OpenModel(const char* weights_path, const lmc_open_options* options,\n"
        "                     lmc_error** error) {{\n"
        "  return lmc_open_{0}(weights_path, options, error);\n"
        "}}\n"
        "int64_t CompiledSimdTargets() {{ return HWY_TARGETS; }}\n"
        "}}  // namespace lmc::rt\n",
        files.stem);
    // The draft model `generate --speculate draft:W` runs beside it, or none.
    if (draft == nullptr) {
      build_info_source +=
          "\nnamespace lmc::rt {\nconst DraftModel* GetDraftModel() { return nullptr; }\n}\n";
    } else {
      build_info_source += fmt::format(
          "\n#include \"{0}.h\"\n\nnamespace lmc::models::{0} {{\nconst char* const kBuildInfo = "
          "{1};\nconst char* const kTokenizerFile = {2};\n}}  // namespace lmc::models::{0}\n\n"
          "extern \"C\" LMC_DECLARE_MODEL({0});\n\nnamespace lmc::rt {{\n"
          "const DraftModel* GetDraftModel() {{\n"
          "  static const DraftModel draft{{&models::{0}::Info, &lmc_open_{0}}};\n"
          "  return &draft;\n}}\n}}  // namespace lmc::rt\n",
          draft->stem, CppStringLiteral(build_info), CppStringLiteral(draft->tokenizer_file));
    }
  }
  // The chat template `chat` renders with (runtime/chat/template_runtime.h), or none.
  if (!options.library) {
    if (files.chat_template_cpp.empty()) {
      build_info_source +=
          "\nnamespace lmc::chat {\nconst ModelTemplate* GetModelTemplate() { return nullptr; "
          "}\n}\n";
    } else {
      build_info_source +=
          "\n" + files.chat_template_cpp +
          fmt::format(
              "\nnamespace lmc::chat {{\nconst ModelTemplate* GetModelTemplate() {{\n"
              "  static const ModelTemplate chat_template{{&lmc_chat_template::RenderChat, {}, {}, "
              "{}, "
              "{}, {}}};\n  return &chat_template;\n}}\n}}  // namespace lmc::chat\n",
              CppStringLiteral(files.chat_template_path), CppStringLiteral(files.chat_bos),
              files.chat_has_bos ? "true" : "false", CppStringLiteral(files.chat_eos),
              files.chat_has_eos ? "true" : "false");
    }
  }
  // A tensor-parallel binary's main runs under MPI (runtime/distributed/), or none does.
  if (!options.library && files.tensor_parallel > 1) {
    build_info_source += fmt::format(
        "\n#include \"runtime/distributed/tensor_parallel.h\"\n\nnamespace lmc::rt {{\n"
        "const ParallelHooks* GetParallelHooks() {{\n"
        "  static const ParallelHooks hooks{{{}, &models::{}::CreateModel, &dist::Main}};\n"
        "  return &hooks;\n}}\n}}  // namespace lmc::rt\n",
        files.tensor_parallel, files.stem);
  } else if (!options.library) {
    build_info_source +=
        "\nnamespace lmc::rt {\nconst ParallelHooks* GetParallelHooks() { return nullptr; }\n}\n";
  }
  if (!files.tokenizer_file.empty() && !llvm::sys::fs::exists(files.tokenizer_file)) {
    log << "lmc: warning: tokenizer.file " << files.tokenizer_file
        << " does not exist; the binary will need --tokenizer\n";
  }

  // Everything that can change the result goes into the cache key: the runtime's libraries and
  // the runtime headers the generated code includes.
  std::string key = std::string(options.library ? "library" : "binary") + files.header +
                    files.source + build_info_source + cxx + flags + toolchain::kLinkFlags +
                    RuntimeHeadersDigest(toolchain_paths);
  if (draft != nullptr) key += draft->header + draft->source;
  for (const auto& input : link_inputs) key += input + std::to_string(HashFile(input));
  std::string hash = fmt::format("{:016x}", llvm::xxHash64(key));
  std::string cache_root = options.cache_dir.empty() ? DefaultCacheDir() : options.cache_dir;
  std::string dir = cache_root + "/" + files.stem + "-" + hash;
  const std::string artifact_name = options.library ? "lib" + files.stem + ".a" : files.stem;
  std::string binary = dir + "/" + artifact_name;
  // Whether a cache entry holds a whole result (entries appear by rename).
  auto complete = [&](const std::string& path) {
    return options.library ? llvm::sys::fs::is_regular_file(path)
                           : llvm::sys::fs::can_execute(path);
  };

  // A cache entry appears whole or not at all: it is built in a directory of
  // its own and renamed into place, so concurrent builds never share a file.
  std::string work_dir;
  auto cleanup = [&] {
    if (!work_dir.empty()) llvm::sys::fs::remove_directories(work_dir);
  };
  bool cached = options.use_cache && complete(binary);
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
    RemoveStaleBuildFolders(cache_root);
    std::string source = work_dir + "/" + files.stem + ".cpp";
    if (!WriteFile(work_dir + "/" + files.stem + ".h", files.header, log) ||
        !WriteFile(source, files.source, log) ||
        !WriteFile(work_dir + "/build_info.cc", build_info_source, log) ||
        (draft != nullptr &&
         (!WriteFile(work_dir + "/" + draft->stem + ".h", draft->header, log) ||
          !WriteFile(work_dir + "/" + draft->stem + ".cpp", draft->source, log)))) {
      cleanup();
      return false;
    }
    struct Step {
      std::string what;
      std::string program;
      std::vector<std::string> args;
    };
    // The runtime's headers ("runtime/...") and the public API ("lmc/lmc.h").
    std::vector<std::string> include;
    for (const auto& dir : toolchain_paths.include_dirs) include.insert(include.end(), {"-I", dir});
    include.insert(include.end(), {"-I", work_dir});
    auto compile = [&](const std::string& src, const std::string& obj) {
      std::vector<std::string> args = compile_flags;
      args.insert(args.end(), include.begin(), include.end());
      args.insert(args.end(), {"-c", src, "-o", obj});
      return args;
    };
    std::string work_binary = work_dir + "/" + artifact_name;
    // Named after the model: a library's members, as `ar t` lists them.
    std::string model_object = work_dir + "/" + files.stem + ".o";
    std::string info_object = work_dir + "/" + files.stem + "_build_info.o";
    std::vector<Step> steps = {
        {"compiling " + files.stem + ".cpp", cxx, compile(source, model_object)},
        {"compiling build_info.cc", cxx, compile(work_dir + "/build_info.cc", info_object)}};
    std::vector<std::string> objects = {model_object, info_object};
    if (draft != nullptr) {
      objects.push_back(work_dir + "/" + draft->stem + ".o");
      steps.push_back({"compiling " + draft->stem + ".cpp (the draft model)", cxx,
                       compile(work_dir + "/" + draft->stem + ".cpp", objects.back())});
    }
    if (options.library) {
      // r: insert, c: create quietly, s: index, D: zero timestamps and ids (reproducible).
      steps.push_back(
          {"archiving " + artifact_name, ar, {"rcsD", work_binary, model_object, info_object}});
    } else {
      std::vector<std::string> link = objects;
      link.insert(link.end(), link_inputs.begin(), link_inputs.end());
      link.insert(link.end(), link_flags.begin(), link_flags.end());
      link.insert(link.end(), {"-o", work_binary});
      steps.push_back({"linking " + files.stem, cxx, link});
    }
    SignalForwarding forwarding;
    for (size_t i = 0; i < steps.size(); ++i) {
      log << "[" << i + 1 << "/" << steps.size() << "] " << steps[i].what << "\n";
      log.flush();
      // One output file per step, so each step's warnings are shown once.
      std::string output = fmt::format("{}/step{}-output.txt", work_dir, i + 1);
      std::string error;
      int rc = Run(steps[i].program, steps[i].args, output, error);
      std::string printed = ReadFileOr(output, "");
      if (received_signal != 0) {
        cleanup();
        SignalForwarding::DieIfSignalled();
      }
      if (rc != 0) {
        log << printed;
        log << "lmc: error: " << steps[i].program << " failed ("
            << (error.empty() ? "exit " + std::to_string(rc) : error) << ") while " << steps[i].what
            << "; command: " << steps[i].program << " " << llvm::join(steps[i].args, " ") << "\n";
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
    } else if (!complete(binary)) {
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
  if (!WriteFileAtomically(output_path, (*data)->getBuffer(), options.library ? 0644 : 0755,
                           error)) {
    log << "lmc: error: " << error << "\n";
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
