// A conversation: the messages a chat template renders.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lmc::chat {

struct Message {
  std::string role;     // "system", "user", "assistant", ...
  std::string content;  // UTF-8 text
};

// Parses a messages file: a JSON array of {"role": "...", "content": "..."} objects, or an
// object whose "messages" key holds that array. Each message has exactly those two string
// keys (compiled templates are specialized to them: a message with "tool_calls" is refused,
// never rendered without them). Throws rt::Error "PATH: ..." naming the message and the key.
std::vector<Message> ParseMessagesJson(const std::string& path, std::string_view text);
std::vector<Message> ReadMessagesFile(const std::string& path);

}  // namespace lmc::chat
