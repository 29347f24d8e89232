#include "birga/crdt/counter.h"

#include <algorithm>

namespace birga::crdt {

CounterUpdate Counter::make_add(const ActorId& actor, int64_t delta) const {
  CounterUpdate op{actor, 0, 0};
  if (auto it = totals_.find(actor); it != totals_.end()) {
    op.inc_total = it->second.inc;
    op.dec_total = it->second.dec;
  }
  if (delta >= 0) {
    op.inc_total += static_cast<uint64_t>(delta);
  } else {
    op.dec_total += static_cast<uint64_t>(-(delta + 1)) + 1;  // no overflow at INT64_MIN
  }
  return op;
}

void Counter::apply(const CounterUpdate& op) {
  Totals& t = totals_[op.actor];
  t.inc = std::max(t.inc, op.inc_total);
  t.dec = std::max(t.dec, op.dec_total);
}

void Counter::merge(const Counter& other) {
  for (const auto& [actor, t] : other.totals_) apply(CounterUpdate{actor, t.inc, t.dec});
}

int64_t Counter::value() const {
  uint64_t sum = 0;  // wraps modulo 2^64, read back as two's complement
  for (const auto& e : totals_) sum += e.second.inc - e.second.dec;
  return static_cast<int64_t>(sum);
}

void Counter::encode(ByteWriter& w) const {
  w.varint(totals_.size());
  for (const auto& [actor, t] : totals_) {
    w.actor(actor);
    w.varint(t.inc);
    w.varint(t.dec);
  }
}

Counter Counter::decode(ByteReader& r) {
  Counter c;
  const uint64_t n = r.count(r.actor_bytes() + 2);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    const ActorId a = r.actor();
    Totals t;
    t.inc = r.varint();
    t.dec = r.varint();
    c.totals_[a] = t;
  }
  return c;
}

}  // namespace birga::crdt
