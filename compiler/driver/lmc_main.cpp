// lmc: compiles a YAML transformer spec into a specialized inference binary.
//
//   lmc check SPEC            validate; every problem as file:line:col
//   lmc check SPEC --weights FILE... [--scan]  also verify checkpoints against it
//   lmc emit SPEC -o DIR      write the generated C++ (and IR) to DIR
//   lmc emit SPEC --ir        print the IR after all passes
//   lmc build SPEC -o BINARY  compile the model binary
//   lmc build SPEC --draft DRAFT_SPEC -o BINARY  with a draft model for --speculate draft:W
//   lmc build SPEC --tensor-parallel N -o BINARY  sharded for mpirun -np N
//   (emit and build also take FILE.ir, a module as emit --ir prints it)
//   lmc build SPEC --library -o LIB.a  a static library exporting lmc_open_<name> (lmc.h)
//   lmc opt FILE.ir [--passes=a,b]  parse IR, run passes, print IR (pass tests)
//   lmc run SPEC --weights W --tokens 1,2,3 --out F.npy   the reference interpreter
//   lmc random-weights SPEC -o W.safetensors [--seed N]  a seeded random checkpoint
//   lmc quantize IN -o OUT.gguf --dtype T [--spec SPEC]  a GGUF with matrices in dtype T
//   lmc tokenize / detokenize any tokenizer file (tokenize_command.h)
//   lmc chat-template FILE [-o OUT.cpp]  a chat template compiled to C++ (docs/chat.md)
//   lmc inspect SPEC [--json]  parameters, bytes, FLOPs per token, KV cache
//   lmc import DIR|FILE.gguf -o SPEC [--name NAME]  a spec from a Hugging Face folder or a GGUF
//
// Exit codes: 0 success, 1 invalid spec or failed build, 2 usage error, 3 internal error.
#include <llvm/ADT/SmallString.h>
#include <llvm/ADT/SmallVector.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "compiler/chat_template/command.h"
#include "compiler/driver/build_binary.h"
#include "compiler/driver/check_command.h"
#include "compiler/driver/import_command.h"
#include "compiler/driver/inspect_command.h"
#include "compiler/driver/quantize_command.h"
#include "compiler/driver/reference_commands.h"
#include "compiler/driver/tokenize_command.h"
#include "compiler/driver/toolchain.h"
#include "compiler/passes/passes.h"
#include "compiler/pipeline.h"
#include "compiler/spec/parse_spec.h"
#include "compiler/spec/spec_tree.h"
#include "compiler/spec/validate_spec.h"
#include "compiler/support/file_io.h"
#include "runtime/util/output_file.h"
#include "runtime/weights/mapping_guard.h"

namespace cl = llvm::cl;

