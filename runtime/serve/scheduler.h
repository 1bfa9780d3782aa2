// Continuous batching: one thread owns the model's sessions (one per slot) and runs batched
// steps (lmc_batch_step). At every step waiting requests take free slots and finished or
// cancelled ones leave; each running request adds its next token, or the next chunk of its
// prompt (at most `prefill_chunk` prompt tokens per step over all requests), so long prompts
// do not stall the streams already running. Results never depend on the batch: a batched step
// is bit-identical to a session run alone.
//
// Prefix cache: a slot keeps the tokens its session has run when its job leaves; a new job
// goes to the free slot sharing the longest prefix with its prompt, which is rewound to that
// prefix and prefills only the rest. The keys and values a position holds do not depend on
// how the tokens before it were chunked, so the output is the same as without it.
//
// Request threads talk to it through a Job: they fill its input, Submit it, then read its
// events (text as it is released, then the end or an error) and may Cancel it at any time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lmc/lmc.hpp"
#include "runtime/sampling/json_grammar.h"
#include "runtime/sampling/penalties.h"
#include "runtime/sampling/sampler.h"
#include "runtime/sampling/token_mask.h"

namespace lmc::serve {

// A generated token's log-probability and the most likely alternatives (Job::top_logprobs).
struct TokenLogprobs {
  int32_t token;
  float logprob;
  std::vector<rt::TokenLogprob> top;
};

struct JobEvent {
  enum class Kind { kText, kEnd, kError };
  Kind kind = Kind::kText;
  std::string text;                     // kText: released text; kError: the message
  std::vector<TokenLogprobs> logprobs;  // kText: the tokens sampled since the last event
  std::string finish_reason;            // kEnd: "stop" or "length"
  int prompt_tokens = 0;                // kEnd
  int completion_tokens = 0;            // kEnd
  int status = 500;                     // kError: the HTTP status it means

  static JobEvent Text(std::string text) {
    JobEvent e;
    e.text = std::move(text);
    return e;
  }
  static JobEvent End(std::string finish_reason) {
    JobEvent e;
    e.kind = Kind::kEnd;
    e.finish_reason = std::move(finish_reason);
    return e;
  }
  static JobEvent Error(std::string message, int status = 500) {
    JobEvent e;
    e.kind = Kind::kError;
    e.text = std::move(message);
    e.status = status;
    return e;
  }
};

class Job {
 public:
  // Input, set before Submit.
  std::vector<int32_t> prompt;
  int max_tokens = 1;  // >= 1, and prompt + max_tokens <= the context
  rt::SamplerOptions sampling;
  std::vector<std::string> stop;  // stop strings
  std::vector<int32_t> stop_ids;  // tokens that end generation (not part of the text)
  rt::PenaltyOptions penalties;   // applied to the logits before sampling
  int top_logprobs = -1;          // >= 0: each token's log-probability and this many others
  // JSON output: the grammar every token must follow (null: free text). Generation ends when
  // the document is complete.
  std::shared_ptr<const rt::JsonGrammar> grammar;

  // The next event; false if none came within `wait`.
  bool Next(JobEvent* event, std::chrono::milliseconds wait);
  // Ends the job at the scheduler's next step (its slot is freed); no more events.
  void Cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_.load(); }

  // The scheduler's side.
  void Emit(JobEvent event);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<JobEvent> events_;
  std::atomic<bool> cancelled_{false};
};

struct SchedulerOptions {
  int slots = 4;
  int context = 512;   // positions per slot
  int max_queue = 16;  // requests waiting for a slot; past it Submit refuses
  int prefill_chunk = 64;
  bool prefix_cache = true;  // reuse a free slot's cached prefix of a prompt
};

// Counters for /metrics.
struct SchedulerStats {
  std::atomic<uint64_t> prompt_tokens{0};
  std::atomic<uint64_t> cached_prompt_tokens{0};  // prompt tokens the prefix cache spared
  std::atomic<uint64_t> generated_tokens{0};
  std::atomic<uint64_t> steps{0};
  std::atomic<uint64_t> finished{0};
  std::atomic<uint64_t> cancelled{0};
  std::atomic<int> queued{0};
  std::atomic<int> running{0};  // slots with a job
  std::atomic<double> prefill_seconds{0};
  std::atomic<double> decode_seconds{0};
  std::atomic<uint64_t> masked_tokens{0};  // tokens sampled under a JSON grammar's mask
  std::atomic<double> mask_seconds{0};     // spent computing and applying those masks
};

class Scheduler {
 public:
  Scheduler(lmc::Model& model, SchedulerOptions options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  enum class Admission { kQueued, kQueueFull, kStopping };
  Admission Submit(std::shared_ptr<Job> job);

  // Stops taking jobs: queued ones end with an error (503), running ones may finish for up
  // to `grace_seconds`, then are cancelled. Returns when the thread has ended.
  void Shutdown(double grace_seconds);

  const SchedulerStats& stats() const { return stats_; }
  // The bytes each token adds mid-sequence (for masks and logprobs); null without a tokenizer.
  const std::shared_ptr<const rt::TokenVocabulary>& vocabulary() const { return vocabulary_; }
  const SchedulerOptions& options() const { return options_; }

 private:
  struct Slot;
  void Loop();
  void Finish(Slot& slot, JobEvent event);
  // Frees the slot (its job has had its last event).
  void Release(Slot& slot);
  // Samples the slot's next token from its last logits and hands out its text.
  void Advance(Slot& slot);
  // The next token: logprobs, penalties, the grammar's mask, then the sampler. -1 when the
  // grammar allows no token (the job has then been finished).
  int32_t Choose(Slot& slot, TokenLogprobs& logprobs);

  lmc::Model& model_;
  SchedulerOptions options_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point grace_end_;
  SchedulerStats stats_;
  std::shared_ptr<const rt::TokenVocabulary> vocabulary_;
  uint64_t uses_ = 0;  // jobs that took a slot (the slots' last_used clock)
  std::thread thread_;
};

}  // namespace lmc::serve
