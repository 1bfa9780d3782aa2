// Typed tensor sources: dtype conversions, the safetensors reader and writer,
// the format-neutral OpenCheckpoint and the per-format name tables. Files are
// made at test time in a temp dir, never committed.

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "runtime/util/error.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/llama2c_checkpoint.h"
#include "runtime/weights/mapped_file.h"
#include "runtime/weights/mapping_guard.h"
#include "runtime/weights/safetensors_checkpoint.h"
#include "runtime/weights/safetensors_writer.h"
#include "runtime/weights/sharded_safetensors.h"
#include "runtime/weights/tensor_source.h"
#include "runtime/weights/weight_names.h"
#include "tests/assets.h"
#include "tests/test_util.h"

namespace lmc::rt {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::Matches;
using test::ReadBytes;
using test::TempDir;
using test::WriteBytes;

// A safetensors file written by hand: length, header text, data bytes.
std::string RawSafetensors(const std::string& header, const std::string& data,
                           uint64_t length_field) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &length_field, 8);
  return out + header + data;
}
std::string RawSafetensors(const std::string& header, const std::string& data) {
  return RawSafetensors(header, data, header.size());
}

template <typename T>
std::span<const std::byte> Bytes(const std::vector<T>& v) {
  return std::as_bytes(std::span<const T>(v));
}

// ------------------------------------------------------------------ dtypes

TEST_CASE("dtype names and sizes", "[dtype]") {
  CHECK(std::string(DTypeName(DType::kF32)) == "f32");
  CHECK(std::string(DTypeName(DType::kF16)) == "f16");
  CHECK(std::string(DTypeName(DType::kBF16)) == "bf16");
  CHECK(DTypeSize(DType::kF32) == 4);
  CHECK(DTypeSize(DType::kF16) == 2);
  CHECK(DTypeSize(DType::kBF16) == 2);
}

// The value of a binary floating-point number from its fields, by arithmetic
// in double (exact for these widths): independent of the bit shuffling.
double FromFields(uint32_t bits, int exponent_bits, int mantissa_bits) {
  const int bias = (1 << (exponent_bits - 1)) - 1;
  const uint32_t mantissa = bits & ((1u << mantissa_bits) - 1);
  const uint32_t exponent = (bits >> mantissa_bits) & ((1u << exponent_bits) - 1);
  const double sign = (bits >> (exponent_bits + mantissa_bits)) & 1 ? -1.0 : 1.0;
  if (exponent == (1u << exponent_bits) - 1) {
    return mantissa == 0 ? sign * INFINITY : NAN;
  }
  if (exponent == 0) return sign * std::ldexp(mantissa, 1 - bias - mantissa_bits);
  return sign * std::ldexp(mantissa + (1u << mantissa_bits),
                           static_cast<int>(exponent) - bias - mantissa_bits);
}

TEST_CASE("f16 widens exactly, all 65536 values", "[dtype]") {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const float got = F16ToF32(static_cast<uint16_t>(bits));
    const double want = FromFields(bits, 5, 10);
    if (std::isnan(want)) {
      // NaN keeps its sign and its payload in the top mantissa bits.
      const uint32_t expect = ((bits & 0x8000u) << 16) | 0x7F800000u | ((bits & 0x3FFu) << 13);
      if (std::bit_cast<uint32_t>(got) != expect) FAIL("f16 NaN bits " << bits);
    } else if (static_cast<double>(got) != want || std::signbit(got) != std::signbit(want)) {
      FAIL("f16 bits " << bits << ": got " << got << ", want " << want);
    }
#ifdef __FLT16_MAX__
    // The compiler's own conversion agrees too.
    const _Float16 h = std::bit_cast<_Float16>(static_cast<uint16_t>(bits));
    const float by_compiler = static_cast<float>(h);
    if (!std::isnan(by_compiler) &&
        std::bit_cast<uint32_t>(by_compiler) != std::bit_cast<uint32_t>(got)) {
      FAIL("f16 bits " << bits << " differ from _Float16");
    }
#endif
  }
  // Landmarks, written out.
  CHECK(F16ToF32(0x3C00) == 1.0f);
  CHECK(F16ToF32(0xC000) == -2.0f);
  CHECK(F16ToF32(0x7BFF) == 65504.0f);
  CHECK(F16ToF32(0x0400) == std::ldexp(1.0f, -14));     // smallest normal
  CHECK(F16ToF32(0x0001) == std::ldexp(1.0f, -24));     // smallest subnormal
  CHECK(F16ToF32(0x03FF) == std::ldexp(1023.0f, -24));  // largest subnormal
  CHECK(F16ToF32(0x8001) == -std::ldexp(1.0f, -24));
  CHECK(std::bit_cast<uint32_t>(F16ToF32(0x8000)) == 0x80000000u);  // -0
  CHECK(F16ToF32(0x7C00) == INFINITY);
  CHECK(F16ToF32(0xFC00) == -INFINITY);
  CHECK(std::isnan(F16ToF32(0x7E00)));
  CHECK(std::isnan(F16ToF32(0x7C01)));  // signalling NaN stays NaN
}

TEST_CASE("bf16 widens exactly, all 65536 values", "[dtype]") {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const float got = BF16ToF32(static_cast<uint16_t>(bits));
    const double want = FromFields(bits, 8, 7);
    if (std::isnan(want)) {
      if (std::bit_cast<uint32_t>(got) != bits << 16) FAIL("bf16 NaN bits " << bits);
    } else if (static_cast<double>(got) != want || std::signbit(got) != std::signbit(want)) {
      FAIL("bf16 bits " << bits << ": got " << got << ", want " << want);
    }
  }
  CHECK(BF16ToF32(0x3F80) == 1.0f);
  CHECK(BF16ToF32(0xC0A0) == -5.0f);
  CHECK(BF16ToF32(0x0001) == std::ldexp(1.0f, -133));  // smallest subnormal
  CHECK(BF16ToF32(0x7F80) == INFINITY);
  CHECK(BF16ToF32(0xFF80) == -INFINITY);
  CHECK(std::isnan(BF16ToF32(0x7FC0)));
}

// The nearest of two candidate encodings to `x`, ties to the even one:
// rounding decided by arithmetic in double, independent of the bit tricks.
uint16_t Nearest(double x, uint16_t a, uint16_t b, float (*widen)(uint16_t)) {
  const double da = std::fabs(static_cast<double>(widen(a)) - x);
  const double db = std::fabs(static_cast<double>(widen(b)) - x);
  if (da != db) return da < db ? a : b;
  return (a & 1) == 0 ? a : b;
}

