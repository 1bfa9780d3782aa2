#include "runtime/sampling/json_grammar.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace lmc::rt {
namespace {

using nlohmann::json;

[[noreturn]] void Refuse(const std::string& path, const std::string& what) {
  throw JsonSchemaError(fmt::format("{}: {}", path, what));
}

uint8_t TypeBit(const std::string& name, const std::string& path) {
  if (name == "object") return JsonGrammar::kObject;
  if (name == "array") return JsonGrammar::kArray;
  if (name == "string") return JsonGrammar::kString;
  if (name == "number") return JsonGrammar::kNumber | JsonGrammar::kInteger;
  if (name == "integer") return JsonGrammar::kInteger;
  if (name == "boolean") return JsonGrammar::kBoolean;
  if (name == "null") return JsonGrammar::kNull;
  Refuse(path, fmt::format("unknown type '{}' (expected object, array, string, number, integer, "
                           "boolean or null)",
                           name));
}

// The types a JSON value has, as schema types see it.
uint8_t TypesOf(const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      return JsonGrammar::kObject;
    case json::value_t::array:
      return JsonGrammar::kArray;
    case json::value_t::string:
      return JsonGrammar::kString;
    case json::value_t::boolean:
      return JsonGrammar::kBoolean;
    case json::value_t::null:
      return JsonGrammar::kNull;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return JsonGrammar::kNumber | JsonGrammar::kInteger;
    default:
      return JsonGrammar::kNumber;
  }
}

std::string Compact(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::strict); }

uint32_t Count(const json& v, const std::string& path) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
    Refuse(path, "must be a non-negative integer");
  }
  return static_cast<uint32_t>(std::min<uint64_t>(v.get<uint64_t>(), UINT32_MAX - 1));
}

constexpr const char* kBuiltinLiterals[] = {"true", "false", "null"};
const std::vector<std::string>& Builtins() {
  static const std::vector<std::string> builtins(std::begin(kBuiltinLiterals),
                                                 std::end(kBuiltinLiterals));
  return builtins;
}

uint64_t AllBits(size_t n) { return n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1; }

