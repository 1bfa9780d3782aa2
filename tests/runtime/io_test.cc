// Runtime input/output on the real shared assets: mapped files, the llama2.c
// checkpoint and tokenizer, the sampler, and the .npy writer. Broken files are
// made at test time in a temp dir, never committed.

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "runtime/sampling/sampler.h"
#include "runtime/tokenizer/llama2c_tokenizer.h"
#include "runtime/util/error.h"
#include "runtime/util/npy.h"
#include "runtime/util/output_file.h"
#include "runtime/weights/llama2c_checkpoint.h"
#include "runtime/weights/mapped_file.h"
#include "runtime/weights/tensor_source.h"
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

constexpr char kStories[] = "llama2c-stories260K/stories260K.bin";
constexpr char kTok512[] = "llama2c-stories260K/tok512.bin";
constexpr char kLlama2Tok[] = "tokenizers/llama2-spm/llama2c_tokenizer.bin";
constexpr size_t kStoriesBytes = 1056540;

// The config stories260K.bin was exported with (see MANIFEST.md).
Llama2cConfig StoriesConfig() {
  Llama2cConfig c;
  c.dim = 64;
  c.hidden_dim = 172;
  c.n_layers = 5;
  c.n_heads = 8;
  c.n_kv_heads = 4;
  c.vocab_size = 512;
  c.seq_len = 512;
  c.shared_classifier = true;
  return c;
}

template <typename T>
T ReadAt(const std::string& bytes, size_t offset) {
  REQUIRE(offset + sizeof(T) <= bytes.size());
  T v;
  std::memcpy(&v, bytes.data() + offset, sizeof(T));
  return v;
}

template <typename T>
void PutAt(std::string& bytes, size_t offset, T v) {
  std::memcpy(bytes.data() + offset, &v, sizeof(T));
}

// ---------------------------------------------------------------- shapes, mmap

TEST_CASE("ShapeToString formats like a list", "[tensor_source]") {
  CHECK(ShapeToString({64, 172}) == "[64, 172]");
  CHECK(ShapeToString({64}) == "[64]");
  CHECK(ShapeToString({}) == "[]");
}

