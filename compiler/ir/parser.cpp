// Reads the text form Print writes, so that pass tests are IR in, IR out.
// Attribute values are typed by the op table; the result is verified.
#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>

#include "compiler/ir/ir.h"

namespace lmc::ir {

namespace {

struct ParseError {
  std::string message;
};

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Graph Run() {
    Expect("module");
    Expect("@");
    g_.name = Ident();
    Expect("{");
    while (!Accept("}")) {
      std::string word = Ident();
      if (word == "info") {
        ParseInfo();
      } else if (word == "dim") {
        ParseDim();
      } else if (word == "weight") {
        ParseWeight();
      } else if (word == "state") {
        ParseState();
      } else if (word == "buffer") {
        ParseBuffer();
      } else if (word == "entry") {
        ParseEntry();
      } else if (word == "parallel") {  // `parallel tensor = N`: sharded for N ranks.
        Expect("tensor");
        Expect("=");
        g_.tensor_parallel = static_cast<int>(Int());
        if (g_.tensor_parallel < 1 || g_.tensor_parallel > 4096) Fail("expected 1 to 4096 ranks");
      } else {
        Fail(fmt::format("expected info, parallel, dim, weight, state, buffer or entry, found '{}'",
                         word));
      }
    }
    SkipSpace();
    if (pos_ != text_.size()) Fail("text after the module's closing brace");
    return std::move(g_);
  }

