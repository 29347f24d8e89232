// Actors, dots, dot sets and version vectors: the causal vocabulary of every CRDT here.
//
// An actor is a device (16 bytes, derived by the engine from the device's public key). A dot
// (actor, counter) names one operation uniquely. A DotSet is a set of dots (what a write
// observed, what a delete covered). A VersionVector maps each actor to the highest counter
// seen when what was seen from that actor is a contiguous prefix (1..n).
//
// Thread rule: plain values.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace birga::crdt {

struct ActorId {
  std::array<uint8_t, 16> bytes{};

  std::string to_hex() const;
  // Parses 32 hex digits; nullopt on anything else.
  static std::optional<ActorId> from_hex(std::string_view hex);
  // A readable test/demo actor: the name's bytes, zero padded (at most 16).
  static ActorId named(std::string_view name);

  friend auto operator<=>(const ActorId&, const ActorId&) = default;
};

struct Dot {
  ActorId actor;
  uint64_t counter = 0;

  std::string to_string() const;  // "<first 8 hex of actor>:<counter>"
  friend auto operator<=>(const Dot&, const Dot&) = default;
};

using DotSet = std::set<Dot>;

// The same set as a DotSet, kept as runs of consecutive counters per actor. The ops of one
// change that touch one record have consecutive counters, so the dots a record has applied
// take a few runs in one array whatever their number (a std::set holds a node per dot).
class DotRanges {
 public:
  bool contains(const Dot& d) const;
  void insert(const Dot& d) { insert_run(d.actor, d.counter, d.counter); }
  void insert(const DotRanges& other);
  // Adds counters first..last (first <= last) of `actor`.
  void insert_run(const ActorId& actor, uint64_t first, uint64_t last);
  bool empty() const { return runs_.empty(); }
  DotSet to_set() const;

  struct Run {
    ActorId actor;
    uint64_t first = 0, last = 0;  // inclusive
    friend bool operator==(const Run&, const Run&) = default;
  };
  // In (actor, counter) order; runs of one actor neither overlap nor touch.
  const std::vector<Run>& runs() const { return runs_; }
  friend bool operator==(const DotRanges&, const DotRanges&) = default;

 private:
  std::vector<Run> runs_;
};

enum class Order { kEqual, kBefore, kAfter, kConcurrent };

class VersionVector {
 public:
  // Highest contiguous counter held from `actor` (0: nothing).
  uint64_t get(const ActorId& actor) const;
  // Sets `actor`'s entry to max(current, counter).
  void advance(const ActorId& actor, uint64_t counter);
  // True when this vector covers `dot` (dot.counter <= get(dot.actor)).
  bool contains(const Dot& dot) const;
  // Pointwise maximum.
  void merge(const VersionVector& other);
  // kBefore: this < other (other covers this and more), kAfter the reverse.
  Order compare(const VersionVector& other) const;

  const std::map<ActorId, uint64_t>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  friend bool operator==(const VersionVector&, const VersionVector&) = default;

 private:
  std::map<ActorId, uint64_t> entries_;  // no zero entries
};

}  // namespace birga::crdt
