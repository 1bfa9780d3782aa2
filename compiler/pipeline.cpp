#include "compiler/pipeline.h"

#include <fmt/format.h>
#include <llvm/ADT/SmallString.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Path.h>

#include "compiler/lower/lower.h"
#include "compiler/passes/passes.h"
#include "compiler/spec/chat_template_field.h"
#include "compiler/spec/parse_spec.h"
#include "compiler/spec/spec_tree.h"
#include "compiler/spec/validate_spec.h"
#include "compiler/support/file_io.h"

namespace lmc {

namespace {

// A module's text: a few KiB, plus its spec; far below this.
constexpr size_t kMaxIrBytes = 16 << 20;

bool VerifyAfter(const ir::Graph& graph, const char* stage, const PipelineOptions& options,
                 Diagnostics& diags) {
  if (options.print_after_all) {
    *options.print_after_all << "// ----- IR after " << stage << " -----\n" << ir::Print(graph);
  }
  auto problems = ir::Verify(graph);
  for (const auto& problem : problems) {
    diags.Error(Location{},
                std::string("internal error: IR invalid after ") + stage + ": " + problem);
  }
  return problems.empty();
}

// The passes in order; with tensor parallelism, the sharding before buffers are planned.
bool RunPasses(ir::Graph& graph, const PipelineOptions& options, Diagnostics& diags) {
  for (const auto& pass : passes::kPipeline) {
    if (options.tensor_parallel != 1 && std::string_view(pass.name) == "plan-buffers") {
      if (std::string error = passes::ShardTensorParallel(graph, options.tensor_parallel);
          !error.empty()) {
        diags.Error(Location{}, error);
        return false;
      }
      if (!VerifyAfter(graph, "tensor-parallel", options, diags)) return false;
    }
    pass.run(graph);
    if (!VerifyAfter(graph, pass.name, options, diags)) return false;
  }
  return true;
}

// `file` made absolute, from `base` (a directory; empty: the working one) when
// relative. The binary gets its tokenizer file so, to run from anywhere.
std::string AbsolutePath(const std::string& file, const std::string& base) {
  if (file.empty()) return "";
  llvm::SmallString<256> path(file);
  if (!llvm::sys::path::is_absolute(path)) {
    path = base;
    llvm::sys::path::append(path, file);
    llvm::sys::fs::make_absolute(path);
  }
  llvm::sys::path::remove_dots(path, /*remove_dot_dot=*/true);
  return path.str().str();
}

// tokenizer.file is relative to the spec file that names it (a --set value, to
// the working directory).
std::string AbsoluteTokenizerFile(const Spec& spec, const Diagnostics& diags) {
  Location where = spec.Where("tokenizer.file");
  std::string named_in = where.valid() ? diags.BufferName(where.buffer) : "<--set>";
  return AbsolutePath(spec.tokenizer.file,
                      named_in == "<--set>" ? "" : llvm::sys::path::parent_path(named_in).str());
}

}  // namespace

std::optional<Spec> LoadSpec(const PipelineOptions& options, Diagnostics& diags) {
  auto tree = LoadSpecTree(options.spec_path, options.overrides, diags);
  if (!tree) return std::nullopt;
  auto spec = ParseSpec(*tree, diags);
  if (!spec || !ValidateSpec(*spec, diags)) return std::nullopt;
  return spec;
}

std::optional<ir::Graph> CompileToIr(const Spec& spec, const PipelineOptions& options,
                                     Diagnostics& diags) {
  auto graph = Lower(spec, diags);
  if (!graph || !VerifyAfter(*graph, "lower", options, diags)) return std::nullopt;
  // The spec's parallel.tensor, unless --tensor-parallel says otherwise.
  PipelineOptions passes_options = options;
  if (passes_options.tensor_parallel == 1) {
    passes_options.tensor_parallel = static_cast<int>(spec.parallel.tensor);
  }
  if (!RunPasses(*graph, passes_options, diags)) return std::nullopt;
  return graph;
}

bool IsIrFile(const std::string& path) { return llvm::sys::path::extension(path) == ".ir"; }

std::optional<ir::Graph> LoadModule(const PipelineOptions& options, Diagnostics& diags) {
  if (!IsIrFile(options.spec_path)) {
    auto spec = LoadSpec(options, diags);
    if (!spec) return std::nullopt;
    return CompileToIr(*spec, options, diags);
  }
  const std::string& path = options.spec_path;
  if (!options.overrides.empty()) {
    diags.Error(Location{}, path + ": --set changes a spec; a .ir file is a compiled module");
    return std::nullopt;
  }
  std::string text, error;
  if (!ReadRegularFile(path, kMaxIrBytes, text, error)) {
    diags.Error(Location{}, fmt::format("cannot read {}: {}", path, error));
    return std::nullopt;
  }
  auto graph = ir::Parse(text, &error);
  if (!graph) {
    diags.Error(Location{}, fmt::format("{}:{}", path, error));
    return std::nullopt;
  }
  // Hand-written IR is a user's input: its problems are errors, not compiler bugs.
  auto problems = ir::Verify(*graph);
  for (const auto& problem : problems) diags.Error(Location{}, path + ": invalid IR: " + problem);
  if (!problems.empty()) return std::nullopt;
  if (graph->buffers.empty()) {
    if (!RunPasses(*graph, options, diags)) return std::nullopt;
  } else if (options.tensor_parallel > 1) {
    diags.Error(Location{}, path +
                                ": --tensor-parallel shards a module before its buffers are "
                                "planned; this one has buffers (give the spec instead)");
    return std::nullopt;
  }
  return graph;
}

std::optional<GeneratedFiles> CompileToCpp(const PipelineOptions& options, Diagnostics& diags) {
  std::optional<ir::Graph> graph;
  std::string tokenizer_file;
  CompiledChatTemplate chat;
  if (IsIrFile(options.spec_path)) {
    graph = LoadModule(options, diags);
    // Relative to the .ir file, as a spec's is to the spec.
    if (graph) {
      tokenizer_file = AbsolutePath(graph->info.tokenizer_file,
                                    llvm::sys::path::parent_path(options.spec_path).str());
    }
  } else {
    auto spec = LoadSpec(options, diags);
    if (!spec) return std::nullopt;
    graph = CompileToIr(*spec, options, diags);
    tokenizer_file = AbsoluteTokenizerFile(*spec, diags);
    if (graph && !spec->tokenizer.chat_template.empty() &&
        !CompileChatTemplateField(*spec, diags, chat))
      return std::nullopt;
  }
  if (!graph) return std::nullopt;
  GeneratedFiles files =
      EmitCpp(*graph, options.display_path.empty() ? options.spec_path : options.display_path);
  files.tokenizer_file = tokenizer_file;
  files.chat_template_cpp = chat.cpp;
  files.chat_template_path = chat.path;
  files.chat_bos = chat.bos_token;
  files.chat_eos = chat.eos_token;
  files.chat_has_bos = chat.has_bos;
  files.chat_has_eos = chat.has_eos;
  return files;
}

}  // namespace lmc
