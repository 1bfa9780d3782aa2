/* lmc's C API: a compiled model inside your own program.
 *
 * Every model lmc compiles exports one function, lmc_open_<name> (declare it
 * with LMC_DECLARE_MODEL(name)); everything else is this header's generic API,
 * the same for every model, implemented by the lmc runtime library.
 *
 *   lmc_error* err = NULL;
 *   lmc_model* model = lmc_open_tinytales("weights.safetensors", NULL, &err);
 *   lmc_session* s = lmc_session_new(model, 512, &err);
 *   lmc_prefill(s, ids, n, 0, &err);
 *   int32_t next = lmc_sample(s, &sampling, &err);
 *
 * Rules:
 * - A model's weights are read-only once opened: one model serves any number of
 *   sessions (one sequence each: its KV cache, position and sampler state).
 * - Calls on different sessions may run on different threads at once; calls on
 *   one session must not overlap. Model-level calls (tokenize, session_new,
 *   batch_step over disjoint sessions) are thread-safe.
 * - Functions that can fail take `lmc_error** error` (may be NULL) and return
 *   -1 or NULL on failure, setting *error to a one-line message the caller frees
 *   with lmc_error_free. Nothing in the library exits or prints.
 * - Free every session of a model before closing the model.
 */
#ifndef LMC_LMC_H_
#define LMC_LMC_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lmc_model lmc_model;
typedef struct lmc_session lmc_session;
typedef struct lmc_error lmc_error;

typedef struct lmc_open_options {
  /* The tokenizer file; NULL or "": the spec's tokenizer.file. */
  const char* tokenizer_path;
  /* If not NULL, called on the opening thread as the weights load, with the bytes of the
   * tensors read so far and the checkpoint's total (for a progress display). */
  void (*progress)(uint64_t done, uint64_t total, void* user);
  void* progress_user;
} lmc_open_options;

/* What a model is; valid until lmc_model_close. */
typedef struct lmc_info {
  const char* name;
  int32_t vocab_size;
  int32_t output_width; /* floats per output row: vocab_size, or d_model for an encoder */
  int32_t d_model;
  int32_t max_seq_len; /* the largest session capacity */
  int32_t bos;         /* -1 when the spec names none */
  int32_t eos;
  int32_t decoder_start; /* encoder-decoders: the decoder's first id; else -1 */
  int32_t is_encoder;    /* 1: lmc_embed gives hidden states; no decoding */
  int32_t is_encoder_decoder; /* 1: lmc_encode a source before prefill */
  int32_t has_pooler;
  int32_t has_hidden; /* 1: a decoder-only model whose lmc_embed gives its final hidden states */
} lmc_info;

/* Declares a compiled model's entry point; in C++ write extern "C" before it. */
#define LMC_DECLARE_MODEL(name)                                                       \
  lmc_model* lmc_open_##name(const char* weights_path, const lmc_open_options* options, \
                             lmc_error** error)

/* Errors. */
const char* lmc_error_message(const lmc_error* error);
void lmc_error_free(lmc_error* error);

/* The model. */
const lmc_info* lmc_model_info(const lmc_model* model);
void lmc_model_close(lmc_model* model);
/* The size of the process-wide thread pool the kernels use (>= 1); call it while
 * no step runs. Results do not depend on it. */
int lmc_set_threads(int threads, lmc_error** error);

/* Tokenizer: the model's own. Flags for lmc_tokenize. */
#define LMC_ADD_BOS 1u
#define LMC_PARSE_SPECIAL 2u
/* Encodes text[0, text_len) into ids[0, max_ids); *n_ids is the full count, which
 * may exceed max_ids (call again with more room). */
int lmc_tokenize(lmc_model* model, const char* text, size_t text_len, unsigned flags,
                 int32_t* ids, size_t max_ids, size_t* n_ids, lmc_error** error);
/* Decodes ids into text[0, max_len) (not NUL-terminated); *text_len is the full
 * length, which may exceed max_len. */
int lmc_detokenize(lmc_model* model, const int32_t* ids, size_t n_ids, char* text,
                   size_t max_len, size_t* text_len, lmc_error** error);

/* Sessions. ctx_capacity: positions of KV cache, 1..max_seq_len. */
lmc_session* lmc_session_new(lmc_model* model, int32_t ctx_capacity, lmc_error** error);
void lmc_session_free(lmc_session* session);
/* Tokens run so far: the next token's position. */
int32_t lmc_session_position(const lmc_session* session);
/* Forgets every position from `position` on (0 restarts the sequence). */
int lmc_session_rewind(lmc_session* session, int32_t position, lmc_error** error);

/* Steps. LMC_ALL_ROWS keeps the output of every token, not only the last. LMC_HIDDEN
 * (a model with has_hidden) keeps the final hidden state, d_model floats a row, instead of
 * the logits. */
#define LMC_ALL_ROWS 1u
#define LMC_HIDDEN 2u
/* Runs tokens at the session's next positions. */
int lmc_prefill(lmc_session* session, const int32_t* tokens, size_t n_tokens, unsigned flags,
                lmc_error** error);
/* Runs one token. */
int lmc_decode_step(lmc_session* session, int32_t token, lmc_error** error);

/* One batched step: every item's tokens run at its session's next positions,
 * each session attending only to its own cache, each weight matrix read once for
 * the whole batch. Results are bit-identical to running the items one by one.
 * On error no session has changed. */
typedef struct lmc_batch_item {
  lmc_session* session;
  const int32_t* tokens;
  size_t n_tokens;
  unsigned flags;
} lmc_batch_item;
int lmc_batch_step(lmc_model* model, const lmc_batch_item* items, size_t n_items,
                   lmc_error** error);

/* The last step's output: *rows rows of *width floats (either may be NULL): logits
 * (lmc_info.output_width), an encoder's hidden states, after lmc_embed hidden states
 * (d_model), or after lmc_encode the encoder's last hidden state (d_model). Valid until
 * the session's next call. */
const float* lmc_logits(const lmc_session* session, size_t* rows, size_t* width);

/* Encoders, and decoders with has_hidden: runs tokens from position 0 (the session
 * restarts) and keeps every row's hidden state (lmc_logits, d_model floats a row): an
 * encoder's last, a decoder's final one (after the final norm, before the classifier;
 * the KV cache holds the tokens, as after lmc_prefill). `pooled`, when not NULL and the
 * model has a pooler, receives d_model floats. */
int lmc_embed(lmc_session* session, const int32_t* tokens, size_t n_tokens, float* pooled,
              lmc_error** error);
/* Encoder-decoders: encodes the source the session's decoder attends to, and
 * restarts the decoder. */
int lmc_encode(lmc_session* session, const int32_t* tokens, size_t n_tokens, lmc_error** error);

/* Sampling from the last row of lmc_logits. temperature 0 is greedy; a zeroed
 * lmc_sampling is greedy. The session's generator is seeded with `seed` at its
 * first sample and whenever a field changes. Returns the token, or -1. */
typedef struct lmc_sampling {
  float temperature;
  float top_p; /* (0, 1]; 0 or 1 disables */
  int32_t top_k; /* 0 disables */
  uint64_t seed;
} lmc_sampling;
int32_t lmc_sample(lmc_session* session, const lmc_sampling* sampling, lmc_error** error);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LMC_LMC_H_ */
