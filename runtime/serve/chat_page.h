// GET /: a small chat page for a browser (runtime/serve/chat_page.html, compiled into the
// binary by runtime/serve/embed_file.cmake), with what it needs to know of the server
// written into it.
#pragma once

#include <string>

namespace lmc::serve {

struct ChatPageConfig {
  std::string model;        // the served model's name
  bool chat = true;         // a chat template: /v1/chat/completions; else /v1/completions
  int context = 0;          // positions per slot
  bool embeddings = false;  // an encoder: /v1/embeddings only, nothing to chat with
  bool api_key = false;     // requests need Authorization: Bearer KEY (the page asks for it)
};

// The page's HTML. The configuration is a JavaScript object literal in a <script>: JSON with
// every '<', '>' and '&' (and non-ASCII) escaped, so no model name can end the script.
std::string ChatPage(const ChatPageConfig& config);

}  // namespace lmc::serve
