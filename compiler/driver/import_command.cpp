#include "compiler/driver/import_command.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

#include "compiler/driver/import_gguf.h"
#include "compiler/driver/import_yaml.h"
#include "compiler/support/file_io.h"
#include "runtime/util/error.h"
#include "runtime/weights/sharded_safetensors.h"

namespace lmc {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr size_t kMaxConfigBytes = 16 << 20;

// A config the spec cannot express, or a malformed one: one line, then exit 1.
struct ImportError {
  std::string message;
};

const char* TypeName(const Json& j) { return j.type_name(); }

// config.json, with every key marked as it is read: what is left at the end
// was not understood and is reported.
class Config {
 public:
  Config(Json json, std::string path) : json_(std::move(json)), path_(std::move(path)) {}

  const std::string& path() const { return path_; }

  bool Has(const std::string& key) const {
    auto it = json_.find(key);
    return it != json_.end() && !it->is_null();
  }

  // Marks keys that have no bearing on inference (dropout, initialization,
  // training and generation settings): understood, and nothing to write.
  void NoEffect(std::initializer_list<const char*> keys) {
    for (const char* key : keys) used_.insert(key);
  }

  std::optional<int64_t> OptInt(const std::string& key) {
    used_.insert(key);
    auto it = json_.find(key);
    if (it == json_.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_integer()) {
      double v = it->is_number_float() ? it->get<double>() : NAN;
      if (!(std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15)) {
        Refuse(key, fmt::format("expected an integer, found {}", Shown(*it)));
      }
      return static_cast<int64_t>(v);
    }
    if (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t{1} << 53) {
      Refuse(key, fmt::format("{} is out of range", it->dump()));
    }
    return it->get<int64_t>();
  }

  int64_t Int(const std::string& key, std::optional<int64_t> fallback) {
    auto v = OptInt(key);
    if (!v && !fallback) Refuse(key, "missing; the architecture needs it");
    return v ? *v : *fallback;
  }

  // A size: a positive integer.
  int64_t Size(const std::string& key, std::optional<int64_t> fallback) {
    int64_t v = Int(key, fallback);
    if (v < 1) Refuse(key, fmt::format("expected a positive integer, found {}", v));
    return v;
  }

  std::optional<double> OptNumber(const std::string& key) {
    used_.insert(key);
    auto it = json_.find(key);
    if (it == json_.end() || it->is_null()) return std::nullopt;
    if (!it->is_number()) Refuse(key, fmt::format("expected a number, found {}", Shown(*it)));
    double v = it->get<double>();
    if (!std::isfinite(v)) Refuse(key, "expected a finite number");
    return v;
  }

  double Number(const std::string& key, double fallback) {
    auto v = OptNumber(key);
    return v ? *v : fallback;
  }

  bool Bool(const std::string& key, bool fallback) {
    used_.insert(key);
    auto it = json_.find(key);
    if (it == json_.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) Refuse(key, fmt::format("expected true or false, found {}", Shown(*it)));
    return it->get<bool>();
  }

  std::optional<std::string> OptString(const std::string& key) {
    used_.insert(key);
    auto it = json_.find(key);
    if (it == json_.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) Refuse(key, fmt::format("expected a string, found {}", Shown(*it)));
    return it->get<std::string>();
  }

  std::string String(const std::string& key, const std::string& fallback) {
    auto v = OptString(key);
    return v ? *v : fallback;
  }

  // The raw value, marked as read (for keys with structure: rope_scaling, eos lists).
  const Json* Raw(const std::string& key) {
    used_.insert(key);
    auto it = json_.find(key);
    return it == json_.end() || it->is_null() ? nullptr : &*it;
  }

  [[noreturn]] void Refuse(const std::string& key, const std::string& message) const {
    throw ImportError{fmt::format("{}: {}: {}", path_, key, message)};
  }

  std::vector<std::string> Unused() const {
    std::vector<std::string> out;
    for (auto it = json_.begin(); it != json_.end(); ++it) {
      if (!used_.count(it.key())) out.push_back(it.key());
    }
    return out;
  }

  static std::string Shown(const Json& j) {
    std::string text = j.dump();
    if (text.size() > 40) text = text.substr(0, 37) + "...";
    return fmt::format("{} {}", TypeName(j), text);
  }

