// The command line of every model binary lmc builds:
//
//   MODEL generate --weights W [--tokenizer T] [--prompt TEXT | --tokens 1,2,3] [--ids]
//                  [-n N] [--temperature T] [--top-p P] [--top-k K] [--seed S] [--ctx N]
//   MODEL logits --weights W --tokens 1,2,3 --out F.npy [--decode] [--ctx N]
//   encoder-decoders: generate and logits also take --encoder-tokens 1,2,3
//   (generate: or --encoder-prompt TEXT), the source the decoder attends to
//   MODEL tokenize [--tokenizer T] ... (TEXT | --stdin | --jsonl)     as `lmc tokenize`
//   MODEL detokenize [--tokenizer T] ... (IDS... | --stdin | --jsonl)  as `lmc detokenize`
//   MODEL info
//   MODEL bench --weights W [-p N] [-n N] [--depth D] [--reps R] [--json]
//   MODEL perplexity --weights W (--file TEXT | --tokens 1,2,3) [--ctx N] [--stride S] [--json]
//   MODEL serve --weights W [--host H] [--port P] [--slots N] [--ctx N] ...  (docs/serving.md)
//   MODEL --help, MODEL COMMAND --help: the commands, a command's flags (from the lists
//   each command parses)
//   --threads N, any command: the thread pool's size
//
// The tokenizer is the spec's: tokenizer.kind, read from tokenizer.file (which
// lmc build resolved to an absolute path) unless --tokenizer names another.
//
// The model runs through the C API (lmc/lmc.hpp over lmc/lmc.h), as any program's would:
// OpenModel, defined by the binary's build_info.cc, is the model's lmc_open_<name>.
//
// stdout carries only results (generated text, ids, info); timings and
// errors go to stderr. Exit codes: 0 success, 1 bad input file, 2 usage
// (flags, and prompts or token lists that do not fit the model).
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "lmc/lmc.hpp"
#include "runtime/chat/messages.h"
#include "runtime/chat/template_runtime.h"
#include "runtime/cli/args.h"
#include "runtime/cli/bench.h"
#include "runtime/cli/load_progress.h"
#include "runtime/cli/perplexity_command.h"
#include "runtime/cli/tokenize_command.h"
#include "runtime/model/model.h"
#include "runtime/sampling/prompt_lookup.h"
#include "runtime/sampling/sampler.h"
#include "runtime/serve/serve_command.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/utf8.h"
#include "runtime/util/error.h"
#include "runtime/util/npy.h"
#include "runtime/util/output_file.h"
#include "runtime/weights/mapping_guard.h"

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

// The spec's tokenizer: its kind ("none": detected from a --tokenizer file)
// and its file, checked against the model's vocabulary.
TokenizerSource ModelTokenizer() {
  const ModelInfo& info = GetModelInfo();
  TokenizerSource source;
  source.program = info.name;
  std::string kind = info.tokenizer_kind;
  if (kind != "none") source.kind = kind;
  source.path = info.tokenizer_path;
  source.vocab_size = info.vocab_size;
  return source;
}

// The KV capacity: --ctx, by default the spec's max_seq_len up to 4096.
int ContextFlag(const Args& args) {
  const ModelInfo& info = GetModelInfo();
  return args.Int("ctx", std::min(info.max_seq_len, 4096), 1, info.max_seq_len);
}

// --temperature, --top-p, --top-k and --seed (generate, chat).
SamplerOptions SamplerFlags(const Args& args) {
  SamplerOptions options;
  options.temperature = args.Float("temperature", 1.0f, 0.0f, 100.0f);
  options.top_p = args.Float("top-p", 0.9f, 1e-6f, 1.0f);
  options.top_k = args.Int("top-k", 0, 0, GetModelInfo().vocab_size);
  options.seed = args.Uint64("seed", static_cast<uint64_t>(std::time(nullptr)));
  return options;
}

// The model with its weights, and the one session a command runs.
struct Loaded {
  lmc::Model model;
  lmc::Session session;
};

