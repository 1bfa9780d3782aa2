#include "compiler/ir/ir.h"

#include <fmt/format.h>

#include <set>
#include <stdexcept>

namespace lmc::ir {

const char* OpName(OpKind kind) {
  switch (kind) {
#define LMC_IR_NAME(kind, name) \
  case OpKind::kind:            \
    return name;
    LMC_IR_OPS(LMC_IR_NAME)
#undef LMC_IR_NAME
  }
  return "?";
}

int64_t Value::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const Attr* Op::FindAttr(const std::string& name) const {
  for (const auto& [key, value] : attrs) {
    if (key == name) return &value;
  }
  return nullptr;
}

// Missing or mistyped attributes are compiler bugs, not user errors.
template <typename T>
static const T& GetAttr(const Op& op, const std::string& name) {
  const Attr* attr = op.FindAttr(name);
  if (!attr || !std::holds_alternative<T>(*attr)) {
    throw std::logic_error(fmt::format(
        "internal error: {} has no attribute {} of the expected type", OpName(op.kind), name));
  }
  return std::get<T>(*attr);
}

int64_t Op::IntAttr(const std::string& name) const { return GetAttr<int64_t>(*this, name); }
double Op::FloatAttr(const std::string& name) const { return GetAttr<double>(*this, name); }
const std::string& Op::StringAttr(const std::string& name) const {
  return GetAttr<std::string>(*this, name);
}

int Graph::AddValue(std::string name, std::vector<int64_t> shape, bool is_cache) {
  // Keep printed names unique: q, q.1, q.2, ...
  std::string unique = name;
  for (int n = 1;; ++n) {
    bool taken = false;
    for (const auto& v : values) taken = taken || v.name == unique;
    if (!taken) break;
    unique = fmt::format("{}.{}", name, n);
  }
  values.push_back(Value{unique, std::move(shape), is_cache});
  return static_cast<int>(values.size()) - 1;
}

int Graph::AddWeight(std::string role, std::string tensor, std::vector<int64_t> shape,
                     bool per_layer) {
  weights.push_back(Weight{std::move(role), std::move(tensor), std::move(shape), per_layer});
  return static_cast<int>(weights.size()) - 1;
}

namespace {

std::string ShapeText(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::string TypeText(const Value& v) { return v.is_cache ? "!kv_cache" : ShapeText(v.shape); }

std::string AttrText(const Attr& attr) {
  if (auto* i = std::get_if<int64_t>(&attr)) return fmt::format("{}", *i);
  if (auto* d = std::get_if<double>(&attr)) return fmt::format("{}", *d);
  return fmt::format("\"{}\"", std::get<std::string>(attr));
}

class Printer {
 public:
  explicit Printer(const Graph& graph) : graph_(graph) {}

  std::string Run() {
    out_ += fmt::format("graph @{} {{\n", graph_.name);
    for (const auto& w : graph_.weights) {
      out_ += fmt::format("  weight @{} \"{}\" : {}{}\n", w.role, w.tensor, ShapeText(w.shape),
                          w.per_layer ? " per_layer" : "");
    }
    for (const auto& b : graph_.buffers)
      out_ += fmt::format("  buffer ${} : [{}]\n", b.name, b.elements);
    PrintBlock(graph_.body, 1);
    out_ += fmt::format("  return {}\n}}\n", Name(graph_.output));
    return out_;
  }

 private:
  std::string Name(int value) const {
    return value < 0 ? "<none>" : "%" + graph_.values[value].name;
  }

  std::string BufferText(int value) const {
    int buffer = graph_.values[value].buffer;
    return buffer < 0 ? "" : " in $" + graph_.buffers[buffer].name;
  }

  void PrintBlock(const Block& block, int depth) {
    std::string pad(2 * depth, ' ');
    for (const Op& op : block.ops) {
      std::vector<std::string> parts;
      for (int v : op.operands) parts.push_back(Name(v));
      for (int w : op.weights) parts.push_back("@" + graph_.weights[w].role);
      std::string line = fmt::format("{}{} = {}", pad, Name(op.result), OpName(op.kind));
      if (op.kind == OpKind::kLayers) {
        line += fmt::format(" {} ({} = {})", op.IntAttr("count"), Name(op.body->args.at(0)),
                            Name(op.operands.at(0)));
        out_ += line + " {\n";
        PrintBlock(*op.body, depth + 1);
        out_ += fmt::format("{}  yield {}\n{}}} : {}{}\n", pad, Name(op.body->yield), pad,
                            TypeText(graph_.values[op.result]), BufferText(op.result));
        continue;
      }
      if (!parts.empty()) line += fmt::format(" {}", fmt::join(parts, ", "));
      if (!op.attrs.empty()) {
        std::vector<std::string> attrs;
        for (const auto& [key, value] : op.attrs) attrs.push_back(key + " = " + AttrText(value));
        line += fmt::format(" {{{}}}", fmt::join(attrs, ", "));
      }
      out_ += line + " : " + TypeText(graph_.values[op.result]) + BufferText(op.result) + "\n";
    }
  }

  const Graph& graph_;
  std::string out_;
};

}  // namespace

std::string Print(const Graph& graph) { return Printer(graph).Run(); }

}  // namespace lmc::ir
