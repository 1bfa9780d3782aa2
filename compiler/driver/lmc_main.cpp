// lmc: compiles a YAML transformer spec into a specialized inference binary.
//
//   lmc check SPEC            validate; every problem as file:line:col
//   lmc emit SPEC -o DIR      write the generated C++ (and IR) to DIR
//   lmc emit SPEC --ir        print the IR after all passes
//   lmc build SPEC -o BINARY  compile the model binary
//   lmc tokenize / detokenize any tokenizer file (tokenize_command.h)
//
// Exit codes: 0 success, 1 invalid spec or failed build, 2 usage error.
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/raw_ostream.h>

#include "compiler/driver/build_binary.h"
#include "compiler/driver/tokenize_command.h"
#include "compiler/driver/toolchain.h"
#include "compiler/pipeline.h"

namespace cl = llvm::cl;

namespace {

cl::SubCommand check_cmd("check", "Validate a spec and report every problem");
cl::SubCommand emit_cmd("emit", "Write the generated C++ (and IR) for a spec");
cl::SubCommand build_cmd("build", "Compile a spec into a model binary");

cl::opt<std::string> spec_path(cl::Positional, cl::desc("<spec.yaml>"), cl::Required,
                               cl::sub(check_cmd), cl::sub(emit_cmd), cl::sub(build_cmd));
cl::list<std::string> overrides("set", cl::desc("Override a spec key: --set path.to.key=value"),
                                cl::value_desc("key=value"), cl::sub(check_cmd), cl::sub(emit_cmd),
                                cl::sub(build_cmd));

cl::opt<std::string> emit_dir("o", cl::desc("Directory for <name>.h, <name>.cpp, <name>.ir"),
                              cl::value_desc("dir"), cl::sub(emit_cmd));
cl::opt<bool> emit_ir("ir", cl::desc("Print the IR after all passes to stdout"), cl::sub(emit_cmd));
cl::opt<bool> print_after_all("print-after-all",
                              cl::desc("Print the IR after lowering and after each pass to stderr"),
                              cl::sub(emit_cmd), cl::sub(build_cmd));
cl::opt<std::string> as_path("spec-name",
                             cl::desc("How generated banners name the spec (default: as given)"),
                             cl::sub(emit_cmd), cl::sub(build_cmd));

cl::opt<std::string> build_output("o", cl::desc("Path of the model binary"), cl::value_desc("path"),
                                  cl::Required, cl::sub(build_cmd));
cl::opt<std::string> cxx("cxx",
                         cl::desc("C++ compiler (name on PATH or path; default: the one "
                                  "that built lmc)"),
                         cl::sub(build_cmd));
cl::opt<std::string> cache_dir("cache-dir", cl::desc("Build cache directory"), cl::sub(build_cmd));
cl::opt<bool> no_cache("no-cache", cl::desc("Rebuild even if the cache has this binary"),
                       cl::sub(build_cmd));

bool WriteText(const std::string& path, const std::string& text) {
  std::error_code ec;
  llvm::raw_fd_ostream out(path, ec);
  if (ec) {
    llvm::errs() << "lmc: error: cannot write " << path << ": " << ec.message() << "\n";
    return false;
  }
  out << text;
  return true;
}

lmc::PipelineOptions Options() {
  lmc::PipelineOptions options;
  options.spec_path = spec_path;
  options.overrides.assign(overrides.begin(), overrides.end());
  if (print_after_all) options.print_after_all = &llvm::errs();
  return options;
}

std::string DisplayPath() {
  return as_path.empty() ? std::string(spec_path) : std::string(as_path);
}

int Check() {
  lmc::Diagnostics diags;
  auto options = Options();
  auto spec = lmc::LoadSpec(options, diags);
  if (!spec) {
    llvm::errs() << spec_path << ": " << diags.error_count() << " error"
                 << (diags.error_count() == 1 ? "" : "s") << "\n";
    return 1;
  }
  llvm::outs() << spec_path << ": ok (" << spec->name << ")\n";
  return 0;
}

int Emit() {
  lmc::Diagnostics diags;
  auto options = Options();
  auto spec = lmc::LoadSpec(options, diags);
  if (!spec) return 1;
  auto graph = lmc::CompileToIr(*spec, options, diags);
  if (!graph) return 1;
  if (emit_ir) llvm::outs() << lmc::ir::Print(*graph);
  if (emit_dir.empty()) return 0;
  auto files = lmc::EmitCpp(*spec, *graph, DisplayPath());
  if (auto ec = llvm::sys::fs::create_directories(emit_dir)) {
    llvm::errs() << "lmc: error: cannot create " << emit_dir << ": " << ec.message() << "\n";
    return 1;
  }
  std::string base = emit_dir + "/" + files.stem;
  bool ok = WriteText(base + ".h", files.header) && WriteText(base + ".cpp", files.source) &&
            WriteText(base + ".ir", files.ir);
  return ok ? 0 : 1;
}

int Build() {
  lmc::Diagnostics diags;
  auto options = Options();
  llvm::errs() << "[0/3] lowering " << spec_path << "\n";
  options.display_path = DisplayPath();
  auto files = lmc::CompileToCpp(options, diags);
  if (!files) return 1;
  lmc::BuildOptions build;
  build.output = build_output;
  build.cxx = cxx;
  build.cache_dir = cache_dir;
  build.use_cache = !no_cache;
  return lmc::BuildBinary(*files, DisplayPath(), build, llvm::errs()) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string_view command = argc > 1 ? argv[1] : "";
  if (command == "tokenize") return lmc::RunTokenize(argc - 1, argv + 1);
  if (command == "detokenize") return lmc::RunDetokenize(argc - 1, argv + 1);
  cl::SetVersionPrinter(
      [](llvm::raw_ostream& out) { out << "lmc " << lmc::toolchain::kVersion << "\n"; });
  if (!cl::ParseCommandLineOptions(argc, argv, "lmc: transformer spec -> specialized binary\n",
                                   &llvm::errs())) {
    return 2;
  }
  if (check_cmd) return Check();
  if (emit_cmd) return Emit();
  if (build_cmd) return Build();
  llvm::errs() << "lmc: error: expected a command: check, emit or build (see lmc --help)\n";
  return 2;
}