bool IsWhitespace(uint8_t c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
bool IsDigit(uint8_t c) { return c >= '0' && c <= '9'; }
bool IsHex(uint8_t c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Frame states.
enum : uint8_t { kObjOpen, kObjNeedKey, kObjInKey, kObjColon, kObjInValue, kObjAfterValue };
enum : uint8_t { kArrOpen, kArrNeedValue, kArrInValue, kArrAfterValue };
enum : uint8_t {
  kNumStart,
  kNumMinus,
  kNumZero,
  kNumInt,
  kNumDot,
  kNumFrac,
  kNumExp,
  kNumExpSign,
  kNumExpDigits
};
// Strings: kStrEscape after a backslash, kStrHex + k after k hex digits of \u, and the first
// continuation byte's narrower ranges after E0, ED, F0 and F4.
enum : uint8_t {
  kStrChars,
  kStrEscape,
  kStrHex,
  kStrAfterE0 = 6,
  kStrAfterED,
  kStrAfterF0,
  kStrAfterF4
};
enum : uint8_t { kLitEnum, kLitBuiltin, kLitKey };

bool NumberComplete(uint8_t sub) {
  return sub == kNumZero || sub == kNumInt || sub == kNumFrac || sub == kNumExpDigits;
}

}  // namespace

std::shared_ptr<const JsonGrammar> JsonGrammar::AnyJson(uint8_t top_types) {
  auto g = std::make_shared<JsonGrammar>();
  g->nodes_.emplace_back();  // any value
  if (top_types == kAny) return g;
  Node top;
  top.types = top_types;
  g->nodes_.push_back(top);
  g->root_ = 1;
  return g;
}

std::shared_ptr<const JsonGrammar> JsonGrammar::FromSchema(std::string_view schema_json,
                                                           const std::string& path) {
  json schema;
  try {
    schema = json::parse(schema_json);
  } catch (const json::exception& e) {
    Refuse(path, std::string("not valid JSON: ") + e.what());
  }
  auto g = std::make_shared<JsonGrammar>();
  g->nodes_.emplace_back();
  g->root_ = g->Compile(&schema, path, 0);
  return g;
}

int JsonGrammar::Compile(const void* schema_ptr, const std::string& path, int depth) {
  const json& s = *static_cast<const json*>(schema_ptr);
  if (s.is_boolean()) {
    if (s.get<bool>()) return 0;
    Refuse(path, "the schema false accepts no value");
  }
  if (!s.is_object()) Refuse(path, "a schema must be an object");
  if (depth > kMaxDepth / 2) Refuse(path, fmt::format("nested deeper than {}", kMaxDepth / 2));
  static const char* const kKnown[] = {
      "type",    "enum",     "const",    "properties", "required",    "additionalProperties",
      "items",   "minItems", "maxItems", "title",      "description", "$schema",
      "default", "examples", "$comment", "$id"};
  for (auto it = s.begin(); it != s.end(); ++it) {
    if (std::find(std::begin(kKnown), std::end(kKnown), it.key()) == std::end(kKnown)) {
      Refuse(path, fmt::format("the keyword '{}' is not supported", it.key()));
    }
  }
  Node n;
  if (auto t = s.find("type"); t != s.end()) {
    n.types = 0;
    if (t->is_string()) {
      n.types = TypeBit(t->get<std::string>(), path + ".type");
    } else if (t->is_array() && !t->empty()) {
      for (const json& name : *t) {
        if (!name.is_string()) Refuse(path + ".type", "must be a type name or a list of them");
        n.types |= TypeBit(name.get<std::string>(), path + ".type");
      }
    } else {
      Refuse(path + ".type", "must be a type name or a list of them");
    }
  } else if (s.contains("properties")) {
    n.types = kObject;
  } else if (s.contains("items")) {
    n.types = kArray;
  }
  auto add_literal = [&](const json& v, const std::string& where) {
    if (!(TypesOf(v) & n.types)) {
      Refuse(where, fmt::format("{} is not of the schema's type", Compact(v)));
    }
    std::string text = Compact(v);
    if (std::find(n.literals.begin(), n.literals.end(), text) == n.literals.end()) {
      n.literals.push_back(std::move(text));
    }
  };
  if (auto e = s.find("enum"); e != s.end()) {
    if (!e->is_array() || e->empty()) Refuse(path + ".enum", "must be a non-empty array");
    if (e->size() > 64) Refuse(path + ".enum", "more than 64 values are not supported");
    for (size_t i = 0; i < e->size(); ++i) {
      add_literal((*e)[i], fmt::format("{}.enum[{}]", path, i));
    }
  }
  if (auto c = s.find("const"); c != s.end()) {
    if (!n.literals.empty()) Refuse(path, "'enum' and 'const' together are not supported");
    add_literal(*c, path + ".const");
  }
  if (auto p = s.find("properties"); p != s.end()) {
    if (!p->is_object()) Refuse(path + ".properties", "must be an object");
    if (p->size() > 64) Refuse(path + ".properties", "more than 64 properties are not supported");
    n.free_object = false;
    for (auto it = p->begin(); it != p->end(); ++it) {
      n.keys.push_back(Compact(json(it.key())));
      n.values.push_back(Compile(&it.value(), path + ".properties." + it.key(), depth + 1));
    }
  }
  if (auto r = s.find("required"); r != s.end()) {
    if (!r->is_array()) Refuse(path + ".required", "must be an array of property names");
    for (const json& name : *r) {
      if (!name.is_string()) Refuse(path + ".required", "must be an array of property names");
      const std::string key = Compact(name);
      auto at = std::find(n.keys.begin(), n.keys.end(), key);
      if (at == n.keys.end()) {
        Refuse(path + ".required",
               fmt::format("'{}' is not in 'properties' (every required key must be described)",
                           name.get<std::string>()));
      }
      n.required |= uint64_t{1} << (at - n.keys.begin());
    }
  }
  if (auto a = s.find("additionalProperties"); a != s.end()) {
    const bool empty_schema = a->is_object() && a->empty();
    if (!a->is_boolean() && !empty_schema) {
      Refuse(path + ".additionalProperties", "only true or false is supported");
    }
    // false: only the properties (what is produced anyway when there are some); true with
    // properties: those are still all that is produced, which the schema allows.
    if (a->is_boolean() && !a->get<bool>() && n.free_object) {
      n.free_object = false;  // no properties, no other keys: {}
    }
  }
  if (auto items = s.find("items"); items != s.end()) {
    if (items->is_array())
      Refuse(path + ".items", "tuples (an array of schemas) are not supported");
    n.items = Compile(&*items, path + ".items", depth + 1);
  }
  if (auto m = s.find("minItems"); m != s.end()) n.min_items = Count(*m, path + ".minItems");
  if (auto m = s.find("maxItems"); m != s.end()) n.max_items = Count(*m, path + ".maxItems");
  if (n.min_items > n.max_items) Refuse(path + ".minItems", "is larger than maxItems");
  if (n.types == 0) Refuse(path + ".type", "names no type");
  nodes_.push_back(std::move(n));
  return static_cast<int>(nodes_.size() - 1);
}

JsonMatcher::JsonMatcher(const JsonGrammar* grammar) : grammar_(grammar) {
  frames_[0] = Frame{};
  frames_[0].kind = Kind::kRoot;
  depth_ = 1;
  Frame value{};
  value.kind = Kind::kValue;
  value.node = grammar->root();
  Push(value);
}

bool JsonMatcher::Push(Frame frame) {
  if (depth_ >= JsonGrammar::kMaxDepth) return false;
  frames_[depth_++] = frame;
  return true;
}

const std::vector<std::string>& JsonMatcher::Literals(const Frame& f) const {
  if (f.sub == kLitBuiltin) return Builtins();
  const JsonGrammar::Node& n = grammar_->nodes()[f.node];
  return f.sub == kLitKey ? n.keys : n.literals;
}

bool JsonMatcher::LiteralCanEnd(const Frame& f) const {
  const std::vector<std::string>& literals = Literals(f);
  for (size_t i = 0; i < literals.size(); ++i) {
    if ((f.bits >> i & 1) && literals[i].size() == f.count) return true;
  }
  return false;
}

bool JsonMatcher::Feed(uint8_t byte) { return Step(byte); }

bool JsonMatcher::Feed(std::string_view bytes) {
  for (char c : bytes) {
    if (!Step(static_cast<uint8_t>(c))) return false;
  }
  return true;
}

bool JsonMatcher::CanEnd() const {
  if (depth_ == 1) return frames_[0].sub == 1;
  if (depth_ != 2) return false;
  const Frame& f = frames_[1];
  if (f.kind == Kind::kNumber) return NumberComplete(f.sub);
  if (f.kind == Kind::kLiteral) return LiteralCanEnd(f);
  return false;
}

bool JsonMatcher::Done() const { return depth_ == 1 && frames_[0].sub == 1; }

bool JsonMatcher::InStringBody() const {
  const Frame& f = frames_[depth_ - 1];
  return f.kind == Kind::kString && f.sub == kStrChars && f.extra == 0;
}

void JsonMatcher::Complete(uint32_t key) {
  --depth_;
  Frame& parent = frames_[depth_ - 1];
  parent.ws = 0;
  switch (parent.kind) {
    case Kind::kRoot:
      parent.sub = 1;
      break;
    case Kind::kObject:
      if (parent.sub == kObjInKey) {
        const JsonGrammar::Node& n = grammar_->nodes()[parent.node];
        parent.count = n.free_object ? UINT32_MAX : key;
        if (!n.free_object) parent.bits |= uint64_t{1} << key;
        parent.sub = kObjColon;
      } else {
        parent.sub = kObjAfterValue;
      }
      break;
    case Kind::kArray:
      ++parent.count;
      parent.sub = kArrAfterValue;
      break;
    default:
      break;
  }
}

bool JsonMatcher::StartValue(int node, uint8_t c) {
  const JsonGrammar::Node& n = grammar_->nodes()[node];
  Frame& f = frames_[depth_ - 1];
  f = Frame{};
  f.node = node;
  if (!n.literals.empty()) {
    f.kind = Kind::kLiteral;
    f.sub = kLitEnum;
    f.bits = AllBits(n.literals.size());
    return Step(c);
  }
  switch (c) {
    case '{':
      if (!(n.types & JsonGrammar::kObject)) return false;
      f.kind = Kind::kObject;
      f.sub = kObjOpen;
      return true;
    case '[':
      if (!(n.types & JsonGrammar::kArray)) return false;
      f.kind = Kind::kArray;
      f.sub = kArrOpen;
      return true;
    case '"':
      if (!(n.types & JsonGrammar::kString)) return false;
      f.kind = Kind::kString;
      f.sub = kStrChars;
      return true;
    case 't':
    case 'f':
    case 'n':
      f.kind = Kind::kLiteral;
      f.sub = kLitBuiltin;
      f.bits =
          (n.types & JsonGrammar::kBoolean ? 3u : 0u) | (n.types & JsonGrammar::kNull ? 4u : 0u);
      return f.bits != 0 && Step(c);
    default:
      if (c != '-' && !IsDigit(c)) return false;
      if (!(n.types & (JsonGrammar::kNumber | JsonGrammar::kInteger))) return false;
      f.kind = Kind::kNumber;
      f.sub = kNumStart;
      return Step(c);
  }
}

bool JsonMatcher::Step(uint8_t c) {
  if (depth_ == 0) return false;
  Frame& f = frames_[depth_ - 1];
  const bool ws = IsWhitespace(c);
  auto space = [&] {
    if (f.ws >= JsonGrammar::kMaxWhitespace) return false;
    ++f.ws;
    return true;
  };
  switch (f.kind) {
    case Kind::kRoot:
      return false;  // the document is complete
    case Kind::kValue:
      if (ws) return space();
      return StartValue(f.node, c);
    case Kind::kObject: {
      const JsonGrammar::Node& n = grammar_->nodes()[f.node];
      if (ws && f.sub != kObjInKey && f.sub != kObjInValue) return space();
      switch (f.sub) {
        case kObjOpen:
        case kObjNeedKey: {
          if (c == '}' && f.sub == kObjOpen && n.required == 0) {
            Complete(0);
            return true;
          }
          if (c != '"') return false;
          Frame key{};
          key.node = f.node;
          if (n.free_object) {
            key.kind = Kind::kString;
            key.sub = kStrChars;
            f.sub = kObjInKey;
            return Push(key);
          }
          key.kind = Kind::kLiteral;
          key.sub = kLitKey;
          key.bits = AllBits(n.keys.size()) & ~f.bits;
          if (key.bits == 0) return false;
          f.sub = kObjInKey;
          return Push(key) && Step(c);
        }
        case kObjColon: {
          if (c != ':') return false;
          Frame value{};
          value.kind = Kind::kValue;
          value.node = n.free_object ? 0 : n.values[f.count];
          f.sub = kObjInValue;
          return Push(value);
        }
        case kObjAfterValue:
          if (c == ',') {
            if (!n.free_object && (f.bits | ~AllBits(n.keys.size())) == ~uint64_t{0}) return false;
            f.sub = kObjNeedKey;
            f.ws = 0;
            return true;
          }
          if (c == '}' && (f.bits & n.required) == n.required) {
            Complete(0);
            return true;
          }
          return false;
        default:
          return false;
      }
    }
    case Kind::kArray: {
      const JsonGrammar::Node& n = grammar_->nodes()[f.node];
      if (ws && f.sub != kArrInValue) return space();
      switch (f.sub) {
        case kArrOpen:
        case kArrNeedValue: {
          if (c == ']' && f.sub == kArrOpen && n.min_items == 0) {
            Complete(0);
            return true;
          }
          if (f.count >= n.max_items) return false;
          Frame value{};
          value.kind = Kind::kValue;
          value.node = n.items;
          f.sub = kArrInValue;
          return Push(value) && Step(c);
        }
        case kArrAfterValue:
          if (c == ',' && f.count < n.max_items) {
            f.sub = kArrNeedValue;
            f.ws = 0;
            return true;
          }
          if (c == ']' && f.count >= n.min_items) {
            Complete(0);
            return true;
          }
          return false;
        default:
          return false;
      }
    }
    case Kind::kString:
      switch (f.sub) {
        case kStrChars:
          if (f.extra > 0) {
            if (c < 0x80 || c > 0xBF) return false;
            --f.extra;
            return true;
          }
          if (c == '"') {
            Complete(0);
            return true;
          }
          if (c == '\\') {
            f.sub = kStrEscape;
            return true;
          }
          if (c < 0x20) return false;
          if (c < 0x80) return true;
          if (c >= 0xC2 && c <= 0xDF) {
            f.extra = 1;
          } else if (c >= 0xE0 && c <= 0xEF) {
            f.extra = 2;
            if (c == 0xE0) f.sub = kStrAfterE0;
            if (c == 0xED) f.sub = kStrAfterED;
          } else if (c >= 0xF0 && c <= 0xF4) {
            f.extra = 3;
            if (c == 0xF0) f.sub = kStrAfterF0;
            if (c == 0xF4) f.sub = kStrAfterF4;
          } else {
            return false;
          }
          return true;
        case kStrEscape:
          if (c == 'u') {
            f.sub = kStrHex;
            return true;
          }
          if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
              c == 't') {
            f.sub = kStrChars;
            return true;
          }
          return false;
        case kStrAfterE0:
        case kStrAfterED:
        case kStrAfterF0:
        case kStrAfterF4: {
          const uint8_t lo = f.sub == kStrAfterE0 ? 0xA0 : f.sub == kStrAfterF0 ? 0x90 : 0x80;
          const uint8_t hi = f.sub == kStrAfterED ? 0x9F : f.sub == kStrAfterF4 ? 0x8F : 0xBF;
          if (c < lo || c > hi) return false;
          f.sub = kStrChars;
          --f.extra;
          return true;
        }
        default:  // kStrHex + k: k hex digits of \uXXXX so far
          if (!IsHex(c)) return false;
          f.sub = f.sub == kStrHex + 3 ? kStrChars : f.sub + 1;
          return true;
      }
    case Kind::kNumber: {
      const bool integer_only = !(grammar_->nodes()[f.node].types & JsonGrammar::kNumber);
      const bool digit = IsDigit(c);
      auto digits = [&](uint8_t next) {
        if (f.sub != next) f.extra = 0;
        const int limit =
            next == kNumExpDigits ? JsonGrammar::kMaxExponentDigits : JsonGrammar::kMaxDigits;
        if (f.extra >= limit) return false;
        ++f.extra;
        f.sub = next;
        return true;
      };
      switch (f.sub) {
        case kNumStart:
          if (c == '-') {
            f.sub = kNumMinus;
            return true;
          }
          [[fallthrough]];
        case kNumMinus:
          if (c == '0') {
            f.sub = kNumZero;
            return true;
          }
          return digit && digits(kNumInt);
        case kNumZero:
        case kNumInt:
        case kNumFrac:
          if (digit && f.sub != kNumZero) return digits(f.sub);
          if (c == '.' && f.sub != kNumFrac && !integer_only) {
            f.sub = kNumDot;
            return true;
          }
          if ((c == 'e' || c == 'E') && !integer_only) {
            f.sub = kNumExp;
            return true;
          }
          break;  // the number ends before c
        case kNumDot:
          return digit && digits(kNumFrac);
        case kNumExp:
          if (c == '+' || c == '-') {
            f.sub = kNumExpSign;
            return true;
          }
          [[fallthrough]];
        case kNumExpSign:
          return digit && digits(kNumExpDigits);
        case kNumExpDigits:
          if (digit) return digits(kNumExpDigits);
          break;
        default:
          return false;
      }
      Complete(0);
      return Step(c);
    }
    case Kind::kLiteral: {
      const std::vector<std::string>& literals = Literals(f);
      uint64_t next = 0;
      bool all_complete = true;
      for (size_t i = 0; i < literals.size(); ++i) {
        if (!(f.bits >> i & 1)) continue;
        const std::string& text = literals[i];
        if (f.count < text.size() && static_cast<uint8_t>(text[f.count]) == c) {
          next |= uint64_t{1} << i;
          all_complete &= text.size() == f.count + 1;
        }
      }
      if (next == 0) {
        // A candidate ended before c (an enum's 1 beside 12): c belongs to the parent.
        if (!LiteralCanEnd(f)) return false;
        Complete(0);
        return Step(c);
      }
      f.bits = next;
      ++f.count;
      if (all_complete) Complete(static_cast<uint32_t>(__builtin_ctzll(next)));
      return true;
    }
  }
  return false;
}

}  // namespace lmc::rt
