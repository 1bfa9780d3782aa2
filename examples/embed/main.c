/* Tells a story with a compiled model through lmc's C API (include/lmc/lmc.h).
 *   tell WEIGHTS PROMPT N: greedy continuation of PROMPT, at most N tokens. */
#include <lmc/lmc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

LMC_DECLARE_MODEL(tinytales); /* lmc_add_model(... SPEC specs/tinytales.yaml) */

static int fail(lmc_error* error) {
  fprintf(stderr, "tell: %s\n", lmc_error_message(error));
  lmc_error_free(error);
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s WEIGHTS PROMPT N\n", argv[0]);
    return 2;
  }
  lmc_error* error = NULL;
  lmc_model* model = lmc_open_tinytales(argv[1], NULL, &error);
  if (!model) return fail(error);
  const lmc_info* info = lmc_model_info(model);
  int32_t capacity = info->max_seq_len;
  int32_t* ids = malloc(sizeof(int32_t) * (size_t)capacity);
  size_t n_ids = 0;
  if (lmc_tokenize(model, argv[2], strlen(argv[2]), LMC_ADD_BOS, ids, (size_t)capacity, &n_ids,
                   &error) != 0) {
    return fail(error);
  }
  if (n_ids > (size_t)capacity) {
    fprintf(stderr, "tell: the prompt is %zu tokens; the model holds %d\n", n_ids, capacity);
    return 1;
  }
  lmc_session* session = lmc_session_new(model, capacity, &error);
  if (!session || lmc_prefill(session, ids, n_ids, 0, &error) != 0) return fail(error);
  const lmc_sampling greedy = {.temperature = 0, .top_p = 1, .top_k = 0, .seed = 0};
  for (long steps = atol(argv[3]); steps > 0 && n_ids < (size_t)capacity; --steps) {
    int32_t next = lmc_sample(session, &greedy, &error);
    if (next < 0) return fail(error);
    if (next == info->eos) break;
    ids[n_ids++] = next;
    if (steps > 1 && lmc_decode_step(session, next, &error) != 0) return fail(error);
  }
  /* The text after BOS: the prompt as the tokenizer reads it back, and the story. */
  size_t first = n_ids > 0 && ids[0] == info->bos ? 1 : 0, room = 4096, len = 0;
  char* text = malloc(room);
  while (lmc_detokenize(model, ids + first, n_ids - first, text, room, &len, &error) == 0 &&
         len > room) {
    text = realloc(text, room = len); /* too small: *text_len says how much is needed */
  }
  if (error) return fail(error);
  printf("%.*s\n", (int)len, text);
  free(text);
  free(ids);
  lmc_session_free(session);
  lmc_model_close(model);
  return 0;
}
