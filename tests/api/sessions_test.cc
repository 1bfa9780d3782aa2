// Sessions and batched steps through the C API, on four models linked into this one
// program (a decoder with real weights, a q4_0 decoder, an encoder-decoder, an encoder):
// every output of a batched step, mixed prefill and decode, on 1 or 2 threads, and from
// 8 sessions stepped on 2 threads at once, is bit-identical to the session's run alone;
// every misuse is a returned error and changes no session. A decoder's lmc_embed (its final
// hidden states) over two forward passes gives every row of one pass alone, and leaves the
// KV cache as lmc_prefill does.
//
// usage: sessions_test STORIES260K.bin Q4.safetensors T5.safetensors BERT.safetensors
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "lmc/lmc.h"

extern "C" {
LMC_DECLARE_MODEL(stories260k);
LMC_DECLARE_MODEL(tiny_q4);
LMC_DECLARE_MODEL(tiny_t5_small);
LMC_DECLARE_MODEL(tiny_bert_base);
}

namespace {

int failures = 0;

void Check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAIL", what.c_str());
  if (!ok) ++failures;
}

// Aborts the test on an unexpected error, printing it.
void Must(int rc, lmc_error** error, const char* what) {
  if (rc == 0) return;
  std::fprintf(stderr, "FAIL: %s: %s\n", what, lmc_error_message(*error));
  std::exit(1);
}

using Rows = std::vector<float>;

// A session's script: a prompt, then tokens fed one per step (fixed, not sampled, so the
// script does not depend on the outputs).
struct Script {
  std::vector<int32_t> source;  // Encoder-decoders: the encoder's input.
  std::vector<int32_t> prompt;
  unsigned prompt_flags;  // LMC_ALL_ROWS, or 0: the last row only.
  std::vector<int32_t> decode;
};

std::vector<int32_t> Ids(int n, int seed, int vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = (i * 7 + seed * 13 + 3) % vocab;
  return ids;
}

struct Model {
  const char* name;
  lmc_model* model;
  const lmc_info* info;
};

size_t Width(const Model& m) { return static_cast<size_t>(m.info->output_width); }

Rows Logits(const lmc_session* s) {
  size_t rows = 0, width = 0;
  const float* p = lmc_logits(s, &rows, &width);
  return Rows(p, p + rows * width);
}

lmc_session* NewSession(const Model& m, const Script& script) {
  lmc_error* error = nullptr;
  lmc_session* s = lmc_session_new(m.model, m.info->max_seq_len, &error);
  if (!s) Must(-1, &error, "lmc_session_new");
  if (!script.source.empty()) {
    Must(lmc_encode(s, script.source.data(), script.source.size(), &error), &error, "lmc_encode");
  }
  return s;
}

// Every output of the script, run alone: all rows of the prompt, then each decode step's.
std::vector<Rows> RunAlone(const Model& m, const Script& script) {
  lmc_error* error = nullptr;
  lmc_session* s = NewSession(m, script);
  std::vector<Rows> out;
  Must(lmc_prefill(s, script.prompt.data(), script.prompt.size(), script.prompt_flags, &error),
       &error, "lmc_prefill");
  out.push_back(Logits(s));
  for (int32_t token : script.decode) {
    Must(lmc_decode_step(s, token, &error), &error, "lmc_decode_step");
    out.push_back(Logits(s));
  }
  lmc_session_free(s);
  return out;
}

// The scripts in batched steps: session k joins at step k (its prompt in the same step as
// the others' decode tokens), then every session decodes in each step until done.
std::vector<std::vector<Rows>> RunBatched(const Model& m, const std::vector<Script>& scripts) {
  lmc_error* error = nullptr;
  std::vector<lmc_session*> sessions;
  std::vector<std::vector<Rows>> out(scripts.size());
  for (const Script& script : scripts) sessions.push_back(NewSession(m, script));
  std::vector<size_t> done(scripts.size(), 0);  // Outputs so far.
  for (size_t step = 0;; ++step) {
    std::vector<lmc_batch_item> items;
    std::vector<size_t> which;
    for (size_t k = 0; k < scripts.size() && k <= step; ++k) {
      const Script& script = scripts[k];
      if (done[k] == 0) {
        items.push_back(
            {sessions[k], script.prompt.data(), script.prompt.size(), script.prompt_flags});
      } else if (done[k] <= script.decode.size()) {
        items.push_back({sessions[k], &script.decode[done[k] - 1], 1, 0});
      } else {
        continue;
      }
      which.push_back(k);
    }
    if (items.empty() && step >= scripts.size()) break;
    if (items.empty()) continue;
    Must(lmc_batch_step(m.model, items.data(), items.size(), &error), &error, "lmc_batch_step");
    for (size_t k : which) {
      out[k].push_back(Logits(sessions[k]));
      ++done[k];
    }
  }
  for (lmc_session* s : sessions) lmc_session_free(s);
  return out;
}

