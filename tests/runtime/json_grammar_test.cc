// The JSON grammar and token masks (runtime/sampling/json_grammar.*, token_mask.*): every
// prefix of valid documents accepted, invalid bytes refused, schemas refused by keyword, and
// the trie walk's masks equal to a walk of every token on its own.
#include "runtime/sampling/json_grammar.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "runtime/sampling/token_mask.h"

namespace lmc::rt {
namespace {

// Whether every prefix of `doc` is accepted, and the whole may end there.
bool AcceptsAll(const JsonGrammar& g, const std::string& doc) {
  JsonMatcher m(&g);
  for (size_t i = 0; i < doc.size(); ++i) {
    if (!m.Feed(static_cast<uint8_t>(doc[i]))) {
      UNSCOPED_INFO("refused byte " << i << " of " << doc);
      return false;
    }
  }
  return m.CanEnd();
}

// Whether some byte of `doc` is refused.
bool Refuses(const JsonGrammar& g, const std::string& doc) {
  JsonMatcher m(&g);
  return !m.Feed(doc);
}

const char* const kSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string"},
    "age": {"type": "integer"},
    "score": {"type": "number"},
    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    "kind": {"enum": ["cat", "dog", 12, 1, null]},
    "ok": {"type": "boolean"},
    "nothing": {"type": "null"},
    "inner": {"type": "object", "properties": {"x": {"type": ["integer", "null"]}},
              "required": ["x"], "additionalProperties": false}
  },
  "required": ["name", "kind"],
  "title": "a pet", "description": "annotations change nothing"
})";

TEST_CASE("Any JSON: valid documents are accepted byte by byte") {
  auto any = JsonGrammar::AnyJson();
  auto object = JsonGrammar::AnyJson(JsonGrammar::kObject);
  for (const char* doc :
       {R"({})", R"({"a": 1, "b": [true, false, null, -0.5e+3, "x\"\\\u00e9\n"], "c": {}})",
        "{\"k\": \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}", R"( {"a":[[],[{}]]})",
        R"({"n": 0, "m": -12.25E-2, "o": 1e5})"}) {
    CHECK(AcceptsAll(*any, doc));
    CHECK(AcceptsAll(*object, doc));
  }
  for (const char* doc : {"12", "-0.5", "\"text\"", "true", "null", "[1, 2]"}) {
    CHECK(AcceptsAll(*any, doc));
    CHECK(Refuses(*object, doc));
  }
}

TEST_CASE("Any JSON: invalid bytes are refused") {
  auto g = JsonGrammar::AnyJson();
  for (const char* doc : {"{,",
                          "{\"a\" 1}",
                          "{\"a\":}",
                          "[1,]",
                          "[1 2]",
                          "01",
                          "1.",
                          "1.e5",
                          "-",
                          "--1",
                          "+1",
                          "tru ",
                          "nul",
                          "\"a\\x\"",
                          "\"\\u12g\"",
                          "\"a\nb\"",
                          "{\"a\":1}x",
                          "{} ",
                          "]",
                          "{'a':1}",
                          "\"\xc3(\"",
                          "\"\xe0\x80\x80\"",
                          "\"\xed\xa0\x80\"",
                          "\"\xf5\"",
                          "\"\x80\"",
                          "[1}",
                          "{\"a\":1]"}) {
    JsonMatcher m(g.get());
    const bool fed = m.Feed(std::string_view(doc));
    CHECK_FALSE((fed && m.CanEnd()));
    INFO(doc);
    if (std::string_view(doc) != "-" && std::string_view(doc) != "nul" &&
        std::string_view(doc) != "1.") {
      CHECK_FALSE(fed);
    }
  }
  // Bounded: whitespace runs, digits, depth.
  CHECK(Refuses(*g, std::string("[").append(JsonGrammar::kMaxWhitespace + 1, ' ')));
  CHECK(Refuses(*g, std::string(JsonGrammar::kMaxDigits + 1, '7')));
  CHECK(Refuses(*g, std::string(JsonGrammar::kMaxDepth, '[')));
  CHECK(AcceptsAll(*g, std::string(JsonGrammar::kMaxDigits, '7')));
}

