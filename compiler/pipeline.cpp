#include "compiler/pipeline.h"

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

std::optional<GeneratedFiles> CompileToCpp(const PipelineOptions& options, Diagnostics& diags) {
  auto spec = LoadSpec(options, diags);
  if (!spec) return std::nullopt;
  auto graph = CompileToIr(*spec, options, diags);
  if (!graph) return std::nullopt;
  return EmitCpp(*graph,
                 options.display_path.empty() ? options.spec_path : options.display_path);
}

}  // namespace lmc