Loaded LoadModel(const std::string& weights, int capacity) {
  LoadProgress progress(weights);
  lmc::Model model(OpenModel, weights, progress.options());
  lmc::Session session = model.NewSession(capacity);
  return Loaded{std::move(model), std::move(session)};
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

const FlagSpec kEncoderTokensFlag{"encoder-tokens",
                                  "encoder-decoders: comma-separated source token ids"};
const FlagSpec kEncoderPromptFlag{"encoder-prompt",
                                  "encoder-decoders: source text, instead of --encoder-tokens"};

// The flags a command takes, with the encoder input's for an encoder-decoder.
std::vector<FlagSpec> WithEncoderFlags(std::vector<FlagSpec> flags, bool prompt) {
  if (!GetModelInfo().encoder_decoder) return flags;
  flags.push_back(kEncoderTokensFlag);
  if (prompt) flags.push_back(kEncoderPromptFlag);
  return flags;
}

// An encoder-decoder's source: --encoder-tokens, or --encoder-prompt to encode
// with the model's tokenizer (then the spec's eos, as T5's tokenizer ends a
// source).
struct EncoderInput {
  std::vector<int> tokens;
  std::optional<std::string> prompt;
};

EncoderInput EncoderFlags(const Args& args, const std::string& command) {
  const ModelInfo& info = GetModelInfo();
  EncoderInput input;
  if (!info.encoder_decoder) return input;
  if (args.Has("encoder-prompt")) {
    if (args.Has("encoder-tokens")) Fail("give --encoder-tokens or --encoder-prompt, not both");
    input.prompt = args.String("encoder-prompt", "");
    return input;
  }
  if (!args.Has("encoder-tokens")) {
    Fail("{} is an encoder-decoder: give its source with --encoder-tokens{}", info.name,
         command == "generate" ? " or --encoder-prompt" : "");
  }
  input.tokens = args.IntList("encoder-tokens");
  return input;
}

// Runs the encoder over the source (nothing for other models).
void EncodeSource(Loaded& loaded, EncoderInput input, Tokenizer* tokenizer) {
  const ModelInfo& info = GetModelInfo();
  if (!info.encoder_decoder) return;
  if (input.prompt) {
    input.tokens = tokenizer->Encode(*input.prompt, EncodeOptions{});
    if (info.eos >= 0) input.tokens.push_back(info.eos);
  }
  if (input.tokens.empty()) throw UsageError("the encoder input is empty");
  if (static_cast<int>(input.tokens.size()) > info.chunk) {
    throw UsageError(
        fmt::format("the encoder input has {} tokens; the encoder takes at most {} (max_seq_len)",
                    input.tokens.size(), info.chunk));
  }
  for (int id : input.tokens) {
    if (id < 0 || id >= info.vocab_size) {
      throw UsageError(fmt::format("encoder input: id {} is outside the vocabulary [0, {})", id,
                                   info.vocab_size));
    }
  }
  loaded.session.Encode(input.tokens);
}

void CheckFinite(std::span<const float> logits, const std::string& weights) {
  for (float v : logits) {
    if (!std::isfinite(v)) Fail("{}: the weights give non-finite logits", weights);
  }
}

// Generated text or ids on stdout. To a terminal or a pipe, where someone may be reading as
// they come, each piece is flushed at once; to a file (or /dev/null) they go in blocks, not
// one write per token. The block held back is registered with the weights' SIGBUS guard,
// which writes it out if the weights file shrinks under us (mapping_guard.h), and is written
// when this goes out of scope, on an error too: what was generated is never lost.
class TokenOutput {
 public:
  TokenOutput() {
    struct stat st;
    flush_each_ = isatty(STDOUT_FILENO) || (fstat(STDOUT_FILENO, &st) == 0 && S_ISFIFO(st.st_mode));
  }
  ~TokenOutput() { Flush(); }
  TokenOutput(const TokenOutput&) = delete;
  TokenOutput& operator=(const TokenOutput&) = delete;

  void Write(std::string_view text) {
    if (flush_each_) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return;
    }
    held_ += text;
    if (held_.size() >= kBlock) {
      Flush();
      std::fflush(stdout);
    } else {
      SetUnwrittenOutput(held_.data(), held_.size());
    }
  }

  // Hands what is held back to stdio.
  void Flush() {
    SetUnwrittenOutput(nullptr, 0);
    std::fwrite(held_.data(), 1, held_.size(), stdout);
    held_.clear();
  }

 private:
  static constexpr size_t kBlock = size_t{1} << 16;
  bool flush_each_ = false;
  std::string held_;
};

const std::vector<FlagSpec> kGenerateFlags = {
    {"weights", "checkpoint file"},
    {"tokenizer", "tokenizer file or folder (default: the spec's tokenizer.file)"},
    {"prompt", "text to continue"},
    {"tokens", "comma-separated prompt token ids, instead of --prompt"},
    {"ids", "print the new token ids instead of text", false},
    {"n", "number of new tokens"},
    {"ignore-eos", "keep going past the begin/end-of-sequence ids (exactly --n new tokens)", false},
    {"temperature", "0 for greedy"},
    {"top-p", "nucleus sampling mass in (0, 1]"},
    {"top-k", "sample among the k most likely; 0 for all"},
    {"seed", "random seed"},
    {"ctx", "KV-cache capacity in positions (default: max_seq_len, at most 4096)"},
    {"speculate",
     "lookup: draft tokens from the context (prompt lookup); draft:W: from the draft model "
     "linked in (lmc build --draft) with weights W; checked in one step"},
    {"draft", "most tokens drafted per step with --speculate (default 6)"},
};

