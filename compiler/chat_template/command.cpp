#include "compiler/chat_template/command.h"

#include <cstdio>
#include <string>
#include <string_view>

#include "compiler/chat_template/chat_template.h"
#include "compiler/support/file_io.h"

namespace lmc {

namespace {

constexpr const char* kUsage =
    "usage: lmc chat-template FILE [-o OUT.cpp] [--namespace NS]\n"
    "  Compiles a chat template (FILE: a .jinja file, a tokenizer_config.json or a GGUF) to the\n"
    "  C++ function a model binary's `chat` renders conversations with; prints it without -o.\n"
    "  A template lmc cannot compile is refused: FILE:LINE:COL and the construct.\n";

bool ValidNamespace(const std::string& ns) {
  if (ns.empty() || (ns[0] >= '0' && ns[0] <= '9')) return false;
  for (char c : ns)
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      return false;
  return true;
}

}  // namespace

int RunChatTemplate(int argc, char** argv) {
  std::string file, output, ns = "lmc_chat_template";
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if ((arg == "-o" || arg == "--namespace") && i + 1 < argc) {
      (arg == "-o" ? output : ns) = argv[++i];
      continue;
    }
    if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "lmc chat-template: unknown or incomplete option '%s'\n%s",
                   std::string(arg).c_str(), kUsage);
      return 2;
    }
    if (!file.empty()) {
      std::fprintf(stderr, "lmc chat-template: one template file at a time\n%s", kUsage);
      return 2;
    }
    file = arg;
  }
  if (file.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (!ValidNamespace(ns)) {
    std::fprintf(stderr, "lmc chat-template: --namespace must be a C++ identifier\n");
    return 2;
  }
  chat_template::TemplateFile source;
  std::string error, cpp;
  if (!chat_template::LoadTemplateFile(file, source, error) ||
      !chat_template::CompileTemplate(source.text, file, ns, cpp, error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  if (output.empty()) {
    std::fwrite(cpp.data(), 1, cpp.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  if (!WriteFileAtomically(output, cpp, 0644, error)) {
    std::fprintf(stderr, "lmc chat-template: %s\n", error.c_str());
    return 1;
  }
  return 0;
}

}  // namespace lmc
