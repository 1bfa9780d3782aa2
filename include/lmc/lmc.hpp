// lmc's C++ API: lmc.h's handles with RAII, its errors as exceptions. Nothing
// more: every call is the C call of the same name (see lmc.h for the rules).
//
//   extern "C" LMC_DECLARE_MODEL(tinytales);  // the model's one symbol
//   lmc::Model model(lmc_open_tinytales, "model.bin");
//   lmc::Session session = model.NewSession(256);
//   session.Prefill(model.Tokenize("Once upon a time"));
//   int32_t next = session.Sample({.temperature = 0, .top_p = 1, .top_k = 0, .seed = 0});
//
// Sessions must be destroyed before their model (declare the model first).
#ifndef LMC_LMC_HPP_
#define LMC_LMC_HPP_

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "lmc/lmc.h"

namespace lmc {

// A failed call: what() is lmc_error_message's line.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
// Throws *error (freed) unless the call succeeded. A pointer to it, read after the call:
// an argument's value could be taken before the call in the same expression sets it.
inline void Check(bool ok, lmc_error** error) {
  if (ok) return;
  std::string message = *error ? lmc_error_message(*error) : "lmc: call failed";
  lmc_error_free(*error);
  *error = nullptr;
  throw Error(message);
}
struct CloseModel {
  void operator()(lmc_model* model) const { lmc_model_close(model); }
};
struct FreeSession {
  void operator()(lmc_session* session) const { lmc_session_free(session); }
};
}  // namespace detail

// The process-wide kernel thread pool's size (lmc_set_threads).
inline void SetThreads(int threads) {
  lmc_error* error = nullptr;
  detail::Check(lmc_set_threads(threads, &error) == 0, &error);
}

class Session;

// One step of a batch (lmc_batch_item).
struct BatchItem {
  Session* session;
  std::span<const int32_t> tokens;
  unsigned flags = 0;  // LMC_ALL_ROWS
};

class Model {
 public:
  // A model's lmc_open_<name> (LMC_DECLARE_MODEL).
  using OpenFunction = lmc_model* (*)(const char*, const lmc_open_options*, lmc_error**);

  // tokenizer_path: "" for the spec's tokenizer.file.
  Model(OpenFunction open, const std::string& weights_path,
        const std::string& tokenizer_path = "") {
    lmc_open_options options{};
    options.tokenizer_path = tokenizer_path.empty() ? nullptr : tokenizer_path.c_str();
    Open(open, weights_path, options);
  }
  Model(OpenFunction open, const std::string& weights_path, const lmc_open_options& options) {
    Open(open, weights_path, options);
  }

  lmc_model* get() const { return model_.get(); }
  const lmc_info& info() const { return *lmc_model_info(model_.get()); }

  std::vector<int32_t> Tokenize(std::string_view text, unsigned flags = LMC_ADD_BOS) const {
    std::vector<int32_t> ids(text.size() + 2);
    for (;;) {
      size_t n = 0;
      lmc_error* error = nullptr;
      detail::Check(lmc_tokenize(model_.get(), text.data(), text.size(), flags, ids.data(),
                                 ids.size(), &n, &error) == 0,
                    &error);
      bool fits = n <= ids.size();
      ids.resize(n);
      if (fits) return ids;
    }
  }

  std::string Detokenize(std::span<const int32_t> ids) const {
    std::string text(ids.size() * 8, '\0');
    for (;;) {
      size_t n = 0;
      lmc_error* error = nullptr;
      detail::Check(lmc_detokenize(model_.get(), ids.data(), ids.size(), text.data(), text.size(),
                                   &n, &error) == 0,
                    &error);
      bool fits = n <= text.size();
      text.resize(n);
      if (fits) return text;
    }
  }

  Session NewSession(int32_t ctx_capacity);

  // Advances every item's session by its tokens in one batched step (lmc_batch_step).
  void Step(std::span<const BatchItem> items);

 private:
  void Open(OpenFunction open, const std::string& weights_path, const lmc_open_options& options) {
    lmc_error* error = nullptr;
    model_.reset(open(weights_path.c_str(), &options, &error));
    detail::Check(model_ != nullptr, &error);
  }

  std::unique_ptr<lmc_model, detail::CloseModel> model_;
};

class Session {
 public:
  lmc_session* get() const { return session_.get(); }
  int32_t position() const { return lmc_session_position(session_.get()); }

  void Rewind(int32_t position) {
    lmc_error* error = nullptr;
    detail::Check(lmc_session_rewind(session_.get(), position, &error) == 0, &error);
  }
  void Prefill(std::span<const int32_t> tokens, unsigned flags = 0) {
    lmc_error* error = nullptr;
    detail::Check(lmc_prefill(session_.get(), tokens.data(), tokens.size(), flags, &error) == 0,
                  &error);
  }
  void DecodeStep(int32_t token) {
    lmc_error* error = nullptr;
    detail::Check(lmc_decode_step(session_.get(), token, &error) == 0, &error);
  }
  // Every row the last step kept (lmc_logits: output_width floats each, or d_model
  // after Embed or Encode).
  std::span<const float> logits() const {
    size_t rows = 0, width = 0;
    const float* data = lmc_logits(session_.get(), &rows, &width);
    return {data, rows * width};
  }
  int32_t Sample(const lmc_sampling& sampling) {
    lmc_error* error = nullptr;
    int32_t token = lmc_sample(session_.get(), &sampling, &error);
    detail::Check(token >= 0, &error);
    return token;
  }
  // Every row's hidden state into logits(): an encoder's last, a decoder's final one
  // (lmc_embed). pooled: empty, or d_model floats for a model with a pooler.
  void Embed(std::span<const int32_t> tokens, std::span<float> pooled = {}) {
    lmc_error* error = nullptr;
    detail::Check(lmc_embed(session_.get(), tokens.data(), tokens.size(),
                            pooled.empty() ? nullptr : pooled.data(), &error) == 0,
                  &error);
  }
  void Encode(std::span<const int32_t> tokens) {
    lmc_error* error = nullptr;
    detail::Check(lmc_encode(session_.get(), tokens.data(), tokens.size(), &error) == 0, &error);
  }

 private:
  friend class Model;
  explicit Session(lmc_session* session) : session_(session) {}
  std::unique_ptr<lmc_session, detail::FreeSession> session_;
};

inline Session Model::NewSession(int32_t ctx_capacity) {
  lmc_error* error = nullptr;
  lmc_session* session = lmc_session_new(model_.get(), ctx_capacity, &error);
  detail::Check(session != nullptr, &error);
  return Session(session);
}

inline void Model::Step(std::span<const BatchItem> items) {
  std::vector<lmc_batch_item> batch;
  batch.reserve(items.size());
  for (const BatchItem& item : items) {
    batch.push_back({item.session->get(), item.tokens.data(), item.tokens.size(), item.flags});
  }
  lmc_error* error = nullptr;
  detail::Check(lmc_batch_step(model_.get(), batch.data(), batch.size(), &error) == 0, &error);
}

}  // namespace lmc

#endif  // LMC_LMC_HPP_
