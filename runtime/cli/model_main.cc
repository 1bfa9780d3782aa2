// The command line of every model binary lmc builds:
//
//   MODEL generate --weights W (--tokenizer T [--prompt TEXT] | --tokens 1,2,3) [--ids]
//                  [-n N] [--temperature T] [--top-p P] [--top-k K] [--seed S] [--ctx N]
//   MODEL logits --weights W --tokens 1,2,3 --out F.npy [--decode] [--ctx N]
//   MODEL tokenize --tokenizer T TEXT
//   MODEL info
//
// stdout carries only results (generated text, ids, info); timings and
// errors go to stderr. Exit codes: 0 success, 1 bad input file, 2 usage
// (flags, and prompts or token lists that do not fit the model).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <optional>
#include <span>
#include <vector>

#include "runtime/cli/args.h"
#include "runtime/cli/bench.h"
#include "runtime/model/model.h"
#include "runtime/sampling/sampler.h"
#include "runtime/tokenizer/llama2c_tokenizer.h"
#include "runtime/util/error.h"
#include "runtime/util/npy.h"

namespace lmc::rt {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Usage problems (exit 2) are raised while reading flags, before any work.
class UsageError : public Error {
 public:
  using Error::Error;
};

// Results on stdout are the point of each command: a failed write is an error.
void FinishStdout() {
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) Fail("cannot write to standard output");
}

