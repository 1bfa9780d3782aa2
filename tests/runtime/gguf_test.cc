// The GGUF checkpoint reader (runtime/weights/gguf_checkpoint.h) on files
// built byte by byte here, following the GGUF spec (not our writer), and the
// writer (gguf_writer.h) read back. Every corrupt file must fail with one line
// naming the file and what was expected.
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "runtime/tokenizer/gguf_vocab.h"
#include "runtime/util/error.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/gguf_checkpoint.h"
#include "runtime/weights/gguf_writer.h"
#include "runtime/weights/quant.h"
#include "runtime/weights/tensor_source.h"
#include "tests/test_util.h"

namespace lmc::rt {
namespace {

using Catch::Matchers::Contains;
using test::TempDir;

template <typename T>
std::span<const std::byte> Bytes(const std::vector<T>& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size() * sizeof(T)};
}

// A GGUF file by hand: the spec's layout, no code under test.
struct Info {
  std::string name;
  std::vector<uint64_t> ne;  // innermost first
  uint32_t type;
  uint64_t offset;
};

class Builder {
 public:
  template <typename T>
  Builder& Put(T v) {
    bytes.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return *this;
  }
  Builder& Str(const std::string& s) {
    Put<uint64_t>(s.size());
    bytes += s;
    return *this;
  }
  std::string bytes;
};

struct FileSpec {
  uint32_t version = 3;
  std::optional<uint32_t> alignment;  // general.alignment, if written
  std::vector<Info> infos;
  std::string data;
  std::vector<std::string> metadata;  // more key-value pairs, as bytes (Meta)
};

// One metadata key-value pair: the key, the value type, the value's bytes.
std::string Meta(const std::string& key, uint32_t type, const std::string& value) {
  Builder b;
  b.Str(key).Put<uint32_t>(type);
  return b.bytes + value;
}

std::string Build(const FileSpec& f) {
  Builder b;
  b.bytes = "GGUF";
  b.Put<uint32_t>(f.version).Put<uint64_t>(f.infos.size());
  b.Put<uint64_t>((f.alignment ? 3 : 2) + f.metadata.size());
  // Metadata the reader skips: a string and an array of strings.
  b.Str("general.architecture").Put<uint32_t>(8).Str("llama");
  b.Str("general.tags").Put<uint32_t>(9).Put<uint32_t>(8).Put<uint64_t>(2).Str("a").Str("bc");
  if (f.alignment) b.Str("general.alignment").Put<uint32_t>(4).Put<uint32_t>(*f.alignment);
  for (const std::string& kv : f.metadata) b.bytes += kv;
  for (const Info& i : f.infos) {
    b.Str(i.name).Put<uint32_t>(static_cast<uint32_t>(i.ne.size()));
    for (uint64_t n : i.ne) b.Put<uint64_t>(n);
    b.Put<uint32_t>(i.type).Put<uint64_t>(i.offset);
  }
  const size_t align = f.alignment.value_or(32);
  b.bytes.append((align - b.bytes.size() % align) % align, '\0');
  return b.bytes + f.data;
}

// Two tensors: "w" f32 [2, 3] at 0, "q" q8_0 [2, 32] at 32 (scales 1 and 0.5).
FileSpec Good() {
  FileSpec f;
  f.infos = {{"w", {3, 2}, 0, 0}, {"q", {32, 2}, 8, 32}};
  const float w[6] = {1, 2, 3, 4, 5, 6};
  f.data.assign(reinterpret_cast<const char*>(w), sizeof(w));
  f.data.resize(32, '\0');
  for (int row = 0; row < 2; ++row) {
    const uint16_t scale = row == 0 ? 0x3C00 : 0x3800;  // f16 1.0, 0.5
    f.data.append(reinterpret_cast<const char*>(&scale), 2);
    for (int j = 0; j < 32; ++j) f.data += static_cast<char>(j - 16);
  }
  return f;
}

TEST_CASE("GGUF views: shapes outermost first, q8_0 in place, dequantized on request", "[gguf]") {
  TempDir dir;
  const std::string path = dir.Write("m.gguf", Build(Good()));
  auto g = GgufCheckpoint::Open(path);
  CHECK(g->version() == 3);
  CHECK(g->alignment() == 32);
  CHECK(g->Names() == std::vector<std::string>{"q", "w"});
  const TensorView* w = g->Find("w");
  REQUIRE(w != nullptr);
  CHECK(w->dtype == DType::kF32);
  CHECK(w->shape == Shape{2, 3});
  CHECK(w->bytes == 24);
  const float* wf = g->F32("w", {2, 3});
  CHECK(reinterpret_cast<const std::byte*>(wf) == w->data);  // mapped, not copied
  CHECK(wf[5] == 6.0f);

  const TensorView* q = g->Find("q");
  REQUIRE(q != nullptr);
  CHECK(q->dtype == DType::kQ8_0);
  CHECK(q->shape == Shape{2, 32});
  CHECK(q->bytes == 68);
  CHECK(reinterpret_cast<uintptr_t>(q->data) % 32 == 0);
  const BlockQ8_0* blocks = g->Q8_0("q", {2, 32});
  CHECK(reinterpret_cast<const std::byte*>(blocks) == q->data);  // in place
  CHECK(blocks[1].d == 0x3800);
  CHECK(blocks[1].q[31] == 15);
  // As f32: q * d, row 0 scale 1, row 1 scale 0.5.
  const float* f = g->F32("q", {2, 32});
  CHECK(f[0] == -16.0f);
  CHECK(f[31] == 15.0f);
  CHECK(f[32] == -8.0f);
  CHECK(f[63] == 7.5f);
  const uint16_t* b = g->BF16("q", {2, 32});
  CHECK(b[63] == 0x40F0);  // bf16 7.5
  CHECK_THROWS_WITH(g->Q4_0("q", {2, 32}),
                    path +
                        ": tensor 'q' is stored as q8_0, the model reads it as q4_0; "
                        "requantizing would round twice: write the checkpoint with lmc "
                        "quantize --dtype q4_0 (or build with dtype q8_0)");
  CHECK_THROWS_WITH(g->Tensor("q", {32, 2}),
                    path + ": tensor 'q' has shape [2, 32], expected [32, 2]");
  // Through the spec's weights.format.
  auto opened = OpenCheckpoint(path, "gguf", ModelDims{});
  CHECK(opened->Find("q")->shape == Shape{2, 32});
}

TEST_CASE("GGUF v2 and a custom general.alignment", "[gguf]") {
  TempDir dir;
  FileSpec f = Good();
  f.version = 2;
  f.alignment = 64;
  f.infos[1].offset = 64;
  f.data.insert(32, std::string(32, '\0'));
  auto g = GgufCheckpoint::Open(dir.Write("v2.gguf", Build(f)));
  CHECK(g->alignment() == 64);
  CHECK(g->F32("q", {2, 32})[63] == 7.5f);
}

TEST_CASE("corrupt GGUF files fail with one line", "[gguf]") {
  TempDir dir;
  const std::string good = Build(Good());
  auto fails = [&](const std::string& bytes, const std::string& message) {
    const std::string path = dir.Write("bad.gguf", bytes);
    INFO(message);
    try {
      GgufCheckpoint::Open(path);
      FAIL("opened");
    } catch (const Error& e) {
      const std::string what = e.what();
      CHECK(what.find('\n') == std::string::npos);
      CHECK_THAT(what, Contains(path + ": ") && Contains(message));
    }
  };
  auto with = [&](auto edit) {
    FileSpec f = Good();
    edit(f);
    return Build(f);
  };

  // Truncated anywhere in the header, or in the data.
  for (size_t cut : {size_t{0}, size_t{3}, size_t{10}, size_t{30}, size_t{100}}) {
    fails(good.substr(0, cut), cut == 0    ? "is empty"
                               : cut == 30 ? "byte offset 16: 2 metadata entries cannot fit"
                                           : "truncated at byte offset");
  }
  fails(good.substr(0, good.size() - 1),
        "tensor 'q' (q8_0 [2, 32] = 68 bytes at data offset 32) "
        "runs past the end of the data section (99 bytes)");
  fails("GGUG" + good.substr(4), "byte offset 0: expected the magic \"GGUF\"; not a GGUF file");
  fails(with([](FileSpec& f) { f.version = 4; }), "byte offset 4: GGUF version 4, expected 2 or 3");
  fails(with([](FileSpec& f) { f.infos[1].offset = uint64_t{1} << 40; }),
        "tensor 'q' (q8_0 [2, 32] = 68 bytes at data offset 1099511627776) runs past the end");
  fails(with([](FileSpec& f) { f.infos[1].offset = ~uint64_t{0} - 31; }), "runs past the end");
  fails(with([](FileSpec& f) { f.infos[1].offset = 24; }),
        "tensor 'q' is at data offset 24, expected a multiple of general.alignment 32");
  fails(with([](FileSpec& f) { f.infos[1].type = 16; }),
        "tensor 'q' has ggml type 16; lmc reads F32 (0), F16 (1), BF16 (30), Q8_0 (8), Q4_0 (2), "
        "Q4_1 (3), Q5_0 (6), Q5_1 (7), IQ4_NL (20) and Q2_K..Q6_K (10-14)");
  fails(with([](FileSpec& f) { f.infos[1].type = 12; }),
        "tensor 'q' is q4_k with rows of 32 values, expected a multiple of 256");
  fails(with([](FileSpec& f) { f.infos[1].name = "w"; }), "tensor 'w' appears twice");
  fails(with([](FileSpec& f) {
          f.infos[1].ne = {33, 2};
        }),
        "tensor 'q' is q8_0 with rows of 33 values, expected a multiple of 32");
  fails(with([](FileSpec& f) {
          f.infos[0].ne = {3, 3};
        }),
        "tensors 'w' [0, 36) and 'q' [32, 100) overlap");
  fails(with([](FileSpec& f) {
          f.infos[0].ne = {1, 2, 3, 4, 5};
        }),
        "tensor 'w' has 5 dimensions, expected at most 4");
  fails(with([](FileSpec& f) {
          f.infos[0].ne = {uint64_t{1} << 62, 8};
        }),
        "holds more than 2^63 values or 2^64 bytes");
  // Zero bytes, but the dimensions' product overflows int64 (found by fuzz_gguf_checkpoint).
  fails(with([](FileSpec& f) {
          f.infos[0].ne = {0, uint64_t{1} << 40, uint64_t{1} << 40};
        }),
        "tensor 'w' of shape [1099511627776, 1099511627776, 0] holds more than 2^63 values");
  fails(with([](FileSpec& f) { f.infos[0].name = f.infos[1].name = "a\nb"; }),
        "tensor 'a\\x0ab' appears twice");
  fails(with([](FileSpec& f) { f.alignment = 24; }),
        "general.alignment is 24, expected a power of two");
  // Counts the file cannot hold are refused before anything is allocated.
  std::string many = good;
  const uint64_t huge = uint64_t{1} << 60;
  std::memcpy(many.data() + 8, &huge, 8);
  fails(many, "1152921504606846976 tensor infos cannot fit");
  std::memcpy(many.data() + 16, &huge, 8);
  fails(many, "byte offset 16: 1152921504606846976 metadata entries cannot fit");
  // A metadata value of an unknown type.
  std::string bad_kv = good;
  const size_t type_at = 24 + 8 + std::strlen("general.architecture");
  bad_kv[type_at] = 13;
  fails(bad_kv, "metadata \"general.architecture\" has type 13, expected 0..12");
}

// Readers keep one value per key: a repeated key would be a guess, as would a bool of 5.
TEST_CASE("GGUF metadata: a repeated key or a bool other than 0 or 1 is refused", "[gguf]") {
  TempDir dir;
  int n = 0;
  auto file = [&](std::vector<std::string> metadata, std::optional<uint32_t> alignment) {
    FileSpec f = Good();
    f.metadata = std::move(metadata);
    f.alignment = alignment;
    return dir.Write("m" + std::to_string(n++) + ".gguf", Build(f));
  };
  auto fails = [&](auto open, const std::string& path, const std::string& message) {
    INFO(message);
    try {
      open(path);
      FAIL("opened");
    } catch (const Error& e) {
      const std::string what = e.what();
      CHECK(what.find('\n') == std::string::npos);
      CHECK_THAT(what, Contains(path + ": byte offset ") && Contains(message));
    }
  };
  auto weights = [](const std::string& path) { GgufCheckpoint::Open(path); };
  auto vocab = [](const std::string& path) { ReadGgufVocab(path); };
  const std::string u32_64("\x40\0\0\0", 4);

  // Either value of general.alignment would place the tensors somewhere else.
  const std::string twice = file({Meta("general.alignment", 4, u32_64)}, 32);
  fails(weights, twice, "metadata key \"general.alignment\" appears twice; expected each key once");
  fails(vocab, twice, "metadata key \"general.alignment\" appears twice; expected each key once");
  const std::string skipped =
      file({Meta("general.architecture", 8, std::string("\2\0\0\0\0\0\0\0ab", 10))}, {});
  fails(weights, skipped, "metadata key \"general.architecture\" appears twice");
  const std::string add_bos = Meta("tokenizer.ggml.add_bos_token", 7, std::string(1, '\1'));
  fails(vocab, file({add_bos, add_bos}, {}),
        "metadata key \"tokenizer.ggml.add_bos_token\" appears twice");

  // Bools: 0 and 1 only, read (the vocab's add_bos_token) or skipped, alone or in arrays.
  CHECK(GgufCheckpoint::Open(file({Meta("general.a", 7, std::string(1, '\0')),
                                   Meta("general.b", 7, std::string(1, '\1'))},
                                  {}))
            ->Names()
            .size() == 2);
  const std::string five = file({Meta("general.flag", 7, std::string(1, '\5'))}, {});
  fails(weights, five, "metadata \"general.flag\" is a bool of value 5, expected 0 or 1");
  fails(vocab, five, "metadata \"general.flag\" is a bool of value 5, expected 0 or 1");
  fails(vocab, file({Meta("tokenizer.ggml.add_bos_token", 7, std::string(1, '\5'))}, {}),
        "metadata \"tokenizer.ggml.add_bos_token\" is a bool of value 5, expected 0 or 1");
  const std::string bools = std::string("\7\0\0\0", 4) + std::string("\3\0\0\0\0\0\0\0", 8);
  fails(weights, file({Meta("general.flags", 9, bools + std::string("\1\0\2", 3))}, {}),
        "metadata \"general.flags\" is a bool of value 2, expected 0 or 1");
  CHECK(GgufCheckpoint::Open(file({Meta("general.flags", 9, bools + std::string("\1\0\1", 3))}, {}))
            ->Names()
            .size() == 2);
}

// llama.cpp writes -1 ("no such token") into its u32 token-id keys, which reads 4294967295:
// the token is absent. Any other id outside the vocab is still refused.
TEST_CASE("GGUF vocab: a u32 token id of -1 means no such token", "[gguf]") {
  TempDir dir;
  int n = 0;
  auto u32 = [](uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
  auto i32 = [](int32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
  auto file = [&](std::vector<std::string> ids) {
    FileSpec f = Good();
    Builder tokens;
    tokens.Put<uint32_t>(8).Put<uint64_t>(2).Str("a").Str("b");
    f.metadata = {Meta("tokenizer.ggml.model", 8, std::string("\5\0\0\0\0\0\0\0llama", 13)),
                  Meta("tokenizer.ggml.tokens", 9, tokens.bytes)};
    for (std::string& id : ids) f.metadata.push_back(std::move(id));
    return dir.Write("v" + std::to_string(n++) + ".gguf", Build(f));
  };
  const GgufVocab v = ReadGgufVocab(file({Meta("tokenizer.ggml.seperator_token_id", 4, u32(~0u)),
                                          Meta("tokenizer.ggml.padding_token_id", 4, u32(1)),
                                          Meta("tokenizer.ggml.cls_token_id", 5, i32(-1))}));
  CHECK(v.sep_id == -1);
  CHECK(v.pad_id == 1);
  CHECK(v.cls_id == -1);
  const std::string big = file({Meta("tokenizer.ggml.bos_token_id", 4, u32(~0u - 1))});
  CHECK_THROWS_WITH(ReadGgufVocab(big),
                    Contains("metadata \"tokenizer.ggml.bos_token_id\" is 4294967294, not a "
                             "token id"));
  const std::string outside = file({Meta("tokenizer.ggml.eos_token_id", 4, u32(2))});
  CHECK_THROWS_WITH(ReadGgufVocab(outside),
                    Contains("special token id 2 is outside the vocab of 2 tokens"));
}

// The other block types: mapped in place by Blocks, dequantized once by F32 as DequantizeBlock
// gives them; asked for as another type, refused naming the tensor and both types.
TEST_CASE("GGUF block types map in place and dequantize by their definition", "[gguf]") {
  TempDir dir;
  const std::string path = dir.File("k.gguf");
  std::vector<BlockQ4_K> q4k(2);
  std::vector<BlockQ5_1> q51(4);
  for (size_t i = 0; i < sizeof(BlockQ4_K) * 2; ++i) {
    reinterpret_cast<unsigned char*>(q4k.data())[i] = static_cast<unsigned char>(i * 37 + 5);
  }
  for (size_t i = 0; i < sizeof(BlockQ5_1) * 4; ++i) {
    reinterpret_cast<unsigned char*>(q51.data())[i] = static_cast<unsigned char>(i * 11 + 3);
  }
  for (auto& b : q4k) b.d = b.dmin = 0x3C00;  // 1.0
  for (auto& b : q51) b.d = b.m = 0x3800;     // 0.5
  WriteGguf(path,
            {{"k", DType::kQ4_K, {2, 256}, Bytes(q4k)}, {"s", DType::kQ5_1, {2, 64}, Bytes(q51)}});
  auto g = GgufCheckpoint::Open(path);
  CHECK(g->Find("k")->dtype == DType::kQ4_K);
  CHECK(g->Find("k")->bytes == 2 * 144);
  CHECK(g->Find("s")->bytes == 4 * 24);
  CHECK(g->Blocks("k", {2, 256}, DType::kQ4_K) == g->Find("k")->data);
  CHECK(g->Blocks<BlockQ5_1>("s", {2, 64}, DType::kQ5_1) ==
        reinterpret_cast<const BlockQ5_1*>(g->Find("s")->data));
  std::vector<float> want(512);
  DequantizeBlock(q4k[0], want.data());
  DequantizeBlock(q4k[1], want.data() + 256);
  CHECK(std::memcmp(g->F32("k", {2, 256}), want.data(), 512 * sizeof(float)) == 0);
  CHECK_THROWS_WITH(g->Blocks("k", {2, 256}, DType::kQ5_K),
                    path +
                        ": tensor 'k' is stored as q4_k, the model was compiled to read it as "
                        "q5_k");
  CHECK_THROWS_WITH(g->Blocks("s", {2, 32}, DType::kQ5_1), Contains("[2, 32]"));
}

TEST_CASE("WriteGguf round-trips every dtype, innermost dims first, aligned", "[gguf]") {
  TempDir dir;
  const std::string path = dir.File("out.gguf");
  const std::vector<float> f32 = {1.5f, -2.0f, 3.25f};
  const std::vector<uint16_t> bf16 = {0x3F80, 0x4000, 0x4040, 0x4080};
  const std::vector<uint16_t> f16 = {0x3C00, 0xC000};
  std::vector<float> row(64);
  for (size_t i = 0; i < row.size(); ++i) row[i] = static_cast<float>(i) * 0.25f - 3.0f;
  std::vector<BlockQ8_0> q8(2);
  QuantizeRowQ8_0(row.data(), 64, q8.data());
  std::vector<BlockQ4_0> q4(2);
  QuantizeRowQ4_0(row.data(), 64, q4.data());
  WriteGguf(path, {{"f", DType::kF32, {3}, Bytes(f32)},
                   {"b", DType::kBF16, {2, 2}, Bytes(bf16)},
                   {"h", DType::kF16, {1, 2}, Bytes(f16)},
                   {"q8", DType::kQ8_0, {1, 64}, Bytes(q8)},
                   {"q4", DType::kQ4_0, {1, 64}, Bytes(q4)}});
  const std::string file = test::ReadBytes(path);
  CHECK(file.substr(0, 4) == "GGUF");
  // The first tensor info: "f", 1 dim of 3, type 0, offset 0 (after the alignment entry).
  const size_t info = 24 + 8 + std::strlen("general.alignment") + 4 + 4;
  uint64_t name_len, ne0;
  std::memcpy(&name_len, file.data() + info, 8);
  CHECK(name_len == 1);
  // The second: "b" with ne = {2, 2}; the third, "h" [1, 2], stores ne = {2, 1}.
  const size_t h_info = info + (8 + 1 + 4 + 8 + 4 + 8) + (8 + 1 + 4 + 16 + 4 + 8);
  std::memcpy(&ne0, file.data() + h_info + 8 + 1 + 4, 8);
  CHECK(ne0 == 2);

  auto g = GgufCheckpoint::Open(path);
  for (const std::string& name : g->Names()) {
    CHECK(reinterpret_cast<uintptr_t>(g->Find(name)->data) % 32 == 0);
  }
  CHECK(g->Find("h")->shape == Shape{1, 2});
  CHECK(g->F32("f", {3})[2] == 3.25f);
  CHECK(g->F32("b", {2, 2})[3] == 4.0f);
  CHECK(g->F32("h", {1, 2})[1] == -2.0f);
  CHECK(std::memcmp(g->Q8_0("q8", {1, 64}), q8.data(), 68) == 0);
  CHECK(std::memcmp(g->Q4_0("q4", {1, 64}), q4.data(), 36) == 0);
  CHECK(g->Q4_0("q4", {1, 64}) == reinterpret_cast<const BlockQ4_0*>(g->Find("q4")->data));

  // Refusals leave the file as it was.
  CHECK_THROWS_WITH(WriteGguf(path, {{"k", DType::kQ6_K, {1, 32}, Bytes(q8)}}),
                    path +
                        ": tensor 'k' of shape [1, 32] cannot be q6_k: its rows of 32 "
                        "values are not a multiple of 256");
  CHECK_THROWS_WITH(WriteGguf(path, {{"odd", DType::kQ8_0, {1, 33}, Bytes(q8)}}),
                    path +
                        ": tensor 'odd' of shape [1, 33] cannot be q8_0: its rows of 33 "
                        "values are not a multiple of 32");
  CHECK_THROWS_WITH(WriteGguf(path, {{"f", DType::kF32, {4}, Bytes(f32)}}),
                    path + ": tensor 'f' is f32 [4] = 16 bytes, but 12 bytes were given");
  CHECK_THROWS_WITH(
      WriteGguf(path, {{"f", DType::kF32, {3}, Bytes(f32)}, {"f", DType::kF32, {3}, Bytes(f32)}}),
      path + ": tensor 'f' is given twice");
  CHECK(test::ReadBytes(path) == file);
}

}  // namespace
}  // namespace lmc::rt
