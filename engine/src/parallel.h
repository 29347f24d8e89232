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

}  // namespace birga::engine
