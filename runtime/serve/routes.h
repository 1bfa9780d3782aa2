// The server's endpoints: what each request path does, from the parsed request to the
// response (JSON, or server-sent events for `stream: true`).
//
//   GET  /health               {"status": "ok"} (503 while shutting down); needs no API key
//   GET  /v1/models            the one model served (and /v1/models/NAME)
//   POST /v1/completions       a prompt's continuation
//   POST /v1/chat/completions  a reply to messages, rendered with the model's chat template
//   POST /v1/embeddings        one pooled hidden state per input (embeddings.h)
//   GET  /                     a chat page for a browser (chat_page.h)
//   POST /tokenize             {"content": text} -> {"tokens": [ids]}
//   POST /detokenize           {"tokens": [ids]} -> {"content": text}
//   GET  /metrics              Prometheus text: requests, tokens in and out, queue depth
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "lmc/lmc.hpp"
#include "runtime/chat/template_runtime.h"
#include "runtime/serve/embeddings.h"
#include "runtime/serve/http_server.h"
#include "runtime/serve/request.h"
#include "runtime/serve/scheduler.h"

namespace lmc::serve {

struct ServerContext {
  lmc::Model* model = nullptr;
  Scheduler* scheduler = nullptr;
  ModelLimits limits;
  const chat::ModelTemplate* chat_template = nullptr;  // nullptr: chat answers 400
  int32_t bos = -1;                                    // starts a completion's prompt
  std::vector<int32_t> completion_stop_ids;            // as `generate` stops
  std::vector<int32_t> chat_stop_ids;                  // as `chat` stops
  std::string api_key;                                 // "": no key needed
  Embedder* embedder = nullptr;                        // nullptr: /v1/embeddings answers 400
  bool encoder = false;  // an encoder: embeddings only, completions answer 400
  std::atomic<bool> stopping{false};
};

class Routes {
 public:
  explicit Routes(ServerContext& context);
  void Handle(const HttpRequest& request, HttpConnection& connection);

 private:
  void Completion(const HttpRequest& request, HttpConnection& connection, bool chat);
  std::string Metrics();
  void Count(const std::string& path, int status);

  ServerContext& context_;
  int64_t started_;  // Unix time, the models' "created"
  std::atomic<uint64_t> next_id_{1};
  std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (path, status) -> count
};

// Whether `given` equals `secret`, in time that depends only on the secret's length.
bool SameSecret(const std::string& secret, const std::string& given);

}  // namespace lmc::serve