TEST_CASE("MappedFile maps a real file read-only", "[mapped_file]") {
  const std::string path = AssetPath(kStories);
  MappedFile file = MappedFile::Open(path);
  REQUIRE(file.size() == kStoriesBytes);
  CHECK(file.path() == path);
  CHECK(ReadAt<int32_t>(std::string(reinterpret_cast<const char*>(file.data()), 28), 0) == 64);

  const uint8_t* data = file.data();
  MappedFile moved = std::move(file);
  CHECK(moved.data() == data);
  CHECK(moved.size() == kStoriesBytes);
  CHECK(file.data() == nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
}

TEST_CASE("MappedFile errors name the path", "[mapped_file]") {
  TempDir dir;
  const std::string missing = dir.File("nope.bin");
  CHECK_THROWS_WITH(MappedFile::Open(missing),
                    Contains(missing) && Contains("No such file or directory"));
  const std::string sub = dir.File("subdir");
  fs::create_directory(sub);
  CHECK_THROWS_WITH(MappedFile::Open(sub), Contains(sub) && Contains("is a directory"));
  const std::string empty = WriteBytes(dir.File("empty.bin"), "");
  CHECK_THROWS_WITH(MappedFile::Open(empty), Contains(empty) && Contains("empty"));
  CHECK_THROWS_AS(MappedFile::Open(missing), Error);
}

// ---------------------------------------------------------- llama2.c checkpoint

TEST_CASE("stories260K.bin opens with the manifest config", "[checkpoint]") {
  const std::string path = AssetPath(kStories);
  const std::string bytes = ReadBytes(path);
  REQUIRE(bytes.size() == kStoriesBytes);
  auto ckpt = Llama2cCheckpoint::Open(path, StoriesConfig());
  CHECK(ckpt->path() == path);
  CHECK(ckpt->config().dim == 64);
  CHECK(ckpt->config().vocab_size == 512);
  CHECK(ckpt->config().shared_classifier);

  const float* tok = ckpt->F32("tok_embeddings.weight", {512, 64});
  CHECK(ckpt->F32("output.weight", {512, 64}) == tok);

  // The float read straight from the file at the offset the layout implies.
  auto file_float = [&](int64_t float_index) {
    return ReadAt<float>(bytes, 28 + 4 * static_cast<size_t>(float_index));
  };
  CHECK(tok[0] == file_float(0));
  CHECK(tok[512 * 64 - 1] == file_float(512 * 64 - 1));

  const int64_t dim = 64, hidden = 172, layers = 5, kv_dim = 32;
  const int64_t rms_att = 512 * dim;
  const int64_t wq = rms_att + layers * dim;
  const int64_t wk = wq + layers * dim * dim;
  const int64_t wv = wk + layers * kv_dim * dim;
  const int64_t wo = wv + layers * kv_dim * dim;
  const int64_t rms_ffn = wo + layers * dim * dim;
  const int64_t w1 = rms_ffn + layers * dim;
  const int64_t w2 = w1 + layers * hidden * dim;
  const int64_t w3 = w2 + layers * dim * hidden;
  const int64_t norm = w3 + layers * hidden * dim;
  // After the final norm come the two legacy freq_cis tables, [512, 4] each.
  REQUIRE(28 + 4 * (norm + dim + 2 * 512 * 4) == static_cast<int64_t>(kStoriesBytes));

  const float* base = tok;
  CHECK(ckpt->F32("layers.0.attention_norm.weight", {64}) == base + rms_att);
  CHECK(ckpt->F32("layers.3.attention.wq.weight", {64, 64}) == base + wq + 3 * dim * dim);
  CHECK(ckpt->F32("layers.1.attention.wk.weight", {32, 64}) == base + wk + kv_dim * dim);
  CHECK(ckpt->F32("layers.4.attention.wv.weight", {32, 64}) == base + wv + 4 * kv_dim * dim);
  CHECK(ckpt->F32("layers.2.attention.wo.weight", {64, 64}) == base + wo + 2 * dim * dim);
  CHECK(ckpt->F32("layers.4.ffn_norm.weight", {64}) == base + rms_ffn + 4 * dim);
  CHECK(ckpt->F32("layers.1.feed_forward.w1.weight", {172, 64}) == base + w1 + hidden * dim);
  const float* w2_2 = ckpt->F32("layers.2.feed_forward.w2.weight", {64, 172});
  CHECK(w2_2 == base + w2 + 2 * dim * hidden);
  CHECK(w2_2[0] == file_float(w2 + 2 * dim * hidden));
  CHECK(ckpt->F32("layers.4.feed_forward.w3.weight", {172, 64}) == base + w3 + 4 * hidden * dim);
  const float* final_norm = ckpt->F32("norm.weight", {64});
  CHECK(final_norm == base + norm);
  CHECK(final_norm[63] == file_float(norm + 63));

  // Sanity of the values themselves: RMSNorm gains are O(1), embeddings small.
  for (int i = 0; i < 64; ++i) {
    CHECK(std::isfinite(final_norm[i]));
    CHECK(std::fabs(final_norm[i]) < 100.0f);
  }
  // freq_cis_real at position 0 is cos(0) = 1: proves the tables sit where the layout says.
  CHECK(file_float(norm + dim) == Approx(1.0f));
}

TEST_CASE("checkpoint config mismatches name the field, expected and found", "[checkpoint]") {
  const std::string path = AssetPath(kStories);
  struct Case {
    const char* field;
    void (*mutate)(Llama2cConfig&);
    const char* message;
  };
  const Case cases[] = {
      {"dim", [](Llama2cConfig& c) { c.dim = 128; },
       "header field dim is 64, but the model was compiled for 128"},
      {"hidden_dim", [](Llama2cConfig& c) { c.hidden_dim = 176; },
       "header field hidden_dim is 172, but the model was compiled for 176"},
      {"n_layers", [](Llama2cConfig& c) { c.n_layers = 6; },
       "header field n_layers is 5, but the model was compiled for 6"},
      {"n_heads", [](Llama2cConfig& c) { c.n_heads = 4; },
       "header field n_heads is 8, but the model was compiled for 4"},
      {"n_kv_heads", [](Llama2cConfig& c) { c.n_kv_heads = 8; },
       "header field n_kv_heads is 4, but the model was compiled for 8"},
      {"vocab_size", [](Llama2cConfig& c) { c.vocab_size = 32000; },
       "header field vocab_size is 512, but the model was compiled for 32000"},
      {"seq_len", [](Llama2cConfig& c) { c.seq_len = 256; },
       "header field seq_len is 512, but the model was compiled for 256"},
      {"untied", [](Llama2cConfig& c) { c.shared_classifier = false; },
       "header says the classifier is tied to the token embedding (positive vocab_size), but the "
       "model was compiled with an untied classifier"},
  };
  for (const Case& c : cases) {
    SECTION(c.field) {
      Llama2cConfig expected = StoriesConfig();
      c.mutate(expected);
      CHECK_THROWS_WITH(Llama2cCheckpoint::Open(path, expected),
                        Contains(path + ": ") && Contains(c.message));
    }
  }
}

TEST_CASE("untied checkpoints: negative vocab_size and a trailing classifier", "[checkpoint]") {
  TempDir dir;
  std::string bytes = ReadBytes(AssetPath(kStories));
  PutAt<int32_t>(bytes, 20, -512);

  // The header alone flips: the tied model refuses it.
  const std::string flipped = WriteBytes(dir.File("flipped.bin"), bytes);
  CHECK_THROWS_WITH(Llama2cCheckpoint::Open(flipped, StoriesConfig()),
                    Contains(flipped) &&
                        Contains("header says the classifier is untied (negative vocab_size), but "
                                 "the model was compiled with tied embeddings"));
  // An untied model wants the extra [512, 64] classifier and says so.
  Llama2cConfig untied = StoriesConfig();
  untied.shared_classifier = false;
  const size_t full = kStoriesBytes + 512 * 64 * 4;
  CHECK_THROWS_WITH(Llama2cCheckpoint::Open(flipped, untied),
                    Contains(fmt::format("truncated: expected {} bytes for this config, found {}",
                                         full, kStoriesBytes)));

  // With the classifier appended it opens, and output.weight is the new block.
  std::string wcls(512 * 64 * 4, '\0');
  for (int i = 0; i < 512 * 64; ++i) PutAt<float>(wcls, 4 * i, 0.25f * static_cast<float>(i % 7));
  const std::string path = WriteBytes(dir.File("untied.bin"), bytes + wcls);
  auto ckpt = Llama2cCheckpoint::Open(path, untied);
  CHECK_FALSE(ckpt->config().shared_classifier);
  const float* tok = ckpt->F32("tok_embeddings.weight", {512, 64});
  const float* out = ckpt->F32("output.weight", {512, 64});
  CHECK(out != tok);
  CHECK(out[0] == 0.0f);
  CHECK(out[5] == 1.25f);
  CHECK(out[512 * 64 - 1] == 0.25f * ((512 * 64 - 1) % 7));
}

TEST_CASE("checkpoint size must match the config exactly", "[checkpoint]") {
  TempDir dir;
  const std::string bytes = ReadBytes(AssetPath(kStories));

  const std::string truncated =
      WriteBytes(dir.File("truncated.bin"), bytes.substr(0, bytes.size() - 4));
  CHECK_THROWS_WITH(Llama2cCheckpoint::Open(truncated, StoriesConfig()),
                    Contains(truncated + ": truncated: expected 1056540 bytes for this config, "
                                         "found 1056536"));

  const std::string extended = WriteBytes(dir.File("extended.bin"), bytes + std::string(12, '\0'));
  CHECK_THROWS_WITH(Llama2cCheckpoint::Open(extended, StoriesConfig()),
                    Contains(extended) && Contains("expected 1056540 bytes") &&
                        Contains("found 1056552 (12 trailing bytes)"));

  const std::string header_only = WriteBytes(dir.File("short.bin"), bytes.substr(0, 10));
  CHECK_THROWS_WITH(Llama2cCheckpoint::Open(header_only, StoriesConfig()),
                    Contains(header_only) && Contains("truncated") && Contains("28-byte"));
}

TEST_CASE("nonsense checkpoint headers give clear errors", "[checkpoint]") {
  TempDir dir;
  SECTION("a text file") {
    const std::string path =
        WriteBytes(dir.File("story.txt"),
                   "Once upon a time, there was a little girl named Lily. She loved to "
                   "play outside in the park.\n");
    // "Once" read as an int32 is 1701015119: positive, so it is compared and refused.
    CHECK_THROWS_WITH(
        Llama2cCheckpoint::Open(path, StoriesConfig()),
        Contains(path) && Contains("header field dim is 1701015119, but the model was compiled "
                                   "for 64"));
  }
  SECTION("negative and zero fields") {
    const std::string path = WriteBytes(dir.File("ff.bin"), std::string(64, '\xff'));
    CHECK_THROWS_WITH(Llama2cCheckpoint::Open(path, StoriesConfig()),
                      Contains(path) && Contains("header field dim is -1, must be positive"));
    std::string bytes = ReadBytes(AssetPath(kStories));
    PutAt<int32_t>(bytes, 20, 0);
    const std::string zero_vocab = WriteBytes(dir.File("zero_vocab.bin"), bytes);
    CHECK_THROWS_WITH(Llama2cCheckpoint::Open(zero_vocab, StoriesConfig()),
                      Contains("header field vocab_size is 0, not a valid vocabulary size"));
    // -1 is one token with an untied classifier: the message says what the file holds.
    PutAt<int32_t>(bytes, 20, -1);
    const std::string minus_one = WriteBytes(dir.File("minus_one_vocab.bin"), bytes);
    CHECK_THROWS_WITH(Llama2cCheckpoint::Open(minus_one, StoriesConfig()),
                      Contains(minus_one) &&
                          Contains("header field vocab_size is -1 (1 token, untied classifier), "
                                   "but the model was compiled for 512"));
    PutAt<int32_t>(bytes, 20, INT32_MIN);
    const std::string min_vocab = WriteBytes(dir.File("min_vocab.bin"), bytes);
    CHECK_THROWS_WITH(
        Llama2cCheckpoint::Open(min_vocab, StoriesConfig()),
        Contains("header field vocab_size is -2147483648, not a valid vocabulary size"));
  }
  SECTION("huge fields in a config that would overflow") {
    // Matching a huge compiled config must not allocate or overflow: the size
    // check runs in 64-bit arithmetic before any pointer is used.
    std::string bytes = ReadBytes(AssetPath(kStories));
    Llama2cConfig huge = StoriesConfig();
    huge.dim = 1 << 30;
    huge.n_heads = 1 << 20;
    huge.n_kv_heads = 1 << 20;
    huge.hidden_dim = INT32_MAX;
    huge.n_layers = INT32_MAX;
    PutAt<int32_t>(bytes, 0, huge.dim);
    PutAt<int32_t>(bytes, 4, huge.hidden_dim);
    PutAt<int32_t>(bytes, 8, huge.n_layers);
    PutAt<int32_t>(bytes, 12, huge.n_heads);
    PutAt<int32_t>(bytes, 16, huge.n_kv_heads);
    const std::string path = WriteBytes(dir.File("huge.bin"), bytes);
    CHECK_THROWS_WITH(Llama2cCheckpoint::Open(path, huge), Contains(path) && Contains("overflow"));
  }
  SECTION("a versioned llama2.c export") {
    std::string bytes = ReadBytes(AssetPath(kStories));
    PutAt<int32_t>(bytes, 0, 0x616b3432);
    PutAt<int32_t>(bytes, 4, 2);
    const std::string path = WriteBytes(dir.File("v2.bin"), bytes);
    CHECK_THROWS_WITH(Llama2cCheckpoint::Open(path, StoriesConfig()),
                      Contains(path) && Contains("version 2") && Contains("version 0"));
  }
  SECTION("missing file") {
    const std::string path = dir.File("missing.bin");
    CHECK_THROWS_WITH(Llama2cCheckpoint::Open(path, StoriesConfig()),
                      Contains(path) && Contains("cannot open"));
  }
}

TEST_CASE("checkpoint tensor lookups check name and shape", "[checkpoint]") {
  const std::string path = AssetPath(kStories);
  auto ckpt = Llama2cCheckpoint::Open(path, StoriesConfig());
  const TensorSource& source = *ckpt;
  CHECK_THROWS_WITH(source.Tensor("layers.5.attention.wq.weight", {64, 64}),
                    Contains(path + ": no tensor named 'layers.5.attention.wq.weight'"));
  CHECK_THROWS_WITH(source.Tensor("freq_cis_real", {512, 4}),
                    Contains("no tensor named 'freq_cis_real'"));
  CHECK_THROWS_WITH(
      source.Tensor("layers.0.attention.wk.weight", {64, 64}),
      Contains(path +
               ": tensor 'layers.0.attention.wk.weight' has shape [32, 64], expected [64, 64]"));
  CHECK_THROWS_WITH(source.Tensor("norm.weight", {1, 64}),
                    Contains("tensor 'norm.weight' has shape [64], expected [1, 64]"));
  // Views: every llama2.c tensor is f32 in place.
  const TensorView wk = source.Tensor("layers.1.attention.wk.weight", {32, 64});
  CHECK(wk.dtype == DType::kF32);
  CHECK(wk.bytes == 32 * 64 * 4);
  CHECK(reinterpret_cast<const float*>(wk.data) ==
        ckpt->F32("layers.1.attention.wk.weight", {32, 64}));
  CHECK(source.Find("freq_cis_real") == nullptr);
  CHECK(source.Names().size() == 2 + 5 * 9 + 1);
}

// ------------------------------------------------------------------- tokenizer

// Concatenated Piece() text of `ids`, as a streaming decoder prints it.
std::string Decode(const Llama2cTokenizer& tok, const std::vector<int>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int prev = i == 0 ? -1 : ids[i - 1];
    if (i == 0 && ids[0] == Llama2cTokenizer::kBos) continue;  // BOS prints nothing
    out += tok.Piece(prev, ids[i]);
  }
  return out;
}

