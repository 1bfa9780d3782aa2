// libFuzzer: spec text -> load (YAML, limits) -> parse -> validate -> lower
// -> passes -> emit, all in memory. Any input must end in diagnostics or C++
// text; a crash, hang, leak or sanitizer report is a bug.
#include <llvm/Support/raw_ostream.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "compiler/pipeline.h"
#include "compiler/spec/parse_spec.h"
#include "compiler/spec/spec_tree.h"
#include "compiler/spec/validate_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  lmc::Diagnostics diags(llvm::nulls());
  auto tree = lmc::LoadSpecTreeFromText(text, "fuzz.yaml", {}, diags);
  if (!tree) return 0;
  auto spec = lmc::ParseSpec(*tree, diags);
  if (!spec || !lmc::ValidateSpec(*spec, diags)) return 0;
  lmc::PipelineOptions options;
  options.spec_path = "fuzz.yaml";
  auto graph = lmc::CompileToIr(*spec, options, diags);
  if (!graph) return 0;
  auto files = lmc::EmitCpp(*graph, "fuzz.yaml");
  return files.source.empty() ? 0 : 0;
}
