#include "runtime/serve/sse.h"

namespace lmc::serve {

bool SseStream::Begin() {
  return connection_.BeginStream(200, "text/event-stream", {{"X-Accel-Buffering", "no"}});
}

bool SseStream::Send(const nlohmann::json& event) {
  // dump() escapes newlines: an event's data is one line.
  return connection_.Write(
      "data: " + event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n");
}

bool SseStream::Done() { return connection_.Write("data: [DONE]\n\n"); }

}  // namespace lmc::serve
