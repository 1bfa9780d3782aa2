// The reference interpreter: runs an IR graph op by op on the scalar reference
// kernels (runtime/kernels/scalar_ops.h), over a whole sequence at once. It
// shares no code with the emitter or the SIMD kernels, which makes it the
// oracle every generated binary is compared with (`lmc run`).
#pragma once

#include <span>
#include <vector>

#include "compiler/ir/ir.h"
#include "runtime/weights/tensor_source.h"

namespace lmc {

// The logits of every token, [tokens.size(), vocab], for `tokens` at positions
// 0, 1, .... An encoder-decoder first encodes `source` (required for it, and
// only for it) and, when `encoder_output` is given, returns the encoder's last
// hidden state there. When `hidden_output` is given and the graph declares a
// hidden output (a decoder's), every token's final hidden state goes there,
// [tokens.size(), d_model]. Throws rt::Error on a missing or misshapen weight or an
// id outside the vocabulary.
std::vector<float> Interpret(const ir::Graph& graph, rt::TensorSource& weights,
                             std::span<const int> tokens, std::span<const int> source = {},
                             std::vector<float>* encoder_output = nullptr,
                             std::vector<float>* hidden_output = nullptr);

// Seeded random weights for every tensor the graph reads, written as
// safetensors under the graph's tensor names: matrices uniform in
// ±1/sqrt(columns), norm weights around 1. The same seed gives the same bytes.
void WriteRandomWeights(const ir::Graph& graph, const std::string& path, uint64_t seed);

}  // namespace lmc
