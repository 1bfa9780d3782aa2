// The tokenizer metadata of a GGUF file (tokenizer.ggml.*), read safely: every
// length and count is checked against the bytes left before anything is
// allocated, so a corrupt or hostile file fails with one Error naming the file
// and the byte offset.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/tokenizer/tokenizer.h"

namespace lmc::rt {

struct GgufVocab {
  std::string path;
  uint32_t version = 0;
  std::string model;  // tokenizer.ggml.model: "llama" (SentencePiece), "gpt2", "bert", "t5", ...
  std::string pre;  // tokenizer.ggml.pre: the pre-tokenizer name ("default", "gpt-2", "llama-bpe").
  std::vector<std::string> tokens;
  std::vector<float> scores;         // Empty when the file has none.
  std::vector<int32_t> token_types;  // llama.cpp's: 1 normal, 2 unknown, 3 control,
                                     // 4 user-defined, 5 unused, 6 byte. Empty when absent.
  std::vector<std::string> merges;   // "left right", in rank order (gpt2 vocabs).
  std::string precompiled_charsmap;  // tokenizer.ggml.precompiled_charsmap (t5 vocabs).
  int bos_id = -1;
  int eos_id = -1;
  int unk_id = -1;
  int sep_id = -1;
  int pad_id = -1;
  int cls_id = -1;
  int mask_id = -1;
  std::optional<bool> add_bos;
  std::optional<bool> add_eos;
  std::optional<bool> add_space_prefix;
  std::optional<bool> remove_extra_whitespaces;
};

// Reads the header (GGUF v2 or v3) and the tokenizer metadata; other keys are
// skipped. Throws Error naming the file and byte offset when the file is not
// GGUF, is truncated, or declares counts its size cannot hold.
GgufVocab ReadGgufVocab(const std::string& path);

// A tokenizer from a GGUF vocab: "llama" -> SentencePiece BPE with byte
// fallback; "bert" -> WordPiece; "gpt2" -> byte-level BPE with the
// pre-tokenizer tokenizer.ggml.pre names (gpt-2, mpt, llama-bpe, or none for
// GPT-NeoX). Other models and pre-tokenizers throw Error naming them.
std::unique_ptr<Tokenizer> LoadGgufTokenizer(const std::string& path);
std::unique_ptr<Tokenizer> MakeGgufTokenizer(const GgufVocab& vocab);

}  // namespace lmc::rt
