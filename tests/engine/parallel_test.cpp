// parallel.h: parallel_for and Ahead run every item exactly once, wherever it runs.
#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

using birga::engine::Ahead;
using birga::engine::parallel_for;

TEST_CASE("parallel_for: every item runs once, and a thrown exception reaches the caller",
          "[engine][parallel]") {
  std::vector<std::atomic<int>> runs(1000);
  parallel_for(
      runs.size(), [&](size_t i) { ++runs[i]; }, 1);
  for (const auto& r : runs) CHECK(r.load() == 1);

  CHECK_THROWS_AS(parallel_for(
                      100,
                      [](size_t i) {
                        if (i == 37) throw std::bad_alloc();
                      },
                      1),
                  std::bad_alloc);
}

TEST_CASE("Ahead: each item runs once, in order on the helper, and is ready when asked for",
          "[engine][parallel]") {
  for (size_t n : {0u, 1u, 2u, 7u, 200u}) {
    for (int caller_delay_us : {0, 200}) {
      INFO("n " << n << ", caller waits " << caller_delay_us << " us per item");
      std::vector<std::atomic<int>> runs(n);
      std::vector<int> result(n, -1);
      std::mutex order_mu;
      std::vector<size_t> helper_order;
      const auto caller = std::this_thread::get_id();
      {
        Ahead ahead(n, [&](size_t i) noexcept {
          ++runs[i];
          result[i] = static_cast<int>(i) * 3;
          if (std::this_thread::get_id() != caller) {
            std::lock_guard<std::mutex> lock(order_mu);
            helper_order.push_back(i);
          }
        });
        for (size_t i = 0; i < n; ++i) {
          ahead.ready(i);
          CHECK(result[i] == static_cast<int>(i) * 3);  // written by whichever thread ran it
          std::this_thread::sleep_for(std::chrono::microseconds(caller_delay_us));
        }
      }
      for (const auto& r : runs) CHECK(r.load() == 1);
      CHECK(std::is_sorted(helper_order.begin(), helper_order.end()));
    }
  }
}

TEST_CASE("Ahead: destroyed before every item is asked for, it stops without running them all",
          "[engine][parallel]") {
  std::vector<std::atomic<int>> runs(1000);
  {
    Ahead ahead(runs.size(), [&](size_t i) noexcept {
      ++runs[i];
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    });
    ahead.ready(0);
  }
  size_t ran = 0;
  for (const auto& r : runs) {
    CHECK(r.load() <= 1);
    ran += r.load();
  }
  CHECK(ran >= 1);
  CHECK(ran < runs.size());  // 1000 items of 100 us: the helper was stopped long before
}
