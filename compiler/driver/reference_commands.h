// `lmc run` and `lmc random-weights`: the reference interpreter and the
// random checkpoints that the differential tests feed to it and to binaries.
#pragma once

#include <cstdint>
#include <string>

#include "compiler/ir/ir.h"
#include "runtime/weights/checkpoint.h"

namespace lmc {

// Interprets `graph` on the checkpoint for the comma-separated `tokens` and
// writes the logits of every token to `out` (.npy, f32 [tokens, vocab]); with
// `hidden_out`, a decoder's final hidden states too ([tokens, d_model]).
// Returns the exit code; errors go to stderr as one line.
int RunReference(const ir::Graph& graph, const std::string& weights, const std::string& tokens,
                 const std::string& out, const std::string& encoder_tokens,
                 const std::string& encoder_out, const std::string& hidden_out = "");

// The sizes `graph` was compiled for: what a checkpoint with a config header
// (llama2.c) is checked against.
rt::ModelDims CheckpointDims(const ir::Graph& graph);

int RandomWeights(const ir::Graph& graph, const std::string& out, uint64_t seed);

}  // namespace lmc
