// IR -> readable C++: a header (constants, weight struct, state, entry
// points) and a source (weight binding, the forward pass, the runtime glue),
// with every size a compile-time constant.
#pragma once

#include <string>

#include "compiler/ir/ir.h"

namespace lmc {

struct GeneratedFiles {
  std::string stem;  // File name stem: "stories260k" -> stories260k.h / .cpp / .ir
  std::string header;
  std::string source;
  std::string ir;
  // Not part of the emitted code (which must not depend on where the spec
  // lives): the spec's tokenizer.file made absolute, for lmc build to embed.
  std::string tokenizer_file;
  // The spec's tokenizer.chat_template compiled (compiler/chat_template/): C++ defining
  // lmc_chat_template::RenderChat, for lmc build to compile into the binary; empty if none.
  std::string chat_template_cpp;
  std::string chat_template_path;
  std::string chat_bos, chat_eos;  // the template file's own bos/eos token text, if it has them
  bool chat_has_bos = false, chat_has_eos = false;
  // > 1: the module is sharded for that many MPI ranks: lmc build links lmc_distributed.
  int tensor_parallel = 1;
};

// A function of the IR alone: `spec_path` only names the spec in banners
// (relative to the repo for checked-in output). The graph must be verified and
// buffer-planned.
GeneratedFiles EmitCpp(const ir::Graph& graph, const std::string& spec_path);

}  // namespace lmc
