// Sessions and batched steps: the checks and the packing of many sessions'
// tokens into forward passes, shared by every generated model.
#include <algorithm>

#include "runtime/model/model.h"
#include "runtime/util/error.h"

namespace lmc::rt {

void Session::Rewind(int position) {
  if (position < 0 || position > position_) {
    Fail("cannot rewind to position {}: the session is at {}", position, position_);
  }
  position_ = position;
}

std::unique_ptr<Session> Model::NewSession(int capacity) {
  const ModelInfo& mi = info();
  if (capacity < 1 || capacity > mi.max_seq_len) {
    Fail("context capacity {} is outside [1, {}]", capacity, mi.max_seq_len);
  }
  return MakeSession(capacity);
}

void Model::EncodeChunk(Session&, const int*, int, float*) {
  Fail("internal error: {} has no encoder", info().name);
}

namespace {

void CheckTokens(std::span<const int> tokens, int vocab) {
  for (int id : tokens) {
    if (id < 0 || id >= vocab) Fail("token id {} is outside the vocabulary [0, {})", id, vocab);
  }
}

}  // namespace

void Model::Step(std::span<const StepInput> inputs) {
  const ModelInfo& mi = info();
  if (!loaded()) Fail("no weights loaded");
  // Every check before any work, so a failed step changes no session.
  for (size_t i = 0; i < inputs.size(); ++i) {
    const StepInput& in = inputs[i];
    const std::string item = inputs.size() > 1 ? fmt::format("batch item {}: ", i) : "";
    if (in.session == nullptr) Fail("{}no session", item);
    const Session& s = *in.session;
    if (s.model_ != this) Fail("{}the session belongs to another model", item);
    if (in.hidden && !mi.hidden) {
      Fail("{}{} has no hidden-state output to ask for (a decoder-only model has)", item, mi.name);
    }
    for (size_t j = 0; j < i; ++j) {
      if (inputs[j].session == in.session) Fail("{}the session is also batch item {}", item, j);
    }
    const size_t n = in.tokens.size();
    if (n == 0) Fail("{}no tokens to run", item);
    if (n > static_cast<size_t>(s.capacity_ - s.position_)) {
      Fail("{}positions {}..{} are past the context capacity {} (--ctx)", item, s.position_,
           s.position_ + n - 1, s.capacity_);
    }
    CheckTokens(in.tokens, mi.vocab_size);
    if (mi.encoder && (s.position_ != 0 || n > static_cast<size_t>(mi.chunk))) {
      Fail("{}an encoder runs 1 to {} tokens from position 0, not {} from position {}", item,
           mi.chunk, n, s.position_);
    }
    if (mi.encoder_decoder && !s.encoded_) Fail("{}decoding before a source was encoded", item);
  }

  const int chunk = mi.chunk;
  std::vector<ChunkSegment> segments;
  std::vector<int> tokens, positions, out_rows;
  std::vector<float*> out_dest;
  float* pooled = nullptr;
  bool hidden = false;  // What the pass being packed outputs: one kind per pass.
  auto run = [&] {
    if (tokens.empty()) return;
    ForwardChunk(Chunk{.segments = segments,
                       .tokens = tokens.data(),
                       .positions = positions.data(),
                       .n = static_cast<int>(tokens.size()),
                       .out_rows = out_rows.data(),
                       .out_dest = out_dest.data(),
                       .rows = static_cast<int>(out_rows.size()),
                       .pooled = pooled,
                       .hidden = hidden});
    segments.clear();
    tokens.clear();
    positions.clear();
    out_rows.clear();
    out_dest.clear();
  };
  for (const StepInput& in : inputs) {
    Session& s = *in.session;
    const int n = static_cast<int>(in.tokens.size());
    if (in.hidden != hidden) {
      run();
      hidden = in.hidden;
    }
    const size_t width = static_cast<size_t>(in.hidden ? mi.d_model : mi.output_width);
    s.output_rows_ = in.all_rows ? n : 1;
    s.output_width_ = static_cast<int>(width);
    s.output_.resize(static_cast<size_t>(s.output_rows_) * width);
    if (mi.encoder) {  // Bidirectional: a sequence is one pass of its own.
      run();
      if (mi.pooler) {
        s.pooled_.resize(static_cast<size_t>(mi.d_model));
        pooled = s.pooled_.data();
      }
    }
    for (int done = 0; done < n;) {
      const int first = static_cast<int>(tokens.size());
      const int take = std::min(n - done, chunk - first);
      segments.push_back({&s, first, take});
      for (int j = done; j < done + take; ++j) {
        tokens.push_back(in.tokens[j]);
        positions.push_back(s.position_ + j);
        if (in.all_rows || j == n - 1) {
          out_rows.push_back(first + j - done);
          out_dest.push_back(s.output_.data() + (in.all_rows ? j : 0) * width);
        }
      }
      done += take;
      if (static_cast<int>(tokens.size()) == chunk) run();
    }
  }
  run();
  for (const StepInput& in : inputs) in.session->position_ += static_cast<int>(in.tokens.size());
}

void Model::Encode(Session& session, std::span<const int> tokens) {
  const ModelInfo& mi = info();
  if (!mi.encoder_decoder) Fail("{} is not an encoder-decoder: it has no encoder input", mi.name);
  if (!loaded()) Fail("no weights loaded");
  if (session.model_ != this) Fail("the session belongs to another model");
  if (tokens.empty() || tokens.size() > static_cast<size_t>(mi.chunk)) {
    Fail("the encoder takes 1 to {} tokens (max_seq_len), not {}", mi.chunk, tokens.size());
  }
  CheckTokens(tokens, mi.vocab_size);
  const int n = static_cast<int>(tokens.size());
  session.output_.resize(static_cast<size_t>(n) * mi.d_model);
  session.output_rows_ = n;
  session.output_width_ = mi.d_model;
  EncodeChunk(session, tokens.data(), n, session.output_.data());
  session.encoded_ = true;
  session.position_ = 0;
}

const float* Prefill(Model& model, Session& session, std::span<const int> tokens, bool all_rows) {
  const StepInput input{&session, tokens, all_rows};
  model.Step(std::span<const StepInput>(&input, 1));
  return session.output();
}

}  // namespace lmc::rt
