#include "runtime/weights/weight_names.h"

#include "runtime/util/error.h"

namespace lmc::rt {

const std::map<std::string, std::string>& DefaultTensorNames(std::string_view format) {
  static const std::map<std::string, std::string> llama2c = {
      {"token_embedding", "tok_embeddings.weight"},
      {"attn_norm", "layers.{layer}.attention_norm.weight"},
      {"wq", "layers.{layer}.attention.wq.weight"},
      {"wk", "layers.{layer}.attention.wk.weight"},
      {"wv", "layers.{layer}.attention.wv.weight"},
      {"wo", "layers.{layer}.attention.wo.weight"},
      {"ffn_norm", "layers.{layer}.ffn_norm.weight"},
      {"w_gate", "layers.{layer}.feed_forward.w1.weight"},
      {"w_down", "layers.{layer}.feed_forward.w2.weight"},
      {"w_up", "layers.{layer}.feed_forward.w3.weight"},
      {"final_norm", "norm.weight"},
      {"classifier", "output.weight"},
  };
  static const std::map<std::string, std::string> huggingface = {
      {"token_embedding", "model.embed_tokens.weight"},
      {"attn_norm", "model.layers.{layer}.input_layernorm.weight"},
      {"wq", "model.layers.{layer}.self_attn.q_proj.weight"},
      {"wk", "model.layers.{layer}.self_attn.k_proj.weight"},
      {"wv", "model.layers.{layer}.self_attn.v_proj.weight"},
      {"wo", "model.layers.{layer}.self_attn.o_proj.weight"},
      {"ffn_norm", "model.layers.{layer}.post_attention_layernorm.weight"},
      {"w_gate", "model.layers.{layer}.mlp.gate_proj.weight"},
      {"w_up", "model.layers.{layer}.mlp.up_proj.weight"},
      {"w_down", "model.layers.{layer}.mlp.down_proj.weight"},
      {"final_norm", "model.norm.weight"},
      {"classifier", "lm_head.weight"},
  };
  if (format == "llama2c") return llama2c;
  if (format == "safetensors") return huggingface;
  Fail("unknown weights format '{}': expected llama2c or safetensors", format);
}

std::string TensorName(std::string_view name_template, int64_t layer) {
  constexpr std::string_view kPlaceholder = "{layer}";
  const std::string number = std::to_string(layer);
  std::string out;
  size_t at = 0;
  for (size_t hit; (hit = name_template.find(kPlaceholder, at)) != std::string_view::npos;
       at = hit + kPlaceholder.size()) {
    out.append(name_template.substr(at, hit - at));
    out += number;
  }
  out.append(name_template.substr(at));
  return out;
}

}  // namespace lmc::rt
