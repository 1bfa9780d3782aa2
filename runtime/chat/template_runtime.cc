#include "runtime/chat/template_runtime.h"

#include <fmt/format.h>

namespace lmc::chat {

namespace {

[[noreturn]] void Fail(const std::string& message) { throw TemplateError(message); }

[[noreturn]] void BadKinds(const char* op, const Value& a, const Value& b) {
  Fail(fmt::format("cannot apply '{}' to {} and {}", op, KindName(a.kind), KindName(b.kind)));
}

const std::string& Text(const Value& v, const char* what) {
  if (v.kind != Kind::kString)
    Fail(fmt::format("{} expects a string, not {}", what, KindName(v.kind)));
  return v.s;
}

// Decodes the UTF-8 code point at s[i] (strings come from valid UTF-8 JSON or templates).
char32_t Decode(std::string_view s, size_t i, size_t* length) {
  unsigned char c = s[i];
  int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  if (i + n > s.size()) n = 1;
  char32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  *length = n;
  return cp;
}

// JavaScript's String.prototype.trim whitespace: WhiteSpace and LineTerminator.
bool IsJsSpace(char32_t c) {
  return c == 0x09 || c == 0x0A || c == 0x0B || c == 0x0C || c == 0x0D || c == 0x20 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

size_t SkipSpaceForward(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t n;
    if (!IsJsSpace(Decode(s, i, &n))) break;
    i += n;
  }
  return i;
}

size_t SkipSpaceBackward(std::string_view s, size_t begin) {
  size_t end = s.size();
  while (end > begin) {
    size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t n;
    if (!IsJsSpace(Decode(s, start, &n))) break;
    end = start;
  }
  return end;
}

// Python-style index normalization of `i` into [0, n]: negative counts from the end.
int64_t Normalize(int64_t i, int64_t n) {
  if (i < 0) i += n;
  return i < 0 ? 0 : i > n ? n : i;
}

}  // namespace

Value Undefined() { return Value{}; }
Value None() {
  Value v;
  v.kind = Kind::kNone;
  return v;
}
Value Bool(bool b) {
  Value v;
  v.kind = Kind::kBool;
  v.b = b;
  return v;
}
Value Int(int64_t i) {
  Value v;
  v.kind = Kind::kInt;
  v.i = i;
  return v;
}
Value Str(std::string s) {
  Value v;
  v.kind = Kind::kString;
  v.s = std::move(s);
  return v;
}
Value List(std::vector<Value> items) {
  Value v;
  v.kind = Kind::kList;
  v.list = std::make_shared<const std::vector<Value>>(std::move(items));
  return v;
}
Value MessageList(const std::vector<Message>& messages) {
  std::vector<Value> items(messages.size());
  for (size_t n = 0; n < messages.size(); ++n) {
    items[n].kind = Kind::kMessage;
    items[n].message = &messages[n];
  }
  return List(std::move(items));
}
Value Namespace(std::vector<std::pair<std::string, Value>> attributes) {
  Value v;
  v.kind = Kind::kNamespace;
  v.ns = std::make_shared<std::map<std::string, Value>>();
  for (auto& [name, value] : attributes) (*v.ns)[name] = std::move(value);
  return v;
}

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kUndefined:
      return "undefined";
    case Kind::kNone:
      return "none";
    case Kind::kBool:
      return "a boolean";
    case Kind::kInt:
      return "an integer";
    case Kind::kString:
      return "a string";
    case Kind::kList:
      return "a list";
    case Kind::kMessage:
      return "a message";
    case Kind::kNamespace:
      return "a namespace";
  }
  return "?";
}

bool Truthy(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return v.b;
    case Kind::kInt:
      return v.i != 0;
    case Kind::kString:
      return !v.s.empty();
    case Kind::kList:
      return !v.list->empty();
    case Kind::kMessage:
      return true;
    case Kind::kNamespace:
      return !v.ns->empty();
  }
  return false;
}

void Print(std::string& out, const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined:
    case Kind::kNone:
      return;
    case Kind::kString:
      out += v.s;
      return;
    case Kind::kInt:
      out += std::to_string(v.i);
      return;
    default:
      Fail(fmt::format("cannot print {} (only strings and integers)", KindName(v.kind)));
  }
}

Value Add(const Value& a, const Value& b) {
  if (a.kind == Kind::kInt && b.kind == Kind::kInt) return Int(a.i + b.i);
  if (a.kind == Kind::kList && b.kind == Kind::kList) {
    std::vector<Value> items(*a.list);
    items.insert(items.end(), b.list->begin(), b.list->end());
    return List(std::move(items));
  }
  auto printable = [](const Value& v) { return v.kind == Kind::kString || v.kind == Kind::kInt; };
  if ((a.kind == Kind::kString || b.kind == Kind::kString) && printable(a) && printable(b)) {
    std::string s;
    Print(s, a);
    Print(s, b);
    return Str(std::move(s));
  }
  BadKinds("+", a, b);
}

