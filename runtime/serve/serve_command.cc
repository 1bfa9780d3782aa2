#include "runtime/serve/serve_command.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "lmc/lmc.hpp"
#include "runtime/chat/template_runtime.h"
#include "runtime/cli/load_progress.h"
#include "runtime/model/model.h"
#include "runtime/serve/embeddings.h"
#include "runtime/serve/http_server.h"
#include "runtime/serve/routes.h"
#include "runtime/serve/scheduler.h"
#include "runtime/util/error.h"

namespace lmc::serve {

const std::vector<rt::FlagSpec> kServeFlags = {
    {"weights", "checkpoint file"},
    {"tokenizer", "tokenizer file or folder (default: the spec's tokenizer.file)"},
    {"host", "address to listen on (default 127.0.0.1: this machine only)"},
    {"port", "TCP port (default 8080; 0: any free port, printed at start)"},
    {"slots", "sequences generated at once, each with its own KV cache (default 4)"},
    {"ctx", "KV-cache positions per slot (default: max_seq_len, at most 4096)"},
    {"queue", "requests that may wait for a slot; past it 503 (default 16)"},
    {"api-key-file", "file holding the key every request must send as Authorization: Bearer"},
    {"max-body", "largest request body in bytes (default 1048576); past it 413"},
    {"timeout", "seconds a request may take to arrive (default 10)"},
    {"keep-alive",
     "seconds an idle connection stays open for the next request (default 5; 0: "
     "one request per connection)"},
    {"shutdown-timeout", "seconds running requests may finish after SIGTERM (default 5)"},
    {"prefix-cache",
     "on (default): a prompt reuses the KV cache of a free slot's equal prefix; off"},
    {"pooling",
     "how /v1/embeddings pools the hidden states: an encoder's mean (default), cls (the first "
     "token's) or pooler (the spec's pooler); a decoder's last (default: the last token's) or "
     "mean"},
};

namespace {

int g_signal_pipe[2] = {-1, -1};

struct ServeOptions {
  std::string weights, tokenizer, api_key;
  HttpOptions http;
  SchedulerOptions scheduler;
  double shutdown_timeout = 5;
  Pooling pooling = Pooling::kMean;  // An encoder's default; a decoder's is last.
};

std::string ReadKey(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) rt::Fail("--api-key-file {}: cannot read it: {}", path, std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  std::string key = text.str();
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.front()))) key.erase(0, 1);
  if (key.empty()) rt::Fail("--api-key-file {}: the file is empty", path);
  if (key.find_first_of(" \t\r\n") != std::string::npos) {
    rt::Fail("--api-key-file {}: expected one key, found whitespace inside it", path);
  }
  return key;
}

ServeOptions ReadFlags(int argc, char** argv) {
  const rt::ModelInfo& info = rt::GetModelInfo();
  rt::Args args("serve", argc, argv, 2, kServeFlags);
  if (!args.positional().empty()) rt::Fail("serve takes no argument '{}'", args.positional()[0]);
  ServeOptions o;
  o.weights = args.Required("weights");
  if (args.Has("tokenizer")) o.tokenizer = args.Required("tokenizer");
  if (o.tokenizer.empty() && *info.tokenizer_path == '\0') {
    rt::Fail("'serve' needs --tokenizer (the spec names no tokenizer.file)");
  }
  o.http.host = args.String("host", "127.0.0.1");
  o.http.port = args.Int("port", 8080, 0, 65535);
  o.http.max_body = static_cast<size_t>(args.Int("max-body", 1 << 20, 1024, 1 << 30));
  o.http.read_timeout = args.Float("timeout", 10.0f, 0.1f, 3600.0f);
  o.http.keep_alive = args.Float("keep-alive", 5.0f, 0.0f, 3600.0f);
  if (args.Has("prefix-cache")) {
    const std::string value = args.Required("prefix-cache");
    if (value != "on" && value != "off") {
      rt::Fail("--prefix-cache: expected on or off, found '{}'", value);
    }
    o.scheduler.prefix_cache = value == "on";
  }
  o.scheduler.slots = args.Int("slots", 4, 1, 256);
  o.scheduler.context = args.Int("ctx", std::min(info.max_seq_len, 4096), 2, info.max_seq_len);
  o.scheduler.max_queue = args.Int("queue", 16, 0, 100000);
  o.http.max_connections = o.scheduler.slots + o.scheduler.max_queue + 16;
  o.shutdown_timeout = args.Float("shutdown-timeout", 5.0f, 0.0f, 3600.0f);
  if (args.Has("api-key-file")) o.api_key = ReadKey(args.Required("api-key-file"));
  if (!info.encoder) o.pooling = Pooling::kLast;
  if (args.Has("pooling")) {
    const std::string pooling = args.Required("pooling");
    if (!info.encoder && !info.hidden) {
      rt::Fail("--pooling: {} cannot embed (its compiled code gives logits, not hidden states)",
               info.name);
    }
    const std::optional<Pooling> parsed = ParsePooling(pooling);
    if (info.encoder && (!parsed || *parsed == Pooling::kLast)) {
      rt::Fail("--pooling: expected mean, cls or pooler for an encoder, found '{}'", pooling);
    }
    if (!info.encoder && (!parsed || (*parsed != Pooling::kLast && *parsed != Pooling::kMean))) {
      rt::Fail("--pooling: expected last or mean for a decoder, found '{}'", pooling);
    }
    if (*parsed == Pooling::kPooler && !info.pooler) {
      rt::Fail("--pooling pooler: {} has no pooler (its spec does not set `pooler: true`)",
               info.name);
    }
    o.pooling = *parsed;
  }
  return o;
}