TEST_CASE("f32 narrows to f16 and bf16, rounding to nearest even", "[dtype]") {
  // Every finite f16 / bf16 value survives the round trip.
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const uint16_t b = static_cast<uint16_t>(bits);
    if ((bits & 0x7C00) != 0x7C00 && F32ToF16(F16ToF32(b)) != b) FAIL("f16 bits " << bits);
    if ((bits & 0x7F80) != 0x7F80 && F32ToBF16(BF16ToF32(b)) != b) FAIL("bf16 bits " << bits);
  }
  // Halfway cases go to the even neighbour.
  CHECK(F32ToF16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);      // 1 + half ulp -> 1
  CHECK(F32ToF16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);  // odd + half -> up
  CHECK(F32ToF16(std::ldexp(1.0f, -25)) == 0x0000);             // half the smallest subnormal
  CHECK(F32ToF16(std::ldexp(3.0f, -25)) == 0x0002);
  CHECK(F32ToF16(std::ldexp(1.0f, -26)) == 0x0000);
  CHECK(F32ToF16(65504.0f) == 0x7BFF);
  CHECK(F32ToF16(65519.99f) == 0x7BFF);
  CHECK(F32ToF16(65520.0f) == 0x7C00);  // the tie above the largest rounds to infinity
  CHECK(F32ToF16(-1e30f) == 0xFC00);
  CHECK(F32ToF16(-INFINITY) == 0xFC00);
  CHECK(F32ToF16(-0.0f) == 0x8000);
  CHECK((F32ToF16(NAN) & 0x7E00) == 0x7E00);
  CHECK(F32ToBF16(1.0f + std::ldexp(1.0f, -8)) == 0x3F80);  // tie to even
  CHECK(F32ToBF16(std::bit_cast<float>(0x3F818000u)) == 0x3F82);
  CHECK(F32ToBF16(std::bit_cast<float>(0x7F7FFFFFu)) == 0x7F80);  // FLT_MAX rounds to infinity
  CHECK(F32ToBF16(std::bit_cast<float>(0x7F800001u)) == 0x7FC0);  // signalling NaN stays NaN
  CHECK(F32ToBF16(std::bit_cast<float>(0xFF800001u)) == 0xFFC0);

  // Random floats over the whole range, against arithmetic rounding.
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> any;
  for (int i = 0; i < 200000; ++i) {
    const uint32_t bits = any(rng);
    const float x = std::bit_cast<float>(bits);
    if (std::isnan(x)) continue;
    const uint16_t bf = F32ToBF16(x);
    const uint16_t down = static_cast<uint16_t>(bits >> 16);
    if (std::isinf(BF16ToF32(static_cast<uint16_t>(down + 1))) && !std::isinf(x)) {
      // Next up is infinity: round past the top only at or beyond the midpoint.
      const double top = BF16ToF32(down), half_ulp = std::ldexp(1.0, 127 - 8);
      CHECK(bf == (std::fabs(x) >= std::fabs(top) + half_ulp ? down + 1 : down));
    } else if (!std::isinf(x) &&
               bf != Nearest(x, down, static_cast<uint16_t>(down + 1), BF16ToF32)) {
      FAIL("bf16 of " << bits);
    }
    const uint16_t h = F32ToF16(x);
#ifdef __FLT16_MAX__
    if (h != std::bit_cast<uint16_t>(static_cast<_Float16>(x))) FAIL("f16 of bits " << bits);
#endif
    // Within range the result brackets x with its neighbour.
    if (std::fabs(x) < 65504.0f) {
      const uint16_t mag = h & 0x7FFF;
      const uint16_t other = std::fabs(static_cast<double>(F16ToF32(h))) < std::fabs(x)
                                 ? static_cast<uint16_t>((h & 0x8000) | (mag + 1))
                                 : static_cast<uint16_t>((h & 0x8000) | (mag > 0 ? mag - 1 : 0));
      if (h != Nearest(x, h, other, F16ToF32) && F16ToF32(h) != F16ToF32(other)) {
        FAIL("f16 of " << bits);
      }
    }
  }
}

// ---------------------------------------------------- safetensors round trip

TEST_CASE("safetensors: writer and reader round-trip every dtype", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.File("model.safetensors");
  const std::vector<float> f32 = {1.0f, -2.5f, 3.25f, 0.0f, 1e-3f, 42.0f};
  // f16: 1, -2, 65504, 2^-24 (subnormal), -0, inf; bf16: 1, -5, 2^-133, -inf.
  const std::vector<uint16_t> f16 = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x7C00};
  const std::vector<uint16_t> bf16 = {0x3F80, 0xC0A0, 0x0001, 0xFF80};
  const std::vector<float> scalar = {7.0f};
  const std::vector<float> none;
  WriteSafetensors(path, {
                             {"w.f32", DType::kF32, {2, 3}, Bytes(f32)},
                             {"w.f16", DType::kF16, {3, 2}, Bytes(f16)},
                             {"w.bf16", DType::kBF16, {4}, Bytes(bf16)},
                             {"scalar", DType::kF32, {}, Bytes(scalar)},
                             {"empty", DType::kF32, {0, 5}, Bytes(none)},
                         });
  CHECK(dir.List() == std::vector<std::string>{"model.safetensors"});  // no temp file left

  // The layout on disk, read independently: header length, 8-byte aligned data.
  const std::string bytes = ReadBytes(path);
  uint64_t header_len;
  std::memcpy(&header_len, bytes.data(), 8);
  CHECK(header_len % 8 == 0);
  CHECK(bytes.size() == 8 + header_len + 24 + 12 + 8 + 4);
  CHECK(bytes[8] == '{');
  CHECK_THAT(bytes.substr(8, header_len),
             Contains("\"w.f16\":{\"data_offsets\":[24,36],\"dtype\":\"F16\",\"shape\":[3,2]}"));
  CHECK(std::memcmp(bytes.data() + 8 + header_len, f32.data(), 24) == 0);

  auto st = SafetensorsCheckpoint::Open(path);
  CHECK(st->path() == path);
  CHECK(st->Names() == std::vector<std::string>{"empty", "scalar", "w.bf16", "w.f16", "w.f32"});
  CHECK(st->metadata().at("format") == "pt");
  CHECK(st->Find("missing") == nullptr);

  const TensorView* v = st->Find("w.f16");
  REQUIRE(v != nullptr);
  CHECK(v->dtype == DType::kF16);
  CHECK(v->shape == Shape{3, 2});
  CHECK(v->bytes == 12);
  CHECK(std::memcmp(v->data, f16.data(), 12) == 0);
  CHECK(st->Find("w.bf16")->dtype == DType::kBF16);
  CHECK(st->Find("empty")->bytes == 0);

  // f32 is used in place; f16 and bf16 are widened once into the source.
  const TensorView view = std::as_const(*st).Tensor("w.f32", {2, 3});
  const float* w = st->F32("w.f32", {2, 3});
  CHECK(reinterpret_cast<const std::byte*>(w) == view.data);
  CHECK(std::vector<float>(w, w + 6) == f32);

  const float* h = st->F32("w.f16", {3, 2});
  CHECK(h == st->F32("w.f16", {3, 2}));
  CHECK(h[0] == 1.0f);
  CHECK(h[1] == -2.0f);
  CHECK(h[2] == 65504.0f);
  CHECK(h[3] == std::ldexp(1.0f, -24));
  CHECK((h[4] == 0.0f && std::signbit(h[4])));
  CHECK(h[5] == INFINITY);

  const float* b = st->F32("w.bf16", {4});
  CHECK(b[0] == 1.0f);
  CHECK(b[1] == -5.0f);
  CHECK(b[2] == std::ldexp(1.0f, -133));
  CHECK(b[3] == -INFINITY);

  CHECK(*st->F32("scalar", {}) == 7.0f);
  CHECK(st->F32("empty", {0, 5}) != nullptr);

  // Overwriting replaces the file whole.
  WriteSafetensors(path, {{"only", DType::kF32, {1}, Bytes(scalar)}});
  CHECK(SafetensorsCheckpoint::Open(path)->Names() == std::vector<std::string>{"only"});
  CHECK(dir.List() == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("safetensors: unaligned f32 is copied, not misread", "[safetensors]") {
  TempDir dir;
  const float values[] = {0.5f, -1.5f, 1e30f};
  std::string data(12, '\0');
  std::memcpy(data.data(), values, 12);
  // A 9-byte header puts the data at file offset 17.
  const std::string header = R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}} )";
  std::string padded = header;
  while ((8 + padded.size()) % 4 == 0) padded += ' ';
  const std::string path = WriteBytes(dir.File("odd.safetensors"), RawSafetensors(padded, data));
  auto st = SafetensorsCheckpoint::Open(path);
  const TensorView* view = st->Find("x");
  REQUIRE(view != nullptr);
  CHECK(reinterpret_cast<uintptr_t>(view->data) % 4 != 0);
  const float* x = st->F32("x", {3});
  CHECK(reinterpret_cast<uintptr_t>(x) % alignof(float) == 0);
  CHECK(x[0] == 0.5f);
  CHECK(x[1] == -1.5f);
  CHECK(x[2] == 1e30f);
  CHECK(x == st->F32("x", {3}));
}

