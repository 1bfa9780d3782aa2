// SentencePiece, WordPiece and GGUF-vocab loaders on the real shared assets and
// on broken copies made here: corrupt input is one Error naming the file, never
// a crash or a huge allocation. Id-exactness against libsentencepiece and
// Hugging Face tokenizers is tests/tokenizer/spm_reference_test.py.
#include "runtime/tokenizer/sentencepiece.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/tokenizer/gguf_vocab.h"
#include "runtime/tokenizer/llama2c_tokenizer.h"
#include "runtime/tokenizer/wordpiece.h"
#include "runtime/util/error.h"
#include "tests/assets.h"
#include "tests/test_util.h"

namespace lmc::rt {
namespace {

using Catch::Matchers::Contains;
using test::AssetPath;
using test::ReadBytes;
using test::TempDir;
using test::WriteBytes;

constexpr char kLlama2Model[] = "tokenizers/llama2-spm/tokenizer.model";
constexpr char kLlama2Bin[] = "tokenizers/llama2-spm/llama2c_tokenizer.bin";
constexpr char kTok512Model[] = "llama2c-stories260K/tok512.model";
constexpr char kTok512Bin[] = "llama2c-stories260K/tok512.bin";
constexpr char kLlamaGguf[] = "vocab-gguf/ggml-vocab-llama-spm.gguf";
constexpr char kBertGguf[] = "vocab-gguf/ggml-vocab-bert-bge.gguf";
constexpr char kGpt2Gguf[] = "vocab-gguf/ggml-vocab-gpt-2.gguf";

// Loading `path` either works or throws Error whose message names the file.
template <typename Load>
void LoadsOrFailsCleanly(const std::string& path, Load load) {
  try {
    auto tok = load(path);
    // Whatever loaded must encode and decode without crashing.
    const std::vector<int> ids = tok->Encode("Hello wörld\t日本 \xff", {});
    tok->Decode(ids);
  } catch (const Error& e) {
    REQUIRE_THAT(e.what(), Contains(path));
    REQUIRE(std::string(e.what()).find('\n') == std::string::npos);
  }
}

std::vector<std::string> Prompts() {
  return {"Hello world",
          "Once upon a time, there was a little girl named Lily.",
          "  two leading spaces and\ttabs\nand newlines\r\n",
          "café naïve 日本語 😀👨‍👩‍👧",
          "",
          "a"};
}

TEST_CASE("Llama 2 tokenizer.model, its GGUF and its llama2.c export agree") {
  const auto spm = LoadSentencePiece(AssetPath(kLlama2Model));
  const auto gguf = LoadGgufTokenizer(AssetPath(kLlamaGguf));
  // llama2.c's encoder is an independent implementation of the same BPE.
  const Llama2cTokenizer l2c = Llama2cTokenizer::Load(AssetPath(kLlama2Bin), 32000);
  CHECK(spm->vocab_size() == 32000);
  CHECK(spm->bos() == 1);
  CHECK(spm->eos() == 2);
  CHECK(gguf->bos() == 1);
  CHECK(gguf->eos() == 2);
  for (const std::string& p : Prompts()) {
    INFO(p);
    const EncodeOptions bos{.add_bos = true};
    const std::vector<int> ids = spm->Encode(p, bos);
    CHECK(ids == gguf->Encode(p, bos));
    CHECK(ids == l2c.Encode(p, true, false));
    CHECK(spm->Decode(ids) == p);
  }
}

TEST_CASE("tok512.model agrees with llama2.c's tok512.bin") {
  const auto spm = LoadSentencePiece(AssetPath(kTok512Model));
  const Llama2cTokenizer l2c = Llama2cTokenizer::Load(AssetPath(kTok512Bin), 512);
  // tok512 collapses whitespace runs (remove_extra_whitespaces), llama2.c does
  // not: compare on text with single spaces.
  for (const std::string p : {"Once upon a time, there was a little girl named Lily.",
                              "She liked to play with her dog Max in the park.", "x"}) {
    INFO(p);
    CHECK(spm->Encode(p, {.add_bos = true}) == l2c.Encode(p, true, false));
  }
}

TEST_CASE("parse_special matches control pieces; otherwise they are text") {
  const auto spm = LoadSentencePiece(AssetPath(kLlama2Model));
  const std::string text = "<s>Hello</s> world";
  const std::vector<int> plain = spm->Encode(text, {});
  CHECK(std::find(plain.begin(), plain.end(), 1) == plain.end());
  const std::vector<int> special = spm->Encode(text, {.parse_special = true});
  // Text between special pieces is encoded as a text of its own (as llama.cpp).
  std::vector<int> expected{1};
  const std::vector<int> hello = spm->Encode("Hello", {});
  expected.insert(expected.end(), hello.begin(), hello.end());
  expected.push_back(2);
  const std::vector<int> world = spm->Encode(" world", {});
  expected.insert(expected.end(), world.begin(), world.end());
  CHECK(special == expected);
}

TEST_CASE("BPE encode is not quadratic on long inputs without spaces") {
  const auto spm = LoadSentencePiece(AssetPath(kLlama2Model));
  std::string text;
  std::mt19937 rng(3);
  while (text.size() < 400000) text.push_back(static_cast<char>('a' + rng() % 26));
  const std::string same(400000, 'a');
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int> ids = spm->Encode(text, {});
  const std::vector<int> ids_same = spm->Encode(same, {});
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(spm->Decode(ids) == text);
  CHECK(spm->Decode(ids_same) == same);
  // A quadratic merge loop takes minutes here; n log n takes well under a second.
  CHECK(secs < 20.0);
}

TEST_CASE("encode and decode survive arbitrary bytes") {
  std::vector<std::unique_ptr<Tokenizer>> toks;
  toks.push_back(LoadSentencePiece(AssetPath(kLlama2Model)));
  toks.push_back(LoadSentencePiece(AssetPath(kTok512Model)));
  toks.push_back(LoadGgufTokenizer(AssetPath(kBertGguf)));
  std::mt19937 rng(11);
  for (int round = 0; round < 200; ++round) {
    std::string text(rng() % 300, '\0');
    for (char& c : text) c = static_cast<char>(rng());
    for (const auto& tok : toks) {
      const std::vector<int> ids = tok->Encode(text, {.add_bos = true, .parse_special = true});
      for (int id : ids) REQUIRE((id >= 0 && id < tok->vocab_size()));
      tok->Decode(ids);
    }
  }
  for (const auto& tok : toks) {
    const int bad[] = {tok->vocab_size()};
    REQUIRE_THROWS_WITH(tok->Decode(bad), Contains(tok->path()));
  }
}

TEST_CASE("truncated and corrupt .model files fail with one line naming the file") {
  TempDir dir;
  const std::string good = ReadBytes(AssetPath(kTok512Model));
  REQUIRE(good.size() > 1000);
  // Every 13th prefix, and the empty file.
  for (size_t n = 0; n < good.size(); n += 13) {
    const std::string path = dir.Write("trunc.model", good.substr(0, n));
    LoadsOrFailsCleanly(path, LoadSentencePiece);
  }
  std::mt19937 rng(5);
  for (int round = 0; round < 300; ++round) {
    std::string bad = good;
    for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k) {
      bad[rng() % bad.size()] = static_cast<char>(rng());
    }
    LoadsOrFailsCleanly(dir.Write("flip.model", bad), LoadSentencePiece);
  }
  REQUIRE_THROWS_WITH(LoadSentencePiece(dir.Write("junk.model", "\x0a\xff\xff\xff\xff\x0f")),
                      Contains("junk.model") && Contains("byte offset"));
  REQUIRE_THROWS_WITH(LoadSentencePiece(AssetPath(kLlama2Bin)), Contains("llama2c_tokenizer.bin"));
}

std::string GgufHeader(uint64_t kv_count) {
  std::string s = "GGUF";
  const uint32_t version = 3;
  const uint64_t tensors = 0;
  s.append(reinterpret_cast<const char*>(&version), 4);
  s.append(reinterpret_cast<const char*>(&tensors), 8);
  s.append(reinterpret_cast<const char*>(&kv_count), 8);
  return s;
}
void PutString(std::string* s, const std::string& v) {
  const uint64_t n = v.size();
  s->append(reinterpret_cast<const char*>(&n), 8);
  s->append(v);
}
template <typename T>
void Put(std::string* s, T v) {
  s->append(reinterpret_cast<const char*>(&v), sizeof(T));
}

TEST_CASE("GGUF with absurd counts or lengths fails before allocating") {
  TempDir dir;
  {
    const std::string p = dir.Write("kv.gguf", GgufHeader(uint64_t{1} << 62));
    REQUIRE_THROWS_WITH(LoadGgufTokenizer(p), Contains("kv.gguf") && Contains("metadata entries"));
  }
  {
    std::string s = GgufHeader(1);
    PutString(&s, "tokenizer.ggml.tokens");
    Put<uint32_t>(&s, 9);  // array
    Put<uint32_t>(&s, 8);  // of strings
    Put<uint64_t>(&s, uint64_t{1} << 60);
    s.append(64, 'x');
    const std::string p = dir.Write("tokens.gguf", s);
    REQUIRE_THROWS_WITH(LoadGgufTokenizer(p), Contains("tokens.gguf") && Contains("elements"));
  }
  {
    std::string s = GgufHeader(1);
    PutString(&s, "tokenizer.ggml.tokens");
    Put<uint32_t>(&s, 9);
    Put<uint32_t>(&s, 8);
    Put<uint64_t>(&s, 2);
    Put<uint64_t>(&s, uint64_t{1} << 50);  // a string longer than the file
    s.append(16, 'y');
    const std::string p = dir.Write("strlen.gguf", s);
    REQUIRE_THROWS_WITH(LoadGgufTokenizer(p), Contains("strlen.gguf") && Contains("byte offset"));
  }
  {
    std::string s = GgufHeader(1);
    PutString(&s, "general.nested");
    Put<uint32_t>(&s, 9);
    Put<uint32_t>(&s, 6);  // float32
    Put<uint64_t>(&s, uint64_t{1} << 61);
    const std::string p = dir.Write("skip.gguf", s);
    REQUIRE_THROWS_WITH(LoadGgufTokenizer(p), Contains("skip.gguf") && Contains("elements"));
  }
  {
    std::string s = "GGUF";
    Put<uint32_t>(&s, 1);
    s.append(16, '\0');
    REQUIRE_THROWS_WITH(LoadGgufTokenizer(dir.Write("v1.gguf", s)), Contains("version 1"));
    REQUIRE_THROWS_WITH(LoadGgufTokenizer(dir.Write("magic.gguf", "GGML1234")),
                        Contains("magic.gguf") && Contains("magic"));
  }
  // Truncations and byte flips of a real vocab GGUF.
  const std::string good = ReadBytes(AssetPath(kLlamaGguf));
  std::mt19937 rng(9);
  for (int round = 0; round < 60; ++round) {
    LoadsOrFailsCleanly(dir.Write("cut.gguf", good.substr(0, rng() % good.size())),
                        LoadGgufTokenizer);
    std::string bad = good;
    // Flip bytes in the header and metadata area, where counts and lengths live.
    for (int k = 0; k < 3; ++k) bad[rng() % 4096] = static_cast<char>(rng());
    LoadsOrFailsCleanly(dir.Write("flip.gguf", bad), LoadGgufTokenizer);
  }
}

// Its ids are checked against tiktoken's r50k_base in bpe_reference.
TEST_CASE("GGUF gpt2 vocab: metadata, and a byte-level BPE tokenizer") {
  const GgufVocab v = ReadGgufVocab(AssetPath(kGpt2Gguf));
  CHECK(v.model == "gpt2");
  CHECK(v.pre == "gpt-2");
  CHECK(v.tokens.size() == 50257);
  CHECK(v.merges.size() == 50000);
  CHECK(v.merges[0] == "\xc4\xa0 t");  // "Ġ t"
  CHECK(v.token_types.size() == 50257);
  CHECK(v.bos_id == 50256);
  const auto gpt2 = LoadGgufTokenizer(AssetPath(kGpt2Gguf));
  CHECK(gpt2->vocab_size() == 50257);
  CHECK(gpt2->eos() == 50256);
  // An unknown pre-tokenizer is refused by name (control bytes escaped); a known
  // chain (starcoder's) builds over the same vocab.
  GgufVocab unknown = v;
  unknown.pre = "no-such-pre\n";
  REQUIRE_THROWS_WITH(MakeGgufTokenizer(unknown), Contains("\"no-such-pre\\x0a\""));
  GgufVocab starcoder = v;
  starcoder.pre = "starcoder";
  CHECK(MakeGgufTokenizer(starcoder)->Encode("ab 123", {}).size() == 5);  // ab, " ", 1, 2, 3
}

TEST_CASE("GGUF BERT vocab: WordPiece with [CLS]/[SEP]") {
  const auto bert = LoadGgufTokenizer(AssetPath(kBertGguf));
  CHECK(bert->vocab_size() == 30522);
  CHECK(bert->bos() == 101);
  CHECK(bert->eos() == 102);
  const std::vector<int> ids = bert->Encode("Hello, WORLD!", {.add_bos = true, .add_eos = true});
  REQUIRE(ids.size() >= 4);
  CHECK(ids.front() == 101);
  CHECK(ids.back() == 102);
  CHECK(bert->Decode(ids) == "hello, world!");
}

TEST_CASE("WordPiece tokenizer.json errors name the file") {
  TempDir dir;
  REQUIRE_THROWS_WITH(LoadWordPiece(dir.Write("bad.json", "{\"model\": ")),
                      Contains("bad.json") && Contains("not valid JSON"));
  REQUIRE_THROWS_WITH(LoadWordPiece(dir.Write("bpe.json", R"({"model": {"type": "BPE"}})")),
                      Contains("bpe.json") && Contains("WordPiece"));
  REQUIRE_THROWS_WITH(
      LoadWordPiece(
          dir.Write("ids.json", R"({"model": {"type": "WordPiece", "vocab": {"a": 0, "b": 7}}})")),
      Contains("ids.json") && Contains("without repeats"));
  REQUIRE_THROWS_WITH(LoadWordPiece(dir.Write(
                          "unk.json", R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})")),
                      Contains("unk.json") && Contains("[UNK]"));
  const auto tok = LoadWordPiece(dir.Write(
      "ok.json",
      R"({"normalizer": {"type": "BertNormalizer", "lowercase": true}, "pre_tokenizer": {"type": "BertPreTokenizer"},
          "model": {"type": "WordPiece", "max_input_chars_per_word": 9,
                    "vocab": {"[UNK]": 0, "un": 1, "##aff": 2, "##able": 3, ",": 4, "a": 5,
                              "##a": 6}}})"));
  CHECK(tok->Encode("Unaffable, a", {}) == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(tok->Encode("aaaaaaaaa", {}) == std::vector<int>{5, 6, 6, 6, 6, 6, 6, 6, 6});
  CHECK(tok->Encode("aaaaaaaaaa", {}) == std::vector<int>{0});  // over 9 characters
  CHECK(tok->Encode("unx", {}) == std::vector<int>{0});
}

}  // namespace
}  // namespace lmc::rt