 private:
  Json json_;
  std::string path_;
  std::set<std::string> used_;
};

// Keys every Hugging Face config may carry (PretrainedConfig) that do not
// change what the network computes.
void GenericKeys(Config& c) {
  c.NoEffect({"_name_or_path",
              "architectures",
              "model_type",
              "transformers_version",
              "torch_dtype",
              "use_cache",
              "initializer_range",
              "initializer_factor",
              "return_dict",
              "output_hidden_states",
              "output_attentions",
              "torchscript",
              "pruned_heads",
              "id2label",
              "label2id",
              "num_labels",
              "problem_type",
              "finetuning_task",
              "tokenizer_class",
              "prefix",
              "task_specific_params",
              "gradient_checkpointing",
              "chunk_size_feed_forward",
              "use_bfloat16",
              "tf_legacy_loss",
              "max_length",
              "min_length",
              "do_sample",
              "early_stopping",
              "num_beams",
              "num_beam_groups",
              "diversity_penalty",
              "temperature",
              "top_k",
              "top_p",
              "typical_p",
              "repetition_penalty",
              "length_penalty",
              "no_repeat_ngram_size",
              "encoder_no_repeat_ngram_size",
              "bad_words_ids",
              "num_return_sequences",
              "output_scores",
              "return_dict_in_generate",
              "forced_bos_token_id",
              "forced_eos_token_id",
              "remove_invalid_values",
              "exponential_decay_length_penalty",
              "suppress_tokens",
              "begin_suppress_tokens",
              "sep_token_id",
              "cross_attention_hidden_size",
              "tie_encoder_decoder",
              "is_decoder",
              "add_cross_attention",
              "is_encoder_decoder",
              "decoder_start_token_id",
              "classifier_dropout"});
}

struct Import {
  std::string cls;  // The class mapped, e.g. "LlamaForCausalLM".
  YamlSpec spec;
  std::vector<std::string> warnings;
  int64_t vocab = 0;
  // The checkpoint's tensor names (model.safetensors, or the weight_map of
  // model.safetensors.index.json); nullopt when the folder has neither.
  std::optional<std::set<std::string>> tensors;
};

// Whether the checkpoint holds `name`, alone or under a class prefix ("bert.").
bool HasTensor(const Import& im, const std::string& name) {
  for (const auto& t : *im.tensors) {
    if (t == name || (t.size() > name.size() && t.ends_with("." + name))) return true;
  }
  return false;
}

void Warn(Import& im, const Config& c, const std::string& key, const std::string& message) {
  im.warnings.push_back(fmt::format("{}: {}: {}", c.path(), key, message));
}

// Keys the generic list marks as no-effect but that would change the network.
void RefuseGenericStructure(Config& c, bool encoder_decoder) {
  if (c.Bool("add_cross_attention", false)) {
    c.Refuse("add_cross_attention", "cross-attention in this class is not expressible");
  }
  if (!encoder_decoder && c.Bool("is_encoder_decoder", false)) {
    c.Refuse("is_encoder_decoder", "true for a class that is not an encoder-decoder");
  }
}

// rope_theta, partial_rotary_factor and rope_scaling (Llama, Mistral, Qwen2).
void MapRope(Config& c, Import& im, int64_t max_positions, int64_t head_dim) {
  im.spec.Set("position.kind", "rope");
  im.spec.Set("position.rope.theta", Number(c.Number("rope_theta", 10000)), "rope_theta");
  im.spec.Set("position.rope.style", "half", "Hugging Face pairs (i, i + head_dim/2)");
  // As modeling_rope_utils: int(head_dim * factor) dims turn, the rest pass
  // (GPT-NeoX rotary_pct, Phi-3, StableLM).
  if (auto partial = c.OptNumber("partial_rotary_factor"); partial && *partial != 1.0) {
    const auto dims = static_cast<int64_t>(static_cast<double>(head_dim) * *partial);
    if (!(*partial > 0 && *partial < 1) || dims < 2 || dims % 2 != 0) {
      c.Refuse("partial_rotary_factor",
               fmt::format("{} of head_dim {} is {} dims; expected an even count in [2, {}]",
                           *partial, head_dim, dims, head_dim));
    }
    im.spec.Set("position.rope.dims", std::to_string(dims),
                fmt::format("partial_rotary_factor {} of head_dim {}", *partial, head_dim));
  }
  const Json* scaling = c.Raw("rope_scaling");
  if (!scaling) return;
  if (!scaling->is_object()) c.Refuse("rope_scaling", "expected an object or null");
  std::string type;
  for (const char* key : {"rope_type", "type"}) {
    auto it = scaling->find(key);
    if (it != scaling->end() && it->is_string()) type = it->get<std::string>();
  }
  auto number = [&](const char* key) -> std::optional<double> {
    auto it = scaling->find(key);
    if (it == scaling->end() || it->is_null()) return std::nullopt;
    if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() <= 0) {
      c.Refuse(std::string("rope_scaling.") + key, "expected a positive number");
    }
    return it->get<double>();
  };
  std::set<std::string> understood = {"rope_type", "type", "factor"};
  auto factor = number("factor");
  if (type == "default") return;
  if (type != "linear" && type != "dynamic" && type != "llama3") {
    c.Refuse(
        "rope_scaling.type",
        fmt::format("'{}' is not expressible (the spec has linear, dynamic and llama3)", type));
  }
  if (!factor) c.Refuse("rope_scaling.factor", "missing");
  if (type == "linear") {
    im.spec.Set("position.rope.scaling", "linear", "rope_scaling.type linear");
    im.spec.Set("position.rope.factor", Number(*factor), "rope_scaling.factor");
  } else if (type == "dynamic") {
    im.spec.Set("position.rope.scaling", "dynamic_ntk", "rope_scaling.type dynamic");
    im.spec.Set("position.rope.factor", Number(*factor), "rope_scaling.factor");
    im.spec.Set("position.rope.original_max_seq_len", std::to_string(max_positions),
                "max_position_embeddings: NTK scaling starts beyond it");
    Warn(im, c, "rope_scaling",
         fmt::format("dynamic NTK scaling changes nothing within max_position_embeddings ({}); "
                     "raise sizes.max_seq_len to use the longer context",
                     max_positions));
  } else {
    im.spec.Set("position.rope.scaling", "llama3", "rope_scaling.rope_type llama3");
    im.spec.Set("position.rope.factor", Number(*factor), "rope_scaling.factor");
    understood.insert({"low_freq_factor", "high_freq_factor", "original_max_position_embeddings"});
    auto low = number("low_freq_factor");
    auto high = number("high_freq_factor");
    auto it = scaling->find("original_max_position_embeddings");
    if (it == scaling->end() || !it->is_number_integer() || it->get<int64_t>() < 1) {
      c.Refuse("rope_scaling.original_max_position_embeddings",
               "llama3 scaling needs it as a positive integer");
    }
    im.spec.Set("position.rope.low_freq_factor", Number(low.value_or(1.0)),
                "rope_scaling.low_freq_factor");
    im.spec.Set("position.rope.high_freq_factor", Number(high.value_or(4.0)),
                "rope_scaling.high_freq_factor");
    im.spec.Set("position.rope.original_max_seq_len", std::to_string(it->get<int64_t>()),
                "rope_scaling.original_max_position_embeddings");
  }
  for (auto it = scaling->begin(); it != scaling->end(); ++it) {
    if (!understood.count(it.key())) {
      Warn(im, c, "rope_scaling." + it.key(), "not understood; the spec ignores it");
    }
  }
}

// LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM share Hugging
// Face's Llama modules and tensor names.
void MapLlamaLike(Config& c, Import& im, const std::string& model_type) {
  const bool mistral = model_type == "mistral", qwen2 = model_type == "qwen2";
  const int64_t default_positions = mistral || qwen2 ? 32768 : 2048;
  c.NoEffect({"attention_dropout", "pretraining_tp", "mlp_dropout"});
  im.spec.Set("family", "decoder");
  im.vocab = c.Size("vocab_size", 32000);
  const int64_t d = c.Size("hidden_size", 4096);
  const int64_t heads = c.Size("num_attention_heads", 32);
  const int64_t positions = c.Size("max_position_embeddings", default_positions);
  im.spec.Set("sizes.vocab", std::to_string(im.vocab), "vocab_size");
  im.spec.Set("sizes.d_model", std::to_string(d), "hidden_size");
  im.spec.Set("sizes.n_layers", std::to_string(c.Size("num_hidden_layers", 32)),
              "num_hidden_layers");
  im.spec.Set("sizes.max_seq_len", std::to_string(positions), "max_position_embeddings");

  if (mistral || qwen2) {
    // A sliding window at least as long as the context is full attention.
    bool sliding = mistral ? true : c.Bool("use_sliding_window", false);
    if (qwen2) c.NoEffect({"max_window_layers"});
    auto window = c.OptInt("sliding_window");
    if (sliding && window && *window < positions) {
      c.Refuse("sliding_window",
               fmt::format("a window of {} tokens, below max_position_embeddings ({}), is not "
                           "expressible: lmc's attention sees the whole context",
                           *window, positions));
    }
  }

  im.spec.Set("attention.n_heads", std::to_string(heads), "num_attention_heads");
  if (auto kv = c.OptInt("num_key_value_heads")) {
    im.spec.Set("attention.n_kv_heads", std::to_string(*kv), "num_key_value_heads");
  }
  if (auto head_dim = c.OptInt("head_dim")) {
    im.spec.Set("attention.head_dim", std::to_string(*head_dim), "head_dim");
  }
  im.spec.Set("attention.causal", "true");
  if (qwen2) {
    im.spec.Set("attention.bias", "true", "Qwen2: biases on q, k, v");
    im.spec.Set("attention.out_bias", "false", "and none on o_proj");
  } else if (!mistral) {
    bool bias = c.Bool("attention_bias", false);
    im.spec.Set("attention.bias", bias ? "true" : "false", "attention_bias");
  }

  im.spec.Set("norm.kind", "rmsnorm");
  im.spec.Set("norm.placement", "pre");
  im.spec.Set("norm.eps", Number(c.Number("rms_norm_eps", 1e-6)), "rms_norm_eps");
  im.spec.Set("norm.final", "true");

  std::string act = c.String("hidden_act", "silu");
  if (act != "silu" && act != "swish") {
    c.Refuse("hidden_act", fmt::format("'{}' is not expressible for this class (expected silu: "
                                       "SwiGLU)",
                                       act));
  }
  im.spec.Set("feed_forward.activation", "swiglu", "hidden_act silu, gated");
  im.spec.Set("feed_forward.hidden", std::to_string(c.Size("intermediate_size", 11008)),
              "intermediate_size");
  if (!mistral && !qwen2) {
    bool bias = c.Bool("mlp_bias", false);
    if (bias) im.spec.Set("feed_forward.bias", "true", "mlp_bias");
  }

  MapRope(c, im, positions, c.OptInt("head_dim").value_or(d / heads));
  bool tied = c.Bool("tie_word_embeddings", false);
  im.spec.Set("embeddings.tied", tied ? "true" : "false", "tie_word_embeddings");
}

