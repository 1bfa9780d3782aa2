// `MODEL bench`: how fast this binary runs its model, beside this machine's limits.
//
//   MODEL bench --weights W [--threads N] [-p 128] [-n 32] [--depth D] [--batch B] [--reps R]
//               [--json]
//
// In one run: probes of the read bandwidth and the f32 FMA peak (with N threads), then R
// repetitions (after one untimed warm-up) of a P-token prefill and N decoded tokens after
// it, optionally after D tokens of context. Speeds are medians over the repetitions, each
// printed beside its roofline share: decode moves every weight once per token, so its share
// is weight bytes per token x tok/s / bandwidth; prefill is bound by the matmuls' FLOPs, so
// its share is FLOPs per token x tok/s / FMA peak (attention's FLOPs are not counted).
// With --batch B, B sessions also decode together, one batched step per token each, and the
// aggregate rate is printed beside one session's.
#include "runtime/cli/bench.h"

#include <fmt/format.h>
#include <hwy/targets.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "lmc/lmc.hpp"
#include "runtime/cli/args.h"
#include "runtime/kernels/probes.h"
#include "runtime/kernels/thread_pool.h"
#include "runtime/model/model.h"
#include "runtime/util/error.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/mapped_file.h"

namespace lmc::rt {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Runs body(i) on `threads` threads at once and returns the wall time of the slowest.
template <typename F>
double TimeOnThreads(int threads, F body) {
  std::vector<std::thread> pool;
  std::vector<double> seconds(threads);
  auto thread = [&](int i) {
    auto start = Clock::now();
    body(i);
    seconds[i] = Seconds(start);
  };
  for (int i = 0; i < threads; ++i) {
    try {
      pool.emplace_back(thread, i);
    } catch (const std::system_error& e) {
      for (auto& t : pool) t.join();
      Fail("bench: cannot start thread {} of {} (--threads): {}", i + 1, threads,
           e.code().message());
    }
  }
  for (auto& t : pool) t.join();
  return *std::max_element(seconds.begin(), seconds.end());
}

struct Unmapper {
  size_t bytes;
  void operator()(float* p) const { ::munmap(p, bytes); }
};

// Read bandwidth in GB/s: `threads` threads each sum their share of a buffer far larger
// than any cache; the best of several passes (a limit, not a typical speed).
double ProbeReadGbs(int threads) {
  constexpr size_t kBytes = size_t{512} << 20;
  const size_t n = kBytes / sizeof(float);
  // Mapped by 2 MiB pages where the kernel allows, as the weights are (mapped_file.cc): by 4
  // KiB pages it reads slower, and decode would show shares above 100%.
  void* mem = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) Fail("bench: cannot map {} bytes for the bandwidth probe", kBytes);
  ::madvise(mem, kBytes, MADV_HUGEPAGE);
  std::unique_ptr<float, Unmapper> buf(static_cast<float*>(mem), Unmapper{kBytes});
  const size_t share = n / threads / 64 * 64;
  // Each thread touches its own share first, so its pages are mapped before timing.
  TimeOnThreads(threads, [&](int i) {
    std::fill_n(buf.get() + i * share, share, 1.0f / static_cast<float>(i + 1));
  });
  volatile float sink = 0.0f;
  double best = 0.0;
  for (int pass = 0; pass < 5; ++pass) {
    std::vector<float> sums(threads);
    double s = TimeOnThreads(
        threads, [&](int i) { sums[i] = kernels::ProbeReadSum(buf.get() + i * share, share); });
    for (float v : sums) sink = sink + v;
    best = std::max(best, static_cast<double>(share * threads * sizeof(float)) / s / 1e9);
  }
  return best;
}

// f32 FMA peak in GFLOP/s over `threads` threads, best of several passes.
double ProbeFmaGflops(int threads) {
  constexpr size_t kIterations = 20'000'000;
  volatile float sink = 0.0f;
  double best = 0.0;
  for (int pass = 0; pass < 3; ++pass) {
    std::vector<float> results(threads);
    double s = TimeOnThreads(threads, [&](int i) { results[i] = kernels::ProbeFma(kIterations); });
    for (float v : results) sink = sink + v;
    best = std::max(best, kernels::ProbeFmaFlops(kIterations) * threads / s / 1e9);
  }
  return best;
}

// Bytes of weights one decoded token reads, from the checkpoint's tensors at the element
// size the model computes in: every tensor once, except the token embedding, of which one
// row is read, when a separate classifier of the same shape exists (when the embedding is
// tied it is the classifier and is read whole). A llama2.c file has no tensor list: its
// size counts (an upper bound, by one embedding table when untied).
struct WeightAccount {
  double bytes_per_token = 0;  // Read per decoded token.
  double flops_per_token = 0;  // Of the matmuls: 2 per weight element multiplied.
  double total_bytes = 0;      // All weights, as the model holds them.
};