TEST_CASE("TensorSource::BF16: stored bf16 in place, f32 and f16 rounded once", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.File("m.safetensors");
  // Bits written by hand: 1, -5, 2^-133 (subnormal), -inf.
  const std::vector<uint16_t> bf16 = {0x3F80, 0xC0A0, 0x0001, 0xFF80};
  // 1 + 2^-8 is halfway between bf16 1 and 1 + 2^-7: ties to even (1). 1 + 3 * 2^-8 is halfway
  // between 1 + 2^-7 and 1 + 2^-6: ties to even (1 + 2^-6 = 0x3F82). 3.0 is exact (0x4040).
  const std::vector<float> f32 = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 3.0f, -0.0f};
  const std::vector<uint16_t> f16 = {0x3C00, 0x7BFF};  // 1, 65504 (rounds to 65536 in bf16)
  WriteSafetensors(path, {{"b", DType::kBF16, {2, 2}, Bytes(bf16)},
                          {"f", DType::kF32, {4}, Bytes(f32)},
                          {"h", DType::kF16, {2}, Bytes(f16)}});
  auto st = SafetensorsCheckpoint::Open(path);
  const uint16_t* b = st->BF16("b", {2, 2});
  CHECK(reinterpret_cast<const std::byte*>(b) == st->Find("b")->data);  // not copied
  CHECK(std::vector<uint16_t>(b, b + 4) == bf16);
  const uint16_t* f = st->BF16("f", {4});
  CHECK(f == st->BF16("f", {4}));  // converted once
  CHECK(std::vector<uint16_t>(f, f + 4) == std::vector<uint16_t>{0x3F80, 0x3F82, 0x4040, 0x8000});
  const uint16_t* h = st->BF16("h", {2});
  CHECK(h[0] == 0x3F80);
  CHECK(h[1] == 0x4780);
  CHECK_THROWS_WITH(st->BF16("b", {4}), Contains("has shape [2, 2], expected [4]"));
}

TEST_CASE("tensor lookups name the file, the tensor and the shapes", "[safetensors]") {
  TempDir dir;
  const std::vector<float> data(8, 1.0f);
  const std::string path = dir.File("m.safetensors");
  WriteSafetensors(path,
                   {{"model.layers.0.self_attn.q_proj.weight", DType::kF32, {2, 4}, Bytes(data)}});
  auto st = SafetensorsCheckpoint::Open(path);
  const TensorSource& source = *st;
  CHECK_THROWS_WITH(
      source.Tensor("model.layers.0.self_attn.q_proj.weight", {4, 2}),
      path + ": tensor 'model.layers.0.self_attn.q_proj.weight' has shape [2, 4], expected [4, 2]");
  CHECK_THROWS_WITH(source.Tensor("model.layers.0.self_attn.k_proj.weight", {2, 4}),
                    path +
                        ": no tensor named 'model.layers.0.self_attn.k_proj.weight'; did you "
                        "mean 'model.layers.0.self_attn.q_proj.weight'?");
  CHECK_THROWS_WITH(source.Tensor("tok_embeddings.weight", {2, 4}),
                    path + ": no tensor named 'tok_embeddings.weight'");
  CHECK_THROWS_AS(st->F32("nope", {1}), Error);
}

// ------------------------------------------------------ corrupt safetensors

// Every bad file gives one line naming the file and what is wrong.
void CheckRefused(const std::string& path, const std::string& message) {
  try {
    SafetensorsCheckpoint::Open(path);
    FAIL("opened " << path << ", expected: " << message);
  } catch (const Error& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Contains(path + ": ") && Contains(message));
    CHECK(what.find('\n') == std::string::npos);
  }
}