template <typename F>
auto ReadFlags(F&& read) {
  try {
    return read();
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

Llama2cTokenizer LoadTokenizer(const std::string& path) {
  const ModelInfo& info = GetModelInfo();
  if (std::string(info.tokenizer_kind) == "none") {
    Fail("this model was built with tokenizer kind none: give token ids (--tokens)");
  }
  if (std::string(info.tokenizer_kind) != "llama2c") {
    Fail("tokenizer kind {} is not supported by this runtime yet", info.tokenizer_kind);
  }
  return Llama2cTokenizer::Load(path, info.vocab_size);
}

// The KV capacity: --ctx, by default the spec's max_seq_len up to 4096.
int ContextFlag(const Args& args) {
  const ModelInfo& info = GetModelInfo();
  return args.Int("ctx", std::min(info.max_seq_len, 4096), 1, info.max_seq_len);
}

std::unique_ptr<Model> LoadModel(const std::string& weights, int capacity) {
  auto model = CreateModel();
  model->LoadWeights(weights);
  model->Allocate(capacity);
  return model;
}

// Token ids given on the command line, checked against the vocabulary.
std::vector<int> TokenFlag(const Args& args) {
  const ModelInfo& info = GetModelInfo();
  std::vector<int> tokens = args.IntList("tokens");
  for (int id : tokens) {
    if (id < 0 || id >= info.vocab_size) {
      Fail("--tokens: id {} is outside the vocabulary [0, {})", id, info.vocab_size);
    }
  }
  return tokens;
}

void CheckFinite(std::span<const float> logits, const std::string& weights) {
  for (float v : logits) {
    if (!std::isfinite(v)) Fail("{}: the weights give non-finite logits", weights);
  }
}

const std::vector<FlagSpec> kGenerateFlags = {
    {"weights", "checkpoint file"},
    {"tokenizer", "tokenizer file"},
    {"prompt", "text to continue"},
    {"tokens", "comma-separated prompt token ids, instead of --prompt"},
    {"ids", "print the new token ids instead of text", false},
    {"n", "number of new tokens"},
    {"temperature", "0 for greedy"},
    {"top-p", "nucleus sampling mass in (0, 1]"},
    {"top-k", "sample among the k most likely; 0 for all"},
    {"seed", "random seed"},
    {"ctx", "KV-cache capacity in positions (default: max_seq_len, at most 4096)"},
};

int Generate(int argc, char** argv) {
  const ModelInfo& info = GetModelInfo();
  struct Options {
    std::string weights, tokenizer, prompt;
    std::vector<int> tokens;
    bool from_ids = false, print_ids = false;
    int n, ctx;
    SamplerOptions sampler;
  };
  Options o = ReadFlags([&] {
    Args args("generate", argc, argv, 2, kGenerateFlags);
    if (!args.positional().empty()) Fail("generate takes no argument '{}'", args.positional()[0]);
    Options o;
    o.weights = args.Required("weights");
    o.from_ids = args.Has("tokens");
    if (o.from_ids && args.Has("prompt")) Fail("give --prompt or --tokens, not both");
    if (o.from_ids) {
      o.tokens = TokenFlag(args);
    } else {
      o.tokenizer = args.Required("tokenizer");
      o.prompt = args.String("prompt", "");
    }
    o.print_ids = args.Has("ids");
    if (!o.print_ids && args.Has("tokens") && !args.Has("tokenizer")) {
      Fail("--tokens without --tokenizer needs --ids: there is no tokenizer to print text");
    }
    if (args.Has("tokenizer")) o.tokenizer = args.Required("tokenizer");
    o.ctx = ContextFlag(args);
    o.n = args.Int("n", 256, 0, info.max_seq_len);
    o.sampler.temperature = args.Float("temperature", 1.0f, 0.0f, 100.0f);
    o.sampler.top_p = args.Float("top-p", 0.9f, 1e-6f, 1.0f);
    o.sampler.top_k = args.Int("top-k", 0, 0, info.vocab_size);
    o.sampler.seed = args.Uint64("seed", static_cast<uint64_t>(std::time(nullptr)));
    return o;
  });

  auto load_start = Clock::now();
  auto model = LoadModel(o.weights, o.ctx);
  std::optional<Llama2cTokenizer> tokenizer;
  if (!o.tokenizer.empty()) tokenizer = LoadTokenizer(o.tokenizer);
  double load_seconds = Seconds(load_start);

  auto too_long = [&](size_t tokens) {
    throw UsageError(fmt::format(
        "the prompt needs at least {} tokens; the context holds {} (--ctx, max_seq_len {})", tokens,
        o.ctx, info.max_seq_len));
  };
  std::vector<int> tokens = o.tokens;
  if (!o.from_ids) {
    // A prompt that cannot fit is refused before encoding it.
    size_t at_least = o.prompt.size() / tokenizer->max_token_length();
    if (at_least > static_cast<size_t>(o.ctx)) too_long(at_least);
    tokens = tokenizer->Encode(o.prompt, info.bos >= 0, false);
  }
  if (tokens.empty()) {
    throw UsageError("the prompt is empty and the model has no BOS token to start from");
  }
  if (tokens.size() > static_cast<size_t>(o.ctx)) too_long(tokens.size());
  int n = std::min<int>(o.n, o.ctx - static_cast<int>(tokens.size()));
  if (n < o.n) {
    fmt::print(stderr, "note: generating {} tokens, not {}: the context holds {}\n", n, o.n, o.ctx);
  }

  // The prompt's text as the tokenizer reads it back, then the continuation.
  if (!o.print_ids) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i == 0 && tokens[0] == info.bos) continue;
      fmt::print("{}", tokenizer->Piece(i ? tokens[i - 1] : -1, tokens[i]));
    }
    std::fflush(stdout);
  }

  Sampler sampler(info.vocab_size, o.sampler);
  auto prefill_start = Clock::now();
  // The sampler overwrites what it is given: it samples from this copy.
  std::vector<float> logits = Prefill(*model, tokens, 0, /*all_rows=*/false);
  double prefill_seconds = Seconds(prefill_start);

  auto decode_start = Clock::now();
  int prev = tokens.back(), generated = 0, decoded = 0;
  int pos = static_cast<int>(tokens.size());
  std::vector<int> new_ids;
  while (generated < n) {
    CheckFinite(logits, o.weights);
    int next = sampler.Sample(logits.data());
    if (next == info.bos || next == info.eos) break;
    if (o.print_ids) {
      new_ids.push_back(next);
    } else {
      fmt::print("{}", tokenizer->Piece(prev, next));
      std::fflush(stdout);
    }
    ++generated;
    prev = next;
    if (generated == n) break;
    const float* out = Decode(*model, next, pos++);
    logits.assign(out, out + info.vocab_size);
    ++decoded;
  }
  double decode_seconds = Seconds(decode_start);
  if (o.print_ids) {
    fmt::print("{}\n", fmt::join(new_ids, " "));
  } else {
    fmt::print("\n");
  }
  FinishStdout();

  fmt::print(stderr,
             "load {:.1f} ms | prefill {} tokens, {:.1f} tok/s | decode {} tokens, {:.1f} tok/s\n",
             load_seconds * 1e3, tokens.size(), tokens.size() / std::max(prefill_seconds, 1e-9),
             decoded, decoded / std::max(decode_seconds, 1e-9));
  return 0;
}

