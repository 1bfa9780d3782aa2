#include "runtime/cli/tokenize_command.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/tokenizer/bpe.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/utf8.h"
#include "runtime/util/error.h"

namespace lmc::rt {
namespace {

struct Options {
  std::string tokenizer, kind, pattern;
  bool bos = false, eos = false, special = false, stdin_ = false, jsonl = false;
  bool time = false;  // Print load and encode seconds to stderr.
  std::vector<std::string> positional;
};

// The flags of tokenize or detokenize: what ParseArgs reads and --help shows.
std::vector<FlagSpec> Flags(bool tokenize, const TokenizerSource& source) {
  std::vector<FlagSpec> flags = {
      {"tokenizer", source.path.empty()
                        ? "tokenizer file or folder (required)"
                        : "tokenizer file or folder (default: the spec's tokenizer.file)"},
      {"kind", source.kind.empty()
                   ? "read it as llama2c, sentencepiece, tiktoken, gpt2_bpe, huggingface, "
                     "wordpiece or gguf (default: detected from the file)"
                   : "read it as llama2c, sentencepiece, tiktoken, gpt2_bpe, huggingface, "
                     "wordpiece or gguf (default: the spec's tokenizer.kind)"},
  };
  if (tokenize) {
    flags.insert(
        flags.end(),
        {{"bos", "start with the begin-of-sequence id", false},
         {"eos", "end with the end-of-sequence id", false},
         {"special", "special tokens written in the text are their ids", false},
         {"pattern", "pre-tokenizer regex (tiktoken and huggingface BPE only)"},
         {"time", "print load and encode seconds to stderr", false},
         {"stdin", "encode all of stdin, as raw bytes, instead of TEXT", false},
         {"jsonl", "read one JSON string per line; print one JSON array of ids per line", false}});
  } else {
    flags.insert(
        flags.end(),
        {{"stdin", "read whitespace-separated ids from stdin instead of IDS", false},
         {"jsonl", "read one JSON array of ids per line; print one JSON string per line", false}});
  }
  return flags;
}

int UsageError(const CommandHelp& help, const TokenizerSource& source, const std::string& message) {
  std::fprintf(stderr, "%s %s: error: %s\n", source.program.c_str(), help.name.c_str(),
               message.c_str());
  std::fprintf(stderr, "usage: %s %s [flags] %s ('%s %s --help' lists the flags)\n",
               source.program.c_str(), help.name.c_str(), help.operands.c_str(),
               source.program.c_str(), help.name.c_str());
  return 2;
}

// --help: the usage on stdout, exit 0 (1 if stdout cannot take it).
int PrintHelp(const CommandHelp& help, const TokenizerSource& source) {
  try {
    WriteStdout(Usage(source.program, help));
    FinishStdout();
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "%s %s: error: %s\n", source.program.c_str(), help.name.c_str(), e.what());
    return 1;
  }
}

// Parses argv against `help.flags`; returns an error message or "".
std::string ParseArgs(int argc, char** argv, const CommandHelp& help, const TokenizerSource& source,
                      Options* args) {
  const bool tokenize = help.name == "tokenize";
  std::map<std::string, std::string, std::less<>> values;  // Of the flags given.
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") {
      for (++i; i < argc; ++i) args->positional.push_back(argv[i]);
      break;
    }
    // "-5" is an argument (detokenize refuses it as an id), not a flag.
    if (a.size() < 2 || a[0] != '-' || (a[1] >= '0' && a[1] <= '9')) {
      args->positional.push_back(std::string(a));
      continue;
    }
    const size_t eq = a.find('=');
    const std::string_view name = a.substr(0, eq);
    const FlagSpec* flag = nullptr;
    for (const FlagSpec& f : help.flags) {
      if (name.starts_with("--") && name.substr(2) == f.name) flag = &f;
    }
    if (flag == nullptr || (!flag->takes_value && eq != std::string_view::npos)) {
      return "unknown option " + std::string(a);
    }
    std::string value;
    if (eq != std::string_view::npos) {
      value = std::string(a.substr(eq + 1));
    } else if (flag->takes_value) {
      if (i + 1 >= argc) return std::string(name) + " needs a value";
      value = argv[++i];
    }
    values[flag->name] = value;
  }
  auto text = [&](const char* name) {
    auto it = values.find(name);
    return it == values.end() ? std::string() : it->second;
  };
  args->tokenizer = text("tokenizer");
  args->kind = text("kind");
  args->pattern = text("pattern");
  args->bos = values.count("bos") != 0;
  args->eos = values.count("eos") != 0;
  args->special = values.count("special") != 0;
  args->time = values.count("time") != 0;
  args->stdin_ = values.count("stdin") != 0;
  args->jsonl = values.count("jsonl") != 0;
  if (args->tokenizer.empty() && source.path.empty()) return "--tokenizer FILE_OR_DIR is required";
  int sources = (args->stdin_ ? 1 : 0) + (args->jsonl ? 1 : 0) + (args->positional.empty() ? 0 : 1);
  if (sources != 1) {
    return tokenize ? "give exactly one of TEXT, --stdin, --jsonl"
                    : "give exactly one of IDS..., --stdin, --jsonl";
  }
  if (tokenize && args->positional.size() > 1) return "give the text as one argument (quote it)";
  return "";
}

