// A strict command-line parser for model binaries: `--name value`,
// `--name=value` (or with one dash), positional arguments, `--` before
// positional arguments that start with '-', and nothing unknown. Numbers are
// written plainly (no spaces, no '+'). Every problem is an Error naming the
// flag and what was expected.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lmc::rt {

struct FlagSpec {
  const char* name;  // Without dashes: "temperature".
  const char* help;
  bool takes_value = true;
};

// A command as its help shows it: `usage: PROGRAM NAME [flags] OPERANDS`, a one-line
// summary, then each flag with its help, from the same list its parser reads.
struct CommandHelp {
  std::string name;      // "generate"
  std::string operands;  // "(TEXT | --stdin | --jsonl)", or empty
  std::string summary;
  std::vector<FlagSpec> flags;
};
std::string Usage(const std::string& program, const CommandHelp& command);

// Whether argv[first..argc) asks for help: --help or -h as a flag, not as the value of one
// of `flags` nor after "--".
bool WantsHelp(int argc, char** argv, int first, const std::vector<FlagSpec>& flags);

class Args {
 public:
  // Parses argv[first..argc) for `command` against `flags`.
  Args(const std::string& command, int argc, char** argv, int first,
       const std::vector<FlagSpec>& flags);

  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  std::string String(const std::string& name, const std::string& fallback) const;
  // The value of a flag that must be given, and not as an empty string.
  std::string Required(const std::string& name) const;
  int Int(const std::string& name, int fallback, int min, int max) const;
  float Float(const std::string& name, float fallback, float min, float max) const;
  uint64_t Uint64(const std::string& name, uint64_t fallback) const;
  // "1,2,3" -> {1, 2, 3}.
  std::vector<int> IntList(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::string command_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> help_;  // Of the flags given.
  std::vector<std::string> positional_;
};

}  // namespace lmc::rt
