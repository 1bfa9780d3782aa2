// The validated meaning of a spec (format v1): one struct per section of the
// YAML, documented key by key in specs/README.md.
//
// Every axis the format can express is here, including ones whose lowering
// comes later; lowering refuses what it cannot compile yet. Each enum's YAML
// spellings live in one table beside it, used by the parser and the printer.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "compiler/support/diagnostics.h"
#include "runtime/weights/tensor_source.h"

namespace lmc {

template <typename T>
struct EnumName {
  const char* name;
  T value;
};

template <typename T>
std::string_view NameOf(T value, std::span<const EnumName<T>> table) {
  for (const auto& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return "?";
}

enum class Family { kDecoder, kEncoder, kEncoderDecoder };
inline constexpr EnumName<Family> kFamilyNames[] = {{"decoder", Family::kDecoder},
                                                    {"encoder", Family::kEncoder},
                                                    {"encoder-decoder", Family::kEncoderDecoder}};

enum class NormKind { kLayerNorm, kRmsNorm };
inline constexpr EnumName<NormKind> kNormKindNames[] = {{"layernorm", NormKind::kLayerNorm},
                                                        {"rmsnorm", NormKind::kRmsNorm}};

enum class NormPlacement { kPre, kPost };
inline constexpr EnumName<NormPlacement> kNormPlacementNames[] = {{"pre", NormPlacement::kPre},
                                                                  {"post", NormPlacement::kPost}};

enum class Activation { kRelu, kGelu, kGeluTanh, kSilu, kSwiGlu, kGeGlu };
inline constexpr EnumName<Activation> kActivationNames[] = {
    {"relu", Activation::kRelu},          {"gelu", Activation::kGelu},
    {"gelu_tanh", Activation::kGeluTanh}, {"silu", Activation::kSilu},
    {"swiglu", Activation::kSwiGlu},      {"geglu", Activation::kGeGlu}};
inline bool IsGated(Activation a) { return a == Activation::kSwiGlu || a == Activation::kGeGlu; }

enum class PositionKind { kNone, kSinusoidal, kLearned, kRope, kAlibi, kT5Relative, kCope };
inline constexpr EnumName<PositionKind> kPositionKindNames[] = {
    {"none", PositionKind::kNone},       {"sinusoidal", PositionKind::kSinusoidal},
    {"learned", PositionKind::kLearned}, {"rope", PositionKind::kRope},
    {"alibi", PositionKind::kAlibi},     {"t5_relative", PositionKind::kT5Relative},
    {"cope", PositionKind::kCope}};

// Which dimensions RoPE pairs: (2i, 2i+1) as Meta's Llama checkpoints, or
// (i, i + head_dim/2) as GPT-NeoX and Hugging Face's Llama.
enum class RopeStyle { kInterleaved, kHalf };
inline constexpr EnumName<RopeStyle> kRopeStyleNames[] = {{"interleaved", RopeStyle::kInterleaved},
                                                          {"half", RopeStyle::kHalf}};

enum class RopeScaling { kNone, kLinear, kDynamicNtk, kLlama3 };
inline constexpr EnumName<RopeScaling> kRopeScalingNames[] = {
    {"none", RopeScaling::kNone},
    {"linear", RopeScaling::kLinear},
    {"dynamic_ntk", RopeScaling::kDynamicNtk},
    {"llama3", RopeScaling::kLlama3}};

// The runtime's LoadTokenizer kinds (runtime/tokenizer/tokenizer.h), same names.
enum class TokenizerKind {
  kNone,
  kLlama2c,
  kSentencePiece,
  kTiktoken,
  kGpt2Bpe,
  kHuggingFace,
  kWordPiece,
  kGguf
};
inline constexpr EnumName<TokenizerKind> kTokenizerKindNames[] = {
    {"none", TokenizerKind::kNone},  // The model runs from token ids.
    {"llama2c", TokenizerKind::kLlama2c},
    {"sentencepiece", TokenizerKind::kSentencePiece},
    {"tiktoken", TokenizerKind::kTiktoken},
    {"gpt2_bpe", TokenizerKind::kGpt2Bpe},
    {"huggingface", TokenizerKind::kHuggingFace},  // tokenizer.json
    {"wordpiece", TokenizerKind::kWordPiece},
    {"gguf", TokenizerKind::kGguf}};  // A GGUF file's tokenizer.ggml.* metadata.

enum class WeightsFormat { kLlama2c, kSafetensors, kGguf };
inline constexpr EnumName<WeightsFormat> kWeightsFormatNames[] = {
    {"llama2c", WeightsFormat::kLlama2c},
    {"safetensors", WeightsFormat::kSafetensors},
    {"gguf", WeightsFormat::kGguf}};

// The weights a spec can name in weights.names. Per-layer tensor names carry a
// {layer} placeholder.
struct WeightRole {
  const char* name;
  bool per_layer;
};
inline constexpr WeightRole kWeightRoles[] = {{"token_embedding", false},
                                              {"position_embedding", false},
                                              {"token_type_embedding", false},
                                              {"embed_norm", false},
                                              {"embed_norm_bias", false},
                                              {"attn_norm", true},
                                              {"attn_norm_bias", true},
                                              {"wq", true},
                                              {"wk", true},
                                              {"wv", true},
                                              {"wo", true},
                                              {"wq_bias", true},
                                              {"wk_bias", true},
                                              {"wv_bias", true},
                                              {"wo_bias", true},
                                              {"ffn_norm", true},
                                              {"ffn_norm_bias", true},
                                              {"w_gate", true},
                                              {"w_up", true},
                                              {"w_down", true},
                                              {"w_gate_bias", true},
                                              {"w_up_bias", true},
                                              {"w_down_bias", true},
                                              {"final_norm", false},
                                              {"final_norm_bias", false},
                                              {"classifier", false},
                                              {"pooler", false},
                                              {"pooler_bias", false},
                                              // Encoder-decoders: the decoder's cross-attention,
                                              {"cross_norm", true},
                                              {"cross_norm_bias", true},
                                              {"cross_wq", true},
                                              {"cross_wk", true},
                                              {"cross_wv", true},
                                              {"cross_wo", true},
                                              {"cross_wq_bias", true},
                                              {"cross_wk_bias", true},
                                              {"cross_wv_bias", true},
                                              {"cross_wo_bias", true},
                                              // T5's relative-position table of each stack,
                                              {"relative_bias", false},
                                              {"enc_relative_bias", false},
                                              // CoPE's position embedding of each layer.
                                              {"cope", true}};

// An encoder-decoder's encoder stack names its weights with this prefix on the
// decoder's roles (enc_wq, enc_final_norm): the roles above without cross_.
inline constexpr const char kEncoderRolePrefix[] = "enc_";

// Whose tensor names and storage layout a checkpoint follows: Meta's Llama
// (llama2.c), llama.cpp's GGUF names, or a Hugging Face class. Each has one
// table in runtime/weights/weight_names.cc: names, transposes and fused-tensor
// splits.
enum class WeightsLayout {
  kLlama2c,
  kGguf,
  kLlama,
  kGpt2,
  kOpenAiGpt,
  kBloom,
  kT5,
  kTorchTransformer
};
inline constexpr EnumName<WeightsLayout> kWeightsLayoutNames[] = {
    {"llama2c", WeightsLayout::kLlama2c},
    {"gguf", WeightsLayout::kGguf},
    {"llama", WeightsLayout::kLlama},
    {"gpt2", WeightsLayout::kGpt2},
    {"openai_gpt", WeightsLayout::kOpenAiGpt},
    {"bloom", WeightsLayout::kBloom},
    {"t5", WeightsLayout::kT5},
    {"torch_transformer", WeightsLayout::kTorchTransformer}};

// The checkpoint's dtype enum (the runtime's), spelled as rt::DTypeName does.
inline constexpr EnumName<rt::DType> kDTypeNames[] = {{"f32", rt::DType::kF32},
                                                      {"f16", rt::DType::kF16},
                                                      {"bf16", rt::DType::kBF16},
                                                      {"q8_0", rt::DType::kQ8_0},
                                                      {"q4_0", rt::DType::kQ4_0}};

inline constexpr EnumName<rt::DType> kKvCacheNames[] = {{"f32", rt::DType::kF32},
                                                        {"f16", rt::DType::kF16},
                                                        {"bf16", rt::DType::kBF16},
                                                        {"q8_0", rt::DType::kQ8_0}};

// Bytes a KV cache of that type takes per value (q8_0: a block of 32 in 34 bytes).
inline double KvCacheBytesPerValue(rt::DType type) {
  return static_cast<double>(rt::DTypeSize(type)) / static_cast<double>(rt::DTypeBlock(type));
}

struct Spec {
  int format_version = 1;
  std::string name;
  Family family = Family::kDecoder;

  struct Sizes {
    int64_t vocab = 0;
    int64_t d_model = 0;
    int64_t n_layers = 0;          // Encoder layers for encoder-decoder.
    int64_t n_decoder_layers = 0;  // Only for encoder-decoder.
    int64_t max_seq_len = 0;
  } sizes;

  struct Attention {
    int64_t n_heads = 0;
    int64_t n_kv_heads = 0;  // == n_heads: MHA; 1: MQA; between: GQA.
    int64_t head_dim = 0;
    bool causal = true;
    bool bias = false;      // Biases on the q, k, v projections (and o unless out_bias).
    bool out_bias = false;  // Bias on the output projection; defaults to `bias`.
    double scale = 0;       // Score scale; defaults to 1/sqrt(head_dim).
    // The self-attention KV cache's element type: f16 / bf16 halve what decode reads at depth.
    rt::DType kv_cache = rt::DType::kF32;
  } attention;

  struct Norm {
    NormKind kind = NormKind::kRmsNorm;
    NormPlacement placement = NormPlacement::kPre;
    double eps = 1e-5;
    bool bias = false;
    bool final_norm = true;
    bool embedding = false;  // A norm on the embeddings (BERT, BLOOM).
  } norm;

  struct FeedForward {
    Activation activation = Activation::kSwiGlu;
    int64_t hidden = 0;
    double beta = 1.0;  // Swish beta: silu(x) = x * sigmoid(beta * x).
    bool bias = false;
  } feed_forward;

  struct Position {
    PositionKind kind = PositionKind::kNone;
    struct Rope {
      double theta = 10000.0;
      RopeStyle style = RopeStyle::kInterleaved;
      RopeScaling scaling = RopeScaling::kNone;
      double factor = 1.0;
      double low_freq_factor = 1.0;
      double high_freq_factor = 4.0;
      int64_t original_max_seq_len = 0;
      int64_t dims = 0;  // Rotated dims per head (partial rotary); 0: all of head_dim.
    } rope;
    struct T5 {
      int64_t num_buckets = 32;
      int64_t max_distance = 128;
    } t5;
    struct Cope {
      int64_t max_positions = 0;
    } cope;
  } position;

  struct Embeddings {
    bool tied = false;
    int64_t dim = 0;            // Defaults to d_model.
    double scale = 1.0;         // Multiplies token embeddings (sqrt(d_model) for Vaswani, T5 none).
    int64_t token_types = 0;    // Token-type (segment) embeddings added to the tokens (BERT: 2).
    double output_scale = 1.0;  // Multiplies the final hidden state before the classifier (T5).
  } embeddings;

  // An encoder's pooler: tanh(W h[0] + b) on the first token (BERT).
  bool pooler = false;

  // The MPI ranks the binary is sharded for (docs/distributed.md); lmc build --tensor-parallel
  // overrides it.
  struct Parallel {
    int64_t tensor = 1;
  } parallel;

  struct Tokenizer {
    TokenizerKind kind = TokenizerKind::kLlama2c;
    std::string file;  // Default tokenizer file, relative to the spec; --tokenizer overrides.
    // Special token ids; -1 when not given.
    int64_t bos = -1, eos = -1, pad = -1, unk = -1;
    int64_t cls = -1, sep = -1, mask = -1;  // BERT-style encoders.
    int64_t decoder_start = -1;             // First decoder id of an encoder-decoder.
    // The chat template `chat` renders conversations with: a .jinja file, a
    // tokenizer_config.json or a GGUF, relative to the spec; lmc build compiles it in.
    std::string chat_template;
  } tokenizer;

  struct Weights {
    WeightsFormat format = WeightsFormat::kLlama2c;
    WeightsLayout layout = WeightsLayout::kLlama2c;  // Defaults by format.
    std::map<std::string, std::string> names;        // Weight role -> checkpoint tensor name.
    // A module prefix names may carry in the file ("model."), before the layout's own
    // optional prefix (GPT-2's "transformer."); when not given, one is detected at load
    // when unambiguous.
    std::string prefix;
    // Weight role -> the dtype its matrices are stored in: one for every layer, or one per
    // layer (a GGUF's own types: a Q4_K_M file mixes Q4_K and Q6_K). Overrides `dtype`.
    std::map<std::string, std::vector<rt::DType>> dtypes;
  } weights;

  rt::DType dtype = rt::DType::kF32;

  // Where each value came from, by dotted key path ("attention.n_heads"), for
  // errors found after parsing. Keys given nowhere map to an invalid Location.
  std::map<std::string, Location> locations;
  Location Where(const std::string& path) const {
    auto it = locations.find(path);
    return it == locations.end() ? Location{} : it->second;
  }
  bool Given(const std::string& path) const { return locations.count(path) != 0; }

  std::string resolved_yaml;  // After extends and --set: what the binary embeds.
};

}  // namespace lmc
