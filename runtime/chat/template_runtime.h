// What compiled chat templates call at run time.
//
// `lmc build` turns a Jinja chat template into a C++ function (compiler/chat_template/); that
// function renders the conversation with the values and helpers declared here. A Value is a
// Jinja value of the few kinds chat templates handle: undefined, none, booleans, integers,
// strings, lists, messages (role and content) and namespace() objects. Every helper follows
// @huggingface/jinja's semantics (the reference the tests compare with) for the kinds it
// accepts and throws TemplateError for the others, so a template either renders as the
// reference does or fails with a message: never a different text.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/chat/messages.h"

namespace lmc::chat {

// A template's failure while rendering: raise_exception(), or an operation on values of kinds
// it does not apply to. `what()` is one line.
class TemplateError : public std::runtime_error {
 public:
  explicit TemplateError(const std::string& message) : std::runtime_error(message) {}
};

enum class Kind { kUndefined, kNone, kBool, kInt, kString, kList, kMessage, kNamespace };

struct Value {
  Kind kind = Kind::kUndefined;
  bool b = false;
  int64_t i = 0;
  std::string s;
  std::shared_ptr<const std::vector<Value>> list;
  const Message* message = nullptr;
  std::shared_ptr<std::map<std::string, Value>> ns;  // Shared: namespaces are references.
};

// What a compiled template renders.
struct Inputs {
  const std::vector<Message>* messages = nullptr;
  std::string bos_token;
  std::string eos_token;
  bool add_generation_prompt = false;
};

// A compiled template: renders `inputs`, or throws TemplateError.
using RenderFunction = std::string (*)(const Inputs& inputs);

// The spec's tokenizer.chat_template as lmc build compiled it into a model binary.
struct ModelTemplate {
  RenderFunction render;
  const char* path;       // the template file it was compiled from
  const char* bos_token;  // the file's own bos/eos text (tokenizer_config.json, GGUF), if any
  bool has_bos;
  const char* eos_token;
  bool has_eos;
};

// Defined by lmc build in every model binary: the model's template, or nullptr if its spec
// names none.
const ModelTemplate* GetModelTemplate();

Value Undefined();
Value None();
Value Bool(bool b);
Value Int(int64_t i);
Value Str(std::string s);
Value MessageList(const std::vector<Message>& messages);
Value List(std::vector<Value> items);
Value Namespace(std::vector<std::pair<std::string, Value>> attributes);

const char* KindName(Kind kind);

bool Truthy(const Value& v);
// Appends `{{ v }}`.
void Print(std::string& out, const Value& v);

Value Add(const Value& a, const Value& b);
Value Sub(const Value& a, const Value& b);
Value Mul(const Value& a, const Value& b);
Value Mod(const Value& a, const Value& b);
Value Concat(const Value& a, const Value& b);  // ~
Value Neg(const Value& a);
bool Equal(const Value& a, const Value& b);
bool Less(const Value& a, const Value& b);
bool In(const Value& item, const Value& container);

Value Attr(const Value& v, std::string_view name);
Value Item(const Value& v, const Value& key);
Value Slice(const Value& v, const Value& start, const Value& stop, const Value& step);
void SetAttr(Value& ns, std::string_view name, Value v);

// The items `for` iterates over (a list or a string's characters... lists only here).
const std::vector<Value>& Items(const Value& v, const char* where);

// Filters and string methods.
Value Length(const Value& v);
Value Trim(const Value& v);  // |trim and .strip(): JavaScript's trim, as the reference
Value LStrip(const Value& v);
Value RStrip(const Value& v);
Value StartsWith(const Value& v, const Value& prefix);
Value EndsWith(const Value& v, const Value& suffix);
Value ToJson(const Value& v);    // |tojson of a string, number, boolean or none
Value ToString(const Value& v);  // |string

[[noreturn]] void RaiseException(const Value& message);

}  // namespace lmc::chat