Value Sub(const Value& a, const Value& b) {
  if (a.kind == Kind::kInt && b.kind == Kind::kInt) return Int(a.i - b.i);
  BadKinds("-", a, b);
}

Value Mul(const Value& a, const Value& b) {
  if (a.kind == Kind::kInt && b.kind == Kind::kInt) return Int(a.i * b.i);
  BadKinds("*", a, b);
}

Value Mod(const Value& a, const Value& b) {
  if (a.kind == Kind::kInt && b.kind == Kind::kInt && b.i != 0) {
    // JavaScript's % (the reference): the sign follows the dividend.
    return Int(a.i % b.i);
  }
  BadKinds("%", a, b);
}

Value Concat(const Value& a, const Value& b) {
  auto ok = [](const Value& v) {
    return v.kind == Kind::kString || v.kind == Kind::kInt || v.kind == Kind::kUndefined;
  };
  if (!ok(a) || !ok(b)) BadKinds("~", a, b);
  std::string s;
  Print(s, a);
  Print(s, b);
  return Str(std::move(s));
}

Value Neg(const Value& a) {
  if (a.kind == Kind::kInt) return Int(-a.i);
  Fail(fmt::format("cannot negate {}", KindName(a.kind)));
}

// JavaScript's ToNumber of a scalar, for the reference's loose ==. Returns false for NaN;
// throws for strings whose number JavaScript reads in ways not reproduced here (1e3, 0x10, 1.5).
bool LooseNumber(const Value& v, double* out) {
  if (v.kind == Kind::kBool) {
    *out = v.b;
    return true;
  }
  if (v.kind == Kind::kInt) {
    *out = static_cast<double>(v.i);
    return true;
  }
  size_t begin = SkipSpaceForward(v.s);
  std::string_view t = std::string_view(v.s).substr(begin, SkipSpaceBackward(v.s, begin) - begin);
  if (t.empty()) {
    *out = 0;
    return true;
  }
  size_t digits = t[0] == '+' || t[0] == '-' ? 1 : 0;
  bool integer = t.size() > digits && t.size() - digits <= 15;
  for (size_t k = digits; k < t.size(); ++k) integer &= t[k] >= '0' && t[k] <= '9';
  if (integer) {
    *out = std::stod(std::string(t));
    return true;
  }
  bool any_digit = false;
  for (char c : t) any_digit |= c >= '0' && c <= '9';
  if (!any_digit && t.find("Infinity") == std::string_view::npos) return false;  // NaN
  Fail("comparing the string '" + std::string(t) + "' with a number or boolean");
}

bool Equal(const Value& a, const Value& b) {
  // The reference compares with JavaScript's loose ==: undefined == none, and scalars of
  // different kinds as numbers ("" == false, "1" == 1).
  auto nullish = [](const Value& v) { return v.kind == Kind::kUndefined || v.kind == Kind::kNone; };
  auto object = [](const Value& v) {
    return v.kind == Kind::kList || v.kind == Kind::kMessage || v.kind == Kind::kNamespace;
  };
  if (object(a) || object(b)) BadKinds("==", a, b);
  if (nullish(a) || nullish(b)) return nullish(a) && nullish(b);
  if (a.kind == b.kind) {
    switch (a.kind) {
      case Kind::kBool:
        return a.b == b.b;
      case Kind::kInt:
        return a.i == b.i;
      default:
        return a.s == b.s;
    }
  }
  double x, y;
  bool nx = LooseNumber(a, &x), ny = LooseNumber(b, &y);
  return nx && ny && x == y;
}

bool Less(const Value& a, const Value& b) {
  if (a.kind == Kind::kInt && b.kind == Kind::kInt) return a.i < b.i;
  BadKinds("<", a, b);
}

bool In(const Value& item, const Value& container) {
  switch (container.kind) {
    case Kind::kUndefined:
      return false;
    case Kind::kString:
      if (item.kind != Kind::kString) BadKinds("in", item, container);
      return container.s.find(item.s) != std::string::npos;
    case Kind::kList:
      for (const Value& v : *container.list) {
        if (v.kind == item.kind &&
            (item.kind == Kind::kString || item.kind == Kind::kInt || item.kind == Kind::kBool) &&
            Equal(v, item))
          return true;
        if (v.kind != item.kind &&
            (v.kind == Kind::kList || v.kind == Kind::kMessage || v.kind == Kind::kNamespace))
          BadKinds("in", item, container);
      }
      return false;
    case Kind::kMessage:
      if (item.kind != Kind::kString) BadKinds("in", item, container);
      return item.s == "role" || item.s == "content";
    default:
      BadKinds("in", item, container);
  }
}

Value Attr(const Value& v, std::string_view name) {
  switch (v.kind) {
    case Kind::kMessage:
      if (name == "role") return Str(v.message->role);
      if (name == "content") return Str(v.message->content);
      return Undefined();
    case Kind::kNamespace: {
      auto it = v.ns->find(std::string(name));
      return it == v.ns->end() ? Undefined() : it->second;
    }
    case Kind::kUndefined:
    case Kind::kNone:
      Fail(fmt::format("cannot read attribute '{}' of {}", name, KindName(v.kind)));
    default:
      return Undefined();
  }
}