TEST_CASE("corrupt safetensors headers give one-line errors", "[safetensors]") {
  TempDir dir;
  int n = 0;
  auto file = [&](const std::string& bytes) {
    return WriteBytes(dir.File("bad" + std::to_string(n++) + ".safetensors"), bytes);
  };
  const std::string eight(8, 'x');  // data for one [2] f32 tensor
  auto one = [](const std::string& entry) { return "{\"w\":" + entry + "}"; };

  SECTION("truncated before the length") {
    CheckRefused(file("abc"),
                 "truncated: a safetensors file starts with an 8-byte header length, "
                 "found 3 bytes");
  }
  SECTION("header length past the end of the file") {
    CheckRefused(file(RawSafetensors("{}", "", 1000)),
                 "header length 1000 (file bytes 0-7) runs past the end of the file (10 bytes)");
  }
  SECTION("huge header length") {
    CheckRefused(file(RawSafetensors("{}", "", uint64_t{1} << 63)),
                 "header length 9223372036854775808 (file bytes 0-7) is over the "
                 "100000000-byte limit");
    CheckRefused(file(RawSafetensors("{}", "", ~uint64_t{0})), "is over the 100000000-byte limit");
  }
  SECTION("not JSON") {
    CheckRefused(file(RawSafetensors("{\"w\": ", "")),
                 "header is not valid JSON at file byte 14: syntax error while parsing value - "
                 "unexpected end of input");
    CheckRefused(file(RawSafetensors("{\"w\n\x01\": 1}", "")), "is not valid JSON");
    CheckRefused(file(RawSafetensors("{} trailing", "")), "is not valid JSON");
    CheckRefused(file(RawSafetensors("{\"w\":1e999}", "")),
                 "header is not usable JSON: number overflow parsing '1e999'");
  }
  SECTION("not an object") {
    CheckRefused(file(RawSafetensors("[1, 2]", "")),
                 "header is a JSON array, expected an object mapping tensor names to entries");
    CheckRefused(file(RawSafetensors(one("[0]"), "")),
                 "tensor 'w': expected an object with dtype, shape and data_offsets, found array");
  }
  SECTION("unsupported dtypes") {
    CheckRefused(
        file(RawSafetensors(one(R"({"dtype":"I64","shape":[1],"data_offsets":[0,8]})"), eight)),
        "tensor 'w' has dtype I64; lmc reads F32, F16 and BF16");
    CheckRefused(
        file(RawSafetensors(one(R"({"dtype":"F64","shape":[1],"data_offsets":[0,8]})"), eight)),
        "tensor 'w' has dtype F64");
    CheckRefused(
        file(RawSafetensors(one(R"({"dtype":3,"shape":[1],"data_offsets":[0,8]})"), eight)),
        "tensor 'w': dtype must be a string, found number");
  }
  SECTION("missing, unknown and mistyped fields") {
    CheckRefused(file(RawSafetensors(one(R"({"dtype":"F32","shape":[2]})"), eight)),
                 "tensor 'w' has no data_offsets");
    CheckRefused(file(RawSafetensors(
                     one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1})"), eight)),
                 "tensor 'w' has unknown field 'x'");
    CheckRefused(
        file(RawSafetensors(one(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"), eight)),
        "tensor 'w': shape [-2] must hold non-negative integers");
    CheckRefused(
        file(RawSafetensors(one(R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,8]})"), eight)),
        "must hold non-negative integers");
    CheckRefused(
        file(RawSafetensors(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0]})"), eight)),
        "tensor 'w': data_offsets [0] must be two non-negative integers [begin, end]");
    CheckRefused(
        file(RawSafetensors(one(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})"), eight)),
        "tensor 'w' has data_offsets [8, 0]: begin is after end");
  }
  SECTION("shape times dtype size must be the span") {
    CheckRefused(
        file(RawSafetensors(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"), eight)),
        "tensor 'w' is F32 [3] = 12 bytes, but its data_offsets [0, 8] span 8");
    CheckRefused(
        file(RawSafetensors(one(R"({"dtype":"BF16","shape":[2],"data_offsets":[0,8]})"), eight)),
        "tensor 'w' is BF16 [2] = 4 bytes, but its data_offsets [0, 8] span 8");
    CheckRefused(
        file(RawSafetensors(
            one(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]})"), eight)),
        "= more than 2^63 values or 2^64 bytes");
    // No bytes, but a consumer multiplying the dimensions would overflow.
    CheckRefused(
        file(RawSafetensors(
            one(R"({"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]})"),
            eight)),
        "= more than 2^63 values or 2^64 bytes");
  }
  SECTION("offsets past the end of the file") {
    CheckRefused(
        file(RawSafetensors(one(R"({"dtype":"F32","shape":[4],"data_offsets":[0,16]})"), eight)),
        "tensor 'w' has data_offsets [0, 16] past the end of the data section (8 bytes)");
    CheckRefused(file(RawSafetensors(one(R"({"dtype":"F32","shape":[0],"data_offsets":[)"
                                         R"(18446744073709551615,18446744073709551615]})"),
                                     "")),
                 "past the end of the data section (0 bytes)");
  }
  SECTION("overlapping tensors") {
    CheckRefused(file(RawSafetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                     R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                     std::string(12, 'x'))),
                 "tensors 'a' [0, 8] and 'b' [4, 12] overlap");
    CheckRefused(file(RawSafetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                     R"("b":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}})",
                                     eight)),
                 "tensors 'a' [0, 8] and 'b' [0, 8] overlap");
  }
  SECTION("holes and trailing bytes") {
    CheckRefused(
        file(RawSafetensors(one(R"({"dtype":"F32","shape":[1],"data_offsets":[4,8]})"), eight)),
        "data bytes [0, 4) before tensor 'w' belong to no tensor");
    CheckRefused(
        file(RawSafetensors(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})"), eight)),
        "data bytes [4, 8) after the last tensor belong to no tensor");
  }
  SECTION("duplicate names") {
    CheckRefused(file(RawSafetensors(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                     R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                     eight)),
                 "tensor 'w' appears twice in the header");
    CheckRefused(
        file(RawSafetensors(
            one(R"({"dtype":"F32","shape":[2],"dtype":"F16","data_offsets":[0,8]})"), eight)),
        "header repeats the key 'dtype' inside an entry");
  }
  SECTION("__metadata__") {
    const std::string entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
    auto ok = SafetensorsCheckpoint::Open(file(RawSafetensors(
        "{\"__metadata__\":{\"format\":\"pt\",\"by\":\"me\"}," + entry + "}", eight)));
    CHECK(ok->Names() == std::vector<std::string>{"w"});
    CHECK(ok->metadata().at("by") == "me");
    CheckRefused(file(RawSafetensors("{\"__metadata__\":{\"n\":1}," + entry + "}", eight)),
                 "__metadata__ entry 'n' must be a string, found number");
    CheckRefused(file(RawSafetensors("{\"__metadata__\":[]," + entry + "}", eight)),
                 "__metadata__ must be an object of strings, found array");
  }
  SECTION("names from the file stay on one line") {
    CheckRefused(
        file(RawSafetensors(R"({"a\nb":{"dtype":"I8","shape":[8],"data_offsets":[0,8]}})", eight)),
        "tensor 'a\\x0ab' has dtype I8");
    CheckRefused(
        file(RawSafetensors(R"({"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight)),
        "a tensor has an empty name");
  }
  SECTION("not a regular file, empty, missing") {
    CheckRefused(file(""), "file is empty");
    CheckRefused(dir.File("missing.safetensors"), "cannot open");
    CheckRefused("/dev/null", "not a regular file");
  }
}

TEST_CASE("an empty safetensors file (no tensors) is valid", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.File("none.safetensors");
  WriteSafetensors(path, {});
  CHECK(SafetensorsCheckpoint::Open(path)->Names().empty());
  CHECK(SafetensorsCheckpoint::Open(WriteBytes(dir.File("raw"), RawSafetensors("{}", "")))
            ->Names()
            .empty());
}

// Loading is linear in the tensor count: nlohmann's callback parser, used once to spot
// repeated keys, scanned the whole top-level object after each entry (200,000 entries took
// minutes, 100,000 over two; the header limit allows a million).
TEST_CASE("a header of 100000 tensors loads; a name repeated last is found", "[safetensors]") {
  TempDir dir;
  constexpr int kTensors = 100'000;
  std::string header = "{";
  std::string data;
  for (int i = 0; i < kTensors; ++i) {
    header += fmt::format(R"({}"t{}":{{"dtype":"F32","shape":[1],"data_offsets":[{},{}]}})",
                          i == 0 ? "" : ",", i, 4 * i, 4 * i + 4);
    const float value = static_cast<float>(i);
    data.append(reinterpret_cast<const char*>(&value), 4);
  }
  const std::string path =
      WriteBytes(dir.File("many.safetensors"), RawSafetensors(header + "}", data));
  auto checkpoint = SafetensorsCheckpoint::Open(path);
  CHECK(checkpoint->Names().size() == kTensors);
  const TensorView* last = checkpoint->Find("t99999");
  REQUIRE(last != nullptr);
  float value;
  std::memcpy(&value, last->data, 4);
  CHECK(value == 99999.0f);

  const std::string repeated = R"(,"t0":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  CheckRefused(
      WriteBytes(dir.File("repeated.safetensors"), RawSafetensors(header + repeated, data)),
      "tensor 't0' appears twice in the header");
}

// ---------------------------------------------------- a mapped file that shrinks

// Runs `child` in a child process whose stdout and stderr go to `out` and `err`; returns the
// wait status.
template <typename F>
int RunChild(const std::string& out, const std::string& err, F child) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), STDOUT_FILENO);
    ::dup2(::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), STDERR_FILENO);
    try {
      child();
    } catch (...) {
    }
    ::_exit(99);
  }
  int status = 0;
  REQUIRE(pid > 0);
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return status;
}

