// Actors, dots and version vectors.
#include "birga/crdt/dot.h"

#include <catch2/catch.hpp>

#include "birga/crdt/codec.h"
#include "random_ops.h"

namespace birga::crdt {
namespace {

const ActorId kA = ActorId::named("alice");
const ActorId kB = ActorId::named("bob");
const ActorId kC = ActorId::named("carol");

VersionVector vv(std::initializer_list<std::pair<ActorId, uint64_t>> entries) {
  VersionVector v;
  for (const auto& [actor, counter] : entries) v.advance(actor, counter);
  return v;
}

TEST_CASE("ActorId: hex form round trips and refuses malformed input", "[crdt][dot]") {
  ActorId a;
  for (size_t i = 0; i < a.bytes.size(); ++i) a.bytes[i] = static_cast<uint8_t>(0x10 * i + 0xF);
  CHECK(a.to_hex() == "0f1f2f3f4f5f6f7f8f9fafbfcfdfefff");
  const std::optional<ActorId> back = ActorId::from_hex(a.to_hex());
  REQUIRE(back.has_value());
  CHECK(*back == a);
  const std::optional<ActorId> upper = ActorId::from_hex("0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFFF");
  REQUIRE(upper.has_value());
  CHECK(*upper == a);

  CHECK_FALSE(ActorId::from_hex("").has_value());
  CHECK_FALSE(ActorId::from_hex("0f1f2f3f4f5f6f7f8f9fafbfcfdfeff").has_value());    // 31
  CHECK_FALSE(ActorId::from_hex("0f1f2f3f4f5f6f7f8f9fafbfcfdfefff0").has_value());  // 33
  CHECK_FALSE(ActorId::from_hex("0f1f2f3f4f5f6f7f8f9fafbfcfdfefgf").has_value());   // 'g'
  CHECK_FALSE(ActorId::from_hex("0f1f2f3f4f5f6f7f8f9fafbfcfdfef f").has_value());   // ' '
}

TEST_CASE("ActorId: named() zero-pads the name's bytes to 16", "[crdt][dot]") {
  const ActorId tab = ActorId::named("tab");
  CHECK(tab.to_hex() == "74616200000000000000000000000000");
  CHECK(ActorId::named("").to_hex() == std::string(32, '0'));
  // Longer names are cut at 16 bytes.
  CHECK(ActorId::named("0123456789abcdefXYZ") == ActorId::named("0123456789abcdef"));
  CHECK(ActorId::named("a") < ActorId::named("b"));
  CHECK(ActorId::named("a") < ActorId::named("aa"));
}

TEST_CASE("Dot: orders by actor, then counter, and prints briefly", "[crdt][dot]") {
  CHECK(Dot{kA, 9} < Dot{kB, 1});
  CHECK(Dot{kA, 1} < Dot{kA, 2});
  CHECK(Dot{kA, 2} == Dot{kA, 2});
  CHECK_FALSE(Dot{kA, 2} == Dot{kB, 2});
  CHECK(Dot{ActorId::named("tab"), 3}.to_string() == "74616200:3");
  const DotSet s{{kB, 1}, {kA, 2}, {kA, 1}};
  CHECK(std::vector<Dot>(s.begin(), s.end()) == std::vector<Dot>{{kA, 1}, {kA, 2}, {kB, 1}});
}

TEST_CASE("VersionVector: advance keeps the maximum and ignores zero", "[crdt][dot]") {
  VersionVector v;
  CHECK(v.empty());
  CHECK(v.get(kA) == 0);
  v.advance(kA, 0);
  CHECK(v.empty());  // no zero entries
  v.advance(kA, 3);
  v.advance(kA, 2);  // lower: ignored
  CHECK(v.get(kA) == 3);
  v.advance(kA, 5);
  CHECK(v.get(kA) == 5);
  CHECK(v.get(kB) == 0);
  CHECK(v.entries().size() == 1);
  CHECK_FALSE(v.empty());
}

TEST_CASE("VersionVector: contains covers the dots up to each actor's counter", "[crdt][dot]") {
  const VersionVector v = vv({{kA, 3}, {kB, 1}});
  CHECK(v.contains(Dot{kA, 1}));
  CHECK(v.contains(Dot{kA, 3}));
  CHECK_FALSE(v.contains(Dot{kA, 4}));
  CHECK(v.contains(Dot{kB, 1}));
  CHECK_FALSE(v.contains(Dot{kB, 2}));
  CHECK_FALSE(v.contains(Dot{kC, 1}));
  CHECK_FALSE(v.contains(Dot{kC, 0}));  // counter 0 names no op
  CHECK_FALSE(v.contains(Dot{kA, 0}));
}

TEST_CASE("VersionVector: merge is the pointwise maximum", "[crdt][dot]") {
  VersionVector v = vv({{kA, 3}, {kB, 7}});
  v.merge(vv({{kA, 5}, {kB, 2}, {kC, 1}}));
  CHECK(v == vv({{kA, 5}, {kB, 7}, {kC, 1}}));
  CHECK(v.entries() == std::map<ActorId, uint64_t>{{kA, 5}, {kB, 7}, {kC, 1}});

  VersionVector w = vv({{kA, 5}, {kB, 2}, {kC, 1}});
  w.merge(vv({{kA, 3}, {kB, 7}}));
  CHECK(w == v);  // commutative

  VersionVector same = v;
  same.merge(v);
  CHECK(same == v);  // idempotent
  same.merge(VersionVector());
  CHECK(same == v);
}

TEST_CASE("VersionVector: compare tells equal, before, after and concurrent", "[crdt][dot]") {
  const VersionVector empty;
  const VersionVector a3 = vv({{kA, 3}});
  const VersionVector a3b1 = vv({{kA, 3}, {kB, 1}});
  const VersionVector a2b2 = vv({{kA, 2}, {kB, 2}});
  const VersionVector c1 = vv({{kC, 1}});

  CHECK(empty.compare(empty) == Order::kEqual);
  CHECK(a3b1.compare(vv({{kB, 1}, {kA, 3}})) == Order::kEqual);
  CHECK(empty.compare(a3) == Order::kBefore);
  CHECK(a3.compare(empty) == Order::kAfter);
  CHECK(a3.compare(a3b1) == Order::kBefore);  // a3b1 has everything a3 has, and more
  CHECK(a3b1.compare(a3) == Order::kAfter);
  CHECK(vv({{kA, 1}}).compare(a3) == Order::kBefore);
  CHECK(a3b1.compare(a2b2) == Order::kConcurrent);
  CHECK(a2b2.compare(a3b1) == Order::kConcurrent);
  CHECK(a3.compare(c1) == Order::kConcurrent);  // disjoint actors
  CHECK(c1.compare(a3) == Order::kConcurrent);

  // compare agrees with merge: a merged vector is after (or equal to) each input.
  VersionVector m = a3b1;
  m.merge(a2b2);
  CHECK(m.compare(a3b1) == Order::kAfter);
  CHECK(a2b2.compare(m) == Order::kBefore);
}

}  // namespace
}  // namespace birga::crdt

