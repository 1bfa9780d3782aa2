#include "runtime/serve/scheduler.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "runtime/serve/stop_filter.h"
#include "runtime/tokenizer/utf8.h"

namespace lmc::serve {

using Clock = std::chrono::steady_clock;

namespace {

// What a grammar's mask leaves a refused token: finite (the sampler refuses non-finite logits),
// below any logit a model gives, so its probability is 0 after softmax.
constexpr float kMasked = -1e30f;

// The bytes every token adds after an ordinary one, as Advance spells tokens (a SentencePiece
// piece keeps its space there); BOS and EOS add none. Null for a model without a tokenizer.
std::shared_ptr<const rt::TokenVocabulary> BuildVocabulary(const lmc::Model& model) {
  const lmc_info& info = model.info();
  if (info.is_encoder) return nullptr;
  try {
    const std::vector<int32_t> a = model.Tokenize("a", 0);
    return rt::TokenVocabulary::FromDecoder(
        info.vocab_size, a.empty() ? -1 : a.back(), {info.bos, info.eos},
        [&](std::span<const int32_t> ids) { return model.Detokenize(ids); });
  } catch (const std::exception&) {
    return nullptr;  // no tokenizer: requests for JSON output or logprobs are refused
  }
}

bool Allowed(const std::vector<uint64_t>& mask, int32_t token) {
  return rt::TokenMask::Test(mask, token);
}

}  // namespace

bool Job::Next(JobEvent* event, std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, wait, [&] { return !events_.empty(); })) return false;
  *event = std::move(events_.front());
  events_.pop_front();
  return true;
}

void Job::Emit(JobEvent event) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(event));
  }
  cv_.notify_all();
}

// A session and the job running in it (scheduler thread only).
struct Scheduler::Slot {
  explicit Slot(lmc::Session s) : session(std::move(s)) {}
  lmc::Session session;
  std::shared_ptr<Job> job;
  size_t prefilled = 0;    // prompt tokens run
  size_t step_tokens = 0;  // prompt tokens in the step being run
  int32_t next = -1;       // the sampled token the next step runs
  int32_t prev = -1;       // the last token, for how the tokenizer spells the next
  int generated = 0;
  std::unique_ptr<rt::Sampler> sampler;
  rt::utf8::StreamDecoder utf8;
  std::unique_ptr<StopFilter> stop;
  std::vector<float> row;
  std::vector<int32_t> history;           // prompt, then the generated tokens (penalties)
  std::unique_ptr<rt::JsonMatcher> json;  // with a grammar: the document so far
  std::unique_ptr<rt::TokenMask> mask;
  std::vector<float> raw;     // the model's logits, for logprobs
  std::vector<float> masked;  // the logits with the grammar's mask, for a fallback
  // The tokens whose keys and values the session holds, positions 0.. (the prefix cache: they
  // stay when the job leaves, for the next job whose prompt starts the same way).
  std::vector<int32_t> cached;
  uint64_t last_used = 0;  // when a job last took the slot (least recently used goes first)

  bool busy() const { return job != nullptr; }
  bool prefilling() const { return job && prefilled < job->prompt.size(); }
};

Scheduler::Scheduler(lmc::Model& model, SchedulerOptions options)
    : model_(model), options_(options), vocabulary_(BuildVocabulary(model)) {
  for (int i = 0; i < options_.slots; ++i) {
    slots_.push_back(std::make_unique<Slot>(model_.NewSession(options_.context)));
  }
  thread_ = std::thread([this] { Loop(); });
}

Scheduler::~Scheduler() { Shutdown(0); }

Scheduler::Admission Scheduler::Submit(std::shared_ptr<Job> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Admission::kStopping;
    // Free slots take jobs at the next step; past them, up to max_queue wait.
    const int free = options_.slots - stats_.running.load();
    if (static_cast<int>(queue_.size()) >= options_.max_queue + free) {
      return Admission::kQueueFull;
    }
    queue_.push_back(std::move(job));
    stats_.queued = static_cast<int>(queue_.size());
  }
  wake_.notify_all();
  return Admission::kQueued;
}

void Scheduler::Shutdown(double grace_seconds) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      grace_end_ =
          Clock::now() + std::chrono::microseconds(static_cast<int64_t>(grace_seconds * 1e6));
    }
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::Finish(Slot& slot, JobEvent event) {
  if (event.kind == JobEvent::Kind::kEnd) {
    // What is held back goes out now: an incomplete character (as U+FFFD), and the tail the
    // stop filter kept, unless it completes a stop string.
    bool stopped = false;
    std::string text = slot.stop->Push(slot.utf8.Finish(), &stopped);
    if (!stopped) text += slot.stop->Finish();
    if (stopped) event.finish_reason = "stop";
    if (!text.empty()) slot.job->Emit(JobEvent::Text(std::move(text)));
    event.prompt_tokens = static_cast<int>(slot.job->prompt.size());
    event.completion_tokens = slot.generated;
    ++stats_.finished;
  }
  slot.job->Emit(std::move(event));
  Release(slot);
}

