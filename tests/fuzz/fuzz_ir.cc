// libFuzzer: bytes as IR text (as `lmc emit --ir` prints it). Parse, then
// Verify what parsed; a graph that verifies is printed, parsed again and must
// print the same (the printer and parser agree on everything they accept).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "compiler/ir/ir.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto graph = lmc::ir::Parse(text, &error);
  if (!graph) {
    if (error.empty()) __builtin_trap();  // a failure must say why
    return 0;
  }
  if (!lmc::ir::Verify(*graph).empty()) return 0;
  const std::string printed = lmc::ir::Print(*graph);
  std::string again_error;
  auto again = lmc::ir::Parse(printed, &again_error);
  if (!again || lmc::ir::Print(*again) != printed) __builtin_trap();
  return 0;
}