TEST_CASE("a mapped file truncated while in use: one line, exit 1, held-back output kept",
          "[mapped_file]") {
  TempDir dir;
  const std::string path = dir.Write("w.bin", std::string(1 << 16, 'w'));
  const std::string out = dir.File("out"), err = dir.File("err");
  int status = RunChild(out, err, [&] {
    EnableMappingGuards();  // As lmc and model binaries do; a library leaves SIGBUS alone.
    MappedFile file = MappedFile::Open(path);
    std::printf("written ");  // stdio's buffer: a fault loses it (it is not async-signal-safe)
    SetUnwrittenOutput("held back", 9);
    REQUIRE(::truncate(path.c_str(), 0) == 0);
    volatile uint8_t byte = file.data()[1 << 14];  // SIGBUS: the page is gone
    (void)byte;
  });
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(ReadBytes(out) == "held back");
  CHECK(ReadBytes(err) ==
        "weights_test: error: " + path + ": the file was truncated or changed while in use\n");

  // A SIGBUS outside the mappings goes to the handler from before the guard's: by default
  // death by SIGBUS (under ASan, its report and exit 1).
  dir.Write("w.bin", "w");
  status = RunChild(out, err, [&] {
    MappedFile file = MappedFile::Open(path);
    ::raise(SIGBUS);
  });
  INFO("wait status " << status);
  CHECK((WIFSIGNALED(status) ? WTERMSIG(status) == SIGBUS
                             : WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 99));
  CHECK(ReadBytes(err).find("truncated or changed") == std::string::npos);
}

TEST_CASE("the writer refuses bad tensors and leaves the target alone", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.File("w.safetensors");
  const std::vector<float> four(4, 2.0f);
  WriteSafetensors(path, {{"keep", DType::kF32, {4}, Bytes(four)}});
  const std::string before = ReadBytes(path);
  CHECK_THROWS_WITH(WriteSafetensors(path, {{"a", DType::kF32, {4}, Bytes(four)},
                                            {"a", DType::kF32, {4}, Bytes(four)}}),
                    path + ": tensor 'a' is given twice");
  CHECK_THROWS_WITH(WriteSafetensors(path, {{"a", DType::kF16, {4}, Bytes(four)}}),
                    path + ": tensor 'a' is f16 [4] = 8 bytes, but 16 bytes were given");
  CHECK_THROWS_WITH(WriteSafetensors(path, {{"a", DType::kF32, {-4}, Bytes(four)}}),
                    Contains("tensor 'a' has negative shape [-4]"));
  CHECK_THROWS_WITH(WriteSafetensors(path, {{"", DType::kF32, {4}, Bytes(four)}}),
                    Contains("empty name"));
  CHECK_THROWS_WITH(WriteSafetensors(path, {{"__metadata__", DType::kF32, {4}, Bytes(four)}}),
                    Contains("'__metadata__' cannot name a tensor"));
  CHECK(ReadBytes(path) == before);
  CHECK(dir.List() == std::vector<std::string>{"w.safetensors"});

  const std::string nowhere = dir.File("no/such/dir/w.safetensors");
  CHECK_THROWS_WITH(WriteSafetensors(nowhere, {}),
                    Contains(nowhere + ": cannot create a temporary file"));
}

// ------------------------------------------------------------ OpenCheckpoint

constexpr char kStories[] = "llama2c-stories260K/stories260K.bin";

ModelDims StoriesDims() {
  return {.d_model = 64,
          .hidden = 172,
          .n_layers = 5,
          .n_heads = 8,
          .n_kv_heads = 4,
          .head_dim = 8,
          .vocab = 512,
          .max_seq_len = 512,
          .tied = true};
}

TEST_CASE("OpenCheckpoint opens stories260K as llama2c, named by the table", "[checkpoint]") {
  const std::string path = test::AssetPath(kStories);
  auto source = OpenCheckpoint(path, "llama2c", StoriesDims());
  CHECK(source->path() == path);
  // Every role of the llama2c table, for every layer, is in the checkpoint as f32.
  const auto& names = DefaultTensorNames("llama2c");
  size_t expected_count = 0;
  for (const auto& [role, name_template] : names) {
    const bool per_layer = name_template.find("{layer}") != std::string::npos;
    for (int64_t layer = 0; layer < (per_layer ? 5 : 1); ++layer) {
      const TensorView* view = source->Find(TensorName(name_template, layer));
      INFO("role " << role << " layer " << layer);
      REQUIRE(view != nullptr);
      CHECK(view->dtype == DType::kF32);
      ++expected_count;
    }
  }
  CHECK(source->Names().size() == expected_count);
  CHECK(source->Find("layers.5.attention.wq.weight") == nullptr);
  // Tied: the classifier is the embedding, in place in the file.
  const float* emb = source->F32("tok_embeddings.weight", {512, 64});
  CHECK(source->F32("output.weight", {512, 64}) == emb);
  CHECK(std::as_const(*source).Tensor("output.weight", {512, 64}).bytes == 512 * 64 * 4);
  CHECK_THROWS_WITH(std::as_const(*source).Tensor("layers.5.attention.wq.weight", {64, 64}),
                    Contains("did you mean 'layers.0.attention.wq.weight'?"));
}

TEST_CASE("OpenCheckpoint checks the llama2c header against the dims", "[checkpoint]") {
  const std::string path = test::AssetPath(kStories);
  ModelDims dims = StoriesDims();
  dims.hidden = 176;
  CHECK_THROWS_WITH(OpenCheckpoint(path, "llama2c", dims),
                    path + ": header field hidden_dim is 172, but the model was compiled for 176");
  dims = StoriesDims();
  dims.tied = false;
  CHECK_THROWS_WITH(OpenCheckpoint(path, "llama2c", dims),
                    Contains(path + ": header says the classifier is tied"));
  dims = StoriesDims();
  dims.head_dim = 16;
  CHECK_THROWS_WITH(
      OpenCheckpoint(path, "llama2c", dims),
      path + ": llama2.c checkpoints need head_dim = d_model / n_heads = 8, the model has 16");
  dims = StoriesDims();
  dims.vocab = int64_t{1} << 40;
  CHECK_THROWS_WITH(OpenCheckpoint(path, "llama2c", dims),
                    Contains("vocab is 1099511627776, more than a llama2.c header can hold"));
  CHECK_THROWS_WITH(OpenCheckpoint(path, "gguf", StoriesDims()),
                    Contains(path + ": byte offset 0: expected the magic \"GGUF\""));
  CHECK_THROWS_WITH(
      OpenCheckpoint(path, "ggml", StoriesDims()),
      path + ": unknown weights format 'ggml': expected llama2c, safetensors or gguf");
}

TEST_CASE("OpenCheckpoint opens safetensors whatever the dims", "[checkpoint]") {
  TempDir dir;
  const std::string path = dir.File("hf.safetensors");
  const std::vector<uint16_t> gain = {0x3F80, 0x4000};  // bf16 1, 2
  WriteSafetensors(path, {{"model.norm.weight", DType::kBF16, {2}, Bytes(gain)}});
  auto source = OpenCheckpoint(path, "safetensors", ModelDims{});
  const float* g = source->F32("model.norm.weight", {2});
  CHECK(g[0] == 1.0f);
  CHECK(g[1] == 2.0f);
  CHECK_THROWS_WITH(OpenCheckpoint(path, "llama2c", StoriesDims()),
                    Contains(path + ": header field"));
}

// ------------------------------------------------------- sharded safetensors

