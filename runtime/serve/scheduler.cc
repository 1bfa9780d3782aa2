#include "runtime/serve/scheduler.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "runtime/serve/stop_filter.h"
#include "runtime/tokenizer/utf8.h"

namespace lmc::serve {

using Clock = std::chrono::steady_clock;

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

  bool busy() const { return job != nullptr; }
  bool prefilling() const { return job && prefilled < job->prompt.size(); }
};

Scheduler::Scheduler(lmc::Model& model, SchedulerOptions options)
    : model_(model), options_(options) {
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
  const int32_t token = slot.sampler->Sample(slot.row.data());
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
  ++slot.generated;
  ++stats_.generated_tokens;
  bool stopped = false;
  std::string text = slot.stop->Push(slot.utf8.Push(piece), &stopped);
  if (!text.empty()) job.Emit(JobEvent::Text(std::move(text)));
  if (stopped) {
    slot.stop = std::make_unique<StopFilter>(std::vector<std::string>{});  // nothing more out
    slot.utf8 = rt::utf8::StreamDecoder();
    Finish(slot, JobEvent::End("stop"));
    return;
  }
  if (slot.generated >= job.max_tokens) {
    Finish(slot, JobEvent::End("length"));
    return;
  }
  slot.next = token;
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
      // Waiting jobs take the free slots, first come first served.
      for (auto& slot : slots_) {
        while (!slot->busy() && !queue_.empty()) {
          std::shared_ptr<Job> job = std::move(queue_.front());
          queue_.pop_front();
          if (job->cancelled()) {
            ++stats_.cancelled;
            continue;
          }
          Slot& s = *slot;
          s.session.Rewind(0);
          s.job = std::move(job);
          ++stats_.running;
          s.prefilled = 0;
          s.generated = 0;
          s.next = -1;
          s.prev = -1;
          s.sampler = std::make_unique<rt::Sampler>(model_.info().vocab_size, s.job->sampling);
          s.utf8 = rt::utf8::StreamDecoder();
          s.stop = std::make_unique<StopFilter>(s.job->stop);
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
      for (Slot* s : stepped) Finish(*s, JobEvent::Error(e.what()));
      continue;
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
