// Merge laws: for every type with a state merge, on random states built from random ops of
// several actors, merge is commutative, associative and idempotent, the empty state is its
// identity, and merging two states equals applying the union of their ops. States are compared
// by canonical encoding; == must agree with it, and decode(encode(s)) must give s back.
//
// Seeds and environment variables: see random_ops.h (default base seed 1, 1000 runs per type).
#include <catch2/catch.hpp>

#include "birga/crdt/append_log.h"
#include "birga/crdt/aw_set.h"
#include "birga/crdt/counter.h"
#include "birga/crdt/dataset.h"
#include "birga/crdt/lww_register.h"
#include "birga/crdt/mv_register.h"
#include "birga/crdt/record.h"
#include "crdt/random_ops.h"

namespace birga::crdt {
namespace {

using testing::chance;
using testing::pick;
using testing::Rng;
using testing::Universe;

constexpr uint64_t kDefaultRuns = 1000;

template <typename T>
std::string canon(const T& x) {
  ByteWriter w;
  x.encode(w);
  return w.take();
}
std::string canon(const Dataset& d) {
  return d.encode();
}

// Each type's own op, projected from the record-level Op the generator writes.
Status apply_as(LwwRegister& r, const Op& op) {
  r.apply(LwwWrite{op.time, op.dot.actor, op.value});
  return Status::ok();
}
Status apply_as(MvRegister& r, const Op& op) {
  r.apply(MvWrite{op.dot, op.value, op.observed, op.time});
  return Status::ok();
}
Status apply_as(AwSet& s, const Op& op) {
  if (op.kind == OpKind::kSetAdd) {
    s.apply(SetAdd{op.dot, op.value});
  } else {
    s.apply(SetRemove{op.observed});
  }
  return Status::ok();
}
Status apply_as(Counter& c, const Op& op) {
  c.apply(CounterUpdate{op.dot.actor, op.inc_total, op.dec_total});
  return Status::ok();
}
Status apply_as(AppendLog& l, const Op& op) {
  l.apply(LogAppend{op.dot, op.time, op.value});
  return Status::ok();
}
Status apply_as(Record& r, const Op& op) {
  return r.apply(op);
}
Status apply_as(Dataset& d, const Op& op) {
  return d.apply(op);
}

// A random part of the pool, in random order, with random duplicates; sometimes nothing or
// everything, the edges of the state space.
std::vector<Op> random_subset(const std::vector<Op>& pool, Rng& rng) {
  std::vector<Op> out;
  const unsigned shape = static_cast<unsigned>(pick(rng, 10));
  if (shape == 0) return out;
  const unsigned percent = shape == 1 ? 100 : static_cast<unsigned>(10 + pick(rng, 81));
  for (const Op& op : pool) {
    if (chance(rng, percent)) out.push_back(op);
  }
  const size_t n = out.size();
  for (size_t i = 0; i < n; ++i) {
    if (chance(rng, 10)) out.push_back(out[i]);
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

template <typename T>
std::optional<std::string> build(const std::vector<Op>& ops, T* out) {
  for (const Op& op : ops) {
    const Status s = apply_as(*out, op);
    if (!s.is_ok()) return "apply of " + op.dot.to_string() + " refused: " + s.to_string();
  }
  return std::nullopt;
}

template <typename T>
T merged(T x, const T& y) {
  x.merge(y);
  return x;
}

template <typename T>
std::optional<std::string> check_round_trip(const T& x) {
  if constexpr (requires(ByteReader & r) { T::decode(r); }) {
    const std::string bytes = canon(x);
    ByteReader r(bytes);
    const T back = T::decode(r);
    const Status s = r.finish();
    if (!s.is_ok()) return "decode(encode(s)) failed: " + s.to_string();
    if (!(back == x) || canon(back) != bytes) return "decode(encode(s)) != s";
  }
  return std::nullopt;
}

using MakeUniverse = Universe (*)(Rng&, uint64_t);

template <typename T>
std::optional<std::string> check_laws(uint64_t seed, MakeUniverse make_universe) {
  Rng rng(seed);
  const Universe u = make_universe(rng, 1'763'802'611'000ull + pick(rng, 10'000'000));
  std::map<Dot, int64_t> deltas;
  std::string problem;
  const std::vector<Op> pool =
      testing::generate_pool(u, rng, 2 + pick(rng, 3), 4 + pick(rng, 27), &deltas, &problem);
  if (!problem.empty()) return "while writing the ops: " + problem;

  const std::vector<Op> ops_a = random_subset(pool, rng);
  const std::vector<Op> ops_b = random_subset(pool, rng);
  const std::vector<Op> ops_c = random_subset(pool, rng);
  T a, b, c;
  if (auto bad = build(ops_a, &a)) return bad;
  if (auto bad = build(ops_b, &b)) return bad;
  if (auto bad = build(ops_c, &c)) return bad;
  const std::string sizes = "(" + std::to_string(pool.size()) + " ops in the pool; a has " +
                            std::to_string(ops_a.size()) + ", b " + std::to_string(ops_b.size()) +
                            ", c " + std::to_string(ops_c.size()) + ")";

  const T ab = merged(a, b);
  if (canon(ab) != canon(merged(b, a))) return "not commutative: a.merge(b) != b.merge(a) " + sizes;
  if (canon(merged(ab, c)) != canon(merged(a, merged(b, c)))) {
    return "not associative: (a.b).c != a.(b.c) " + sizes;
  }
  if (canon(merged(a, a)) != canon(a)) return "not idempotent: a.merge(a) != a " + sizes;
  if (canon(merged(ab, b)) != canon(ab)) return "merging b again into a.b changed it " + sizes;
  if (canon(merged(a, T())) != canon(a) || canon(merged(T(), a)) != canon(a)) {
    return "the empty state is not an identity of merge " + sizes;
  }

  // Merging states must equal applying the union of their ops, in yet another order.
  std::vector<Op> both = ops_a;
  both.insert(both.end(), ops_b.begin(), ops_b.end());
  std::shuffle(both.begin(), both.end(), rng);
  T from_ops;
  if (auto bad = build(both, &from_ops)) return bad;
  if (canon(from_ops) != canon(ab)) return "a.merge(b) != the union of their ops applied " + sizes;

  if ((a == b) != (canon(a) == canon(b)) || !(ab == from_ops)) {
    return "operator== disagrees with the canonical encoding " + sizes;
  }
  for (const T* x : std::initializer_list<const T*>{&a, &ab}) {
    if (auto bad = check_round_trip(*x)) return *bad + " " + sizes;
  }
  return std::nullopt;
}

template <typename T>
void check_type(const std::string& test_name, MakeUniverse make_universe) {
  testing::run_property(test_name, kDefaultRuns,
                        [&](uint64_t seed) { return check_laws<T>(seed, make_universe); });
}

Universe lww_universe(Rng& rng, uint64_t world_ms) {
  return testing::single_field_universe(rng, world_ms, {{OpKind::kLwwWrite, 1}});
}
Universe mv_universe(Rng& rng, uint64_t world_ms) {
  return testing::single_field_universe(rng, world_ms, {{OpKind::kMvWrite, 1}});
}
Universe set_universe(Rng& rng, uint64_t world_ms) {
  return testing::single_field_universe(rng, world_ms,
                                        {{OpKind::kSetAdd, 3}, {OpKind::kSetRemove, 2}});
}
Universe counter_universe(Rng& rng, uint64_t world_ms) {
  return testing::single_field_universe(rng, world_ms, {{OpKind::kCounterUpdate, 1}});
}
Universe log_universe(Rng& rng, uint64_t world_ms) {
  return testing::single_field_universe(rng, world_ms, {{OpKind::kLogAppend, 1}});
}
Universe record_universe(Rng& rng, uint64_t world_ms) {
  Universe u = testing::mixed_universe(rng, world_ms);
  u.targets.resize(1);  // Record: every op on the same record
  return u;
}

TEST_CASE("LwwRegister: merge laws hold on random states", "[crdt][property][merge][lww]") {
  check_type<LwwRegister>("LwwRegister: merge laws hold on random states", lww_universe);
}

TEST_CASE("MvRegister: merge laws hold on random states", "[crdt][property][merge][mv]") {
  check_type<MvRegister>("MvRegister: merge laws hold on random states", mv_universe);
}

TEST_CASE("AwSet: merge laws hold on random states", "[crdt][property][merge][set]") {
  check_type<AwSet>("AwSet: merge laws hold on random states", set_universe);
}

TEST_CASE("Counter: merge laws hold on random states", "[crdt][property][merge][counter]") {
  check_type<Counter>("Counter: merge laws hold on random states", counter_universe);
}

TEST_CASE("AppendLog: merge laws hold on random states", "[crdt][property][merge][log]") {
  check_type<AppendLog>("AppendLog: merge laws hold on random states", log_universe);
}

TEST_CASE("Record: merge laws hold on random states", "[crdt][property][merge][record]") {
  check_type<Record>("Record: merge laws hold on random states", record_universe);
}

TEST_CASE("Dataset: merge laws hold on random states", "[crdt][property][merge][dataset]") {
  check_type<Dataset>("Dataset: merge laws hold on random states", testing::mixed_universe);
}

}  // namespace
}  // namespace birga::crdt