TEST_CASE("tok512 encodes the reference prompt", "[tokenizer]") {
  auto tok = Llama2cTokenizer::Load(AssetPath(kTok512), 512);
  CHECK(tok.vocab_size() == 512);
  CHECK(tok.Encode("Once upon a time", true, false) == std::vector<int>{1, 403, 407, 261, 378});
  CHECK(tok.Encode("Once upon a time", false, false) == std::vector<int>{403, 407, 261, 378});
  CHECK(tok.Encode("Once upon a time", true, true) == std::vector<int>{1, 403, 407, 261, 378, 2});
  CHECK(tok.Encode("", true, false) == std::vector<int>{1});
  CHECK(tok.Encode("", false, false).empty());
  CHECK(tok.Encode("", true, true) == std::vector<int>{1, 2});
}

TEST_CASE("tok512 pieces decode as llama2.c prints them", "[tokenizer]") {
  auto tok = Llama2cTokenizer::Load(AssetPath(kTok512), 512);
  CHECK(tok.Piece(1, 403) == "Once");  // leading space dropped right after BOS
  CHECK(tok.Piece(403, 407) == " upon");
  CHECK(tok.Piece(378, 403) == " Once");
  CHECK(tok.Piece(0, 3 + 'A') == "A");    // <0x41>
  CHECK(tok.Piece(0, 3 + '\n') == "\n");  // <0x0A>
  CHECK(tok.Piece(0, 3) == std::string(1, '\0'));
  CHECK(tok.Piece(0, 3 + 0xFF) == "\xff");
  CHECK(tok.Piece(0, 1) == "\n<s>\n");
  const std::string path = AssetPath(kTok512);
  CHECK_THROWS_WITH(tok.Piece(1, 512), Contains(path) && Contains("token id 512 is out of range"));
  CHECK_THROWS_WITH(tok.Piece(1, -1), Contains("token id -1 is out of range"));
}

