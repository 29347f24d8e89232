// Timestamp packing and the hybrid logical clock, driven by an injected fake wall clock.
#include "birga/crdt/hlc.h"

#include <catch2/catch.hpp>

namespace birga::crdt {
namespace {

// A wall clock the test sets by hand.
struct FakeWall {
  uint64_t ms = 0;
  WallClock clock() {
    return [this] { return ms; };
  }
};

constexpr uint64_t kMinute = 60 * 1000;

TEST_CASE("Timestamp: packs 48 bits of milliseconds above a 16-bit counter", "[crdt][hlc]") {
  const Timestamp t = Timestamp::make(0x123456789ABC, 0xDEF0);
  CHECK(t.packed() == 0x123456789ABCDEF0ull);
  CHECK(t.wall_ms() == 0x123456789ABCull);
  CHECK(t.counter() == 0xDEF0);
  CHECK(Timestamp::from_packed(0x123456789ABCDEF0ull) == t);
  CHECK_FALSE(t.is_zero());
  CHECK(Timestamp().is_zero());
  CHECK(Timestamp().packed() == 0);

  // Wall time above 48 bits is masked, never bleeding into the counter.
  const Timestamp masked = Timestamp::make((uint64_t{1} << 48) + 5, 7);
  CHECK(masked.wall_ms() == 5);
  CHECK(masked.counter() == 7);
  CHECK(Timestamp::make(Timestamp::kMaxWallMs, Timestamp::kMaxCounter).packed() == UINT64_MAX);
}

TEST_CASE("Timestamp: orders by wall time, then counter", "[crdt][hlc]") {
  CHECK(Timestamp::make(5, 0xFFFF) < Timestamp::make(6, 0));
  CHECK(Timestamp::make(6, 1) < Timestamp::make(6, 2));
  CHECK(Timestamp::make(6, 2) == Timestamp::make(6, 2));
  CHECK(Timestamp::make(7, 0) > Timestamp::make(6, 0xFFFF));
}

TEST_CASE("Timestamp: to_string shows UTC wall time and the counter", "[crdt][hlc]") {
  CHECK(Timestamp().to_string() == "1970-01-01T00:00:00.000Z+0");
  // 1795338611 s is 2026-11-22 09:10:11 UTC (date -u -d @1795338611).
  CHECK(Timestamp::make(1795338611123ull, 3).to_string() == "2026-11-22T09:10:11.123Z+3");
  CHECK(Timestamp::make(1795338611005ull, 65535).to_string() == "2026-11-22T09:10:11.005Z+65535");
}

TEST_CASE("HybridClock: now() follows the wall clock", "[crdt][hlc]") {
  FakeWall wall{1000};
  HybridClock clock(wall.clock());
  CHECK(clock.last().is_zero());
  CHECK(clock.now() == Timestamp::make(1000, 0));
  CHECK(clock.now() == Timestamp::make(1000, 1));  // same millisecond: the counter moves
  CHECK(clock.now() == Timestamp::make(1000, 2));
  wall.ms = 1005;
  CHECK(clock.now() == Timestamp::make(1005, 0));
  CHECK(clock.last() == Timestamp::make(1005, 0));
}

TEST_CASE("HybridClock: stays monotonic when the wall clock goes backwards", "[crdt][hlc]") {
  FakeWall wall{5000};
  HybridClock clock(wall.clock());
  CHECK(clock.now() == Timestamp::make(5000, 0));
  wall.ms = 4000;  // the tablet's clock was corrected backwards by a second
  CHECK(clock.now() == Timestamp::make(5000, 1));
  CHECK(clock.now() == Timestamp::make(5000, 2));
  wall.ms = 1;
  CHECK(clock.now() == Timestamp::make(5000, 3));
  wall.ms = 5000;
  CHECK(clock.now() == Timestamp::make(5000, 4));
  wall.ms = 5001;  // real time caught up: back to the wall clock with a fresh counter
  CHECK(clock.now() == Timestamp::make(5001, 0));

  // A longer random walk of the wall clock: every timestamp is greater than the previous one.
  Timestamp prev = clock.last();
  uint64_t x = 12345;
  for (int i = 0; i < 2000; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    wall.ms = 5000 + (x >> 33) % 50;  // jumps around inside 50 ms, often backwards
    const Timestamp t = clock.now();
    REQUIRE(t > prev);
    prev = t;
  }
}

TEST_CASE("HybridClock: a full 16-bit counter moves to the next millisecond", "[crdt][hlc]") {
  FakeWall wall{1000};
  HybridClock clock(wall.clock());
  SECTION("by issuing 65536 timestamps within one millisecond") {
    for (uint32_t i = 0; i <= 0xFFFF; ++i) {
      REQUIRE(clock.now() == Timestamp::make(1000, static_cast<uint16_t>(i)));
    }
    CHECK(clock.now() == Timestamp::make(1001, 0));
    CHECK(clock.now() == Timestamp::make(1001, 1));  // the wall is still at 1000
    wall.ms = 1001;
    CHECK(clock.now() == Timestamp::make(1001, 2));
  }
  SECTION("after a restored timestamp at the last counter value") {
    clock.restore(Timestamp::make(1000, 0xFFFF));
    CHECK(clock.now() == Timestamp::make(1001, 0));
  }
  SECTION("after adopting a remote timestamp at the last counter value") {
    const HybridClock::Update up = clock.update(Timestamp::make(1000, 0xFFFF));
    CHECK(up.adopted);
    CHECK(up.time == Timestamp::make(1001, 0));
  }
}

TEST_CASE("HybridClock: a remote time within max skew is adopted", "[crdt][hlc]") {
  FakeWall wall{10 * kMinute};
  HybridClock clock(wall.clock(), kMinute);
  CHECK(clock.max_skew_ms() == kMinute);
  REQUIRE(clock.now() == Timestamp::make(10 * kMinute, 0));

  SECTION("ahead, but by less than the bound") {
    const Timestamp remote = Timestamp::make(10 * kMinute + 30000, 7);
    const HybridClock::Update up = clock.update(remote);
    CHECK(up.adopted);
    CHECK(up.ahead_ms == 30000);
    CHECK(up.time == Timestamp::make(10 * kMinute + 30000, 8));
    CHECK(clock.last() == up.time);
    // Local events now follow the adopted time although the wall clock is behind it.
    CHECK(clock.now() == Timestamp::make(10 * kMinute + 30000, 9));
  }
  SECTION("ahead by exactly the bound") {
    const HybridClock::Update up = clock.update(Timestamp::make(11 * kMinute, 0));
    CHECK(up.adopted);
    CHECK(up.ahead_ms == kMinute);
    CHECK(up.time == Timestamp::make(11 * kMinute, 1));
  }
  SECTION("behind: the clock keeps its own time and moves on") {
    const HybridClock::Update up = clock.update(Timestamp::make(9 * kMinute, 40));
    CHECK(up.adopted);
    CHECK(up.ahead_ms == 0);
    CHECK(up.time == Timestamp::make(10 * kMinute, 1));
  }
  SECTION("same millisecond, higher counter: the result is above the remote") {
    const HybridClock::Update up = clock.update(Timestamp::make(10 * kMinute, 500));
    CHECK(up.adopted);
    CHECK(up.ahead_ms == 0);
    CHECK(up.time == Timestamp::make(10 * kMinute, 501));
  }
  SECTION("the wall clock moved past both") {
    wall.ms = 10 * kMinute + 50;
    const HybridClock::Update up = clock.update(Timestamp::make(10 * kMinute + 20, 9));
    CHECK(up.adopted);
    CHECK(up.time == Timestamp::make(10 * kMinute + 50, 0));
  }
}

TEST_CASE("HybridClock: a remote time beyond max skew is not adopted and is reported",
          "[crdt][hlc]") {
  FakeWall wall{10 * kMinute};
  HybridClock clock(wall.clock(), kMinute);
  REQUIRE(clock.now() == Timestamp::make(10 * kMinute, 0));

  const Timestamp remote = Timestamp::make(11 * kMinute + 1, 3);  // 1 ms past the bound
  const HybridClock::Update up = clock.update(remote);
  CHECK_FALSE(up.adopted);
  CHECK(up.ahead_ms == kMinute + 1);
  CHECK(up.time == Timestamp::make(10 * kMinute, 1));  // still a fresh local timestamp
  CHECK(clock.last() == up.time);
  CHECK(clock.last() < remote);
  CHECK(clock.now() == Timestamp::make(10 * kMinute, 2));

  // A year-2100 clock is refused just the same.
  const HybridClock::Update far = clock.update(Timestamp::make(4102444800000ull, 0));
  CHECK_FALSE(far.adopted);
  CHECK(far.ahead_ms == 4102444800000ull - 10 * kMinute);
  CHECK(far.time.wall_ms() == 10 * kMinute);

  // Once the local wall clock has caught up to within the bound, the same time is adopted.
  wall.ms = 10 * kMinute + 2;
  const HybridClock::Update later = clock.update(remote);
  CHECK(later.adopted);
  CHECK(later.ahead_ms == kMinute - 1);
  CHECK(later.time == Timestamp::make(11 * kMinute + 1, 4));
}

TEST_CASE("HybridClock: the default skew bound is ten minutes", "[crdt][hlc]") {
  FakeWall wall{100 * kMinute};
  HybridClock clock(wall.clock());
  CHECK(clock.max_skew_ms() == 10 * kMinute);
  CHECK(HybridClock::kDefaultMaxSkewMs == 10 * kMinute);
  CHECK(clock.update(Timestamp::make(110 * kMinute, 0)).adopted);
  CHECK_FALSE(clock.update(Timestamp::make(110 * kMinute + 1, 0)).adopted);
}

TEST_CASE("HybridClock: restore() keeps a restarted clock from reissuing timestamps",
          "[crdt][hlc]") {
  FakeWall wall{100};  // the restarted tablet's wall clock is far behind the persisted time
  HybridClock clock(wall.clock());
  clock.restore(Timestamp::make(5000, 7));
  CHECK(clock.last() == Timestamp::make(5000, 7));
  CHECK(clock.now() == Timestamp::make(5000, 8));

  // Restoring an older value never moves the clock back.
  clock.restore(Timestamp::make(10, 0));
  CHECK(clock.last() == Timestamp::make(5000, 8));
  CHECK(clock.now() == Timestamp::make(5000, 9));

  // A newer persisted value moves it forward.
  clock.restore(Timestamp::make(6000, 0));
  CHECK(clock.now() == Timestamp::make(6000, 1));
}

TEST_CASE("HybridClock: the system wall clock reads the current time", "[crdt][hlc]") {
  // 2024-01-01 as a lower bound and year 2200 as an upper bound.
  const uint64_t now = system_wall_clock_ms();
  CHECK(now > 1704067200000ull);
  CHECK(now < 7258118400000ull);
  HybridClock clock;
  CHECK(clock.now().wall_ms() >= now);
}

}  // namespace
}  // namespace birga::crdt
