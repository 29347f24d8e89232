// The field types: LwwRegister, MvRegister, AwSet, Counter and AppendLog.
#include <algorithm>
#include <catch2/catch.hpp>
#include <numeric>
#include <set>
#include <variant>

#include "birga/crdt/append_log.h"
#include "birga/crdt/aw_set.h"
#include "birga/crdt/counter.h"
#include "birga/crdt/lww_register.h"
#include "birga/crdt/mv_register.h"

namespace birga::crdt {
namespace {

const ActorId kA = ActorId::named("alice");
const ActorId kB = ActorId::named("bob");
const ActorId kC = ActorId::named("carol");

template <typename T>
std::string encoded(const T& x) {
  ByteWriter w;
  x.encode(w);
  return w.take();
}

template <typename T, typename Op>
void apply_one(T& state, const Op& op) {
  state.apply(op);
}
template <typename T, typename... Ops>
void apply_one(T& state, const std::variant<Ops...>& op) {
  std::visit([&state](const auto& o) { state.apply(o); }, op);
}

// Applies `ops` to a fresh T in every order (all permutations) and returns the distinct
// canonical encodings seen: one when the type is order independent.
template <typename T, typename Op>
std::set<std::string> states_over_all_orders(std::vector<Op> ops) {
  std::vector<size_t> order(ops.size());
  std::iota(order.begin(), order.end(), 0);
  std::set<std::string> seen;
  do {
    T state;
    for (size_t i : order) apply_one(state, ops[i]);
    seen.insert(encoded(state));
  } while (std::next_permutation(order.begin(), order.end()));
  return seen;
}

// ---------------------------------------------------------------------------------------------
// LwwRegister

TEST_CASE("LwwRegister: an unset register holds nothing", "[crdt][lww]") {
  LwwRegister reg;
  CHECK_FALSE(reg.is_set());
  CHECK(reg.value() == Value());
  LwwRegister other;
  reg.merge(other);
  CHECK_FALSE(reg.is_set());
  CHECK(reg == LwwRegister());
}

TEST_CASE("LwwRegister: the later HLC time wins in either order", "[crdt][lww]") {
  const LwwWrite early{Timestamp::make(1000, 5), kB, text("early")};
  const LwwWrite late{Timestamp::make(1001, 0), kA, text("late")};
  LwwRegister one, two;
  one.apply(early);
  one.apply(late);
  two.apply(late);
  two.apply(early);
  for (const LwwRegister* reg : {&one, &two}) {
    CHECK(reg->is_set());
    CHECK(reg->value() == text("late"));
    CHECK(reg->time() == Timestamp::make(1001, 0));
    CHECK(reg->actor() == kA);
  }
  CHECK(one == two);

  // The counter orders writes within one millisecond.
  LwwRegister three;
  three.apply(LwwWrite{Timestamp::make(1000, 2), kA, text("c2")});
  three.apply(LwwWrite{Timestamp::make(1000, 1), kB, text("c1")});
  CHECK(three.value() == text("c2"));
}

TEST_CASE("LwwRegister: equal times are broken by actor", "[crdt][lww]") {
  const Timestamp t = Timestamp::make(2000, 3);
  const LwwWrite by_a{t, kA, text("from alice")};
  const LwwWrite by_b{t, kB, text("from bob")};
  REQUIRE(kA < kB);
  LwwRegister one, two;
  one.apply(by_a);
  one.apply(by_b);
  two.apply(by_b);
  two.apply(by_a);
  CHECK(one.value() == text("from bob"));
  CHECK(one.actor() == kB);
  CHECK(two.value() == text("from bob"));
  CHECK(encoded(one) == encoded(two));
}

TEST_CASE("LwwRegister: equal time and actor fall back to the greater value", "[crdt][lww]") {
  const Timestamp t = Timestamp::make(2000, 3);
  // Values order by type first (null < bool < int < text), then content.
  const std::vector<LwwWrite> writes = {
      {t, kA, integer(99)}, {t, kA, text("a")}, {t, kA, Value(true)}, {t, kA, Value()}};
  const std::set<std::string> states = states_over_all_orders<LwwRegister>(writes);
  CHECK(states.size() == 1);
  LwwRegister reg;
  for (const LwwWrite& w : writes) reg.apply(w);
  CHECK(reg.value() == text("a"));
}

TEST_CASE("LwwRegister: the result does not depend on the order of writes", "[crdt][lww]") {
  const std::vector<LwwWrite> writes = {{Timestamp::make(10, 0), kC, integer(1)},
                                        {Timestamp::make(12, 0), kA, integer(2)},
                                        {Timestamp::make(12, 0), kB, integer(3)},
                                        {Timestamp::make(11, 9), kC, integer(4)},
                                        {Timestamp::make(12, 0), kA, integer(5)}};
  const std::set<std::string> states = states_over_all_orders<LwwRegister>(writes);
  CHECK(states.size() == 1);
  LwwRegister reg;
  for (const LwwWrite& w : writes) reg.apply(w);
  // (12, bob) beats (12, alice) whatever alice wrote.
  CHECK(reg.value() == integer(3));

  // merge gives the same winner as applying.
  LwwRegister left, right;
  left.apply(writes[2]);
  right.apply(writes[1]);
  right.apply(writes[4]);
  LwwRegister l2 = left;
  l2.merge(right);
  right.merge(left);
  CHECK(l2 == right);
  CHECK(right.value() == integer(3));
}

// ---------------------------------------------------------------------------------------------
// MvRegister

Timestamp at(uint64_t ms, uint16_t counter = 0) {
  return Timestamp::make(ms, counter);
}

TEST_CASE("MvRegister: concurrent writes are kept side by side", "[crdt][mv]") {
  // Alice and Bob both set the case status without having seen each other's write.
  const MvWrite by_a{{kA, 1}, text("open"), {}, at(1000)};
  const MvWrite by_b{{kB, 1}, text("referred"), {}, at(900)};
  MvRegister one, two;
  one.apply(by_a);
  one.apply(by_b);
  two.apply(by_b);
  two.apply(by_a);
  for (const MvRegister* reg : {&one, &two}) {
    CHECK(reg->is_set());
    CHECK(reg->is_conflicted());
    CHECK(reg->values() == std::vector<Value>{text("open"), text("referred")});  // dot order
    CHECK(reg->dots() == DotSet{{kA, 1}, {kB, 1}});
    CHECK(reg->entries() ==
          std::map<Dot, Value>{{{kA, 1}, text("open")}, {{kB, 1}, text("referred")}});
    CHECK(reg->latest() == text("open"));  // the later HLC time, not the later arrival
  }
  CHECK(one == two);
  CHECK(encoded(one) == encoded(two));
}

TEST_CASE("MvRegister: a write that observed both values resolves the conflict", "[crdt][mv]") {
  const MvWrite by_a{{kA, 1}, text("open"), {}, at(1000)};
  const MvWrite by_b{{kB, 1}, text("referred"), {}, at(1001)};
  MvRegister reg;
  reg.apply(by_a);
  reg.apply(by_b);
  REQUIRE(reg.is_conflicted());
  // Carol sees both and decides; her write observes what her replica holds.
  const MvWrite resolve{{kC, 1}, text("closed"), reg.dots(), at(1500)};
  reg.apply(resolve);
  CHECK_FALSE(reg.is_conflicted());
  CHECK(reg.values() == std::vector<Value>{text("closed")});
  CHECK(reg.dots() == DotSet{{kC, 1}});
  CHECK(reg.latest() == text("closed"));

  // Every arrival order of the three writes ends the same, the resolution arriving first
  // included: the values it observed are never resurrected.
  const std::set<std::string> states =
      states_over_all_orders<MvRegister>(std::vector<MvWrite>{by_a, by_b, resolve});
  CHECK(states.size() == 1);
  CHECK(*states.begin() == encoded(reg));

  // A new concurrent write after the resolution starts a new conflict.
  reg.apply(MvWrite{{kA, 2}, text("open"), {{kA, 1}}, at(1400)});
  CHECK(reg.is_conflicted());
  CHECK(reg.values() == std::vector<Value>{text("open"), text("closed")});
  CHECK(reg.latest() == text("closed"));  // 1500 > 1400
}

TEST_CASE("MvRegister: a write that observed one value leaves the other", "[crdt][mv]") {
  MvRegister reg;
  reg.apply(MvWrite{{kA, 1}, integer(1), {}, at(10)});
  reg.apply(MvWrite{{kB, 1}, integer(2), {}, at(11)});
  reg.apply(MvWrite{{kA, 2}, integer(3), {{kA, 1}}, at(12)});
  CHECK(reg.values() == std::vector<Value>{integer(3), integer(2)});
  CHECK(reg.dots() == DotSet{{kA, 2}, {kB, 1}});
  CHECK(reg.is_conflicted());
  CHECK(reg.latest() == integer(3));
}

TEST_CASE("MvRegister: latest() orders by HLC time, then dot", "[crdt][mv]") {
  MvRegister reg;
  CHECK_FALSE(reg.is_set());
  reg.apply(MvWrite{{kB, 1}, text("b"), {}, at(500, 2)});
  CHECK(reg.latest() == text("b"));
  reg.apply(MvWrite{{kC, 1}, text("c"), {}, at(500, 1)});  // earlier counter
  CHECK(reg.latest() == text("b"));
  reg.apply(MvWrite{{kA, 1}, text("a"), {}, at(500, 2)});  // same time, smaller dot
  CHECK(reg.latest() == text("b"));
  reg.apply(MvWrite{{kA, 2}, text("a2"), {}, at(499, 9)});
  CHECK(reg.latest() == text("b"));
  reg.apply(MvWrite{{kA, 3}, text("newest"), {}, at(501, 0)});
  CHECK(reg.latest() == text("newest"));
  CHECK(reg.values().size() == 5);

  // Same answer whatever the arrival order.
  const std::vector<MvWrite> writes = {{{kB, 1}, text("b"), {}, at(500, 2)},
                                       {{kC, 1}, text("c"), {}, at(500, 1)},
                                       {{ActorId::named("dave"), 1}, text("d"), {}, at(500, 2)}};
  for (size_t first = 0; first < writes.size(); ++first) {
    MvRegister r;
    r.apply(writes[first]);
    for (size_t i = 0; i < writes.size(); ++i) r.apply(writes[i]);
    CHECK(r.latest() == text("d"));  // kD > kB at the same time
  }
}

TEST_CASE("MvRegister: a duplicate write changes nothing", "[crdt][mv]") {
  MvRegister reg;
  const MvWrite first{{kA, 1}, text("x"), {}, at(1)};
  const MvWrite second{{kA, 2}, text("y"), {{kA, 1}}, at(2)};
  reg.apply(first);
  reg.apply(second);
  const std::string before = encoded(reg);
  reg.apply(first);  // redelivered after being overwritten: must not come back
  reg.apply(second);
  CHECK(encoded(reg) == before);
  CHECK(reg.values() == std::vector<Value>{text("y")});
}

TEST_CASE("MvRegister: merge equals applying both sides' writes", "[crdt][mv]") {
  const std::vector<MvWrite> left_ops = {{{kA, 1}, text("a1"), {}, at(1)},
                                         {{kA, 2}, text("a2"), {{kA, 1}}, at(3)}};
  const std::vector<MvWrite> right_ops = {{{kA, 1}, text("a1"), {}, at(1)},
                                          {{kB, 1}, text("b1"), {{kA, 1}}, at(2)}};
  MvRegister left, right, all;
  for (const auto& op : left_ops) left.apply(op), all.apply(op);
  for (const auto& op : right_ops) right.apply(op), all.apply(op);
  MvRegister lr = left;
  lr.merge(right);
  right.merge(left);
  CHECK(lr == all);
  CHECK(right == all);
  CHECK(all.values() == std::vector<Value>{text("a2"), text("b1")});
  CHECK(all.latest() == text("a2"));
}

// ---------------------------------------------------------------------------------------------
// AwSet

TEST_CASE("AwSet: adds and removes by observed dots", "[crdt][set]") {
  AwSet set;
  CHECK(set.elements().empty());
  set.apply(SetAdd{{kA, 1}, text("zarina")});
  set.apply(SetAdd{{kA, 2}, text("amir")});
  set.apply(SetAdd{{kB, 1}, text("amir")});  // the same member added twice
  CHECK(set.elements() == std::vector<Value>{text("amir"), text("zarina")});  // value order
  CHECK(set.contains(text("amir")));
  CHECK(set.dots_of(text("amir")) == DotSet{{kA, 2}, {kB, 1}});
  CHECK(set.dots_of(text("nobody")).empty());

  set.apply(SetRemove{{{kA, 2}}});  // removed one of the two adds only
  CHECK(set.contains(text("amir")));
  set.apply(SetRemove{set.dots_of(text("amir"))});
  CHECK_FALSE(set.contains(text("amir")));
  CHECK(set.elements() == std::vector<Value>{text("zarina")});
  CHECK(set.removed_dots() == DotSet{{kA, 2}, {kB, 1}});
}

TEST_CASE("AwSet: a remove that arrives before its add still removes it", "[crdt][set]") {
  const SetAdd add{{kA, 1}, text("amir")};
  const SetRemove remove{{{kA, 1}}};  // written by someone who had seen the add
  AwSet set;
  set.apply(remove);
  set.apply(add);
  CHECK_FALSE(set.contains(text("amir")));
  CHECK(set.elements().empty());

  // A concurrent add of the same element under a fresh dot survives: add wins.
  const SetAdd concurrent{{kB, 1}, text("amir")};
  set.apply(concurrent);
  CHECK(set.contains(text("amir")));
  CHECK(set.dots_of(text("amir")) == DotSet{{kB, 1}});

  const std::set<std::string> states = states_over_all_orders<AwSet>(
      std::vector<std::variant<SetAdd, SetRemove>>{add, remove, concurrent});
  CHECK(states.size() == 1);
}

TEST_CASE("AwSet: an add concurrent with a remove wins in either order", "[crdt][set]") {
  AwSet base;
  base.apply(SetAdd{{kA, 1}, text("amir")});
  const SetRemove remove{base.dots_of(text("amir"))};  // Bob removes what he saw
  const SetAdd re_add{{kC, 1}, text("amir")};          // Carol adds concurrently
  AwSet one = base, two = base;
  one.apply(remove);
  one.apply(re_add);
  two.apply(re_add);
  two.apply(remove);
  CHECK(one.contains(text("amir")));
  CHECK(two.contains(text("amir")));
  CHECK(one == two);
}

TEST_CASE("AwSet: duplicates and merge", "[crdt][set]") {
  AwSet left, right;
  left.apply(SetAdd{{kA, 1}, integer(1)});
  left.apply(SetAdd{{kA, 1}, integer(1)});
  left.apply(SetRemove{{{kA, 1}}});
  left.apply(SetRemove{{{kA, 1}}});
  right.apply(SetAdd{{kA, 1}, integer(1)});
  right.apply(SetAdd{{kB, 1}, integer(2)});
  AwSet lr = left;
  lr.merge(right);
  right.merge(left);
  CHECK(lr == right);
  CHECK(lr.elements() == std::vector<Value>{integer(2)});
}

// ---------------------------------------------------------------------------------------------
// Counter

TEST_CASE("Counter: increments and decrements from several actors add up", "[crdt][counter]") {
  // Each device builds its ops from its own state; ops then travel to every other device.
  Counter at_a, at_b, at_c;
  std::vector<CounterUpdate> sent;
  auto add = [&sent](Counter& at, const ActorId& actor, int64_t delta) {
    const CounterUpdate op = at.make_add(actor, delta);
    at.apply(op);
    sent.push_back(op);
  };
  add(at_a, kA, 5);
  add(at_a, kA, -2);
  add(at_b, kB, 10);
  add(at_c, kC, -7);
  add(at_b, kB, 1);
  add(at_a, kA, -4);
  CHECK(sent[1].actor == kA);
  CHECK(sent[1].inc_total == 5);  // running totals, not deltas
  CHECK(sent[1].dec_total == 2);
  CHECK(sent[5].inc_total == 5);
  CHECK(sent[5].dec_total == 6);
  CHECK(at_a.value() == -1);

  Counter everywhere;
  for (const CounterUpdate& op : sent) everywhere.apply(op);
  CHECK(everywhere.value() == 5 - 2 + 10 - 7 + 1 - 4);

  // Any order gives the same state.
  const std::set<std::string> states = states_over_all_orders<Counter>(sent);
  CHECK(states.size() == 1);
}

TEST_CASE("Counter: duplicate and stale ops change nothing", "[crdt][counter]") {
  Counter c;
  const CounterUpdate first = c.make_add(kA, 3);
  c.apply(first);
  const CounterUpdate second = c.make_add(kA, 4);
  c.apply(second);
  REQUIRE(c.value() == 7);
  c.apply(second);
  c.apply(first);  // older totals: the maximum stays
  CHECK(c.value() == 7);

  Counter other;
  other.apply(second);  // the first op never arrived: its total is inside the second
  CHECK(other.value() == 7);
  CHECK(other == c);
}

TEST_CASE("Counter: make_add reads the actor's own totals", "[crdt][counter]") {
  Counter c;
  c.apply(CounterUpdate{kB, 100, 1});
  const CounterUpdate op = c.make_add(kA, -1);  // kB's totals do not leak into kA's op
  CHECK(op.actor == kA);
  CHECK(op.inc_total == 0);
  CHECK(op.dec_total == 1);
  const CounterUpdate zero = c.make_add(kB, 0);
  CHECK(zero.inc_total == 100);
  CHECK(zero.dec_total == 1);

  const CounterUpdate min = Counter().make_add(kA, INT64_MIN);
  CHECK(min.inc_total == 0);
  CHECK(min.dec_total == uint64_t{1} << 63);
  Counter m;
  m.apply(min);
  CHECK(m.value() == INT64_MIN);
}

TEST_CASE("Counter: merge takes the maximum per actor", "[crdt][counter]") {
  Counter left, right;
  left.apply(CounterUpdate{kA, 5, 1});
  left.apply(CounterUpdate{kB, 2, 0});
  right.apply(CounterUpdate{kA, 3, 4});
  right.apply(CounterUpdate{kC, 0, 9});
  Counter lr = left;
  lr.merge(right);
  right.merge(left);
  CHECK(lr == right);
  CHECK(lr.value() == (5 - 4) + 2 + (0 - 9));
}

// ---------------------------------------------------------------------------------------------
// AppendLog

TEST_CASE("AppendLog: entries are kept in (time, id) order", "[crdt][log]") {
  const LogAppend late{{kA, 1}, Timestamp::make(300, 0), text("late")};
  const LogAppend early{{kB, 5}, Timestamp::make(100, 0), text("early")};
  const LogAppend tie_b{{kB, 1}, Timestamp::make(200, 0), text("tie b")};
  const LogAppend tie_a{{kA, 9}, Timestamp::make(200, 0), text("tie a")};
  AppendLog log;
  for (const LogAppend& e : {late, tie_b, early, tie_a}) log.apply(e);
  const std::vector<LogAppend> entries = log.entries();
  REQUIRE(entries.size() == 4);
  std::vector<Value> payloads;
  for (const LogAppend& e : entries) payloads.push_back(e.payload);
  CHECK(payloads == std::vector<Value>{text("early"), text("tie a"), text("tie b"), text("late")});
  CHECK(entries[1].id == Dot{kA, 9});
  CHECK(entries[1].time == Timestamp::make(200, 0));

  CHECK(
      states_over_all_orders<AppendLog>(std::vector<LogAppend>{late, early, tie_b, tie_a}).size() ==
      1);
}

TEST_CASE("AppendLog: an entry delivered twice is kept once", "[crdt][log]") {
  AppendLog log;
  const LogAppend note{{kA, 1}, Timestamp::make(100, 0), text("visited")};
  log.apply(note);
  log.apply(note);
  CHECK(log.size() == 1);

  // A forged entry reusing an id: every replica keeps the same one, whatever the order.
  const LogAppend forged{{kA, 1}, Timestamp::make(50, 0), text("forged")};
  AppendLog one, two;
  one.apply(note);
  one.apply(forged);
  two.apply(forged);
  two.apply(note);
  CHECK(one.size() == 1);
  CHECK(one == two);
  CHECK(encoded(one) == encoded(two));
  CHECK(one.entries()[0].payload == text("forged"));  // the smaller (time, payload)
}

TEST_CASE("AppendLog: merge keeps the union", "[crdt][log]") {
  AppendLog left, right;
  left.apply(LogAppend{{kA, 1}, Timestamp::make(1, 0), integer(1)});
  left.apply(LogAppend{{kB, 1}, Timestamp::make(3, 0), integer(3)});
  right.apply(LogAppend{{kB, 1}, Timestamp::make(3, 0), integer(3)});
  right.apply(LogAppend{{kC, 1}, Timestamp::make(2, 0), integer(2)});
  AppendLog lr = left;
  lr.merge(right);
  right.merge(left);
  CHECK(lr == right);
  REQUIRE(lr.size() == 3);
  CHECK(lr.entries()[1].payload == integer(2));
}

}  // namespace
}  // namespace birga::crdt
