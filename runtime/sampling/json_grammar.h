// JSON output, constrained byte by byte: a JSON schema (or "any JSON object") compiled to a
// grammar, and a pushdown automaton over it that accepts exactly the prefixes of documents
// that parse and validate. TokenMask (token_mask.h) walks it over the vocabulary.
//
// What a schema may say (anything else is refused, naming the keyword and where):
//   type: object | array | string | number | integer | boolean | null, or a list of them;
//   enum, const (any JSON values, matched as their compact serialization);
//   properties, required, additionalProperties: false (an object with properties produces
//   only those keys; one without produces any keys with any values);
//   items, minItems, maxItems; and annotations (title, description, $schema, $id, default,
//   examples, $comment), which change nothing.
// An empty schema ({}) accepts any JSON value; json_object mode any object.
//
// What the automaton produces, beyond validity: at most kMaxWhitespace whitespace bytes in a
// row, at most kMaxDigits digits before and after a number's point and kMaxExponentDigits in
// its exponent, at most kMaxDepth frames deep, strings as UTF-8 (lead and continuation bytes
// checked), nothing after the top-level value (the end of the document ends generation).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lmc::rt {

// A schema the grammar cannot take; the message starts with where, as a JSON path
// ("schema.properties.age: the keyword 'minimum' is not supported").
class JsonSchemaError : public std::runtime_error {
 public:
  explicit JsonSchemaError(const std::string& message) : std::runtime_error(message) {}
};

class JsonGrammar {
 public:
  static constexpr int kMaxDepth = 24;      // frames: containers, keys, values
  static constexpr int kMaxWhitespace = 4;  // bytes of whitespace in a row
  static constexpr int kMaxDigits = 15;     // in a number's integer part, and in its fraction
  static constexpr int kMaxExponentDigits = 2;

  enum Type : uint8_t {
    kObject = 1,
    kArray = 2,
    kString = 4,
    kNumber = 8,  // any number (an integer too)
    kInteger = 16,
    kBoolean = 32,
    kNull = 64,
    kAny = 127,
  };

  struct Node {
    uint8_t types = kAny;
    std::vector<std::string> literals;  // enum/const: the only values, compact JSON text
    // Objects: the keys (as JSON string text, quotes included) and their value nodes.
    bool free_object = true;  // no properties: any keys, values of node 0 (any)
    std::vector<std::string> keys;
    std::vector<int> values;
    uint64_t required = 0;  // bit i: keys[i]
    // Arrays.
    int items = 0;  // node of every item (0: any)
    uint32_t min_items = 0;
    uint32_t max_items = UINT32_MAX;
  };

  // Any JSON value whose top level has one of `top_types` (json_object mode: kObject).
  static std::shared_ptr<const JsonGrammar> AnyJson(uint8_t top_types = kAny);
  // A JSON schema, as JSON text. Throws JsonSchemaError naming the keyword and its path,
  // which starts at `path` (how the caller names the schema).
  static std::shared_ptr<const JsonGrammar> FromSchema(std::string_view schema_json,
                                                       const std::string& path = "schema");

  const std::vector<Node>& nodes() const { return nodes_; }
  int root() const { return root_; }

 private:
  int Compile(const void* schema, const std::string& path, int depth);
  std::vector<Node> nodes_;  // nodes_[0]: any value
  int root_ = 0;
};

// The automaton's state: a stack of frames. Plain data: copied by value, compared and hashed
// by its bytes (Key), so that masks can be cached by state.
class JsonMatcher {
 public:
  explicit JsonMatcher(const JsonGrammar* grammar);

  // Advances over one byte; false (and the state unchanged) if no valid document continues so.
  bool Feed(uint8_t byte);
  // Advances over bytes; false at the first one refused (the state is then unspecified).
  bool Feed(std::string_view bytes);
  // The document is complete here: the end of generation may come now.
  bool CanEnd() const;
  // Complete, and no byte may follow: generation is over.
  bool Done() const;
  // Inside a string between characters: every printable ASCII byte but '"' and '\\' is
  // accepted and leaves the state as it is.
  bool InStringBody() const;
  // The state as bytes: equal keys, equal futures.
  std::string_view Key() const {
    return {reinterpret_cast<const char*>(frames_), sizeof(Frame) * depth_};
  }
  int depth() const { return depth_; }
  // *this = other, copying only the frames in use (the vocabulary walk copies a state per byte).
  void CopyFrom(const JsonMatcher& other) {
    depth_ = other.depth_;
    for (int i = 0; i < depth_; ++i) frames_[i] = other.frames_[i];
  }

 private:
  enum class Kind : uint8_t { kRoot, kValue, kObject, kArray, kString, kNumber, kLiteral };
  struct Frame {
    Kind kind;
    uint8_t sub;     // the frame's state
    uint8_t ws;      // whitespace bytes in a row
    uint8_t extra;   // strings: UTF-8 continuation bytes due; numbers: digits in this part
    uint32_t count;  // arrays: items; objects: the key being valued; literals: position
    int32_t node;
    uint32_t pad = 0;
    uint64_t bits;  // objects: keys seen; literals: candidates
  };
  static_assert(sizeof(Frame) == 24);

  bool Step(uint8_t byte);
  // The top frame's value is complete: pops it and tells its parent. `key` is the key index a
  // key literal matched.
  void Complete(uint32_t key);
  bool Push(Frame frame);
  bool StartValue(int node, uint8_t byte);
  bool LiteralCanEnd(const Frame& f) const;
  const std::vector<std::string>& Literals(const Frame& f) const;

  const JsonGrammar* grammar_;
  int depth_ = 0;
  Frame frames_[JsonGrammar::kMaxDepth];
};

}  // namespace lmc::rt