TEST_CASE("sharded safetensors: an index and its shards read as one checkpoint", "[sharded]") {
  TempDir dir;
  const std::vector<float> a = {1, 2, 3, 4}, b = {5, 6};
  WriteSafetensors(dir.File("model-00001-of-00002.safetensors"),
                   {{"a", DType::kF32, {2, 2}, Bytes(a)}});
  WriteSafetensors(dir.File("model-00002-of-00002.safetensors"),
                   {{"b", DType::kF32, {2}, Bytes(b)}, {"c", DType::kF32, {2}, Bytes(b)}});
  const std::string index = dir.Write(
      "model.safetensors.index.json",
      R"({"metadata": {"total_size": 32}, "weight_map": {"a": "model-00001-of-00002.safetensors",)"
      R"( "b": "model-00002-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}})");
  for (const std::string& path : {index, dir.path().string(), dir.path().string() + "/"}) {
    INFO(path);
    auto source = OpenCheckpoint(path, "safetensors", ModelDims{});
    CHECK(source->path() == index);
    CHECK(source->Names() == std::vector<std::string>{"a", "b", "c"});
    CHECK(source->F32("a", {2, 2})[3] == 4.0f);
    CHECK(source->F32("c", {2})[1] == 6.0f);
  }
  // A folder with model.safetensors too: the single file, as Hugging Face prefers it.
  WriteSafetensors(dir.File("model.safetensors"), {{"single", DType::kF32, {2}, Bytes(b)}});
  CHECK(OpenSafetensors(dir.path().string())->Names() == std::vector<std::string>{"single"});
}

TEST_CASE("sharded safetensors: a bad index or shard gives one line", "[sharded]") {
  TempDir dir;
  const std::vector<float> v = {1, 2};
  WriteSafetensors(dir.File("s1.safetensors"), {{"a", DType::kF32, {2}, Bytes(v)}});
  WriteSafetensors(dir.File("s2.safetensors"),
                   {{"b", DType::kF32, {2}, Bytes(v)}, {"extra", DType::kF32, {2}, Bytes(v)}});
  auto refused = [&](const std::string& index_text, const std::string& message) {
    const std::string index = dir.Write("bad.index.json", index_text);
    INFO(index_text);
    CHECK_THROWS_WITH(OpenCheckpoint(index, "safetensors", ModelDims{}), Contains(message));
  };
  refused(R"({"weight_map": {"a": "s1.safetensors", "b": "missing.safetensors"}})",
          "bad.index.json: shard 'missing.safetensors' (holding 'b') cannot be used: " +
              dir.File("missing.safetensors") + ": cannot open");
  refused(R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors"}})",
          "bad.index.json: weight_map puts tensor 'b' in 's1.safetensors', which has no such "
          "tensor");
  refused(R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})",
          dir.File("s2.safetensors") + ": holds tensor 'extra', which " +
              dir.File("bad.index.json") + " does not list for this shard");
  refused(R"({"weight_map": {"a": "s1.safetensors", "a": "s2.safetensors"}})",
          "bad.index.json: tensor 'a' appears twice in weight_map");
  refused(R"({"weight_map": {"a": "../s1.safetensors"}})",
          "weight_map['a'] is '../s1.safetensors', expected the file name of a shard beside the "
          "index");
  refused(R"({"weight_map": {"a": "/etc/passwd"}})", "expected the file name of a shard");
  refused(R"({"weight_map": {"a": 1}})", "weight_map['a'] must be a shard file name, found number");
  refused(R"({"weight_map": {}})", "weight_map must be a non-empty object");
  refused(R"({"metadata": {}})", "expected a shard index, an object with a \"weight_map\"");
  refused(R"([1, 2])", "expected a shard index");
  refused(R"({"weight_map": {"a": "s1.safetensors",)",
          "bad.index.json: the shard index is not "
          "valid JSON at file byte");
  CHECK_THROWS_WITH(OpenSafetensors(dir.File("none")), Contains("none: cannot open"));
  TempDir empty;
  CHECK_THROWS_WITH(OpenSafetensors(empty.path().string()),
                    empty.path().string() +
                        ": a folder without model.safetensors or model.safetensors.index.json");
}

// --------------------------------------------------------------- name tables