// Bytes per weight-matrix element as the model holds it (the spec as compiled names its dtype):
// bf16 2, Q8_0 34 / 32, Q4_0 18 / 32 (blocks of 32 values and an f16 scale), else 4.
double ComputeElementSize(const ModelInfo& info) {
  const std::string spec(info.spec_yaml);
  if (spec.find("dtype: bf16") != std::string::npos) return 2;
  if (spec.find("dtype: q8_0") != std::string::npos) return 34.0 / 32;
  if (spec.find("dtype: q4_0") != std::string::npos) return 18.0 / 32;
  return 4;
}

WeightAccount AccountWeights(const std::string& path, const ModelInfo& info) {
  WeightAccount a;
  const double element = ComputeElementSize(info);
  if (std::string(info.weights_format) == "llama2c") {
    MappedFile file = MappedFile::Open(path);
    a.total_bytes = a.bytes_per_token = static_cast<double>(file.size()) / 4 * element;
    a.flops_per_token = a.bytes_per_token / element * 2;
    return a;
  }
  // A matrix stored in a block type is read as stored by a quantized build (it refuses to
  // requantize) and by one whose spec gives weights.dtypes (k-quants, mapped in place).
  const bool blocks_in_place =
      element < 2 || std::string(info.spec_yaml).find("dtypes:") != std::string::npos;
  auto element_of = [&](const TensorView& t) {
    if (t.shape.size() == 2 && blocks_in_place && IsBlockQuantized(t.dtype)) {
      return static_cast<double>(t.bytes) / (static_cast<double>(t.shape[0]) * t.shape[1]);
    }
    // Quantized models keep vectors in f32 (bf16 ones keep everything in bf16).
    return t.shape.size() == 2 || element == 2 ? element : 4.0;
  };
  auto source = OpenCheckpoint(path, info.weights_format, ModelDims{});
  std::vector<const TensorView*> vocab_tables;
  for (const std::string& name : source->Names()) {
    const TensorView* t = source->Find(name);
    double elements = 1;
    for (int64_t d : t->shape) elements *= static_cast<double>(d);
    a.total_bytes += elements * element_of(*t);
    if (t->shape.size() == 2 && t->shape[0] == info.vocab_size) {
      vocab_tables.push_back(t);
      continue;
    }
    a.bytes_per_token += elements * element_of(*t);
    if (t->shape.size() == 2) a.flops_per_token += 2 * elements;
  }
  // The classifier reads its table whole. A quantized model keeps its token embedding in f32
  // and, when tied, a quantized copy of it for the classifier (counted in memory besides the
  // f32 table); per token one f32 row of the embedding is read. Untied, the classifier is the
  // table read in a block type if one is (lmc quantize keeps the embedding as it was), else
  // the larger (llama.cpp's files store output.weight in more bits than token_embd).
  auto in_blocks = [&](const TensorView* t) {
    return blocks_in_place && IsBlockQuantized(t->dtype);
  };
  std::sort(vocab_tables.begin(), vocab_tables.end(),
            [&](const TensorView* x, const TensorView* y) {
              if (in_blocks(x) != in_blocks(y)) return in_blocks(x);
              return x->bytes > y->bytes;
            });
  for (size_t i = 0; i < vocab_tables.size(); ++i) {
    const TensorView& t = *vocab_tables[i];
    const double elements = static_cast<double>(t.shape[0]) * static_cast<double>(t.shape[1]);
    const double row = static_cast<double>(t.shape[1]);
    if (i == 0) {  // the classifier's
      a.bytes_per_token += elements * element_of(t);
      a.flops_per_token += 2 * elements;
      if (element < 2 && vocab_tables.size() == 1) {
        a.total_bytes += elements * 4;
        a.bytes_per_token += row * 4;
      }
    } else {  // the embedding's: one row
      a.bytes_per_token += row * (element < 2 ? 4 : element_of(t));
    }
  }
  return a;
}

double PeakRssBytes() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024;  // Linux reports KiB.
}

struct Options {
  std::string weights;
  int threads, prompt, decode, depth, batch, reps;
  bool json;
  int64_t target;  // the Highway target (HWY_AVX2, ...) every kernel runs
};

// The best target in `targets` (Highway numbers better targets lower).
int64_t BestTarget(int64_t targets) { return targets & -targets; }

// As --target spells it (model binaries do not link libhwy's hwy::TargetName).
const char* TargetName(int64_t target) {
  switch (target) {
    case HWY_AVX3_DL:
      return "avx3_dl";
    case HWY_AVX3:
      return "avx3";
    case HWY_AVX2:
      return "avx2";
    case HWY_SSE4:
      return "sse4";
    case HWY_SSSE3:
      return "ssse3";
    case HWY_EMU128:
      return "emu128";
    default:
      return "scalar";
  }
}