TEST_CASE("tok512 falls back to byte tokens for unknown characters", "[tokenizer]") {
  auto tok = Llama2cTokenizer::Load(AssetPath(kTok512), 512);
  // Pieces are whole codepoints: "é" and "€" are in tok512 (ids 485, 503).
  CHECK(tok.Encode("\xc3\xa9", true, false) == std::vector<int>{1, 410, 485});
  CHECK(tok.Encode("\xe2\x82\xac", false, false) == std::vector<int>{410, 503});
  // "ü", "中", "ж" and an emoji are not: each byte becomes id byte + 3.
  for (const std::string text :
       {"\xc3\xbc", "gr\xc3\xbcn", "\xe4\xb8\xad", "\xd0\xb6", "\xf0\x9f\x99\x82 smile"}) {
    INFO("text: " << text);
    const std::vector<int> ids = tok.Encode(text, true, false);
    for (unsigned char b : text) {
      if (b < 0x80) continue;
      CHECK(std::find(ids.begin(), ids.end(), b + 3) != ids.end());
    }
    CHECK(Decode(tok, ids) == text);
  }
  // Exactly: BOS, the dummy-prefix space (410), then the two bytes of U+00FC.
  CHECK(tok.Encode("\xc3\xbc", true, false) == std::vector<int>{1, 410, 0xC3 + 3, 0xBC + 3});
  CHECK(tok.Piece(1, 410).empty());  // the dummy space after BOS prints nothing
  // Malformed UTF-8 (a lone continuation byte, a truncated lead byte) still
  // falls back byte by byte and round-trips.
  for (const std::string text : {"a\x80"
                                 "b",
                                 "\xc3", "x\xe4\xb8"}) {
    CHECK(Decode(tok, tok.Encode(text, true, false)) == text);
  }
}

