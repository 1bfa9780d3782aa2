// The boundary between a generated model and the runtime.
//
// lmc emits, for each spec, a source whose namespace lmc::models::<name> defines
// Info() and CreateModel(), and the C API's lmc_open_<name>; `lmc build` adds a
// build_info.cc that defines the namespace's kBuildInfo and kTokenizerFile (and,
// for a binary, the GetModelInfo() and OpenModel() its command line calls).
// Nothing else of a model is a global symbol, so models link side by side.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "lmc/lmc.h"
#include "runtime/weights/tensor_source.h"

namespace lmc::dist {
class Follower;  // A tensor-parallel rank other than 0 (runtime/distributed/).
}

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
  int chunk;  // Most tokens one forward pass takes.
  int bos;    // -1 when the spec names none.
  int eos;
  int decoder_start;            // Encoder-decoders: the decoder's first id; else -1.
  const char* tokenizer_kind;   // The spec's tokenizer.kind ("none": ids only).
  const char* tokenizer_file;   // The spec's tokenizer.file as written; may be empty.
  const char* weights_format;   // The spec's weights.format.
  bool pooler = false;          // An encoder with a pooler: Session::pooled() after a step.
  bool hidden = false;          // A decoder-only model: StepInput::hidden is its hidden state.
  int cls = -1;                 // BERT-style encoders: the spec's tokenizer.cls; -1 when not given.
  int sep = -1;                 // The spec's tokenizer.sep; -1 when not given.
  const char* build_info = "";  // Compiler, flags, lmc version (lmc build).
  const char* tokenizer_path = "";  // tokenizer_file made absolute by lmc build; "" if none.
};

class Model;

// One sequence: the model's declared state (KV caches, the encoder's K/V), its
// position, and the output of its last step. Made by Model::NewSession; any
// number per model; one thread at a time per session.
class Session {
 public:
  virtual ~Session() = default;
  const Model& model() const { return *model_; }
  int capacity() const { return capacity_; }
  // Tokens run so far: the next token's position.
  int position() const { return position_; }
  // Forgets positions [position, position()); fails outside [0, position()].
  void Rewind(int position);
  // The last step's output, output_rows() rows of output_width() floats: the model's
  // output_width, or d_model after Encode or a step asking for hidden states.
  const float* output() const { return output_.data(); }
  int output_rows() const { return output_rows_; }
  int output_width() const { return output_width_; }
  // An encoder with a pooler: the pooler's output for the last step's first token.
  std::span<const float> pooled() const { return pooled_; }
  // Encoder-decoders: whether a source has been encoded.
  bool encoded() const { return encoded_; }

 protected:
  Session(const Model& model, int capacity) : model_(&model), capacity_(capacity) {}

 private:
  friend class Model;
  const Model* model_;
  int capacity_;
  int position_ = 0;
  bool encoded_ = false;
  int output_rows_ = 0;
  int output_width_ = 0;
  std::vector<float> output_;
  std::vector<float> pooled_;
};

// A session's share of a batched step: its next tokens, whether to keep the
// output of every one of them (else of the last only), and whether that output is
// the final hidden state (after the final norm, before the classifier: d_model
// floats a row) instead of the logits (models with ModelInfo::hidden).
struct StepInput {
  Session* session;
  std::span<const int> tokens;
  bool all_rows = false;
  bool hidden = false;
};

// One forward pass over at most `chunk` tokens from several sessions, as the
// generated code runs it: token i of the pass belongs to segment s where
// segments[s].first <= i < segments[s].first + segments[s].n.
struct ChunkSegment {
  Session* session;
  int first;
  int n;
};
struct Chunk {
  std::span<const ChunkSegment> segments;
  const int* tokens;
  const int* positions;
  int n;
  // Rows to keep, ascending (none when every sequence in the pass continues in a
  // later one), and where each goes (output_width floats).
  const int* out_rows;
  float* const* out_dest;
  int rows;
  float* pooled;  // Encoders with a pooler (one segment per chunk): d_model floats.
  // The rows' final hidden states (d_model floats) instead of their logits.
  bool hidden = false;
};

