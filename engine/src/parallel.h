// parallel_for: spreads independent, pure work (sealing, compressing, verifying, decoding)
// over the machine's cores for the length of one call. The LMDB transaction stays on the
// calling thread; the work given here must touch nothing shared but what it is handed.
//
// If a thread cannot be started the rest runs on the calling thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace birga::engine {

// parallel_for's bound on the threads of one call: past it, the work of one call (a batch of
// records, of blocks) is too small for more threads to pay for starting.
constexpr unsigned kMaxLoopThreads = 4;

// Calls fn(i) once for every i in [0, n), on up to `max_threads` threads (the caller's
// included), and returns when all calls have returned. Items are handed out one at a time,
// so uneven items balance. Below `min_items` everything runs on the calling thread. An
// exception thrown by fn (std::bad_alloc) stops the handing out; once every thread is joined
// the first one is rethrown on the calling thread, as if the loop had run there.
template <typename Fn>
void parallel_for(size_t n, Fn&& fn, size_t min_items = 16,
                  unsigned max_threads = kMaxLoopThreads) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t threads = std::min<size_t>({cores, max_threads, n / std::max<size_t>(min_items, 1)});
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::mutex failure_mu;
  std::exception_ptr failure;
  auto work = [&]() noexcept {
    try {
      for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) fn(i);
    } catch (...) {
      next.store(n, std::memory_order_relaxed);
      std::lock_guard<std::mutex> lock(failure_mu);
      if (!failure) failure = std::current_exception();
    }
  };
  std::vector<std::thread> helpers;
  try {
    helpers.reserve(threads - 1);
    for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
  } catch (const std::exception&) {
    // No (more) threads to be had: the calling thread does the rest.
  }
  work();
  for (std::thread& h : helpers) h.join();
  if (failure) std::rethrow_exception(failure);
}

// The threads for a parallel_for that may run while one helper thread of the same write keeps
// a core busy (a commit's sealer, an ingest's opener, Ahead below): the other cores, at least
// the caller's own and at most kMaxLoopThreads. On 2 cores a second thread there only contends
// with the helper (the district workload's create phase: 642 ms with it, 608 ms without).
inline unsigned threads_beside_helper() {
  const unsigned cores = std::thread::hardware_concurrency();
  return std::clamp(cores > 1 ? cores - 1 : 1, 1u, kMaxLoopThreads);
}

// Runs fn(0), fn(1), ... fn(n - 1) in that order on a thread of its own, ahead of a caller
// that takes their results up in the same order: ready(i) returns once fn(i) has run, and
// runs it on the caller's thread when the helper has not started it yet (so the caller never
// waits for the helper to catch up, only for an item the helper is in the middle of). Each
// item runs exactly once. fn must not throw. Destroying the Ahead stops the helper after the
// item it is running. Fewer than two items, or no thread to be had: all run in ready().
class Ahead {
 public:
  Ahead(size_t n, std::function<void(size_t)> fn) : fn_(std::move(fn)), state_(n) {
    if (n < 2) return;
    try {
      thread_ = std::thread([this] {
        for (size_t i = 0; i < state_.size() && !stop_.load(std::memory_order_relaxed); ++i) {
          if (claim(i)) run(i);
        }
      });
    } catch (const std::system_error&) {
      // No thread: ready() runs every item.
    }
  }
  void ready(size_t i) {
    if (claim(i)) return run(i);
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return state_[i].load(std::memory_order_acquire) == kDone; });
  }
  ~Ahead() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  Ahead(const Ahead&) = delete;
  Ahead& operator=(const Ahead&) = delete;

 private:
  enum : uint8_t { kFree, kClaimed, kDone };
  bool claim(size_t i) {
    uint8_t free = kFree;
    return state_[i].compare_exchange_strong(free, kClaimed, std::memory_order_acq_rel);
  }
  void run(size_t i) {
    fn_(i);
    {
      std::lock_guard<std::mutex> lock(mu_);
      state_[i].store(kDone, std::memory_order_release);
    }
    done_.notify_all();
  }

  std::function<void(size_t)> fn_;
  std::vector<std::atomic<uint8_t>> state_;
  std::mutex mu_;
  std::condition_variable done_;
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: started once everything it uses is
};

// Frees what a finished write leaves behind (its records, the ops it decoded) on a thread of
// its own while the caller goes on: the next sync message is opened and applied while the
// last one's memory is given back. One thread at a time: handing over more, or destroying
// the Disposer, first waits for the last. If no thread can be started the garbage is freed
// on the caller's thread. Only plain memory may be handed over (nothing that refers to an
// LMDB transaction or is used elsewhere).
class Disposer {
 public:
  template <typename T>
  void later(T&& garbage) {
    wait();
    auto box = std::make_unique<std::decay_t<T>>(std::forward<T>(garbage));
    try {
      thread_ = std::thread([b = std::move(box)]() mutable noexcept { b.reset(); });
    } catch (const std::system_error&) {
      // No thread: the lambda, and the garbage with it, is freed here.
    }
  }
  void wait() {
    if (thread_.joinable()) thread_.join();
  }
  Disposer() = default;
  Disposer(const Disposer&) = delete;
  Disposer& operator=(const Disposer&) = delete;
  ~Disposer() { wait(); }

 private:
  std::thread thread_;
};

}  // namespace birga::engine
