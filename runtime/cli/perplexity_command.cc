// `MODEL perplexity --weights W (--file TEXT | --tokens IDS) [--ctx N] [--stride S] [--json]`
//
// The text is tokenized with the model's tokenizer, the spec's BOS first (as generate does).
// Windows of --ctx tokens start every --stride tokens until one reaches the text's end; each
// runs from an empty cache and scores the tokens no earlier window scored (the first
// window every token after its first), each by -log p(token | the window's tokens before it).
// This is the sliding-window evaluation of Hugging Face's perplexity guide: with stride = ctx
// the windows are disjoint, with a smaller stride every scored token sees at least ctx - stride
// tokens of context. Perplexity is exp(mean NLL); its standard error, exp(mean) times the
// standard error of the mean NLL (as llama.cpp's perplexity reports it).
#include "runtime/cli/perplexity_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

#include "lmc/lmc.hpp"
#include "runtime/cli/load_progress.h"
#include "runtime/model/model.h"
#include "runtime/util/error.h"
#include "runtime/util/output_file.h"

namespace lmc::rt {

const std::vector<FlagSpec> kPerplexityFlags = {
    {"weights", "checkpoint file"},
    {"file", "text file to score"},
    {"tokens", "comma-separated token ids to score, instead of --file"},
    {"tokenizer", "tokenizer file or folder (default: the spec's tokenizer.file)"},
    {"ctx", "window length in tokens (default: max_seq_len, at most 512)"},
    {"stride", "tokens between window starts, 1 to --ctx (default: half of --ctx)"},
    {"json", "print one JSON object instead of text", false},
};

namespace {

struct Options {
  std::string weights, file, tokenizer;
  std::vector<int> tokens;
  int ctx = 0, stride = 0;
  bool json = false;
};

Options ReadFlags(int argc, char** argv) {
  const ModelInfo& info = GetModelInfo();
  Args args("perplexity", argc, argv, 2, kPerplexityFlags);
  if (!args.positional().empty()) {
    Fail("perplexity takes no argument '{}'", args.positional()[0]);
  }
  Options o;
  o.weights = args.Required("weights");
  if (args.Has("file") == args.Has("tokens")) Fail("give --file or --tokens (one of them)");
  if (args.Has("file")) {
    o.file = args.Required("file");
    if (args.Has("tokenizer")) o.tokenizer = args.Required("tokenizer");
    if (o.tokenizer.empty() && *info.tokenizer_path == '\0') {
      Fail("'perplexity --file' needs --tokenizer (the spec names no tokenizer.file)");
    }
  } else {
    o.tokens = args.IntList("tokens");
    for (int id : o.tokens) {
      if (id < 0 || id >= info.vocab_size) {
        Fail("--tokens: id {} is outside the vocabulary [0, {})", id, info.vocab_size);
      }
    }
  }
  o.ctx = args.Int("ctx", std::min(info.max_seq_len, 512), 2, info.max_seq_len);
  o.stride = args.Int("stride", std::max(o.ctx / 2, 1), 1, o.ctx);
  o.json = args.Has("json");
  return o;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail("{}: cannot read: {}", path, std::strerror(errno));
  NoteInput(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) Fail("{}: read error: {}", path, std::strerror(errno));
  return text;
}

// -log softmax(logits)[target], in double.
double NegativeLogLikelihood(std::span<const float> logits, int target) {
  const double top = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float v : logits) sum += std::exp(v - top);
  return std::log(sum) + top - logits[static_cast<size_t>(target)];
}

struct Totals {
  size_t n = 0;
  double sum = 0.0, sum_sq = 0.0;  // of the NLLs

  double Mean() const { return sum / static_cast<double>(n); }
  // The standard error of the mean NLL (0 for one value).
  double MeanError() const {
    if (n < 2) return 0.0;
    const double mean = Mean();
    const double variance = std::max(0.0, (sum_sq - sum * mean) / static_cast<double>(n - 1));
    return std::sqrt(variance / static_cast<double>(n));
  }
};

}  // namespace

int RunPerplexity(int argc, char** argv, const TokenizerSource& tokenizer_source) {
  const ModelInfo& info = GetModelInfo();
  Options o;
  try {
    o = ReadFlags(argc, argv);
  } catch (const Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
  if (info.encoder || info.encoder_decoder) {
    Fail("perplexity is for decoders: {} is an {}", info.name,
         info.encoder ? "encoder" : "encoder-decoder");
  }
  std::optional<lmc::Model> model;
  {
    LoadProgress progress(o.weights);
    model.emplace(OpenModel, o.weights, progress.options());
  }
  std::vector<int> tokens = o.tokens;
  if (!o.file.empty()) {
    const std::string text = ReadText(o.file);
    tokens = LoadTokenizerFor(tokenizer_source, o.tokenizer)->Encode(text, EncodeOptions{});
    if (info.bos >= 0) tokens.insert(tokens.begin(), info.bos);
  }
  if (tokens.size() < 2) {
    fmt::print(stderr, "error: {}: {} token{}; perplexity needs at least 2\n",
               o.file.empty() ? "--tokens" : o.file, tokens.size(), tokens.size() == 1 ? "" : "s");
    return 2;
  }

  const size_t n = tokens.size(), ctx = static_cast<size_t>(o.ctx);
  const size_t stride = static_cast<size_t>(o.stride), vocab = static_cast<size_t>(info.vocab_size);
  const size_t windows = n <= ctx ? 1 : (n - ctx + stride - 1) / stride + 1;  // the last ends at n
  lmc::Session session = model->NewSession(o.ctx);
  Totals totals;
  nlohmann::json per_window = nlohmann::json::array();
  size_t scored_to = 1;  // Tokens [1, scored_to) have been scored.
  for (size_t w = 0; w < windows; ++w) {
    const size_t begin = w * stride, end = std::min(begin + ctx, n);
    session.Rewind(0);
    const std::vector<int32_t> window(tokens.begin() + static_cast<ptrdiff_t>(begin),
                                      tokens.begin() + static_cast<ptrdiff_t>(end));
    session.Prefill(window, LMC_ALL_ROWS);
    const std::span<const float> logits = session.logits();
    for (size_t j = std::max(scored_to, begin + 1); j < end; ++j) {
      const double nll =
          NegativeLogLikelihood(logits.subspan((j - 1 - begin) * vocab, vocab), tokens[j]);
      if (!std::isfinite(nll)) Fail("{}: the weights give non-finite logits", o.weights);
      ++totals.n;
      totals.sum += nll;
      totals.sum_sq += nll * nll;
    }
    scored_to = end;
    const double running = std::exp(totals.Mean());
    if (o.json) {
      per_window.push_back({{"begin", begin}, {"end", end}, {"perplexity", running}});
    } else {
      fmt::print("window {}/{}  tokens [{}, {})  perplexity {:.4f}\n", w + 1, windows, begin, end,
                 running);
      std::fflush(stdout);
    }
  }
  const double perplexity = std::exp(totals.Mean());
  const double error = perplexity * totals.MeanError();
  if (o.json) {
    const nlohmann::json result = {{"tokens", n},
                                   {"scored", totals.n},
                                   {"ctx", ctx},
                                   {"stride", stride},
                                   {"mean_nll", totals.Mean()},
                                   {"perplexity", perplexity},
                                   {"standard_error", error},
                                   {"windows", per_window}};
    fmt::print("{}\n", result.dump());
  } else {
    fmt::print("perplexity {:.4f} +/- {:.4f} ({} tokens scored of {}, ctx {}, stride {})\n",
               perplexity, error, totals.n, n, ctx, stride);
  }
  return 0;
}

}  // namespace lmc::rt