std::vector<Script> Scripts(const Model& m) {
  const int vocab = m.info->vocab_size;
  const bool encdec = m.info->is_encoder_decoder != 0;
  // Prompt lengths: one token, a few, and one past a forward pass (128 tokens), whose
  // first pass then outputs no row of it.
  const int lengths[] = {5, 1, 150, 37};
  const unsigned flags[] = {LMC_ALL_ROWS, LMC_ALL_ROWS, 0, LMC_ALL_ROWS};
  std::vector<Script> scripts;
  for (int k = 0; k < 4; ++k) {
    Script s{encdec ? Ids(20 + 9 * k, k + 5, vocab) : std::vector<int32_t>{},
             Ids(lengths[k], k, vocab), flags[k], Ids(6, k + 11, vocab)};
    scripts.push_back(s);
  }
  return scripts;
}

void CheckDecoder(const Model& m) {
  const std::vector<Script> scripts = Scripts(m);
  std::vector<std::vector<Rows>> alone;
  for (const Script& script : scripts) alone.push_back(RunAlone(m, script));
  bool shapes = true;  // Every prompt row, then one row per decode step.
  for (size_t k = 0; k < scripts.size(); ++k) {
    shapes =
        shapes && alone[k].size() == 1 + scripts[k].decode.size() &&
        alone[k][0].size() == (scripts[k].prompt_flags ? scripts[k].prompt.size() : 1) * Width(m) &&
        alone[k][1].size() == Width(m);
  }
  Check(shapes, std::string(m.name) + ": outputs alone have the rows asked for");
  lmc_error* error = nullptr;
  for (int threads : {1, 2}) {
    Must(lmc_set_threads(threads, &error), &error, "lmc_set_threads");
    const std::vector<std::vector<Rows>> batched = RunBatched(m, scripts);
    Check(batched == alone, std::string(m.name) + ": batched steps (mixed prefill and decode, " +
                                std::to_string(threads) + " threads) bit-identical to alone");
  }
}

void CheckEncoder(const Model& m) {
  lmc_error* error = nullptr;
  const int vocab = m.info->vocab_size;
  std::vector<std::vector<int32_t>> inputs = {Ids(9, 1, vocab), Ids(64, 2, vocab),
                                              Ids(1, 3, vocab)};
  std::vector<Rows> alone;
  for (const auto& ids : inputs) {
    lmc_session* s = lmc_session_new(m.model, 64, &error);
    Rows pooled(static_cast<size_t>(m.info->d_model));
    Must(lmc_embed(s, ids.data(), ids.size(), pooled.data(), &error), &error, "lmc_embed");
    alone.push_back(Logits(s));
    lmc_session_free(s);
  }
  std::vector<lmc_session*> sessions;
  std::vector<lmc_batch_item> items;
  for (const auto& ids : inputs) {
    sessions.push_back(lmc_session_new(m.model, 64, &error));
    items.push_back({sessions.back(), ids.data(), ids.size(), LMC_ALL_ROWS});
  }
  Must(lmc_batch_step(m.model, items.data(), items.size(), &error), &error, "lmc_batch_step");
  bool same = true;
  for (size_t k = 0; k < sessions.size(); ++k) same = same && Logits(sessions[k]) == alone[k];
  Check(same, std::string(m.name) + ": encoder batch bit-identical to alone");
  // A second step on an encoder session is refused: it runs from position 0 only.
  int rc = lmc_batch_step(m.model, items.data(), 1, &error);
  Check(
      rc != 0 && std::strstr(lmc_error_message(error), "from position 0"),
      std::string(m.name) + ": an encoder session does not continue: " + lmc_error_message(error));
  lmc_error_free(error);
  for (lmc_session* s : sessions) lmc_session_free(s);
}

// Expects a call to fail with a message containing `needle`.
void ExpectError(int rc, lmc_error** error, const char* needle, const std::string& what) {
  const char* message = *error ? lmc_error_message(*error) : "(no error)";
  Check(rc != 0 && std::strstr(message, needle) != nullptr, what + ": " + message);
  lmc_error_free(*error);
  *error = nullptr;
}