TEST_CASE("tok512 round-trips ASCII text", "[tokenizer]") {
  auto tok = Llama2cTokenizer::Load(AssetPath(kTok512), 512);
  for (const std::string text :
       {"Once upon a time", "Lily and Ben went to the park. They saw a big dog!",
        "The cat said, \"Hello, friend.\"\nThe end.", "  two leading spaces", "x", "12345 + 678"}) {
    INFO("text: " << text);
    const std::vector<int> ids = tok.Encode(text, true, false);
    CHECK(Decode(tok, ids) == text);
    for (int id : ids) CHECK((id >= 0 && id < 512));
  }
}

TEST_CASE("Llama 2 tokenizer.bin loads and encodes", "[tokenizer]") {
  auto tok = Llama2cTokenizer::Load(AssetPath(kLlama2Tok), 32000);
  CHECK(tok.vocab_size() == 32000);
  // "▁Hello" is 15043 and "▁world" 3186 in the Llama 2 vocab.
  const std::vector<int> ids = tok.Encode("Hello world", true, false);
  CHECK(ids == std::vector<int>{1, 15043, 3186});
  CHECK(Decode(tok, ids) == "Hello world");
  for (const std::string text : {"The quick brown fox jumps over the lazy dog.",
                                 "na\xc3\xafve caf\xc3\xa9 \xe2\x82\xac 5 \xf0\x9f\x98\x80"}) {
    INFO("text: " << text);
    CHECK(Decode(tok, tok.Encode(text, true, true)) == text + "\n</s>\n");
  }
}

