// Counter: increments and decrements per actor (a PN-counter).
//
// Each actor's op carries that actor's running totals of increments and decrements on this
// counter, not a bare delta. Applying takes the maximum per actor, so ops commute, and a
// duplicate or an older op changes nothing. The writer learns its own totals from its own
// state: make_add() builds the op.
//
// Thread rule: plain value.
#pragma once

#include <cstdint>
#include <map>

#include "birga/crdt/codec.h"
#include "birga/crdt/dot.h"

namespace birga::crdt {

struct CounterUpdate {
  ActorId actor;
  uint64_t inc_total = 0;
  uint64_t dec_total = 0;
};

class Counter {
 public:
  // The op that adds `delta` (negative to subtract) as `actor`, given this state.
  CounterUpdate make_add(const ActorId& actor, int64_t delta) const;

  void apply(const CounterUpdate& op);
  void merge(const Counter& other);
  int64_t value() const;

  void encode(ByteWriter& w) const;
  static Counter decode(ByteReader& r);
  friend bool operator==(const Counter&, const Counter&) = default;

 private:
  struct Totals {
    uint64_t inc = 0;
    uint64_t dec = 0;
    friend bool operator==(const Totals&, const Totals&) = default;
  };
  std::map<ActorId, Totals> totals_;
};

}  // namespace birga::crdt
