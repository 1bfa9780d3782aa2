// The tensor names and storage layouts each checkpoint layout uses for lmc's
// weight roles, in one place: the compiler resolves a spec's weights against
// them, and the llama2.c loader names its fixed layout with them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace lmc::rt {

// Where one weight role lives in a checkpoint and how to turn the stored
// tensor into lmc's layout ([out, in] for linear weights):
//   1. `transposed`: the file stores it [in, out] (GPT-2's Conv1D);
//   2. `parts` > 1: it is one part of a tensor fused along its first axis
//      (after the transpose). `per_head`: the fusion interleaves heads, rows
//      [heads][parts][head_dim] (BLOOM's query_key_value); otherwise parts are
//      consecutive blocks (GPT-2's c_attn: q, then k, then v).
struct StoredTensor {
  std::string name;  // With {layer} for per-layer roles.
  bool transposed = false;
  int parts = 1;
  int part = 0;
  bool per_head = false;
};

// Layouts: "llama2c" (Meta's Llama names, as llama2.c's export.py writes them),
// "gguf" (llama.cpp's names for its llama architecture),
// "llama" (Hugging Face LlamaForCausalLM, Mistral, Qwen2), "gpt2"
// (GPT2LMHeadModel), "openai_gpt" (OpenAIGPTLMHeadModel), "bloom"
// (BloomForCausalLM), "t5" (T5ForConditionalGeneration), "torch_transformer"
// (torch.nn.Transformer's state_dict). Throws Error for any other layout.
// A checkpoint may put a module prefix before any of these names (ModulePrefixes).
const std::map<std::string, StoredTensor>& LayoutTensors(std::string_view layout);

// A prefix the layout's checkpoints may carry on every name, or not, depending
// on whether the base model or the LM-head model was saved ("transformer." for
// GPT-2: `h.0.ln_1.weight` and `transformer.h.0.ln_1.weight` are both common;
// for torch.nn.Transformer, whether it was saved alone or as a model's
// `transformer`).
std::string_view LayoutOptionalPrefix(std::string_view layout);

// Module prefixes a checkpoint saved from a wrapping module puts before every
// name ("model." when the model is the attribute `model` of another module):
// each distinct P ending in '.' such that `names` holds P + name or P +
// layout_prefix + name (P then being the part before the layout's prefix),
// sorted. A name is resolved under a detected prefix only when this finds
// exactly one.
std::vector<std::string> ModulePrefixes(std::string_view name, std::string_view layout_prefix,
                                        const std::vector<std::string>& names);

// Role -> plain name template of the layout a format uses by default
// ("llama2c" -> llama2c, "safetensors" -> llama).
const std::map<std::string, std::string>& DefaultTensorNames(std::string_view format);

// `name_template` with every {layer} replaced by `layer`.
std::string TensorName(std::string_view name_template, int64_t layer);

}  // namespace lmc::rt
