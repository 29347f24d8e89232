// parallel_for: spreads independent, pure work (sealing, compressing, verifying, decoding)
// over the machine's cores for the length of one call. The LMDB transaction stays on the
// calling thread; the work given here must touch nothing shared but what it is handed.
//
// If a thread cannot be started the rest runs on the calling thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace birga::engine {

// Calls fn(i) once for every i in [0, n), on up to `max_threads` threads (the caller's
// included), and returns when all calls have returned. Items are handed out one at a time,
// so uneven items balance. Below `min_items` everything runs on the calling thread. An
// exception thrown by fn (std::bad_alloc) stops the handing out; once every thread is joined
// the first one is rethrown on the calling thread, as if the loop had run there.
template <typename Fn>
void parallel_for(size_t n, Fn&& fn, size_t min_items = 16, unsigned max_threads = 4) {
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
