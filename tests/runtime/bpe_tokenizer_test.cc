// Byte-level BPE tokenizers: UTF-8 handling, the hand-written pre-tokenizers
// against PCRE2 running the same regexes, the heap merge against the plain
// loop, and one-line errors for broken files (made here in a temp dir). Id
// agreement with the reference implementations is tests/tokenizer/bpe_reference_test.sh.

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "runtime/tokenizer/bpe.h"
#include "runtime/tokenizer/llama2c_tokenizer.h"
#include "runtime/tokenizer/pretokenize.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/utf8.h"
#include "runtime/util/error.h"
#include "tests/assets.h"
#include "tests/test_util.h"

namespace lmc::rt {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using test::AssetPath;
using test::ReadBytes;
using test::TempDir;
using test::WriteBytes;

constexpr char kCl100k[] = "tokenizers/tiktoken/cl100k_base.tiktoken";
constexpr char kO200k[] = "tokenizers/tiktoken/o200k_base.tiktoken";
constexpr char kGpt2[] = "tokenizers/gpt2";
constexpr char kLlama3[] = "tokenizers/llama3/tokenizer.json";

// The error a load throws: it must be one line naming the file.
std::string LoadError(const std::string& kind, const std::string& path) {
  try {
    LoadTokenizer(kind, path);
  } catch (const Error& e) {
    std::string message = e.what();
    CHECK(message.find('\n') == std::string::npos);
    CHECK_THAT(message, Contains(path));
    return message;
  }
  FAIL("loading " << path << " did not fail");
  return "";
}

// ---------------------------------------------------------------- UTF-8

TEST_CASE("lossy UTF-8 replaces each maximal invalid subpart once", "[utf8]") {
  const std::string r = "\xEF\xBF\xBD";
  CHECK(utf8::Lossy("ok") == "ok");
  CHECK(utf8::Lossy("\xF0\x9F\x98") == r);          // Truncated 4-byte: one U+FFFD.
  CHECK(utf8::Lossy("\xC0\x80") == r + r);          // Overlong: each byte.
  CHECK(utf8::Lossy("\xED\xA0\x80") == r + r + r);  // Surrogate: each byte.
  CHECK(utf8::Lossy("a\xFF"
                    "b") == "a" + r + "b");
  CHECK(utf8::Lossy("\xE2\x82"
                    "x") == r + "x");
  CHECK(utf8::IsValid("caf\xC3\xA9 \xF0\x9F\x98\x80"));
  CHECK_FALSE(utf8::IsValid("caf\xC3"));
  CHECK(utf8::IsValid(r));
}

TEST_CASE("the stream decoder holds incomplete characters back", "[utf8]") {
  const std::string text = "a\xC3\xA9\xF0\x9F\x98\x80\xE4\xB8\xAD!";  // aé😀中!
  utf8::StreamDecoder decoder;
  std::string out;
  for (char c : text) {
    std::string piece = decoder.Push(std::string(1, c));
    CHECK(utf8::IsValid(piece));
    out += piece;
  }
  out += decoder.Finish();
  CHECK(out == text);
  utf8::StreamDecoder broken;
  CHECK(broken.Push("x\xF0\x9F") == "x");
  CHECK(broken.Push("y") == "\xEF\xBF\xBDy");  // The cut character never completes.
  CHECK(broken.Push("\xE4\xB8") == "");
  CHECK(broken.Finish() == "\xEF\xBF\xBD");
}

TEST_CASE("streaming decode of byte tokens never prints half a character", "[utf8][bpe]") {
  auto tok = LoadTokenizer("", AssetPath(kCl100k));
  const std::string text = "emoji 👨‍👩‍👧‍👦 and 中文 and café";
  std::vector<int> ids = tok->Encode(text, {});
  utf8::StreamDecoder decoder;
  std::string out;
  bool held = false;
  for (int id : ids) {
    std::string piece = decoder.Push(tok->Decode(std::span<const int>(&id, 1)));
    CHECK(utf8::IsValid(piece));
    if (!utf8::IsValid(tok->Decode(std::span<const int>(&id, 1)))) held = true;
    out += piece;
  }
  out += decoder.Finish();
  CHECK(out == text);
  CHECK(held);  // Some token really did end mid-character.
}

// ---------------------------------------------------------------- pre-tokenizers

// Random text from characters that exercise every branch of the regexes.
std::string RandomText(std::mt19937& rng, int length) {
  static const std::vector<std::string> pool = {"a",
                                                "Z",
                                                "é",
                                                "Ǆ",
                                                "ǅ",
                                                "ʰ",
                                                "中",
                                                "ŉ",
                                                "ß",
                                                "σ",
                                                "Σ",
                                                "\xCC\x81",
                                                "\xE0\xA4\xBE",
                                                "1",
                                                "٣",
                                                "½",
                                                "Ⅻ",
                                                " ",
                                                " ",
                                                " ",
                                                "\t",
                                                "\n",
                                                "\r",
                                                "\r\n",
                                                "\v",
                                                "\xC2\x85",
                                                "\xC2\xA0",
                                                "\xE3\x80\x80",
                                                "\xE2\x80\xA8",
                                                "\xEF\xBB\xBF",
                                                "'",
                                                "'s",
                                                "'S",
                                                "'ll",
                                                "'LL",
                                                "'ve",
                                                "'re",
                                                "'d",
                                                "'m",
                                                "'t",
                                                "'\xC5\xBF",
                                                "!",
                                                ".",
                                                "/",
                                                "-",
                                                "$",
                                                "😀",
                                                "👍🏽",
                                                "<|endoftext|>"};
  std::string s;
  std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
  for (int i = 0; i < length; ++i) s += pool[pick(rng)];
  return s;
}

TEST_CASE("hand-written pre-tokenizers split like PCRE2 running the same regex", "[pretokenize]") {
  std::mt19937 rng(7);
  for (std::string_view pattern : {kGpt2Pattern, kCl100kPattern, kQwen2Pattern, kO200kPattern}) {
    auto fast = Pretokenizer::ForPattern(pattern, false, "test");
    auto pcre2 = Pretokenizer::ForPattern(pattern, false, "test", /*force_pcre2=*/true);
    REQUIRE(fast.engine() != Pretokenizer::Engine::kPcre2);
    REQUIRE(pcre2.engine() == Pretokenizer::Engine::kPcre2);
    for (int i = 0; i < 400; ++i) {
      std::string text = RandomText(rng, i % 40);
      std::vector<std::string_view> a, b;
      fast.Split(text, &a);
      pcre2.Split(text, &b);
      INFO("pattern " << pattern << "\ntext '" << text << "'");
      REQUIRE(std::vector<std::string>(a.begin(), a.end()) ==
              std::vector<std::string>(b.begin(), b.end()));
    }
  }
}

TEST_CASE("a bad --pattern is one clear error", "[pretokenize]") {
  CHECK_THROWS_WITH(Pretokenizer::ForPattern("(unclosed", false, "my.tiktoken"),
                    Contains("my.tiktoken: invalid pre-tokenizer regex"));
}

TEST_CASE("pieces between matches are kept for Hugging Face, dropped for tiktoken",
          "[pretokenize]") {
  std::vector<std::string_view> kept, dropped;
  Pretokenizer::ForPattern("[0-9]+", true, "t").Split("ab12cd3", &kept);
  Pretokenizer::ForPattern("[0-9]+", false, "t").Split("ab12cd3", &dropped);
  CHECK(std::vector<std::string>(kept.begin(), kept.end()) ==
        std::vector<std::string>{"ab", "12", "cd", "3"});
  CHECK(std::vector<std::string>(dropped.begin(), dropped.end()) ==
        std::vector<std::string>{"12", "3"});
}

TEST_CASE("a chain of regexes splits every piece of the one before", "[pretokenize]") {
  auto split = [](const Pretokenizer& p, std::string_view text) {
    std::vector<std::string_view> pieces;
    p.Split(text, &pieces);
    return std::vector<std::string>(pieces.begin(), pieces.end());
  };
  // StarCoder's chain: digits one by one, then GPT-2's regex on what is left.
  auto starcoder = Pretokenizer::ForPatterns({R"(\p{N})", std::string(kGpt2Pattern)}, true, "t");
  CHECK(split(starcoder, "ab 123 cd") == std::vector<std::string>{"ab", " ", "1", "2", "3", " cd"});
  // GPT-2's regex alone keeps " 123" whole.
  CHECK(split(Pretokenizer::ForPatterns({std::string(kGpt2Pattern)}, true, "t"), "ab 123 cd") ==
        std::vector<std::string>{"ab", " 123", " cd"});
  auto whole = Pretokenizer::ForPatterns({}, true, "t");
  CHECK(whole.engine() == Pretokenizer::Engine::kWhole);
  CHECK(split(whole, "a b\nc") == std::vector<std::string>{"a b\nc"});
  CHECK(split(whole, "").empty());
  CHECK_THROWS_WITH(Pretokenizer::ForPatterns({"a", "(b"}, true, "t.gguf"),
                    Contains("t.gguf: invalid pre-tokenizer regex"));
}

// ---------------------------------------------------------------- BPE

TEST_CASE("the heap merge gives the plain loop's tokens on long pieces", "[bpe]") {
  std::mt19937 rng(11);
  std::unique_ptr<BpeTokenizer> tokenizers[] = {LoadTiktoken(AssetPath(kCl100k)),
                                                LoadGpt2Bpe(AssetPath(kGpt2))};
  const std::string letters = "etaoinshrdlucmfwypvbgkqjxz";
  for (auto& tok : tokenizers) {
    for (int i = 0; i < 60; ++i) {
      std::string piece;
      int length = 48 + i * 7;
      std::uniform_int_distribution<size_t> pick(0, i % 2 ? 5 : letters.size() - 1);
      for (int k = 0; k < length; ++k) piece += letters[pick(rng)];
      std::vector<int> heap, loop;
      tok->EncodePiece(piece, &heap);
      tok->EncodePieceQuadratic(piece, &loop);
      INFO(tok->path() << ": " << piece);
      REQUIRE(heap == loop);
      REQUIRE(tok->Decode(heap) == piece);
    }
  }
}

TEST_CASE("a long word is encoded in linear time", "[bpe]") {
  auto tok = LoadTokenizer("", AssetPath(kO200k));
  std::string word;
  for (int i = 0; i < 200000; ++i) word += static_cast<char>('a' + (i * 7 + i / 13) % 26);
  std::vector<int> ids = tok->Encode(word, {});  // Seconds if quadratic; a few ms here.
  CHECK(tok->Decode(ids) == word);
}

TEST_CASE("special tokens match only when asked", "[bpe]") {
  auto tok = LoadTokenizer("tiktoken", AssetPath(kCl100k));
  EncodeOptions plain, special;
  special.parse_special = true;
  CHECK(tok->Encode("a<|endoftext|>b", special) == std::vector<int>{64, 100257, 65});
  CHECK(tok->Encode("a<|endoftext|>b", plain).size() > 3);
  CHECK(tok->Decode(tok->Encode("x<|endofprompt|>", special)) == "x<|endofprompt|>");
  CHECK(tok->eos() == 100257);
  CHECK(tok->vocab_size() == 100277);
  auto llama3 = LoadTokenizer("", AssetPath(kLlama3));
  EncodeOptions bos;
  bos.add_bos = true;
  CHECK(llama3->bos() == 128000);
  CHECK(llama3->Encode("", bos) == std::vector<int>{128000});
  CHECK(llama3->vocab_size() == 128256);
}

TEST_CASE("decode rejects ids outside the vocabulary", "[bpe]") {
  auto tok = LoadTokenizer("", AssetPath(kCl100k));
  std::vector<int> bad = {100277};
  CHECK_THROWS_WITH(tok->Decode(bad), Contains("token id 100277 is out of range"));
  std::vector<int> unused = {100265};
  CHECK_THROWS_WITH(tok->Decode(unused), Contains("not used"));
}

TEST_CASE("llama2.c tokenizer.bin loads through LoadTokenizer", "[bpe]") {
  const std::string path = AssetPath("llama2c-stories260K/tok512.bin");
  auto tok = LoadTokenizer("", path);
  auto direct = Llama2cTokenizer::Load(path, 512);
  EncodeOptions bos;
  bos.add_bos = true;
  CHECK(tok->vocab_size() == 512);
  CHECK(tok->Encode("Once upon a time", bos) == direct.Encode("Once upon a time", true, false));
  CHECK(tok->Decode(tok->Encode("Once upon a time", bos)) == "Once upon a time");
  CHECK(tok->Decode(tok->Encode("Once upon a time", {})) == "Once upon a time");
}

// ---------------------------------------------------------------- broken files

TEST_CASE("broken tiktoken rank files give one-line errors", "[bpe][errors]") {
  TempDir dir;
  const std::string good = ReadBytes(AssetPath(kCl100k));
  const std::string lines = good.substr(0, good.find('\n', 5000) + 1);
  CHECK_THAT(LoadError("", dir.Write("cl100k_base.tiktoken", lines)),
             Contains("ranks, but cl100k_base has 100256 (truncated?)"));
  CHECK_THAT(LoadError("", dir.Write("cl100k_base.tiktoken", good.substr(0, good.size() - 3))),
             Contains("no newline (truncated?)"));
  CHECK_THAT(LoadError("", dir.Write("cl100k_base.tiktoken", "IQ== 0\n!!!= 1\n")),
             Contains(":2: invalid base64 token"));
  CHECK_THAT(LoadError("", dir.Write("cl100k_base.tiktoken", "IQ== zero\n")),
             Contains(":1: expected a non-negative integer rank"));
  // A rank indexes a dense table: a huge one must not allocate gigabytes.
  CHECK_THROWS_WITH(LoadTiktoken(dir.Write("z.tiktoken", "IQ== 1000000000\n"), "\\S+"),
                    Contains("z.tiktoken:1: rank 1000000000 is too large, expected below 4194304"));
  CHECK_THAT(LoadError("", dir.Write("cl100k_base.tiktoken", "IQ==\n")),
             Contains(":1: expected 'base64-token rank'"));
  CHECK_THAT(LoadError("", dir.Write("cl100k_base.tiktoken", "")), Contains("empty rank file"));
  CHECK_THAT(LoadError("", dir.Write("mine.tiktoken", lines)),
             Contains("unknown tiktoken encoding 'mine'"));
  CHECK_THAT(LoadError("tiktoken", dir.Write("other.tiktoken", "IQ== 0\nIQ== 1\n")),
             Contains("unknown tiktoken encoding"));
  CHECK_THROWS_WITH(LoadTiktoken(dir.Write("x.tiktoken", "IQ== 0\nIQ== 1\n"), "\\S+"),
                    Contains("token 1 has the same bytes as token 0"));
  CHECK_THROWS_WITH(LoadTiktoken(dir.Write("y.tiktoken", "IQ== 0\n"), "\\S+"),
                    Contains("no token for the byte 0x00"));
}

TEST_CASE("broken GPT-2 files give one-line errors", "[bpe][errors]") {
  TempDir dir;
  const std::string encoder = ReadBytes(AssetPath(std::string(kGpt2) + "/encoder.json"));
  const std::string merges = ReadBytes(AssetPath(std::string(kGpt2) + "/vocab.bpe"));
  fs::create_directory(dir.File("a"));
  dir.Write("a/encoder.json", encoder.substr(0, encoder.size() / 2));
  dir.Write("a/vocab.bpe", merges);
  CHECK_THAT(LoadError("", dir.File("a")), Contains("encoder.json: invalid JSON (truncated?)"));
  fs::create_directory(dir.File("b"));
  dir.Write("b/encoder.json", encoder);
  dir.Write("b/vocab.bpe", merges.substr(0, merges.size() / 2));
  CHECK_THAT(LoadError("gpt2_bpe", dir.File("b")), Contains("vocab.bpe"));
  dir.Write("b/vocab.bpe", "#version: 0.2\nĠ t\nnot-a-token x\n");
  CHECK_THAT(LoadError("gpt2_bpe", dir.File("b")),
             Contains("vocab.bpe:3: merge uses 'not-a-token', which is not in the vocabulary"));
  dir.Write("b/vocab.bpe", "#version: 0.2\nĠ t extra\n");
  CHECK_THAT(LoadError("gpt2_bpe", dir.File("b")), Contains("vocab.bpe:2: expected two tokens"));
  dir.Write("b/encoder.json", "{\"a\": \"one\"}");
  CHECK_THAT(LoadError("gpt2_bpe", dir.File("b")), Contains("expected an integer in [0, 4194304)"));
  dir.Write("b/encoder.json", "{\"a\": 1000000000}");
  CHECK_THAT(LoadError("gpt2_bpe", dir.File("b")),
             Contains("token 'a' has id 1000000000, expected an integer in [0, 4194304)"));
  fs::create_directory(dir.File("c"));
  dir.Write("c/encoder.json", encoder);
  CHECK_THAT(LoadError("gpt2_bpe", dir.File("c")), Contains("no vocab.bpe or merges.txt"));
}

TEST_CASE("broken tokenizer.json files give one-line errors", "[bpe][errors]") {
  TempDir dir;
  const std::string json = ReadBytes(AssetPath(kLlama3));
  CHECK_THAT(LoadError("", dir.Write("cut.json", json.substr(0, json.size() - 1000))),
             Contains("invalid JSON (truncated?)"));
  CHECK_THAT(
      LoadError("", dir.Write("wp.json", R"({"model": {"type": "WordPiece", "vocab": {}}})")),
      Contains("model.vocab must be a non-empty object"));  // Loaded as WordPiece.
  CHECK_THAT(LoadError("huggingface", dir.Write("none.json", R"([1, 2])")),
             Contains("not a Hugging Face tokenizer.json"));
  CHECK_THAT(LoadError("", dir.Write("meta.json", R"({"pre_tokenizer": {"type": "Metaspace"},
      "model": {"type": "BPE", "vocab": {}, "merges": []}})")),
             Contains("pre_tokenizer 'Metaspace' is not supported yet"));
  CHECK_THAT(LoadError("", dir.Write("added.json", R"({"added_tokens": [{"id": 1000000000,
      "content": "x"}], "pre_tokenizer": {"type": "ByteLevel"},
      "model": {"type": "BPE", "vocab": {}, "merges": []}})")),
             Contains("added_tokens[0]: expected {\"id\": integer in [0, 4194304)"));
  CHECK_THAT(LoadError("", dir.Write("late.json", R"({"pre_tokenizer": {"type": "Sequence",
      "pretokenizers": [{"type": "ByteLevel"}, {"type": "Digits"}]},
      "model": {"type": "BPE", "vocab": {}, "merges": []}})")),
             Contains("pre_tokenizer 'Digits' after ByteLevel is not supported"));
  CHECK_THAT(LoadError("", dir.Write("prefix.json", R"({"pre_tokenizer": {"type": "Sequence",
      "pretokenizers": [{"type": "Digits"}, {"type": "ByteLevel", "add_prefix_space": true}]},
      "model": {"type": "BPE", "vocab": {}, "merges": []}})")),
             Contains("ByteLevel add_prefix_space after a Split or Digits is not supported"));
  std::string bad_merge = json;
  size_t at = bad_merge.find("\"Ġ Ġ\"");
  REQUIRE(at != std::string::npos);
  bad_merge.replace(at, 7, "\"Ġ Q9\"");
  CHECK_THAT(LoadError("", dir.Write("merge.json", bad_merge)),
             Contains("model.merges[0]: merge uses 'Q9', which is not in the vocabulary"));
}

