// `lmc import MODEL.gguf -o SPEC [--name NAME]`: a spec from a llama.cpp GGUF
// file. Reads the file's metadata (general.architecture and its `<arch>.*`
// keys, tokenizer.ggml.*, tokenizer.chat_template) with the runtime's GGUF
// reader, and its tensor table (names, shapes, ggml types) when it has one, and
// writes a commented spec whose every value names the key or tensor it came
// from: weights.format gguf, llama.cpp's tensor names, each matrix's stored
// block type in weights.dtypes (a Q4_K_M file mixes Q4_K, Q6_K and F32), the
// file's own vocabulary as the tokenizer and its chat template.
//
// Architectures: llama (Llama 1/2/3, Mistral, TinyLlama), qwen2, gpt2, bloom,
// bert and t5, as far as the spec expresses them. Every metadata key the
// importer does not understand is reported, one warning line each; an
// architecture, key or tensor the spec cannot express is refused with one line
// naming the file and the key (exit 1). The spec is checked before it is
// written, atomically, and never over the input.
#pragma once

#include <llvm/Support/raw_ostream.h>

#include <string>

namespace lmc {

// Whether `path` is to be imported as GGUF: a name ending in ".gguf", or a
// regular file starting with the GGUF magic.
bool IsGgufInput(const std::string& path);

// Exit codes: 0 written, 1 bad or inexpressible file or unwritable output.
int RunImportGguf(const std::string& path, const std::string& output, const std::string& name,
                  llvm::raw_ostream& out, llvm::raw_ostream& err);

}  // namespace lmc
