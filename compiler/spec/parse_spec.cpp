#include "compiler/spec/parse_spec.h"

#include <fmt/format.h>
#include <llvm/ADT/StringRef.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <vector>

namespace lmc {

namespace {

// The known key closest to `key`, if it is close enough to be a likely typo.
std::string Suggest(const std::string& key, const std::vector<std::string>& known) {
  std::string best;
  unsigned best_distance = 3;
  for (const auto& candidate : known) {
    unsigned distance = llvm::StringRef(key).edit_distance(candidate, true, best_distance);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

// C++20 keywords and alternative tokens, and the namespaces generated code
// lives in or uses.
constexpr const char* kReservedNames[] = {
    "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break",
    "case", "catch", "char", "char8_t", "char16_t", "char32_t", "class", "compl", "concept",
    "const", "consteval", "constexpr", "constinit", "const_cast", "continue", "co_await",
    "co_return", "co_yield", "decltype", "default", "delete", "do", "double", "dynamic_cast",
    "else", "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto", "if",
    "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "not_eq", "nullptr",
    "operator", "or", "or_eq", "private", "protected", "public", "register", "reinterpret_cast",
    "requires", "return", "short", "signed", "sizeof", "static", "static_assert", "static_cast",
    "struct", "switch", "template", "this", "thread_local", "throw", "true", "try", "typedef",
    "typeid", "typename", "union", "unsigned", "using", "virtual", "void", "volatile", "wchar_t",
    "while", "xor", "xor_eq", "final", "override", "import", "module",
    // Namespaces and names the generated code and runtime use.
    "std", "lmc", "rt", "models", "kernels", "k", "hwy", "hn", "fmt", "llvm", "yaml", "posix",
    "main", "m"};
constexpr size_t kMaxNameLength = 64;

// Why `name` cannot name a model, or "" if it can. The emitter turns a name
// into a C++ identifier by lowercasing it and replacing '-' by '_'.
std::string NameProblem(const std::string& name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > kMaxNameLength) {
    return fmt::format("is {} characters long; a name has at most {}", name.size(), kMaxNameLength);
  }
  if (!std::isalpha(static_cast<unsigned char>(name[0]))) {
    return "must start with a letter (it names a C++ namespace and files)";
  }
  std::string identifier;
  for (char c : name) {
    unsigned char u = static_cast<unsigned char>(c);
    if (!std::isalnum(u) && c != '_' && c != '-') {
      return "may hold only letters, digits, '_' and '-' (it names a C++ namespace and files)";
    }
    identifier += c == '-' ? '_' : static_cast<char>(std::tolower(u));
  }
  if (identifier.find("__") != std::string::npos) {
    return "must not hold two '_' or '-' in a row (C++ reserves such identifiers)";
  }
  for (const char* reserved : kReservedNames) {
    if (identifier == reserved) {
      return fmt::format(
          "would be the C++ identifier '{}', which C++ or lmc already uses; "
          "choose another name",
          identifier);
    }
  }
  return "";
}

std::string KindName(SpecNode::Kind kind) {
  switch (kind) {
    case SpecNode::Kind::kNull:
      return "nothing";
    case SpecNode::Kind::kScalar:
      return "a value";
    case SpecNode::Kind::kMap:
      return "a mapping";
    case SpecNode::Kind::kSequence:
      return "a list";
  }
  return "?";
}

// Reads the keys of one mapping, remembering which keys exist so the rest can
// be reported as unknown.
class Section {
 public:
  Section(const SpecNode* node, std::string path, Spec& spec, Diagnostics& diags)
      : node_(node), path_(std::move(path)), spec_(spec), diags_(diags) {}

  bool present() const { return node_ != nullptr; }

  Section Child(const std::string& key, bool required) {
    const SpecNode* child = Lookup(key, required);
    if (child && child->kind != SpecNode::Kind::kMap) {
      Error(*child,
            fmt::format("expected a mapping for {}, found {}", Path(key), KindName(child->kind)));
      child = nullptr;
    }
    return Section(child, Path(key), spec_, diags_);
  }

  void Int(const std::string& key, int64_t& out, int64_t min, int64_t max, bool required) {
    const SpecNode* value = Scalar(key, required);
    if (!value) return;
    int64_t parsed = 0;
    const std::string& s = value->scalar;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), parsed);
    if (ec != std::errc() || end != s.data() + s.size() || value->quoted) {
      Error(*value, fmt::format("expected an integer for {}, found {}", Path(key), Found(*value)));
      return;
    }
    if (parsed < min || parsed > max) {
      Error(*value, fmt::format("{} must be in [{}, {}], found {}", Path(key), min, max, parsed));
      return;
    }
    out = parsed;
  }

