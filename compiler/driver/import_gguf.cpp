#include "compiler/driver/import_gguf.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "compiler/driver/import_yaml.h"
#include "compiler/support/file_io.h"
#include "runtime/kernels/position_tables.h"
#include "runtime/tokenizer/gguf_vocab.h"
#include "runtime/util/error.h"
#include "runtime/weights/gguf_checkpoint.h"
#include "runtime/weights/gguf_reader.h"
#include "runtime/weights/mapped_file.h"
#include "runtime/weights/weight_names.h"

namespace lmc {

namespace {

namespace fs = std::filesystem;
namespace gguf = rt::gguf;

// A file the spec cannot express, or a malformed one: one line, then exit 1.
struct ImportError {
  std::string message;
};

// One metadata value: a scalar or string as stored, an array by element type and count.
struct Value {
  uint32_t type = 0;
  bool integer = false;  // An integer scalar: `i` (a uint64 above 2^63 - 1 is `huge`).
  bool huge = false;
  int64_t i = 0;
  double f = 0;  // float32 and float64 scalars.
  bool b = false;
  std::string s;
  uint32_t elem = 0;  // Arrays.
  uint64_t count = 0;
};

// The metadata section, read with the runtime's GGUF reader (every length and count checked
// against the bytes left; a corrupt file fails with one line naming the file and offset).
std::map<std::string, Value> ReadMetadata(const std::string& path) {
  const rt::MappedFile file = rt::MappedFile::Open(path);
  gguf::Reader r(file.data(), file.size(), path);
  const gguf::Preamble preamble = gguf::ReadPreamble(r);
  std::unordered_set<std::string_view> seen;
  std::map<std::string, Value> kv;
  for (uint64_t n = 0; n < preamble.metadata_count; ++n) {
    const std::string_view key = gguf::ReadKey(r, seen);
    const size_t type_at = r.offset();
    Value v;
    v.type = r.Read<uint32_t>("a metadata type");
    switch (v.type) {
      case gguf::kU8:
        v.i = r.Read<uint8_t>(key), v.integer = true;
        break;
      case gguf::kI8:
        v.i = r.Read<int8_t>(key), v.integer = true;
        break;
      case gguf::kU16:
        v.i = r.Read<uint16_t>(key), v.integer = true;
        break;
      case gguf::kI16:
        v.i = r.Read<int16_t>(key), v.integer = true;
        break;
      case gguf::kU32:
        v.i = r.Read<uint32_t>(key), v.integer = true;
        break;
      case gguf::kI32:
        v.i = r.Read<int32_t>(key), v.integer = true;
        break;
      case gguf::kU64: {
        const uint64_t u = r.Read<uint64_t>(key);
        v.huge = u > static_cast<uint64_t>(INT64_MAX);
        v.i = v.huge ? INT64_MAX : static_cast<int64_t>(u);
        v.integer = true;
        break;
      }
      case gguf::kI64:
        v.i = r.Read<int64_t>(key), v.integer = true;
        break;
      case gguf::kF32:
        v.f = r.Read<float>(key);
        break;
      case gguf::kF64:
        v.f = r.Read<double>(key);
        break;
      case gguf::kBool:
        v.b = gguf::ReadBool(r, key);
        break;
      case gguf::kString:
        v.s = std::string(r.String(key, r.left()));
        break;
      case gguf::kArray: {
        // The element type and count, then the elements skipped (and checked) by SkipValue.
        r.Need(12, key);
        std::memcpy(&v.elem, file.data() + r.offset(), 4);
        std::memcpy(&v.count, file.data() + r.offset() + 4, 8);
        gguf::SkipValue(r, gguf::kArray, key);
        break;
      }
      default:
        rt::Fail("{}: byte offset {}: metadata \"{}\" has type {}, expected 0..12", path, type_at,
                 rt::EscapeControlBytes(key), v.type);
    }
    kv.emplace(std::string(key), std::move(v));
  }
  return kv;
}

// The metadata, with every key marked as it is read: what is left at the end was not
// understood and is reported.
class Meta {
 public:
  Meta(std::map<std::string, Value> kv, std::string path)
      : kv_(std::move(kv)), path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  bool Has(const std::string& key) const { return kv_.count(key) != 0; }
  void Use(const std::string& key) { used_.insert(key); }

  const Value* Find(const std::string& key) {
    used_.insert(key);
    auto it = kv_.find(key);
    return it == kv_.end() ? nullptr : &it->second;
  }

  std::optional<int64_t> OptInt(const std::string& key) {
    const Value* v = Find(key);
    if (!v) return std::nullopt;
    if (!v->integer) Refuse(key, fmt::format("is {}, expected an integer", Shown(*v)));
    if (v->huge || v->i > int64_t{1} << 53 || v->i < -(int64_t{1} << 53)) {
      Refuse(key, fmt::format("{} is out of range", v->i));
    }
    return v->i;
  }

  // A size: a positive integer, required unless there is a fallback.
  int64_t Size(const std::string& key, std::optional<int64_t> fallback = std::nullopt) {
    auto v = OptInt(key);
    if (!v && !fallback) Refuse(key, "missing; the architecture needs it");
    if (v && *v < 1) Refuse(key, fmt::format("expected a positive integer, found {}", *v));
    return v ? *v : *fallback;
  }

  std::optional<double> OptNumber(const std::string& key) {
    const Value* v = Find(key);
    if (!v) return std::nullopt;
    double d = v->f;
    if (v->integer) {
      d = static_cast<double>(v->i);
    } else if (v->type != gguf::kF32 && v->type != gguf::kF64) {
      Refuse(key, fmt::format("is {}, expected a number", Shown(*v)));
    }
    if (!std::isfinite(d)) Refuse(key, "expected a finite number");
    // A float32 as the shortest decimal that reads back as it (1e-05, not 9.99999974e-06).
    if (v->type == gguf::kF32) d = std::stod(fmt::format("{}", static_cast<float>(d)));
    return d;
  }

  double Positive(const std::string& key, std::optional<double> fallback) {
    auto v = OptNumber(key);
    if (!v && !fallback) Refuse(key, "missing; the architecture needs it");
    if (v && !(*v > 0)) Refuse(key, fmt::format("expected a positive number, found {}", *v));
    return v ? *v : *fallback;
  }