TEST_CASE("one name table per format", "[names]") {
  const auto& meta = DefaultTensorNames("llama2c");
  const auto& hf = DefaultTensorNames("safetensors");
  const std::vector<std::string> roles = {
      "attn_norm", "classifier", "ffn_norm", "final_norm", "token_embedding",
      "w_down",    "w_gate",     "w_up",     "wk",         "wo",
      "wq",        "wv"};
  for (const auto* table : {&meta, &hf}) {
    std::vector<std::string> keys;
    for (const auto& [role, name] : *table) {
      if (table == &meta || !role.ends_with("_bias")) keys.push_back(role);
    }
    CHECK(keys == roles);
  }
  CHECK(hf.at("wq_bias") == "model.layers.{layer}.self_attn.q_proj.bias");  // Qwen2
  // GPT-2's fused c_attn is stored [d, 3d]: q is the first third after a transpose.
  const StoredTensor& gpt2_wk = LayoutTensors("gpt2").at("wk");
  CHECK(gpt2_wk.name == "h.{layer}.attn.c_attn.weight");
  CHECK((gpt2_wk.transposed && gpt2_wk.parts == 3 && gpt2_wk.part == 1 && !gpt2_wk.per_head));
  CHECK(LayoutTensors("bloom").at("wv").per_head);
  CHECK_THROWS_WITH(LayoutTensors("gptj"), Catch::Contains("unknown weights layout 'gptj'"));
  // Encoder-decoders: the encoder's roles carry enc_, the decoder's cross-attention cross_.
  const auto& t5 = LayoutTensors("t5");
  CHECK(t5.at("enc_wq").name == "encoder.block.{layer}.layer.0.SelfAttention.q.weight");
  CHECK(t5.at("cross_wk").name == "decoder.block.{layer}.layer.1.EncDecAttention.k.weight");
  CHECK(t5.at("w_down").name == "decoder.block.{layer}.layer.2.DenseReluDense.wo.weight");
  CHECK(t5.at("enc_relative_bias").name ==
        "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
  const StoredTensor& cross_v = LayoutTensors("torch_transformer").at("cross_wv");
  CHECK(cross_v.name == "decoder.layers.{layer}.multihead_attn.in_proj_weight");
  CHECK((cross_v.parts == 3 && cross_v.part == 2 && !cross_v.transposed));
  CHECK(LayoutTensors("torch_transformer").at("enc_ffn_norm").name ==
        "encoder.layers.{layer}.norm2.weight");
  CHECK(LayoutTensors("torch_transformer").at("ffn_norm").name ==
        "decoder.layers.{layer}.norm3.weight");
  CHECK(TensorName(hf.at("wq"), 3) == "model.layers.3.self_attn.q_proj.weight");
  CHECK(TensorName(hf.at("w_down"), 0) == "model.layers.0.mlp.down_proj.weight");
  CHECK(TensorName(hf.at("ffn_norm"), 11) == "model.layers.11.post_attention_layernorm.weight");
  CHECK(TensorName(hf.at("classifier"), 0) == "lm_head.weight");
  CHECK(TensorName(meta.at("w_gate"), 2) == "layers.2.feed_forward.w1.weight");
  CHECK(TensorName("a.{layer}.b.{layer}", 7) == "a.7.b.7");
  CHECK(TensorName("plain", 7) == "plain");
  CHECK_THROWS_WITH(DefaultTensorNames("gguf"),
                    "unknown weights format 'gguf': expected llama2c or safetensors");
}

// A checkpoint saved from a module that holds the model ("model.") names every tensor under
// that prefix, before the layout's optional one (torch.nn.Transformer as `transformer`).
TEST_CASE("module prefixes: detected when exactly one resolves a name", "[names]") {
  CHECK(LayoutOptionalPrefix("torch_transformer") == "transformer.");
  const std::vector<std::string> names = {"model.embed.weight",
                                          "model.transformer.encoder.norm.weight", "norm.weight",
                                          "model.xnorm.weight", "a.b.decoder.norm.weight"};
  using V = std::vector<std::string>;
  CHECK(ModulePrefixes("embed.weight", "", names) == V{"model."});
  // Under the layout's prefix: the module prefix is what precedes it.
  CHECK(ModulePrefixes("encoder.norm.weight", "transformer.", names) == V{"model."});
  CHECK(ModulePrefixes("encoder.norm.weight", "", names) == V{"model.transformer."});
  CHECK(ModulePrefixes("decoder.norm.weight", "", names) == V{"a.b."});
  // Whole name parts only ("xnorm" does not end in ".norm"); several prefixes are all listed.
  CHECK(ModulePrefixes("norm.weight", "", names) ==
        V{"a.b.decoder.", "model.transformer.encoder."});
  CHECK(ModulePrefixes("lm_head.weight", "", names).empty());

  TempDir dir;
  const std::vector<float> one = {1.0f};
  const std::string path = dir.File("wrapped.safetensors");
  WriteSafetensors(path, {{"model.embed.weight", DType::kF32, {1}, Bytes(one)},
                          {"model.transformer.encoder.norm.weight", DType::kF32, {1}, Bytes(one)},
                          {"head.weight", DType::kF32, {1}, Bytes(one)}});
  auto st = SafetensorsCheckpoint::Open(path);
  st->set_optional_prefix("transformer.");
  CHECK(st->Resolve("head.weight") == "head.weight");  // As given: nothing detected yet.
  CHECK(st->Resolve("encoder.norm.weight") == "model.transformer.encoder.norm.weight");
  CHECK(st->Resolve("embed.weight") == "model.embed.weight");  // Under the detected "model."
  CHECK(st->Resolve("missing.weight") == "missing.weight");
  CHECK(*st->F32("embed.weight", {1}) == 1.0f);

  const std::string two = dir.File("two.safetensors");
  WriteSafetensors(two, {{"a.embed.weight", DType::kF32, {1}, Bytes(one)},
                         {"b.embed.weight", DType::kF32, {1}, Bytes(one)}});
  auto ambiguous = SafetensorsCheckpoint::Open(two);
  CHECK_THROWS_WITH(ambiguous->F32("embed.weight", {1}),
                    two +
                        ": no tensor named 'embed.weight', but 2 prefixes make one: 'a.' and "
                        "'b.'; say which with weights.prefix");
  ambiguous->set_module_prefix("b.");
  CHECK(ambiguous->Resolve("embed.weight") == "b.embed.weight");
}

// ----------------------------------------- HF Llama made by PyTorch (ctest)

// Folders written by tests/reference/make_hf_llama.py, ':'-separated in
// $LMC_HF_LLAMA (ctest's weights_test_hf sets it up). Hidden from a plain run.
TEST_CASE("make_hf_llama.py's safetensors load with the HF name table", "[.][hf]") {
  const char* env = std::getenv("LMC_HF_LLAMA");
  REQUIRE(env != nullptr);
  std::vector<std::string> dirs;
  for (std::string rest = env; !rest.empty();) {
    const size_t colon = rest.find(':');
    dirs.push_back(rest.substr(0, colon));
    rest = colon == std::string::npos ? "" : rest.substr(colon + 1);
  }
  REQUIRE(!dirs.empty());
  for (const std::string& dir : dirs) {
    INFO("folder " << dir);
    const auto cfg = nlohmann::json::parse(ReadBytes(dir + "/config.json"));
    const int64_t d = cfg["hidden_size"], hidden = cfg["intermediate_size"],
                  layers = cfg["num_hidden_layers"], heads = cfg["num_attention_heads"],
                  kv_heads = cfg["num_key_value_heads"], head_dim = cfg["head_dim"],
                  vocab = cfg["vocab_size"];
    const bool tied = cfg["tie_word_embeddings"];
    const std::string torch_dtype = cfg["torch_dtype"];
    const DType dtype = torch_dtype == "float32"   ? DType::kF32
                        : torch_dtype == "float16" ? DType::kF16
                                                   : DType::kBF16;
    const std::map<std::string, Shape> shapes = {{"token_embedding", {vocab, d}},
                                                 {"attn_norm", {d}},
                                                 {"wq", {heads * head_dim, d}},
                                                 {"wk", {kv_heads * head_dim, d}},
                                                 {"wv", {kv_heads * head_dim, d}},
                                                 {"wo", {d, heads * head_dim}},
                                                 {"ffn_norm", {d}},
                                                 {"w_gate", {hidden, d}},
                                                 {"w_up", {hidden, d}},
                                                 {"w_down", {d, hidden}},
                                                 {"final_norm", {d}},
                                                 {"classifier", {vocab, d}}};

    auto source = OpenCheckpoint(dir + "/model.safetensors", "safetensors", ModelDims{});
    size_t count = 0;
    for (const auto& [role, name_template] : DefaultTensorNames("safetensors")) {
      if (role.ends_with("_bias")) continue;  // Qwen2's; a Llama checkpoint has none
      if (role == "classifier" && tied) {
        CHECK(source->Find(name_template) == nullptr);  // save_pretrained drops the tied copy
        continue;
      }
      const bool per_layer = name_template.find("{layer}") != std::string::npos;
      for (int64_t layer = 0; layer < (per_layer ? layers : 1); ++layer) {
        const std::string name = TensorName(name_template, layer);
        INFO("tensor " << name);
        const TensorView view = std::as_const(*source).Tensor(name, shapes.at(role));
        CHECK(view.dtype == dtype);
        const float* values = source->F32(name, shapes.at(role));
        const size_t n = view.bytes / DTypeSize(dtype);
        float sum_sq = 0;
        for (size_t i = 0; i < n; ++i) sum_sq += values[i] * values[i];
        CHECK(std::isfinite(sum_sq));
        CHECK(sum_sq > 0);
        ++count;
      }
    }
    CHECK(source->Names().size() == count);
  }
}

// ------------------------------------------------------------------ quantized blocks

// A block's bytes as GGUF lays them out: the f16 scale (little-endian), then the quants.
template <typename Block>
std::vector<uint8_t> BlockBytes(const Block& b) {
  std::vector<uint8_t> out(sizeof(Block));
  std::memcpy(out.data(), &b, sizeof(Block));
  return out;
}

std::vector<uint8_t> Q8Bytes(uint8_t d_lo, uint8_t d_hi, std::vector<uint8_t> q) {
  q.resize(32, 0);
  q.insert(q.begin(), {d_lo, d_hi});
  return q;
}

std::vector<uint8_t> Q4Bytes(uint8_t d_lo, uint8_t d_hi, std::vector<uint8_t> qs) {
  qs.resize(16, 0x88);  // zeros: nibble 8 in both halves
  qs.insert(qs.begin(), {d_lo, d_hi});
  return qs;
}

TEST_CASE("the kernels' f16 scale decoding is exact for every finite f16", "[quant]") {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    if ((bits & 0x7C00) == 0x7C00) continue;
    const float got = QuantScale(static_cast<uint16_t>(bits)), want = F16ToF32(bits);
    if (std::bit_cast<uint32_t>(got) != std::bit_cast<uint32_t>(want)) FAIL("f16 bits " << bits);
  }
  CHECK(QuantScale(0x7C00) == INFINITY);
  CHECK(QuantScale(0xFC00) == -INFINITY);
}

