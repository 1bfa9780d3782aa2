// Throughput of the matrix kernels (rows-inl.h's Linear and GatedLinear, f32 weights) at the
// 110M-Llama shapes (d_model 768, hidden 2048, vocab 32000), one thread, beside this machine's own
// limits: an f32 FMA peak measured with independent FMA chains just before every repetition (the
// machine is shared, and the peak moves with its load), and a read bandwidth measured by summing 1
// GiB. Then (BlockCases) the block types' Linear (q4_0, q8_0, q4_k, q6_k) at the TinyLlama-1.1B
// shapes, one token and 128. Then (AttentionCases) one decode step's attention over each KV
// cache type at TinyLlama-1.1B's shape and depths up to 2,000 tokens.
//
//   kernels_bench [--reps N] [--f32 | --blocks | --type NAME | --attention]
//   (--f32 / --blocks / --attention: only those cases; --type: only that block type's)
//
// Each figure is the median of N repetitions (default 7); %peak is the median over
// repetitions of the kernel's GFLOP/s over the probe's. Weights are cycled through enough
// copies to exceed the last-level cache, so the matrix-vector figures (one token, as in
// decode) are from memory.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bench/kernels_bench.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
// Must come after foreach_target.h.
#include <hwy/highway.h>

#include "runtime/kernels/rows-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lmc::bench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

int64_t Target() { return HWY_TARGET; }

void Linear(float* out, const float* w, const float* x, int n, int rows, int cols) {
  kernels::HWY_NAMESPACE::Linear(out, w, x, n, rows, cols);
}

void GatedLinear(float* out, const float* w_gate, const float* w_up, const float* x, int n,
                 int rows, int cols, float beta) {
  kernels::HWY_NAMESPACE::GatedLinear(out, w_gate, w_up, x, n, rows, cols, beta);
}

// The block types' Linear (activations quantized per call, as the model does).
void BlockLinear(float* out, const rt::AnyBlocks& w, const float* x, int n, int rows, int cols) {
  kernels::HWY_NAMESPACE::Linear(out, w, x, n, rows, cols);
}

// One decode step's attention: a query row of `heads` heads over `keys` cached rows.
template <typename TC>
void DecodeAttention(float* out, const float* q, const TC* k_cache, const TC* v_cache, int keys,
                     int heads, int kv_heads, int head_dim) {
  const int position = keys - 1;
  kernels::HWY_NAMESPACE::AttentionRows(out, q, k_cache, v_cache, &position, 1, heads, kv_heads,
                                        head_dim, keys, 0.125f, true, nullptr, nullptr, nullptr);
}
void AttentionF32(float* out, const float* q, const float* k, const float* v, int keys, int heads,
                  int kv_heads, int head_dim) {
  DecodeAttention(out, q, k, v, keys, heads, kv_heads, head_dim);
}
void AttentionBf16(float* out, const float* q, const hwy::bfloat16_t* k, const hwy::bfloat16_t* v,
                   int keys, int heads, int kv_heads, int head_dim) {
  DecodeAttention(out, q, k, v, keys, heads, kv_heads, head_dim);
}
void AttentionF16(float* out, const float* q, const hwy::float16_t* k, const hwy::float16_t* v,
                  int keys, int heads, int kv_heads, int head_dim) {
  DecodeAttention(out, q, k, v, keys, heads, kv_heads, head_dim);
}
void AttentionQ8(float* out, const float* q, const rt::BlockQ8_0* k, const rt::BlockQ8_0* v,
                 int keys, int heads, int kv_heads, int head_dim) {
  DecodeAttention(out, q, k, v, keys, heads, kv_heads, head_dim);
}

// Runs `iters` rounds of kChains independent FMA chains (more chains than latency x issue
// width, so the FMA units never wait) and returns the lanes per vector.
size_t FmaChains(size_t iters, float* sink) {
  const hn::ScalableTag<float> d;
  constexpr size_t kChains = 16;
  using V = hn::Vec<decltype(d)>;
  V acc[kChains];
  for (size_t i = 0; i < kChains; ++i) acc[i] = hn::Set(d, static_cast<float>(i) * 1e-3f);
  const V a = hn::Set(d, 0.999999f);
  const V b = hn::Set(d, 1e-7f);
  for (size_t it = 0; it < iters; ++it) {
    for (size_t i = 0; i < kChains; ++i) acc[i] = hn::MulAdd(acc[i], a, b);
  }
  for (size_t i = 1; i < kChains; ++i) acc[0] = hn::Add(acc[0], acc[i]);
  *sink = hn::GetLane(hn::SumOfLanes(d, acc[0]));
  return hn::Lanes(d) * kChains;
}

