// The syntax tree of a Jinja chat template (the subset chat templates use).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace lmc::chat_template {

// A template the compiler cannot compile: `offset` is a byte of the original template text.
struct CompileError : std::runtime_error {
  CompileError(size_t offset, const std::string& message)
      : std::runtime_error(message), offset(offset) {}
  size_t offset;
};

struct Expr {
  enum class Kind {
    kName,         // name
    kString,       // text
    kInt,          // number
    kBool,         // number != 0
    kNone,         //
    kList,         // [args...]
    kAttr,         // args[0].name
    kIndex,        // args[0][args[1]]
    kSlice,        // args[0][args[1]:args[2]:args[3]] (kNone where omitted)
    kCall,         // args[0](args[1...]), keyword names in `keywords` (aligned with args[1...])
    kFilter,       // args[0] | name(args[1...])
    kTest,         // args[0] is [not] name(args[1...]); `negated`
    kNot,          // not args[0]
    kNeg,          // -args[0]
    kBinary,       // args[0] op args[1]: + - * / // % ~ == != < > <= >= in "not in" and or
    kTernary,      // args[0] if args[1] else args[2] (args[2] kNone-less: absent -> undefined)
    kUnsupported,  // parsed, but refused if compiled: `text` names the construct (a dict)
  };
  Kind kind;
  size_t offset = 0;
  int depth = 1;     // of the tree under it (the parser bounds it; the emitter recurses)
  std::string name;  // kName, kAttr, kCall's callee name, kFilter, kTest, kBinary's operator
  std::string text;  // kString
  int64_t number = 0;
  bool negated = false;
  std::vector<std::unique_ptr<Expr>> args;
  std::vector<std::string> keywords;  // kCall / kFilter / kTest: "" for a positional argument
};

struct Node;
using Body = std::vector<std::unique_ptr<Node>>;

struct Node {
  enum class Kind {
    kText,    // text
    kOutput,  // {{ expr }}
    kIf,      // {% if %}: conditions[i] guards bodies[i]; bodies.back() is else when
              // bodies.size() > conditions.size()
    kFor,     // {% for target in expr %} bodies[0] {% endfor %}
    kSet,     // {% set target = expr %} or {% set target.attribute = expr %}
  };
  Kind kind;
  size_t offset = 0;
  std::string text;
  std::unique_ptr<Expr> expr;
  std::vector<std::unique_ptr<Expr>> conditions;
  std::vector<Body> bodies;
  std::string target;
  std::string attribute;  // kSet on a namespace attribute
  // Parsed, but refused if compiled (in a branch that can run): names the construct, at
  // `unsupported_offset`. A for loop with unpacking, a filter or an else.
  std::string unsupported;
  size_t unsupported_offset = 0;
};

}  // namespace lmc::chat_template