  // Reads a number in (min, max] when min_exclusive, else [min, max].
  void Float(const std::string& key, double& out, double min, double max, bool min_exclusive,
             bool required) {
    const SpecNode* value = Scalar(key, required);
    if (!value) return;
    const std::string& s = value->scalar;
    char* end = nullptr;
    double parsed = s.empty() || value->quoted ? NAN : std::strtod(s.c_str(), &end);
    if (std::isnan(parsed) || std::isinf(parsed) || end != s.c_str() + s.size()) {
      Error(*value, fmt::format("expected a number for {}, found {}", Path(key), Found(*value)));
      return;
    }
    if ((min_exclusive ? parsed <= min : parsed < min) || parsed > max) {
      Error(*value, fmt::format("{} must be in {}{}, {}], found {}", Path(key),
                                min_exclusive ? "(" : "[", min, max, s));
      return;
    }
    // Generated code holds these as float: a value that is not a normal float
    // would silently become 0 or lose most of its digits.
    if (parsed != 0 && (std::fabs(parsed) < std::numeric_limits<float>::min() ||
                        std::fabs(parsed) > std::numeric_limits<float>::max())) {
      Error(*value, fmt::format("{} must be representable as a normal 32-bit float (magnitude "
                                "in [{:g}, {:g}]), found {}",
                                Path(key), std::numeric_limits<float>::min(),
                                std::numeric_limits<float>::max(), s));
      return;
    }
    out = parsed;
  }

  void Bool(const std::string& key, bool& out) {
    const SpecNode* value = Scalar(key, false);
    if (!value) return;
    if (value->scalar == "true" && !value->quoted) {
      out = true;
    } else if (value->scalar == "false" && !value->quoted) {
      out = false;
    } else {
      Error(*value,
            fmt::format("expected true or false for {}, found '{}'", Path(key), value->scalar));
    }
  }

  // A model name: it becomes a C++ namespace and file names, so it must be an
  // identifier that cannot collide with C++ or with lmc's own namespaces.
  void Name(const std::string& key, std::string& out) {
    const SpecNode* value = Scalar(key, true);
    if (!value) return;
    const std::string& name = value->scalar;
    std::string problem = NameProblem(name);
    if (!problem.empty()) {
      Error(*value, name.empty() ? fmt::format("{} {}", Path(key), problem)
                                 : fmt::format("{} '{}' {}", Path(key), name, problem));
      return;
    }
    out = name;
  }

  void String(const std::string& key, std::string& out, bool required) {
    const SpecNode* value = Scalar(key, required);
    if (!value) return;
    if (value->scalar.empty()) {
      Error(*value, fmt::format("{} must not be empty", Path(key)));
      return;
    }
    // Quoted YAML escapes ("\r", "\0") can put control bytes in a string;
    // no spec string needs them, and generated code embeds these strings.
    for (size_t i = 0; i < value->scalar.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(value->scalar[i]);
      if (c < 0x20 || c == 0x7f) {
        Error(*value, fmt::format("{} must not contain control characters (found 0x{:02x} at "
                                  "byte {})",
                                  Path(key), c, i));
        return;
      }
    }
    out = value->scalar;
  }

  template <typename T, size_t N>
  void Enum(const std::string& key, T& out, const EnumName<T> (&table)[N], bool required) {
    const SpecNode* value = Scalar(key, required);
    if (!value) return;
    std::vector<std::string> names;
    for (const auto& entry : table) {
      if (value->scalar == entry.name) {
        out = entry.value;
        return;
      }
      names.push_back(entry.name);
    }
    std::string message = fmt::format("unknown {} '{}'; expected one of: {}", Path(key),
                                      value->scalar, fmt::join(names, ", "));
    std::string suggestion = Suggest(value->scalar, names);
    if (!suggestion.empty()) message += fmt::format(" (did you mean '{}'?)", suggestion);
    Error(*value, message);
  }

