#include "runtime/serve/routes.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>
#include <string_view>
#include <thread>

#include "runtime/serve/chat_page.h"
#include "runtime/serve/sse.h"

namespace lmc::serve {
namespace {

using nlohmann::json;

constexpr auto kPoll = std::chrono::milliseconds(50);

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void SendJson(HttpConnection& connection, int status, const json& body) {
  connection.Respond(status, "application/json", Dump(body));
}

// The paths /metrics counts requests by: the known ones, else "other" (no unbounded labels).
std::string MetricPath(const std::string& path) {
  for (const char* known : {"/", "/health", "/v1/models", "/v1/completions", "/v1/chat/completions",
                            "/v1/embeddings", "/tokenize", "/detokenize", "/metrics"}) {
    if (path == known) return path;
  }
  if (path.starts_with("/v1/models/")) return "/v1/models/{model}";
  return "other";
}

}  // namespace

bool SameSecret(const std::string& secret, const std::string& given) {
  unsigned diff = secret.size() == given.size() ? 0u : 1u;
  for (size_t i = 0; i < secret.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= static_cast<unsigned char>(secret[i]) ^ g;
  }
  return diff == 0;
}

Routes::Routes(ServerContext& context)
    : context_(context), started_(static_cast<int64_t>(std::time(nullptr))) {}

void Routes::Count(const std::string& path, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{MetricPath(path), status}];
}

void Routes::Handle(const HttpRequest& request, HttpConnection& connection) {
  int status = 200;
  auto fail = [&](const ApiError& e) {
    status = e.status;
    if (connection.responded()) return;  // mid-stream: the stream says it
    HeaderList extra;
    if (e.status == 503) extra.push_back({"Retry-After", "1"});
    if (e.status == 401) extra.push_back({"WWW-Authenticate", "Bearer"});
    connection.Respond(e.status, "application/json", ErrorJson(e), extra);
  };
  try {
    const std::string& path = request.path;
    // The chat page needs no key either (a browser cannot send one to open it): it asks for
    // the key and sends it with its requests.
    if (!context_.api_key.empty() && path != "/health" && path != "/") {
      const std::string& auth = request.Header("authorization");
      const std::string prefix = "Bearer ";
      const std::string given = auth.starts_with(prefix) ? auth.substr(prefix.size()) : "";
      if (!SameSecret(context_.api_key, given)) {
        throw ApiError(401,
                       auth.empty() ? "an API key is required: Authorization: Bearer KEY"
                                    : "the API key is not valid",
                       "", "invalid_api_key");
      }
    }
    auto method = [&](const char* expected) {
      if (request.method != expected) {
        throw ApiError(405, fmt::format("{} takes {}, not {}", path, expected, request.method));
      }
    };
    const json model = {{"id", context_.limits.name},
                        {"object", "model"},
                        {"created", started_},
                        {"owned_by", "lmc"},
                        {"context_length", context_.limits.context}};
    if (path == "/") {
      method("GET");
      connection.Respond(200, "text/html; charset=utf-8",
                         ChatPage({.model = context_.limits.name,
                                   .chat = context_.chat_template != nullptr,
                                   .context = context_.limits.context,
                                   .embeddings = context_.encoder,
                                   .api_key = !context_.api_key.empty()}));
    } else if (path == "/health") {
      method("GET");
      if (context_.stopping) throw ApiError(503, "the server is shutting down");
      SendJson(connection, 200, {{"status", "ok"}});
    } else if (path == "/v1/models") {
      method("GET");
      SendJson(connection, 200, {{"object", "list"}, {"data", json::array({model})}});
    } else if (path.starts_with("/v1/models/")) {
      method("GET");
      const std::string name = path.substr(std::string_view("/v1/models/").size());
      if (name != context_.limits.name) {
        throw ApiError(404,
                       fmt::format("the model '{}' does not exist; this server has '{}'", name,
                                   context_.limits.name),
                       "model", "model_not_found");
      }
      SendJson(connection, 200, model);
    } else if (path == "/v1/completions" || path == "/v1/chat/completions") {
      method("POST");
      Completion(request, connection, path == "/v1/chat/completions");
    } else if (path == "/v1/embeddings") {
      method("POST");
      connection.Respond(200, "application/json",
                         Embeddings(request.body, context_.embedder, context_.limits));
    } else if (path == "/tokenize") {
      method("POST");
      TokenizeRequest r = ParseTokenizeRequest(request.body);
      std::vector<int32_t> ids;
      if (r.add_special && context_.bos >= 0) ids.push_back(context_.bos);
      std::vector<int32_t> text =
          context_.model->Tokenize(r.content, r.parse_special ? LMC_PARSE_SPECIAL : 0u);
      ids.insert(ids.end(), text.begin(), text.end());
      SendJson(connection, 200, {{"tokens", ids}});
    } else if (path == "/detokenize") {
      method("POST");
      std::vector<int> ids = ParseDetokenizeRequest(request.body, context_.limits);
      SendJson(
          connection, 200,
          {{"content", context_.model->Detokenize(std::vector<int32_t>(ids.begin(), ids.end()))}});
    } else if (path == "/metrics") {
      method("GET");
      connection.Respond(200, "text/plain; version=0.0.4", Metrics());
    } else {
      throw ApiError(404, fmt::format("no endpoint {} {}", request.method, path), "", "not_found");
    }
  } catch (const ApiError& e) {
    fail(e);
  } catch (const std::exception& e) {
    // The model's own errors (a tokenizer that cannot read the text, ...): the server's fault
    // or the input's, never a crash.
    fail(ApiError(500, e.what()));
  }
  Count(request.path, status);
}