int Generate(int argc, char** argv) {
  const ModelInfo& info = GetModelInfo();
  struct Options {
    std::string weights, tokenizer, prompt;
    std::vector<int> tokens;
    bool from_ids = false, print_ids = false, ignore_eos = false, speculate = false;
    std::string draft_weights;  // --speculate draft:W
    int n, ctx, draft = 0;
    SamplerOptions sampler;
    EncoderInput source;
  };
  Options o = ReadFlags([&] {
    Args args("generate", argc, argv, 2, WithEncoderFlags(kGenerateFlags, /*prompt=*/true));
    if (!args.positional().empty()) Fail("generate takes no argument '{}'", args.positional()[0]);
    Options o;
    o.weights = args.Required("weights");
    o.from_ids = args.Has("tokens");
    if (o.from_ids && args.Has("prompt")) Fail("give --prompt or --tokens, not both");
    if (o.from_ids) {
      o.tokens = TokenFlag(args);
    } else {
      o.prompt = args.String("prompt", "");
    }
    o.print_ids = args.Has("ids");
    o.source = EncoderFlags(args, "generate");
    // An encoder-decoder's decoder starts from its start id alone by default.
    if (info.encoder_decoder && !o.from_ids && !args.Has("prompt")) o.from_ids = true;
    o.ignore_eos = args.Has("ignore-eos");
    if (args.Has("tokenizer")) o.tokenizer = args.Required("tokenizer");
    if (o.tokenizer.empty() && *GetModelInfo().tokenizer_path == '\0') {
      if (!o.from_ids || o.source.prompt) {
        Fail("'generate' needs --tokenizer (the spec names no tokenizer.file)");
      }
      if (!o.print_ids) {
        Fail("--tokens without --tokenizer needs --ids: there is no tokenizer to print text");
      }
    }
    o.ctx = ContextFlag(args);
    o.n = args.Int("n", 256, 0, info.max_seq_len);
    o.sampler = SamplerFlags(args);
    if (args.Has("speculate")) {
      const std::string how = args.Required("speculate");
      if (how.starts_with("draft:")) {
        o.draft_weights = how.substr(6);
        if (o.draft_weights.empty()) Fail("--speculate draft:W: give the draft model's weights");
        if (GetDraftModel() == nullptr) {
          Fail(
              "--speculate {}: {} has no draft model linked in (lmc build SPEC --draft "
              "DRAFT_SPEC)",
              how, info.name);
        }
      } else if (how != "lookup") {
        Fail("--speculate {}: expected lookup or draft:WEIGHTS", how);
      }
      if (info.encoder_decoder) Fail("--speculate: only decoders are supported");
      o.speculate = true;
    }
    if (args.Has("draft") && !o.speculate) Fail("--draft needs --speculate");
    o.draft = args.Int("draft", 6, 1, 64);
    return o;
  });

  auto load_start = Clock::now();
  Loaded m = LoadModel(o.weights, o.ctx);
  std::unique_ptr<Tokenizer> tokenizer;
  if (!o.from_ids || !o.print_ids || o.source.prompt) {
    tokenizer = LoadTokenizerFor(ModelTokenizer(), o.tokenizer);
  }
  double load_seconds = Seconds(load_start);
  EncodeSource(m, o.source, tokenizer.get());

  auto too_long = [&](size_t tokens) {
    throw UsageError(fmt::format(
        "the prompt needs at least {} tokens; the context holds {} (--ctx, max_seq_len {})", tokens,
        o.ctx, info.max_seq_len));
  };
  std::vector<int> tokens = o.tokens;
  // The spec's BOS starts the prompt (an encoder-decoder's decoder: its start id).
  const int start_id = info.encoder_decoder ? info.decoder_start : info.bos;
  if (info.encoder_decoder && o.from_ids && tokens.empty()) tokens.push_back(start_id);
  if (!o.from_ids) {
    // Encoding is linear in the prompt.
    if (start_id >= 0) tokens.push_back(start_id);
    std::vector<int> text = tokenizer->Encode(o.prompt, EncodeOptions{});
    tokens.insert(tokens.end(), text.begin(), text.end());
    for (int id : tokens) {
      if (id < 0 || id >= info.vocab_size) {
        Fail("{}: the prompt gives token id {}, outside the model's vocabulary [0, {})",
             tokenizer->path(), id, info.vocab_size);
      }
    }
  }
  if (tokens.empty()) {
    throw UsageError("the prompt is empty and the model has no BOS token to start from");
  }
  if (tokens.size() > static_cast<size_t>(o.ctx)) too_long(tokens.size());
  int n = std::min<int>(o.n, o.ctx - static_cast<int>(tokens.size()));
  if (n < o.n) {
    fmt::print(stderr, "note: generating {} tokens, not {}: the context holds {}\n", n, o.n, o.ctx);
  }

  // Text goes out as whole UTF-8 characters: a character split across byte
  // tokens is held until its last byte arrives.
  utf8::StreamDecoder stream;
  TokenOutput out;
  auto print = [&](const std::string& bytes) { out.Write(stream.Push(bytes)); };
  // The bytes `next` adds after `prev`: how a tokenizer spells a token can
  // depend on the one before (SentencePiece drops the first piece's space,
  // WordPiece joins "##" continuations).
  auto piece = [&](int prev, int next) {
    const int pair[2] = {prev, next};
    std::string before = tokenizer->Decode(std::span<const int>(pair, 1));
    std::string both = tokenizer->Decode(std::span<const int>(pair, 2));
    if (both.starts_with(before)) return both.substr(before.size());
    return tokenizer->Decode(std::span<const int>(pair + 1, 1));
  };
  // The prompt's text as the tokenizer reads it back, then the continuation.
  if (!o.print_ids) {
    size_t first = !tokens.empty() && tokens[0] == start_id ? 1 : 0;
    print(tokenizer->Decode(std::span<const int>(tokens).subspan(first)));
  }

  const lmc_sampling sampling{o.sampler.temperature, o.sampler.top_p, o.sampler.top_k,
                              o.sampler.seed};
  auto prefill_start = Clock::now();
  // The sampler overwrites what it is given: it samples from this copy.
  m.session.Prefill(tokens);
  double prefill_seconds = Seconds(prefill_start);

  auto decode_start = Clock::now();
  int prev = tokens.back(), generated = 0, decoded = 0;
  // Writes `next`; false when generation ends before it (an end id) or with it (--n).
  auto emit = [&](int next) {
    if (!o.ignore_eos) {
      if ((next == info.bos && !info.encoder_decoder) || next == info.eos) return false;
      if (tokenizer && info.eos < 0 && next == tokenizer->eos()) return false;
    }
    if (o.print_ids) {
      const std::string id = fmt::format(" {}", next);
      out.Write(std::string_view(id).substr(generated == 0 ? 1 : 0));
    } else {
      print(piece(prev, next));
    }
    ++generated;
    prev = next;
    return generated < n;
  };
  size_t drafted = 0, accepted = 0;
  if (!o.speculate) {
    while (generated < n) {
      CheckFinite(m.session.logits(), o.weights);
      const int next = m.session.Sample(sampling);
      if (!emit(next)) break;
      m.session.DecodeStep(next);
      ++decoded;
    }
  } else {
    // Each step runs a token and a draft after it; every draft token the model would have
    // sampled itself is kept (Sampler::SampleDraft for prompt lookup's certain guesses,
    // Sampler::VerifyDraft against a draft model's distribution: the same tokens when greedy,
    // the same distribution otherwise) and the caches forget the rest. At the first draft token
    // it rejects, the model's own choice goes out and starts the next step.
    rt::Sampler sampler(info.vocab_size, o.sampler);
    // The draft model, if any: its own session over the same context, its own sampler with
    // the same options (its coins from another seed).
    std::optional<lmc::Model> draft_model;
    std::optional<lmc::Session> draft_session;
    std::optional<rt::Sampler> draft_sampler;
    if (!o.draft_weights.empty()) {
      const DraftModel& linked = *GetDraftModel();
      LoadProgress progress(o.draft_weights);
      if (linked.info().vocab_size != info.vocab_size) {
        Fail(
            "--speculate: the draft model {} has {} tokens, {} has {}: they need the same "
            "tokenizer",
            linked.info().name, linked.info().vocab_size, info.name, info.vocab_size);
      }
      if (linked.info().max_seq_len < o.ctx) {
        throw UsageError(
            fmt::format("--speculate: the draft model {} holds {} positions, fewer "
                        "than the context's {} (--ctx)",
                        linked.info().name, linked.info().max_seq_len, o.ctx));
      }
      draft_model.emplace(linked.open, o.draft_weights, progress.options());
      draft_session.emplace(draft_model->NewSession(o.ctx));
      SamplerOptions options = o.sampler;
      options.seed ^= 0x9E3779B97F4A7C15ull;
      draft_sampler.emplace(info.vocab_size, options);
    }
    std::vector<int> context = tokens, step, draft;
    std::vector<std::vector<float>> draft_probs;  // q of each draft token
    const std::span<const float> last = m.session.logits();
    std::vector<float> row(last.end() - info.vocab_size, last.end());
    int pending = -1;  // sampled and written, not yet run
    size_t steps = 0;
    while (generated < n) {
      int next;
      if (pending >= 0) {
        next = pending;
        pending = -1;
      } else {
        CheckFinite(row, o.weights);
        next = sampler.Sample(row.data());
        if (!emit(next)) break;
        context.push_back(next);
      }
      const size_t room =
          static_cast<size_t>(std::min({n - generated, o.ctx - m.session.position() - 1, o.draft}));
      if (draft_session) {
        // The draft model catches up with the context (the token just sampled, and a draft
        // token the target kept last step that the draft never ran), then samples `room` tokens.
        draft_session->Prefill(std::span<const int>(context).subspan(draft_session->position()));
        draft.clear();
        draft_probs.resize(room);
        for (size_t i = 0; i < room; ++i) {
          if (i > 0) draft_session->DecodeStep(draft.back());
          const std::span<const float> q = draft_session->logits();
          draft_probs[i].assign(q.end() - info.vocab_size, q.end());
          CheckFinite(draft_probs[i], o.draft_weights);
          draft_sampler->Probabilities(draft_probs[i].data());
          draft.push_back(draft_sampler->DrawFrom(draft_probs[i].data()));
        }
      } else {
        draft = rt::LookupDraft(context, room);
      }
      step.assign(1, next);
      step.insert(step.end(), draft.begin(), draft.end());
      const int position = m.session.position();
      m.session.Prefill(step, LMC_ALL_ROWS);
      ++steps;
      const std::span<const float> rows = m.session.logits();
      auto row_of = [&](size_t i) {
        row.assign(rows.begin() + i * info.vocab_size, rows.begin() + (i + 1) * info.vocab_size);
        CheckFinite(row, o.weights);
      };
      size_t kept = 0;
      bool more = true;
      for (; kept < draft.size() && more && pending < 0; ++kept) {
        row_of(kept);
        bool is_draft = false;
        int token;
        if (draft_session) {
          sampler.Probabilities(row.data());
          token = sampler.VerifyDraft(row.data(), draft_probs[kept].data(), draft[kept], &is_draft);
        } else {
          token = sampler.SampleDraft(row.data(), draft[kept], &is_draft);
        }
        more = emit(token);
        context.push_back(token);
        if (!is_draft) pending = token;
      }
      if (pending >= 0) --kept;  // the model's own token is not the draft's
      drafted += draft.size();
      accepted += kept;
      if (!more) break;
      const int valid = position + 1 + static_cast<int>(kept);  // next and the kept drafts
      if (pending >= 0) {
        m.session.Rewind(valid);
      } else {
        row_of(draft.size());
      }
      if (draft_session && draft_session->position() > valid) draft_session->Rewind(valid);
    }
    decoded = generated;
    fmt::print(stderr, "speculate: {} steps, {} tokens drafted, {} accepted ({:.0f}%)\n", steps,
               drafted, accepted, drafted ? 100.0 * accepted / drafted : 0.0);
  }
  double decode_seconds = Seconds(decode_start);
  out.Write((o.print_ids ? "" : stream.Finish()) + "\n");
  out.Flush();
  FinishStdout();

  fmt::print(stderr,
             "load {:.1f} ms | prefill {} tokens, {:.1f} tok/s | decode {} tokens, {:.1f} tok/s\n",
             load_seconds * 1e3, tokens.size(), tokens.size() / std::max(prefill_seconds, 1e-9),
             decoded, decoded / std::max(decode_seconds, 1e-9));
  return 0;
}