  // weights.names: a tensor name for any of the known weight roles.
  void WeightNames(const std::string& key, std::map<std::string, std::string>& out) {
    Section map = Child(key, false);
    if (!map.present()) return;
    for (const auto& role : kWeightRoles) {
      for (std::string name :
           {std::string(role.name), kEncoderRolePrefix + std::string(role.name)}) {
        if (name.starts_with(kEncoderRolePrefix) &&
            std::string_view(role.name).starts_with("cross_"))
          continue;
        std::string text;
        map.String(name, text, false);
        if (!text.empty()) out[name] = text;
      }
    }
    map.Finish();
  }

  // weights.dtypes: for any of the known weight roles, the dtype its matrices are stored in,
  // as one name or a list of one per layer (block types only). f16 is not a dtype a matrix
  // is read as (it is widened at load): such a tensor needs no entry.
  void WeightDTypes(const std::string& key, std::map<std::string, std::vector<rt::DType>>& out) {
    Section map = Child(key, false);
    if (!map.present()) return;
    for (const auto& role : kWeightRoles) {
      for (std::string name :
           {std::string(role.name), kEncoderRolePrefix + std::string(role.name)}) {
        if (name.starts_with(kEncoderRolePrefix) &&
            std::string_view(role.name).starts_with("cross_"))
          continue;
        const SpecNode* value = map.Lookup(name, false);
        if (!value) continue;
        std::vector<const SpecNode*> items;
        if (value->kind == SpecNode::Kind::kScalar) {
          items.push_back(value);
        } else if (value->kind == SpecNode::Kind::kSequence && !value->items.empty()) {
          for (const SpecNode& item : value->items) items.push_back(&item);
        } else {
          map.Error(*value, fmt::format("expected a dtype or a list of one per layer for {}, "
                                        "found {}",
                                        map.Path(name), KindName(value->kind)));
          continue;
        }
        std::vector<rt::DType> dtypes;
        for (const SpecNode* item : items) {
          const auto dtype = item->kind == SpecNode::Kind::kScalar && !item->quoted
                                 ? rt::DTypeByName(item->scalar)
                                 : std::nullopt;
          if (!dtype || *dtype == rt::DType::kF16 ||
              (items.size() > 1 && !rt::IsBlockQuantized(*dtype))) {
            std::vector<std::string> names;
            for (rt::DType d : rt::kAllDTypes) {
              if (d != rt::DType::kF16 && (items.size() == 1 || rt::IsBlockQuantized(d))) {
                names.push_back(rt::DTypeName(d));
              }
            }
            map.Error(*item, fmt::format("expected one of {} for {}{}, found {}",
                                         fmt::join(names, ", "), map.Path(name),
                                         items.size() > 1 ? " (a list per layer: block types)" : "",
                                         item->kind == SpecNode::Kind::kScalar
                                             ? Found(*item)
                                             : std::string(KindName(item->kind))));
            continue;
          }
          dtypes.push_back(*dtype);
        }
        if (dtypes.size() == items.size()) out[name] = std::move(dtypes);
      }
    }
    map.Finish();
  }

  // Reports keys nobody asked for.
  void Finish() {
    if (!node_) return;
    for (const auto& value : node_->entries) {
      const std::string& key = value.key;
      if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
      std::string where = path_.empty() ? "at the top level" : "in " + path_;
      std::string message = fmt::format("unknown key '{}' {}", key, where);
      std::string suggestion = Suggest(key, known_);
      if (!suggestion.empty()) message += fmt::format("; did you mean '{}'?", suggestion);
      diags_.Error(value.key_location, message);
    }
  }

 private:
  // "'abc'", or for "512" in quotes "the string '512' (remove the quotes)".
  static std::string Found(const SpecNode& value) {
    return value.quoted ? fmt::format("the string '{}' (remove the quotes)", value.scalar)
                        : fmt::format("'{}'", value.scalar);
  }

  std::string Path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  void Error(const SpecNode& at, const std::string& message) { diags_.Error(at.location, message); }

  const SpecNode* Lookup(const std::string& key, bool required) {
    known_.push_back(key);
    const SpecNode* value = node_ ? node_->Find(key) : nullptr;
    if (!value) {
      if (required && node_) {
        Location at = node_->key_location.valid() ? node_->key_location : node_->location;
        std::string where = path_.empty() ? "the spec" : path_;
        diags_.Error(at, fmt::format("missing key '{}' in {}", key, where));
      }
      return nullptr;
    }
    spec_.locations[Path(key)] = value->location;
    return value;
  }