std::unique_ptr<Tokenizer> Load(const Options& args, const TokenizerSource& source) {
  if (args.pattern.empty()) return LoadTokenizerFor(source, args.tokenizer, args.kind);
  if (args.tokenizer.empty()) Fail("--pattern needs --tokenizer FILE_OR_DIR");
  std::string kind = args.kind.empty() ? source.kind : args.kind;
  if (kind.empty()) {
    std::error_code ec;
    bool folder = std::filesystem::is_directory(args.tokenizer, ec);
    kind = folder || args.tokenizer.ends_with(".json") ? "huggingface" : "tiktoken";
  }
  if (kind == "tiktoken") return LoadTiktoken(args.tokenizer, args.pattern);
  if (kind == "huggingface") return LoadHuggingFaceBpe(args.tokenizer, args.pattern);
  Fail("--pattern: only tiktoken and huggingface tokenizers take a pre-tokenizer regex, not {}",
       kind);
}

std::string ReadStdin() {
  std::string data;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), stdin)) > 0) data.append(buffer, n);
  return data;
}

void Write(const std::string& s) { WriteStdout(s); }

void AppendInt(int v, std::string* out) {
  char buffer[16];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), v);
  (void)ec;
  out->append(buffer, end);
}

int Hex4(std::string_view s, size_t pos) {
  if (pos + 4 > s.size()) return -1;
  int v = 0;
  for (size_t i = pos; i < pos + 4; ++i) {
    char c = s[i];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// One JSON string (the whole line) to its bytes. A lone surrogate becomes U+FFFD,
// as the references' conversion of a JavaScript string to UTF-8 does.
bool ParseJsonString(std::string_view line, std::string* out) {
  out->clear();
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
    line.remove_suffix(1);
  if (line.size() < 2 || line.front() != '"' || line.back() != '"') return false;
  for (size_t i = 1; i + 1 < line.size(); ++i) {
    char c = line[i];
    if (c == '"' || static_cast<unsigned char>(c) < 0x20) return false;
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    if (i + 2 >= line.size()) return false;
    char e = line[++i];
    switch (e) {
      case '"':
        out->push_back('"');
        break;
      case '\\':
        out->push_back('\\');
        break;
      case '/':
        out->push_back('/');
        break;
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'u': {
        int u = Hex4(line, i + 1);
        if (u < 0) return false;
        i += 4;
        uint32_t cp = u;
        if (u >= 0xD800 && u <= 0xDBFF && i + 6 < line.size() && line[i + 1] == '\\' &&
            line[i + 2] == 'u') {
          int low = Hex4(line, i + 3);
          if (low >= 0xDC00 && low <= 0xDFFF) {
            cp = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00);
            i += 6;
          }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = utf8::kReplacement;
        utf8::Append(cp, out);
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

void AppendJsonString(std::string_view bytes, std::string* out) {
  std::string text = utf8::IsValid(bytes) ? std::string(bytes) : utf8::Lossy(bytes);
  out->push_back('"');
  for (char c : text) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out->append(fmt::format("\\u{:04x}", static_cast<int>(c)));
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

// Calls f(line_number, line) for each line of stdin (a final newline ends the
// last line), reading it in chunks.
template <typename F>
void ForEachStdinLine(F f) {
  std::string buffer;
  std::vector<char> chunk(1 << 20);
  size_t line = 0, n;
  auto lines = [&](std::string_view data) {
    size_t pos = 0;
    while (pos < data.size()) {
      size_t eol = data.find('\n', pos);
      if (eol == std::string_view::npos) eol = data.size();
      f(++line, data.substr(pos, eol - pos));
      pos = eol + 1;
    }
  };
  while ((n = std::fread(chunk.data(), 1, chunk.size(), stdin)) > 0) {
    size_t last = std::string_view(chunk.data(), n).rfind('\n');
    if (last == std::string_view::npos) {
      buffer.append(chunk.data(), n);
      continue;
    }
    buffer.append(chunk.data(), last + 1);
    lines(buffer);
    buffer.assign(chunk.data() + last + 1, n - last - 1);
  }
  lines(buffer);
}

int ParseId(std::string_view s, const std::string& where) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    Fail("{}: expected a token id, found '{}'", where, std::string(s.substr(0, 40)));
  }
  return v;
}

}  // namespace

std::unique_ptr<Tokenizer> LoadTokenizerFor(const TokenizerSource& source, const std::string& flag,
                                            const std::string& kind) {
  std::string k = kind.empty() ? source.kind : kind;
  if (!flag.empty()) return LoadTokenizer(k, flag, source.vocab_size);
  if (source.path.empty()) Fail("no tokenizer: pass --tokenizer FILE_OR_DIR");
  std::error_code ec;
  if (!std::filesystem::exists(source.path, ec)) {
    Fail(
        "{}: the model's tokenizer file (the spec's tokenizer.file) is missing; pass --tokenizer "
        "FILE_OR_DIR",
        source.path);
  }
  return LoadTokenizer(k, source.path, source.vocab_size);
}

CommandHelp TokenizeHelp(const TokenizerSource& source) {
  return {"tokenize", "(TEXT | --stdin | --jsonl)",
          "Prints the token ids of TEXT (or of stdin), space-separated.", Flags(true, source)};
}

CommandHelp DetokenizeHelp(const TokenizerSource& source) {
  return {"detokenize", "(IDS... | --stdin | --jsonl)", "Writes the text of token ids.",
          Flags(false, source)};
}

int RunTokenize(int argc, char** argv, const TokenizerSource& source) {
  const CommandHelp help = TokenizeHelp(source);
  if (WantsHelp(argc, argv, 1, help.flags)) return PrintHelp(help, source);
  Options args;
  if (std::string e = ParseArgs(argc, argv, help, source, &args); !e.empty()) {
    return UsageError(help, source, e);
  }
  try {
    auto start = std::chrono::steady_clock::now();
    auto tokenizer = Load(args, source);
    auto loaded = std::chrono::steady_clock::now();
    double encode_seconds = 0;
    size_t text_bytes = 0;
    auto encode = [&](std::string_view text, const EncodeOptions& options) {
      auto t0 = std::chrono::steady_clock::now();
      std::vector<int> ids = tokenizer->Encode(text, options);
      encode_seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      text_bytes += text.size();
      return ids;
    };
    EncodeOptions options;
    options.add_bos = args.bos;
    options.add_eos = args.eos;
    options.parse_special = args.special;
    std::string out;
    auto append_ids = [&](const std::vector<int>& ids, const char* sep) {
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i > 0) out.append(sep);
        AppendInt(ids[i], &out);
      }
    };
    if (args.jsonl) {
      std::string text;
      ForEachStdinLine([&](size_t line, std::string_view json) {
        if (!ParseJsonString(json, &text))
          Fail("stdin:{}: expected one JSON string per line", line);
        out.push_back('[');
        append_ids(encode(text, options), ",");
        out.append("]\n");
        if (out.size() > (1 << 20)) {
          Write(out);
          out.clear();
        }
      });
    } else {
      std::string text = args.stdin_ ? ReadStdin() : args.positional[0];
      append_ids(encode(text, options), " ");
      out.push_back('\n');
    }
    Write(out);
    if (args.time) {
      std::fprintf(stderr, "load %.6f s, encode %.6f s for %zu bytes, total %.6f s\n",
                   std::chrono::duration<double>(loaded - start).count(), encode_seconds,
                   text_bytes,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    FinishStdout();
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "%s tokenize: error: %s\n", source.program.c_str(), e.what());
    return 1;
  }
}

int RunDetokenize(int argc, char** argv, const TokenizerSource& source) {
  const CommandHelp help = DetokenizeHelp(source);
  if (WantsHelp(argc, argv, 1, help.flags)) return PrintHelp(help, source);
  Options args;
  if (std::string e = ParseArgs(argc, argv, help, source, &args); !e.empty()) {
    return UsageError(help, source, e);
  }
  try {
    auto tokenizer = Load(args, source);
    std::vector<int> ids;
    if (args.jsonl) {
      std::string out;
      ForEachStdinLine([&](size_t line, std::string_view json) {
        std::string where = fmt::format("stdin:{}", line);
        while (!json.empty() && (json.back() == '\r' || json.back() == ' ')) json.remove_suffix(1);
        if (json.size() < 2 || json.front() != '[' || json.back() != ']') {
          Fail("{}: expected one JSON array of token ids per line", where);
        }
        ids.clear();
        std::string_view inner = json.substr(1, json.size() - 2);
        size_t pos = 0;
        while (pos < inner.size()) {
          size_t comma = inner.find(',', pos);
          if (comma == std::string_view::npos) comma = inner.size();
          std::string_view item = inner.substr(pos, comma - pos);
          while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
          while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
          if (!(item.empty() && ids.empty() && comma == inner.size()))
            ids.push_back(ParseId(item, where));
          pos = comma + 1;
        }
        AppendJsonString(tokenizer->Decode(ids), &out);
        out.push_back('\n');
      });
      Write(out);
    } else {
      if (args.stdin_) {
        std::string data = ReadStdin();
        size_t pos = 0;
        while (true) {
          pos = data.find_first_not_of(" \t\r\n", pos);
          if (pos == std::string::npos) break;
          size_t end = data.find_first_of(" \t\r\n", pos);
          if (end == std::string::npos) end = data.size();
          ids.push_back(ParseId(std::string_view(data).substr(pos, end - pos), "stdin"));
          pos = end;
        }
      } else {
        for (const std::string& a : args.positional) ids.push_back(ParseId(a, "argument"));
      }
      Write(tokenizer->Decode(ids));
    }
    FinishStdout();
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "%s detokenize: error: %s\n", source.program.c_str(), e.what());
    return 1;
  }
}

}  // namespace lmc::rt