// --target: a Highway target this CPU has and the binary was compiled for (every x86 level
// unless lmc build --native); "native" is the best of those.
int64_t TargetFlag(const std::string& name) {
  const int64_t usable = hwy::SupportedTargets() & CompiledSimdTargets();
  if (name == "native") return BestTarget(usable);
  const std::pair<const char*, int64_t> kTargets[] = {
      {"avx2", HWY_AVX2}, {"avx3", HWY_AVX3}, {"avx3_dl", HWY_AVX3_DL}};
  for (const auto& [spelling, bit] : kTargets) {
    if (name != spelling) continue;
    if (!(hwy::SupportedTargets() & bit)) {
      Fail("--target {}: this CPU lacks {} (its best is {})", name, TargetName(bit),
           TargetName(BestTarget(hwy::SupportedTargets())));
    }
    if (!(CompiledSimdTargets() & bit)) {
      Fail(
          "--target {}: the binary was compiled for {} only (lmc build --native); build it "
          "without --native to choose",
          name, TargetName(BestTarget(CompiledSimdTargets())));
    }
    return bit;
  }
  Fail("--target {}: expected avx2, avx3, avx3_dl or native", name);
}

}  // namespace

const std::vector<FlagSpec> kBenchFlags = {
    {"weights", "checkpoint file"},
    {"p", "prompt tokens to prefill (default 128)"},
    {"n", "tokens to decode after the prompt (default 32)"},
    {"depth", "tokens of context before the prompt (default 0)"},
    {"batch", "also decode this many sessions in batched steps (default 1: no)"},
    {"reps", "timed repetitions; medians are reported (default 3)"},
    {"json", "print one JSON object instead of a table", false},
    {"target", "SIMD level every kernel runs: avx2, avx3, avx3_dl or native (default)"},
};

namespace {

Options ReadOptions(int argc, char** argv) {
  const ModelInfo& info = GetModelInfo();
  Args args("bench", argc, argv, 2, kBenchFlags);
  if (!args.positional().empty()) Fail("bench takes no argument '{}'", args.positional()[0]);
  Options o;
  if (info.encoder) Fail("bench measures prefill and decode: {} is an encoder", info.name);
  o.weights = args.Required("weights");
  o.threads = Threads();  // main() took --threads (threads_flag.cc).
  o.prompt = args.Int("p", 128, 1, info.max_seq_len);
  o.decode = args.Int("n", 32, 1, info.max_seq_len);
  o.depth = args.Int("depth", 0, 0, info.max_seq_len);
  o.batch = args.Int("batch", 1, 1, 256);
  o.reps = args.Int("reps", 3, 1, 1000);
  o.json = args.Has("json");
  o.target = TargetFlag(args.String("target", "native"));
  if (o.depth + o.prompt + o.decode > info.max_seq_len) {
    Fail("--depth {} + -p {} + -n {} positions do not fit max_seq_len {}", o.depth, o.prompt,
         o.decode, info.max_seq_len);
  }
  return o;
}

// A deterministic token id for position i (speed does not depend on which ids).
int TokenAt(int i, int vocab) { return 1 + static_cast<int>((i * 7919LL) % (vocab - 1)); }

}  // namespace

