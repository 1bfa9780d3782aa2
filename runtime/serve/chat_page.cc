#include "runtime/serve/chat_page.h"

#include <nlohmann/json.hpp>
#include <string_view>

#include "runtime/util/error.h"

namespace lmc::serve {

// chat_page.html's bytes (chat_page_data.cc, generated at build time).
extern const unsigned char kChatPage[];
extern const unsigned long kChatPage_size;

std::string ChatPage(const ChatPageConfig& config) {
  const nlohmann::json j = {{"model", config.model},
                            {"chat", config.chat},
                            {"context", config.context},
                            {"embeddings", config.embeddings},
                            {"api_key", config.api_key}};
  std::string literal;
  for (char c : j.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace)) {
    switch (c) {
      case '<':
        literal += "\\u003c";
        break;
      case '>':
        literal += "\\u003e";
        break;
      case '&':
        literal += "\\u0026";
        break;
      default:
        literal += c;
    }
  }
  std::string page(reinterpret_cast<const char*>(kChatPage), kChatPage_size);
  // The placeholder: `/*LMC_CONFIG*/ { ...defaults... };` on one line.
  constexpr std::string_view kMarker = "/*LMC_CONFIG*/";
  const size_t at = page.find(kMarker);
  const size_t end = at == std::string::npos ? at : page.find(";\n", at);
  if (end == std::string::npos) rt::Fail("internal: chat_page.html has no {} line", kMarker);
  page.replace(at, end - at, literal);
  return page;
}

}  // namespace lmc::serve
