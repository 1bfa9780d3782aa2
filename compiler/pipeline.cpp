#include "compiler/pipeline.h"

#include <llvm/ADT/SmallString.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Path.h>

#include "compiler/lower/lower.h"
#include "compiler/passes/passes.h"
#include "compiler/spec/parse_spec.h"
#include "compiler/spec/spec_tree.h"
#include "compiler/spec/validate_spec.h"

namespace lmc {

namespace {

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

// tokenizer.file is relative to the spec file that names it (a --set value, to
// the working directory); the binary gets it absolute, so it runs from anywhere.
std::string AbsoluteTokenizerFile(const Spec& spec, const Diagnostics& diags) {
  if (spec.tokenizer.file.empty()) return "";
  llvm::SmallString<256> path(spec.tokenizer.file);
  if (!llvm::sys::path::is_absolute(path)) {
    Location where = spec.Where("tokenizer.file");
    std::string named_in = where.valid() ? diags.BufferName(where.buffer) : "<--set>";
    llvm::SmallString<256> base;
    if (named_in != "<--set>") base = llvm::sys::path::parent_path(named_in);
    llvm::sys::path::append(base, spec.tokenizer.file);
    path = base;
    llvm::sys::fs::make_absolute(path);
  }
  llvm::sys::path::remove_dots(path, /*remove_dot_dot=*/true);
  return path.str().str();
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
  for (const auto& pass : passes::kPipeline) {
    pass.run(*graph);
    if (!VerifyAfter(*graph, pass.name, options, diags)) return std::nullopt;
  }
  return graph;
}

EmitOptions SpecEmitOptions(const Spec& spec) {
  return EmitOptions{.cls = spec.tokenizer.cls, .sep = spec.tokenizer.sep};
}

std::optional<GeneratedFiles> CompileToCpp(const PipelineOptions& options, Diagnostics& diags) {
  auto spec = LoadSpec(options, diags);
  if (!spec) return std::nullopt;
  auto graph = CompileToIr(*spec, options, diags);
  if (!graph) return std::nullopt;
  GeneratedFiles files =
      EmitCpp(*graph, options.display_path.empty() ? options.spec_path : options.display_path,
              SpecEmitOptions(*spec));
  files.tokenizer_file = AbsoluteTokenizerFile(*spec, diags);
  return files;
}

}  // namespace lmc
