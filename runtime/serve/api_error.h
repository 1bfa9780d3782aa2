// The server's errors as OpenAI's API gives them:
//   {"error": {"message": "...", "type": "invalid_request_error", "param": "top_p", "code": null}}
// with the HTTP status that goes with them.
#pragma once

#include <stdexcept>
#include <string>

namespace lmc::serve {

struct ApiError : std::runtime_error {
  ApiError(int status, const std::string& message, std::string param = "", std::string code = "")
      : std::runtime_error(message),
        status(status),
        param(std::move(param)),
        code(std::move(code)) {}
  int status;
  std::string param;  // the request field at fault, "" for none
  std::string code;   // a machine-readable code, "" for none
};

// The JSON body: type from the status (invalid_request_error for 4xx, authentication_error
// for 401, server_error for 5xx); an empty param or code is null.
std::string ErrorJson(int status, const std::string& message, const std::string& param = "",
                      const std::string& code = "");
inline std::string ErrorJson(const ApiError& e) {
  return ErrorJson(e.status, e.what(), e.param, e.code);
}

}  // namespace lmc::serve