TEST_CASE("unknown kinds and files of another kind are refused clearly", "[bpe][errors]") {
  TempDir dir;
  const std::string f = dir.Write("tokenizer.model", "x");
  // Each kind's loader names the file and what it expected instead.
  CHECK_THAT(LoadError("", f), Contains(f));
  CHECK_THAT(LoadError("wordpiece", f), Contains(f));
  CHECK_THAT(LoadError("gguf", f), Contains(f));
  CHECK_THAT(LoadError("bpe?", f), Contains("unknown tokenizer kind 'bpe?'"));
  CHECK_THAT(LoadError("", dir.File("missing.json")), Contains("no such file"));
  fs::create_directory(dir.File("empty"));
  CHECK_THAT(LoadError("", dir.File("empty")), Contains("a folder without tokenizer.json"));
  CHECK_THAT(LoadError("llama2c", dir.Write("t.bin", "\x07\x00\x00\x00\x01")),
             Contains("not a llama2.c tokenizer.bin"));
}

TEST_CASE("arbitrary bytes never crash encode or decode", "[bpe][fuzz]") {
  std::mt19937 rng(3);
  auto tok = LoadTokenizer("", AssetPath(kO200k));
  auto gpt2 = LoadTokenizer("", AssetPath(kGpt2));
  EncodeOptions special;
  special.parse_special = true;
  for (int i = 0; i < 300; ++i) {
    std::string bytes(i % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    for (auto* t : {tok.get(), gpt2.get()}) {
      std::vector<int> ids = t->Encode(bytes, special);
      CHECK(t->Decode(ids) == utf8::Lossy(bytes));
    }
  }
}

// A small but complete byte-level tokenizer.json: the 256 bytes, two merges, one special.
std::string TinyTokenizerJson() {
  std::string vocab;
  for (int b = 0; b < 256; ++b) {
    std::string c = ByteLevelChar(static_cast<uint8_t>(b));
    if (c == "\"" || c == "\\") c = "\\" + c;
    vocab += "\"" + c + "\": " + std::to_string(b) + ", ";
  }
  return R"({"added_tokens": [{"id": 258, "content": "<|x|>", "special": true}],
    "normalizer": null, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false},
    "model": {"type": "BPE", "vocab": {)" +
         vocab + R"("Ġt": 256, "he": 257}, "merges": ["Ġ t", ["h", "e"]]}})";
}

TEST_CASE("mutated tokenizer files load or fail cleanly, never crash", "[bpe][fuzz]") {
  TempDir dir;
  std::mt19937 rng(5);
  const std::string json = TinyTokenizerJson();
  {
    auto tok = LoadHuggingFaceBpe(dir.Write("tiny.json", json));
    CHECK(tok->Encode(" the<|x|>", {.parse_special = true}) == std::vector<int>{256, 257, 258});
  }
  std::string ranks;
  for (int i = 0; i < 300; ++i) {
    static const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (i < 256) {  // The byte i.
      ranks += std::string{kB64[i >> 2], kB64[(i & 3) << 4], '=', '='};
    } else {  // Two letters.
      int a = 'a' + (i - 256) % 26, b = 'a' + (i - 256) / 26;
      ranks += std::string{kB64[a >> 2], kB64[((a & 3) << 4) | (b >> 4)], kB64[(b & 15) << 2], '='};
    }
    ranks += ' ';
    ranks += std::to_string(i);
    ranks += '\n';
  }
  int loaded = 0, refused = 0;
  for (int i = 0; i < 400; ++i) {
    const bool is_json = i % 2 == 0;
    std::string bytes = is_json ? json : ranks;
    if (i % 5 == 0) {
      bytes.resize(rng() % bytes.size());
    } else {
      for (int k = 0; k < 1 + i % 3; ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    }
    try {
      std::unique_ptr<BpeTokenizer> tok =
          is_json ? LoadHuggingFaceBpe(dir.Write("m.json", bytes))
                  : LoadTiktoken(dir.Write("m.tiktoken", bytes), std::string(kCl100kPattern));
      std::vector<int> ids = tok->Encode("the <|x|> 12\xff", {.parse_special = true});
      (void)tok->Decode(ids);
      ++loaded;
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find('\n') == std::string::npos);
      ++refused;
    }
  }
  CHECK(loaded > 0);
  CHECK(refused > 0);
}

}  // namespace
}  // namespace lmc::rt
