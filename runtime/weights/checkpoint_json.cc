#include "runtime/weights/checkpoint_json.h"

#include <unordered_set>
#include <vector>

#include "runtime/util/error.h"

namespace lmc::rt {

using Json = nlohmann::json;

namespace {

// nlohmann's DOM builder, noting the first key that an object repeats. (Its callback parser
// would too, but after each object it scans the enclosing one for a discarded value:
// quadratic in the tensors of a safetensors header.)
class StrictDomParser : public nlohmann::detail::json_sax_dom_parser<Json> {
 public:
  StrictDomParser(Json& result, RepeatedKey* repeated)
      : json_sax_dom_parser(result, /*allow_exceptions_=*/true), repeated_(repeated) {}

  bool start_object(std::size_t elements) {
    ++depth_;
    keys_.emplace_back();
    return json_sax_dom_parser::start_object(elements);
  }
  bool end_object() {
    --depth_;
    keys_.pop_back();
    return json_sax_dom_parser::end_object();
  }
  bool start_array(std::size_t elements) {
    ++depth_;
    return json_sax_dom_parser::start_array(elements);
  }
  bool end_array() {
    --depth_;
    return json_sax_dom_parser::end_array();
  }
  bool key(Json::string_t& key) {
    if (!keys_.back().insert(key).second && repeated_->key.empty()) *repeated_ = {key, depth_};
    return json_sax_dom_parser::key(key);
  }

 private:
  RepeatedKey* repeated_;
  int depth_ = 0;                                      // open objects and arrays
  std::vector<std::unordered_set<std::string>> keys_;  // one set per open object
};

}  // namespace

Json ParseCheckpointJson(const std::string& path, std::string_view text, size_t file_offset,
                         std::string_view what, RepeatedKey* repeated) {
  Json result;
  StrictDomParser parser(result, repeated);
  try {
    Json::sax_parse(text.begin(), text.end(), &parser);
    return result;
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
