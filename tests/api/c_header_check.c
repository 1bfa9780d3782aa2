/* lmc.h is C99: this file compiles it with -std=c99 -pedantic -Werror (tests/CMakeLists.txt)
 * and uses each type the way a C program does. It is compiled, never run. */
#include "lmc/lmc.h"

LMC_DECLARE_MODEL(some_model);

int lmc_c_header_check(lmc_model* model, lmc_session* session);

int lmc_c_header_check(lmc_model* model, lmc_session* session) {
  lmc_error* error = NULL;
  const lmc_info* info = lmc_model_info(model);
  lmc_batch_item item = {0};
  lmc_sampling sampling = {0.0f, 1.0f, 0, 42};
  int32_t token = 0;
  item.session = session;
  item.tokens = &token;
  item.n_tokens = 1;
  if (lmc_batch_step(model, &item, 1, &error) != 0) {
    lmc_error_free(error);
    return -1;
  }
  return info->vocab_size + lmc_sample(session, &sampling, NULL);
}