  std::string Where() const {
    int line = 1, col = 1;
    for (size_t i = 0; i < error_pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return fmt::format("{}:{}", line, col);
  }

 private:
  [[noreturn]] void Fail(const std::string& message) {
    error_pos_ = pos_;
    throw ParseError{message};
  }

  // Spaces, newlines and comments ('#' to the end of the line).
  void SkipSpace() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        ++pos_;
      } else {
        break;
      }
    }
  }

  bool Accept(std::string_view token) {
    SkipSpace();
    if (text_.substr(pos_, token.size()) != token) return false;
    // A keyword must not run on into an identifier ("in" vs "interleaved").
    bool word = std::isalpha(static_cast<unsigned char>(token[0]));
    size_t end = pos_ + token.size();
    if (word && end < text_.size() && IsIdentChar(text_[end])) return false;
    pos_ = end;
    return true;
  }

  void Expect(std::string_view token) {
    if (!Accept(token)) Fail(fmt::format("expected '{}'", token));
  }

  static bool IsIdentChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' ||
           c == '+';
  }

  std::string Ident() {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < text_.size() && IsIdentChar(text_[pos_])) ++pos_;
    if (start == pos_) Fail("expected a name");
    return std::string(text_.substr(start, pos_ - start));
  }

  // Every integer in the IR is a size, a count or an index: bounded to [0, int32 max] so that the
  // shape rules can multiply two of them (heads * head_dim) without overflow.
  int64_t Int() {
    constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
    std::string word = Ident();
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(word.c_str(), &end, 10);
    if (*end != '\0') Fail(fmt::format("expected an integer, found '{}'", word));
    if (errno == ERANGE || v < 0 || v > kMax) {
      Fail(fmt::format("integer {} out of range [0, {}]", word, kMax));
    }
    return v;
  }

  // A string as Quote writes it.
  std::string String() {
    SkipSpace();
    if (pos_ >= text_.size() || text_[pos_] != '"') Fail("expected a quoted string");
    std::string s;
    for (++pos_; pos_ < text_.size() && text_[pos_] != '"'; ++pos_) {
      if (text_[pos_] != '\\') {
        s += text_[pos_];
        continue;
      }
      if (++pos_ >= text_.size()) break;
      switch (text_[pos_]) {
        case '\\':
        case '"':
          s += text_[pos_];
          break;
        case 'n':
          s += '\n';
          break;
        case 't':
          s += '\t';
          break;
        case 'r':
          s += '\r';
          break;
        case 'x': {
          const std::string hex(text_.substr(pos_ + 1, 2));
          if (hex.size() != 2 || !std::isxdigit(static_cast<unsigned char>(hex[0])) ||
              !std::isxdigit(static_cast<unsigned char>(hex[1]))) {
            Fail("expected two hex digits after \\x");
          }
          s += static_cast<char>(std::stoi(hex, nullptr, 16));
          pos_ += 2;
          break;
        }
        default:
          Fail(fmt::format("unknown escape \\{}", text_[pos_]));
      }
    }
    if (pos_ >= text_.size()) Fail("unterminated string");
    ++pos_;
    return s;
  }

  // `info NAME = VALUE`: a ModuleInfo field, a string or an id (-1: none).
  void ParseInfo() {
    SkipSpace();
    const size_t at = pos_;
    const std::string name = Ident();
    const InfoField* field = nullptr;
    for (const InfoField& f : InfoFields()) {
      if (name == f.name) field = &f;
    }
    if (!field) {
      pos_ = at;
      Fail(fmt::format("unknown info field '{}'", name));
    }
    Expect("=");
    if (auto* text = std::get_if<std::string ModuleInfo::*>(&field->member)) {
      g_.info.*(*text) = String();
      return;
    }
    SkipSpace();
    const size_t value = pos_;
    int64_t id = -1;
    if (Ident() != "-1") {
      pos_ = value;
      id = Int();
    }
    g_.info.*std::get<int64_t ModuleInfo::*>(field->member) = id;
  }

  DimId DimByName(const std::string& name) {
    DimId d = g_.FindDim(name);
    if (d < 0) Fail(fmt::format("unknown dim '{}'", name));
    return d;
  }

  std::vector<DimId> DimList() {
    Expect("[");
    std::vector<DimId> dims;
    if (!Accept("]")) {
      do {
        dims.push_back(DimByName(Ident()));
      } while (Accept(","));
      Expect("]");
    }
    return dims;
  }

  rt::DType ParseDType(const std::string& word) {
    if (auto dtype = rt::DTypeByName(word)) return *dtype;
    Fail(fmt::format("unknown dtype '{}'", word));
  }

  void ParseDim() {
    std::string name = Ident();
    if (Accept("<=")) {
      g_.AddDim(name, Int(), /*dynamic=*/true);
    } else {
      Expect("=");
      if (Accept("?")) {
        g_.AddDim(name, 0, /*dynamic=*/true);
      } else {
        g_.AddDim(name, Int());
      }
    }
  }

  void ParseWeight() {
    Expect("@");
    std::string role = Ident();
    std::string tensor = String();
    Expect(":");
    rt::DType dtype = ParseDType(Ident());
    std::vector<DimId> dims = DimList();
    const bool encoder = Accept("per_encoder_layer");
    int id = g_.AddWeight(role, tensor, dims, encoder || Accept("per_layer"));
    Weight& w = g_.weights[id];
    w.encoder = encoder;
    w.dtype = dtype;
    w.transposed = Accept("transposed");
    if (Accept("part")) {
      w.part = static_cast<int>(Int());
      Expect("of");
      w.parts = static_cast<int>(Int());
      if (w.parts < 1 || w.part < 0 || w.part >= w.parts) Fail("expected part P of N, P < N");
    }
    if (Accept("groups")) {
      w.groups = static_cast<int>(Int());
      if (w.groups < 1) Fail("expected groups >= 1");
    }
    if (Accept("shard")) {  // `shard rows of q_dim unit 32`, `shard first_rank`
      std::string kind = Ident();
      auto shard = EnumByName<ShardKind>(kind);
      if (!shard || *shard == ShardKind::kNone) Fail("expected shard rows, cols or first_rank");
      w.shard.kind = *shard;
      if (*shard != ShardKind::kFirstRank) {
        Expect("of");
        w.shard.full = DimByName(Ident());
        Expect("unit");
        w.shard.unit = Int();
        if (w.shard.unit < 1) Fail("expected unit >= 1");
      }
    }
    if (Accept("layer_dtypes")) {
      Expect("(");
      do {
        w.layer_dtypes.push_back(ParseDType(Ident()));
      } while (Accept(","));
      Expect(")");
    }
  }

  void ParseState() {
    std::string name = Ident();
    Expect(":");
    rt::DType dtype = ParseDType(Ident());
    std::vector<DimId> dims = DimList();
    const bool encoder = Accept("per_encoder_layer");
    int id = g_.AddState(name, dims, encoder || Accept("per_layer"));
    g_.states[id].dtype = dtype;
    g_.states[id].encoder = encoder;
  }

  void ParseBuffer() {
    Expect("$");
    std::string name = Ident();
    Expect(":");
    std::vector<DimId> dims = DimList();
    if (dims.size() != 2) Fail("a buffer is [T, row]");
    g_.buffers.push_back(Buffer{name, dims[1]});
  }

  // `[dims]`, `i32[dims]` or `!state`; returns whether it is a state token.
  bool Type(std::vector<DimId>& dims, ValueType& type) {
    type = ValueType::kF32;
    if (Accept("!state")) return true;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] != '[') {
      std::string word = Ident();
      auto parsed = EnumByName<ValueType>(word);
      if (!parsed) Fail(fmt::format("unknown value type '{}' (f32 or i32)", word));
      type = *parsed;
    }
    dims = DimList();
    return false;
  }

  int DefineValue(const std::string& name, std::vector<DimId> dims, ValueType type, bool state) {
    if (values_.count(name)) Fail(fmt::format("%{} defined twice", name));
    int id = g_.AddValue(name, std::move(dims), type);
    if (g_.values[id].name != name) Fail(fmt::format("%{} defined twice", name));
    if (state) g_.values[id].kind = Value::Kind::kState;
    values_[name] = id;
    return id;
  }

  int UseValue() {
    Expect("%");
    std::string name = Ident();
    auto it = values_.find(name);
    if (it == values_.end()) Fail(fmt::format("%{} is not defined", name));
    return it->second;
  }

  int Input() {
    Expect("%");
    std::string name = Ident();
    Expect(":");
    std::vector<DimId> dims;
    ValueType type;
    Type(dims, type);
    return DefineValue(name, dims, type, false);
  }

  void ParseEntry() {
    if (Accept("encode")) {
      Expect("(");
      g_.encode.tokens = Input();
      Expect(",");
      g_.encode.positions = Input();
      Expect(")");
      Expect("{");
      ParseOps(g_.encode.body, "return");
      g_.encode.output = UseValue();
      Expect("}");
      return;
    }
    Expect("prefill");
    Expect(",");
    Expect("decode");
    Expect("(");
    g_.tokens = Input();
    Expect(",");
    g_.positions = Input();
    Expect(")");
    Expect("{");
    ParseOps(g_.body, "return");
    g_.output = UseValue();
    while (Accept(",")) {
      if (g_.pooled < 0 && Accept("pooled")) {
        g_.pooled = UseValue();
      } else if (g_.hidden < 0 && Accept("hidden")) {
        g_.hidden = UseValue();
      } else {
        Fail("expected 'pooled' or 'hidden', each at most once");
      }
    }
    Expect("}");
  }

  // Ops until `terminator` ("return" or "yield").
  void ParseOps(Block& block, std::string_view terminator) {
    while (!Accept(terminator)) ParseOp(block);
  }

  void ResultType(Op& op, const std::string& name) {
    Expect(":");
    std::vector<DimId> dims;
    ValueType type;
    bool state = Type(dims, type);
    op.result = DefineValue(name, dims, type, state);
    if (Accept("in")) {
      Expect("$");
      std::string buffer = Ident();
      for (size_t b = 0; b < g_.buffers.size(); ++b) {
        if (g_.buffers[b].name == buffer) g_.values[op.result].buffer = static_cast<int>(b);
      }
      if (g_.values[op.result].buffer < 0) Fail(fmt::format("unknown buffer ${}", buffer));
    }
  }

  void ParseOp(Block& block) {
    Expect("%");
    std::string name = Ident();
    Expect("=");
    SkipSpace();
    size_t at = pos_;
    std::string op_name = Ident();
    auto kind = OpByName(op_name);
    if (!kind) {
      pos_ = at;  // Point at the name.
      Fail(fmt::format("unknown op '{}'", op_name));
    }
    Op op{*kind};
    if (*kind == OpKind::kLayers) {
      if (Accept("encoder")) {
        op.attrs.push_back(AttrOf(attr::kStack, LayerStack::kEncoder));
        g_.n_encoder_layers = static_cast<int>(Int());
      } else {
        g_.n_layers = static_cast<int>(Int());
      }
      Expect("(");
      Expect("%");
      std::string arg = Ident();
      Expect("=");
      op.operands.push_back(UseValue());
      Expect(")");
      Expect("{");
      op.body = std::make_unique<Block>();
      op.body->args.push_back(
          DefineValue(arg, g_.values[op.operands[0]].dims, g_.values[op.operands[0]].type, false));
      ParseOps(*op.body, "yield");
      op.body->yield = UseValue();
      Expect("}");
      ResultType(op, name);
      // The carried value lives in the result's buffer (plan-buffers gives both
      // one), which the text names once.
      g_.values[op.body->args[0]].buffer = g_.values[op.result].buffer;
      block.ops.push_back(std::move(op));
      return;
    }
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] != '{' && text_[pos_] != ':') {
      do {
        if (Accept("@")) {
          std::string role = Ident();
          int found = -1;
          for (size_t w = 0; w < g_.weights.size(); ++w) {
            if (g_.weights[w].role == role) found = static_cast<int>(w);
          }
          if (found < 0) Fail(fmt::format("unknown weight @{}", role));
          op.weights.push_back(found);
        } else if (Accept("state")) {
          std::string state = Ident();
          int found = -1;
          for (size_t s = 0; s < g_.states.size(); ++s) {
            if (g_.states[s].name == state) found = static_cast<int>(s);
          }
          if (found < 0) Fail(fmt::format("unknown state {}", state));
          op.states.push_back(found);
        } else {
          op.operands.push_back(UseValue());
        }
      } while (Accept(","));
    }
    if (Accept("{")) {
      do {
        std::string key = Ident();
        Expect("=");
        op.attrs.emplace_back(key, AttrValue(*kind, key));
      } while (Accept(","));
      Expect("}");
    }
    ResultType(op, name);
    block.ops.push_back(std::move(op));
  }

  Attr AttrValue(OpKind kind, const std::string& key) {
    const AttrDef* def = nullptr;
    for (const AttrDef& a : Def(kind).attrs) {
      if (key == a.name) def = &a;
    }
    if (!def) Fail(fmt::format("{} has no attribute {}", OpName(kind), key));
    std::string word = Ident();
    switch (def->type) {
      case AttrType::kFloat: {
        char* end = nullptr;
        double v = std::strtod(word.c_str(), &end);
        if (*end != '\0') Fail(fmt::format("{}: expected a number, found '{}'", key, word));
        return v;
      }
      case AttrType::kDim:
        return DimRef{DimByName(word)};
      case AttrType::kRopeStyle:
        return Enum<RopeStyle>(key, word);
      case AttrType::kRopeScaling:
        return Enum<RopeScaling>(key, word);
      case AttrType::kGateActivation:
        return Enum<GateActivation>(key, word);
      case AttrType::kAttentionMask:
        return Enum<AttentionMask>(key, word);
      case AttrType::kPositionBias:
        return Enum<PositionBias>(key, word);
      case AttrType::kActivation:
        return Enum<Activation>(key, word);
      case AttrType::kLayerStack:
        return Enum<LayerStack>(key, word);
    }
    Fail(fmt::format("{}: unknown value '{}'", key, word));
  }

  template <typename E>
  E Enum(const std::string& key, const std::string& word) {
    if (auto v = EnumByName<E>(word)) return *v;
    Fail(fmt::format("{}: unknown value '{}'", key, word));
  }

  std::string_view text_;
  size_t pos_ = 0, error_pos_ = 0;
  Graph g_;
  std::map<std::string, int> values_;
};

}  // namespace

std::optional<Graph> Parse(std::string_view text, std::string* error) {
  Parser parser(text);
  try {
    return parser.Run();
  } catch (const ParseError& e) {
    *error = parser.Where() + ": " + e.message;
    return std::nullopt;
  }
}

}  // namespace lmc::ir