// Sums n floats with four accumulators; the result only defeats dead-code elimination.
float SumArray(const float* p, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    a0 = hn::Add(a0, hn::LoadU(d, p + i));
    a1 = hn::Add(a1, hn::LoadU(d, p + i + N));
    a2 = hn::Add(a2, hn::LoadU(d, p + i + 2 * N));
    a3 = hn::Add(a3, hn::LoadU(d, p + i + 3 * N));
  }
  float rest = 0.0f;
  for (; i < n; ++i) rest += p[i];
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)))) + rest;
}

}  // namespace HWY_NAMESPACE
}  // namespace lmc::bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <hwy/targets.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "runtime/kernels/thread_pool.h"

namespace lmc::bench {

HWY_EXPORT(Target);
HWY_EXPORT(Linear);
HWY_EXPORT(GatedLinear);
HWY_EXPORT(BlockLinear);
HWY_EXPORT(AttentionF32);
HWY_EXPORT(AttentionBf16);
HWY_EXPORT(AttentionF16);
HWY_EXPORT(AttentionQ8);
HWY_EXPORT(FmaChains);
HWY_EXPORT(SumArray);

namespace {

double Seconds() {
  using Clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One short run of the FMA probe, in GFLOP/s.
double FmaGflops() {
  float sink = 0.0f;
  constexpr size_t kIters = 1 << 20;
  const double start = Seconds();
  const size_t flops_per_iter = 2 * HWY_DYNAMIC_DISPATCH(FmaChains)(kIters, &sink);
  const double sec = Seconds() - start;
  if (sink == 12345.0f) std::printf(" ");
  return static_cast<double>(flops_per_iter) * kIters / sec * 1e-9;
}

// Medians over reps repetitions of: the seconds one call of fn takes (each repetition calls
// it for at least min_seconds and takes the mean), the FMA peak measured just before, and the
// share of that peak fn reaches for `flops` per call. The machine is shared, and the peak
// moves with its load, so each repetition is compared with its own probe.
struct Timing {
  double seconds;
  double peak_gflops;
  double peak_share;
};

Timing TimeIt(const std::function<void()>& fn, double flops, int reps, double min_seconds = 0.05) {
  fn();  // Warm-up: page faults, caches, frequency.
  std::vector<double> times, peaks, shares;
  for (int r = 0; r < reps; ++r) {
    const double peak = FmaGflops();
    int calls = 0;
    const double start = Seconds();
    double now = start;
    do {
      fn();
      ++calls;
      now = Seconds();
    } while (now - start < min_seconds);
    const double sec = (now - start) / calls;
    times.push_back(sec);
    peaks.push_back(peak);
    shares.push_back(flops / sec * 1e-9 / peak);
  }
  return {Median(times), Median(peaks), Median(shares)};
}

double ReadGbs(int reps) {
  const size_t n = (size_t{1} << 30) / sizeof(float);  // 1 GiB
  std::vector<float> data(n, 1.0f);
  float sink = 0.0f;
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    const double start = Seconds();
    sink += HWY_DYNAMIC_DISPATCH(SumArray)(data.data(), n);
    times.push_back(Seconds() - start);
  }
  const double sec = Median(times);
  if (sink == 12345.0f) std::printf(" ");
  return static_cast<double>(n * sizeof(float)) / sec * 1e-9;
}

std::vector<float> Random(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Copies of a weight matrix, enough to exceed the last-level cache when cycled through.
struct Weights {
  Weights(size_t count, std::mt19937& rng) {
    constexpr size_t kTotalBytes = size_t{256} << 20;
    const size_t copies = std::max<size_t>(1, kTotalBytes / (count * sizeof(float)));
    for (size_t i = 0; i < copies; ++i) data.push_back(Random(count, rng));
  }
  const float* Next() {
    next = (next + 1) % data.size();
    return data[next].data();
  }
  std::vector<std::vector<float>> data;
  size_t next = 0;
};

struct Shape {
  const char* name;
  size_t rows;
  size_t cols;
};

// A block type: its bytes and values per block and where its binary16 scales sit.
struct BlockType {
  const char* name;
  rt::DType dtype;
  size_t bytes, values;
  std::vector<size_t> scale_offsets;
};

// Copies of a matrix of random blocks (random bytes, then finite scales of magnitude 2^-8 ..
// 2^-1: speed does not depend on the values, but NaN or subnormal scales could), enough to
// exceed the last-level cache when cycled through.
struct BlockWeights {
  BlockWeights(const BlockType& type, size_t blocks, std::mt19937& rng) {
    constexpr size_t kTotalBytes = size_t{256} << 20;
    const size_t copies = std::max<size_t>(1, kTotalBytes / (blocks * type.bytes));
    std::uniform_int_distribution<int> byte(0, 255), exponent(15 - 8, 15 - 1);
    for (size_t i = 0; i < copies; ++i) {
      std::vector<std::byte> m(blocks * type.bytes);
      for (size_t j = 0; j + 4 <= m.size(); j += 4) {
        const uint32_t word = static_cast<uint32_t>(rng());
        std::memcpy(m.data() + j, &word, sizeof(word));
      }
      for (size_t b = 0; b < blocks; ++b) {
        for (size_t offset : type.scale_offsets) {
          const uint16_t half = static_cast<uint16_t>(exponent(rng) << 10 | byte(rng));
          std::memcpy(m.data() + b * type.bytes + offset, &half, sizeof(half));
        }
      }
      data.push_back(std::move(m));
    }
  }
  const std::byte* Next() {
    next = (next + 1) % data.size();
    return data[next].data();
  }
  std::vector<std::vector<std::byte>> data;
  size_t next = 0;
};

// The calling thread's CPU time: what a call costs on a machine other jobs share (wall time
// counts their turns on the core too).
double ThreadSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// The minimum and median wall time and the minimum CPU time of one call of fn, in seconds.
struct CallTimes {
  double min, median, cpu;
};
CallTimes TimeCalls(const std::function<void()>& fn, int reps) {
  fn();  // warm-up
  std::vector<double> times, cpu_times;
  for (int r = 0; r < reps; ++r) {
    int calls = 0;
    const double start = Seconds(), cpu_start = ThreadSeconds();
    double now = start;
    do {
      fn();
      ++calls;
      now = Seconds();
    } while (now - start < 0.05);
    times.push_back((now - start) / calls);
    cpu_times.push_back((ThreadSeconds() - cpu_start) / calls);
  }
  return {*std::min_element(times.begin(), times.end()), Median(times),
          *std::min_element(cpu_times.begin(), cpu_times.end())};
}

// The block types' Linear at the TinyLlama-1.1B shapes (w_gate/w_up: 5632 x 2048, w_down:
// 2048 x 5632), one token (decode: weights from memory) and 128 (prefill), one thread. GOP/s
// counts 2 operations per weight and token (from min_ms); the minimum over repetitions is the
// robust figure on a shared machine, the median is printed beside it, and cpu_ms is the
// minimum of the thread's CPU time per call (immune to other jobs taking the core).
void BlockCases(int reps, const char* only) {
  const BlockType types[] = {{"q4_0", rt::DType::kQ4_0, 18, 32, {0}},
                             {"q8_0", rt::DType::kQ8_0, 34, 32, {0}},
                             {"q4_k", rt::DType::kQ4_K, 144, 256, {0, 2}},
                             {"q6_k", rt::DType::kQ6_K, 210, 256, {208}}};
  const Shape shapes[] = {{"w_gate/w_up", 5632, 2048}, {"w_down", 2048, 5632}};
  std::printf("%-6s %-12s %6s %6s %6s %8s %8s %8s %8s %11s\n", "type", "matrix", "tokens", "rows",
              "cols", "min_ms", "med_ms", "cpu_ms", "GOP/s", "weight_GB/s");
  std::mt19937 rng(2);
  for (const BlockType& type : types) {
    if (only != nullptr && std::strcmp(only, type.name) != 0) continue;
    for (const Shape& s : shapes) {
      const size_t blocks = s.rows * s.cols / type.values;
      BlockWeights w(type, blocks, rng);
      for (size_t tokens : {size_t{1}, size_t{128}}) {
        const std::vector<float> x = Random(tokens * s.cols, rng);
        std::vector<float> out(tokens * s.rows);
        auto fn = [&] {
          HWY_DYNAMIC_DISPATCH(BlockLinear)
          (out.data(), rt::AnyBlocks{w.Next(), type.dtype}, x.data(), static_cast<int>(tokens),
           static_cast<int>(s.rows), static_cast<int>(s.cols));
        };
        const CallTimes t = TimeCalls(fn, reps);
        const double ops = 2.0 * static_cast<double>(tokens * s.rows * s.cols);
        std::printf("%-6s %-12s %6zu %6zu %6zu %8.3f %8.3f %8.3f %8.1f %11.1f\n", type.name, s.name,
                    tokens, s.rows, s.cols, t.min * 1e3, t.median * 1e3, t.cpu * 1e3,
                    ops / t.min * 1e-9, static_cast<double>(blocks * type.bytes) / t.min * 1e-9);
        std::fflush(stdout);
      }
    }
  }
}

// One decode step's attention (one thread) at TinyLlama-1.1B's shape: 32 query heads in 4 KV
// groups of head_dim 64, over each cache type, cycling through 22 layers' caches (from memory,
// as in a model's step). ms_token is the 22 layers' time, beside the 26 ms of a 38 tok/s step.
void AttentionCases(int reps) {
  constexpr int kHeads = 32, kKvHeads = 4, kHeadDim = 64, kLayers = 22;
  constexpr size_t kKvWidth = size_t{kKvHeads} * kHeadDim;
  std::printf("%-6s %6s %8s %8s %8s %9s %9s\n", "cache", "keys", "min_us", "med_us", "cpu_us",
              "cache_GB/s", "ms_token");
  std::mt19937 rng(3);
  const std::vector<float> q = Random(size_t{kHeads} * kHeadDim, rng);
  std::vector<float> out(size_t{kHeads} * kHeadDim);
  auto run = [&](const char* name, auto* type_tag, auto attention) {
    using TC = std::remove_pointer_t<decltype(type_tag)>;
    for (int keys : {512, 2000}) {
      std::vector<std::vector<TC>> k(kLayers), v(kLayers);
      for (int l = 0; l < kLayers; ++l) {
        for (auto* cache : {&k[l], &v[l]}) {
          const std::vector<float> values = Random(kKvWidth * keys, rng);
          if constexpr (std::is_same_v<TC, rt::BlockQ8_0>) {
            cache->resize(values.size() / rt::kQuantBlock);
            rt::QuantizeRowQ8_0(values.data(), values.size(), cache->data());
          } else {
            cache->resize(values.size());
            for (size_t i = 0; i < values.size(); ++i) {
              (*cache)[i] = kernels::ToCache(values[i], static_cast<const TC*>(nullptr));
            }
          }
        }
      }
      int layer = 0;
      const CallTimes t = TimeCalls(
          [&] {
            attention(out.data(), q.data(), k[layer].data(), v[layer].data(), keys, kHeads,
                      kKvHeads, kHeadDim);
            layer = (layer + 1) % kLayers;
          },
          reps);
      const double bytes = 2.0 * static_cast<double>(k[0].size() * sizeof(TC));
      std::printf("%-6s %6d %8.1f %8.1f %8.1f %9.1f %9.2f\n", name, keys, t.min * 1e6,
                  t.median * 1e6, t.cpu * 1e6, bytes / t.min * 1e-9, t.min * kLayers * 1e3);
      std::fflush(stdout);
    }
  };
  run("f32", static_cast<float*>(nullptr), HWY_DYNAMIC_DISPATCH(AttentionF32));
  run("bf16", static_cast<hwy::bfloat16_t*>(nullptr), HWY_DYNAMIC_DISPATCH(AttentionBf16));
  run("f16", static_cast<hwy::float16_t*>(nullptr), HWY_DYNAMIC_DISPATCH(AttentionF16));
  run("q8_0", static_cast<rt::BlockQ8_0*>(nullptr), HWY_DYNAMIC_DISPATCH(AttentionQ8));
}

}  // namespace

int Main(int argc, char** argv) {
  int reps = 7;
  bool f32 = true, blocks = true, attention_only = false;
  const char* only = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--blocks") == 0) {
      f32 = false;
    } else if (std::strcmp(argv[i], "--type") == 0 && i + 1 < argc) {
      f32 = false;
      only = argv[++i];
    } else if (std::strcmp(argv[i], "--f32") == 0) {
      blocks = false;
    } else if (std::strcmp(argv[i], "--attention") == 0) {
      attention_only = true;
    } else {
      std::fprintf(stderr,
                   "kernels_bench: unknown argument '%s' (usage: kernels_bench [--reps N] "
                   "[--f32 | --blocks | --type q4_0|q8_0|q4_k|q6_k | --attention])\n",
                   argv[i]);
      return 2;
    }
  }
  if (reps < 1) {
    std::fprintf(stderr, "kernels_bench: --reps expects a positive count\n");
    return 2;
  }