void Routes::Completion(const HttpRequest& request, HttpConnection& connection, bool chat) {
  if (context_.encoder) {
    throw ApiError(400,
                   fmt::format("{} is an encoder: it embeds (/v1/embeddings) and does not "
                               "generate text",
                               context_.limits.name),
                   "model", "model_cannot_generate");
  }
  const CompletionRequest r = ParseCompletionRequest(request.body, chat, context_.limits);
  std::vector<int32_t> prompt;
  std::vector<int32_t> stop_ids;
  if (chat) {
    const chat::ModelTemplate* t = context_.chat_template;
    if (!t) {
      throw ApiError(400,
                     fmt::format("{} has no chat template (its spec gives no "
                                 "tokenizer.chat_template): use /v1/completions",
                                 context_.limits.name),
                     "messages", "no_chat_template");
    }
    chat::Inputs inputs;
    inputs.messages = &r.messages;
    inputs.bos_token = t->bos_token;
    inputs.eos_token = t->eos_token;
    inputs.add_generation_prompt = true;
    std::string text;
    try {
      text = t->render(inputs);
    } catch (const chat::TemplateError& e) {
      throw ApiError(400, std::string("the chat template refuses these messages: ") + e.what(),
                     "messages");
    }
    prompt = context_.model->Tokenize(text, LMC_PARSE_SPECIAL);
    stop_ids = context_.chat_stop_ids;
  } else {
    if (r.prompt_is_ids) {
      prompt.assign(r.prompt_ids.begin(), r.prompt_ids.end());
    } else {
      // As `generate`: the spec's BOS, then the text.
      if (context_.bos >= 0) prompt.push_back(context_.bos);
      std::vector<int32_t> text = context_.model->Tokenize(r.prompt, 0);
      prompt.insert(prompt.end(), text.begin(), text.end());
    }
    stop_ids = context_.completion_stop_ids;
  }
  const int context = context_.limits.context;
  const int prompt_tokens = static_cast<int>(prompt.size());
  if (prompt_tokens == 0) {
    throw ApiError(400, "the prompt is empty and the model has no BOS token to start from",
                   chat ? "messages" : "prompt");
  }
  if (prompt_tokens >= context) {
    throw ApiError(400,
                   fmt::format("the prompt has {} tokens; the context holds {} (--ctx) with room "
                               "for at least one new token",
                               prompt_tokens, context),
                   chat ? "messages" : "prompt", "context_length_exceeded");
  }
  const int room = context - prompt_tokens;
  const GenerationParams& p = r.params;
  if (p.max_tokens_given && p.max_tokens > room) {
    throw ApiError(400,
                   fmt::format("the context holds {} tokens; the prompt takes {} and max_tokens "
                               "asks for {} more",
                               context, prompt_tokens, p.max_tokens),
                   "max_tokens", "context_length_exceeded");
  }
  const std::shared_ptr<const rt::TokenVocabulary>& vocabulary = context_.scheduler->vocabulary();
  if ((p.grammar || p.logprobs >= 0) && !vocabulary) {
    const char* param = p.grammar ? "response_format" : "logprobs";
    throw ApiError(400, fmt::format("'{}' needs the model's tokenizer; this model has none", param),
                   param);
  }

  const SchedulerOptions& capacity = context_.scheduler->options();
  if (p.n > capacity.slots + capacity.max_queue) {
    throw ApiError(400,
                   fmt::format("'n' is {}; this server runs {} slots and queues {} (--slots, "
                               "--queue)",
                               p.n, capacity.slots, capacity.max_queue),
                   "n");
  }
  // n choices: n jobs, each seeded on from the request's seed, run side by side as slots allow.
  const uint64_t seed = p.seed_given ? p.seed : std::random_device{}() * 0x9E3779B97F4A7C15ull + 1;
  std::vector<std::shared_ptr<Job>> jobs;
  auto cancel_all = [&] {
    for (auto& job : jobs) job->Cancel();
  };
  for (int i = 0; i < p.n; ++i) {
    auto job = std::make_shared<Job>();
    job->prompt = prompt;
    job->stop_ids = stop_ids;
    job->max_tokens = p.max_tokens > 0 ? std::min(p.max_tokens, room) : room;
    job->sampling.temperature = p.temperature;
    job->sampling.top_p = p.top_p;
    job->sampling.top_k = p.top_k;
    job->sampling.seed = seed + static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull;
    job->stop = p.stop;
    job->penalties = p.penalties;
    job->top_logprobs = p.logprobs;
    job->grammar = p.grammar;
    const Scheduler::Admission admission = context_.scheduler->Submit(job);
    if (admission != Scheduler::Admission::kQueued) {
      cancel_all();
      if (admission == Scheduler::Admission::kStopping) {
        throw ApiError(503, "the server is shutting down");
      }
      throw ApiError(503, "every slot is busy and the queue is full; retry shortly", "",
                     "overloaded");
    }
    jobs.push_back(std::move(job));
  }

  const std::string id = fmt::format("{}-{}", chat ? "chatcmpl" : "cmpl", next_id_++);
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  const std::string& model_name = context_.limits.name;
  auto choice = [&](int index, const std::string& text, const json& finish_reason, bool delta,
                    json logprobs) {
    json c = {
        {"index", index}, {"logprobs", std::move(logprobs)}, {"finish_reason", finish_reason}};
    if (!chat) {
      c["text"] = text;
    } else if (delta) {
      c["delta"] = text.empty() ? json::object() : json{{"content", text}};
    } else {
      c["message"] = {{"role", "assistant"}, {"content", text}};
    }
    return c;
  };
  auto envelope = [&](json choices, bool chunk) {
    if (!choices.is_array()) choices = json::array({std::move(choices)});
    return json{{"id", id},
                {"object",
                 chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion"},
                {"created", created},
                {"model", model_name},
                {"choices", std::move(choices)}};
  };
  auto usage = [&](int completion_tokens) {
    return json{{"prompt_tokens", prompt_tokens},
                {"completion_tokens", completion_tokens},
                {"total_tokens", prompt_tokens + completion_tokens}};
  };
  auto error_of = [](const JobEvent& e) { return ApiError(e.status, e.text); };
  // Logprobs in the request's format: chat's list of tokens, or completions' legacy columns
  // (`offset`: where the next token starts in the choice's text).
  auto token_text = [&](int32_t token) {
    const std::string& bytes = vocabulary->bytes(token);
    return bytes.empty() ? context_.model->Detokenize(std::span<const int32_t>(&token, 1)) : bytes;
  };
  auto byte_list = [](const std::string& s) {
    json list = json::array();
    for (unsigned char c : s) list.push_back(c);
    return list;
  };
  auto logprobs_json = [&](const std::vector<TokenLogprobs>& tokens, size_t* offset) -> json {
    if (p.logprobs < 0) return nullptr;
    if (chat) {
      json content = json::array();
      for (const TokenLogprobs& t : tokens) {
        json top = json::array();
        for (const rt::TokenLogprob& alt : t.top) {
          const std::string s = token_text(alt.token);
          top.push_back({{"token", s}, {"logprob", alt.logprob}, {"bytes", byte_list(s)}});
        }
        const std::string s = token_text(t.token);
        content.push_back({{"token", s},
                           {"logprob", t.logprob},
                           {"bytes", byte_list(s)},
                           {"top_logprobs", std::move(top)}});
      }
      return json{{"content", std::move(content)}};
    }
    json out = {{"tokens", json::array()},
                {"token_logprobs", json::array()},
                {"top_logprobs", json::array()},
                {"text_offset", json::array()}};
    for (const TokenLogprobs& t : tokens) {
      const std::string s = token_text(t.token);
      json top = json::object();
      for (const rt::TokenLogprob& alt : t.top) top[token_text(alt.token)] = alt.logprob;
      out["tokens"].push_back(s);
      out["token_logprobs"].push_back(t.logprob);
      out["top_logprobs"].push_back(std::move(top));
      out["text_offset"].push_back(*offset);
      *offset += s.size();
    }
    return out;
  };

  // A job's next event; false once the client has gone (every job is then cancelled).
  JobEvent event;
  auto next_event = [&](Job& job) {
    while (!job.Next(&event, kPoll)) {
      if (connection.ClientGone()) {
        cancel_all();
        return false;
      }
    }
    return true;
  };
  const int n = static_cast<int>(jobs.size());
  std::vector<size_t> offsets(n, 0);
  int completion_tokens = 0;
  if (!p.stream) {
    json choices = json::array();
    for (int i = 0; i < n; ++i) {
      std::string text;
      std::vector<TokenLogprobs> logprobs;
      for (;;) {
        if (!next_event(*jobs[i])) return;
        if (event.kind == JobEvent::Kind::kText) {
          text += event.text;
          logprobs.insert(logprobs.end(), event.logprobs.begin(), event.logprobs.end());
        } else if (event.kind == JobEvent::Kind::kEnd) {
          completion_tokens += event.completion_tokens;
          choices.push_back(
              choice(i, text, event.finish_reason, false, logprobs_json(logprobs, &offsets[i])));
          break;
        } else {
          cancel_all();
          throw error_of(event);
        }
      }
    }
    json body = envelope(std::move(choices), false);
    body["usage"] = usage(completion_tokens);
    SendJson(connection, 200, body);
    return;
  }

  SseStream sse(connection);
  if (!sse.Begin()) {
    cancel_all();
    return;
  }
  if (chat) {
    for (int i = 0; i < n; ++i) {
      json first = envelope(choice(i, "", nullptr, true, nullptr), true);
      first["choices"][0]["delta"] = {{"role", "assistant"}, {"content", ""}};
      if (!sse.Send(first)) {
        cancel_all();
        return;
      }
    }
  }
  // The choices' events as they come; one choice waits as long as it likes, several are polled.
  std::vector<bool> done(n, false);
  int remaining = n;
  while (remaining > 0) {
    bool any = false;
    for (int i = 0; i < n; ++i) {
      if (done[i] || !jobs[i]->Next(&event, n == 1 ? kPoll : std::chrono::milliseconds(0))) {
        continue;
      }
      any = true;
      if (event.kind == JobEvent::Kind::kText) {
        if (!sse.Send(envelope(
                choice(i, event.text, nullptr, true, logprobs_json(event.logprobs, &offsets[i])),
                true))) {
          cancel_all();
          return;
        }
      } else if (event.kind == JobEvent::Kind::kEnd) {
        done[i] = true;
        --remaining;
        completion_tokens += event.completion_tokens;
        json last = envelope(choice(i, "", event.finish_reason, true, nullptr), true);
        if (remaining == 0) last["usage"] = usage(completion_tokens);
        sse.Send(last);
      } else {
        sse.Send(json::parse(ErrorJson(error_of(event))));
        cancel_all();
        return;
      }
    }
    if (!any) {
      if (connection.ClientGone()) {
        cancel_all();
        return;
      }
      if (n > 1) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  sse.Done();
}

std::string Routes::Metrics() {
  const SchedulerStats& s = context_.scheduler->stats();
  std::string out;
  out += "# HELP lmc_requests_total HTTP requests answered, by path and status.\n";
  out += "# TYPE lmc_requests_total counter\n";
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, count] : requests_) {
      out += fmt::format("lmc_requests_total{{path=\"{}\",status=\"{}\"}} {}\n", key.first,
                         key.second, count);
    }
  }
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
  };
  metric("lmc_prompt_tokens_total", "counter", "Prompt tokens prefilled.", s.prompt_tokens.load());
  metric("lmc_prompt_tokens_cached_total", "counter",
         "Prompt tokens not prefilled: their KV cache was reused (prefix cache).",
         s.cached_prompt_tokens.load());
  metric("lmc_generated_tokens_total", "counter", "Tokens generated.", s.generated_tokens.load());
  metric("lmc_steps_total", "counter", "Batched steps run.", s.steps.load());
  metric("lmc_requests_finished_total", "counter", "Generations that ran to their end.",
         s.finished.load());
  metric("lmc_requests_cancelled_total", "counter",
         "Generations cancelled (client gone, shutdown).", s.cancelled.load());
  metric("lmc_queue_depth", "gauge", "Requests waiting for a slot.", s.queued.load());
  metric("lmc_slots_busy", "gauge", "Slots running a request.", s.running.load());
  metric("lmc_slots", "gauge", "Slots (--slots).", context_.scheduler->options().slots);
  metric("lmc_prefill_seconds_total", "counter", "Time in steps that prefilled a prompt chunk.",
         s.prefill_seconds.load());
  metric("lmc_decode_seconds_total", "counter", "Time in steps that only decoded.",
         s.decode_seconds.load());
  metric("lmc_masked_tokens_total", "counter", "Tokens sampled under a JSON grammar's mask.",
         s.masked_tokens.load());
  metric("lmc_mask_seconds_total", "counter", "Time computing and applying JSON masks.",
         s.mask_seconds.load());
  return out;
}

}  // namespace lmc::serve
