#include "runtime/chat/messages.h"

#include <fstream>
#include <sstream>

#include "runtime/util/error.h"
#include "runtime/weights/checkpoint_json.h"

namespace lmc::chat {

std::vector<Message> ParseMessagesJson(const std::string& path, std::string_view text) {
  rt::RepeatedKey repeated;
  nlohmann::json json = rt::ParseCheckpointJson(path, text, 0, "the messages file", &repeated);
  if (!repeated.key.empty())
    rt::Fail("{}: key \"{}\" appears twice in one object", path,
             rt::EscapeControlBytes(repeated.key));
  const nlohmann::json* list = &json;
  if (json.is_object()) {
    auto it = json.find("messages");
    if (it == json.end() || json.size() != 1)
      rt::Fail("{}: expected an array of messages or {{\"messages\": [...]}}", path);
    list = &*it;
  }
  if (!list->is_array()) rt::Fail("{}: expected an array of messages", path);
  std::vector<Message> messages;
  for (size_t n = 0; n < list->size(); ++n) {
    const nlohmann::json& m = (*list)[n];
    if (!m.is_object())
      rt::Fail("{}: message {} is not an object with \"role\" and \"content\"", path, n);
    for (const auto& [key, value] : m.items()) {
      if (key != "role" && key != "content")
        rt::Fail("{}: message {} has key \"{}\"; a message has only \"role\" and \"content\"", path,
                 n, rt::EscapeControlBytes(key));
      if (!value.is_string()) rt::Fail("{}: message {}: \"{}\" is not a string", path, n, key);
    }
    if (!m.contains("role") || !m.contains("content"))
      rt::Fail("{}: message {} lacks \"{}\"", path, n, m.contains("role") ? "content" : "role");
    messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  return messages;
}

std::vector<Message> ReadMessagesFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) rt::Fail("{}: cannot open the messages file", path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) rt::Fail("{}: cannot read the messages file", path);
  return ParseMessagesJson(path, text.str());
}

}  // namespace lmc::chat