// A compiled model: weights mapped once, read-only, shared by every session.
// Step and Encode are thread-safe for disjoint sessions.
class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelInfo& info() const = 0;
  // Maps the checkpoint and checks it against the compiled shapes; throws
  // Error naming the file and the mismatch. `progress`, if any, follows the loading
  // (TensorSource::set_progress).
  virtual void LoadWeights(const std::string& path, TensorSource::Progress progress) = 0;
  // A session with KV room for `capacity` positions, 1..max_seq_len.
  std::unique_ptr<Session> NewSession(int capacity);

  // Runs each input's tokens at its session's next positions, packed into
  // forward passes of up to `chunk` tokens that read each weight once for every
  // session in them. Results are bit-identical to running the inputs one at a
  // time. Checks everything first: on Error no session has changed.
  void Step(std::span<const StepInput> inputs);
  // Encoder-decoders: runs the encoder over a source of 1..chunk tokens, keeps
  // what the decoder's cross-attention reads, restarts the decoder, and leaves
  // the encoder's last hidden state as the output ([n, d_model]).
  void Encode(Session& session, std::span<const int> tokens);

 protected:
  friend class dist::Follower;  // Runs rank 0's passes on the mirrors of its sessions.
  // What the generated code defines; the checks above have been made.
  virtual bool loaded() const = 0;  // LoadWeights succeeded.
  virtual std::unique_ptr<Session> MakeSession(int capacity) = 0;
  virtual void ForwardChunk(const Chunk& chunk) = 0;
  // Encoder-decoders only: the encoder over tokens[0, n), its last hidden state into out.
  virtual void EncodeChunk(Session& session, const int* tokens, int n, float* out);
};

// A tensor-parallel binary's (lmc build --tensor-parallel N): its rank count, its model, and
// the main() that runs the command line on rank 0 and follows it on the others
// (dist::Main). Defined by the binary's build_info.cc; null for other binaries.
struct ParallelHooks {
  int ranks;
  std::unique_ptr<Model> (*create_model)();
  int (*main)(const ParallelHooks& hooks, int argc, char** argv, int (*command)(int, char**));
};
const ParallelHooks* GetParallelHooks();

// Scratch one forward pass needs (activations), reused across passes and
// threads: each pass takes one, or a new one when all are in use.
template <typename T>
class ScratchPool {
 public:
  class Lease {
   public:
    Lease(ScratchPool& pool, std::unique_ptr<T> item) : pool_(pool), item_(std::move(item)) {}
    ~Lease() { pool_.Return(std::move(item_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    T& operator*() const { return *item_; }

   private:
    ScratchPool& pool_;
    std::unique_ptr<T> item_;
  };
  Lease Take() {
    std::unique_ptr<T> item;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!free_.empty()) {
        item = std::move(free_.back());
        free_.pop_back();
      }
    }
    // Default-initialized (new T, not make_unique): activations are written before read, and
    // pages never touched stay out of the resident set.
    return Lease(*this, item ? std::move(item) : std::unique_ptr<T>(new T));
  }

 private:
  void Return(std::unique_ptr<T> item) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(std::move(item));
  }
  std::mutex mutex_;
  std::vector<std::unique_ptr<T>> free_;
};

// Step for one session: runs tokens, keeping every row's output or the last's;
// returns session.output().
const float* Prefill(Model& model, Session& session, std::span<const int> tokens, bool all_rows);

// A model binary's own model, defined by the build_info.cc `lmc build` writes: what it
// is, and its lmc_open_<name> (the command line runs it through the C API).
const ModelInfo& GetModelInfo();
lmc_model* OpenModel(const char* weights_path, const lmc_open_options* options, lmc_error** error);
// A second model linked into the binary for speculative decoding (lmc build --draft SPEC):
// what it is and its lmc_open_<name>; null when the binary has none.
struct DraftModel {
  const ModelInfo& (*info)();
  lmc_model* (*open)(const char* weights_path, const lmc_open_options* options, lmc_error** error);
};
const DraftModel* GetDraftModel();
// The Highway targets (HWY_TARGETS bits) the binary's model code was compiled for: every x86
// level, or one with lmc build --native.
int64_t CompiledSimdTargets();

}  // namespace lmc::rt
