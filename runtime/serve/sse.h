// Server-sent events, as OpenAI streams them: each event one `data: JSON` line and a blank
// line; the stream ends with `data: [DONE]`.
#pragma once

#include <nlohmann/json.hpp>

#include "runtime/serve/http_server.h"

namespace lmc::serve {

class SseStream {
 public:
  explicit SseStream(HttpConnection& connection) : connection_(connection) {}
  // The response's head (200, text/event-stream). False: the client is gone.
  bool Begin();
  bool Send(const nlohmann::json& event);
  bool Done();

 private:
  HttpConnection& connection_;
};

}  // namespace lmc::serve
