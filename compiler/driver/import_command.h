// `lmc import DIR -o SPEC [--name NAME]`: a spec from a Hugging Face model
// folder. Reads DIR/config.json (DIR may also name the config file itself),
// maps it key by key onto the spec format and writes a commented spec whose
// every value names the config key it came from. Tokenizer files in the folder
// set tokenizer.kind and tokenizer.file (relative to the spec).
//
// Classes: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM,
// GPT2LMHeadModel, OpenAIGPTLMHeadModel, BloomForCausalLM, BertModel and
// T5ForConditionalGeneration (the last two as far as the spec expresses them).
//
// Every config key the importer does not understand is reported on stderr, one
// warning line each; a value the spec cannot express is refused with one line
// naming the file and the key (exit 1). The spec is checked (parse and
// validate) before it is written, atomically, and never over a file of the
// input folder.
// A GGUF file (a name ending in .gguf, or the GGUF magic) goes to RunImportGguf
// (import_gguf.h).
// Exit codes: 0 written, 1 bad or inexpressible config or unwritable output.
#pragma once

#include <llvm/Support/raw_ostream.h>

#include <string>

namespace lmc {

int RunImport(const std::string& dir, const std::string& output, const std::string& name,
              llvm::raw_ostream& out, llvm::raw_ostream& err);

}  // namespace lmc
