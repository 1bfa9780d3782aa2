// `lmc quantize IN -o OUT.gguf --dtype T [--spec SPEC]`: rewrites a checkpoint
// as GGUF with its weight matrices stored in dtype T, so a model built with
// weights.format gguf and dtype T maps them as they lie (no conversion at load).
#pragma once

#include <string>

#include "compiler/ir/ir.h"

namespace lmc {

// Reads `in` (safetensors; with `graph`, the format its spec names, so also
// llama2.c) and writes `out` (GGUF v3), keeping every tensor's name and shape.
// Which tensors take `dtype` (f32, f16, bf16, q8_0, q4_0): for f16 and bf16
// every matrix; for q8_0 and q4_0 the matrices a model of that dtype reads
// quantized (with `graph`: exactly those its IR marks, `graph` having been
// lowered with that dtype; without: every 2-D tensor whose rows are a
// multiple of 32 values, except token embeddings, which lmc gathers in f32).
// Everything else (norms, biases, embeddings) is stored f32. Refuses `out` ==
// `in`; writes atomically. Returns the exit code; errors as one line on stderr.
int Quantize(const std::string& in, const std::string& out, const std::string& dtype,
             const ir::Graph* graph);

}  // namespace lmc