const std::vector<FlagSpec> kChatFlags = {
    {"weights", "checkpoint file (not needed with --render)"},
    {"tokenizer", "tokenizer file or folder (default: the spec's tokenizer.file)"},
    {"messages",
     "JSON file of {\"role\", \"content\"} messages: the conversation to answer (without it, "
     "user turns are read from stdin, one a line)"},
    {"render", "print the prompt the chat template renders for --messages, then exit", false},
    {"system", "a system message to start the conversation with"},
    {"n", "most new tokens per reply"},
    {"temperature", "0 for greedy"},
    {"top-p", "nucleus sampling mass in (0, 1]"},
    {"top-k", "sample among the k most likely; 0 for all"},
    {"seed", "random seed"},
    {"ctx", "KV-cache capacity in positions (default: max_seq_len, at most 4096)"},
};

// End-of-turn markers of the common chat templates: a reply stops at one when the tokenizer
// has it as one (special) token, as it stops at the template's eos_token and the model's EOS.
constexpr const char* kEndOfTurnMarkers[] = {"<|eot_id|>", "<|im_end|>",    "<end_of_turn>",
                                             "<|end|>",    "<|endoftext|>", "<|end_of_text|>",
                                             "</s>",       "<eos>"};

int Chat(int argc, char** argv) {
  const ModelInfo& info = GetModelInfo();
  const lmc::chat::ModelTemplate* chat_template = lmc::chat::GetModelTemplate();
  struct Options {
    std::string weights, tokenizer, messages, system;
    bool render = false;
    int n, ctx;
    SamplerOptions sampler;
  };
  Options o = ReadFlags([&] {
    Args args("chat", argc, argv, 2, kChatFlags);
    if (!args.positional().empty()) Fail("chat takes no argument '{}'", args.positional()[0]);
    Options o;
    o.render = args.Has("render");
    if (args.Has("messages")) o.messages = args.Required("messages");
    if (args.Has("system")) o.system = args.Required("system");
    if (o.render && o.messages.empty()) Fail("--render needs --messages FILE.json");
    if (!o.render) o.weights = args.Required("weights");
    if (args.Has("tokenizer")) o.tokenizer = args.Required("tokenizer");
    if (!o.render && o.tokenizer.empty() && *info.tokenizer_path == '\0')
      Fail("'chat' needs --tokenizer (the spec names no tokenizer.file)");
    o.ctx = ContextFlag(args);
    o.n = args.Int("n", 256, 1, info.max_seq_len);
    o.sampler = SamplerFlags(args);
    return o;
  });
  if (info.encoder_decoder) Fail("chat is for decoders: {} is an encoder-decoder", info.name);
  if (!chat_template) {
    Fail("{} has no chat template: its spec gives no tokenizer.chat_template (use generate)",
         info.name);
  }

  std::vector<lmc::chat::Message> messages;
  if (!o.messages.empty()) messages = lmc::chat::ReadMessagesFile(o.messages);
  if (!o.system.empty()) messages.insert(messages.begin(), {"system", o.system});
  // The rendered conversation with the assistant's turn opened: what the model reads.
  auto render = [&] {
    lmc::chat::Inputs inputs;
    inputs.messages = &messages;
    inputs.bos_token = chat_template->bos_token;
    inputs.eos_token = chat_template->eos_token;
    inputs.add_generation_prompt = true;
    try {
      return chat_template->render(inputs);
    } catch (const lmc::chat::TemplateError& e) {
      Fail("the chat template ({}) refuses this conversation: {}", chat_template->path,
           EscapeControlBytes(e.what()));
    }
  };
  if (o.render) {
    WriteStdout(render());
    FinishStdout();
    return 0;
  }

  Loaded m = LoadModel(o.weights, o.ctx);
  std::unique_ptr<Tokenizer> tokenizer = LoadTokenizerFor(ModelTokenizer(), o.tokenizer);
  // Where a reply stops: the model's EOS, and the template's eos_token and end-of-turn markers
  // where the tokenizer reads them as a single token.
  std::vector<int> stop = {info.eos, tokenizer->eos()};
  std::vector<std::string> markers(std::begin(kEndOfTurnMarkers), std::end(kEndOfTurnMarkers));
  if (chat_template->has_eos) markers.push_back(chat_template->eos_token);
  for (const std::string& marker : markers) {
    EncodeOptions special;
    special.parse_special = true;
    std::vector<int> ids = tokenizer->Encode(marker, special);
    if (ids.size() == 1 && tokenizer->Encode(marker, EncodeOptions{}).size() > 1)
      stop.push_back(ids[0]);
  }
  auto stops = [&](int id) { return std::find(stop.begin(), stop.end(), id) != stop.end(); };
  const lmc_sampling sampling{o.sampler.temperature, o.sampler.top_p, o.sampler.top_k,
                              o.sampler.seed};

  // The tokens the session's KV cache holds: a turn prefills only what follows the longest
  // prefix its prompt shares with them (the previous turns, for these templates).
  std::vector<int> cached;
  int turn = 0;
  auto reply = [&] {
    ++turn;
    EncodeOptions special;
    special.parse_special = true;
    std::vector<int> ids = tokenizer->Encode(render(), special);
    for (int id : ids) {
      if (id < 0 || id >= info.vocab_size)
        Fail("{}: the prompt gives token id {}, outside the model's vocabulary [0, {})",
             tokenizer->path(), id, info.vocab_size);
    }
    if (ids.empty()) Fail("the chat template renders an empty prompt");
    if (ids.size() + 1 > static_cast<size_t>(o.ctx)) {
      throw UsageError(fmt::format(
          "the conversation needs {} tokens; the context holds {} (--ctx, max_seq_len {})",
          ids.size() + 1, o.ctx, info.max_seq_len));
    }
    size_t common = 0;
    while (common < cached.size() && common < ids.size() && cached[common] == ids[common]) ++common;
    if (common == ids.size()) --common;  // At least the last token runs, for its logits.
    if (common < static_cast<size_t>(m.session.position()))
      m.session.Rewind(static_cast<int32_t>(common));
    auto prefill_start = Clock::now();
    m.session.Prefill(std::span<const int>(ids).subspan(common));
    double prefill_seconds = Seconds(prefill_start);
    cached = ids;

    utf8::StreamDecoder stream;
    TokenOutput out;
    std::vector<int> reply_ids;
    int n = std::min<int>(o.n, o.ctx - static_cast<int>(ids.size()));
    auto decode_start = Clock::now();
    for (int generated = 0; generated < n; ++generated) {
      CheckFinite(m.session.logits(), o.weights);
      int next = m.session.Sample(sampling);
      if (stops(next)) break;
      // Each new token's text: the reply decoded so far, minus what was printed.
      std::string before = tokenizer->Decode(reply_ids);
      reply_ids.push_back(next);
      std::string after = tokenizer->Decode(reply_ids);
      out.Write(stream.Push(after.starts_with(before) ? after.substr(before.size())
                                                      : tokenizer->Decode({&next, 1})));
      if (generated + 1 == n) break;
      m.session.DecodeStep(next);
      cached.push_back(next);
    }
    double decode_seconds = Seconds(decode_start);
    out.Write(stream.Finish() + "\n");
    out.Flush();
    std::fflush(stdout);
    fmt::print(stderr,
               "turn {}: prompt {} tokens, prefill {} new ({} from the cache), {:.1f} tok/s | "
               "reply {} tokens, {:.1f} tok/s\n",
               turn, ids.size(), ids.size() - common, common,
               (ids.size() - common) / std::max(prefill_seconds, 1e-9), reply_ids.size(),
               reply_ids.size() / std::max(decode_seconds, 1e-9));
    messages.push_back({"assistant", tokenizer->Decode(reply_ids)});
  };

  if (!o.messages.empty()) {
    reply();
    FinishStdout();
    return 0;
  }
  // Interactive: a user turn per line of stdin, until its end.
  const bool terminal = isatty(STDIN_FILENO);
  std::string line;
  while (true) {
    if (terminal) fmt::print(stderr, "> ");
    line.clear();
    int c;
    while ((c = std::fgetc(stdin)) != EOF && c != '\n') line.push_back(static_cast<char>(c));
    if (c == EOF && line.empty()) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    messages.push_back({"user", line});
    reply();
    if (c == EOF) break;
  }
  FinishStdout();
  return 0;
}

