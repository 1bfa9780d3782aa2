#include "runtime/cli/tokenize_command.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
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

struct Args {
  std::string tokenizer, kind, pattern;
  bool bos = false, eos = false, special = false, stdin_ = false, jsonl = false;
  bool time = false;  // Print load and encode seconds to stderr.
  std::vector<std::string> positional;
};

int Usage(const char* command, const TokenizerSource& source, const std::string& message) {
  const char* tokenizer =
      source.path.empty() ? "--tokenizer FILE_OR_DIR" : "[--tokenizer FILE_OR_DIR]";
  std::fprintf(stderr, "%s %s: error: %s\n", source.program.c_str(), command, message.c_str());
  std::fprintf(stderr,
               "usage: %s tokenize %s [--kind K] [--bos] [--eos] [--special] "
               "[--pattern REGEX] (TEXT | --stdin | --jsonl)\n"
               "       %s detokenize %s [--kind K] (IDS... | --stdin | --jsonl)\n",
               source.program.c_str(), tokenizer, source.program.c_str(), tokenizer);
  return 2;
}

// Parses argv; returns an error message or "".
std::string ParseArgs(int argc, char** argv, bool tokenize, const TokenizerSource& source,
                      Args* args) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string* out) -> bool {
      size_t eq = a.find('=');
      if (eq != std::string_view::npos) {
        *out = std::string(a.substr(eq + 1));
        return true;
      }
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    auto is = [&](std::string_view name) {
      return a == name || a.starts_with(std::string(name) + "=");
    };
    if (is("--tokenizer")) {
      if (!value(&args->tokenizer)) return "--tokenizer needs a value";
    } else if (is("--kind")) {
      if (!value(&args->kind)) return "--kind needs a value";
    } else if (tokenize && is("--pattern")) {
      if (!value(&args->pattern)) return "--pattern needs a value";
    } else if (tokenize && a == "--bos") {
      args->bos = true;
    } else if (tokenize && a == "--eos") {
      args->eos = true;
    } else if (tokenize && a == "--special") {
      args->special = true;
    } else if (tokenize && a == "--time") {
      args->time = true;
    } else if (a == "--stdin") {
      args->stdin_ = true;
    } else if (a == "--jsonl") {
      args->jsonl = true;
    } else if (a == "--") {
      for (++i; i < argc; ++i) args->positional.push_back(argv[i]);
    } else if (a.size() > 1 && a[0] == '-' && !(a[1] >= '0' && a[1] <= '9')) {
      return "unknown option " + std::string(a);
    } else {
      args->positional.push_back(std::string(a));
    }
  }
  if (args->tokenizer.empty() && source.path.empty()) return "--tokenizer FILE_OR_DIR is required";
  int sources = (args->stdin_ ? 1 : 0) + (args->jsonl ? 1 : 0) + (args->positional.empty() ? 0 : 1);
  if (sources != 1) {
    return tokenize ? "give exactly one of TEXT, --stdin, --jsonl"
                    : "give exactly one of IDS..., --stdin, --jsonl";
  }
  if (tokenize && args->positional.size() > 1) return "give the text as one argument (quote it)";
  return "";
}

std::unique_ptr<Tokenizer> Load(const Args& args, const TokenizerSource& source) {
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

int RunTokenize(int argc, char** argv, const TokenizerSource& source) {
  Args args;
  if (std::string e = ParseArgs(argc, argv, true, source, &args); !e.empty()) {
    return Usage("tokenize", source, e);
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
  Args args;
  if (std::string e = ParseArgs(argc, argv, false, source, &args); !e.empty()) {
    return Usage("detokenize", source, e);
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
