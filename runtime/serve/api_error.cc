#include "runtime/serve/api_error.h"

#include <nlohmann/json.hpp>

namespace lmc::serve {

std::string ErrorJson(int status, const std::string& message, const std::string& param,
                      const std::string& code) {
  const char* type = status == 401   ? "authentication_error"
                     : status == 404 ? "not_found_error"
                     : status == 503 ? "overloaded_error"
                     : status >= 500 ? "server_error"
                                     : "invalid_request_error";
  nlohmann::json error = {
      {"message", message},
      {"type", type},
      {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
      {"code", code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code)}};
  // Messages can quote a client's bytes: invalid UTF-8 becomes U+FFFD, never a throw.
  return nlohmann::json{{"error", error}}.dump(-1, ' ', false,
                                               nlohmann::json::error_handler_t::replace);
}

}  // namespace lmc::serve
