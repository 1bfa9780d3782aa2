#include "compiler/ir/ir.h"

#include <fmt/format.h>

namespace lmc::ir {

const Attr* Op::FindAttr(const std::string& name) const {
  for (const auto& [key, value] : attrs) {
    if (key == name) return &value;
  }
  return nullptr;
}

// Missing or mistyped attributes are compiler bugs, not user errors.
std::string MissingAttr(const Op& op, const std::string& name) {
  return fmt::format("internal error: {} has no attribute {} of the expected type", OpName(op.kind),
                     name);
}

DimId Graph::AddDim(std::string name, int64_t size, bool dynamic) {
  DimId existing = FindDim(name);
  if (existing >= 0) return existing;
  dims.push_back(Dim{std::move(name), size, dynamic});
  return static_cast<DimId>(dims.size()) - 1;
}

DimId Graph::FindDim(const std::string& name) const {
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i].name == name) return static_cast<DimId>(i);
  }
  return -1;
}

int Graph::AddValue(std::string name, std::vector<DimId> value_dims, ValueType type) {
  // Keep printed names unique: q, q.1, q.2, ...
  std::string unique = name;
  for (int n = 1;; ++n) {
    bool taken = false;
    for (const auto& v : values) taken = taken || v.name == unique;
    if (!taken) break;
    unique = fmt::format("{}.{}", name, n);
  }
  Value v;
  v.name = unique;
  v.type = type;
  v.dims = std::move(value_dims);
  values.push_back(std::move(v));
  return static_cast<int>(values.size()) - 1;
}

int Graph::AddWeight(std::string role, std::string tensor, std::vector<DimId> weight_dims,
                     bool per_layer) {
  weights.push_back(Weight{std::move(role), std::move(tensor), rt::DType::kF32,
                           std::move(weight_dims), per_layer});
  return static_cast<int>(weights.size()) - 1;
}

int Graph::AddState(std::string name, std::vector<DimId> state_dims, bool per_layer) {
  states.push_back(State{std::move(name), rt::DType::kF32, std::move(state_dims), per_layer});
  return static_cast<int>(states.size()) - 1;
}

int64_t Graph::Elements(const std::vector<DimId>& of) const {
  int64_t n = 1;
  for (DimId d : of) n *= dims[d].size;
  return n;
}

int64_t Graph::RowElements(int value) const {
  const auto& d = values[value].dims;
  return d.size() <= 1 ? 1 : Elements(std::vector<DimId>(d.begin() + 1, d.end()));
}

std::span<const InfoField> InfoFields() {
  static const InfoField fields[] = {
      {"family", &ModuleInfo::family},
      {"weights_format", &ModuleInfo::weights_format},
      {"tensor_prefix", &ModuleInfo::tensor_prefix},
      {"module_prefix", &ModuleInfo::module_prefix},
      {"tokenizer_kind", &ModuleInfo::tokenizer_kind},
      {"tokenizer_file", &ModuleInfo::tokenizer_file},
      {"bos", &ModuleInfo::bos},
      {"eos", &ModuleInfo::eos},
      {"decoder_start", &ModuleInfo::decoder_start},
      {"cls", &ModuleInfo::cls},
      {"sep", &ModuleInfo::sep},
      {"spec_yaml", &ModuleInfo::spec_yaml},
  };
  return fields;
}

std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

namespace {

class Printer {
 public:
  explicit Printer(const Graph& graph) : g_(graph) {}