Value Item(const Value& v, const Value& key) {
  if (key.kind == Kind::kString && (v.kind == Kind::kMessage || v.kind == Kind::kNamespace))
    return Attr(v, key.s);
  if (key.kind == Kind::kInt && v.kind == Kind::kList) {
    int64_t n = static_cast<int64_t>(v.list->size());
    int64_t i = key.i < 0 ? key.i + n : key.i;
    if (i < 0 || i >= n) return Undefined();
    return (*v.list)[i];
  }
  BadKinds("[]", v, key);
}

Value Slice(const Value& v, const Value& start, const Value& stop, const Value& step) {
  auto bound = [](const Value& b, int64_t fallback) {
    if (b.kind == Kind::kUndefined || b.kind == Kind::kNone) return fallback;
    if (b.kind != Kind::kInt) Fail(fmt::format("a slice bound is {}", KindName(b.kind)));
    return b.i;
  };
  if (bound(step, 1) != 1) Fail("slices with a step are not supported");
  if (v.kind == Kind::kList) {
    int64_t n = static_cast<int64_t>(v.list->size());
    int64_t a = Normalize(bound(start, 0), n), b = Normalize(bound(stop, n), n);
    if (b < a) b = a;
    return List(std::vector<Value>(v.list->begin() + a, v.list->begin() + b));
  }
  Fail(fmt::format("cannot slice {}", KindName(v.kind)));
}

void SetAttr(Value& ns, std::string_view name, Value v) {
  if (ns.kind != Kind::kNamespace)
    Fail(fmt::format("cannot set attribute '{}' of {}", name, KindName(ns.kind)));
  (*ns.ns)[std::string(name)] = std::move(v);
}

const std::vector<Value>& Items(const Value& v, const char* where) {
  if (v.kind != Kind::kList)
    Fail(fmt::format("{}: a for loop over {}, not a list", where, KindName(v.kind)));
  return *v.list;
}

Value Length(const Value& v) {
  if (v.kind == Kind::kList) return Int(static_cast<int64_t>(v.list->size()));
  if (v.kind == Kind::kString) {
    // JavaScript's length (the reference's): UTF-16 code units.
    int64_t units = 0;
    for (size_t i = 0; i < v.s.size();) {
      size_t n;
      units += Decode(v.s, i, &n) >= 0x10000 ? 2 : 1;
      i += n;
    }
    return Int(units);
  }
  Fail(fmt::format("length of {}", KindName(v.kind)));
}

Value Trim(const Value& v) {
  const std::string& s = Text(v, "trim");
  size_t begin = SkipSpaceForward(s);
  return Str(s.substr(begin, SkipSpaceBackward(s, begin) - begin));
}

Value LStrip(const Value& v) {
  const std::string& s = Text(v, "lstrip");
  return Str(s.substr(SkipSpaceForward(s)));
}

Value RStrip(const Value& v) {
  const std::string& s = Text(v, "rstrip");
  return Str(s.substr(0, SkipSpaceBackward(s, 0)));
}

Value StartsWith(const Value& v, const Value& prefix) {
  const std::string& s = Text(v, "startswith");
  const std::string& p = Text(prefix, "startswith's argument");
  return Bool(s.compare(0, p.size(), p) == 0 && s.size() >= p.size());
}

Value EndsWith(const Value& v, const Value& suffix) {
  const std::string& s = Text(v, "endswith");
  const std::string& p = Text(suffix, "endswith's argument");
  return Bool(s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0);
}

Value ToJson(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined:
    case Kind::kNone:
      return Str("null");
    case Kind::kBool:
      return Str(v.b ? "true" : "false");
    case Kind::kInt:
      return Str(std::to_string(v.i));
    case Kind::kString: {
      // JSON.stringify (the reference's tojson, without ensure_ascii).
      std::string out = "\"";
      for (unsigned char c : v.s) {
        switch (c) {
          case '"':
            out += "\\\"";
            break;
          case '\\':
            out += "\\\\";
            break;
          case '\b':
            out += "\\b";
            break;
          case '\f':
            out += "\\f";
            break;
          case '\n':
            out += "\\n";
            break;
          case '\r':
            out += "\\r";
            break;
          case '\t':
            out += "\\t";
            break;
          default:
            if (c < 0x20)
              out += fmt::format("\\u{:04x}", c);
            else
              out += static_cast<char>(c);
        }
      }
      return Str(out + "\"");
    }
    default:
      Fail(fmt::format("tojson of {} is not supported", KindName(v.kind)));
  }
}

Value ToString(const Value& v) {
  if (v.kind == Kind::kString) return v;
  if (v.kind == Kind::kInt) return Str(std::to_string(v.i));
  Fail(fmt::format("string of {} is not supported", KindName(v.kind)));
}

void RaiseException(const Value& message) {
  Fail(message.kind == Kind::kString ? message.s : "raise_exception()");
}

}  // namespace lmc::chat
