#include "runtime/weights/checkpoint_json.h"

#include <set>
#include <vector>

#include "runtime/util/error.h"

namespace lmc::rt {

using Json = nlohmann::json;

Json ParseCheckpointJson(const std::string& path, std::string_view text, size_t file_offset,
                         std::string_view what, RepeatedKey* repeated) {
  std::vector<std::set<std::string>> keys;  // one set per open object
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        keys.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!keys.back().insert(parsed.get<std::string>()).second && repeated->key.empty()) {
          *repeated = {parsed.get<std::string>(), depth};
        }
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), callback);
  } catch (const Json::parse_error& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 7: syntax error ...":
    // keep what follows the position, which is given as a file offset instead.
    std::string message = e.what();
    if (auto at = message.find("] "); at != std::string::npos) message.erase(0, at + 2);
    if (message.starts_with("parse error") && message.find(": ") != std::string::npos) {
      message.erase(0, message.find(": ") + 2);
    }
    const size_t offset = file_offset + (e.byte > 0 ? e.byte - 1 : 0);
    Fail("{}: {} is not valid JSON at file byte {}: {}", path, what, offset,
         EscapeControlBytes(message));
  } catch (const Json::exception& e) {
    std::string message = e.what();  // "[json.exception.out_of_range.406] number overflow ..."
    if (auto at = message.find("] "); at != std::string::npos) message.erase(0, at + 2);
    Fail("{}: {} is not usable JSON: {}", path, what, EscapeControlBytes(message));
  }
}

}  // namespace lmc::rt