int Bench(int argc, char** argv) {
  const ModelInfo& info = GetModelInfo();
  Options o;
  try {
    o = ReadOptions(argc, argv);
  } catch (const Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
  // Before any kernel runs: the dispatch tables read the chosen target on every call.
  hwy::GetChosenTarget().Update(o.target);
  const double read_gbs = ProbeReadGbs(o.threads);
  const double fma_gflops = ProbeFmaGflops(o.threads);

  // Before the model maps the file: the account's own mapping is gone by then, so peak RSS
  // counts the weights once.
  const WeightAccount weights = AccountWeights(o.weights, info);
  auto load_start = Clock::now();
  lmc::Model model(OpenModel, o.weights);
  const double load_seconds = Seconds(load_start);
  std::vector<lmc::Session> sessions;
  for (int b = 0; b < o.batch; ++b) {
    sessions.push_back(model.NewSession(o.depth + o.prompt + o.decode));
  }

  std::vector<int> context(o.depth), prompt(o.prompt);
  for (int i = 0; i < o.depth; ++i) context[i] = TokenAt(i, info.vocab_size);
  for (int i = 0; i < o.prompt; ++i) prompt[i] = TokenAt(o.depth + i, info.vocab_size);
  for (lmc::Session& session : sessions) {
    if (info.encoder_decoder) {  // The decoder attends to a source as long as the prompt.
      session.Encode(std::span<const int>(prompt).first(std::min(o.prompt, info.chunk)));
    }
    if (o.depth > 0) session.Prefill(context);
  }
  lmc::Session& one = sessions[0];
  if (o.batch > 1) {  // The other sessions decode after the prompt too.
    for (size_t b = 1; b < sessions.size(); ++b) sessions[b].Prefill(prompt);
  }

  std::vector<double> prefill_rates, decode_rates, batch_rates;
  std::vector<lmc::BatchItem> items(sessions.size());
  std::vector<int> next(sessions.size());
  for (int rep = 0; rep <= o.reps; ++rep) {  // Rep 0 warms up (page faults, caches).
    one.Rewind(o.depth);
    auto start = Clock::now();
    one.Prefill(prompt);
    const double prefill_s = Seconds(start);
    start = Clock::now();
    for (int i = 0; i < o.decode; ++i) {
      one.DecodeStep(TokenAt(o.depth + o.prompt + i, info.vocab_size));
    }
    const double decode_s = Seconds(start);
    double batch_s = 0;
    if (o.batch > 1) {
      for (lmc::Session& session : sessions) session.Rewind(o.depth + o.prompt);
      start = Clock::now();
      for (int i = 0; i < o.decode; ++i) {
        for (size_t b = 0; b < sessions.size(); ++b) {
          next[b] = TokenAt(o.depth + o.prompt + i + static_cast<int>(b), info.vocab_size);
          items[b] = {&sessions[b], std::span<const int>(&next[b], 1)};
        }
        model.Step(items);
      }
      batch_s = Seconds(start);
    }
    if (rep == 0) continue;
    prefill_rates.push_back(o.prompt / prefill_s);
    decode_rates.push_back(o.decode / decode_s);
    if (o.batch > 1) batch_rates.push_back(o.batch * o.decode / batch_s);
  }
  const double prefill = Median(prefill_rates), decode = Median(decode_rates);
  const double batch_decode = o.batch > 1 ? Median(batch_rates) : decode;
  const double decode_share = weights.bytes_per_token * decode / (read_gbs * 1e9);
  const double prefill_share = weights.flops_per_token * prefill / (fma_gflops * 1e9);
  const double rss = PeakRssBytes();

  if (o.json) {
    fmt::print(
        "{{\"model\": \"{}\", \"threads\": {}, \"prompt_tokens\": {}, \"decode_tokens\": {}, "
        "\"depth\": {}, \"reps\": {}, \"prefill_tok_s\": {:.3f}, \"decode_tok_s\": {:.3f}, "
        "\"weight_bytes_per_token\": {:.0f}, \"flops_per_token\": {:.0f}, \"read_gbs\": {:.2f}, "
        "\"fma_gflops\": {:.2f}, \"decode_bandwidth_share\": {:.4f}, \"prefill_fma_share\": "
        "{:.4f}, \"peak_rss_bytes\": {:.0f}, \"weight_bytes\": {:.0f}, \"load_s\": {:.4f}, "
        "\"batch\": {}, \"batch_decode_tok_s\": {:.3f}, \"target\": \"{}\"}}\n",
        info.name, o.threads, o.prompt, o.decode, o.depth, o.reps, prefill, decode,
        weights.bytes_per_token, weights.flops_per_token, read_gbs, fma_gflops, decode_share,
        prefill_share, rss, weights.total_bytes, load_seconds, o.batch, batch_decode,
        TargetName(o.target));
  } else {
    fmt::print("{}: {} threads, medians of {} reps\n", info.name, o.threads, o.reps);
    fmt::print("  machine  {}: read {:.1f} GB/s, f32 FMA {:.1f} GFLOP/s\n", TargetName(o.target),
               read_gbs, fma_gflops);
    fmt::print("  weights  {:.1f} MB read per decoded token, {:.2f} GFLOP per token (matmuls)\n",
               weights.bytes_per_token / 1e6, weights.flops_per_token / 1e9);
    fmt::print("  prefill  {} tokens: {:8.2f} tok/s  {:5.1f}% of FMA peak\n", o.prompt, prefill,
               100 * prefill_share);
    fmt::print("  decode   {} tokens at depth {}: {:8.2f} tok/s  {:5.1f}% of read bandwidth\n",
               o.decode, o.depth + o.prompt, decode, 100 * decode_share);
    if (o.batch > 1) {
      fmt::print(
          "  batch    {} sessions, {} batched steps: {:8.2f} tok/s in all, {:.2f}x one session\n",
          o.batch, o.decode, batch_decode, batch_decode / decode);
    }
    fmt::print("  memory   peak RSS {:.1f} MB (weights {:.1f} MB); load {:.1f} ms\n", rss / 1e6,
               weights.total_bytes / 1e6, load_seconds * 1e3);
  }
  FinishStdout();
  return 0;
}

}  // namespace lmc::rt