namespace {

cl::SubCommand check_cmd("check", "Validate a spec and report every problem");
cl::SubCommand emit_cmd("emit", "Write the generated C++ (and IR) for a spec");
cl::SubCommand build_cmd("build",
                         "Compile a spec into a model binary (--library: a static library)");
cl::SubCommand run_cmd("run", "Run a spec's IR in the reference interpreter (slow, exact)");
cl::SubCommand random_cmd("random-weights", "Write seeded random weights for a spec");
cl::SubCommand quantize_cmd("quantize",
                            "Rewrite a checkpoint as GGUF with its matrices in one dtype");
cl::SubCommand opt_cmd("opt", "Parse IR text, run passes on it, print the result");
cl::SubCommand inspect_cmd("inspect",
                           "Parameters, weight bytes, FLOPs per token and KV cache of a spec");
cl::SubCommand import_cmd(
    "import", "Write a spec from a Hugging Face model folder (config.json) or a GGUF file");

cl::opt<bool> inspect_json("json", cl::desc("Print JSON (with the key 'parameters')"),
                           cl::sub(inspect_cmd));
cl::opt<std::string> import_dir(cl::Positional,
                                cl::desc("<folder with config.json, or a .gguf file>"),
                                cl::Required, cl::sub(import_cmd));
cl::opt<std::string> import_output("o", cl::desc("Path of the spec to write"),
                                   cl::value_desc("spec.yaml"), cl::sub(import_cmd),
                                   cl::ZeroOrMore);
cl::opt<std::string> import_name(
    "name", cl::desc("The spec's name (default: from the folder, or the GGUF's general.name)"),
    cl::sub(import_cmd), cl::ZeroOrMore);

cl::opt<std::string> opt_input(cl::Positional, cl::desc("<file.ir>"), cl::Required,
                               cl::sub(opt_cmd));
cl::list<std::string> opt_passes("passes", cl::desc("Passes to run, in order"), cl::CommaSeparated,
                                 cl::sub(opt_cmd));

cl::opt<std::string> spec_path(cl::Positional, cl::desc("<spec.yaml>"), cl::Required,
                               cl::sub(check_cmd), cl::sub(emit_cmd), cl::sub(build_cmd),
                               cl::sub(run_cmd), cl::sub(random_cmd), cl::sub(inspect_cmd));
// After the spec: `lmc check SPEC --weights A B C` checks A, B and C.
cl::list<std::string> check_more(cl::Positional, cl::desc("[more checkpoints]"), cl::ZeroOrMore,
                                 cl::sub(check_cmd));
cl::list<std::string> check_weights(
    "weights",
    cl::desc("Checkpoints to verify against the spec, each in its weights.format (a sharded "
             "safetensors checkpoint: its index or folder)"),
    cl::ZeroOrMore, cl::sub(check_cmd));
cl::opt<bool> check_scan("scan", cl::desc("With --weights: also find NaN and Inf values"),
                         cl::sub(check_cmd));
cl::list<std::string> overrides("set", cl::desc("Override a spec key: --set path.to.key=value"),
                                cl::value_desc("key=value"), cl::sub(check_cmd), cl::sub(emit_cmd),
                                cl::sub(build_cmd), cl::sub(run_cmd), cl::sub(random_cmd),
                                cl::sub(inspect_cmd), cl::sub(quantize_cmd));

cl::opt<std::string> run_weights("weights", cl::desc("Checkpoint"), cl::Required, cl::sub(run_cmd));
cl::opt<std::string> run_tokens("tokens", cl::desc("Comma-separated token ids"), cl::Required,
                                cl::sub(run_cmd));
cl::opt<std::string> run_encoder_tokens(
    "encoder-tokens", cl::desc("Encoder-decoders: comma-separated source token ids"),
    cl::sub(run_cmd));
cl::opt<std::string> run_encoder_out(
    "encoder-out", cl::desc("Encoder-decoders: also write the encoder's last hidden state (.npy)"),
    cl::sub(run_cmd));
cl::opt<std::string> run_hidden_out(
    "hidden-out",
    cl::desc("Decoders: also write every token's final hidden state, after the final norm, "
             "before the classifier (.npy, [tokens, d_model])"),
    cl::sub(run_cmd));
cl::opt<std::string> run_out("out", cl::desc("Output .npy: logits [tokens, vocab]"), cl::Required,
                             cl::sub(run_cmd));
cl::opt<std::string> random_out("o", cl::desc("Output .safetensors"), cl::Required,
                                cl::sub(random_cmd));
cl::opt<uint64_t> random_seed("seed", cl::desc("Random seed"), cl::init(1), cl::sub(random_cmd));

cl::opt<std::string> quantize_in(cl::Positional, cl::desc("<checkpoint>"), cl::Required,
                                 cl::sub(quantize_cmd));
cl::opt<std::string> quantize_out("o", cl::desc("Output .gguf"), cl::Required,
                                  cl::sub(quantize_cmd));
cl::opt<std::string> quantize_dtype("dtype",
                                    cl::desc("f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, "
                                             "iq4_nl, q2_k, q3_k, q4_k, q5_k, q6_k or q4_k_m"),
                                    cl::Required, cl::sub(quantize_cmd));
cl::opt<std::string> quantize_spec(
    "spec", cl::desc("The model's spec: its weights.format, and exactly the tensors it quantizes"),
    cl::sub(quantize_cmd), cl::ZeroOrMore);

cl::opt<std::string> emit_dir("o", cl::desc("Directory for <name>.h, <name>.cpp, <name>.ir"),
                              cl::value_desc("dir"), cl::sub(emit_cmd), cl::ZeroOrMore);
cl::opt<bool> emit_ir("ir", cl::desc("Print the IR after all passes to stdout"), cl::sub(emit_cmd));
cl::opt<bool> print_after_all("print-after-all",
                              cl::desc("Print the IR after lowering and after each pass to stderr"),
                              cl::sub(emit_cmd), cl::sub(build_cmd));
cl::opt<std::string> as_path("spec-name",
                             cl::desc("How generated banners name the spec (default: as given)"),
                             cl::sub(emit_cmd), cl::sub(build_cmd), cl::ZeroOrMore);

cl::opt<std::string> build_output("o",
                                  cl::desc("Path of the model binary (--library: of the library)"),
                                  cl::value_desc("path"), cl::sub(build_cmd), cl::ZeroOrMore);
cl::opt<bool> library("library",
                      cl::desc("Write a static library exporting lmc_open_<name> (include/lmc/"
                               "lmc.h) instead of a binary; link it with the runtime libraries"),
                      cl::sub(build_cmd));
cl::opt<std::string> cxx("cxx",
                         cl::desc("C++ compiler (name on PATH or path; default: the one "
                                  "that built lmc)"),
                         cl::sub(build_cmd), cl::ZeroOrMore);
cl::opt<std::string> cache_dir("cache-dir", cl::desc("Build cache directory"), cl::sub(build_cmd),
                               cl::ZeroOrMore);
cl::opt<bool> no_cache("no-cache", cl::desc("Rebuild even if the cache has this binary"),
                       cl::sub(build_cmd));
cl::opt<int> tensor_parallel(
    "tensor-parallel",
    cl::desc("Shard the model for N MPI ranks (mpirun -np N BINARY ...): attention by KV "
             "groups, the feed-forward by columns (docs/distributed.md)"),
    cl::value_desc("N"), cl::init(1), cl::sub(emit_cmd), cl::sub(build_cmd));
cl::opt<std::string> depfile("depfile",
                             cl::desc("Also write a Makefile-style list of the files the build "
                                      "read (the spec, the specs it extends, its chat template)"),
                             cl::value_desc("path"), cl::sub(build_cmd), cl::ZeroOrMore);
cl::opt<std::string> draft_spec(
    "draft",
    cl::desc("Also link in the model of this spec, as the draft for `generate --speculate "
             "draft:W` (same tokenizer, another name; --set does not apply to it)"),
    cl::value_desc("spec.yaml"), cl::sub(build_cmd), cl::ZeroOrMore);
cl::opt<bool> native("native",
                     cl::desc("Compile for this machine's CPU only: about 4x faster to build, "
                              "may not run on other CPUs (default: $LMC_BUILD_NATIVE=1)"),
                     cl::sub(build_cmd));

bool WriteText(const std::string& path, const std::string& text) {
  std::string error;
  if (!lmc::WriteFileAtomically(path, text, 0644, error)) {
    llvm::errs() << "lmc: error: " << error << "\n";
    return false;
  }
  return true;
}

lmc::PipelineOptions Options() {
  lmc::PipelineOptions options;
  options.spec_path = spec_path;
  options.overrides.assign(overrides.begin(), overrides.end());
  if (print_after_all) options.print_after_all = &llvm::errs();
  options.tensor_parallel = tensor_parallel;
  return options;
}

std::string DisplayPath() {
  return as_path.empty() ? std::string(spec_path) : std::string(as_path);
}

int Check() {
  lmc::Diagnostics diags;
  auto options = Options();
  auto spec = lmc::LoadSpec(options, diags);
  // Lowering refuses what cannot be built yet: check-ok means build-ok.
  std::optional<lmc::ir::Graph> graph;
  if (spec) graph = lmc::CompileToIr(*spec, options, diags);
  if (!graph) {
    llvm::errs() << spec_path << ": " << diags.error_count() << " error"
                 << (diags.error_count() == 1 ? "" : "s") << "\n";
    return 1;
  }
  if (!check_weights.empty()) {
    std::vector<std::string> files(check_weights.begin(), check_weights.end());
    files.insert(files.end(), check_more.begin(), check_more.end());
    return lmc::CheckWeights(*spec, *graph, files, check_scan, llvm::outs(), llvm::errs());
  }
  llvm::outs() << spec_path << ": ok (" << spec->name << ")\n";
  return 0;
}

int Emit() {
  lmc::Diagnostics diags;
  auto options = Options();
  auto graph = lmc::LoadModule(options, diags);  // A spec, or a .ir file.
  if (!graph) return 1;
  if (emit_ir) llvm::outs() << lmc::ir::Print(*graph);
  if (emit_dir.empty()) return 0;
  if (llvm::sys::fs::exists(emit_dir) && !llvm::sys::fs::is_directory(emit_dir)) {
    llvm::errs() << "lmc: error: -o " << emit_dir << " exists and is not a directory\n";
    return 1;
  }
  auto files = lmc::EmitCpp(*graph, DisplayPath());
  if (auto ec = llvm::sys::fs::create_directories(emit_dir)) {
    llvm::errs() << "lmc: error: cannot create " << emit_dir << ": " << ec.message() << "\n";
    return 1;
  }
  std::string base = emit_dir + "/" + files.stem;
  bool ok = WriteText(base + ".h", files.header) && WriteText(base + ".cpp", files.source) &&
            WriteText(base + ".ir", files.ir);
  return ok ? 0 : 1;
}

// The IR after all passes, or nullopt after reporting why not.
std::optional<lmc::ir::Graph> CompiledIr() {
  lmc::Diagnostics diags;
  auto options = Options();
  auto spec = lmc::LoadSpec(options, diags);
  if (!spec) return std::nullopt;
  return lmc::CompileToIr(*spec, options, diags);
}

// Works on any valid spec, lowered or not, even one over the limits of a
// model binary (Llama 2 70B as f32): it reads only the spec.
int Inspect() {
  lmc::Diagnostics diags;
  auto tree = lmc::LoadSpecTree(spec_path, {overrides.begin(), overrides.end()}, diags);
  std::optional<lmc::Spec> spec;
  if (tree) spec = lmc::ParseSpec(*tree, diags);
  if (!spec || !lmc::ValidateSpec(*spec, diags, /*resources=*/false)) {
    llvm::errs() << spec_path << ": " << diags.error_count() << " error"
                 << (diags.error_count() == 1 ? "" : "s") << "\n";
    return 1;
  }
  lmc::PrintInspection(*spec, spec_path, inspect_json, llvm::outs());
  return 0;
}

int Run() {
  auto graph = CompiledIr();
  return graph ? lmc::RunReference(*graph, run_weights, run_tokens, run_out, run_encoder_tokens,
                                   run_encoder_out, run_hidden_out)
               : 1;
}

int Random() {
  auto graph = CompiledIr();
  return graph ? lmc::RandomWeights(*graph, random_out, random_seed) : 1;
}

int Quantize() {
  if (quantize_spec.empty())
    return lmc::Quantize(quantize_in, quantize_out, quantize_dtype, nullptr);
  lmc::Diagnostics diags;
  lmc::PipelineOptions options;
  options.spec_path = quantize_spec;
  options.overrides.assign(overrides.begin(), overrides.end());
  // Lowered with the target dtype, the IR marks exactly the weights read quantized.
  if (quantize_dtype == "q8_0" || quantize_dtype == "q4_0") {
    options.overrides.push_back("dtype=" + quantize_dtype);
  }
  auto spec = lmc::LoadSpec(options, diags);
  if (!spec) return 1;
  auto graph = lmc::CompileToIr(*spec, options, diags);
  return graph ? lmc::Quantize(quantize_in, quantize_out, quantize_dtype, &*graph) : 1;
}

// IR in, IR out: parse, verify, run the named passes (verifying after each), print.
int Opt() {
  auto buffer = llvm::MemoryBuffer::getFile(opt_input);
  if (!buffer) {
    llvm::errs() << "lmc: error: cannot read " << opt_input << ": " << buffer.getError().message()
                 << "\n";
    return 1;
  }
  std::string error;
  auto graph = lmc::ir::Parse((*buffer)->getBuffer(), &error);
  if (!graph) {
    llvm::errs() << opt_input << ":" << error << "\n";
    return 1;
  }
  auto report = [&](const char* after) {
    auto problems = lmc::ir::Verify(*graph);
    for (const auto& p : problems)
      llvm::errs() << opt_input << ": invalid IR" << after << ": " << p << "\n";
    return problems.empty();
  };
  if (!report("")) return 1;
  for (const std::string& name : opt_passes) {
    if (llvm::StringRef(name).startswith("tensor-parallel=")) {  // tensor-parallel=N
      int ranks = 0;
      if (llvm::StringRef(name).drop_front(16).getAsInteger(10, ranks)) ranks = -1;
      if (std::string bad = lmc::passes::ShardTensorParallel(*graph, ranks); !bad.empty()) {
        llvm::errs() << "lmc: error: " << bad << "\n";
        return 1;
      }
      if (!report((" after " + name).c_str())) return 3;
      continue;
    }
    const lmc::passes::Pass* pass = nullptr;
    for (const auto& p : lmc::passes::kPipeline) {
      if (name == p.name) pass = &p;
    }
    if (!pass) {
      llvm::errs() << "lmc: error: unknown pass '" << name << "'\n";
      return 2;
    }
    pass->run(*graph);
    if (!report((" after " + name).c_str())) return 3;
  }
  llvm::outs() << lmc::ir::Print(*graph);
  return 0;
}

// A path in a Makefile rule: spaces, '#' and '$' escaped as make and ninja read them.
std::string MakePath(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == ' ' || c == '#') out += '\\';
    if (c == '$') out += '$';
    out += c;
  }
  return out;
}

