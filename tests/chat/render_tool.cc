// Renders every template compiled into this program (tests/CMakeLists.txt: `lmc chat-template`
// at build time) over every conversation, as reference/render.js does with @huggingface/jinja,
// and prints the same JSON lines for chat_reference_test.sh to compare.
// usage: chat_render_tool TEMPLATES_JSON CONVERSATIONS_JSON
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/chat/template_runtime.h"
#include "tests/chat/registry.h"  // generated: kTemplates, {name, RenderChat}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: chat_render_tool TEMPLATES_JSON CONVERSATIONS_JSON\n";
    return 2;
  }
  auto read = [](const char* path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  nlohmann::json manifest = nlohmann::json::parse(read(argv[1]));
  std::string conversations_text = read(argv[2]);
  nlohmann::json conversations = nlohmann::json::parse(conversations_text);
  for (const auto& [name, tokens] : manifest.items()) {
    lmc::chat::RenderFunction render = nullptr;
    for (const auto& entry : kTemplates)
      if (name == entry.name) render = entry.render;
    if (!render) {
      std::cerr << "template " << name << " is not compiled into chat_render_tool\n";
      return 1;
    }
    for (size_t c = 0; c < conversations.size(); ++c) {
      // Through the messages reader `chat --messages` uses.
      std::vector<lmc::chat::Message> messages =
          lmc::chat::ParseMessagesJson("conversation", conversations[c].dump());
      for (bool agp : {false, true}) {
        lmc::chat::Inputs inputs;
        inputs.messages = &messages;
        inputs.bos_token = tokens["bos"];
        inputs.eos_token = tokens["eos"];
        inputs.add_generation_prompt = agp;
        nlohmann::json row = {
            {"template", name}, {"conversation", c}, {"add_generation_prompt", agp}};
        try {
          row["text"] = render(inputs);
          row["ok"] = true;
        } catch (const lmc::chat::TemplateError& e) {
          row["ok"] = false;
          row["error"] = e.what();
        }
        std::cout << row.dump() << "\n";
      }
    }
  }
  return 0;
}