void Scheduler::Release(Slot& slot) {
  slot.job.reset();
  slot.sampler.reset();
  slot.stop.reset();
  slot.json.reset();
  slot.mask.reset();
  --stats_.running;
}

void Scheduler::Advance(Slot& slot) {
  Job& job = *slot.job;
  const int vocab = model_.info().vocab_size;
  std::span<const float> logits = slot.session.logits();
  slot.row.assign(logits.end() - vocab, logits.end());
  for (float v : slot.row) {
    if (!std::isfinite(v)) {
      Finish(slot, JobEvent::Error("the weights give non-finite logits"));
      return;
    }
  }
  JobEvent event;
  const int32_t token = Choose(slot, event.logprobs.emplace_back());
  if (token < 0) return;
  if (job.top_logprobs < 0) event.logprobs.clear();
  if (std::find(job.stop_ids.begin(), job.stop_ids.end(), token) != job.stop_ids.end()) {
    Finish(slot, JobEvent::End("stop"));
    return;
  }
  // The bytes `token` adds after the previous one: how a tokenizer spells a token can depend
  // on the one before (SentencePiece drops a first piece's space), as `generate` prints it.
  std::string piece;
  if (slot.prev >= 0) {
    const int32_t pair[2] = {slot.prev, token};
    std::string before = model_.Detokenize(std::span<const int32_t>(pair, 1));
    std::string both = model_.Detokenize(std::span<const int32_t>(pair, 2));
    piece = both.starts_with(before) ? both.substr(before.size())
                                     : model_.Detokenize(std::span<const int32_t>(pair + 1, 1));
  } else {
    piece = model_.Detokenize(std::span<const int32_t>(&token, 1));
  }
  slot.prev = token;
  slot.history.push_back(token);
  ++slot.generated;
  ++stats_.generated_tokens;
  if (slot.json && !slot.json->Feed(piece)) {
    Finish(slot, JobEvent::Error("internal error: a token the JSON mask allowed breaks the JSON"));
    return;
  }
  bool stopped = false;
  event.text = slot.stop->Push(slot.utf8.Push(piece), &stopped);
  if (!event.text.empty() || !event.logprobs.empty()) job.Emit(std::move(event));
  if (stopped) {
    slot.stop = std::make_unique<StopFilter>(std::vector<std::string>{});  // nothing more out
    slot.utf8 = rt::utf8::StreamDecoder();
    Finish(slot, JobEvent::End("stop"));
    return;
  }
  if (slot.json && slot.json->Done()) {
    Finish(slot, JobEvent::End("stop"));  // the document is complete: nothing may follow
    return;
  }
  if (slot.generated >= job.max_tokens) {
    Finish(slot, JobEvent::End("length"));
    return;
  }
  slot.next = token;
}

int32_t Scheduler::Choose(Slot& slot, TokenLogprobs& logprobs) {
  const Job& job = *slot.job;
  const int vocab = model_.info().vocab_size;
  float* row = slot.row.data();
  if (job.top_logprobs >= 0) slot.raw.assign(row, row + vocab);
  if (job.penalties.any()) {
    rt::ApplyPenalties(job.penalties, slot.history, static_cast<size_t>(slot.generated), row,
                       vocab);
  }
  const std::vector<uint64_t>* mask = nullptr;
  if (slot.json) {
    const auto start = Clock::now();
    mask = &slot.mask->Allowed(*slot.json);
    bool any = false;
    for (int32_t i = 0; i < vocab; ++i) {
      if (Allowed(*mask, i)) {
        any = true;
      } else {
        row[i] = kMasked;
      }
    }
    if (!any) {
      // A complete document (a top-level number at its longest) with no end token to say so
      // ends here; anything else is a vocabulary that cannot spell what the grammar needs.
      Finish(slot, slot.json->CanEnd()
                       ? JobEvent::End("stop")
                       : JobEvent::Error("no token of the vocabulary continues the JSON document"));
      return -1;
    }
    slot.masked.assign(row, row + vocab);
    ++stats_.masked_tokens;
    stats_.mask_seconds += std::chrono::duration<double>(Clock::now() - start).count();
  }
  int32_t token = slot.sampler->Sample(row);
  if (mask && !Allowed(*mask, token)) {
    // Rounding in a draw over the whole vocabulary can land past the last allowed token: the
    // most likely allowed one instead.
    token = static_cast<int32_t>(std::max_element(slot.masked.begin(), slot.masked.end()) -
                                 slot.masked.begin());
  }
  if (job.top_logprobs >= 0) {
    logprobs.token = token;
    logprobs.logprob =
        rt::LogSoftmaxAt(slot.raw.data(), vocab, token, job.top_logprobs, &logprobs.top);
  }
  return token;
}

