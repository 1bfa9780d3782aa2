// The boundary between a generated model and the runtime's command line.
//
// lmc emits, for each spec, a source that defines GetModelInfo() and
// CreateModel(); `lmc build` adds a build_info.cc that defines kBuildInfo and
// kTokenizerFile.
// The runtime (tokenizer, sampler, CLI) only sees this interface.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

namespace lmc::rt {

struct ModelInfo {
  const char* name;
  const char* spec_path;  // As given to lmc.
  const char* spec_yaml;  // The spec after extends and --set, as compiled.
  int vocab_size;
  int output_width;      // Floats per output row: vocab_size, or d_model for an encoder.
  int d_model;           // Floats per hidden-state row.
  bool encoder;          // Outputs hidden states (bidirectional, one chunk) instead of logits.
  bool encoder_decoder;  // Encode a source, then decode with cross-attention to it.
  int max_seq_len;
  int chunk;  // Most tokens one Forward call takes.
  int bos;    // -1 when the spec names none.
  int eos;
  int decoder_start;           // Encoder-decoders: the decoder's first id; else -1.
  const char* tokenizer_kind;  // The spec's tokenizer.kind ("none": ids only).
  const char* tokenizer_file;  // The spec's tokenizer.file as written; may be empty.
  const char* weights_format;  // The spec's weights.format.
  bool pooler = false;         // An encoder with a pooler: Model::Pooled() after Forward.
  int cls = -1;                // BERT-style encoders: the spec's tokenizer.cls; -1 when not given.
  int sep = -1;                // The spec's tokenizer.sep; -1 when not given.
};

// One sequence's module: weights, declared state, entry points.
class Model {
 public:
  virtual ~Model() = default;
  // Maps the checkpoint and checks it against the compiled shapes; throws
  // Error naming the file and the mismatch.
  virtual void LoadWeights(const std::string& path) = 0;
  // Sizes the state (KV caches) for `capacity` positions, 1..max_seq_len, and
  // forgets any sequence in it.
  virtual void Allocate(int capacity) = 0;
  virtual int capacity() const = 0;
  // Runs tokens[0, n) at positions start, start+1, ... (1 <= n <= chunk;
  // positions before `start` already run) and returns the logits of the last
  // `rows` of them, [rows, output_width], valid until the next call.
  virtual const float* Forward(const int* tokens, int n, int start, int rows) = 0;
  // Encoder-decoders: runs the encoder over tokens[0, n) (1 <= n <= chunk) and
  // keeps what the decoder's cross-attention reads, for every Forward call until
  // the next Encode. Returns the encoder's last hidden state, [n, d_model], valid
  // until the next call. Other models fail.
  virtual const float* Encode(const int* tokens, int n);
  // An encoder with a pooler (ModelInfo::pooler): the pooler's output for the
  // first token of the last Forward call, [output_width]; nullptr without one.
  virtual const float* Pooled() const { return nullptr; }
};

// Prefill: runs `tokens` from position `start` in chunks. Returns the logits of
// every token ([tokens.size(), vocab]) when all_rows, else of the last one.
std::vector<float> Prefill(Model& model, std::span<const int> tokens, int start, bool all_rows);

// Decode: one token at `pos`; logits [vocab_size], valid until the next call.
inline const float* Decode(Model& model, int token, int pos) {
  return model.Forward(&token, 1, pos, 1);
}

// Defined by the generated model source.
const ModelInfo& GetModelInfo();
std::unique_ptr<Model> CreateModel();

// Defined by the build_info.cc that `lmc build` writes: compiler, flags, lmc version.
extern const char* const kBuildInfo;
// Also there: the spec's tokenizer.file as an absolute path (it is relative to
// the spec file that names it), or "" when the spec names none.
extern const char* const kTokenizerFile;

}  // namespace lmc::rt
