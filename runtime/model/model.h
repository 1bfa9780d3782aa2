// The boundary between a generated model and the runtime's command line.
//
// lmc emits, for each spec, a source that defines GetModelInfo() and
// CreateModel(); `lmc build` adds a build_info.cc that defines kBuildInfo.
// The runtime (tokenizer, sampler, CLI) only sees this interface.
#pragma once

#include <memory>
#include <string>

namespace lmc::rt {

struct ModelInfo {
  const char* name;
  const char* spec_path;  // As given to lmc.
  const char* spec_yaml;  // The spec after extends and --set, as compiled.
  int vocab_size;
  int max_seq_len;
  int bos;  // -1 when the spec names none.
  int eos;
  const char* tokenizer_kind;  // The spec's tokenizer.kind.
  const char* weights_format;  // The spec's weights.format.
};

class Model {
 public:
  virtual ~Model() = default;
  // Maps the checkpoint and checks it against the compiled shapes; throws
  // Error naming the file and the mismatch.
  virtual void LoadWeights(const std::string& path) = 0;
  // Runs one token at position `pos` (0-based, positions before it already
  // run) and returns the logits [vocab_size], valid until the next call.
  virtual const float* Forward(int token, int pos) = 0;
};

// Defined by the generated model source.
const ModelInfo& GetModelInfo();
std::unique_ptr<Model> CreateModel();

// Defined by the build_info.cc that `lmc build` writes: compiler, flags, lmc version.
extern const char* const kBuildInfo;

}  // namespace lmc::rt