// lmc_embed on a decoder: d_model floats a row, every row; over 150 tokens (two forward
// passes) the first 100 rows equal those of the first 100 tokens alone, bit for bit (a row
// does not depend on later tokens, nor on the other rows of its pass); the KV cache holds the
// tokens, so a next token's logits equal those after lmc_prefill of the same tokens; the
// session's output is not logits to sample. An encoder-decoder has no hidden output.
void CheckDecoderEmbed(const Model& m, const Model& encdec) {
  lmc_error* error = nullptr;
  const int vocab = m.info->vocab_size;
  const size_t d = static_cast<size_t>(m.info->d_model);
  Check(m.info->has_hidden == 1 && encdec.info->has_hidden == 0,
        std::string(m.name) + " has a hidden output, " + encdec.name + " has none");
  const std::vector<int32_t> ids = Ids(150, 4, vocab);
  lmc_session* s = lmc_session_new(m.model, m.info->max_seq_len, &error);
  Must(lmc_embed(s, ids.data(), 100, nullptr, &error), &error, "lmc_embed");
  const Rows head = Logits(s);
  Must(lmc_embed(s, ids.data(), ids.size(), nullptr, &error), &error, "lmc_embed");
  size_t rows = 0, width = 0;
  lmc_logits(s, &rows, &width);
  const Rows all = Logits(s);
  Check(rows == ids.size() && width == d && head.size() == 100 * d,
        std::string(m.name) + ": lmc_embed keeps every row, d_model floats each");
  Check(std::equal(head.begin(), head.end(), all.begin()),
        std::string(m.name) + ": embedded rows do not depend on later tokens (bit for bit)");
  lmc_sampling greedy{0.0f, 1.0f, 0, 1};
  ExpectError(lmc_sample(s, &greedy, &error) < 0 ? -1 : 0, &error, "kept hidden states",
              "sampling after lmc_embed");
  const int32_t next = 7;
  Must(lmc_prefill(s, &next, 1, 0, &error), &error, "lmc_prefill");
  const Rows after_embed = Logits(s);
  lmc_session* p = lmc_session_new(m.model, m.info->max_seq_len, &error);
  Must(lmc_prefill(p, ids.data(), ids.size(), 0, &error), &error, "lmc_prefill");
  Must(lmc_prefill(p, &next, 1, 0, &error), &error, "lmc_prefill");
  Check(after_embed == Logits(p),
        std::string(m.name) + ": a token after lmc_embed has the logits it has after lmc_prefill");
  // LMC_HIDDEN in a batch beside logits (passes of one kind each): every item as alone.
  const std::vector<int32_t> a = Ids(40, 5, vocab), b = Ids(30, 6, vocab), c = Ids(9, 7, vocab);
  lmc_session* sa = lmc_session_new(m.model, 64, &error);
  lmc_session* sb = lmc_session_new(m.model, 64, &error);
  lmc_session* sc = lmc_session_new(m.model, 64, &error);
  lmc_batch_item items[3] = {{sa, a.data(), a.size(), LMC_ALL_ROWS | LMC_HIDDEN},
                             {sb, b.data(), b.size(), LMC_ALL_ROWS},
                             {sc, c.data(), c.size(), LMC_HIDDEN}};
  Must(lmc_batch_step(m.model, items, 3, &error), &error, "lmc_batch_step");
  const Rows got_a = Logits(sa), got_b = Logits(sb), got_c = Logits(sc);
  Must(lmc_embed(sa, a.data(), a.size(), nullptr, &error), &error, "lmc_embed");
  Must(lmc_session_rewind(sb, 0, &error), &error, "lmc_session_rewind");
  Must(lmc_prefill(sb, b.data(), b.size(), LMC_ALL_ROWS, &error), &error, "lmc_prefill");
  Must(lmc_embed(sc, c.data(), c.size(), nullptr, &error), &error, "lmc_embed");
  const Rows c_all = Logits(sc);
  Check(
      got_a == Logits(sa) && got_b == Logits(sb) && got_c.size() == d &&
          std::equal(got_c.begin(), got_c.end(), c_all.end() - static_cast<ptrdiff_t>(d)),
      std::string(m.name) + ": LMC_HIDDEN items beside logits in one batch equal their runs alone");
  lmc_session_free(sa);
  lmc_session_free(sb);
  lmc_session_free(sc);
  lmc_session* e = lmc_session_new(encdec.model, 8, &error);
  ExpectError(lmc_embed(e, ids.data(), 3, nullptr, &error), &error, "an encoder-decoder",
              std::string("lmc_embed on ") + encdec.name);
  const int32_t first = encdec.info->decoder_start;
  ExpectError(lmc_prefill(e, &first, 1, LMC_HIDDEN, &error), &error, "no hidden-state output",
              std::string("LMC_HIDDEN on ") + encdec.name);
  lmc_session_free(e);
  lmc_session_free(p);
  lmc_session_free(s);
}

