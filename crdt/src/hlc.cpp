#include "birga/crdt/hlc.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace birga::crdt {

std::string Timestamp::to_string() const {
  const uint64_t ms = wall_ms();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ+%u", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned>(ms % 1000), static_cast<unsigned>(counter()));
  return buf;
}

uint64_t system_wall_clock_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

HybridClock::HybridClock(WallClock wall, uint64_t max_skew_ms)
    : wall_(std::move(wall)), max_skew_ms_(max_skew_ms) {}

Timestamp HybridClock::advance(uint64_t wall_ms, Timestamp floor) {
  const Timestamp base = std::max(last_, floor);
  wall_ms &= Timestamp::kMaxWallMs;
  Timestamp next;
  if (wall_ms > base.wall_ms()) {
    next = Timestamp::make(wall_ms, 0);
  } else if (base.counter() < Timestamp::kMaxCounter) {
    next = Timestamp::make(base.wall_ms(), static_cast<uint16_t>(base.counter() + 1));
  } else if (base.wall_ms() < Timestamp::kMaxWallMs) {
    // Counter exhausted within one millisecond: borrow the next millisecond. The clock runs
    // at most a few ms ahead of the wall and falls back in line as real time catches up.
    next = Timestamp::make(base.wall_ms() + 1, 0);
  } else {
    next = base;  // the end of 48-bit time (year 10889): saturate rather than wrap to 1970
  }
  last_ = next;
  return next;
}

Timestamp HybridClock::now() {
  return advance(wall_(), Timestamp());
}

HybridClock::Update HybridClock::update(Timestamp remote) {
  const uint64_t wall = wall_();
  Update result;
  if (remote.wall_ms() > wall && remote.wall_ms() - wall > max_skew_ms_) {
    result.adopted = false;
    result.ahead_ms = remote.wall_ms() - wall;
    result.time = advance(wall, Timestamp());
    return result;
  }
  if (remote.wall_ms() > wall) result.ahead_ms = remote.wall_ms() - wall;
  result.time = advance(wall, remote);
  return result;
}

void HybridClock::restore(Timestamp persisted) {
  if (persisted > last_) last_ = persisted;
}

}  // namespace birga::crdt
