// Spec tree -> Spec: gives each key its meaning and checks it on its own
// (known key, type, range, required), reporting every problem with its place.
// Rules across keys are checked after, in validate_spec.h.
#pragma once

#include <optional>

#include "compiler/spec/spec.h"
#include "compiler/spec/spec_tree.h"

namespace lmc {

// Returns nullopt if any error was reported.
std::optional<Spec> ParseSpec(const SpecNode& root, Diagnostics& diags);

}  // namespace lmc