// ---- DotRanges ---------------------------------------------------------------------------------

namespace birga::crdt {
namespace {

TEST_CASE("DotRanges: runs merge when they touch or overlap, in any insertion order",
          "[crdt][dot]") {
  DotRanges r;
  r.insert(Dot{kA, 5});
  r.insert(Dot{kA, 7});
  CHECK(r.runs().size() == 2);
  r.insert(Dot{kA, 6});  // bridges 5 and 7
  REQUIRE(r.runs().size() == 1);
  CHECK(r.runs()[0] == DotRanges::Run{kA, 5, 7});
  r.insert_run(kA, 1, 4);  // touches from below
  r.insert_run(kB, 3, 3);
  r.insert_run(kA, 10, 20);
  r.insert_run(kA, 2, 12);  // overlaps both runs of A
  REQUIRE(r.runs().size() == 2);
  CHECK(r.runs()[0] == DotRanges::Run{kA, 1, 20});
  CHECK(r.runs()[1] == DotRanges::Run{kB, 3, 3});
  CHECK(r.contains(Dot{kA, 1}));
  CHECK(r.contains(Dot{kA, 20}));
  CHECK_FALSE(r.contains(Dot{kA, 21}));
  CHECK_FALSE(r.contains(Dot{kB, 2}));
  CHECK_FALSE(r.contains(Dot{kC, 3}));
  // The largest counter, with no wrap-around when touching it.
  r.insert_run(kC, UINT64_MAX - 1, UINT64_MAX);
  r.insert(Dot{kC, UINT64_MAX - 2});
  CHECK(r.runs().back() == DotRanges::Run{kC, UINT64_MAX - 2, UINT64_MAX});
  CHECK(r.contains(Dot{kC, UINT64_MAX}));
}

TEST_CASE("DotRanges: the same set as a DotSet under random inserts and merges (property)",
          "[crdt][dot][property]") {
  const std::string name = "DotRanges: the same set as a DotSet under random inserts and merges";
  testing::run_property(name, 300, [&](uint64_t seed) -> std::optional<std::string> {
    testing::Rng rng(seed);
    auto below = [&](uint64_t n) { return testing::pick(rng, n); };
    const ActorId actors[] = {kA, kB, kC};
    DotRanges ranges, other;
    DotSet set, other_set;
    for (int step = 0; step < 200; ++step) {
      const ActorId& a = actors[below(3)];
      const uint64_t first = 1 + below(60), len = below(4);
      DotRanges& r = below(4) == 0 ? other : ranges;
      DotSet& s = &r == &other ? other_set : set;
      r.insert_run(a, first, first + len);
      for (uint64_t c = first; c <= first + len; ++c) s.insert(Dot{a, c});
      if (below(20) == 0) {
        ranges.insert(other);
        set.insert(other_set.begin(), other_set.end());
      }
      if (ranges.to_set() != set) return "sets differ at step " + std::to_string(step);
      for (uint64_t c = 0; c < 70; ++c) {
        const Dot d{a, c};
        if (ranges.contains(d) != (set.count(d) > 0)) {
          return "contains(" + d.to_string() + ") wrong at step " + std::to_string(step);
        }
      }
      // Canonical: runs sorted, of one actor never overlapping nor touching.
      const auto& runs = ranges.runs();
      for (size_t i = 1; i < runs.size(); ++i) {
        if (runs[i - 1].actor == runs[i].actor ? runs[i - 1].last + 1 >= runs[i].first
                                               : !(runs[i - 1].actor < runs[i].actor)) {
          return "runs not canonical at step " + std::to_string(step);
        }
      }
      // Encoded as a dot set, byte for byte, and read back.
      ByteWriter w1, w2;
      w1.dots(set);
      w2.dot_ranges(ranges);
      if (w1.data() != w2.data()) return "encodings differ at step " + std::to_string(step);
      ByteReader rd(w2.data());
      if (rd.dot_ranges() != ranges || !rd.finish().is_ok()) {
        return "decoding differs at step " + std::to_string(step);
      }
    }
    return std::nullopt;
  });
}

}  // namespace
}  // namespace birga::crdt