void CheckErrors(const Model& a, const Model& b) {
  lmc_error* error = nullptr;
  lmc_session* s = lmc_session_new(a.model, 8, &error);
  lmc_session* other = lmc_session_new(b.model, 8, &error);
  int32_t ids[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  Must(lmc_prefill(s, ids, 3, 0, &error), &error, "lmc_prefill");
  ExpectError(lmc_prefill(s, ids, 9, 0, &error), &error, "past the context capacity 8",
              "capacity exceeded");
  int32_t bad = a.info->vocab_size;
  ExpectError(lmc_decode_step(s, bad, &error), &error, "outside the vocabulary", "id out of range");
  lmc_batch_item twice[2] = {{s, ids, 1, 0}, {s, ids, 1, 0}};
  ExpectError(lmc_batch_step(a.model, twice, 2, &error), &error, "also batch item 0",
              "one session twice in a batch");
  lmc_batch_item mixed[2] = {{s, ids, 1, 0}, {other, ids, 1, 0}};
  ExpectError(lmc_batch_step(a.model, mixed, 2, &error), &error, "another model",
              "another model's session");
  ExpectError(lmc_session_new(a.model, a.info->max_seq_len + 1, &error) ? 0 : -1, &error,
              "outside [1,", "capacity above max_seq_len");
  ExpectError(lmc_prefill(s, nullptr, 2, 0, &error), &error, "tokens is NULL", "NULL tokens");
  Check(lmc_session_position(s) == 3, "failed calls left the session at position 3");
  lmc_sampling greedy{0.0f, 1.0f, 0, 1};
  lmc_session* fresh = lmc_session_new(a.model, 8, &error);
  ExpectError(lmc_sample(fresh, &greedy, &error) < 0 ? -1 : 0, &error, "no logits yet",
              "sampling before any step");
  ExpectError(lmc_session_rewind(s, 4, &error), &error, "cannot rewind", "rewind forward");
  lmc_session_free(fresh);
  lmc_session_free(other);
  lmc_session_free(s);
}

// 8 sessions, 4 of each model, stepped by 2 threads at once (each thread its own 4,
// batched): every output bit-identical to the sessions' runs alone.
void CheckConcurrent(const Model& a, const Model& b) {
  lmc_error* error = nullptr;
  Must(lmc_set_threads(2, &error), &error, "lmc_set_threads");
  const std::vector<Script> sa = Scripts(a), sb = Scripts(b);
  std::vector<std::vector<Rows>> alone_a, alone_b;
  for (const Script& s : sa) alone_a.push_back(RunAlone(a, s));
  for (const Script& s : sb) alone_b.push_back(RunAlone(b, s));
  std::vector<std::vector<Rows>> got[2];
  for (int round = 0; round < 3; ++round) {
    std::thread ta([&] { got[0] = RunBatched(a, sa); });
    std::thread tb([&] { got[1] = RunBatched(b, sb); });
    ta.join();
    tb.join();
    if (got[0] != alone_a || got[1] != alone_b) break;
  }
  Check(got[0] == alone_a && got[1] == alone_b,
        std::string("8 sessions of ") + a.name + " and " + b.name +
            " stepped on 2 threads at once: bit-identical to alone");
}

Model Open(const char* name, lmc_model* (*open)(const char*, const lmc_open_options*, lmc_error**),
           const char* weights) {
  lmc_error* error = nullptr;
  lmc_model* model = open(weights, nullptr, &error);
  if (!model) Must(-1, &error, name);
  return Model{name, model, lmc_model_info(model)};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr,
                 "usage: %s STORIES260K.bin Q4.safetensors T5.safetensors BERT.safetensors\n",
                 argv[0]);
    return 2;
  }
  Model stories = Open("stories260k", lmc_open_stories260k, argv[1]);
  Model q4 = Open("tiny_q4", lmc_open_tiny_q4, argv[2]);
  Model t5 = Open("tiny_t5_small", lmc_open_tiny_t5_small, argv[3]);
  Model bert = Open("tiny_bert_base", lmc_open_tiny_bert_base, argv[4]);

  // A wrong checkpoint: the error names the file.
  lmc_error* error = nullptr;
  ExpectError(lmc_open_stories260k(argv[3], nullptr, &error) ? 0 : -1, &error, argv[3],
              "opening another model's weights");

  CheckDecoder(stories);
  CheckDecoder(q4);
  CheckDecoder(t5);
  CheckEncoder(bert);
  CheckDecoderEmbed(stories, t5);
  CheckErrors(stories, q4);
  CheckConcurrent(stories, q4);

  for (Model* m : {&stories, &q4, &t5, &bert}) lmc_model_close(m->model);
  std::printf("sessions_test: %d failed\n", failures);
  return failures == 0 ? 0 : 1;
}
