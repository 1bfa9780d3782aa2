// The tensor names each checkpoint format uses for lmc's weight roles, in one
// place: the compiler resolves a spec's weights.names against them, and the
// llama2.c loader names its fixed layout with them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace lmc::rt {

// Weight role (token_embedding, attn_norm, wq, wk, wv, wo, ffn_norm, w_gate,
// w_up, w_down, final_norm, classifier) -> tensor-name template; per-layer
// templates carry a {layer} placeholder. Formats: "llama2c" (Meta's Llama
// names, as llama2.c's export.py writes them) and "safetensors" (Hugging Face
// LlamaForCausalLM names). Throws Error for any other format.
const std::map<std::string, std::string>& DefaultTensorNames(std::string_view format);

// `name_template` with every {layer} replaced by `layer`.
std::string TensorName(std::string_view name_template, int64_t layer);

}  // namespace lmc::rt