const std::vector<FlagSpec> kLogitsFlags = {
    {"weights", "checkpoint file"},
    {"tokens", "comma-separated token ids"},
    {"out", "output .npy file"},
    {"decode", "run one token at a time (the decode path) instead of prefill", false},
    {"ctx", "KV-cache capacity in positions (default: as many as --tokens)"},
};

int Logits(int argc, char** argv) {
  const ModelInfo& info = GetModelInfo();
  struct Options {
    std::string weights, out;
    std::vector<int> tokens;
    bool decode;
    int ctx;
    EncoderInput source;
  };
  Options o = ReadFlags([&] {
    Args args("logits", argc, argv, 2, WithEncoderFlags(kLogitsFlags, /*prompt=*/false));
    if (!args.positional().empty()) Fail("logits takes no argument '{}'", args.positional()[0]);
    Options o{
        args.Required("weights"),    args.Required("out"), TokenFlag(args), args.Has("decode"), 0,
        EncoderFlags(args, "logits")};
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
  Loaded m = LoadModel(o.weights, o.ctx);
  CheckOutputPath(o.out);  // Now that the inputs are read: before the work, not after.
  EncodeSource(m, o.source, nullptr);
  std::vector<float> all;
  if (o.decode) {
    for (int token : o.tokens) {
      m.session.DecodeStep(token);
      all.insert(all.end(), m.session.logits().begin(), m.session.logits().end());
    }
  } else if (!o.tokens.empty()) {
    m.session.Prefill(o.tokens, LMC_ALL_ROWS);
    all.assign(m.session.logits().begin(), m.session.logits().end());
  }
  CheckFinite(all, o.weights);
  WriteNpy(o.out, all.data(), {static_cast<int64_t>(o.tokens.size()), info.vocab_size});
  return 0;
}

const std::vector<FlagSpec> kEmbedFlags = {
    {"weights", "checkpoint file"},
    {"tokens", "comma-separated token ids"},
    {"prompt",
     "text instead of --tokens: an encoder's wrapped as [CLS] ... [SEP], a decoder's after the "
     "spec's BOS (as generate)"},
    {"tokenizer", "tokenizer file or folder (default: the spec's tokenizer.file)"},
    {"out", "output .npy file"},
    {"pool",
     "one vector instead of all: an encoder's cls (the first token's state), mean, or pooler "
     "(the spec's pooler on the first token); a decoder's last (the last token's state) or mean"},
};

// An encoder's last hidden state, [tokens, d_model], or one vector pooled
// from it: the first token's (cls) or the mean over tokens. For an
// encoder-decoder, its encoder's. A decoder's final hidden state (after the
// final norm, before the classifier), or its last token's (last) or mean.
int Embed(int argc, char** argv) {
  const ModelInfo& info = GetModelInfo();
  struct Options {
    std::string weights, out, pool, tokenizer;
    std::vector<int> tokens;
    std::optional<std::string> prompt;
  };
  Options o = ReadFlags([&] {
    Args args("embed", argc, argv, 2, kEmbedFlags);
    if (!args.positional().empty()) Fail("embed takes no argument '{}'", args.positional()[0]);
    Options o{args.Required("weights"),
              args.Required("out"),
              args.String("pool", ""),
              "",
              {},
              std::nullopt};
    if (args.Has("prompt")) {
      if (args.Has("tokens")) Fail("give --prompt or --tokens, not both");
      o.prompt = args.String("prompt", "");
      if (args.Has("tokenizer")) o.tokenizer = args.Required("tokenizer");
      if (o.tokenizer.empty() && *GetModelInfo().tokenizer_path == '\0') {
        Fail("'embed --prompt' needs --tokenizer (the spec names no tokenizer.file)");
      }
    } else {
      o.tokens = TokenFlag(args);
    }
    const bool decoder = !info.encoder && !info.encoder_decoder;
    if (decoder && !o.pool.empty() && o.pool != "last" && o.pool != "mean") {
      Fail("--pool: expected last or mean for a decoder, found '{}'", o.pool);
    }
    if (!decoder && !o.pool.empty() && o.pool != "cls" && o.pool != "mean" && o.pool != "pooler") {
      Fail("--pool: expected cls, mean or pooler, found '{}'", o.pool);
    }
    if (o.pool == "pooler" && !info.pooler) {
      Fail("--pool pooler: {} has no pooler (its spec does not set `pooler: true`)", info.name);
    }
    return o;
  });
  const bool decoder = !info.encoder && !info.encoder_decoder;
  if (decoder && !info.hidden) {
    Fail("{} cannot embed: its compiled code gives logits, not hidden states (use logits)",
         info.name);
  }
  if (o.prompt && decoder) {
    // As generate reads a prompt: the spec's BOS, then the text.
    auto tokenizer = LoadTokenizerFor(ModelTokenizer(), o.tokenizer);
    if (info.bos >= 0) o.tokens.push_back(info.bos);
    for (int id : tokenizer->Encode(*o.prompt, EncodeOptions{})) o.tokens.push_back(id);
    for (int id : o.tokens) {
      if (id < 0 || id >= info.vocab_size) {
        Fail("embed --prompt: token id {} from {} is outside the model's vocabulary [0, {})", id,
             tokenizer->path(), info.vocab_size);
      }
    }
    if (o.tokens.empty()) {
      throw UsageError("the prompt is empty and the model has no BOS token to start from");
    }
  } else if (o.prompt) {
    // BERT's template: [CLS] text [SEP], with the spec's ids, else the
    // tokenizer's own (WordPiece's [CLS] / [SEP] are its bos / eos).
    auto tokenizer = LoadTokenizerFor(ModelTokenizer(), o.tokenizer);
    const int cls = info.cls >= 0 ? info.cls : tokenizer->bos();
    const int sep = info.sep >= 0 ? info.sep : tokenizer->eos();
    if (cls < 0 || sep < 0) {
      Fail(
          "embed --prompt: no {} id: the spec sets no tokenizer.{} and the tokenizer {} has none "
          "(give --tokens)",
          cls < 0 ? "[CLS]" : "[SEP]", cls < 0 ? "cls" : "sep", tokenizer->path());
    }
    o.tokens.push_back(cls);
    // Special tokens in the text are their ids, as Hugging Face tokenizers reads them.
    for (int id : tokenizer->Encode(*o.prompt, EncodeOptions{.parse_special = true})) {
      o.tokens.push_back(id);
    }
    o.tokens.push_back(sep);
    for (int id : o.tokens) {
      if (id < 0 || id >= info.vocab_size) {
        Fail("embed --prompt: token id {} from {} is outside the model's vocabulary [0, {})", id,
             tokenizer->path(), info.vocab_size);
      }
    }
  }
  if (static_cast<int>(o.tokens.size()) > info.max_seq_len) {
    Fail("the input has {} tokens; the {} takes at most {} (max_seq_len)", o.tokens.size(),
         decoder ? "model" : "encoder", info.max_seq_len);
  }
  Loaded m = LoadModel(o.weights, std::max<int>(1, static_cast<int>(o.tokens.size())));
  CheckOutputPath(o.out);  // Now that the inputs are read: before the work, not after.
  const int64_t n = static_cast<int64_t>(o.tokens.size()), d = info.d_model;
  std::vector<float> states, pooled(info.pooler ? d : 0);
  if (info.encoder_decoder) {
    if (o.tokens.empty()) throw UsageError("the encoder input is empty");
    m.session.Encode(o.tokens);
  } else {
    m.session.Embed(o.tokens, pooled);
  }
  states.assign(m.session.logits().begin(), m.session.logits().end());
  CheckFinite(states, o.weights);
  if (o.pool.empty()) {
    WriteNpy(o.out, states.data(), {n, d});
    return 0;
  }
  if (o.pool == "pooler") {  // Computed with the states, by the last (only) chunk.
    CheckFinite(pooled, o.weights);
    WriteNpy(o.out, pooled.data(), {d});
    return 0;
  }
  const int64_t row = o.pool == "last" ? n - 1 : 0;
  pooled.assign(states.begin() + row * d, states.begin() + (row + 1) * d);
  if (o.pool == "mean") {
    for (int64_t t = 1; t < n; ++t) {
      for (int64_t i = 0; i < d; ++i) pooled[i] += states[t * d + i];
    }
    for (float& x : pooled) x /= static_cast<float>(n);
  }
  WriteNpy(o.out, pooled.data(), {d});
  return 0;
}

int Info(int argc, char** argv) {
  ReadFlags([&] {
    Args args("info", argc, argv, 2, {});
    if (!args.positional().empty()) Fail("info takes no argument '{}'", args.positional()[0]);
    return 0;
  });
  const ModelInfo& info = GetModelInfo();
  fmt::print("model: {}\nspec: {}\nbuild: {}\n", info.name, info.spec_path, info.build_info);
  fmt::print("vocab {}, max_seq_len {}, tokenizer {}, weights {}\n", info.vocab_size,
             info.max_seq_len, info.tokenizer_kind, info.weights_format);
  if (*info.tokenizer_path != '\0') fmt::print("tokenizer file: {}\n", info.tokenizer_path);
  fmt::print("--- spec as compiled ---\n{}", info.spec_yaml);
  FinishStdout();
  return 0;
}

// Every command, as `MODEL --help` lists them and `MODEL COMMAND --help` shows one: from the
// flag lists the commands parse.
std::vector<CommandHelp> Commands() {
  auto threaded = [](std::vector<FlagSpec> flags) {
    flags.push_back(kThreadsFlag);
    return flags;
  };
  std::vector<CommandHelp> commands;
  commands.push_back(
      {"generate", "",
       "Continues a prompt (--prompt text, or --tokens ids) and prints the text, or the new ids.",
       threaded(WithEncoderFlags(kGenerateFlags, /*prompt=*/true))});
  commands.push_back({"chat", "",
                      "Answers a conversation rendered with the model's chat template: --messages "
                      "FILE.json, or one user turn a line from stdin (--render: print the prompt).",
                      threaded(kChatFlags)});
  commands.push_back({"logits", "",
                      "Writes the logits at every position of --tokens to a [tokens, vocab] .npy.",
                      threaded(WithEncoderFlags(kLogitsFlags, /*prompt=*/false))});
  commands.push_back({"embed", "",
                      "Writes the hidden states, [tokens, d_model] (an encoder's last, a "
                      "decoder's final), or one pooled vector, to a .npy.",
                      threaded(kEmbedFlags)});
  commands.push_back({"bench", "",
                      "Measures prefill and decode speed beside this machine's read bandwidth "
                      "and FMA peak.",
                      threaded(kBenchFlags)});
  commands.push_back({"perplexity", "",
                      "Scores a text (--file) over sliding windows: perplexity and its standard "
                      "error.",
                      threaded(kPerplexityFlags)});
  commands.push_back({"serve", "",
                      "An OpenAI-compatible HTTP server: completions and chat, streamed or not, "
                      "for many clients at once, or an encoder's embeddings (docs/serving.md).",
                      threaded(lmc::serve::kServeFlags)});
  commands.push_back(TokenizeHelp(ModelTokenizer()));
  commands.push_back(DetokenizeHelp(ModelTokenizer()));
  commands.push_back({"info", "", "Prints the model's name, spec, build and sizes.", {}});
  return commands;
}

std::string ProgramUsage(const char* program) {
  const ModelInfo& info = GetModelInfo();
  std::string out =
      fmt::format("usage: {} COMMAND [flags]\n{}, compiled by lmc from {}.\ncommands:\n", program,
                  info.name, info.spec_path);
  for (const CommandHelp& c : Commands()) {
    out += fmt::format("  {:<10}  {}\n", c.name, c.summary);
  }
  out += fmt::format(
      "'{} COMMAND --help' shows a command's flags. The tokenizer is the spec's tokenizer.file "
      "unless --tokenizer names another.\n",
      program);
  return out;
}

// Prints `text` as the answer to --help: on stdout, exit 0.
int PrintHelp(const std::string& text) {
  fmt::print("{}", text);
  FinishStdout();
  return 0;
}

// The command line after --threads: one command, its exit status.
int RunCommand(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "{}", ProgramUsage(argv[0]));
    return 2;
  }
  std::string command = argv[1];
  try {
    if (command == "--help" || command == "-h" || command == "help") {
      return PrintHelp(ProgramUsage(argv[0]));
    }
    for (const CommandHelp& c : Commands()) {
      if (c.name == command && WantsHelp(argc, argv, 2, c.flags)) {
        return PrintHelp(Usage(argv[0], c));
      }
    }
    // (serve runs for encoders too: they answer /v1/embeddings.)
    if ((command == "generate" || command == "logits" || command == "chat") &&
        GetModelInfo().encoder) {
      Fail("{} is for decoders: {} is an encoder (use embed)", command, GetModelInfo().name);
    }
    if (command == "bench") return Bench(argc, argv);
    if (command == "generate") return Generate(argc, argv);
    if (command == "chat") return Chat(argc, argv);
    if (command == "logits") return Logits(argc, argv);
    if (command == "embed") return Embed(argc, argv);
    if (command == "tokenize") return RunTokenize(argc - 1, argv + 1, ModelTokenizer());
    if (command == "detokenize") return RunDetokenize(argc - 1, argv + 1, ModelTokenizer());
    if (command == "info") return Info(argc, argv);
    if (command == "serve") return lmc::serve::RunServe(argc, argv, ModelTokenizer());
    if (command == "perplexity") return RunPerplexity(argc, argv, ModelTokenizer());
    std::string names;
    for (const CommandHelp& c : Commands()) names += (names.empty() ? "" : ", ") + c.name;
    fmt::print(stderr, "error: unknown command '{}'; expected one of: {} (or --help)\n", command,
               names);
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

}  // namespace
}  // namespace lmc::rt

int main(int argc, char** argv) {
  using namespace lmc::rt;
  ProtectInputs();        // No command writes over a file it reads (--out naming the weights).
  EnableMappingGuards();  // A weights file truncated under us: one line, not SIGBUS.
  if (int status = TakeThreadsFlag(argc, argv)) return status;  // --threads N, any command.
  // A tensor-parallel binary under mpirun: rank 0 runs the command, the others follow it.
  if (const ParallelHooks* parallel = GetParallelHooks()) {
    return parallel->main(*parallel, argc, argv, RunCommand);
  }
  return RunCommand(argc, argv);
}
