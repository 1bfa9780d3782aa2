// The compiler's stages in order: load the spec tree (extends, --set), parse
// and validate it, lower to IR, run the passes with verification after each,
// emit C++. Each stage reports to one Diagnostics.
#pragma once

#include <llvm/Support/raw_ostream.h>

#include <optional>
#include <string>
#include <vector>

#include "compiler/emit/emit_cpp.h"
#include "compiler/ir/ir.h"
#include "compiler/spec/spec.h"

namespace lmc {

struct PipelineOptions {
  std::string spec_path;
  std::vector<std::string> overrides;  // --set path=value
  std::string display_path;            // How generated banners name the spec; empty: spec_path.
  llvm::raw_ostream* print_after_all = nullptr;  // IR after lowering and each pass.
  int tensor_parallel = 1;  // > 1: shard for that many ranks (passes::ShardTensorParallel).
};

// Load, parse and validate; nullopt after reporting every problem.
std::optional<Spec> LoadSpec(const PipelineOptions& options, Diagnostics& diags);

// LoadSpec, then lower and run the passes. An IR that fails verification is a
// compiler bug: reported as an internal error.
std::optional<ir::Graph> CompileToIr(const Spec& spec, const PipelineOptions& options,
                                     Diagnostics& diags);

// Whether `path` names a module's IR text (FILE.ir) rather than a spec.
bool IsIrFile(const std::string& path);

// The module to emit: the spec compiled (LoadSpec, CompileToIr), or the module
// a .ir file holds (as `lmc emit --ir` prints it), parsed and verified, and run
// through the passes when its buffers are not planned yet.
std::optional<ir::Graph> LoadModule(const PipelineOptions& options, Diagnostics& diags);

// The whole pipeline to C++ source text, from a spec or a .ir file.
std::optional<GeneratedFiles> CompileToCpp(const PipelineOptions& options, Diagnostics& diags);

}  // namespace lmc