std::string GeluFromHf(Config& c, const std::string& key, const std::string& act) {
  if (act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu_fast") return "gelu_tanh";
  if (act == "gelu") return "gelu";
  if (act == "relu") return "relu";
  if (act == "silu" || act == "swish") return "silu";
  c.Refuse(key, fmt::format("activation '{}' is not expressible (the spec has relu, gelu, "
                            "gelu_tanh, silu)",
                            act));
}

// GPT2LMHeadModel and OpenAIGPTLMHeadModel: Conv1D blocks, learned positions.
void MapGpt(Config& c, Import& im, bool gpt1) {
  c.NoEffect({"resid_pdrop", "embd_pdrop", "attn_pdrop", "summary_type", "summary_use_proj",
              "summary_activation", "summary_proj_to_labels", "summary_first_dropout",
              "reorder_and_upcast_attn", "predict_special_tokens"});
  im.spec.Set("family", "decoder");
  im.vocab = c.Size("vocab_size", gpt1 ? 40478 : 50257);
  const int64_t d = c.Size("n_embd", 768);
  const int64_t positions = c.Size("n_positions", gpt1 ? 512 : 1024);
  if (auto n_ctx = c.OptInt("n_ctx"); n_ctx && *n_ctx != positions) {
    Warn(im, c, "n_ctx",
         fmt::format("{} differs from n_positions ({}); the position table has n_positions rows",
                     *n_ctx, positions));
  }
  im.spec.Set("sizes.vocab", std::to_string(im.vocab), "vocab_size");
  im.spec.Set("sizes.d_model", std::to_string(d), "n_embd");
  im.spec.Set("sizes.n_layers", std::to_string(c.Size("n_layer", 12)), "n_layer");
  im.spec.Set("sizes.max_seq_len", std::to_string(positions), "n_positions");
  im.spec.Set("attention.n_heads", std::to_string(c.Size("n_head", 12)), "n_head");
  im.spec.Set("attention.causal", "true");
  im.spec.Set("attention.bias", "true", "Conv1D c_attn and c_proj have biases");
  if (!gpt1) {
    if (!c.Bool("scale_attn_weights", true)) {
      im.spec.Set("attention.scale", "1", "scale_attn_weights false");
    }
    if (c.Bool("scale_attn_by_inverse_layer_idx", false)) {
      c.Refuse("scale_attn_by_inverse_layer_idx",
               "a per-layer score scale 1/(layer+1) is not expressible");
    }
  }
  im.spec.Set("norm.kind", "layernorm");
  im.spec.Set("norm.placement", gpt1 ? "post" : "pre", gpt1 ? "GPT-1 is post-LN" : "");
  im.spec.Set("norm.eps", Number(c.Number("layer_norm_epsilon", 1e-5)), "layer_norm_epsilon");
  im.spec.Set("norm.bias", "true");
  im.spec.Set("norm.final", gpt1 ? "false" : "true", gpt1 ? "no ln_f" : "ln_f");
  const std::string act_key = gpt1 ? "afn" : "activation_function";
  std::string act = c.String(act_key, gpt1 ? "gelu" : "gelu_new");
  // OpenAI GPT's "gelu" is its tanh approximation (ACT_FNS["gelu"] = gelu_new).
  std::string activation = gpt1 && act == "gelu" ? "gelu_tanh" : GeluFromHf(c, act_key, act);
  im.spec.Set("feed_forward.activation", activation, act_key + " " + act);
  int64_t hidden = 4 * d;
  if (!gpt1) {
    if (auto inner = c.OptInt("n_inner")) hidden = *inner;
  }
  im.spec.Set("feed_forward.hidden", std::to_string(hidden),
              gpt1 ? "4 * n_embd" : "n_inner, or 4 * n_embd");
  im.spec.Set("feed_forward.bias", "true");
  im.spec.Set("position.kind", "learned", "wpe / positions_embed");
  bool tied = c.Bool("tie_word_embeddings", true);
  im.spec.Set("embeddings.tied", tied ? "true" : "false", "tie_word_embeddings");
}

void MapBloom(Config& c, Import& im) {
  c.NoEffect({"hidden_dropout", "attention_dropout", "pretraining_tp", "slow_but_exact",
              "masked_softmax_fusion", "attention_softmax_in_fp32", "bias_dropout_fusion",
              "skip_bias_add", "skip_bias_add_qkv", "offset_alibi", "dtype", "unk_token_id",
              "n_inner"});
  im.spec.Set("family", "decoder");
  im.vocab = c.Size("vocab_size", 250880);
  // BloomConfig accepts the older names n_embed, num_hidden_layers, num_attention_heads.
  const char* d_key = c.Has("hidden_size") || !c.Has("n_embed") ? "hidden_size" : "n_embed";
  const char* layer_key =
      c.Has("n_layer") || !c.Has("num_hidden_layers") ? "n_layer" : "num_hidden_layers";
  const char* head_key =
      c.Has("n_head") || !c.Has("num_attention_heads") ? "n_head" : "num_attention_heads";
  const int64_t d = c.Size(d_key, 64);
  im.spec.Set("sizes.vocab", std::to_string(im.vocab), "vocab_size");
  im.spec.Set("sizes.d_model", std::to_string(d), d_key);
  im.spec.Set("sizes.n_layers", std::to_string(c.Size(layer_key, 2)), layer_key);
  if (auto seq = c.OptInt("seq_length")) {
    im.spec.Set("sizes.max_seq_len", std::to_string(*seq), "seq_length");
  } else {
    im.spec.Set("sizes.max_seq_len", "2048", "ALiBi has no table: BLOOM's training length");
    Warn(im, c, "seq_length",
         "absent: ALiBi has no position limit; sizes.max_seq_len is 2048 (BLOOM's training "
         "context), change it as needed");
  }
  im.spec.Set("attention.n_heads", std::to_string(c.Size(head_key, 8)), head_key);
  im.spec.Set("attention.causal", "true");
  im.spec.Set("attention.bias", "true", "query_key_value and dense have biases");
  if (c.Bool("apply_residual_connection_post_layernorm", false)) {
    c.Refuse("apply_residual_connection_post_layernorm",
             "a residual taken after the norm is not expressible");
  }
  im.spec.Set("norm.kind", "layernorm");
  im.spec.Set("norm.placement", "pre");
  im.spec.Set("norm.eps", Number(c.Number("layer_norm_epsilon", 1e-5)), "layer_norm_epsilon");
  im.spec.Set("norm.bias", "true");
  im.spec.Set("norm.final", "true", "ln_f");
  im.spec.Set("norm.embedding", "true", "word_embeddings_layernorm");
  im.spec.Set("feed_forward.activation", "gelu_tanh", "BloomGelu: the tanh approximation");
  im.spec.Set("feed_forward.hidden", std::to_string(4 * d), "4 * hidden_size");
  im.spec.Set("feed_forward.bias", "true");
  im.spec.Set("position.kind", "alibi");
  bool tied = c.Bool("tie_word_embeddings", true);
  im.spec.Set("embeddings.tied", tied ? "true" : "false", "tie_word_embeddings");
}

void MapBert(Config& c, Import& im) {
  c.NoEffect({"hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"});
  if (c.Bool("is_decoder", false)) c.Refuse("is_decoder", "a causal BERT is not imported");
  im.spec.Set("family", "encoder");
  im.vocab = c.Size("vocab_size", 30522);
  const int64_t d = c.Size("hidden_size", 768);
  im.spec.Set("sizes.vocab", std::to_string(im.vocab), "vocab_size");
  im.spec.Set("sizes.d_model", std::to_string(d), "hidden_size");
  im.spec.Set("sizes.n_layers", std::to_string(c.Size("num_hidden_layers", 12)),
              "num_hidden_layers");
  im.spec.Set("sizes.max_seq_len", std::to_string(c.Size("max_position_embeddings", 512)),
              "max_position_embeddings");
  im.spec.Set("attention.n_heads", std::to_string(c.Size("num_attention_heads", 12)),
              "num_attention_heads");
  im.spec.Set("attention.causal", "false", "bidirectional");
  im.spec.Set("attention.bias", "true");
  im.spec.Set("norm.kind", "layernorm");
  im.spec.Set("norm.placement", "post", "BERT is post-LN");
  im.spec.Set("norm.eps", Number(c.Number("layer_norm_eps", 1e-12)), "layer_norm_eps");
  im.spec.Set("norm.bias", "true");
  im.spec.Set("norm.final", "false");
  im.spec.Set("norm.embedding", "true", "embeddings.LayerNorm");
  std::string act = c.String("hidden_act", "gelu");
  im.spec.Set("feed_forward.activation", GeluFromHf(c, "hidden_act", act), "hidden_act " + act);
  im.spec.Set("feed_forward.hidden", std::to_string(c.Size("intermediate_size", 3072)),
              "intermediate_size");
  im.spec.Set("feed_forward.bias", "true");
  std::string position = c.String("position_embedding_type", "absolute");
  if (position != "absolute") {
    c.Refuse("position_embedding_type",
             fmt::format("'{}' is not expressible (the spec has absolute: learned)", position));
  }
  im.spec.Set("position.kind", "learned", "position_embedding_type absolute");
  int64_t types = c.Int("type_vocab_size", 2);
  if (types < 0) c.Refuse("type_vocab_size", fmt::format("expected a count, found {}", types));
  if (types > 0) {
    im.spec.Set("embeddings.token_types", std::to_string(types), "type_vocab_size");
  }
  // BertModel(add_pooling_layer=False) and most BertFor* heads save no pooler.
  const bool pooler = !im.tensors || HasTensor(im, "pooler.dense.weight");
  im.spec.Set("pooler", pooler ? "true" : "false",
              !im.tensors ? "BertModel's default pooler: tanh(dense(h[CLS])); no checkpoint seen"
              : pooler    ? "the checkpoint has pooler.dense: tanh(dense(h[CLS]))"
                          : "the checkpoint has no pooler.dense");
  const std::string l = "encoder.layer.{layer}.";
  const std::pair<const char*, std::string> names[] = {
      {"token_embedding", "embeddings.word_embeddings.weight"},
      {"position_embedding", "embeddings.position_embeddings.weight"},
      {"token_type_embedding", "embeddings.token_type_embeddings.weight"},
      {"embed_norm", "embeddings.LayerNorm.weight"},
      {"embed_norm_bias", "embeddings.LayerNorm.bias"},
      {"wq", l + "attention.self.query.weight"},
      {"wq_bias", l + "attention.self.query.bias"},
      {"wk", l + "attention.self.key.weight"},
      {"wk_bias", l + "attention.self.key.bias"},
      {"wv", l + "attention.self.value.weight"},
      {"wv_bias", l + "attention.self.value.bias"},
      {"wo", l + "attention.output.dense.weight"},
      {"wo_bias", l + "attention.output.dense.bias"},
      {"attn_norm", l + "attention.output.LayerNorm.weight"},
      {"attn_norm_bias", l + "attention.output.LayerNorm.bias"},
      {"w_up", l + "intermediate.dense.weight"},
      {"w_up_bias", l + "intermediate.dense.bias"},
      {"w_down", l + "output.dense.weight"},
      {"w_down_bias", l + "output.dense.bias"},
      {"ffn_norm", l + "output.LayerNorm.weight"},
      {"ffn_norm_bias", l + "output.LayerNorm.bias"},
      {"pooler", "pooler.dense.weight"},
      {"pooler_bias", "pooler.dense.bias"},
  };
  for (const auto& [role, name] : names) {
    if (!pooler && std::string_view(role).starts_with("pooler")) continue;
    im.spec.Set(std::string("weights.names.") + role, name);
  }
  im.spec.Note("weights",
               "BertModel's tensor names (a BertFor* checkpoint prefixes them with 'bert.'); "
               "post-LN: attn_norm follows attention");
}

void MapDecoderStart(Config& c, Import& im, int64_t fallback);

void MapT5(Config& c, Import& im) {
  c.NoEffect({"dropout_rate", "output_past"});
  im.spec.Set("family", "encoder-decoder");
  im.vocab = c.Size("vocab_size", 32128);
  const int64_t d = c.Size("d_model", 512);
  const int64_t layers = c.Size("num_layers", 6);
  im.spec.Set("sizes.vocab", std::to_string(im.vocab), "vocab_size");
  im.spec.Set("sizes.d_model", std::to_string(d), "d_model");
  im.spec.Set("sizes.n_layers", std::to_string(layers), "num_layers: encoder layers");
  im.spec.Set("sizes.n_decoder_layers", std::to_string(c.Size("num_decoder_layers", layers)),
              "num_decoder_layers (default num_layers)");
  if (auto n = c.OptInt("n_positions")) {
    im.spec.Set("sizes.max_seq_len", std::to_string(*n), "n_positions");
  } else {
    im.spec.Set("sizes.max_seq_len", "512",
                "T5's training length; relative positions have no table");
    Warn(im, c, "n_positions",
         "absent: relative positions have no limit; sizes.max_seq_len is 512 (T5's training "
         "length), change it as needed");
  }
  im.spec.Set("attention.n_heads", std::to_string(c.Size("num_heads", 8)), "num_heads");
  im.spec.Set("attention.head_dim", std::to_string(c.Size("d_kv", 64)), "d_kv");
  im.spec.Set("attention.scale", "1", "T5 does not scale q.k");
  im.spec.Set("attention.bias", "false");
  im.spec.Set("norm.kind", "rmsnorm", "T5LayerNorm: no mean, no bias");
  im.spec.Set("norm.placement", "pre");
  im.spec.Set("norm.eps", Number(c.Number("layer_norm_epsilon", 1e-6)), "layer_norm_epsilon");
  im.spec.Set("norm.final", "true", "final_layer_norm of each stack");
  std::string proj = c.String("feed_forward_proj", "relu");
  c.NoEffect({"dense_act_fn", "is_gated_act"});  // Both follow from feed_forward_proj.
  std::string activation;
  if (proj == "relu") {
    activation = "relu";
  } else if (proj == "gated-gelu") {
    activation = "geglu";
  } else if (proj == "gated-silu") {
    activation = "swiglu";
  } else {
    c.Refuse(
        "feed_forward_proj",
        fmt::format("'{}' is not expressible (expected relu, gated-gelu or gated-silu)", proj));
  }
  im.spec.Set("feed_forward.activation", activation, "feed_forward_proj " + proj);
  if (activation != "relu") {  // Gated: wi_0 is the gate, wi_1 the up projection.
    for (const auto& [prefix, ffn] :
         {std::pair<std::string, std::string>{"enc_", "encoder.block.{layer}.layer.1."},
          {"", "decoder.block.{layer}.layer.2."}}) {
      im.spec.Set("weights.names." + prefix + "w_gate", Quote(ffn + "DenseReluDense.wi_0.weight"));
      im.spec.Set("weights.names." + prefix + "w_up", Quote(ffn + "DenseReluDense.wi_1.weight"));
    }
  }
  im.spec.Set("feed_forward.hidden", std::to_string(c.Size("d_ff", 2048)), "d_ff");
  im.spec.Set("position.kind", "t5_relative");
  im.spec.Set("position.t5.num_buckets",
              std::to_string(c.Size("relative_attention_num_buckets", 32)),
              "relative_attention_num_buckets");
  im.spec.Set("position.t5.max_distance",
              std::to_string(c.Size("relative_attention_max_distance", 128)),
              "relative_attention_max_distance");
  bool tied = c.Bool("tie_word_embeddings", true);
  im.spec.Set("embeddings.tied", tied ? "true" : "false", "tie_word_embeddings");
  if (tied) {
    im.spec.Set("embeddings.output_scale", Number(1.0 / std::sqrt(static_cast<double>(d))),
                "d_model^-0.5: T5 rescales the decoder output before its tied classifier");
  }
  MapDecoderStart(c, im, 0);
}

// decoder_start_token_id, HF's default for the class when absent.
void MapDecoderStart(Config& c, Import& im, int64_t fallback) {
  int64_t start = c.OptInt("decoder_start_token_id").value_or(fallback);
  if (start < 0 || start >= im.vocab) {
    c.Refuse("decoder_start_token_id",
             fmt::format("{} is not a token id below vocab_size ({})", start, im.vocab));
  }
  im.spec.Set("tokenizer.decoder_start", std::to_string(start), "decoder_start_token_id");
}

// torch.nn.Transformer with a shared embedding (this project's fixture class,
// tests/fixtures/hf/README.md): config keys named after nn.Transformer's
// arguments.
void MapTorchTransformer(Config& c, Import& im) {
  im.spec.Set("family", "encoder-decoder");
  im.vocab = c.Size("vocab_size", 0);
  const int64_t d = c.Size("d_model", 512);
  im.spec.Set("sizes.vocab", std::to_string(im.vocab), "vocab_size");
  im.spec.Set("sizes.d_model", std::to_string(d), "d_model");
  im.spec.Set("sizes.n_layers", std::to_string(c.Size("num_encoder_layers", 6)),
              "num_encoder_layers");
  im.spec.Set("sizes.n_decoder_layers", std::to_string(c.Size("num_decoder_layers", 6)),
              "num_decoder_layers");
  im.spec.Set("sizes.max_seq_len", std::to_string(c.Size("max_position_embeddings", 1024)),
              "max_position_embeddings");
  im.spec.Set("attention.n_heads", std::to_string(c.Size("nhead", 8)), "nhead");
  im.spec.Set("attention.bias", "true", "nn.MultiheadAttention's in_proj_bias and out_proj.bias");
  im.spec.Set("norm.kind", "layernorm");
  im.spec.Set("norm.bias", "true");
  im.spec.Set("norm.placement", c.Bool("norm_first", false) ? "pre" : "post", "norm_first");
  im.spec.Set("norm.eps", Number(c.Number("layer_norm_eps", 1e-5)), "layer_norm_eps");
  im.spec.Set("norm.final", "true", "nn.Transformer's encoder.norm and decoder.norm");
  std::string activation = c.String("activation", "relu");
  if (activation != "relu" && activation != "gelu") {
    c.Refuse("activation", fmt::format("'{}' is not relu or gelu", activation));
  }
  im.spec.Set("feed_forward.activation", activation, "activation");
  im.spec.Set("feed_forward.hidden", std::to_string(c.Size("dim_feedforward", 2048)),
              "dim_feedforward");
  im.spec.Set("feed_forward.bias", "true");
  std::string position = c.String("position_embedding", "sinusoidal");
  if (position != "sinusoidal") {
    c.Refuse("position_embedding", fmt::format("'{}' is not sinusoidal", position));
  }
  im.spec.Set("position.kind", "sinusoidal", "position_embedding");
  bool tied = c.Bool("tie_word_embeddings", true);
  if (!tied) c.Refuse("tie_word_embeddings", "false: the class shares one embedding");
  im.spec.Set("embeddings.tied", "true", "tie_word_embeddings");
  im.spec.Set("embeddings.scale",
              Number(c.Number("embedding_scale", std::sqrt(static_cast<double>(d)))),
              "embedding_scale");
  MapDecoderStart(c, im, 0);
}

// The class to map, from architectures[0] or else model_type.
std::string ClassOf(Config& c, Import& im, std::string& model_type) {
  static const std::map<std::string, std::string> kByType = {
      {"llama", "LlamaForCausalLM"},
      {"mistral", "MistralForCausalLM"},
      {"qwen2", "Qwen2ForCausalLM"},
      {"gpt2", "GPT2LMHeadModel"},
      {"openai-gpt", "OpenAIGPTLMHeadModel"},
      {"bloom", "BloomForCausalLM"},
      {"bert", "BertModel"},
      {"t5", "T5ForConditionalGeneration"},
      {"torch-nn-transformer", "TorchNNTransformer"}};
  model_type = c.String("model_type", "");
  std::string arch;
  if (const Json* a = c.Raw("architectures")) {
    if (!a->is_array() || (!a->empty() && !(*a)[0].is_string())) {
      c.Refuse("architectures", "expected a list of class names");
    }
    if (!a->empty()) arch = (*a)[0].get<std::string>();
    if (a->size() > 1) Warn(im, c, "architectures", "lists several classes; importing the first");
  }
  for (const auto& [type, cls] : kByType) {
    if (arch == cls) {
      model_type = type;
      return cls;
    }
  }
  std::vector<std::string> classes;
  for (const auto& [type, cls] : kByType) classes.push_back(cls);
  auto known = kByType.find(model_type);
  if (known == kByType.end()) {
    if (!arch.empty()) {
      c.Refuse("architectures", fmt::format("'{}' is not a class lmc imports (expected {})", arch,
                                            fmt::join(classes, ", ")));
    }
    c.Refuse("model_type", model_type.empty()
                               ? "missing, and no architectures: cannot tell the architecture"
                               : fmt::format("'{}' is not a model type lmc imports", model_type));
  }
  if (!arch.empty()) {
    Warn(im, c, "architectures",
         fmt::format("'{}' is imported as {} (model_type {}); a task head it adds is not in the "
                     "spec",
                     arch, known->second, model_type));
  }
  return known->second;
}

bool IsFile(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// The tensor names of the folder's checkpoint (model.safetensors, or the shards of
// model.safetensors.index.json). Nullopt when there is no checkpoint or an unreadable one
// (warned about: the binary will say more).
std::optional<std::set<std::string>> CheckpointTensors(const fs::path& folder, Import& im) {
  if (!IsFile(folder / "model.safetensors") && !IsFile(folder / "model.safetensors.index.json")) {
    return std::nullopt;
  }
  try {
    const std::vector<std::string> names = rt::OpenSafetensors(folder.string())->Names();
    return std::set<std::string>(names.begin(), names.end());
  } catch (const rt::Error& e) {
    im.warnings.push_back(fmt::format("{}; its tensors are not known", e.what()));
  }
  return std::nullopt;
}

// tokenizer.kind and file from the files in the folder, and the special ids
// from the config.
void MapTokenizer(Config& c, Import& im, const fs::path& folder, const fs::path& spec_dir) {
  std::string kind = "none", file, why;
  auto json_model_type = [&](const fs::path& p) -> std::string {
    std::string text, error;
    if (!ReadRegularFile(p.string(), 64 << 20, text, error)) return "";
    // Only model.type is needed; the file may be large (Llama 3: 9 MB).
    Json j = Json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("model") || !j["model"].is_object()) {
      return "";
    }
    return j["model"].value("type", "");
  };
  const fs::path tokenizer_json = folder / "tokenizer.json";
  std::string json_type = IsFile(tokenizer_json) ? json_model_type(tokenizer_json) : "";
  if (json_type == "WordPiece") {
    kind = "wordpiece";
    file = "tokenizer.json";
  } else if (IsFile(folder / "tokenizer.model") || IsFile(folder / "spiece.model")) {
    kind = "sentencepiece";
    file = IsFile(folder / "tokenizer.model") ? "tokenizer.model" : "spiece.model";
  } else if (IsFile(tokenizer_json)) {
    kind = "huggingface";
    file = "tokenizer.json";
    if (json_type != "BPE") {
      im.warnings.push_back(fmt::format(
          "{}: model.type is '{}': lmc reads byte-level BPE and WordPiece tokenizer.json files",
          tokenizer_json.string(), json_type.empty() ? "unreadable" : json_type));
    }
  } else if (IsFile(folder / "vocab.json") && IsFile(folder / "merges.txt")) {
    kind = "gpt2_bpe";
    file = "vocab.json";  // The runtime finds merges.txt beside it.
  } else if (IsFile(folder / "vocab.txt")) {
    kind = "wordpiece";
    file = "vocab.txt";
    im.warnings.push_back(fmt::format(
        "{}: lmc reads WordPiece vocabularies from tokenizer.json; vocab.txt alone does not load "
        "yet",
        (folder / "vocab.txt").string()));
  }
  im.spec.Set("tokenizer.kind", kind, kind == "none" ? "no tokenizer files in the folder" : "");
  if (!file.empty()) {
    im.spec.Set("tokenizer.file", Quote(RelativeTo(folder / file, spec_dir)),
                "relative to this spec");
  }
  auto special = [&](const char* key, const char* spec_key) {
    const Json* v = c.Raw(key);
    if (!v) return;
    const Json* id = v;
    if (v->is_array()) {
      if (v->empty()) return;
      id = &(*v)[0];
      if (v->size() > 1) {
        Warn(im, c, key,
             fmt::format("lists {} ids; the spec holds one: {}", v->size(), id->dump()));
      }
    }
    if (!id->is_number_integer())
      c.Refuse(key, fmt::format("expected a token id, found {}", Config::Shown(*v)));
    int64_t n = id->get<int64_t>();
    if (n < 0 || n >= im.vocab) {
      Warn(im, c, key, fmt::format("{} is not below vocab_size ({}); left out", n, im.vocab));
      return;
    }
    im.spec.Set(std::string("tokenizer.") + spec_key, std::to_string(n), key);
  };
  special("bos_token_id", "bos");
  special("eos_token_id", "eos");
  special("pad_token_id", "pad");
  special("unk_token_id", "unk");
}

// tokenizer.chat_template from the folder: tokenizer_config.json when it holds a string
// `chat_template` (the template then gets its bos_token / eos_token), else chat_template.jinja
// (newer transformers save the template there) unless the template uses bos_token or eos_token,
// which a bare .jinja file does not give. lmc build compiles it; Import_ leaves out, with a
// warning, a template it cannot compile.
void MapChatTemplate(Import& im, const fs::path& folder, const fs::path& spec_dir) {
  const fs::path config = folder / "tokenizer_config.json";
  if (IsFile(config)) {
    std::string text, error;
    Json j;
    if (ReadRegularFile(config.string(), 64 << 20, text, error)) {
      j = Json::parse(text, nullptr, false);
    }
    if (!j.is_discarded() && j.is_object() && j.contains("chat_template")) {
      const Json& t = j["chat_template"];
      if (t.is_string()) {
        im.spec.Set("tokenizer.chat_template", Quote(RelativeTo(config, spec_dir)),
                    "tokenizer_config.json's chat_template, compiled by lmc build");
      } else {
        im.warnings.push_back(fmt::format(
            "{}: chat_template is {}; left out (name one template's .jinja file in "
            "tokenizer.chat_template)",
            config.string(), t.is_array() ? "a list of named templates" : "not a string"));
      }
      return;
    }
  }
  const fs::path jinja = folder / "chat_template.jinja";
  if (!IsFile(jinja)) return;
  std::string text, error;
  if (!ReadRegularFile(jinja.string(), 64 << 20, text, error)) {
    im.warnings.push_back(fmt::format("{}: {}; left out", jinja.string(), error));
    return;
  }
  if (text.find("bos_token") != std::string::npos || text.find("eos_token") != std::string::npos) {
    im.warnings.push_back(fmt::format(
        "{}: left out: the template uses bos_token / eos_token, which a .jinja file does not "
        "give it; add a chat_template to tokenizer_config.json",
        jinja.string()));
    return;
  }
  im.spec.Set("tokenizer.chat_template", Quote(RelativeTo(jinja, spec_dir)),
              "chat_template.jinja, compiled by lmc build");
}

void MapWeights(Import& im, const fs::path& folder, const std::string& layout) {
  im.spec.Set("weights.format", "safetensors");
  if (!layout.empty()) im.spec.Set("weights.layout", layout, "tensor names, transposes, fused QKV");
  if (IsFile(folder / "model.safetensors") || IsFile(folder / "model.safetensors.index.json")) {
    return;
  }
  if (IsFile(folder / "pytorch_model.bin")) {
    im.warnings.push_back(fmt::format(
        "{}: lmc reads safetensors; save the model with safe_serialization (model.safetensors)",
        (folder / "pytorch_model.bin").string()));
  } else {
    im.warnings.push_back(fmt::format("{}: no model.safetensors in the folder", folder.string()));
  }
}

// A spec name from the folder's: letters, digits, '_' and '-', starting with
// a letter, without '__' (a C++ namespace and file stem).
std::string NameFromFolder(const fs::path& folder) {
  std::string base = folder.filename().string();
  if (base.empty() || base == "." || base == "..") {
    std::error_code ec;
    base = fs::weakly_canonical(folder, ec).filename().string();
  }
  return SpecName(base);
}

int Import_(const std::string& dir, const std::string& output, const std::string& name,
            llvm::raw_ostream& out, llvm::raw_ostream& err) {
  std::error_code ec;
  fs::path input(dir);
  fs::path config_path = input, folder = input;
  if (fs::is_directory(input, ec)) {
    config_path = input / "config.json";
  } else {
    folder = input.parent_path();
    if (folder.empty()) folder = ".";
  }
  std::string text, error;
  if (!ReadRegularFile(config_path.string(), kMaxConfigBytes, text, error)) {
    throw ImportError{fmt::format("cannot read {}: {}", config_path.string(), error)};
  }
  Json json;
  try {
    json = Json::parse(text);
  } catch (const Json::exception& e) {
    // e.what(): "[json.exception.parse_error.101] parse error at line 1, column 5: ...".
    std::string what = e.what();
    size_t at = what.find("] ");
    throw ImportError{fmt::format("{}: invalid JSON: {}", config_path.string(),
                                  at == std::string::npos ? what : what.substr(at + 2))};
  }
  if (!json.is_object()) {
    throw ImportError{
        fmt::format("{}: expected a JSON object, found {}", config_path.string(), TypeName(json))};
  }

  // The output: never a file of the input folder, never a directory.
  fs::path out_path(output);
  if (fs::is_directory(out_path, ec)) {
    throw ImportError{fmt::format("-o {} is a directory; give the path of the spec file", output)};
  }
  if (fs::exists(out_path, ec)) {
    fs::path out_dir = fs::weakly_canonical(out_path, ec).parent_path();
    if (out_dir == fs::weakly_canonical(folder, ec)) {
      throw ImportError{fmt::format(
          "-o {} is a file of the input folder {}; lmc import does not overwrite its inputs",
          output, folder.string())};
    }
  }

  Config c(std::move(json), config_path.string());
  Import im;
  GenericKeys(c);
  std::string model_type;
  im.cls = ClassOf(c, im, model_type);
  RefuseGenericStructure(c, model_type == "t5" || model_type == "torch-nn-transformer");
  im.tensors = CheckpointTensors(folder, im);
  std::string layout;
  if (model_type == "llama" || model_type == "mistral" || model_type == "qwen2") {
    MapLlamaLike(c, im, model_type);
    layout = "llama";
  } else if (model_type == "gpt2" || model_type == "openai-gpt") {
    MapGpt(c, im, model_type == "openai-gpt");
    layout = model_type == "gpt2" ? "gpt2" : "openai_gpt";
  } else if (model_type == "bloom") {
    MapBloom(c, im);
    layout = "bloom";
  } else if (model_type == "bert") {
    MapBert(c, im);
  } else if (model_type == "t5") {
    MapT5(c, im);
    layout = "t5";
  } else {
    MapTorchTransformer(c, im);
    layout = "torch_transformer";
  }
  fs::path spec_dir = fs::absolute(out_path, ec).parent_path();
  MapTokenizer(c, im, folder, spec_dir);
  MapChatTemplate(im, folder, spec_dir);
  MapWeights(im, folder, layout);

  for (const auto& key : c.Unused()) {
    Warn(im, c, key, "not understood; the spec ignores it");
  }

  const std::string spec_name = name.empty() ? NameFromFolder(folder) : name;
  std::string torch_dtype;
  if (auto it = c.Raw("torch_dtype"); it && it->is_string()) torch_dtype = it->get<std::string>();
  std::string header = fmt::format(
      "# Imported by `lmc import` from {} ({}).\n"
      "# Each value's comment names the config.json key it came from.\n",
      config_path.string(), im.cls);
  if (!torch_dtype.empty()) {
    header += fmt::format(
        "# The checkpoint stores {} (torch_dtype); the model binary converts it to f32 at load.\n",
        torch_dtype);
  }
  for (const auto& w : im.warnings) header += "# warning: " + w + "\n";
  YamlSpec top;
  top.Set("lmc", "1");
  top.Set("name", Quote(spec_name));
  top.Set("description", Quote(fmt::format("{} imported from {}", im.cls,
                                           fs::path(config_path).lexically_normal().string())));
  std::string yaml = top.Render(header) + im.spec.Render("");
  for (unsigned char ch : yaml) {
    if (ch < 0x20 && ch != '\n') {
      throw ImportError{fmt::format("{}: a path holds a control character; rename the folder",
                                    config_path.string())};
    }
  }
  const std::string problem = CheckSpecTextKeepingTemplateOut(yaml, output, "", im.warnings);
  if (!problem.empty()) {
    throw ImportError{
        fmt::format("{}: the imported spec would be invalid: {}", config_path.string(), problem)};
  }

  for (const auto& w : im.warnings) err << "lmc: warning: " << w << "\n";
  if (!WriteFileAtomically(output, yaml, 0644, error)) {
    throw ImportError{error};
  }
  out << output << ": imported " << im.cls << " (" << spec_name << "), " << im.warnings.size()
      << " warning" << (im.warnings.size() == 1 ? "" : "s") << "\n";
  return 0;
}

}  // namespace

int RunImport(const std::string& dir, const std::string& output, const std::string& name,
              llvm::raw_ostream& out, llvm::raw_ostream& err) {
  if (IsGgufInput(dir)) return RunImportGguf(dir, output, name, out, err);
  try {
    return Import_(dir, output, name, out, err);
  } catch (const ImportError& e) {
    err << "lmc: error: " << e.message << "\n";
    return 1;
  }
}

}  // namespace lmc