// Values chosen so every step is checkable by hand. Row of 40 = one block and a partial one.
// Block 0: amax 127, so d = 1 (f16 0x3C00) and q = round(x), halves away from zero.
// Block 1: amax 63.5, so d = 0.5 (f16 0x3800) and q = round(2x); 8 values, then zero padding.
const std::vector<float> kQ8Row = [] {
  std::vector<float> x(40, 0.0f);
  const float b0[] = {127, -127, 0.5f, -0.5f, 1.49f, 2.5f, -2.5f, 100.4f};
  const float b1[] = {63.5f, 0.25f, -0.75f, -63.5f, 10, 0, 0, 0};
  std::copy(std::begin(b0), std::end(b0), x.begin());
  std::copy(std::begin(b1), std::end(b1), x.begin() + 32);
  return x;
}();
const std::vector<uint8_t> kQ8Block0 =
    Q8Bytes(0x00, 0x3C, {0x7F, 0x81, 0x01, 0xFF, 0x01, 0x03, 0xFD, 0x64});
const std::vector<uint8_t> kQ8Block1 = Q8Bytes(0x00, 0x38, {0x7F, 0x01, 0xFE, 0x81, 0x14});

TEST_CASE("Q8_0 quantizes a hand-derived row, bit for bit, and dequantizes it", "[quant]") {
  BlockQ8_0 blocks[2];
  QuantizeRowQ8_0(kQ8Row.data(), 40, blocks);
  CHECK(BlockBytes(blocks[0]) == kQ8Block0);
  CHECK(BlockBytes(blocks[1]) == kQ8Block1);
  float back[40];
  DequantizeRowQ8_0(blocks, 40, back);
  const std::vector<float> want = {127, -127, 1, -1, 1, 3, -3, 100};
  for (size_t i = 0; i < 40; ++i) {
    const float expected = i < 8 ? want[i]
                           : i < 32
                               ? 0.0f
                               : std::vector<float>{63.5f, 0.5f, -1, -63.5f, 10, 0, 0, 0}[i - 32];
    INFO("element " << i);
    CHECK(back[i] == expected);
  }
  // A block of zeros: d = 0, every q 0.
  std::vector<float> zeros(32, 0.0f);
  QuantizeRowQ8_0(zeros.data(), 32, blocks);
  CHECK(BlockBytes(blocks[0]) == Q8Bytes(0, 0, {}));
  // Subnormal values (1 / d would overflow: 0 * inf is NaN, found by fuzz_gguf_checkpoint): the
  // block is zero, as its f16 scale is.
  std::vector<float> tiny(32, 0.0f);
  tiny[3] = 1e-39f;
  QuantizeRowQ8_0(tiny.data(), 32, blocks);
  CHECK(BlockBytes(blocks[0]) == Q8Bytes(0, 0, {}));
  BlockQ4_0 q4;
  QuantizeRowQ4_0(tiny.data(), 32, &q4);
  float q4_back[32];
  DequantizeRowQ4_0(&q4, 32, q4_back);
  CHECK(std::all_of(q4_back, q4_back + 32, [](float f) { return f == 0.0f; }));
  int8_t q[32];
  float d;
  QuantizeActivationRow(tiny.data(), 32, q, &d);
  CHECK(std::all_of(q, q + 32, [](int8_t v) { return v == 0; }));
}

TEST_CASE("Q4_0 quantizes hand-derived rows, bit for bit, and dequantizes them", "[quant]") {
  // max = -8 (the largest magnitude, with its sign): d = -8 / -8 = 1, q = min(15, (int)(x + 8.5)).
  // Element j sits in the low nibble of byte j, element j + 16 in its high nibble.
  std::vector<float> x(32, 0.0f);
  x[0] = -8, x[16] = 7;        // q 0 and 15: byte 0xF0
  x[1] = 0, x[17] = -0.6f;     // 8 and (int)7.9 = 7: 0x78
  x[2] = 2.5f, x[18] = -2.5f;  // 11 and 6: 0x6B
  x[3] = 1.49f, x[19] = 7.4f;  // (int)9.99 = 9 and (int)15.9 = 15: 0xF9
  BlockQ4_0 block;
  QuantizeRowQ4_0(x.data(), 32, &block);
  CHECK(BlockBytes(block) == Q4Bytes(0x00, 0x3C, {0xF0, 0x78, 0x6B, 0xF9}));
  float back[32];
  DequantizeRowQ4_0(&block, 32, back);
  const float want[32] = {-8, 0, 3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, -1, -2, 7};
  for (size_t i = 0; i < 32; ++i) {
    INFO("element " << i);
    CHECK(back[i] == want[i]);
  }

  // Positive max, and a tie in magnitude (the first wins): max = 8, d = -1 (f16 0xBC00),
  // q = min(15, (int)(8.5 - x)): 8 -> 0, -8 -> (int)16.5 = 16 -> 15, -7 -> 15, 3.9 -> 4.
  // Five values: one partial block, the padding quantized as zeros (nibble 8).
  const float y[5] = {8, -8, -7, 3.9f, 0};
  QuantizeRowQ4_0(y, 5, &block);
  CHECK(BlockBytes(block) == Q4Bytes(0x00, 0xBC, {0x80, 0x8F, 0x8F, 0x84}));
  DequantizeRowQ4_0(&block, 5, back);
  CHECK(std::vector<float>(back, back + 5) == std::vector<float>{8, -7, -7, 4, 0});
}

TEST_CASE("TensorSource::Q8_0 / Q4_0 quantize a checkpoint's matrix once, rows padded",
          "[quant][safetensors]") {
  TempDir dir;
  const std::string path = dir.File("m.safetensors");
  std::vector<float> two_rows = kQ8Row;
  two_rows.insert(two_rows.end(), kQ8Row.begin(), kQ8Row.end());
  std::vector<float> bad(4, 1.0f);
  bad[3] = NAN;
  // bf16 1 and -2, 8 each: Q4_0 max = -2 in the first block of each row.
  std::vector<uint16_t> half(2 * 8);
  for (size_t i = 0; i < half.size(); ++i) half[i] = i % 8 == 0 ? 0xC000 : 0x3F80;
  WriteSafetensors(path, {{"w", DType::kF32, {2, 40}, Bytes(two_rows)},
                          {"bad", DType::kF32, {2, 2}, Bytes(bad)},
                          {"h", DType::kBF16, {2, 8}, Bytes(half)}});
  auto st = SafetensorsCheckpoint::Open(path);
  const BlockQ8_0* q = st->Q8_0("w", {2, 40});
  CHECK(q == st->Q8_0("w", {2, 40}));  // converted once
  for (int b = 0; b < 4; ++b) {        // row 1 starts at block 2
    INFO("block " << b);
    CHECK(BlockBytes(q[b]) == (b % 2 == 0 ? kQ8Block0 : kQ8Block1));
  }
  // -2 -> d = 0.25 (f16 0x3400), q = (int)(-8 + 8.5) = 0; 1 -> (int)(4 + 8.5) = 12; elements
  // 16.. (high nibbles) and 8.. are padding, quantized as zeros (8).
  const BlockQ4_0* h = st->Q4_0("h", {2, 8});
  for (int r = 0; r < 2; ++r) {
    CHECK(BlockBytes(h[r]) ==
          Q4Bytes(0x00, 0x34, {0x80, 0x8C, 0x8C, 0x8C, 0x8C, 0x8C, 0x8C, 0x8C}));
  }
  CHECK_THROWS_WITH(st->Q8_0("w", {40, 2}), Contains("has shape [2, 40], expected [40, 2]"));
  CHECK_THROWS_WITH(st->Q4_0("bad", {2, 2}),
                    Contains("tensor 'bad' holds nan at [1, 1]; quantized weights must be finite"));
}

}  // namespace
}  // namespace lmc::rt
