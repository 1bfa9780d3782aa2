// The block formats of kquant.h in products: the scalar reference (kquant_scalar.h) against its
// definition (the dot product of the dequantized weights with the dequantized activations), and
// the SIMD products (kquant_ops.h) against the reference, bit for bit, on every Highway target
// compiled in and supported here.
#include <hwy/targets.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <type_traits>
#include <vector>

#include "runtime/kernels/kquant_ops.h"
#include "runtime/kernels/kquant_scalar.h"
#include "runtime/weights/kquant.h"

namespace {

namespace ref = lmc::kernels::scalar;
namespace rt = lmc::rt;

// A finite binary16 of magnitude 2^-8 .. 2^1 with a random sign.
uint16_t RandomHalf(std::mt19937& rng) {
  std::uniform_int_distribution<int> exponent(15 - 8, 15 + 1), mantissa(0, 1023), sign(0, 1);
  return static_cast<uint16_t>((sign(rng) << 15) | (exponent(rng) << 10) | mantissa(rng));
}

// Random blocks: every byte random, then finite scales (Q2_K / Q4_K / Q5_K's dmin and Q4_1 /
// Q5_1's m too).
template <typename Block>
std::vector<Block> RandomBlocks(size_t n, std::mt19937& rng) {
  std::vector<Block> blocks(n);
  std::uniform_int_distribution<int> byte(0, 255);
  for (Block& b : blocks) {
    auto* bytes = reinterpret_cast<unsigned char*>(&b);
    for (size_t i = 0; i < sizeof(Block); ++i) bytes[i] = static_cast<unsigned char>(byte(rng));
    b.d = RandomHalf(rng);
    if constexpr (requires { b.dmin; }) b.dmin = RandomHalf(rng);
    if constexpr (requires { b.m; }) b.m = RandomHalf(rng);
  }
  return blocks;
}

std::vector<float> RandomFloats(size_t n, std::mt19937& rng, float scale) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  return x;
}

template <typename Block>
std::vector<float> Dequantize(const std::vector<Block>& blocks) {
  constexpr size_t kValues = ref::kBlockValues<Block>;
  std::vector<float> out(blocks.size() * kValues);
  for (size_t i = 0; i < blocks.size(); ++i) rt::DequantizeBlock(blocks[i], &out[i * kValues]);
  return out;
}

// The activations as the quantized row holds them: q * d.
template <typename Block>
std::vector<double> ActivationValues(const ref::ActivationRow<Block>& row, size_t cols) {
  std::vector<double> out(cols);
  for (size_t j = 0; j < cols; ++j) {
    if constexpr (ref::kIsKQuant<Block>) {
      const rt::BlockQ8_K& b = row.k[j / rt::kSuperBlock];
      out[j] = static_cast<double>(b.qs[j % rt::kSuperBlock]) * b.d;
    } else {
      out[j] = static_cast<double>(row.q[j]) * row.d[j / rt::kQuantBlock];
    }
  }
  return out;
}

// Rows of random blocks times random activations: the reference product equals, within f32
// rounding of its few terms per block, the f64 dot product of the dequantized weights with
// the activations as quantized (the integers and scales are the formats', the order only moves
// roundings); and the product stays within quantization error of the f32 activations' product.
template <typename Block>
void CheckReferenceDot(uint32_t seed) {
  std::mt19937 rng(seed);
  constexpr size_t kValues = ref::kBlockValues<Block>;
  for (size_t cols : {kValues, 4 * kValues, 11 * kValues}) {
    INFO("cols " << cols);
    const size_t rows = 6, blocks = cols / kValues;
    const std::vector<Block> w = RandomBlocks<Block>(rows * blocks, rng);
    const std::vector<float> wf = Dequantize(w);
    for (float scale : {1.0f, 1e-3f, 50.0f}) {
      const std::vector<float> x = RandomFloats(cols, rng, scale);
      ref::ActivationRow<Block> row;
      row.Quantize(x.data(), cols);
      const std::vector<double> xq = ActivationValues(row, cols);
      for (size_t r = 0; r < rows; ++r) {
        double want = 0.0, magnitude = 0.0;
        for (size_t j = 0; j < cols; ++j) {
          want += double{wf[r * cols + j]} * xq[j];
          magnitude += std::fabs(double{wf[r * cols + j]} * xq[j]);
        }
        const float got = row.Dot(w.data() + r * blocks, cols);
        // Per block: a couple of f32 roundings of terms at most `magnitude`'s share, and the
        // dequantized values' own roundings (one ulp each).
        CHECK(std::fabs(got - want) <= (4.0 * blocks + 4) * 0x1p-24 * magnitude + 1e-30);
      }
    }
  }
}

}  // namespace

TEST_CASE("k-quant reference products are the dequantized dot products", "[kquant]") {
  CheckReferenceDot<rt::BlockQ2_K>(2);
  CheckReferenceDot<rt::BlockQ3_K>(3);
  CheckReferenceDot<rt::BlockQ4_K>(4);
  CheckReferenceDot<rt::BlockQ5_K>(5);
  CheckReferenceDot<rt::BlockQ6_K>(6);
}