  std::string Run() {
    out_ += fmt::format("module @{} {{\n", g_.name);
    for (const InfoField& field : InfoFields()) {
      out_ += fmt::format("  info {} = ", field.name);
      if (auto* text = std::get_if<std::string ModuleInfo::*>(&field.member)) {
        out_ += Quote(g_.info.*(*text)) + "\n";
      } else {
        out_ += fmt::format("{}\n", g_.info.*std::get<int64_t ModuleInfo::*>(field.member));
      }
    }
    if (g_.tensor_parallel > 1) out_ += fmt::format("  parallel tensor = {}\n", g_.tensor_parallel);
    for (const Dim& d : g_.dims) {
      if (d.dynamic) {
        out_ += d.size ? fmt::format("  dim {} <= {}\n", d.name, d.size)
                       : fmt::format("  dim {} = ?\n", d.name);
      } else {
        out_ += fmt::format("  dim {} = {}\n", d.name, d.size);
      }
    }
    for (const Weight& w : g_.weights) {
      out_ += fmt::format("  weight @{} {} : {}{}{}{}", w.role, Quote(w.tensor),
                          rt::DTypeName(w.dtype), DimsText(w.dims),
                          PerLayerText(w.per_layer, w.encoder), w.transposed ? " transposed" : "");
      if (w.parts > 1) out_ += fmt::format(" part {} of {}", w.part, w.parts);
      if (w.groups > 1) out_ += fmt::format(" groups {}", w.groups);
      if (w.shard.kind == ShardKind::kFirstRank) out_ += " shard first_rank";
      if (w.shard.kind == ShardKind::kRows || w.shard.kind == ShardKind::kCols) {
        out_ += fmt::format(" shard {} of {} unit {}", Name(w.shard.kind),
                            g_.dims[w.shard.full].name, w.shard.unit);
      }
      if (!w.layer_dtypes.empty()) {
        std::vector<const char*> names;
        for (rt::DType d : w.layer_dtypes) names.push_back(rt::DTypeName(d));
        out_ += fmt::format(" layer_dtypes ({})", fmt::join(names, ", "));
      }
      out_ += "\n";
    }
    for (const State& s : g_.states) {
      out_ += fmt::format("  state {} : {}{}{}\n", s.name, rt::DTypeName(s.dtype), DimsText(s.dims),
                          PerLayerText(s.per_layer, s.encoder));
    }
    for (const Buffer& b : g_.buffers) {
      out_ += fmt::format("  buffer ${} : [T, {}]\n", b.name, g_.dims[b.row].name);
    }
    if (g_.HasEncode()) {
      out_ += fmt::format("  entry encode ({} : {}, {} : {}) {{\n", ValueName(g_.encode.tokens),
                          TypeText(g_.encode.tokens), ValueName(g_.encode.positions),
                          TypeText(g_.encode.positions));
      PrintBlock(g_.encode.body, 2);
      out_ += fmt::format("    return {}\n  }}\n", ValueName(g_.encode.output));
    }
    out_ += fmt::format("  entry prefill, decode ({} : {}, {} : {}) {{\n", ValueName(g_.tokens),
                        TypeText(g_.tokens), ValueName(g_.positions), TypeText(g_.positions));
    PrintBlock(g_.body, 2);
    out_ += fmt::format("    return {}", ValueName(g_.output));
    if (g_.pooled >= 0) out_ += fmt::format(", pooled {}", ValueName(g_.pooled));
    if (g_.hidden >= 0) out_ += fmt::format(", hidden {}", ValueName(g_.hidden));
    out_ += "\n  }\n}\n";
    return out_;
  }

 private:
  static const char* PerLayerText(bool per_layer, bool encoder) {
    if (!per_layer) return "";
    return encoder ? " per_encoder_layer" : " per_layer";
  }

  std::string DimsText(const std::vector<DimId>& dims) const {
    std::vector<std::string> names;
    for (DimId d : dims) names.push_back(g_.dims[d].name);
    return fmt::format("[{}]", fmt::join(names, ", "));
  }

  std::string ValueName(int value) const {
    return value < 0 ? "<none>" : "%" + g_.values[value].name;
  }

  std::string TypeText(int value) const {
    const Value& v = g_.values[value];
    if (v.kind == Value::Kind::kState) return "!state";
    std::string type = v.type == ValueType::kF32 ? "" : std::string(Name(v.type));
    return type + DimsText(v.dims);
  }

  std::string BufferText(int value) const {
    int buffer = g_.values[value].buffer;
    return buffer < 0 ? "" : " in $" + g_.buffers[buffer].name;
  }

  std::string AttrText(const Attr& attr) const {
    if (auto* f = std::get_if<double>(&attr)) return fmt::format("{}", *f);
    if (auto* d = std::get_if<DimRef>(&attr)) return g_.dims[d->id].name;
    return std::visit(
        [](const auto& e) -> std::string {
          if constexpr (std::is_enum_v<std::decay_t<decltype(e)>>) return Name(e);
          return "";
        },
        attr);
  }

  void PrintBlock(const Block& block, int depth) {
    std::string pad(2 * depth, ' ');
    for (const Op& op : block.ops) {
      std::string line = fmt::format("{}{} = {}", pad, ValueName(op.result), OpName(op.kind));
      if (op.kind == OpKind::kLayers) {
        const bool encoder = op.GetOr(attr::kStack, LayerStack::kMain) == LayerStack::kEncoder;
        out_ += fmt::format("{}{} {} ({} = {}) {{\n", line, encoder ? " encoder" : "",
                            g_.LayerCount(encoder), ValueName(op.body->args[0]),
                            ValueName(op.operands[0]));
        PrintBlock(*op.body, depth + 1);
        out_ += fmt::format("{}  yield {}\n{}}} : {}{}\n", pad, ValueName(op.body->yield), pad,
                            TypeText(op.result), BufferText(op.result));
        continue;
      }
      std::vector<std::string> parts;
      for (int v : op.operands) parts.push_back(ValueName(v));
      for (int w : op.weights) parts.push_back("@" + g_.weights[w].role);
      for (int s : op.states) parts.push_back("state " + g_.states[s].name);
      if (!parts.empty()) line += fmt::format(" {}", fmt::join(parts, ", "));
      if (!op.attrs.empty()) {
        std::vector<std::string> attrs;
        for (const auto& [key, value] : op.attrs) attrs.push_back(key + " = " + AttrText(value));
        line += fmt::format(" {{{}}}", fmt::join(attrs, ", "));
      }
      out_ += line + " : " + TypeText(op.result) + BufferText(op.result) + "\n";
    }
  }

  const Graph& g_;
  std::string out_;
};

}  // namespace

std::string Print(const Graph& graph) { return Printer(graph).Run(); }

}  // namespace lmc::ir
