#include "runtime/kernels/thread_pool.h"

#include <sched.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LMC_PAUSE() _mm_pause()
#else
#define LMC_PAUSE() ((void)0)
#endif

namespace lmc::rt {
namespace {

// Spins before sleeping: long enough to cover the gap between two matmuls of one forward
// pass (norms, RoPE, attention on the caller), short enough not to burn a shared core. With
// more threads than cores nobody spins: a spinning thread would hold the core that the thread
// it waits for needs (8 threads on 2 cores ran 75 times slower than 2).
constexpr int kSpins = 1 << 14;

// Waits until `value` differs from `old`: spins `spins` times, then sleeps on the futex.
template <typename T>
T AwaitChange(const std::atomic<T>& value, T old, int spins) {
  for (int i = 0; i < spins; ++i) {
    T now = value.load(std::memory_order_acquire);
    if (now != old) return now;
    LMC_PAUSE();
  }
  for (;;) {
    value.wait(old, std::memory_order_acquire);
    T now = value.load(std::memory_order_acquire);
    if (now != old) return now;
  }
}

class Pool {
 public:
  explicit Pool(int threads) : threads_(threads), spins_(threads <= DefaultThreads() ? kSpins : 0) {
    for (int i = 1; i < threads; ++i) {
      try {
        workers_.emplace_back([this, i] { Work(i); });
      } catch (const std::system_error& e) {
        Stop();
        throw std::system_error(e.code(), "cannot start thread " + std::to_string(i + 1) + " of " +
                                              std::to_string(threads) + " (--threads)");
      }
    }
  }

  ~Pool() { Stop(); }

  int threads() const { return threads_; }

  void Run(size_t tasks, void (*fn)(void*, size_t), void* ctx) {
    fn_ = fn;
    ctx_ = ctx;
    tasks_ = tasks;
    // Workers with no task still check in: the count is of threads, not tasks.
    pending_.store(threads_ - 1, std::memory_order_relaxed);
    epoch_.fetch_add(1, std::memory_order_release);
    epoch_.notify_all();
    RunShare(0);
    int left = pending_.load(std::memory_order_acquire);
    while (left != 0) left = AwaitChange(pending_, left, spins_);
  }

 private:
  // Ends and joins the workers started.
  void Stop() {
    stop_ = true;
    epoch_.fetch_add(1, std::memory_order_release);
    epoch_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  void RunShare(int index) {
    for (size_t t = static_cast<size_t>(index); t < tasks_; t += static_cast<size_t>(threads_)) {
      fn_(ctx_, t);
    }
  }

  void Work(int index) {
    uint32_t seen = 0;
    for (;;) {
      seen = AwaitChange(epoch_, seen, spins_);
      if (stop_) return;
      RunShare(index);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
    }
  }

  const int threads_;
  const int spins_;
  std::vector<std::thread> workers_;
  // Written by the caller before the epoch's release, read by workers after its acquire.
  void (*fn_)(void*, size_t) = nullptr;
  void* ctx_ = nullptr;
  size_t tasks_ = 0;
  bool stop_ = false;
  alignas(64) std::atomic<uint32_t> epoch_{0};
  alignas(64) std::atomic<int> pending_{0};
};

std::atomic<int> requested_threads{0};  // 0: DefaultThreads().
std::unique_ptr<Pool> pool;
// Held by the caller the pool works for. Sessions stepped on other threads at the same
// time run their tasks on their own thread: results do not depend on who runs a task.
std::mutex pool_mutex;

Pool& GetPool() {
  const int want = Threads();
  if (!pool || pool->threads() != want) {
    pool.reset();
    pool = std::make_unique<Pool>(want);
  }
  return *pool;
}

}  // namespace

int DefaultThreads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

void SetThreads(int threads) {
  requested_threads = threads < 1 ? 1 : threads;
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (pool && pool->threads() != requested_threads) pool.reset();
}

int Threads() {
  static const int default_threads = DefaultThreads();
  const int requested = requested_threads.load();
  return requested > 0 ? requested : default_threads;
}

void ParallelFor(size_t tasks, void (*fn)(void* ctx, size_t task), void* ctx) {
  if (tasks == 0) return;
  std::unique_lock<std::mutex> lock(pool_mutex, std::defer_lock);
  if (tasks == 1 || Threads() == 1 || !lock.try_lock()) {
    for (size_t t = 0; t < tasks; ++t) fn(ctx, t);
    return;
  }
  GetPool().Run(tasks, fn, ctx);
}

}  // namespace lmc::rt
