// Hybrid logical clock: 48 bits of wall-clock milliseconds and a 16-bit logical counter.
//
// Timestamps order every event a replica makes and sees, stay close to real time, and are
// strictly increasing per replica even when the wall clock jumps backwards.
//
// Skew guard: tablets in the field often have wrong clocks. A remote timestamp more than
// `max_skew_ms` ahead of the local wall clock is not adopted into the local clock, so one bad
// clock cannot drag every device into the future. update() reports such a refusal in its
// result; the caller still keeps the remote change (field data is never dropped) and reports
// the anomaly.
//
// Thread rule: a HybridClock is not thread-safe; one owner (the replica's writer) uses it.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>

namespace birga::crdt {

class Timestamp {
 public:
  static constexpr uint64_t kMaxWallMs = (uint64_t{1} << 48) - 1;
  static constexpr uint16_t kMaxCounter = 0xFFFF;

  constexpr Timestamp() = default;
  // REQUIRES: wall_ms <= kMaxWallMs (larger values are masked to 48 bits).
  static constexpr Timestamp make(uint64_t wall_ms, uint16_t counter) {
    return Timestamp(((wall_ms & kMaxWallMs) << 16) | counter);
  }
  static constexpr Timestamp from_packed(uint64_t packed) { return Timestamp(packed); }

  constexpr uint64_t wall_ms() const { return packed_ >> 16; }
  constexpr uint16_t counter() const { return static_cast<uint16_t>(packed_ & 0xFFFF); }
  constexpr uint64_t packed() const { return packed_; }
  constexpr bool is_zero() const { return packed_ == 0; }

  // "2026-11-22T09:10:11.123Z+3" (UTC wall time, then the counter).
  std::string to_string() const;

  friend constexpr auto operator<=>(Timestamp, Timestamp) = default;

 private:
  constexpr explicit Timestamp(uint64_t packed) : packed_(packed) {}
  uint64_t packed_ = 0;
};

// Milliseconds since the Unix epoch. Injected so that tests control time.
using WallClock = std::function<uint64_t()>;
uint64_t system_wall_clock_ms();

class HybridClock {
 public:
  static constexpr uint64_t kDefaultMaxSkewMs = 10 * 60 * 1000;  // ten minutes

  explicit HybridClock(WallClock wall = system_wall_clock_ms,
                       uint64_t max_skew_ms = kDefaultMaxSkewMs);

  // A new timestamp for a local event, greater than every timestamp this clock returned or
  // adopted before.
  Timestamp now();

  struct Update {
    Timestamp time;         // the local clock after the update (also a fresh timestamp)
    bool adopted = true;    // false: remote was too far ahead and was not adopted
    uint64_t ahead_ms = 0;  // how far remote was ahead of the local wall clock (0 if not)
  };
  // Merges a timestamp seen on a remote change into the clock (HLC receive rule).
  Update update(Timestamp remote);

  // The largest timestamp issued or adopted so far (persisted by the replica).
  Timestamp last() const { return last_; }
  // Restores a persisted clock, so a restarted replica never reissues a timestamp.
  void restore(Timestamp persisted);

  uint64_t max_skew_ms() const { return max_skew_ms_; }

 private:
  // Smallest timestamp greater than both last_ and `floor`, at wall time >= `wall_ms`.
  Timestamp advance(uint64_t wall_ms, Timestamp floor);

  WallClock wall_;
  uint64_t max_skew_ms_;
  Timestamp last_;
};

}  // namespace birga::crdt