// "OUTPUT: FILE...": every file the spec's buffers came from (not --set overrides) and the
// chat template, so a build system rebuilds when a base spec changes.
bool WriteDepfile(lmc::Diagnostics& diags, const lmc::GeneratedFiles& files) {
  std::vector<std::string> inputs;
  auto add = [&](const std::string& name) {
    llvm::SmallString<256> path(name);
    if (name.empty() || !llvm::sys::fs::is_regular_file(path)) return;
    llvm::sys::fs::make_absolute(path);
    if (std::find(inputs.begin(), inputs.end(), path.str()) == inputs.end()) {
      inputs.push_back(path.str().str());
    }
  };
  for (unsigned buffer = 1; buffer <= diags.sources().getNumBuffers(); ++buffer) {
    add(diags.BufferName(buffer));
  }
  add(files.chat_template_path);
  llvm::SmallString<256> output(build_output.getValue());
  llvm::sys::fs::make_absolute(output);
  std::string rule = MakePath(output.str().str());
  rule += ':';
  for (const auto& input : inputs) {
    rule += ' ';
    rule += MakePath(input);
  }
  rule += '\n';
  return WriteText(depfile, rule);
}

int Build() {
  lmc::Diagnostics diags;
  auto options = Options();
  options.display_path = DisplayPath();
  auto files = lmc::CompileToCpp(options, diags);
  if (!files) return 1;
  lmc::BuildOptions build;
  build.output = build_output;
  build.cxx = cxx;
  build.cache_dir = cache_dir;
  build.use_cache = !no_cache;
  const char* native_env = std::getenv("LMC_BUILD_NATIVE");
  build.native = native || (native_env && std::string_view(native_env) == "1");
  build.library = library;
  if (!depfile.empty() && build_output.empty()) {
    llvm::errs() << "lmc: error: --depfile needs -o\n";
    return 2;
  }
  std::optional<lmc::GeneratedFiles> draft;
  if (!draft_spec.empty()) {
    if (library) {
      llvm::errs() << "lmc: error: --draft links a draft model into a binary, not --library\n";
      return 2;
    }
    lmc::PipelineOptions draft_options;
    draft_options.spec_path = draft_spec;
    lmc::Diagnostics draft_diags;
    draft = lmc::CompileToCpp(draft_options, draft_diags);
    if (!draft) return 1;
    if (draft->stem == files->stem) {
      llvm::errs() << "lmc: error: --draft " << draft_spec << ": the draft model is named '"
                   << draft->stem << "' as the model is; give one of them another name\n";
      return 1;
    }
  }
  if (!lmc::BuildBinary(*files, DisplayPath(), build, llvm::errs(), draft ? &*draft : nullptr)) {
    return 1;
  }
  return depfile.empty() || WriteDepfile(diags, *files) ? 0 : 1;
}

