// Rules that tie keys together (n_heads divisible by n_kv_heads, RoPE needs
// an even head_dim, ...). Each violation is reported at the key to change.
#pragma once

#include "compiler/spec/spec.h"

namespace lmc {

// Returns false if any rule is broken.
bool ValidateSpec(const Spec& spec, Diagnostics& diags);

}  // namespace lmc