TEST_CASE("Schemas: prefixes of valid documents accepted, invalid ones refused") {
  auto g = JsonGrammar::FromSchema(kSchema);
  for (const char* doc :
       {R"({"name": "Rex", "kind": "dog"})", R"({"kind": 12, "name": ""})",
        R"({"kind":1,"name":"a","age":-3,"score":2.5e1,"tags":["a","b","c"],"ok":true,)"
        R"("nothing":null,"inner":{"x":null}})",
        R"({"name": "x", "kind": null, "inner": {"x": 7}, "tags": []})"}) {
    CHECK(AcceptsAll(*g, doc));
  }
  for (const char* doc : {
           R"({"name": "x"})",                                        // kind is required
           R"({"name": "x", "kind": "cow"})",                         // not in the enum
           R"({"name": "x", "kind": 13})",                            // nor this
           R"({"name": 5, "kind": 1})",                               // a number for a string
           R"({"name": "x", "kind": 1, "age": 1.5})",                 // a fraction for an integer
           R"({"name": "x", "kind": 1, "colour": "red"})",            // no such property
           R"({"name": "x", "name": "y", "kind": 1})",                // twice
           R"({"name": "x", "kind": 1, "tags": ["a","b","c","d"]})",  // maxItems
           R"({"name": "x", "kind": 1, "inner": {}})",                // inner.x is required
           R"({"name": "x", "kind": 1, "ok": null})",                 // a boolean
           R"([])",
       }) {
    INFO(doc);
    JsonMatcher m(g.get());
    CHECK_FALSE((m.Feed(std::string_view(doc)) && m.CanEnd()));
  }
  // The enum's 1 beside 12: complete at "1", and "12" goes on.
  auto e = JsonGrammar::FromSchema(R"({"enum": [1, 12, "a"]})");
  JsonMatcher m(e.get());
  CHECK(m.Feed(std::string_view("1")));
  CHECK(m.CanEnd());
  CHECK(m.Feed(std::string_view("2")));
  CHECK(m.CanEnd());
  CHECK(Refuses(*e, "13"));
  // minItems.
  auto a = JsonGrammar::FromSchema(R"({"type": "array", "items": {"type": "boolean"},
                                        "minItems": 2, "maxItems": 2})");
  CHECK(AcceptsAll(*a, "[true, false]"));
  CHECK(Refuses(*a, "[]"));
  CHECK(Refuses(*a, "[true]"));
  CHECK(Refuses(*a, "[true, true, true]"));
}

TEST_CASE("Schemas: unsupported keywords and bad schemas are refused by name and place") {
  auto refusal = [](const char* schema) -> std::string {
    try {
      JsonGrammar::FromSchema(schema, "s");
    } catch (const JsonSchemaError& e) {
      return e.what();
    }
    return "accepted";
  };
  CHECK(refusal(R"({"type": "string", "pattern": "a+"})") ==
        "s: the keyword 'pattern' is not supported");
  CHECK(refusal(R"({"properties": {"a": {"minimum": 3}}})") ==
        "s.properties.a: the keyword 'minimum' is not supported");
  CHECK(refusal(R"({"anyOf": []})") == "s: the keyword 'anyOf' is not supported");
  CHECK(refusal(R"({"type": "text"})").starts_with("s.type: unknown type 'text'"));
  CHECK(refusal(R"({"properties": {}, "required": ["b"]})").starts_with("s.required: 'b'"));
  CHECK(refusal(R"({"type": "string", "enum": [1]})").starts_with("s.enum[0]: 1 is not"));
  CHECK(refusal(R"({"items": [{}]})").starts_with("s.items: tuples"));
  CHECK(refusal(R"({"type": "array", "minItems": 3, "maxItems": 2})").starts_with("s.minItems"));
  CHECK(refusal("[1]") == "s: a schema must be an object");
  CHECK(refusal("{").starts_with("s: not valid JSON"));
  CHECK(refusal(R"({"type": "object", "properties": {"a": {"type": "string"}}})") == "accepted");
}

