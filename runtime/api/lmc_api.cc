// The C API (include/lmc/lmc.h) over the runtime's Model and Session: handles,
// argument checks, and every exception turned into a returned lmc_error.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/api/open_model.h"
#include "runtime/kernels/thread_pool.h"
#include "runtime/sampling/sampler.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/util/error.h"

struct lmc_error {
  std::string message;
};

struct lmc_model {
  std::unique_ptr<lmc::rt::Model> model;
  lmc_info info{};
  std::string tokenizer_path;
  std::once_flag tokenizer_once;
  std::unique_ptr<lmc::rt::Tokenizer> tokenizer;
  std::string tokenizer_error;
};

struct lmc_session {
  lmc_model* model;
  std::unique_ptr<lmc::rt::Session> session;
  std::optional<lmc::rt::Sampler> sampler;
  uint64_t seed = 0;
};

namespace {

using lmc::rt::Fail;

void SetError(lmc_error** error, std::string message) {
  if (error == nullptr) return;
  *error = new (std::nothrow) lmc_error{std::move(message)};
}

// Runs body, turning any exception into *error; returns whether it succeeded.
template <typename F>
bool Guard(const char* function, lmc_error** error, F&& body) noexcept {
  try {
    body();
    return true;
  } catch (const std::bad_alloc&) {
    SetError(error, fmt::format("{}: out of memory", function));
  } catch (const std::exception& e) {
    SetError(error, e.what());  // Names the file or argument already (one line).
  } catch (...) {
    SetError(error, fmt::format("{}: unknown error", function));
  }
  return false;
}

// Guard as the C API's int status: 0, or -1 with *error set.
template <typename F>
int Status(const char* function, lmc_error** error, F&& body) noexcept {
  return Guard(function, error, std::forward<F>(body)) ? 0 : -1;
}

void Need(const void* p, const char* what) {
  if (p == nullptr) Fail("{} is NULL", what);
}

lmc::rt::Tokenizer& TokenizerOf(lmc_model* m) {
  std::call_once(m->tokenizer_once, [m] {
    try {
      const lmc::rt::ModelInfo& info = m->model->info();
      if (m->tokenizer_path.empty()) {
        Fail("{} has no tokenizer file (the spec names none): set lmc_open_options.tokenizer_path",
             info.name);
      }
      const std::string kind = info.tokenizer_kind;
      m->tokenizer =
          lmc::rt::LoadTokenizer(kind == "none" ? "" : kind, m->tokenizer_path, info.vocab_size);
    } catch (const std::exception& e) {
      m->tokenizer_error = e.what();
    }
  });
  if (!m->tokenizer) Fail("{}", m->tokenizer_error);
  return *m->tokenizer;
}

}  // namespace

namespace lmc::api {

lmc_model* Open(std::unique_ptr<rt::Model> (*create)(), const char* weights_path,
                const lmc_open_options* options, lmc_error** error) noexcept {
  lmc_model* result = nullptr;
  Guard("lmc_open", error, [&] {
    Need(weights_path, "weights_path");
    auto m = std::make_unique<lmc_model>();
    m->model = create();
    rt::TensorSource::Progress progress;
    if (options && options->progress) {
      progress = [options](uint64_t done, uint64_t total) {
        options->progress(done, total, options->progress_user);
      };
    }
    m->model->LoadWeights(weights_path, std::move(progress));
    const rt::ModelInfo& info = m->model->info();
    m->info = lmc_info{.name = info.name,
                       .vocab_size = info.vocab_size,
                       .output_width = info.output_width,
                       .d_model = info.d_model,
                       .max_seq_len = info.max_seq_len,
                       .bos = info.bos,
                       .eos = info.eos,
                       .decoder_start = info.decoder_start,
                       .is_encoder = info.encoder,
                       .is_encoder_decoder = info.encoder_decoder,
                       .has_pooler = info.pooler,
                       .has_hidden = info.hidden};
    const bool given = options && options->tokenizer_path && *options->tokenizer_path;
    m->tokenizer_path = given ? options->tokenizer_path : info.tokenizer_path;
    result = m.release();
  });
  return result;
}

}  // namespace lmc::api

