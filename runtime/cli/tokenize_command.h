// `tokenize` and `detokenize`: one implementation for `lmc tokenize` (any
// tokenizer file, no model) and a model binary's `tokenize` (the model's
// tokenizer by default).
//
//   PROGRAM tokenize [--tokenizer FILE_OR_DIR] [--kind K] [--bos] [--eos] [--special]
//                    [--pattern REGEX] [--time] (TEXT | --stdin | --jsonl)
//   PROGRAM detokenize [--tokenizer FILE_OR_DIR] [--kind K] (IDS... | --stdin | --jsonl)
//
// tokenize prints the ids space-separated; --stdin encodes all of stdin as raw
// bytes; --jsonl reads one JSON string per line and prints one JSON array of ids
// per line; --time prints load and encode seconds to stderr. detokenize writes
// the decoded bytes; with --jsonl it reads one JSON array of ids per line and
// prints one JSON string per line.
// Exit codes: 0 success, 1 bad tokenizer file or input, 2 usage error.
#pragma once

#include <memory>
#include <string>

#include "runtime/cli/args.h"
#include "runtime/tokenizer/tokenizer.h"

namespace lmc::rt {

// Where the tokenizer comes from when --tokenizer is not given.
struct TokenizerSource {
  std::string program = "lmc";  // Names the program in messages.
  std::string kind;             // Default kind (the spec's); empty: detect from the file.
  std::string path;             // Default file (the spec's); empty: --tokenizer is required.
  int vocab_size = 0;           // When > 0, the tokenizer must fit the model's vocabulary.
};

// The tokenizer at `flag` (a --tokenizer value), else the source's file; read
// as `kind` if given, else as the source's kind. A default file that is gone
// is one Error telling the user to pass --tokenizer.
std::unique_ptr<Tokenizer> LoadTokenizerFor(const TokenizerSource& source, const std::string& flag,
                                            const std::string& kind = "");

// The commands' usage, flags included, as --help prints it (and `MODEL --help` lists them).
CommandHelp TokenizeHelp(const TokenizerSource& source);
CommandHelp DetokenizeHelp(const TokenizerSource& source);

// argv[0] is the command name ("tokenize" / "detokenize"). --help or -h: the usage on stdout.
int RunTokenize(int argc, char** argv, const TokenizerSource& source);
int RunDetokenize(int argc, char** argv, const TokenizerSource& source);

}  // namespace lmc::rt
