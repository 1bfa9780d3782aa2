#include "runtime/weights/weight_names.h"

#include <algorithm>

#include "runtime/util/error.h"

namespace lmc::rt {

namespace {

using Table = std::map<std::string, StoredTensor>;

// Hugging Face's Conv1D (GPT-2, GPT-1) stores [in, out].
StoredTensor Conv1D(std::string name) { return {std::move(name), /*transposed=*/true}; }
StoredTensor Part(std::string name, int part, int parts, bool transposed, bool per_head) {
  return {std::move(name), transposed, parts, part, per_head};
}

const Table& Llama2c() {
  static const Table table = {
      {"token_embedding", {"tok_embeddings.weight"}},
      {"attn_norm", {"layers.{layer}.attention_norm.weight"}},
      {"wq", {"layers.{layer}.attention.wq.weight"}},
      {"wk", {"layers.{layer}.attention.wk.weight"}},
      {"wv", {"layers.{layer}.attention.wv.weight"}},
      {"wo", {"layers.{layer}.attention.wo.weight"}},
      {"ffn_norm", {"layers.{layer}.ffn_norm.weight"}},
      {"w_gate", {"layers.{layer}.feed_forward.w1.weight"}},
      {"w_down", {"layers.{layer}.feed_forward.w2.weight"}},
      {"w_up", {"layers.{layer}.feed_forward.w3.weight"}},
      {"final_norm", {"norm.weight"}},
      {"classifier", {"output.weight"}},
  };
  return table;
}

// llama.cpp's names for its llama architecture (Llama, Mistral, Qwen2 biases).
// Its converter stores q and k in Meta's order, as llama2.c does: rope pairs
// adjacent values (position.rope.style: interleaved).
const Table& GgufLlama() {
  static const Table table = [] {
    Table t = {
        {"token_embedding", {"token_embd.weight"}},
        {"attn_norm", {"blk.{layer}.attn_norm.weight"}},
        {"wo", {"blk.{layer}.attn_output.weight"}},
        {"ffn_norm", {"blk.{layer}.ffn_norm.weight"}},
        {"w_gate", {"blk.{layer}.ffn_gate.weight"}},
        {"w_up", {"blk.{layer}.ffn_up.weight"}},
        {"w_down", {"blk.{layer}.ffn_down.weight"}},
        {"final_norm", {"output_norm.weight"}},
        {"classifier", {"output.weight"}},
    };
    for (const char* p : {"q", "k", "v"}) {
      std::string base = std::string("blk.{layer}.attn_") + p + ".";
      t[std::string("w") + p] = {base + "weight"};
      t[std::string("w") + p + "_bias"] = {base + "bias"};
    }
    return t;
  }();
  return table;
}

const Table& HfLlama() {
  static const Table table = [] {
    Table t = {
        {"token_embedding", {"model.embed_tokens.weight"}},
        {"attn_norm", {"model.layers.{layer}.input_layernorm.weight"}},
        {"ffn_norm", {"model.layers.{layer}.post_attention_layernorm.weight"}},
        {"w_gate", {"model.layers.{layer}.mlp.gate_proj.weight"}},
        {"w_up", {"model.layers.{layer}.mlp.up_proj.weight"}},
        {"w_down", {"model.layers.{layer}.mlp.down_proj.weight"}},
        {"final_norm", {"model.norm.weight"}},
        {"classifier", {"lm_head.weight"}},
    };
    for (const char* p : {"q", "k", "v", "o"}) {
      std::string base = std::string("model.layers.{layer}.self_attn.") + p + "_proj.";
      t[std::string("w") + p] = {base + "weight"};
      t[std::string("w") + p + "_bias"] = {base + "bias"};  // Qwen2
    }
    return t;
  }();
  return table;
}

// GPT-2 and GPT-1 share Conv1D blocks and a fused c_attn [d, 3d] (q, k, v).
void AddGptBlock(Table& t, const std::string& h, const std::string& norm1,
                 const std::string& norm2) {
  const char* qkv[] = {"wq", "wk", "wv"};
  for (int i = 0; i < 3; ++i) {
    t[qkv[i]] = Part(h + "attn.c_attn.weight", i, 3, /*transposed=*/true, false);
    t[std::string(qkv[i]) + "_bias"] = Part(h + "attn.c_attn.bias", i, 3, false, false);
  }
  t["wo"] = Conv1D(h + "attn.c_proj.weight");
  t["wo_bias"] = {h + "attn.c_proj.bias"};
  t["attn_norm"] = {h + norm1 + ".weight"};
  t["attn_norm_bias"] = {h + norm1 + ".bias"};
  t["ffn_norm"] = {h + norm2 + ".weight"};
  t["ffn_norm_bias"] = {h + norm2 + ".bias"};
  t["w_up"] = Conv1D(h + "mlp.c_fc.weight");
  t["w_up_bias"] = {h + "mlp.c_fc.bias"};
  t["w_down"] = Conv1D(h + "mlp.c_proj.weight");
  t["w_down_bias"] = {h + "mlp.c_proj.bias"};
}

const Table& Gpt2() {
  static const Table table = [] {
    Table t = {{"token_embedding", {"wte.weight"}},
               {"position_embedding", {"wpe.weight"}},
               {"final_norm", {"ln_f.weight"}},
               {"final_norm_bias", {"ln_f.bias"}},
               {"classifier", {"lm_head.weight"}}};
    AddGptBlock(t, "h.{layer}.", "ln_1", "ln_2");
    return t;
  }();
  return table;
}

// GPT-1 is post-LN: ln_1 follows attention, ln_2 the feed-forward.
const Table& OpenAiGpt() {
  static const Table table = [] {
    Table t = {{"token_embedding", {"tokens_embed.weight"}},
               {"position_embedding", {"positions_embed.weight"}},
               {"classifier", {"lm_head.weight"}}};
    AddGptBlock(t, "h.{layer}.", "ln_1", "ln_2");
    return t;
  }();
  return table;
}

const Table& Bloom() {
  static const Table table = [] {
    const std::string h = "h.{layer}.";
    Table t = {
        {"token_embedding", {"word_embeddings.weight"}},
        {"embed_norm", {"word_embeddings_layernorm.weight"}},
        {"embed_norm_bias", {"word_embeddings_layernorm.bias"}},
        {"attn_norm", {h + "input_layernorm.weight"}},
        {"attn_norm_bias", {h + "input_layernorm.bias"}},
        {"wo", {h + "self_attention.dense.weight"}},
        {"wo_bias", {h + "self_attention.dense.bias"}},
        {"ffn_norm", {h + "post_attention_layernorm.weight"}},
        {"ffn_norm_bias", {h + "post_attention_layernorm.bias"}},
        {"w_up", {h + "mlp.dense_h_to_4h.weight"}},
        {"w_up_bias", {h + "mlp.dense_h_to_4h.bias"}},
        {"w_down", {h + "mlp.dense_4h_to_h.weight"}},
        {"w_down_bias", {h + "mlp.dense_4h_to_h.bias"}},
        {"final_norm", {"ln_f.weight"}},
        {"final_norm_bias", {"ln_f.bias"}},
        {"classifier", {"lm_head.weight"}},
    };
    const char* qkv[] = {"wq", "wk", "wv"};
    for (int i = 0; i < 3; ++i) {
      t[qkv[i]] = Part(h + "self_attention.query_key_value.weight", i, 3, false, true);
      t[std::string(qkv[i]) + "_bias"] =
          Part(h + "self_attention.query_key_value.bias", i, 3, false, true);
    }
    return t;
  }();
  return table;
}

// T5ForConditionalGeneration: one stack of blocks each for the encoder (roles
// enc_*) and the decoder, sub-layers numbered within a block; the relative
// position table lives in block 0 of each stack. A gated feed-forward (wi_0,
// wi_1) names its weights in the spec.
const Table& T5() {
  static const Table table = [] {
    Table t = {{"token_embedding", {"shared.weight"}},
               {"classifier", {"lm_head.weight"}},
               {"enc_final_norm", {"encoder.final_layer_norm.weight"}},
               {"final_norm", {"decoder.final_layer_norm.weight"}}};
    auto attention = [&](const std::string& prefix, const std::string& at) {
      for (const char* p : {"q", "k", "v", "o"}) {
        t[prefix + "w" + p] = {at + p + ".weight"};
      }
    };
    for (const auto& [prefix, stack] :
         {std::pair<std::string, std::string>{"enc_", "encoder"}, {"", "decoder"}}) {
      const std::string block = stack + ".block.{layer}.layer.";
      t[prefix + "relative_bias"] = {
          stack + ".block.0.layer.0.SelfAttention.relative_attention_bias.weight"};
      t[prefix + "attn_norm"] = {block + "0.layer_norm.weight"};
      attention(prefix, block + "0.SelfAttention.");
      const std::string ffn = block + (prefix.empty() ? "2." : "1.");
      t[prefix + "ffn_norm"] = {ffn + "layer_norm.weight"};
      t[prefix + "w_up"] = {ffn + "DenseReluDense.wi.weight"};
      t[prefix + "w_down"] = {ffn + "DenseReluDense.wo.weight"};
    }
    t["cross_norm"] = {"decoder.block.{layer}.layer.1.layer_norm.weight"};
    attention("cross_", "decoder.block.{layer}.layer.1.EncDecAttention.");
    return t;
  }();
  return table;
}

// torch.nn.Transformer's state_dict (alone, or as a model's `transformer`:
// LayoutOptionalPrefix), with one shared embedding beside it: attention
// projections fused as in_proj (q | k | v rows), post-LN norms numbered in
// order (norm1 after self-attention, then norm2, norm3).
const Table& TorchTransformer() {
  static const Table table = [] {
    Table t = {{"token_embedding", {"shared.weight"}}, {"classifier", {"lm_head.weight"}}};
    auto with_bias = [&](const std::string& role, const std::string& name) {
      t[role] = {name + ".weight"};
      t[role + "_bias"] = {name + ".bias"};
    };
    auto attention = [&](const std::string& prefix, const std::string& at) {
      const char* qkv[] = {"wq", "wk", "wv"};
      for (int i = 0; i < 3; ++i) {
        t[prefix + qkv[i]] = Part(at + "in_proj_weight", i, 3, false, false);
        t[prefix + qkv[i] + "_bias"] = Part(at + "in_proj_bias", i, 3, false, false);
      }
      with_bias(prefix + "wo", at + "out_proj");
    };
    for (const auto& [prefix, stack] :
         {std::pair<std::string, std::string>{"enc_", "encoder"}, {"", "decoder"}}) {
      const std::string layer = stack + ".layers.{layer}.";
      attention(prefix, layer + "self_attn.");
      with_bias(prefix + "attn_norm", layer + "norm1");
      with_bias(prefix + "ffn_norm", layer + (prefix.empty() ? "norm3" : "norm2"));
      with_bias(prefix + "w_up", layer + "linear1");
      with_bias(prefix + "w_down", layer + "linear2");
      with_bias(prefix + "final_norm", stack + ".norm");
    }
    attention("cross_", "decoder.layers.{layer}.multihead_attn.");
    with_bias("cross_norm", "decoder.layers.{layer}.norm2");
    return t;
  }();
  return table;
}

std::map<std::string, std::string> PlainNames(const Table& table) {
  std::map<std::string, std::string> names;
  for (const auto& [role, stored] : table) names[role] = stored.name;
  return names;
}

}  // namespace

const std::map<std::string, StoredTensor>& LayoutTensors(std::string_view layout) {
  if (layout == "llama2c") return Llama2c();
  if (layout == "gguf") return GgufLlama();
  if (layout == "llama") return HfLlama();
  if (layout == "gpt2") return Gpt2();
  if (layout == "openai_gpt") return OpenAiGpt();
  if (layout == "bloom") return Bloom();
  if (layout == "t5") return T5();
  if (layout == "torch_transformer") return TorchTransformer();
  Fail(
      "unknown weights layout '{}': expected llama2c, gguf, llama, gpt2, openai_gpt, bloom, t5 "
      "or torch_transformer",
      layout);
}

std::string_view LayoutOptionalPrefix(std::string_view layout) {
  if (layout == "gpt2" || layout == "openai_gpt" || layout == "bloom" ||
      layout == "torch_transformer") {
    return "transformer.";
  }
  return "";
}

std::vector<std::string> ModulePrefixes(std::string_view name, std::string_view layout_prefix,
                                        const std::vector<std::string>& names) {
  std::vector<std::string> prefixes;
  for (std::string_view file : names) {
    if (file.size() <= name.size() || !file.ends_with(name)) continue;
    std::string_view prefix = file.substr(0, file.size() - name.size());
    if (!prefix.ends_with('.')) continue;
    // The same tensor under the layout's prefix: the module prefix is what precedes it.
    if (!layout_prefix.empty() && prefix.ends_with(layout_prefix)) {
      prefix.remove_suffix(layout_prefix.size());
      if (prefix.empty()) continue;  // Layout prefix alone: not a module prefix.
    }
    prefixes.emplace_back(prefix);
  }
  std::sort(prefixes.begin(), prefixes.end());
  prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
  return prefixes;
}

const std::map<std::string, std::string>& DefaultTensorNames(std::string_view format) {
  static const auto llama2c = PlainNames(Llama2c());
  static const auto huggingface = PlainNames(HfLlama());
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