  rt::SetThreads(1);
  std::printf("kernels dispatch to %s; compiled targets:",
              hwy::TargetName(HWY_DYNAMIC_DISPATCH(Target)()));
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    std::printf(" %s", hwy::TargetName(target));
  }
  std::printf(" (supported here and compiled)\n");
  const double read = ReadGbs(reps);
  std::printf("machine, 1 thread: read bandwidth %.1f GB/s\n", read);
  if (attention_only) {
    AttentionCases(reps);
    return 0;
  }

  if (blocks) BlockCases(reps, only);
  if (!f32) return 0;
  std::printf("%-22s %6s %6s %6s %10s %9s %9s %7s %11s\n", "kernel", "tokens", "rows", "cols",
              "median_ms", "GFLOP/s", "FMA_peak", "%peak", "weight_GB/s");
  const Shape shapes[] = {{"wq/wo", 768, 768},
                          {"w_gate/w_up", 2048, 768},
                          {"w_down", 768, 2048},
                          {"classifier", 32000, 768}};
  const size_t token_counts[] = {1, 128};
  std::mt19937 rng(1);
  // matrices: weight matrices read per call (2 for the fused gate/up).
  auto run = [&](const char* kernel, const Shape& s, size_t tokens, size_t matrices,
                 const std::function<void()>& fn) {
    const double flops = 2.0 * static_cast<double>(matrices * tokens * s.rows * s.cols);
    const double bytes = static_cast<double>(matrices * s.rows * s.cols * sizeof(float));
    const Timing t = TimeIt(fn, flops, reps);
    std::printf("%-22s %6zu %6zu %6zu %10.3f %9.1f %9.1f %6.1f%% %11.1f\n", kernel, tokens, s.rows,
                s.cols, t.seconds * 1e3, flops / t.seconds * 1e-9, t.peak_gflops,
                100.0 * t.peak_share, bytes / t.seconds * 1e-9);
    std::fflush(stdout);
  };
  for (const Shape& s : shapes) {
    Weights w(s.rows * s.cols, rng);
    for (size_t tokens : token_counts) {
      const std::vector<float> x = Random(tokens * s.cols, rng);
      std::vector<float> out(tokens * s.rows);
      run(tokens == 1 ? "Linear (1 token)" : "Linear", s, tokens, 1, [&] {
        HWY_DYNAMIC_DISPATCH(Linear)
        (out.data(), w.Next(), x.data(), static_cast<int>(tokens), static_cast<int>(s.rows),
         static_cast<int>(s.cols));
      });
    }
  }
  {
    const Shape s = shapes[1];
    Weights gate(s.rows * s.cols, rng);
    Weights up(s.rows * s.cols, rng);
    for (size_t tokens : token_counts) {
      const std::vector<float> x = Random(tokens * s.cols, rng);
      std::vector<float> out(tokens * s.rows);
      run(tokens == 1 ? "GatedLinear (1 token)" : "GatedLinear", s, tokens, 2, [&] {
        HWY_DYNAMIC_DISPATCH(GatedLinear)
        (out.data(), gate.Next(), up.Next(), x.data(), static_cast<int>(tokens),
         static_cast<int>(s.rows), static_cast<int>(s.cols), 1.0f);
      });
    }
  }
  return 0;
}

}  // namespace lmc::bench

int main(int argc, char** argv) { return lmc::bench::Main(argc, argv); }
#endif  // HWY_ONCE
