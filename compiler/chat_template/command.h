// `lmc chat-template FILE [-o OUT.cpp] [--namespace NS]`: compiles a chat template (a .jinja
// file, a tokenizer_config.json or a GGUF) to C++, or refuses it in one line.
#pragma once

namespace lmc {

// argv[0] is "chat-template". Exit 0 compiled, 1 refused or unreadable, 2 usage.
int RunChatTemplate(int argc, char** argv);

}  // namespace lmc