TEST_CASE("bad tokenizer files give errors naming the file", "[tokenizer]") {
  TempDir dir;
  const std::string good = ReadBytes(AssetPath(kTok512));

  const std::string truncated = WriteBytes(dir.File("truncated.bin"), good.substr(0, 1000));
  CHECK_THROWS_WITH(Llama2cTokenizer::Load(truncated, 512),
                    Contains(truncated + ": truncated at byte offset") && Contains("of 512"));

  const std::string text = WriteBytes(dir.File("text.bin"), "this is not a tokenizer at all\n");
  CHECK_THROWS_WITH(Llama2cTokenizer::Load(text, 512),
                    Contains(text) && Contains("max_token_length at byte offset 0"));

  CHECK_THROWS_WITH(Llama2cTokenizer::Load(AssetPath(kTok512), 511),
                    Contains(AssetPath(kTok512)) && Contains("trailing bytes after 511 tokens"));
  CHECK_THROWS_WITH(Llama2cTokenizer::Load(AssetPath(kTok512), 513),
                    Contains("truncated at byte offset 6227") && Contains("token 512 of 513"));

  std::string negative = good;
  PutAt<int32_t>(negative, 8, -1);  // token 0's length
  const std::string neg = WriteBytes(dir.File("negative.bin"), negative);
  CHECK_THROWS_WITH(Llama2cTokenizer::Load(neg, 512),
                    Contains(neg) && Contains("token 0 at byte offset 8 has length -1"));
  std::string long_len = good;
  PutAt<int32_t>(long_len, 8, 1 << 30);
  const std::string big = WriteBytes(dir.File("long.bin"), long_len);
  CHECK_THROWS_WITH(Llama2cTokenizer::Load(big, 512),
                    Contains(big) && Contains("has length 1073741824, expected 0..7"));

  const std::string missing = dir.File("missing.bin");
  CHECK_THROWS_WITH(Llama2cTokenizer::Load(missing, 512), Contains(missing));
  CHECK_THROWS_AS(Llama2cTokenizer::Load(missing, 512), Error);
}

// ------------------------------------------------------------------------ npy