extern "C" {

const char* lmc_error_message(const lmc_error* error) {
  return error ? error->message.c_str() : "no error";
}

void lmc_error_free(lmc_error* error) { delete error; }

const lmc_info* lmc_model_info(const lmc_model* model) { return model ? &model->info : nullptr; }

void lmc_model_close(lmc_model* model) { delete model; }

int lmc_set_threads(int threads, lmc_error** error) {
  return Status("lmc_set_threads", error, [&] {
    if (threads < 1) Fail("threads is {}, not at least 1", threads);
    lmc::rt::SetThreads(threads);
  });
}

int lmc_tokenize(lmc_model* model, const char* text, size_t text_len, unsigned flags, int32_t* ids,
                 size_t max_ids, size_t* n_ids, lmc_error** error) {
  return Status("lmc_tokenize", error, [&] {
    Need(model, "model");
    if (text_len > 0) Need(text, "text");
    if (max_ids > 0) Need(ids, "ids");
    Need(n_ids, "n_ids");
    std::vector<int> out = TokenizerOf(model).Encode(
        std::string_view(text ? text : "", text_len),
        lmc::rt::EncodeOptions{.add_bos = (flags & LMC_ADD_BOS) != 0,
                               .parse_special = (flags & LMC_PARSE_SPECIAL) != 0});
    std::copy_n(out.begin(), std::min(out.size(), max_ids), ids);
    *n_ids = out.size();
  });
}

int lmc_detokenize(lmc_model* model, const int32_t* ids, size_t n_ids, char* text, size_t max_len,
                   size_t* text_len, lmc_error** error) {
  return Status("lmc_detokenize", error, [&] {
    Need(model, "model");
    if (n_ids > 0) Need(ids, "ids");
    if (max_len > 0) Need(text, "text");
    Need(text_len, "text_len");
    const int vocab = model->info.vocab_size;
    for (size_t i = 0; i < n_ids; ++i) {
      if (ids[i] < 0 || ids[i] >= vocab) {
        Fail("token id {} is outside the vocabulary [0, {})", ids[i], vocab);
      }
    }
    std::string out = TokenizerOf(model).Decode(std::span<const int>(ids, n_ids));
    if (max_len > 0) std::memcpy(text, out.data(), std::min(out.size(), max_len));
    *text_len = out.size();
  });
}

lmc_session* lmc_session_new(lmc_model* model, int32_t ctx_capacity, lmc_error** error) {
  lmc_session* result = nullptr;
  Guard("lmc_session_new", error, [&] {
    Need(model, "model");
    auto s = std::make_unique<lmc_session>();
    s->model = model;
    s->session = model->model->NewSession(ctx_capacity);
    result = s.release();
  });
  return result;
}

void lmc_session_free(lmc_session* session) { delete session; }

int32_t lmc_session_position(const lmc_session* session) {
  return session ? session->session->position() : -1;
}

int lmc_session_rewind(lmc_session* session, int32_t position, lmc_error** error) {
  return Status("lmc_session_rewind", error, [&] {
    Need(session, "session");
    session->session->Rewind(position);
  });
}

int lmc_batch_step(lmc_model* model, const lmc_batch_item* items, size_t n_items,
                   lmc_error** error) {
  return Status("lmc_batch_step", error, [&] {
    Need(model, "model");
    if (n_items > 0) Need(items, "items");
    std::vector<lmc::rt::StepInput> inputs(n_items);
    for (size_t i = 0; i < n_items; ++i) {
      const lmc_batch_item& item = items[i];
      if (item.session == nullptr) Fail("item {}: session is NULL", i);
      if (item.session->model != model) Fail("item {}: the session is another model's", i);
      if (item.n_tokens > 0) Need(item.tokens, "tokens");
      inputs[i] = {item.session->session.get(), std::span<const int>(item.tokens, item.n_tokens),
                   (item.flags & LMC_ALL_ROWS) != 0, (item.flags & LMC_HIDDEN) != 0};
    }
    model->model->Step(inputs);
  });
}

int lmc_prefill(lmc_session* session, const int32_t* tokens, size_t n_tokens, unsigned flags,
                lmc_error** error) {
  if (session == nullptr) {
    SetError(error, "lmc_prefill: session is NULL");
    return -1;
  }
  const lmc_batch_item item{session, tokens, n_tokens, flags};
  return lmc_batch_step(session->model, &item, 1, error);
}

int lmc_decode_step(lmc_session* session, int32_t token, lmc_error** error) {
  return lmc_prefill(session, &token, 1, 0, error);
}

const float* lmc_logits(const lmc_session* session, size_t* rows, size_t* width) {
  const bool any = session != nullptr && session->session->output_rows() > 0;
  if (rows) *rows = any ? static_cast<size_t>(session->session->output_rows()) : 0;
  if (width) *width = any ? static_cast<size_t>(session->session->output_width()) : 0;
  return any ? session->session->output() : nullptr;
}

int lmc_embed(lmc_session* session, const int32_t* tokens, size_t n_tokens, float* pooled,
              lmc_error** error) {
  return Status("lmc_embed", error, [&] {
    Need(session, "session");
    const lmc::rt::ModelInfo& info = session->model->model->info();
    if (!info.encoder && !info.hidden) {
      Fail("{} gives no hidden states: it is {} (use lmc_prefill)", info.name,
           info.encoder_decoder ? "an encoder-decoder" : "built without a hidden output");
    }
    if (n_tokens > 0) Need(tokens, "tokens");
    session->session->Rewind(0);
    const lmc::rt::StepInput input{session->session.get(), std::span<const int>(tokens, n_tokens),
                                   /*all_rows=*/true, /*hidden=*/!info.encoder};
    session->model->model->Step(std::span<const lmc::rt::StepInput>(&input, 1));
    if (pooled && info.pooler) {
      std::copy(session->session->pooled().begin(), session->session->pooled().end(), pooled);
    }
  });
}

int lmc_encode(lmc_session* session, const int32_t* tokens, size_t n_tokens, lmc_error** error) {
  return Status("lmc_encode", error, [&] {
    Need(session, "session");
    if (n_tokens > 0) Need(tokens, "tokens");
    session->model->model->Encode(*session->session, std::span<const int>(tokens, n_tokens));
  });
}

int32_t lmc_sample(lmc_session* session, const lmc_sampling* sampling, lmc_error** error) {
  int32_t token = -1;
  Guard("lmc_sample", error, [&] {
    Need(session, "session");
    Need(sampling, "sampling");
    const lmc::rt::Session& s = *session->session;
    const lmc::rt::ModelInfo& info = session->model->model->info();
    if (info.encoder) Fail("{} is an encoder: it has no logits to sample", info.name);
    if (s.output_rows() == 0) Fail("no logits yet: run lmc_prefill or lmc_decode_step first");
    if (s.output_width() != info.vocab_size) {
      Fail(
          "no logits to sample: the last call kept hidden states; run lmc_prefill or "
          "lmc_decode_step first");
    }
    // 0 turns top_p off, as it does top_k: a zero-initialized lmc_sampling is greedy.
    const lmc::rt::SamplerOptions options{.temperature = sampling->temperature,
                                          .top_p = sampling->top_p == 0.0f ? 1.0f : sampling->top_p,
                                          .top_k = sampling->top_k,
                                          .seed = sampling->seed};
    const lmc::rt::SamplerOptions* current =
        session->sampler ? &session->sampler->options() : nullptr;
    if (!current || current->seed != options.seed || current->temperature != options.temperature ||
        current->top_p != options.top_p || current->top_k != options.top_k) {
      session->sampler.emplace(info.vocab_size, options);
    }
    const float* last = s.output() + static_cast<size_t>(s.output_rows() - 1) * info.vocab_size;
    std::vector<float> logits(last, last + info.vocab_size);
    token = session->sampler->Sample(logits.data());
  });
  return token;
}

}  // extern "C"