TEST_CASE("32-value block reference products are the dequantized dot products", "[kquant]") {
  CheckReferenceDot<rt::BlockQ4_1>(41);
  CheckReferenceDot<rt::BlockQ5_0>(50);
  CheckReferenceDot<rt::BlockQ5_1>(51);
  CheckReferenceDot<rt::BlockIQ4_NL>(44);
}

// Q8_K by hand: max is the signed value of largest magnitude; q = round-half-even(-127 / max * x).
TEST_CASE("QuantizeRowQ8_K follows ggml's reference", "[kquant]") {
  std::vector<float> x(2 * rt::kSuperBlock, 0.0f);
  x[0] = -127.0f;  // max = -127: iscale = 1, d = 1
  x[1] = 2.5f;     // 2 (half to even)
  x[2] = 3.5f;     // 4
  x[3] = -0.5f;    // -0 = 0
  x[17] = 100.0f;
  std::vector<rt::BlockQ8_K> q(2);
  rt::QuantizeRowQ8_K(x.data(), x.size(), q.data());
  CHECK(q[0].d == 1.0f);
  CHECK(q[0].qs[0] == -127);
  CHECK(q[0].qs[1] == 2);
  CHECK(q[0].qs[2] == 4);
  CHECK(q[0].qs[3] == 0);
  CHECK(q[0].bsums[0] == -127 + 2 + 4);
  CHECK(q[0].bsums[1] == 100);
  CHECK(q[1].d == 0.0f);  // a zero block
  for (int i = 0; i < 16; ++i) CHECK(q[1].bsums[i] == 0);
  // A positive max: iscale = -127 / 254, so x = 254 gives q = -127 and d = -2.
  x.assign(rt::kSuperBlock, 1.0f);
  x[5] = 254.0f;
  rt::QuantizeRowQ8_K(x.data(), rt::kSuperBlock, q.data());
  CHECK(q[0].d == -2.0f);
  CHECK(q[0].qs[5] == -127);
  CHECK(q[0].qs[0] == 0);  // -0.5 rounds to even: 0
}

// Q8KActivations (the kernels' own quantizer) against QuantizeRowQ8_K byte for byte on every
// target: random rows at several scales, ties for the largest magnitude (+v before -v and the
// reverse), a zero block, an infinite one and NaN inputs.
TEST_CASE("Q8KActivations quantize as QuantizeRowQ8_K on every target", "[kquant]") {
  struct Reset {
    ~Reset() { hwy::SetSupportedTargetsForTest(0); }
  } reset;
  constexpr size_t kCols = 4 * rt::kSuperBlock, kTokens = 5;
  std::mt19937 rng(8);
  std::vector<float> x = RandomFloats(kTokens * kCols, rng, 3.0f);
  for (size_t j = 0; j < rt::kSuperBlock; ++j) x[kCols + j] *= 1e-30f;  // tiny values
  x[2 * kCols + 7] = 50.0f, x[2 * kCols + 9] = -50.0f;                  // tie: +50 first
  x[2 * kCols + 256 + 3] = -50.0f, x[2 * kCols + 256 + 200] = 50.0f;    // tie: -50 first
  std::fill_n(x.begin() + 2 * kCols + 512, rt::kSuperBlock, 0.0f);      // a zero block
  x[3 * kCols + 17] = std::numeric_limits<float>::infinity();
  x[3 * kCols + 256 + 5] = std::numeric_limits<float>::quiet_NaN();
  x[3 * kCols + 512] = std::numeric_limits<float>::quiet_NaN();  // NaN first in its block
  for (size_t j = 0; j < kCols; ++j) x[4 * kCols + j] = static_cast<float>(j % 9) - 4.0f;
  std::vector<rt::BlockQ8_K> want(kTokens * kCols / rt::kSuperBlock);
  for (size_t t = 0; t < kTokens; ++t) {
    rt::QuantizeRowQ8_K(x.data() + t * kCols, kCols, want.data() + t * kCols / rt::kSuperBlock);
  }
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    INFO("target " << hwy::TargetName(target));
    lmc::kernels::Q8KActivations got;
    got.Quantize(x.data(), kTokens, kCols);
    REQUIRE(got.blocks.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      INFO("block " << i);
      CHECK(std::memcmp(&got.blocks[i], &want[i], sizeof(rt::BlockQ8_K)) == 0);
    }
  }
}