  std::optional<std::string> OptString(const std::string& key) {
    const Value* v = Find(key);
    if (!v) return std::nullopt;
    if (v->type != gguf::kString) Refuse(key, fmt::format("is {}, expected a string", Shown(*v)));
    return v->s;
  }

  std::optional<bool> OptBool(const std::string& key) {
    const Value* v = Find(key);
    if (!v) return std::nullopt;
    if (v->type != gguf::kBool) Refuse(key, fmt::format("is {}, expected a bool", Shown(*v)));
    return v->b;
  }

  [[noreturn]] void Refuse(const std::string& key, const std::string& message) const {
    throw ImportError{fmt::format("{}: {}: {}", path_, rt::EscapeControlBytes(key), message)};
  }

  std::vector<std::string> Unused() const {
    std::vector<std::string> out;
    for (const auto& [key, v] : kv_) {
      if (!used_.count(key)) out.push_back(key);
    }
    return out;
  }

  static std::string Shown(const Value& v) {
    if (v.type == gguf::kArray) {
      return fmt::format("an array of {} {}", v.count, gguf::TypeName(v.elem));
    }
    return gguf::TypeName(v.type);
  }

 private:
  std::map<std::string, Value> kv_;
  std::string path_;
  std::set<std::string> used_;
};

struct Import {
  std::string arch;
  YamlSpec spec;
  std::vector<std::string> warnings;
  int64_t vocab = 0, layers = 0, decoder_layers = 0;
  // The file's tensors; null for a vocabulary-only file (no tensors).
  std::unique_ptr<rt::GgufCheckpoint> tensors;
  // Weight role -> llama.cpp's tensor name ({layer} for per-layer roles), for the roles this
  // architecture reads; written to weights.names unless the layout already says it.
  std::map<std::string, std::string> names;
  bool names_in_spec = true;
  std::set<std::string> fused;  // Roles read as parts of one fused tensor (attn_qkv).
};

void Warn(Import& im, const Meta& m, const std::string& key, const std::string& message) {
  im.warnings.push_back(fmt::format("{}: {}: {}", m.path(), rt::EscapeControlBytes(key), message));
}

bool HasTensor(const Import& im, const std::string& name) {
  return im.tensors && im.tensors->Find(name) != nullptr;
}

// The classifier: llama.cpp's output.weight, or the token embedding when the file has none.
void MapTied(Import& im, const char* absent_means) {
  if (!im.tensors) {
    im.spec.Set(
        "embeddings.tied", "false",
        fmt::format("the file holds no tensors: an output.weight is assumed ({})", absent_means));
    return;
  }
  const bool tied = !HasTensor(im, "output.weight");
  im.spec.Set("embeddings.tied", tied ? "true" : "false",
              tied ? "no output.weight: the classifier is token_embd" : "output.weight");
}

// The vocabulary size: the token embedding's rows, else <arch>.vocab_size, else the
// tokenizer's token count.
void MapVocab(Meta& m, Import& im, const std::string& a, int64_t tokens) {
  std::string from;
  if (const rt::TensorView* embd = im.tensors ? im.tensors->Find("token_embd.weight") : nullptr;
      embd && embd->shape.size() == 2) {
    im.vocab = embd->shape[0];
    from = "token_embd.weight's rows";
    if (auto v = m.OptInt(a + "vocab_size"); v && *v != im.vocab) {
      m.Refuse(a + "vocab_size",
               fmt::format("{} disagrees with token_embd.weight's {} rows", *v, im.vocab));
    }
  } else if (auto v = m.OptInt(a + "vocab_size")) {
    if (*v < 1)
      m.Refuse(a + "vocab_size", fmt::format("expected a positive integer, found {}", *v));
    im.vocab = *v;
    from = a + "vocab_size";
  } else if (tokens > 0) {
    im.vocab = tokens;
    from = "tokenizer.ggml.tokens: its count";
  } else {
    m.Refuse("tokenizer.ggml.tokens",
             fmt::format("missing, and no {}vocab_size: cannot tell the vocabulary size", a));
  }
  if (tokens > im.vocab) {
    m.Refuse("tokenizer.ggml.tokens",
             fmt::format("holds {} tokens, more than the vocabulary size {} ({})", tokens, im.vocab,
                         from));
  }
  im.spec.Set("sizes.vocab", std::to_string(im.vocab), from);
}

// Llama 3's RoPE scaling as llama.cpp's converter stores it: no <arch>.rope.scaling keys but a
// tensor rope_freqs.weight, one factor per rotated pair dividing that pair's frequency (Hugging
// Face's rope_type llama3: 1 for wavelengths below original / high_freq_factor, `factor` above
// original / low_freq_factor, a blend between). The spec's `llama3` scaling is taken with every
// Llama 3.x's low_freq_factor 1, high_freq_factor 4 and original context 8192 (or
// <arch>.rope.scaling.original_context_length when the file has it); `factor` is read off a pair
// the scaling divides (a low-frequency pair's factor, else solved from a blended one). It is
// kept only if it gives every stored factor back (relative 1e-4), computed as the model binary
// computes its frequencies (kernels::RopeInvFreq); otherwise the tensor is refused.
void MapRopeFreqs(Meta& m, Import& im, const std::string& a, double theta, int64_t dims) {
  const std::string name = "rope_freqs.weight", key = "tensor " + name;
  const rt::TensorView& view = *im.tensors->Find(name);
  const int n = static_cast<int>(dims / 2);
  if (view.shape.size() != 1 || view.shape[0] != n) {
    m.Refuse(key, fmt::format("has shape {}, expected [{}] (one factor per rotated pair)",
                              rt::ShapeToString(view.shape), n));
  }
  const float* stored = im.tensors->F32(name, view.shape);
  for (int i = 0; i < n; ++i) {
    if (!std::isfinite(stored[i]) || !(stored[i] >= 1)) {
      m.Refuse(key, fmt::format("factor {} is {}; Llama 3's factors are at least 1", i, stored[i]));
    }
  }
  const double original = m.OptNumber(a + "rope.scaling.original_context_length").value_or(8192);
  if (original != std::floor(original) || original < 1 || original > (1 << 24)) {
    m.Refuse(a + "rope.scaling.original_context_length",
             fmt::format("{} is not a context length", original));
  }
  kernels::RopeScalingParams p;
  p.kind = kernels::RopeScalingKind::kLlama3;
  p.original_max_seq_len = static_cast<float>(original);
  const float t = static_cast<float>(theta);
  const std::vector<float> plain = kernels::RopeInvFreq(t, static_cast<int>(dims));
  // The factor: a low-frequency pair's own, else one solved from a blended pair's
  // 1 / f = (1 - smooth) / factor + smooth.
  if (std::all_of(stored, stored + n, [](float f) { return f == 1; })) {
    im.spec.Note("position", "rope_freqs.weight: every factor is 1, no scaling");
    return;
  }
  std::optional<float> factor;
  for (int i = n - 1; i >= 0 && !factor; --i) {
    const float wavelen = 2 * 3.14159265358979323846f / plain[i];
    if (wavelen > p.original_max_seq_len / p.low_freq_factor) {
      factor = stored[i];
    } else if (wavelen >= p.original_max_seq_len / p.high_freq_factor) {
      const float smooth = (p.original_max_seq_len / wavelen - p.low_freq_factor) /
                           (p.high_freq_factor - p.low_freq_factor);
      if (smooth < 1 && 1 / stored[i] > smooth) factor = (1 - smooth) / (1 / stored[i] - smooth);
    }
  }
  auto differs = [&]() -> std::optional<int> {
    const std::vector<float> scaled = kernels::RopeInvFreq(t, static_cast<int>(dims), p);
    for (int i = 0; i < n; ++i) {
      if (std::fabs(plain[i] / scaled[i] - stored[i]) > 1e-4f * stored[i]) return i;
    }
    return std::nullopt;
  };
  if (!factor) {  // Every pair is a high frequency, which the scaling leaves alone.
    m.Refuse(key, fmt::format("its factors are not 1 on pairs Llama 3's rope scaling leaves alone "
                              "(low_freq_factor 1, high_freq_factor 4, original context {})",
                              original));
  }
  // A float32 factor as its shortest decimal (8, not 7.99999952), as the spec will hold it.
  p.factor = std::stof(fmt::format("{:.6g}", *factor));
  if (!(p.factor > 1)) m.Refuse(key, fmt::format("gives a factor of {}", *factor));
  if (auto i = differs()) {
    const std::vector<float> scaled = kernels::RopeInvFreq(t, static_cast<int>(dims), p);
    m.Refuse(key, fmt::format("factor {} is {}, but Llama 3's rope scaling (factor {}, "
                              "low_freq_factor 1, high_freq_factor 4, original context {}) gives "
                              "{}; not expressible",
                              *i, stored[*i], p.factor, original, plain[*i] / scaled[*i]));
  }
  im.spec.Set("position.rope.scaling", "llama3", "tensor rope_freqs.weight: Llama 3's factors");
  im.spec.Set("position.rope.factor", Number(p.factor),
              "the factor rope_freqs.weight's low-frequency pairs hold");
  im.spec.Set("position.rope.low_freq_factor", "1", "Llama 3's; rope_freqs.weight agrees");
  im.spec.Set("position.rope.high_freq_factor", "4", "Llama 3's; rope_freqs.weight agrees");
  im.spec.Set("position.rope.original_max_seq_len", fmt::format("{}", original),
              m.OptNumber(a + "rope.scaling.original_context_length")
                  ? a + "rope.scaling.original_context_length"
                  : std::string("Llama 3's 8192; rope_freqs.weight agrees"));
}

// RoPE from <arch>.rope.*: base, rotated dimensions and scaling (and rope_freqs.weight).
void MapRope(Meta& m, Import& im, const std::string& a, int64_t head_dim, bool neox) {
  im.spec.Set("position.kind", "rope");
  const double theta = m.Positive(a + "rope.freq_base", 10000.0);
  im.spec.Set("position.rope.theta", Number(theta), a + "rope.freq_base (default 10000)");
  im.spec.Set("position.rope.style", neox ? "half" : "interleaved",
              neox ? "llama.cpp's NEOX rope: pairs (i, i + dims/2)"
                   : "llama.cpp stores q and k in Meta's order: adjacent pairs");
  if (auto dims = m.OptInt(a + "rope.dimension_count"); dims && *dims != head_dim) {
    if (*dims < 2 || *dims > head_dim || *dims % 2 != 0) {
      m.Refuse(a + "rope.dimension_count",
               fmt::format("{} rotated dims of head_dim {}; expected an even count in [2, {}]",
                           *dims, head_dim, head_dim));
    }
    im.spec.Set("position.rope.dims", std::to_string(*dims), a + "rope.dimension_count");
  }
  m.Use(a + "rope.scaling.finetuned");  // Training history: no effect on what is computed.
  const std::string type = m.OptString(a + "rope.scaling.type").value_or("none");
  const auto factor = m.OptNumber(a + "rope.scaling.factor");
  if (HasTensor(im, "rope_freqs.weight")) {
    if (type != "none") {
      m.Refuse(a + "rope.scaling.type",
               fmt::format("'{}' beside a tensor rope_freqs.weight: two scalings of one RoPE",
                           rt::EscapeControlBytes(type)));
    }
    MapRopeFreqs(m, im, a, theta, m.OptInt(a + "rope.dimension_count").value_or(head_dim));
    return;
  }
  if (type == "none") return;
  if (type != "linear") {
    m.Refuse(a + "rope.scaling.type",
             fmt::format("'{}' is not expressible (the spec's GGUF import maps none and linear)",
                         rt::EscapeControlBytes(type)));
  }
  if (!factor || !(*factor > 0)) {
    m.Refuse(a + "rope.scaling.factor", "linear scaling needs a positive factor");
  }
  im.spec.Set("position.rope.scaling", "linear", a + "rope.scaling.type");
  im.spec.Set("position.rope.factor", Number(*factor), a + "rope.scaling.factor");
}

// A refusal for Mixture-of-Experts and sliding-window files of the llama-like architectures.
void RefuseLlamaExtras(Meta& m, const std::string& a, int64_t context) {
  if (auto experts = m.OptInt(a + "expert_count"); experts && *experts > 0) {
    m.Refuse(a + "expert_count",
             fmt::format("{} experts (a mixture of experts) is not expressible", *experts));
  }
  m.Use(a + "expert_used_count");
  if (auto window = m.OptInt(a + "attention.sliding_window"); window && *window < context) {
    m.Refuse(a + "attention.sliding_window",
             fmt::format("a window of {} tokens, below {}context_length ({}), is not expressible: "
                         "lmc's attention sees the whole context",
                         *window, a, context));
  }
}

// attention.head_dim from <arch>.attention.key_length / value_length, when they differ from
// embedding_length / head_count.
int64_t MapHeadDim(Meta& m, Import& im, const std::string& a, int64_t d, int64_t heads) {
  const auto key = m.OptInt(a + "attention.key_length");
  const auto value = m.OptInt(a + "attention.value_length");
  if (key && value && *key != *value) {
    m.Refuse(
        a + "attention.value_length",
        fmt::format("{} differs from attention.key_length ({}): not expressible", *value, *key));
  }
  const std::optional<int64_t> given = key ? key : value;
  if (!given) {
    if (d % heads != 0) {
      m.Refuse(a + "attention.head_count",
               fmt::format("{} heads do not divide embedding_length {}", heads, d));
    }
    return d / heads;
  }
  if (*given < 1) {
    m.Refuse(a + (key ? "attention.key_length" : "attention.value_length"),
             fmt::format("expected a positive integer, found {}", *given));
  }
  if (d % heads != 0 || *given != d / heads) {
    im.spec.Set("attention.head_dim", std::to_string(*given), a + "attention.key_length");
  }
  return *given;
}

// Sizes every architecture has: embedding_length, block_count, context_length, head_count.
struct Sizes {
  int64_t d = 0, context = 0, heads = 0;
};
Sizes MapSizes(Meta& m, Import& im, const std::string& a, int64_t tokens) {
  MapVocab(m, im, a, tokens);
  Sizes s;
  s.d = m.Size(a + "embedding_length");
  im.layers = m.Size(a + "block_count");
  s.context = m.Size(a + "context_length");
  s.heads = m.Size(a + "attention.head_count");
  im.spec.Set("sizes.d_model", std::to_string(s.d), a + "embedding_length");
  im.spec.Set("sizes.n_layers", std::to_string(im.layers), a + "block_count");
  im.spec.Set("sizes.max_seq_len", std::to_string(s.context), a + "context_length");
  im.spec.Set("attention.n_heads", std::to_string(s.heads), a + "attention.head_count");
  return s;
}

// Architectures whose q, k and v are one fused tensor refuse grouped heads.
void RequireFullHeads(Meta& m, const std::string& a, int64_t heads) {
  if (auto kv = m.OptInt(a + "attention.head_count_kv"); kv && *kv != heads) {
    m.Refuse(a + "attention.head_count_kv",
             fmt::format("{} key/value heads for {} query heads: this architecture's fused "
                         "attn_qkv is read with as many of each",
                         *kv, heads));
  }
}

// llama (Llama 1/2/3, Mistral, TinyLlama, ...) and qwen2: llama.cpp's own layout.
void MapLlama(Meta& m, Import& im, const std::string& a, bool qwen2, int64_t tokens) {
  im.spec.Set("family", "decoder");
  const Sizes s = MapSizes(m, im, a, tokens);
  m.Use(a + "tensor_data_layout");  // "Meta AI original pth": how q and k are ordered (below).
  RefuseLlamaExtras(m, a, s.context);
  const int64_t kv = m.Size(a + "attention.head_count_kv", s.heads);
  if (kv != s.heads) {
    im.spec.Set("attention.n_kv_heads", std::to_string(kv), a + "attention.head_count_kv");
  }
  const int64_t head_dim = MapHeadDim(m, im, a, s.d, s.heads);
  im.spec.Set("attention.causal", "true");
  if (qwen2) {
    im.spec.Set("attention.bias", "true", "qwen2: biases on q, k, v");
    im.spec.Set("attention.out_bias", "false", "and none on attn_output");
  } else if (HasTensor(im, "blk.0.attn_q.bias")) {
    im.spec.Set("attention.bias", "true", "blk.0.attn_q.bias");
    const bool out = HasTensor(im, "blk.0.attn_output.bias");
    im.spec.Set("attention.out_bias", out ? "true" : "false", "blk.0.attn_output.bias");
  }
  im.spec.Set("norm.kind", "rmsnorm");
  im.spec.Set("norm.placement", "pre");
  im.spec.Set("norm.eps", Number(m.Positive(a + "attention.layer_norm_rms_epsilon", std::nullopt)),
              a + "attention.layer_norm_rms_epsilon");
  im.spec.Set("norm.final", "true", "output_norm");
  im.spec.Set("feed_forward.activation", "swiglu", "ffn_gate, ffn_up, ffn_down: SiLU-gated");
  im.spec.Set("feed_forward.hidden", std::to_string(m.Size(a + "feed_forward_length")),
              a + "feed_forward_length");
  MapRope(m, im, a, head_dim, qwen2);
  MapTied(im, "Llama 2 and Mistral have one; TinyLlama and Qwen2 0.5B tie it");
  im.spec.Set("weights.layout", "gguf", "llama.cpp's tensor names: token_embd, blk.{layer}.attn_q");
  im.names_in_spec = false;
  for (const auto& [role, stored] : rt::LayoutTensors("gguf")) im.names[role] = stored.name;
}

// The names of a block with q, k and v fused in attn_qkv (gpt2, bloom), every one with a bias.
void FusedBlockNames(Import& im) {
  const std::string l = "blk.{layer}.";
  auto with_bias = [&](const std::string& role, const std::string& name) {
    im.names[role] = name + ".weight";
    im.names[role + "_bias"] = name + ".bias";
  };
  for (const char* role : {"wq", "wk", "wv"}) {
    with_bias(role, l + "attn_qkv");
    im.fused.insert(role);
    im.fused.insert(std::string(role) + "_bias");
  }
  with_bias("attn_norm", l + "attn_norm");
  with_bias("wo", l + "attn_output");
  with_bias("ffn_norm", l + "ffn_norm");
  with_bias("w_up", l + "ffn_up");
  with_bias("w_down", l + "ffn_down");
  with_bias("final_norm", "output_norm");
  im.names["token_embedding"] = "token_embd.weight";
  im.names["classifier"] = "output.weight";
  // torch_transformer is the layout whose fused q, k, v are rows of one [3 d, d] tensor, as
  // llama.cpp stores attn_qkv; the names below replace its own.
  im.spec.Set("weights.layout", "torch_transformer",
              "q, k, v as consecutive rows of one tensor, as llama.cpp's attn_qkv");
}

// What GPT-2 and BLOOM share: a pre-LN decoder with biases everywhere, fused q, k, v, and a
// tanh-approximated GELU (`gelu`: why, for the spec's comment).
void MapBiasedPreLnDecoder(Meta& m, Import& im, const std::string& a, int64_t tokens,
                           const char* gelu) {
  im.spec.Set("family", "decoder");
  const Sizes s = MapSizes(m, im, a, tokens);
  RequireFullHeads(m, a, s.heads);
  MapHeadDim(m, im, a, s.d, s.heads);
  im.spec.Set("attention.causal", "true");
  im.spec.Set("attention.bias", "true", "attn_qkv and attn_output have biases");
  im.spec.Set("norm.kind", "layernorm");
  im.spec.Set("norm.placement", "pre");
  im.spec.Set("norm.eps", Number(m.Positive(a + "attention.layer_norm_epsilon", std::nullopt)),
              a + "attention.layer_norm_epsilon");
  im.spec.Set("norm.bias", "true");
  im.spec.Set("norm.final", "true", "output_norm");
  im.spec.Set("feed_forward.activation", "gelu_tanh", gelu);
  im.spec.Set("feed_forward.hidden", std::to_string(m.Size(a + "feed_forward_length", 4 * s.d)),
              a + "feed_forward_length");
  im.spec.Set("feed_forward.bias", "true");
}

void MapGpt2(Meta& m, Import& im, const std::string& a, int64_t tokens) {
  MapBiasedPreLnDecoder(m, im, a, tokens, "GPT-2's gelu_new: the tanh approximation");
  im.spec.Set("position.kind", "learned", "position_embd");
  MapTied(im, "llama.cpp's converter writes GPT-2's tied wte as output.weight too");
  FusedBlockNames(im);
  im.names["position_embedding"] = "position_embd.weight";
}

void MapBloom(Meta& m, Import& im, const std::string& a, int64_t tokens) {
  MapBiasedPreLnDecoder(m, im, a, tokens, "BloomGelu: the tanh approximation");
  im.spec.Set("norm.embedding", "true", "token_embd_norm");
  im.spec.Set("position.kind", "alibi");
  MapTied(im, "llama.cpp's converter writes BLOOM's tied embedding as output.weight too");
  FusedBlockNames(im);
  im.names["embed_norm"] = "token_embd_norm.weight";
  im.names["embed_norm_bias"] = "token_embd_norm.bias";
}

void MapBert(Meta& m, Import& im, const std::string& a, int64_t tokens) {
  im.spec.Set("family", "encoder");
  const Sizes s = MapSizes(m, im, a, tokens);
  if (m.OptBool(a + "attention.causal").value_or(false)) {
    m.Refuse(a + "attention.causal", "true: a causal BERT is not imported");
  }
  if (auto kv = m.OptInt(a + "attention.head_count_kv"); kv && *kv != s.heads) {
    m.Refuse(a + "attention.head_count_kv", fmt::format("{} differs from head_count", *kv));
  }
  MapHeadDim(m, im, a, s.d, s.heads);
  im.spec.Set("attention.causal", "false", "bidirectional");
  im.spec.Set("attention.bias", "true");
  im.spec.Set("norm.kind", "layernorm");
  im.spec.Set("norm.placement", "post", "BERT is post-LN: attn_output_norm, layer_output_norm");
  im.spec.Set("norm.eps", Number(m.Positive(a + "attention.layer_norm_epsilon", std::nullopt)),
              a + "attention.layer_norm_epsilon");
  im.spec.Set("norm.bias", "true");
  im.spec.Set("norm.final", "false");
  im.spec.Set("norm.embedding", "true", "token_embd_norm");
  im.spec.Set("feed_forward.activation", "gelu", "BERT's gelu (erf)");
  im.spec.Set("feed_forward.hidden", std::to_string(m.Size(a + "feed_forward_length")),
              a + "feed_forward_length");
  im.spec.Set("feed_forward.bias", "true");
  im.spec.Set("position.kind", "learned", "position_embd");
  const auto types = m.OptInt("tokenizer.ggml.token_type_count");
  if (types && *types < 0) {
    m.Refuse("tokenizer.ggml.token_type_count", fmt::format("expected a count, found {}", *types));
  }
  if (types && *types > 0) {
    im.spec.Set("embeddings.token_types", std::to_string(*types),
                "tokenizer.ggml.token_type_count");
  }
  // How llama.cpp pools the embeddings (`embed --pool` chooses at run time).
  m.Use(a + "pooling_type");
  im.spec.Set("pooler", "false", "llama.cpp's converter keeps no pooler.dense");
  const std::string l = "blk.{layer}.";
  const std::pair<const char*, std::string> names[] = {
      {"token_embedding", "token_embd"},
      {"position_embedding", "position_embd"},
      {"token_type_embedding", "token_types"},
      {"embed_norm", "token_embd_norm"},
      {"wq", l + "attn_q"},
      {"wk", l + "attn_k"},
      {"wv", l + "attn_v"},
      {"wo", l + "attn_output"},
      {"attn_norm", l + "attn_output_norm"},
      {"w_up", l + "ffn_up"},
      {"w_down", l + "ffn_down"},
      {"ffn_norm", l + "layer_output_norm"},
  };
  for (const auto& [role, name] : names) {
    im.names[role] = name + ".weight";
    const std::string r = role;
    if (r != "token_embedding" && r != "position_embedding" && r != "token_type_embedding") {
      im.names[r + "_bias"] = name + ".bias";
    }
  }
  im.spec.Set("weights.layout", "gguf", "llama.cpp's names, given for each role below");
}

void MapT5(Meta& m, Import& im, const std::string& a, int64_t tokens, const rt::GgufVocab& vocab) {
  im.spec.Set("family", "encoder-decoder");
  const Sizes s = MapSizes(m, im, a, tokens);
  im.decoder_layers = m.Size(a + "decoder_block_count", im.layers);
  im.spec.Set("sizes.n_layers", std::to_string(im.layers), a + "block_count: encoder layers");
  im.spec.Set("sizes.n_decoder_layers", std::to_string(im.decoder_layers),
              a + "decoder_block_count (default block_count)");
  if (auto kv = m.OptInt(a + "attention.head_count_kv"); kv && *kv != s.heads) {
    m.Refuse(a + "attention.head_count_kv", fmt::format("{} differs from head_count", *kv));
  }
  const int64_t head_dim = MapHeadDim(m, im, a, s.d, s.heads);
  im.spec.Set("attention.head_dim", std::to_string(head_dim), a + "attention.key_length (d_kv)");
  im.spec.Set("attention.scale", "1", "T5 does not scale q.k");
  im.spec.Set("attention.bias", "false");
  im.spec.Set("norm.kind", "rmsnorm", "T5LayerNorm: no mean, no bias");
  im.spec.Set("norm.placement", "pre");
  const std::string rms = a + "attention.layer_norm_rms_epsilon";
  const std::string plain = a + "attention.layer_norm_epsilon";
  const bool has_rms = m.Has(rms);
  const double eps = has_rms ? m.Positive(rms, std::nullopt) : m.Positive(plain, std::nullopt);
  if (has_rms) m.Use(plain);
  im.spec.Set("norm.eps", Number(eps), has_rms ? rms : plain);
  im.spec.Set("norm.final", "true", "enc.output_norm, dec.output_norm");
  const bool gated = HasTensor(im, "enc.blk.0.ffn_gate.weight");
  im.spec.Set("feed_forward.activation", gated ? "geglu" : "relu",
              !im.tensors ? "the file holds no tensors: T5 v1.0's relu assumed"
              : gated     ? "enc.blk.0.ffn_gate: gated-gelu (T5 v1.1, Flan-T5)"
                          : "no ffn_gate: relu (T5 v1.0)");
  im.spec.Set("feed_forward.hidden", std::to_string(m.Size(a + "feed_forward_length")),
              a + "feed_forward_length");
  im.spec.Set("position.kind", "t5_relative");
  im.spec.Set("position.t5.num_buckets",
              std::to_string(m.Size(a + "attention.relative_buckets_count", 32)),
              a + "attention.relative_buckets_count");
  im.spec.Set("position.t5.max_distance", "128", "not in GGUF metadata: T5's 128");
  MapTied(im, "t5-small ties it, T5 v1.1 does not");
  if (HasTensor(im, "token_embd.weight") && !HasTensor(im, "output.weight")) {
    im.spec.Set("embeddings.output_scale", Number(1.0 / std::sqrt(static_cast<double>(s.d))),
                "d_model^-0.5: T5 rescales the decoder output before its tied classifier");
  }
  int64_t start = m.OptInt(a + "decoder_start_token_id").value_or(std::max(vocab.pad_id, 0));
  if (start < 0 || start >= im.vocab) {
    m.Refuse(a + "decoder_start_token_id",
             fmt::format("{} is not a token id below the vocabulary size ({})", start, im.vocab));
  }
  im.spec.Set("tokenizer.decoder_start", std::to_string(start),
              a + "decoder_start_token_id (default: the padding id)");
  const std::pair<const char*, const char*> block[] = {
      {"attn_norm", "attn_norm"}, {"wq", "attn_q"},   {"wk", "attn_k"},
      {"wv", "attn_v"},           {"wo", "attn_o"},   {"ffn_norm", "ffn_norm"},
      {"w_gate", "ffn_gate"},     {"w_up", "ffn_up"}, {"w_down", "ffn_down"}};
  for (const auto& [role, name] : block) {
    im.names[std::string("enc_") + role] = std::string("enc.blk.{layer}.") + name + ".weight";
    im.names[role] = std::string("dec.blk.{layer}.") + name + ".weight";
  }
  if (!gated) {
    im.names.erase("enc_w_gate");
    im.names.erase("w_gate");
  }
  for (const char* p : {"q", "k", "v", "o"}) {
    im.names[std::string("cross_w") + p] =
        std::string("dec.blk.{layer}.cross_attn_") + p + ".weight";
  }
  im.names["cross_norm"] = "dec.blk.{layer}.cross_attn_norm.weight";
  im.names["enc_relative_bias"] = "enc.blk.0.attn_rel_b.weight";
  im.names["relative_bias"] = "dec.blk.0.attn_rel_b.weight";
  im.names["enc_final_norm"] = "enc.output_norm.weight";
  im.names["final_norm"] = "dec.output_norm.weight";
  im.names["token_embedding"] = "token_embd.weight";
  im.names["classifier"] = "output.weight";
  im.spec.Set("weights.layout", "gguf", "llama.cpp's names, given for each role below");
}

// weights.dtypes: each matrix as the file stores it, so that the compiled code reads its blocks in
// place. Float matrices (f32, f16, bf16) need no entry: the f32 model reads f32 in place and
// converts the others once at load.
void MapDtypes(Meta& m, Import& im, bool encoder_decoder) {
  if (!im.tensors) return;
  static const char* kMatrices[] = {
      "wq",       "wk",       "wv",       "wo",       "w_gate",     "w_up",           "w_down",
      "cross_wq", "cross_wk", "cross_wv", "cross_wo", "classifier", "token_embedding"};
  for (const char* matrix : kMatrices) {
    for (const std::string prefix : {"", "enc_"}) {
      const std::string role = prefix + matrix;
      auto it = im.names.find(role);
      if (it == im.names.end() || im.fused.count(role)) continue;
      // A block-quantized token embedding stays in its blocks (rows dequantized as they are
      // gathered) when it is only gathered; tied to the classifier it is read as f32.
      if (role == "token_embedding" && !HasTensor(im, "output.weight")) continue;
      const std::string& name = it->second;
      const bool per_layer = name.find("{layer}") != std::string::npos;
      const int64_t layers = !per_layer                          ? 1
                             : encoder_decoder && prefix.empty() ? im.decoder_layers
                                                                 : im.layers;
      std::vector<rt::DType> dtypes;
      std::string first_block, first_float;
      for (int64_t l = 0; l < layers; ++l) {
        const std::string tensor = rt::TensorName(name, l);
        const rt::TensorView* view = im.tensors->Find(tensor);
        if (!view) break;  // `lmc check --weights` and the binary name a missing tensor.
        dtypes.push_back(view->dtype);
        (rt::IsBlockQuantized(view->dtype) ? first_block : first_float) = tensor;
      }
      if (dtypes.size() != static_cast<size_t>(layers) || first_block.empty()) continue;
      if (!first_float.empty()) {
        m.Refuse("tensor " + first_float,
                 fmt::format("is {} while {} is block-quantized: weights.dtypes lists block types "
                             "per layer only",
                             rt::DTypeName(im.tensors->Find(first_float)->dtype), first_block));
      }
      std::vector<std::string> spelled;
      for (rt::DType d : dtypes) spelled.push_back(rt::DTypeName(d));
      const bool one =
          std::all_of(dtypes.begin(), dtypes.end(), [&](rt::DType d) { return d == dtypes[0]; });
      im.spec.Set("weights.dtypes." + role,
                  one ? spelled[0] : fmt::format("[{}]", fmt::join(spelled, ", ")),
                  name + (one ? " as stored" : " as stored, per layer"));
    }
  }
}

// tokenizer.* keys: the file's own vocabulary, its special ids, its chat template.
void MapTokenizer(Meta& m, Import& im, const rt::GgufVocab& vocab, const fs::path& file,
                  const fs::path& spec_dir) {
  for (const char* key : {"model",
                          "pre",
                          "tokens",
                          "scores",
                          "token_type",
                          "merges",
                          "precompiled_charsmap",
                          "add_bos_token",
                          "add_eos_token",
                          "add_sep_token",
                          "add_space_prefix",
                          "remove_extra_whitespaces",
                          "bos_token_id",
                          "eos_token_id",
                          "unknown_token_id",
                          "seperator_token_id",
                          "padding_token_id",
                          "cls_token_id",
                          "mask_token_id",
                          "eot_token_id",
                          "eom_token_id",
                          "prefix_token_id",
                          "suffix_token_id",
                          "middle_token_id",
                          "fim_pre_token_id",
                          "fim_suf_token_id",
                          "fim_mid_token_id",
                          "fim_pad_token_id",
                          "fim_rep_token_id",
                          "fim_sep_token_id",
                          "token_type_count"}) {
    m.Use(std::string("tokenizer.ggml.") + key);
  }
  std::string kind = "none", why;
  if (vocab.tokens.empty()) {
    why = "the file has no tokenizer.ggml.tokens";
  } else {
    try {
      rt::MakeGgufTokenizer(vocab);
      kind = "gguf";
    } catch (const rt::Error& e) {
      im.warnings.push_back(
          fmt::format("{}; tokenizer.kind is none (give the binary --tokenizer)", e.what()));
      why = "lmc does not read this file's tokenizer (see the warning above)";
    }
  }
  im.spec.Set("tokenizer.kind", kind,
              kind == "gguf" ? fmt::format("tokenizer.ggml.*: this file's own vocabulary ({})",
                                           rt::EscapeControlBytes(vocab.model))
                             : why);
  const std::string relative = Quote(RelativeTo(file, spec_dir));
  if (kind == "gguf") im.spec.Set("tokenizer.file", relative, "relative to this spec");
  // llama.cpp prepends BOS when add_bos_token says so; without the key, for SentencePiece vocabs.
  const bool add_bos = vocab.add_bos.value_or(vocab.model == "llama");
  auto special = [&](int id, const char* spec_key, const char* key) {
    if (id < 0) return;
    if (id >= im.vocab) {
      Warn(im, m, key,
           fmt::format("{} is not below the vocabulary size ({}); left out", id, im.vocab));
      return;
    }
    im.spec.Set(std::string("tokenizer.") + spec_key, std::to_string(id), key);
  };
  if (add_bos) {
    special(vocab.bos_id, "bos", "tokenizer.ggml.bos_token_id");
  } else if (vocab.bos_id >= 0) {
    im.spec.Note("tokenizer",
                 fmt::format("tokenizer.ggml.add_bos_token is false: no bos ({} is the "
                             "file's bos_token_id), as llama.cpp",
                             vocab.bos_id));
  }
  special(vocab.eos_id, "eos", "tokenizer.ggml.eos_token_id");
  special(vocab.pad_id, "pad", "tokenizer.ggml.padding_token_id");
  special(vocab.unk_id, "unk", "tokenizer.ggml.unknown_token_id");
  if (im.arch == "bert") {
    special(vocab.cls_id, "cls", "tokenizer.ggml.cls_token_id");
    special(vocab.sep_id, "sep", "tokenizer.ggml.seperator_token_id");
    special(vocab.mask_id, "mask", "tokenizer.ggml.mask_token_id");
  }
  if (m.OptString("tokenizer.chat_template")) {
    im.spec.Set("tokenizer.chat_template", relative,
                "this file's tokenizer.chat_template, compiled by lmc build");
  }
}

std::string Printable(const std::string& s) {
  std::string out;
  for (char c : s) out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
  return out;
}

int Import_(const std::string& path, const std::string& output, const std::string& name,
            llvm::raw_ostream& out, llvm::raw_ostream& err) {
  std::error_code ec;
  const fs::path out_path(output);
  if (fs::is_directory(out_path, ec)) {
    throw ImportError{fmt::format("-o {} is a directory; give the path of the spec file", output)};
  }
  if (fs::exists(out_path, ec) && fs::equivalent(out_path, path, ec)) {
    throw ImportError{
        fmt::format("-o {} is the input; lmc import does not overwrite its inputs", output)};
  }
  Meta m(ReadMetadata(path), path);
  Import im;
  const auto arch = m.OptString("general.architecture");
  if (!arch) m.Refuse("general.architecture", "missing: cannot tell the architecture");
  im.arch = *arch;
  static const std::set<std::string> kArchitectures = {"llama", "qwen2", "gpt2",
                                                       "bloom", "bert",  "t5"};
  if (!kArchitectures.count(im.arch)) {
    m.Refuse("general.architecture",
             fmt::format("'{}' is not an architecture lmc imports (expected llama, qwen2, gpt2, "
                         "bloom, bert or t5)",
                         rt::EscapeControlBytes(im.arch)));
  }
  // general.*: what the model is called, by whom, under which license, its file type and
  // quantization version; nothing that changes what is computed.
  for (const std::string& key : m.Unused()) {
    if (key.starts_with("general.") || key.starts_with("quantize.imatrix.")) m.Use(key);
  }
  if (auto split = m.OptInt("split.count"); split && *split > 1) {
    m.Refuse("split.count", fmt::format("the model is split in {} files; lmc reads one GGUF "
                                        "(llama-gguf-split --merge joins them)",
                                        *split));
  }
  m.Use("split.no");
  m.Use("split.tensors.count");

  im.tensors = rt::GgufCheckpoint::Open(path);
  if (im.tensors->Names().empty()) im.tensors.reset();
  if (HasTensor(im, "rope_freqs.weight") && im.arch != "llama" && im.arch != "qwen2") {
    m.Refuse("tensor rope_freqs.weight",
             fmt::format("per-dimension RoPE frequency factors (Llama 3's rope scaling) in a "
                         "{} file; lmc maps them for llama and qwen2",
                         im.arch));
  }
  const rt::GgufVocab vocab = rt::ReadGgufVocab(path);
  const auto tokens = static_cast<int64_t>(vocab.tokens.size());
  const std::string a = im.arch + ".";
  if (im.arch == "llama" || im.arch == "qwen2") {
    MapLlama(m, im, a, im.arch == "qwen2", tokens);
  } else if (im.arch == "gpt2") {
    MapGpt2(m, im, a, tokens);
  } else if (im.arch == "bloom") {
    MapBloom(m, im, a, tokens);
  } else if (im.arch == "bert") {
    MapBert(m, im, a, tokens);
  } else {
    MapT5(m, im, a, tokens, vocab);
  }
  const fs::path spec_dir = fs::absolute(out_path, ec).parent_path();
  MapTokenizer(m, im, vocab, fs::path(path), spec_dir);
  im.spec.Set("weights.format", "gguf", "this very file: pass it to the binary's --weights");
  if (im.names_in_spec) {
    for (const auto& [role, tensor] : im.names) im.spec.Set("weights.names." + role, Quote(tensor));
  }
  MapDtypes(m, im, im.arch == "t5");

  for (const auto& key : m.Unused()) {
    Warn(im, m, key, "not understood; the spec ignores it");
  }

  const std::string model_name = Printable(m.OptString("general.name").value_or(""));
  const std::string spec_name =
      !name.empty() ? name
                    : SpecName(model_name.empty() ? fs::path(path).stem().string() : model_name);
  const std::string shown_path = Printable(fs::absolute(path, ec).lexically_normal().string());
  std::string header = fmt::format(
      "# Imported by `lmc import` from {} (general.architecture {}).\n"
      "# Each value's comment names the GGUF metadata key or tensor it came from.\n"
      "# The binary reads this very file: <binary> generate --weights {}\n",
      shown_path, im.arch, shown_path);
  if (im.tensors) {
    std::map<std::string, int> counts;
    for (const auto& t : im.tensors->Names()) counts[rt::DTypeName(im.tensors->Find(t)->dtype)]++;
    std::vector<std::string> parts;
    for (const auto& [dtype, n] : counts) parts.push_back(fmt::format("{} {}", n, dtype));
    header += fmt::format(
        "# Its tensors: {}. Block-quantized matrices (and an untied token embedding) are read "
        "in place (weights.dtypes); f16/bf16 ones are converted to f32 at load.\n",
        fmt::join(parts, ", "));
  } else {
    header +=
        "# The file holds no tensors (a vocabulary-only GGUF): the spec assumes llama.cpp's "
        "usual tensors.\n";
  }
  for (const auto& w : im.warnings) header += "# warning: " + Printable(w) + "\n";
  YamlSpec top;
  top.Set("lmc", "1");
  top.Set("name", Quote(spec_name));
  top.Set("description",
          Quote(fmt::format("{} ({}) imported from {}", model_name.empty() ? "a model" : model_name,
                            im.arch, fs::path(path).filename().string())));
  std::string yaml = top.Render(header) + im.spec.Render("");
  for (unsigned char ch : yaml) {
    if (ch < 0x20 && ch != '\n') {
      throw ImportError{
          fmt::format("{}: a path holds a control character; rename the file", Printable(path))};
    }
  }
  const std::string problem =
      CheckSpecTextKeepingTemplateOut(yaml, output, path + ": ", im.warnings);
  if (!problem.empty()) {
    throw ImportError{
        fmt::format("{}: the imported spec would be invalid: {}", Printable(path), problem)};
  }
  for (const auto& w : im.warnings) err << "lmc: warning: " << w << "\n";
  std::string error;
  if (!WriteFileAtomically(output, yaml, 0644, error)) throw ImportError{error};
  out << output << ": imported " << im.arch << " (" << spec_name << "), " << im.warnings.size()
      << " warning" << (im.warnings.size() == 1 ? "" : "s") << "\n";
  return 0;
}

}  // namespace

bool IsGgufInput(const std::string& path) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) return true;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  char magic[4] = {};
  const bool gguf = std::fread(magic, 1, 4, f) == 4 && std::memcmp(magic, "GGUF", 4) == 0;
  std::fclose(f);
  return gguf;
}

int RunImportGguf(const std::string& path, const std::string& output, const std::string& name,
                  llvm::raw_ostream& out, llvm::raw_ostream& err) {
  try {
    return Import_(path, output, name, out, err);
  } catch (const ImportError& e) {
    err << "lmc: error: " << e.message << "\n";
  } catch (const rt::Error& e) {
    err << "lmc: error: " << e.what() << "\n";
  }
  return 1;
}

}  // namespace lmc