// End-of-turn markers of the common chat templates, as `chat` stops at them: where the
// tokenizer has one as a single (special) token.
constexpr const char* kEndOfTurnMarkers[] = {"<|eot_id|>", "<|im_end|>",    "<end_of_turn>",
                                             "<|end|>",    "<|endoftext|>", "<|end_of_text|>",
                                             "</s>",       "<eos>"};

}  // namespace

int RunServe(int argc, char** argv, const rt::TokenizerSource& tokenizer_source) {
  const rt::ModelInfo& info = rt::GetModelInfo();
  ServeOptions o;
  try {
    o = ReadFlags(argc, argv);
  } catch (const rt::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
  if (info.encoder_decoder) {
    rt::Fail("serve is for decoders and encoders: {} is an encoder-decoder", info.name);
  }

  // SIGTERM and SIGINT only write their number to a pipe (the kernels' threads may exist
  // already, so any thread can take them); the thread below reads it and stops the server.
  if (pipe2(g_signal_pipe, O_CLOEXEC) != 0) rt::Fail("pipe: {}", std::strerror(errno));
  struct sigaction action {};
  action.sa_handler = [](int signal_number) {
    const int saved_errno = errno;
    const char c = static_cast<char>(signal_number);
    [[maybe_unused]] ssize_t n = write(g_signal_pipe[1], &c, 1);
    errno = saved_errno;
  };
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::optional<lmc::Model> loaded;
  {
    rt::LoadProgress progress(o.weights, o.tokenizer);
    loaded.emplace(rt::OpenModel, o.weights, progress.options());
  }
  lmc::Model& model = *loaded;
  // The tokenizer's own end id, where the spec names none (as generate and chat stop).
  const auto tokenizer = rt::LoadTokenizerFor(tokenizer_source, o.tokenizer);
  const int tokenizer_eos = tokenizer->eos();
  // Encoders embed (/v1/embeddings), texts wrapped as `embed --prompt` wraps them: the spec's
  // [CLS] / [SEP] ids, else the tokenizer's own (WordPiece's are its bos / eos). Decoders
  // embed texts as completions' prompts: the spec's BOS, then the text.
  std::optional<Embedder> embedder;
  if (info.encoder) {
    embedder.emplace(model, o.pooling, info.cls >= 0 ? info.cls : tokenizer->bos(),
                     info.sep >= 0 ? info.sep : tokenizer_eos, info.max_seq_len);
  } else if (info.hidden) {
    embedder.emplace(model, o.pooling, info.bos, -1, o.scheduler.context);
  }

  ServerContext context;
  context.model = &model;
  context.limits = {info.name, info.vocab_size, o.scheduler.context};
  context.chat_template = chat::GetModelTemplate();
  context.bos = info.bos;
  context.api_key = o.api_key;
  context.embedder = embedder ? &*embedder : nullptr;
  context.encoder = info.encoder;
  // generate's ends: the spec's BOS and EOS (else the tokenizer's EOS).
  if (info.bos >= 0) context.completion_stop_ids.push_back(info.bos);
  if (info.eos >= 0) context.completion_stop_ids.push_back(info.eos);
  if (info.eos < 0 && tokenizer_eos >= 0) context.completion_stop_ids.push_back(tokenizer_eos);
  // chat's: the EOS ids, the template's eos_token and the end-of-turn markers.
  for (int id : {info.eos, tokenizer_eos}) {
    if (id >= 0) context.chat_stop_ids.push_back(id);
  }
  if (context.chat_template) {
    std::vector<std::string> markers(std::begin(kEndOfTurnMarkers), std::end(kEndOfTurnMarkers));
    if (context.chat_template->has_eos) markers.push_back(context.chat_template->eos_token);
    for (const std::string& marker : markers) {
      std::vector<int32_t> special = model.Tokenize(marker, LMC_PARSE_SPECIAL);
      if (special.size() == 1 && model.Tokenize(marker, 0).size() > 1) {
        context.chat_stop_ids.push_back(special[0]);
      }
    }
  }

  Scheduler scheduler(model, o.scheduler);
  context.scheduler = &scheduler;
  Routes routes(context);
  HttpServer server(o.http, [&](const HttpRequest& request, HttpConnection& connection) {
    routes.Handle(request, connection);
  });
  server.Listen();
  fmt::print(stderr, "serve: {} on http://{}:{} ({} slots of {} positions, queue {}{})\n",
             info.name,
             o.http.host.find(':') != std::string::npos ? "[" + o.http.host + "]" : o.http.host,
             server.port(), o.scheduler.slots, o.scheduler.context, o.scheduler.max_queue,
             o.api_key.empty() ? "" : ", API key required");
  std::fflush(stderr);

  // SIGTERM or SIGINT: stop accepting, let running requests finish (or cancel them after
  // --shutdown-timeout), then Run returns once every connection has closed.
  std::thread signal_thread([&] {
    char received = 0;
    while (read(g_signal_pipe[0], &received, 1) < 0 && errno == EINTR) {
    }
    fmt::print(stderr, "serve: {}: stopping\n", received == SIGINT ? "SIGINT" : "SIGTERM");
    context.stopping = true;
    server.Stop();
    scheduler.Shutdown(o.shutdown_timeout);
  });
  server.Run();
  signal_thread.join();
  const SchedulerStats& stats = scheduler.stats();
  fmt::print(stderr, "serve: stopped: {} prompt tokens, {} generated, {} requests finished\n",
             stats.prompt_tokens.load(), stats.generated_tokens.load(), stats.finished.load());
  return 0;
}

}  // namespace lmc::serve
