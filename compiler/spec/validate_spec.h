// Rules that tie keys together (n_heads divisible by n_kv_heads, RoPE needs
// an even head_dim, ...). Each violation is reported at the key to change.
#pragma once

#include "compiler/spec/spec.h"

namespace lmc {

// Resource limits `lmc check` holds a spec to, so that what it accepts builds
// and runs on one machine.
inline constexpr double kMaxTensorElements = 2147483647.0;        // 32-bit index math in kernels.
inline constexpr double kMaxWeightBytes = 1024.0 * (1ull << 30);  // All weights as f32.
inline constexpr double kMaxActivationBytes = 256.0 * (1ull << 20);  // One token's activations.
inline constexpr double kMaxKvCacheBytes = 32.0 * (1ull << 30);      // At the default context.
// The context a model binary allocates its KV cache for unless told
// otherwise (--ctx): min(sizes.max_seq_len, kDefaultContext).
inline constexpr int64_t kDefaultContext = 4096;

// Returns false if any rule is broken. `resources`: also the limits above
// (what a model binary can hold); `lmc inspect` describes specs beyond them.
bool ValidateSpec(const Spec& spec, Diagnostics& diags, bool resources = true);

}  // namespace lmc