void Scheduler::Loop() {
  std::vector<lmc::BatchItem> items;
  std::vector<Slot*> stepped;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto any_running = [&] {
        return std::any_of(slots_.begin(), slots_.end(), [](const auto& s) { return s->busy(); });
      };
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || any_running(); });
      if (stopping_) {
        for (auto& job : queue_) {
          job->Emit(JobEvent::Error("the server is shutting down", 503));
        }
        queue_.clear();
        if (!any_running()) break;
        if (Clock::now() >= grace_end_) {
          for (auto& slot : slots_) {
            if (slot->busy()) {
              ++stats_.cancelled;
              slot->job->Emit(JobEvent::Error("the server is shutting down", 503));
              Release(*slot);
            }
          }
          break;
        }
      }
      // Waiting jobs take the free slots, first come first served: each the free slot whose
      // cached tokens share the longest prefix with its prompt (else the least recently
      // used), rewound to that prefix, so only the rest of the prompt is prefilled. At least
      // the prompt's last token is run again, for the logits the first sample needs.
      while (!queue_.empty()) {
        std::shared_ptr<Job>& front = queue_.front();
        Slot* best = nullptr;
        size_t best_common = 0;
        for (auto& slot : slots_) {
          if (slot->busy()) continue;
          size_t common = 0;
          if (options_.prefix_cache) {
            const std::vector<int32_t>& cached = slot->cached;
            const std::vector<int32_t>& prompt = front->prompt;
            while (common < cached.size() && common < prompt.size() &&
                   cached[common] == prompt[common]) {
              ++common;
            }
          }
          if (!best || common > best_common ||
              (common == best_common && slot->last_used < best->last_used)) {
            best = slot.get();
            best_common = common;
          }
        }
        if (!best) break;
        std::shared_ptr<Job> job = std::move(front);
        queue_.pop_front();
        if (job->cancelled()) {
          ++stats_.cancelled;
          continue;
        }
        Slot& s = *best;
        const size_t reuse =
            job->prompt.empty() ? 0 : std::min(best_common, job->prompt.size() - 1);
        s.session.Rewind(static_cast<int32_t>(reuse));
        s.cached.resize(reuse);
        s.last_used = ++uses_;
        stats_.cached_prompt_tokens += reuse;
        s.job = std::move(job);
        ++stats_.running;
        s.prefilled = reuse;
        s.generated = 0;
        s.next = -1;
        s.prev = -1;
        s.sampler = std::make_unique<rt::Sampler>(model_.info().vocab_size, s.job->sampling);
        s.utf8 = rt::utf8::StreamDecoder();
        s.stop = std::make_unique<StopFilter>(s.job->stop);
        s.history = s.job->prompt;
        if (s.job->grammar && vocabulary_) {
          s.json = std::make_unique<rt::JsonMatcher>(s.job->grammar.get());
          std::vector<int32_t> end_ids = s.job->stop_ids;
          s.mask = std::make_unique<rt::TokenMask>(vocabulary_, s.job->grammar, std::move(end_ids));
        }
      }
      stats_.queued = static_cast<int>(queue_.size());
    }
    // Cancelled jobs leave; the others each add their next token or prompt chunk.
    items.clear();
    stepped.clear();
    int budget = options_.prefill_chunk;
    for (auto& slot : slots_) {
      Slot& s = *slot;
      if (!s.busy()) continue;
      if (s.job->cancelled()) {
        ++stats_.cancelled;
        Release(s);
        continue;
      }
      if (s.prefilling()) {
        const size_t take = std::min<size_t>(budget, s.job->prompt.size() - s.prefilled);
        if (take == 0) continue;
        budget -= static_cast<int>(take);
        s.step_tokens = take;
        items.push_back(
            {&s.session, std::span<const int32_t>(s.job->prompt).subspan(s.prefilled, take)});
      } else {
        s.step_tokens = 0;
        items.push_back({&s.session, std::span<const int32_t>(&s.next, 1)});
      }
      stepped.push_back(&s);
    }
    if (items.empty()) continue;
    const auto start = Clock::now();
    try {
      model_.Step(items);
    } catch (const std::exception& e) {
      for (Slot* s : stepped) {
        s->cached.clear();  // what the session holds is no longer known
        s->session.Rewind(0);
        Finish(*s, JobEvent::Error(e.what()));
      }
      continue;
    }
    for (size_t i = 0; i < stepped.size(); ++i) {
      stepped[i]->cached.insert(stepped[i]->cached.end(), items[i].tokens.begin(),
                                items[i].tokens.end());
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    ++stats_.steps;
    bool any_prefill = false;
    for (Slot* s : stepped) any_prefill |= s->step_tokens > 0;
    (any_prefill ? stats_.prefill_seconds : stats_.decode_seconds) += seconds;
    for (Slot* s : stepped) {
      if (s->step_tokens > 0) {
        s->prefilled += s->step_tokens;
        stats_.prompt_tokens += s->step_tokens;
        if (s->prefilling()) continue;
        s->prev = s->job->prompt.back();
      }
      try {
        Advance(*s);
      } catch (const std::exception& e) {
        Finish(*s, JobEvent::Error(e.what()));
      }
    }
  }
  stats_.queued = 0;
}

}  // namespace lmc::serve