// A vocabulary with every byte, common JSON pieces, multi-byte characters split anywhere, and
// random strings; token 0 is "special" (no bytes), token 1 ends generation.
std::vector<std::string> TestVocabulary() {
  std::vector<std::string> v = {"", ""};
  for (int b = 1; b < 256; ++b) v.push_back(std::string(1, static_cast<char>(b)));
  for (const char* piece : {"{\"",
                            "\":",
                            "\": ",
                            "\",",
                            "\", \"",
                            "},",
                            "}}",
                            "]}",
                            "[]",
                            "{}",
                            "true",
                            "false",
                            "null",
                            "nul",
                            "tr",
                            "12",
                            "123",
                            "-1",
                            "0.",
                            ".5",
                            "e+",
                            "E-1",
                            "\"name\"",
                            "name",
                            "\"kind\": \"",
                            "dog",
                            "cat",
                            " \"",
                            "  ",
                            "\n",
                            "\n  ",
                            "\\n",
                            "\\u00",
                            "\\\"",
                            "\xc3\xa9",
                            "\xe2\x82",
                            "\xac",
                            "\xf0\x9f\x98\x80",
                            "x\"}",
                            "1,",
                            "1]",
                            "\"}",
                            "\"]",
                            ", ",
                            "ok",
                            "\"ok\": true}",
                            "\"inner\": {\"x\": 1}}",
                            "\"tags\": [\"a\"",
                            "null}"}) {
    v.push_back(piece);
  }
  std::mt19937 rng(7);
  const std::string alphabet = "{}[]\":, 0123456789.-+eEtrufalsn\\abkdogc\n";
  for (int i = 0; i < 300; ++i) {
    std::string s;
    const int length = 1 + static_cast<int>(rng() % 6);
    for (int j = 0; j < length; ++j) s += alphabet[rng() % alphabet.size()];
    v.push_back(s);
  }
  return v;
}

std::vector<uint64_t> BruteForce(const TokenVocabulary& vocabulary, const JsonMatcher& state,
                                 const std::vector<int32_t>& end_ids) {
  std::vector<uint64_t> mask((vocabulary.size() + 63) / 64, 0);
  for (int id = 0; id < vocabulary.size(); ++id) {
    bool ok;
    if (std::find(end_ids.begin(), end_ids.end(), id) != end_ids.end()) {
      ok = state.CanEnd();
    } else {
      JsonMatcher m = state;
      ok = !vocabulary.bytes(id).empty() && m.Feed(vocabulary.bytes(id));
    }
    if (ok) mask[id >> 6] |= uint64_t{1} << (id & 63);
  }
  return mask;
}

TEST_CASE("Token masks equal a walk of every token, along random generations that validate") {
  auto vocabulary = std::make_shared<TokenVocabulary>(TestVocabulary());
  for (const char* schema : {"", kSchema}) {
    auto g = *schema ? JsonGrammar::FromSchema(schema) : JsonGrammar::AnyJson(JsonGrammar::kObject);
    TokenMask masks(vocabulary, g, {1});
    std::mt19937 rng(3);
    int complete = 0, states = 0;
    for (int run = 0; run < 40; ++run) {
      JsonMatcher state(g.get());
      std::string text;
      for (int step = 0; step < 60; ++step) {
        const std::vector<uint64_t>& mask = masks.Allowed(state);
        ++states;
        REQUIRE(mask == BruteForce(*vocabulary, state, {1}));
        std::vector<int32_t> allowed;
        for (int id = 0; id < vocabulary->size(); ++id) {
          if (TokenMask::Test(mask, id)) allowed.push_back(id);
        }
        REQUIRE_FALSE(allowed.empty());
        // Prefer closing tokens as the run goes on, so that many documents complete.
        int32_t token = allowed[rng() % allowed.size()];
        if (step > 20 && TokenMask::Test(mask, 1)) token = 1;
        if (token == 1) break;
        REQUIRE(state.Feed(vocabulary->bytes(token)));
        text += vocabulary->bytes(token);
        if (state.Done()) break;
      }
      if (!state.CanEnd()) continue;
      ++complete;
      INFO(text);
      nlohmann::json doc = nlohmann::json::parse(text);  // throws if invalid
      REQUIRE(doc.is_object());
      if (*schema) {
        CHECK(doc.contains("name"));
        CHECK(doc.contains("kind"));
        CHECK(doc["name"].is_string());
        const nlohmann::json kinds = nlohmann::json::parse(R"(["cat", "dog", 12, 1, null])");
        CHECK(std::find(kinds.begin(), kinds.end(), doc["kind"]) != kinds.end());
        if (doc.contains("age")) CHECK(doc["age"].is_number_integer());
      }
    }
    INFO("schema: " << (*schema ? "yes" : "json_object"));
    CHECK(complete > 0);
    CHECK(states > 100);
    CHECK(masks.hits() > 0);
  }
}

}  // namespace
}  // namespace lmc::rt