int Logits(int argc, char** argv) {
  const ModelInfo& info = GetModelInfo();
  struct Options {
    std::string weights, out;
    std::vector<int> tokens;
    bool decode;
    int ctx;
  };
  Options o = ReadFlags([&] {
    Args args("logits", argc, argv, 2,
              {{"weights", "checkpoint file"},
               {"tokens", "comma-separated token ids"},
               {"out", "output .npy file"},
               {"decode", "run one token at a time (the decode path) instead of prefill", false},
               {"ctx", "KV-cache capacity in positions (default: max_seq_len, at most 4096)"}});
    if (!args.positional().empty()) Fail("logits takes no argument '{}'", args.positional()[0]);
    Options o{args.Required("weights"), args.Required("out"), TokenFlag(args), args.Has("decode"),
              0};
    // By default the context is just large enough for the ids.
    o.ctx = args.Has("ctx")
                ? ContextFlag(args)
                : std::clamp<int>(static_cast<int>(o.tokens.size()), 1, info.max_seq_len);
    if (static_cast<int>(o.tokens.size()) > o.ctx) {
      Fail("--tokens has {} ids; the context holds {} (--ctx, max_seq_len {})", o.tokens.size(),
           o.ctx, info.max_seq_len);
    }
    return o;
  });
  auto model = LoadModel(o.weights, o.ctx);
  std::vector<float> all;
  if (o.decode) {
    for (size_t pos = 0; pos < o.tokens.size(); ++pos) {
      const float* logits = Decode(*model, o.tokens[pos], static_cast<int>(pos));
      all.insert(all.end(), logits, logits + info.vocab_size);
    }
  } else {
    all = Prefill(*model, o.tokens, 0, /*all_rows=*/true);
  }
  CheckFinite(all, o.weights);
  WriteNpy(o.out, all.data(), {static_cast<int64_t>(o.tokens.size()), info.vocab_size});
  return 0;
}

int Tokenize(int argc, char** argv) {
  const ModelInfo& info = GetModelInfo();
  auto [path, text] = ReadFlags([&] {
    Args args("tokenize", argc, argv, 2, {{"tokenizer", "tokenizer file"}});
    if (args.positional().size() != 1) Fail("tokenize expects one TEXT argument");
    return std::pair{args.Required("tokenizer"), args.positional()[0]};
  });
  auto tokenizer = LoadTokenizer(path);
  std::vector<int> ids = tokenizer.Encode(text, info.bos >= 0, false);
  fmt::print("{}\n", fmt::join(ids, " "));
  FinishStdout();
  return 0;
}

int Info(int argc, char** argv) {
  ReadFlags([&] {
    Args args("info", argc, argv, 2, {});
    if (!args.positional().empty()) Fail("info takes no argument '{}'", args.positional()[0]);
    return 0;
  });
  const ModelInfo& info = GetModelInfo();
  fmt::print("model: {}\nspec: {}\nbuild: {}\n", info.name, info.spec_path, kBuildInfo);
  fmt::print("vocab {}, max_seq_len {}, tokenizer {}, weights {}\n", info.vocab_size,
             info.max_seq_len, info.tokenizer_kind, info.weights_format);
  fmt::print("--- spec as compiled ---\n{}", info.spec_yaml);
  FinishStdout();
  return 0;
}

void Usage(const char* program) {
  fmt::print(
      stderr,
      "usage: {0} generate --weights W (--tokenizer T [--prompt TEXT] | --tokens 1,2,3) [--ids]\n"
      "                 [-n N] [--temperature T] [--top-p P] [--top-k K] [--seed S] [--ctx N]\n"
      "       {0} logits --weights W --tokens 1,2,3 --out F.npy [--decode] [--ctx N]\n"
      "       {0} tokenize --tokenizer T TEXT\n"
      "       {0} info\n",
      program);
}

}  // namespace
}  // namespace lmc::rt

int main(int argc, char** argv) {
  using namespace lmc::rt;
  if (int status = TakeThreadsFlag(argc, argv)) return status;  // --threads N, any command.
  if (argc < 2) {
    Usage(argv[0]);
    return 2;
  }
  std::string command = argv[1];
  try {
    if (command == "bench") return Bench(argc, argv);
    if (command == "generate") return Generate(argc, argv);
    if (command == "logits") return Logits(argc, argv);
    if (command == "tokenize") return Tokenize(argc, argv);
    if (command == "info") return Info(argc, argv);
    if (command == "--help" || command == "-h" || command == "help") {
      Usage(argv[0]);
      return 0;
    }
    fmt::print(stderr, "error: unknown command '{}'; expected generate, logits, tokenize or info\n",
               command);
    return 2;
  } catch (const UsageError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  } catch (const Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
