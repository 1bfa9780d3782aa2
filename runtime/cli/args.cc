#include "runtime/cli/args.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <string_view>

#include "runtime/util/error.h"

namespace lmc::rt {

namespace {

template <typename T>
std::optional<T> ParseNumber(const std::string& text) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// How the user writes the flag: -n, --temperature.
std::string Flag(const std::string& name) { return (name.size() == 1 ? "-" : "--") + name; }

// "--top-p TOP_P", "-n N", "--ids".
std::string Synopsis(const FlagSpec& flag) {
  std::string text = Flag(flag.name);
  if (!flag.takes_value) return text;
  text += ' ';
  for (const char* c = flag.name; *c != '\0'; ++c) {
    text += *c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(*c)));
  }
  return text;
}

bool IsHelp(std::string_view arg) {
  return arg == "--help" || arg == "-help" || arg == "-h" || arg == "--h";
}

}  // namespace

std::string Usage(const std::string& program, const CommandHelp& command) {
  std::string out = fmt::format("usage: {} {}{}{}{}\n", program, command.name,
                                command.flags.empty() ? "" : " [flags]",
                                command.operands.empty() ? "" : " ", command.operands);
  if (!command.summary.empty()) out += command.summary + "\n";
  size_t width = std::string_view("-h, --help").size();
  for (const FlagSpec& f : command.flags) width = std::max(width, Synopsis(f).size());
  out += "flags:\n";
  for (const FlagSpec& f : command.flags) {
    out += fmt::format("  {:<{}}  {}\n", Synopsis(f), width, f.help);
  }
  out += fmt::format("  {:<{}}  {}\n", "-h, --help", width, "print this help and exit");
  return out;
}

bool WantsHelp(int argc, char** argv, int first, const std::vector<FlagSpec>& flags) {
  for (int i = first; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") return false;
    if (IsHelp(arg)) return true;
    if (arg.size() < 2 || arg[0] != '-' || arg.find('=') != std::string_view::npos) continue;
    arg.remove_prefix(arg[1] == '-' ? 2 : 1);
    for (const FlagSpec& f : flags) {
      if (arg == f.name && f.takes_value) ++i;  // its value, whatever it says
    }
  }
  return false;
}

Args::Args(const std::string& command, int argc, char** argv, int first,
           const std::vector<FlagSpec>& flags)
    : command_(command) {
  bool options_ended = false;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (options_ended || arg.size() < 2 || arg[0] != '-') {
      positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {  // Everything after is positional, even "-x" or "--x".
      options_ended = true;
      continue;
    }
    if (arg[1] != '-') arg = "-" + arg;  // -n, -n=3 == --n, --n=3
    std::string name = arg.substr(2), value;
    bool inline_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    const FlagSpec* spec = nullptr;
    for (const auto& f : flags) {
      if (name == f.name) spec = &f;
    }
    if (!spec) {
      if (flags.empty()) Fail("unknown flag {}: '{}' takes no flags", Flag(name), command_);
      std::string known;
      for (const auto& f : flags) known += std::string(known.empty() ? "" : ", ") + Flag(f.name);
      Fail(
          "unknown flag {} for '{}'; expected one of: {} (use -- before text that starts "
          "with '-')",
          Flag(name), command_, known);
    }
    if (spec->takes_value && !inline_value) {
      if (i + 1 >= argc) Fail("{} expects a value ({})", Flag(name), spec->help);
      value = argv[++i];
    } else if (!spec->takes_value && inline_value) {
      Fail("{} takes no value", Flag(name));
    }
    if (values_.count(name)) Fail("{} given twice", Flag(name));
    values_[name] = value;
    help_[name] = spec->help;
  }
}

std::string Args::String(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

std::string Args::Required(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) Fail("'{}' needs {}", command_, Flag(name));
  if (it->second.empty())
    Fail("{} expects a value ({}), found an empty string", Flag(name), help_.at(name));
  return it->second;
}

int Args::Int(const std::string& name, int fallback, int min, int max) const {
  if (!Has(name)) return fallback;
  auto value = ParseNumber<int>(values_.at(name));
  if (!value) Fail("{} expects an integer, found '{}'", Flag(name), values_.at(name));
  if (*value < min || *value > max) {
    Fail("{} must be in [{}, {}], found {}", Flag(name), min, max, *value);
  }
  return *value;
}

float Args::Float(const std::string& name, float fallback, float min, float max) const {
  if (!Has(name)) return fallback;
  // from_chars like the integers: no spaces, no '+', no hex; "inf" and "nan"
  // parse and are refused below.
  const std::string& text = values_.at(name);
  float value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  bool whole = end == text.data() + text.size();
  if (ec == std::errc::result_out_of_range && whole) {
    Fail("{} must be in [{}, {}], found {} (beyond 32-bit float range)", Flag(name), min, max,
         text);
  }
  if (ec != std::errc() || !whole || std::isnan(value)) {
    Fail("{} expects a number, found '{}'", Flag(name), text);
  }
  if (value < min || value > max) {
    Fail("{} must be in [{}, {}], found {}", Flag(name), min, max, text);
  }
  return value;
}

uint64_t Args::Uint64(const std::string& name, uint64_t fallback) const {
  if (!Has(name)) return fallback;
  auto value = ParseNumber<uint64_t>(values_.at(name));
  if (!value) Fail("{} expects a non-negative integer, found '{}'", Flag(name), values_.at(name));
  return *value;
}

std::vector<int> Args::IntList(const std::string& name) const {
  std::string text = Required(name);
  std::vector<int> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(start, comma - start);
    auto value = ParseNumber<int>(item);
    if (!value)
      Fail("{} expects comma-separated integers, found '{}' in '{}'", Flag(name), item, text);
    out.push_back(*value);
    start = comma + 1;
  }
  return out;
}

}  // namespace lmc::rt
