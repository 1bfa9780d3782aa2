// `lmc tokenize` and `lmc detokenize`: any tokenizer file, without a model.
//
//   lmc tokenize --tokenizer FILE_OR_DIR [--kind K] [--bos] [--eos] [--special]
//                [--pattern REGEX] [--time] (TEXT | --stdin | --jsonl)
//   lmc detokenize --tokenizer FILE_OR_DIR [--kind K] (IDS... | --stdin | --jsonl)
//
// tokenize prints the ids space-separated; --stdin encodes all of stdin as raw
// bytes; --jsonl reads one JSON string per line and prints one JSON array of ids
// per line; --time prints load and encode seconds to stderr. detokenize writes the decoded bytes;
// with --jsonl it reads one JSON array of ids per line and prints one JSON string per line. Exit
// codes: 0 success, 1 bad tokenizer file or input, 2 usage error.
#pragma once

namespace lmc {

// argv[0] is the command name ("tokenize" / "detokenize").
int RunTokenize(int argc, char** argv);
int RunDetokenize(int argc, char** argv);

}  // namespace lmc