  const SpecNode* Scalar(const std::string& key, bool required) {
    const SpecNode* value = Lookup(key, required);
    if (value && value->kind != SpecNode::Kind::kScalar) {
      Error(*value, fmt::format("expected a single value for {}, found {}", Path(key),
                                KindName(value->kind)));
      return nullptr;
    }
    return value;
  }

  const SpecNode* node_;
  std::string path_;
  Spec& spec_;
  Diagnostics& diags_;
  std::vector<std::string> known_;
};

constexpr int64_t kMaxSize = int64_t{1} << 24;  // Guards every size against absurd values.

}  // namespace

std::optional<Spec> ParseSpec(const SpecNode& root, Diagnostics& diags) {
  int errors_before = diags.error_count();
  Spec spec;
  Section top(&root, "", spec, diags);

  int64_t version = 1;
  top.Int("lmc", version, 1, 1000, true);
  if (version != 1) {
    diags.Error(
        spec.Where("lmc"),
        fmt::format("spec format version {} is not supported; this lmc reads version 1", version));
  }
  spec.format_version = static_cast<int>(version);
  top.Name("name", spec.name);
  std::string description;
  top.String("description", description, false);
  top.Enum("family", spec.family, kFamilyNames, true);
  top.Enum("dtype", spec.dtype, kDTypeNames, false);

  Section sizes = top.Child("sizes", true);
  sizes.Int("vocab", spec.sizes.vocab, 1, kMaxSize, true);
  sizes.Int("d_model", spec.sizes.d_model, 1, kMaxSize, true);
  sizes.Int("n_layers", spec.sizes.n_layers, 1, 4096, true);
  sizes.Int("n_decoder_layers", spec.sizes.n_decoder_layers, 1, 4096, false);
  sizes.Int("max_seq_len", spec.sizes.max_seq_len, 1, kMaxSize, true);
  sizes.Finish();

  Section attention = top.Child("attention", true);
  attention.Int("n_heads", spec.attention.n_heads, 1, 4096, true);
  attention.Int("n_kv_heads", spec.attention.n_kv_heads, 1, 4096, false);
  attention.Int("head_dim", spec.attention.head_dim, 1, 65536, false);
  spec.attention.causal = spec.family != Family::kEncoder;
  attention.Bool("causal", spec.attention.causal);
  attention.Bool("bias", spec.attention.bias);
  spec.attention.out_bias = spec.attention.bias;
  attention.Bool("out_bias", spec.attention.out_bias);
  attention.Float("scale", spec.attention.scale, 0, 1e6, true, false);
  attention.Enum("kv_cache", spec.attention.kv_cache, kKvCacheNames, false);
  attention.Finish();

  Section norm = top.Child("norm", true);
  norm.Enum("kind", spec.norm.kind, kNormKindNames, true);
  norm.Enum("placement", spec.norm.placement, kNormPlacementNames, false);
  norm.Float("eps", spec.norm.eps, 0, 1, true, false);
  norm.Bool("bias", spec.norm.bias);
  norm.Bool("final", spec.norm.final_norm);
  norm.Bool("embedding", spec.norm.embedding);
  norm.Finish();

  Section ffn = top.Child("feed_forward", true);
  ffn.Enum("activation", spec.feed_forward.activation, kActivationNames, true);
  ffn.Int("hidden", spec.feed_forward.hidden, 1, kMaxSize, false);
  ffn.Float("beta", spec.feed_forward.beta, 0, 1e3, true, false);
  ffn.Bool("bias", spec.feed_forward.bias);
  ffn.Finish();

  Section position = top.Child("position", true);
  position.Enum("kind", spec.position.kind, kPositionKindNames, true);
  Section rope = position.Child("rope", false);
  rope.Float("theta", spec.position.rope.theta, 1, 1e12, false, false);
  rope.Enum("style", spec.position.rope.style, kRopeStyleNames, false);
  rope.Enum("scaling", spec.position.rope.scaling, kRopeScalingNames, false);
  rope.Float("factor", spec.position.rope.factor, 0, 1e6, true, false);
  rope.Float("low_freq_factor", spec.position.rope.low_freq_factor, 0, 1e6, true, false);
  rope.Float("high_freq_factor", spec.position.rope.high_freq_factor, 0, 1e6, true, false);
  rope.Int("original_max_seq_len", spec.position.rope.original_max_seq_len, 1, kMaxSize, false);
  rope.Int("dims", spec.position.rope.dims, 2, kMaxSize, false);
  rope.Finish();
  Section t5 = position.Child("t5", false);
  t5.Int("num_buckets", spec.position.t5.num_buckets, 4, 4096, false);
  t5.Int("max_distance", spec.position.t5.max_distance, 1, kMaxSize, false);
  t5.Finish();
  Section cope = position.Child("cope", false);
  cope.Int("max_positions", spec.position.cope.max_positions, 1, kMaxSize, true);
  cope.Finish();
  position.Finish();

  Section embeddings = top.Child("embeddings", false);
  embeddings.Bool("tied", spec.embeddings.tied);
  embeddings.Int("dim", spec.embeddings.dim, 1, kMaxSize, false);
  embeddings.Float("scale", spec.embeddings.scale, 0, 1e6, true, false);
  embeddings.Int("token_types", spec.embeddings.token_types, 1, 4096, false);
  embeddings.Float("output_scale", spec.embeddings.output_scale, 0, 1e6, true, false);
  embeddings.Finish();

  top.Bool("pooler", spec.pooler);

  Section parallel = top.Child("parallel", false);
  parallel.Int("tensor", spec.parallel.tensor, 1, 4096, false);
  parallel.Finish();

  Section tokenizer = top.Child("tokenizer", true);
  tokenizer.Enum("kind", spec.tokenizer.kind, kTokenizerKindNames, true);
  tokenizer.String("file", spec.tokenizer.file, false);
  tokenizer.Int("bos", spec.tokenizer.bos, 0, kMaxSize, false);
  tokenizer.Int("eos", spec.tokenizer.eos, 0, kMaxSize, false);
  tokenizer.Int("pad", spec.tokenizer.pad, 0, kMaxSize, false);
  tokenizer.Int("unk", spec.tokenizer.unk, 0, kMaxSize, false);
  tokenizer.Int("cls", spec.tokenizer.cls, 0, kMaxSize, false);
  tokenizer.Int("sep", spec.tokenizer.sep, 0, kMaxSize, false);
  tokenizer.Int("mask", spec.tokenizer.mask, 0, kMaxSize, false);
  tokenizer.Int("decoder_start", spec.tokenizer.decoder_start, 0, kMaxSize, false);
  tokenizer.String("chat_template", spec.tokenizer.chat_template, false);
  tokenizer.Finish();

  Section weights = top.Child("weights", true);
  weights.Enum("format", spec.weights.format, kWeightsFormatNames, true);
  spec.weights.layout = spec.weights.format == WeightsFormat::kLlama2c ? WeightsLayout::kLlama2c
                                                                       : WeightsLayout::kLlama;
  weights.Enum("layout", spec.weights.layout, kWeightsLayoutNames, false);
  weights.WeightNames("names", spec.weights.names);
  weights.String("prefix", spec.weights.prefix, false);
  weights.WeightDTypes("dtypes", spec.weights.dtypes);
  weights.Finish();

  top.Finish();
  if (diags.error_count() != errors_before) return std::nullopt;

  // Defaults that depend on other keys.
  if (!spec.Given("attention.n_kv_heads")) spec.attention.n_kv_heads = spec.attention.n_heads;
  if (!spec.Given("attention.head_dim") && spec.sizes.d_model % spec.attention.n_heads == 0) {
    spec.attention.head_dim = spec.sizes.d_model / spec.attention.n_heads;
  }
  if (!spec.Given("attention.scale") && spec.attention.head_dim > 0) {
    spec.attention.scale = 1.0 / std::sqrt(static_cast<double>(spec.attention.head_dim));
  }
  if (!spec.Given("embeddings.dim")) spec.embeddings.dim = spec.sizes.d_model;
  if (spec.tokenizer.kind == TokenizerKind::kLlama2c) {
    // llama2.c's tokenizer.bin has no special-token fields: its ids are fixed.
    if (!spec.Given("tokenizer.bos")) spec.tokenizer.bos = 1;
    if (!spec.Given("tokenizer.eos")) spec.tokenizer.eos = 2;
  }
  if (!spec.Given("feed_forward.hidden") && !IsGated(spec.feed_forward.activation)) {
    spec.feed_forward.hidden = 4 * spec.sizes.d_model;
  }
  spec.resolved_yaml = root.ToYaml();
  return spec;
}

}  // namespace lmc