// LLVM's command-line errors take several lines; a user gets one.
int UsageError(const std::string& text) {
  llvm::SmallVector<llvm::StringRef, 4> lines;
  llvm::StringRef(text).split(lines, '\n', -1, false);
  std::string joined;
  for (auto line : lines) {
    line = line.trim();
    line.consume_front("lmc: ");
    line.consume_front("error: ");
    if (line.empty()) continue;
    if (!joined.empty()) joined += "; ";
    joined += line.str();
  }
  if (joined.empty()) joined = "invalid command line (see lmc --help)";
  llvm::errs() << "lmc: error: " << joined << "\n";
  return 2;
}

// Output that could not be written is an error, not a silent truncation
// (and not LLVM's "IO failure" abort when stdout is closed at exit).
int Finish(int status) {
  llvm::outs().flush();
  if (llvm::outs().has_error()) {
    llvm::errs() << "lmc: error: cannot write to standard output: "
                 << llvm::outs().error().message() << "\n";
    llvm::outs().clear_error();
    return 1;
  }
  return status;
}

bool HasControlBytes(const std::string& text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  lmc::rt::ProtectInputs();  // No command writes over a file it reads (the spec, weights, ...).
  lmc::rt::EnableMappingGuards();  // A weights file truncated under us: one line, not SIGBUS.
  std::string_view command = argc > 1 ? argv[1] : "";
  if (command == "tokenize") return lmc::RunTokenize(argc - 1, argv + 1);
  if (command == "detokenize") return lmc::RunDetokenize(argc - 1, argv + 1);
  if (command == "chat-template") return lmc::RunChatTemplate(argc - 1, argv + 1);
  cl::SetVersionPrinter(
      [](llvm::raw_ostream& out) { out << "lmc " << lmc::toolchain::kVersion << "\n"; });
  std::string errors;
  llvm::raw_string_ostream error_stream(errors);
  if (!cl::ParseCommandLineOptions(argc, argv, "lmc: transformer spec -> specialized binary\n",
                                   &error_stream)) {
    error_stream.flush();
    return UsageError(errors);
  }
  for (const cl::Option* option : std::initializer_list<const cl::Option*>{
           &emit_dir, &as_path, &build_output, &cxx, &cache_dir, &import_output, &import_name}) {
    if (option->getNumOccurrences() > 1) {
      std::string flag = option->ArgStr.size() > 1 ? "--" : "-";
      flag.append(option->ArgStr.data(), option->ArgStr.size());
      flag += " given more than once";
      return UsageError(flag);
    }
  }
  if (HasControlBytes(as_path)) {
    return UsageError("--spec-name must not contain control characters");
  }
  try {
    if (check_cmd) {
      if (check_weights.empty() && !check_more.empty())
        return UsageError("check takes one spec; checkpoints to verify go after --weights");
      if (check_weights.empty() && check_scan) return UsageError("--scan needs --weights FILE");
      return Finish(Check());
    }
    if (emit_cmd) {
      if (emit_dir.empty() && !emit_ir) {
        return UsageError("emit needs -o DIR (write the generated files) or --ir (print the IR)");
      }
      return Finish(Emit());
    }
    if (build_cmd) {
      if (build_output.empty())
        return UsageError("build needs -o BINARY (where to write the model; --library: LIB.a)");
      return Finish(Build());
    }
    if (run_cmd) return Finish(Run());
    if (random_cmd) return Finish(Random());
    if (quantize_cmd) return Finish(Quantize());
    if (opt_cmd) return Finish(Opt());
    if (inspect_cmd) return Finish(Inspect());
    if (import_cmd) {
      if (import_output.empty())
        return UsageError("import needs -o SPEC (where to write the spec)");
      return Finish(
          lmc::RunImport(import_dir, import_output, import_name, llvm::outs(), llvm::errs()));
    }
  } catch (const std::exception& e) {  // A compiler bug, never the user's input.
    std::string what = e.what();
    if (what.rfind("internal error: ", 0) == 0) what = what.substr(16);
    llvm::errs() << "lmc: internal error: " << what << "\n";
    return 3;
  }
  return UsageError(
      "expected a command: check, emit, build, inspect, import, run, random-weights, quantize or "
      "opt (see "
      "lmc --help)");
}
