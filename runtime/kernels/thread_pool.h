// The process's persistent thread pool: workers are created once (by SetThreads, or at the
// first parallel call) and sleep between calls, so a decoded token costs no thread creation.
// A call wakes them (they spin briefly, then wait on a futex through std::atomic::wait; with
// more threads than cores they wait at once, so oversubscription costs wake-ups, not cores),
// hands task i to thread i mod Threads() (the caller is thread 0), and returns when every
// task has run. The assignment of tasks to threads is fixed, and the kernels split work by
// output rows only, so results do not depend on the thread count.
#pragma once

#include <cstddef>

namespace lmc::rt {

// Every core this process may run on.
int DefaultThreads();
// Sets the pool's size (>= 1; 1 runs everything on the caller). Not during a parallel call.
void SetThreads(int threads);
// The pool's size: SetThreads's, else DefaultThreads().
int Threads();

// Runs fn(ctx, task) for every task in [0, tasks) and returns when all are done; while
// another thread's call holds the pool, on the caller alone. Not
// reentrant: fn must not call ParallelFor. The first call after SetThreads starts the
// workers: if the system refuses one, std::system_error ("cannot start thread 5 of 64
// (--threads): Resource temporarily unavailable") after the others are joined.
void ParallelFor(size_t tasks, void (*fn)(void* ctx, size_t task), void* ctx);

template <typename F>
void ParallelFor(size_t tasks, F& body) {
  ParallelFor(
      tasks, [](void* ctx, size_t task) { (*static_cast<F*>(ctx))(task); }, &body);
}

// Output rows [0, rows) split into Threads() contiguous ranges whose boundaries are
// multiples of kRowAlign (so outputs of f32 rows written by different threads never share a
// 64-byte line, given 64-byte aligned outputs); body(begin, end) runs once per non-empty
// range. Products smaller than kMinParallelWork multiply-adds run on the caller alone: waking
// threads would cost more.
inline constexpr size_t kRowAlign = 16;
inline constexpr size_t kMinParallelWork = size_t{1} << 16;

template <typename F>
void ParallelRows(size_t rows, size_t work, F&& body) {
  const size_t threads = static_cast<size_t>(Threads());
  const size_t blocks = (rows + kRowAlign - 1) / kRowAlign;
  if (threads == 1 || blocks < 2 || work < kMinParallelWork) {
    body(size_t{0}, rows);
    return;
  }
  const size_t parts = threads < blocks ? threads : blocks;
  auto task = [&](size_t i) {
    const size_t begin = blocks * i / parts * kRowAlign;
    size_t end = blocks * (i + 1) / parts * kRowAlign;
    if (end > rows) end = rows;
    if (begin < end) body(begin, end);
  };
  ParallelFor(parts, task);
}

}  // namespace lmc::rt