// The unpacked integers of hand-made blocks.
TEST_CASE("Unpack reads each format's bit layout", "[kquant]") {
  rt::BlockQ6_K b6{};
  b6.ql[0] = 0x21;           // value 0: low 1; value 64: low 2
  b6.qh[0] = 0b11'10'01'00;  // value 0: high 0; value 32: 1; value 64: 2; value 96: 3
  b6.ql[32] = 0x0F;          // value 32: low 15
  rt::Unpacked u;
  rt::Unpack(b6, u);
  CHECK(u.q[0] == 1 - 32);
  CHECK(u.q[32] == (15 | 1 << 4) - 32);
  CHECK(u.q[64] == (2 | 2 << 4) - 32);
  CHECK(u.q[96] == (0 | 3 << 4) - 32);
  rt::BlockQ4_K b4{};
  b4.scales[0] = 0x40 | 63;  // sc 0 = 63; its top bits: sc 4's high bits (1)
  b4.scales[4] = 0x40 | 5;   // m 0 = 5; its top bits: m 4's high bits (1)
  b4.scales[8] = 0x21;       // sc 4 low = 1, m 4 low = 2
  b4.qs[32] = 0x9A;          // value 64: 10; value 96: 9
  rt::Unpack(b4, u);
  CHECK(u.sc[0] == 63);
  CHECK(u.m[0] == 5);
  CHECK(u.sc[4] == (1 | 1 << 4));
  CHECK(u.m[4] == (2 | 1 << 4));
  CHECK(u.q[64] == 10);
  CHECK(u.q[96] == 9);
  rt::BlockQ5_0 b50{};
  b50.qs[3] = 0x7F;
  const uint32_t qh = (1u << 3) | (1u << 19);
  std::memcpy(b50.qh, &qh, 4);
  int8_t q[32];
  rt::UnpackQ(b50, q);
  CHECK(q[3] == (0xF | 16) - 16);
  CHECK(q[19] == (0x7 | 16) - 16);
  CHECK(q[0] == -16);
}

namespace {

struct TargetReset {
  ~TargetReset() { hwy::SetSupportedTargetsForTest(0); }
};

// The products of kquant_ops.h (dispatched to the target under test) against the reference:
// every output bit-identical, whatever the row range or the token count (decode and prefill),
// and the SwiGLU of two products too.
template <typename Block>
void CheckSimdProducts(uint32_t seed) {
  TargetReset reset;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    INFO("target " << hwy::TargetName(target));
    std::mt19937 rng(seed);
    constexpr size_t kValues = ref::kBlockValues<Block>;
    // 6 tokens: a tile of four read as stored and two left over; 9: packed, two tiles of four
    // and one left over.
    for (size_t tokens : {size_t{1}, size_t{6}, size_t{9}}) {
      for (size_t cols : {kValues, 3 * kValues, 2048 / kValues * kValues}) {
        INFO("tokens " << tokens << " cols " << cols);
        const size_t rows = 13, blocks = cols / kValues, n = tokens * rows;
        const std::vector<Block> w = RandomBlocks<Block>(rows * blocks, rng);
        const std::vector<Block> up = RandomBlocks<Block>(rows * blocks, rng);
        const std::vector<float> x = RandomFloats(tokens * cols, rng, 2.0f);
        std::vector<float> want(n), want_swiglu(n), got(n, -1.0f), got_swiglu(n, -1.0f);
        ref::BlockMatMul(want.data(), w.data(), x.data(), tokens, rows, cols);
        ref::BlockMatMulSwiGlu(want_swiglu.data(), w.data(), up.data(), x.data(), tokens, rows,
                               cols, 1.0f);
        auto run = [&](const auto& xq) {
          for (auto [begin, end] : {std::pair{size_t{0}, size_t{5}}, std::pair{size_t{5}, rows}}) {
            lmc::kernels::MatMulRows(got.data(), w.data(), xq, rows, begin, end);
            lmc::kernels::MatMulSwiGluRows(got_swiglu.data(), w.data(), up.data(), xq, rows, 1.0f,
                                           begin, end);
          }
        };
        if constexpr (ref::kIsKQuant<Block>) {
          lmc::kernels::Q8KActivations xq;
          xq.Quantize(x.data(), tokens, cols);
          run(xq);
        } else {
          lmc::kernels::QuantizedActivations xq;
          xq.Quantize(x.data(), tokens, cols);
          run(xq);
        }
        CHECK(std::memcmp(got.data(), want.data(), n * sizeof(float)) == 0);
        CHECK(std::memcmp(got_swiglu.data(), want_swiglu.data(), n * sizeof(float)) == 0);
        for (size_t i = 0; i < n && got[i] != want[i]; ++i) {
          FAIL_CHECK("output " << i << ": " << got[i] << " != reference " << want[i]);
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("k-quant SIMD products equal the reference bit for bit on every target", "[kquant]") {
  std::ostringstream names;
  for (int64_t target : hwy::SupportedAndGeneratedTargets())
    names << hwy::TargetName(target) << ' ';
  WARN("targets tested: " << names.str());
  CheckSimdProducts<rt::BlockQ2_K>(12);
  CheckSimdProducts<rt::BlockQ3_K>(13);
  CheckSimdProducts<rt::BlockQ4_K>(14);
  CheckSimdProducts<rt::BlockQ5_K>(15);
  CheckSimdProducts<rt::BlockQ6_K>(16);
}

TEST_CASE("32-value block SIMD products equal the reference bit for bit on every target",
          "[kquant]") {
  CheckSimdProducts<rt::BlockQ4_1>(141);
  CheckSimdProducts<rt::BlockQ5_0>(150);
  CheckSimdProducts<rt::BlockQ5_1>(151);
  CheckSimdProducts<rt::BlockIQ4_NL>(144);
}
