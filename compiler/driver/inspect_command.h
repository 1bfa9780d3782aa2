// `lmc inspect SPEC [--json]`: what a spec costs, from the spec alone (no
// lowering, so it works for every family the spec expresses): parameters per
// component, weight bytes per dtype, FLOPs per token for prefill and decode,
// KV-cache bytes per token and at the context limit.
#pragma once

#include <llvm/Support/raw_ostream.h>

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/spec/spec.h"

namespace lmc {

// Parameters of one component, counted analytically from the spec. Each
// function counts one instance (one layer's attention, one norm); the
// totals below say how many instances a family has.
int64_t TokenEmbeddingParams(const Spec& spec);  // vocab x dim (+ dim x d_model projection)
int64_t TokenTypeParams(const Spec& spec);       // token_types x dim (BERT)
// One stack's position table (learned), relative bias (T5: in its first layer,
// shared) or CoPE embeddings (per layer); 0 for the others.
int64_t PositionParams(const Spec& spec, int64_t stack_layers);
int64_t AttentionParams(const Spec& spec);    // Q, K, V, O with GQA and biases
int64_t NormParams(const Spec& spec);         // Scale, + bias for LayerNorm with bias
int64_t FeedForwardParams(const Spec& spec);  // Gated or not, with biases
int64_t ClassifierParams(const Spec& spec);   // 0 when tied, and for encoders
int64_t PoolerParams(const Spec& spec);       // d x d + d when `pooler`

struct ParameterPart {
  std::string name;  // "token embedding", "encoder blocks", ...
  int64_t count;
  std::string detail;  // How it was counted, for the text report.
};

struct ParameterCount {
  std::vector<ParameterPart> parts;
  int64_t total = 0;
};

ParameterCount CountParameters(const Spec& spec);

// Prints the report for a valid spec (text, or JSON with `parameters` and
// the rest). `path` names the spec in the text report.
void PrintInspection(const Spec& spec, const std::string& path, bool json, llvm::raw_ostream& out);

}  // namespace lmc