TEST_CASE("WriteNpy writes NumPy format 1.0", "[npy]") {
  TempDir dir;
  const std::string path = dir.File("a.npy");
  const float data[] = {1.0f, -2.5f, 3.25f, 0.0f, 1e-3f, 42.0f};
  WriteNpy(path, data, {2, 3});
  const std::string bytes = ReadBytes(path);

  REQUIRE(bytes.size() > 10);
  CHECK(bytes.substr(0, 6) == "\x93NUMPY");
  CHECK(bytes[6] == 1);
  CHECK(bytes[7] == 0);
  const size_t header_len =
      static_cast<uint8_t>(bytes[8]) | (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
  const size_t data_start = 10 + header_len;
  CHECK(data_start % 64 == 0);
  REQUIRE(bytes.size() == data_start + sizeof(data));
  const std::string header = bytes.substr(10, header_len);
  CHECK_THAT(header, Contains("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
  CHECK(header.back() == '\n');
  CHECK(std::memcmp(bytes.data() + data_start, data, sizeof(data)) == 0);

  WriteNpy(path, data, {6});
  CHECK_THAT(ReadBytes(path), Contains("'shape': (6,), }"));
  WriteNpy(path, data, {});
  const std::string scalar = ReadBytes(path);
  CHECK_THAT(scalar, Contains("'shape': (), }"));
  CHECK((scalar.size() - 4) % 64 == 0);

  const std::string bad = dir.File("no/such/dir/a.npy");
  CHECK_THROWS_WITH(WriteNpy(bad, data, {2, 3}),
                    Contains(bad) && Contains("No such file or directory"));
  CHECK_THROWS_WITH(WriteNpy(path, data, {2, -3}), Contains(path) && Contains("negative"));
}

// ---------------------------------------------------------------- OutputFile

TEST_CASE("OutputFile never replaces an input, and appears whole or not at all", "[io]") {
  TempDir dir;
  const std::string input = dir.Write("input.bin", "weights");
  const std::string symlink = dir.File("symlink"), hardlink = dir.File("hardlink");
  std::filesystem::create_symlink(input, symlink);
  std::filesystem::create_hard_link(input, hardlink);
  const std::string out = dir.Write("out.txt", "old");

  ProtectInputs();
  MappedFile mapped = MappedFile::Open(input);  // Notes it, as every reader does.
  for (const std::string& target : {input, symlink, hardlink}) {
    CHECK_THROWS_WITH(WriteFileAtomically(target, "x"),
                      Contains(target) && Contains("is the input " + input));
  }
  CHECK(ReadBytes(input) == "weights");

  {  // Not committed (an exception, a failed write): the old file, no temporary.
    OutputFile file(out);
    file.Write("new, half written");
  }
  CHECK(ReadBytes(out) == "old");
  CHECK(dir.List() == std::vector<std::string>{"hardlink", "input.bin", "out.txt", "symlink"});
  WriteFileAtomically(out, "new");
  CHECK(ReadBytes(out) == "new");

  // A deleted input refuses nothing (its inode number may go to a new file).
  std::filesystem::remove(input);
  std::filesystem::remove(hardlink);
  WriteFileAtomically(dir.File("fresh"), "a new file");
  CHECK(ReadBytes(dir.File("fresh")) == "a new file");

  CHECK_THROWS_WITH(WriteFileAtomically(dir.path().string(), "x"), Contains("is a directory"));
  ProtectInputs(false);
}

// -------------------------------------------------------------------- sampler

std::vector<float> RandomLogits(std::mt19937& rng, int n) {
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(n);
  for (float& x : logits) x = normal(rng);
  return logits;
}

int Argmax(const std::vector<float>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

TEST_CASE("greedy sampling picks the first maximum", "[sampler]") {
  Sampler greedy(5, {.temperature = 0.0f});
  std::vector<float> logits = {0.1f, 2.0f, -1.0f, 2.0f, 1.9f};
  CHECK(greedy.Sample(logits.data()) == 1);
  logits = {-5.0f, -4.0f, -3.0f, -2.0f, -1.0f};
  CHECK(greedy.Sample(logits.data()) == 4);
}

TEST_CASE("sampling is reproducible from the seed", "[sampler]") {
  std::mt19937 rng(1);
  const std::vector<float> logits = RandomLogits(rng, 512);
  auto draw = [&](uint64_t seed) {
    Sampler sampler(512, {.temperature = 1.0f, .seed = seed});
    std::vector<int> ids;
    for (int i = 0; i < 200; ++i) {
      std::vector<float> copy = logits;
      ids.push_back(sampler.Sample(copy.data()));
    }
    return ids;
  };
  CHECK(draw(7) == draw(7));
  CHECK(draw(7) != draw(8));
  CHECK(draw(0) == draw(0));  // seed 0 is usable, not stuck
  const std::vector<int> zero = draw(0);
  CHECK(std::set<int>(zero.begin(), zero.end()).size() > 1);
}

TEST_CASE("top-k 1 and a tiny top-p reduce to greedy", "[sampler]") {
  std::mt19937 rng(2);
  Sampler top_k(1000, {.temperature = 1.5f, .top_k = 1, .seed = 3});
  Sampler top_p(1000, {.temperature = 1.5f, .top_p = 1e-6f, .seed = 4});
  Sampler both(1000, {.temperature = 0.7f, .top_p = 1e-6f, .top_k = 50, .seed = 5});
  for (int trial = 0; trial < 100; ++trial) {
    const std::vector<float> logits = RandomLogits(rng, 1000);
    const int want = Argmax(logits);
    std::vector<float> a = logits, b = logits, c = logits;
    CHECK(top_k.Sample(a.data()) == want);
    CHECK(top_p.Sample(b.data()) == want);
    CHECK(both.Sample(c.data()) == want);
  }
}

// Frequencies of `draws` samples from fixed logits.
std::vector<double> Frequencies(const std::vector<float>& logits, SamplerOptions options,
                                int draws) {
  Sampler sampler(static_cast<int>(logits.size()), options);
  std::vector<double> freq(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i) {
    std::vector<float> copy = logits;
    freq[sampler.Sample(copy.data())] += 1.0 / draws;
  }
  return freq;
}

TEST_CASE("temperature sampling follows the distribution", "[sampler]") {
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
  std::vector<float> logits;
  for (double x : p) logits.push_back(static_cast<float>(std::log(x)));
  constexpr int kDraws = 40000;
  // Binomial standard deviation here is at most 0.0025; 0.015 is a loose bound.
  constexpr double kTol = 0.015;

  SECTION("temperature 1") {
    const auto f = Frequencies(logits, {.temperature = 1.0f, .seed = 11}, kDraws);
    for (size_t i = 0; i < p.size(); ++i) CHECK(f[i] == Approx(p[i]).margin(kTol));
  }
  SECTION("temperature 0.5 squares the probabilities") {
    const auto f = Frequencies(logits, {.temperature = 0.5f, .seed = 12}, kDraws);
    const double z = 0.01 + 0.04 + 0.09 + 0.16;
    for (size_t i = 0; i < p.size(); ++i) CHECK(f[i] == Approx(p[i] * p[i] / z).margin(kTol));
  }
  SECTION("top-k 2 keeps the two likeliest, renormalized") {
    const auto f = Frequencies(logits, {.temperature = 1.0f, .top_k = 2, .seed = 13}, kDraws);
    CHECK(f[0] == 0.0);
    CHECK(f[1] == 0.0);
    CHECK(f[2] == Approx(3.0 / 7).margin(kTol));
    CHECK(f[3] == Approx(4.0 / 7).margin(kTol));
  }
  SECTION("top-p 0.5 keeps the nucleus {0.4, 0.3}") {
    const auto f = Frequencies(logits, {.temperature = 1.0f, .top_p = 0.5f, .seed = 14}, kDraws);
    CHECK(f[0] == 0.0);
    CHECK(f[1] == 0.0);
    CHECK(f[2] == Approx(3.0 / 7).margin(kTol));
    CHECK(f[3] == Approx(4.0 / 7).margin(kTol));
  }
  SECTION("top-p 0.8 keeps three") {
    const auto f = Frequencies(logits, {.temperature = 1.0f, .top_p = 0.8f, .seed = 15}, kDraws);
    CHECK(f[0] == 0.0);
    CHECK(f[1] == Approx(2.0 / 9).margin(kTol));
    CHECK(f[2] == Approx(3.0 / 9).margin(kTol));
    CHECK(f[3] == Approx(4.0 / 9).margin(kTol));
  }
}

TEST_CASE("sampler rejects invalid options", "[sampler]") {
  CHECK_THROWS_WITH(Sampler(10, {.temperature = -1.0f}), Contains("temperature"));
  CHECK_THROWS_WITH(Sampler(10, {.temperature = NAN}), Contains("temperature"));
  CHECK_THROWS_WITH(Sampler(10, {.top_p = 0.0f}), Contains("top_p"));
  CHECK_THROWS_WITH(Sampler(10, {.top_p = 1.5f}), Contains("top_p"));
  CHECK_THROWS_WITH(Sampler(10, {.top_k = -1}), Contains("top_k"));
  CHECK_THROWS_AS(Sampler(0, {}), Error);
}

}  // namespace
}  // namespace lmc::rt
