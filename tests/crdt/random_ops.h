// Random replicas, ops and settings shared by the CRDT property tests (convergence and merge
// laws).
//
// A SimReplica writes ops the way a real replica does: the observed dots of an mv write, a set
// remove, a delete or a restore come from its own current state; counter ops come from
// Counter::make_add on its own state; times come from its own HybridClock driven by an injected
// fake wall clock (offset per device, jitter, backward jumps, sometimes far ahead); dots are
// unique per actor. A Universe keeps records and field names few so that ops collide.
//
// model_mismatch() is an oracle written from the headers' contracts, independent of the CRDT
// implementations: it computes what a dataset holding a given set of ops must read as.
//
// Seeds and environment (PropSettings::from_env):
//   BIRGA_PROPTEST_RUNS       how many random schedules / states a property checks (default:
//                             the test's own, at least 1000).
//   BIRGA_PROPTEST_SEED       replays exactly one seed: the `seed=<n>` a failure printed.
//   BIRGA_PROPTEST_BASE_SEED  base of the seed sequence. Default 1: fixed, so every run (CI
//                             included) checks the same schedules and a failure reproduces
//                             from its printed seed alone; set it (e.g. to $RANDOM) to explore
//                             other schedules. Run i uses seed splitmix64(base + i).
// Each property prints its base seed and run count when it starts.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "birga/crdt/dataset.h"
#include "birga/crdt/hlc.h"
#include "birga/crdt/op.h"
#include "birga/crdt/record.h"

namespace birga::crdt::testing {

using Rng = std::mt19937_64;

inline uint64_t pick(Rng& rng, uint64_t n) {
  return n == 0 ? 0 : rng() % n;
}
inline bool chance(Rng& rng, unsigned percent) {
  return pick(rng, 100) < percent;
}

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// ---------------------------------------------------------------------------------------------
// Settings from the environment.

inline bool parse_u64(const char* s, uint64_t* out) {
  if (s == nullptr || *s < '0' || *s > '9') return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

struct PropSettings {
  uint64_t base_seed = 1;
  uint64_t runs = 0;
  std::optional<uint64_t> replay_seed;
  std::string error;  // a malformed variable: the test refuses to run rather than guess

  static PropSettings from_env(uint64_t default_runs) {
    PropSettings s;
    s.runs = default_runs;
    auto read = [&s](const char* name, uint64_t* out) {
      const char* v = std::getenv(name);
      if (v == nullptr || *v == '\0') return false;
      if (!parse_u64(v, out)) {
        s.error = std::string(name) + "='" + v + "' is not an unsigned decimal number";
        return false;
      }
      return true;
    };
    read("BIRGA_PROPTEST_RUNS", &s.runs);
    read("BIRGA_PROPTEST_BASE_SEED", &s.base_seed);
    uint64_t replay = 0;
    if (read("BIRGA_PROPTEST_SEED", &replay)) s.replay_seed = replay;
    return s;
  }

  uint64_t count() const { return replay_seed ? 1 : runs; }
  uint64_t seed(uint64_t i) const { return replay_seed ? *replay_seed : splitmix64(base_seed + i); }

  std::string banner(const std::string& test) const {
    std::ostringstream out;
    out << "[proptest] " << test << ": ";
    if (replay_seed) {
      out << "replaying seed=" << *replay_seed << " (BIRGA_PROPTEST_SEED)";
    } else {
      out << "base seed " << base_seed << ", " << runs
          << " runs (env: BIRGA_PROPTEST_BASE_SEED, BIRGA_PROPTEST_RUNS, BIRGA_PROPTEST_SEED)";
    }
    return out.str();
  }
};

inline std::string replay_hint(const std::string& test_name, uint64_t seed) {
  return "seed=" + std::to_string(seed) +
         "\nreplay it from the build directory with:\n  BIRGA_PROPTEST_SEED=" +
         std::to_string(seed) + " ./tests/crdt_tests \"" + test_name + "\"";
}

// Runs `property(seed)` (returning a failure description or nullopt) for every seed of the
// settings; the first failure fails the test with its seed and the replay command. Returns the
// settings so the caller can check coverage counters afterwards.
template <typename Property>
PropSettings run_property(const std::string& test_name, uint64_t default_runs, Property property) {
  const PropSettings s = PropSettings::from_env(default_runs);
  INFO(s.error);
  REQUIRE(s.error.empty());
  std::cout << s.banner(test_name) << std::endl;
  for (uint64_t i = 0; i < s.count(); ++i) {
    const uint64_t seed = s.seed(i);
    if (std::optional<std::string> failure = property(seed)) {
      // Also on stderr, unwrapped, so the command can be copied as is.
      std::cerr << "[proptest] " << test_name << " FAILED at seed=" << seed
                << "; replay: BIRGA_PROPTEST_SEED=" << seed << " ./tests/crdt_tests \"" << test_name
                << "\"" << std::endl;
      FAIL(test_name << ": property violated at run " << i << ", " << replay_hint(test_name, seed)
                     << "\n"
                     << *failure);
    }
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Universe: where random ops go.

struct Target {
  std::string collection;
  RecordId record;
};

struct Universe {
  std::vector<Target> targets;
  std::vector<std::string> fields;
  std::vector<std::pair<OpKind, unsigned>> weights;  // op kinds and their relative frequency

  OpKind pick_kind(Rng& rng) const {
    unsigned total = 0;
    for (const auto& w : weights) total += w.second;
    uint64_t roll = pick(rng, total);
    for (const auto& w : weights) {
      if (roll < w.second) return w.first;
      roll -= w.second;
    }
    return weights.back().first;
  }

  // The field op written when a record-level op makes no sense yet (no record to delete).
  OpKind fallback_field_kind() const {
    for (const auto& w : weights) {
      if (field_kind_of(w.first)) return w.first;
    }
    return OpKind::kLwwWrite;
  }
};

inline std::vector<std::pair<OpKind, unsigned>> all_op_kinds() {
  return {{OpKind::kLwwWrite, 14},     {OpKind::kMvWrite, 18},       {OpKind::kSetAdd, 14},
          {OpKind::kSetRemove, 10},    {OpKind::kCounterUpdate, 12}, {OpKind::kLogAppend, 10},
          {OpKind::kRecordDelete, 12}, {OpKind::kRecordRestore, 10}};
}

inline RecordId random_record_id(Rng& rng, uint64_t wall_ms) {
  std::array<uint8_t, 10> random{};
  for (uint8_t& b : random) b = static_cast<uint8_t>(rng());
  return RecordId::make(wall_ms, random);
}

// A few records in two collections and two field names (each may be written as any kind, and
// Record keys fields by (name, kind)), all op kinds.
inline Universe mixed_universe(Rng& rng, uint64_t world_ms) {
  Universe u;
  const size_t n_records = 1 + pick(rng, 3);
  for (size_t i = 0; i < n_records; ++i) {
    u.targets.push_back(
        Target{i % 2 == 0 ? "visit" : "household", random_record_id(rng, world_ms + i)});
  }
  u.fields = {"x", "y"};
  u.weights = all_op_kinds();
  return u;
}

// One record, one field, only the op kinds given: the random source for one field type.
inline Universe single_field_universe(Rng& rng, uint64_t world_ms,
                                      std::vector<std::pair<OpKind, unsigned>> weights) {
  Universe u;
  u.targets.push_back(Target{"visit", random_record_id(rng, world_ms)});
  u.fields = {"f"};
  u.weights = std::move(weights);
  return u;
}

inline Value random_value(Rng& rng) {
  switch (pick(rng, 7)) {
    case 0:
      return Value();
    case 1:
      return Value(chance(rng, 50));
    case 2:
    case 3:
      return Value(static_cast<int64_t>(pick(rng, 4)) - 1);
    default:
      return Value(std::string(1, static_cast<char>('a' + pick(rng, 3))));
  }
}

inline Value random_element(Rng& rng) {
  if (chance(rng, 25)) return Value(static_cast<int64_t>(pick(rng, 2)));
  return Value("m" + std::to_string(pick(rng, 3)));
}

// ---------------------------------------------------------------------------------------------
// SimReplica: one device with its own clock, dots and dataset.

class SimReplica {
 public:
  // `offset_ms`: how far this device's wall clock is from world time (may be far ahead).
  SimReplica(ActorId actor, int64_t offset_ms)
      : actor_(actor),
        wall_(std::make_shared<uint64_t>(0)),
        clock_([w = wall_] { return *w; }),
        offset_ms_(offset_ms) {}

  // Sets the fake wall clock for the next event: world time plus this device's offset, plus
  // jitter and now and then a jump backwards (a clock corrected by the network).
  void set_wall(uint64_t world_ms, Rng& rng) {
    int64_t jitter = static_cast<int64_t>(pick(rng, 3));
    if (chance(rng, 6)) jitter = -static_cast<int64_t>(pick(rng, 5000));
    *wall_ = static_cast<uint64_t>(static_cast<int64_t>(world_ms) + offset_ms_ + jitter);
  }

  // Writes one random op as this device's user would, applies it locally and returns it.
  // `kind`: the op kind to write if it makes sense here (a random one otherwise).
  Op write(const Universe& u, Rng& rng, std::optional<OpKind> kind = std::nullopt) {
    const Target& t = u.targets[pick(rng, u.targets.size())];
    const Record* rec = data_.find(t.collection, t.record);
    Op op;
    op.collection = t.collection;
    op.record = t.record;
    op.kind = kind ? *kind : u.pick_kind(rng);
    op.dot = Dot{actor_, next_counter_++};
    if (op.kind == OpKind::kRecordRestore && (rec == nullptr || rec->delete_dots().empty())) {
      op.kind = OpKind::kRecordDelete;  // nothing to restore here
    }
    if (op.kind == OpKind::kRecordDelete && rec == nullptr) op.kind = u.fallback_field_kind();
    if (field_kind_of(op.kind)) op.field = u.fields[pick(rng, u.fields.size())];
    fill(op, rec, rng);

    const Timestamp before = clock_.last();
    op.time = clock_.now();
    if (!(op.time > before)) {
      note("now() returned " + op.time.to_string() + " after " + before.to_string());
    }
    const Status s = data_.apply(op);
    if (!s.is_ok()) note("local apply refused: " + s.to_string());
    return op;
  }

  // Receives an op written elsewhere (or a duplicate): HLC receive rule, then apply.
  void receive(const Op& op) {
    const Timestamp before = clock_.last();
    const uint64_t wall = *wall_;
    const HybridClock::Update up = clock_.update(op.time);
    const uint64_t remote = op.time.wall_ms();
    const uint64_t ahead = remote > wall ? remote - wall : 0;
    const bool too_far = ahead > clock_.max_skew_ms();
    if (!(up.time > before)) note("update() went backwards to " + up.time.to_string());
    if (up.adopted == too_far) {
      note("update() adopted=" + std::to_string(up.adopted) + " for a remote " +
           std::to_string(ahead) + " ms ahead");
    }
    if (up.ahead_ms != ahead) {
      note("update() ahead_ms=" + std::to_string(up.ahead_ms) + ", expected " +
           std::to_string(ahead));
    }
    if (up.adopted && !(up.time > op.time)) note("adopted update() is not after the remote");
    if (!up.adopted) ++refused_updates_;
    const Status s = data_.apply(op);
    if (!s.is_ok()) note("remote apply refused: " + s.to_string());
  }

  const ActorId& actor() const { return actor_; }
  const Dataset& data() const { return data_; }
  // Delta of every counter op this replica wrote, by dot (what the oracle sums).
  const std::map<Dot, int64_t>& counter_deltas() const { return counter_deltas_; }
  uint64_t refused_updates() const { return refused_updates_; }
  // The first broken expectation seen while writing or receiving ("" if none).
  const std::string& problem() const { return problem_; }

 private:
  void fill(Op& op, const Record* rec, Rng& rng) {
    switch (op.kind) {
      case OpKind::kLwwWrite:
        op.value = random_value(rng);
        break;
      case OpKind::kMvWrite: {
        op.value = random_value(rng);
        const MvRegister* mv = rec ? rec->get<MvRegister>(op.field) : nullptr;
        if (mv) op.observed = mv->dots();
        break;
      }
      case OpKind::kSetAdd:
        op.value = random_element(rng);
        break;
      case OpKind::kSetRemove: {
        const AwSet* set = rec ? rec->get<AwSet>(op.field) : nullptr;
        const std::vector<Value> elements = set ? set->elements() : std::vector<Value>();
        if (elements.empty()) {  // nothing to remove: the user adds instead
          op.kind = OpKind::kSetAdd;
          op.value = random_element(rng);
          break;
        }
        op.value = elements[pick(rng, elements.size())];
        op.observed = set->dots_of(op.value);
        break;
      }
      case OpKind::kCounterUpdate: {
        const Counter* c = rec ? rec->get<Counter>(op.field) : nullptr;
        const int64_t delta = static_cast<int64_t>(pick(rng, 9)) - 4;
        const CounterUpdate u = (c ? *c : Counter()).make_add(actor_, delta);
        op.inc_total = u.inc_total;
        op.dec_total = u.dec_total;
        counter_deltas_[op.dot] = delta;
        break;
      }
      case OpKind::kLogAppend:
        op.value = chance(rng, 50) ? random_value(rng) : Value("note " + op.dot.to_string());
        break;
      case OpKind::kRecordDelete:
        op.observed = rec->field_dots();
        break;
      case OpKind::kRecordRestore:
        op.observed = rec->delete_dots();
        break;
    }
  }

  void note(const std::string& what) {
    if (problem_.empty()) problem_ = "replica " + actor_.to_hex().substr(0, 8) + ": " + what;
  }

  ActorId actor_;
  std::shared_ptr<uint64_t> wall_;  // the fake wall clock's reading, shared with clock_
  HybridClock clock_;
  int64_t offset_ms_;
  uint64_t next_counter_ = 1;
  Dataset data_;
  std::map<Dot, int64_t> counter_deltas_;
  uint64_t refused_updates_ = 0;
  std::string problem_;
};

// Distinct in the first bytes, which is what Dot::to_string shows.
inline ActorId actor_number(size_t i) {
  return ActorId::named("r" + std::to_string(i) + "-device");
}

// A pool of ops written by `n_actors` replicas that each receive a random part of the others'
// ops before writing: concurrency, overwrites and partial observation. Writer problems go to
// `*problem`; counter deltas to `*deltas`.
inline std::vector<Op> generate_pool(const Universe& u, Rng& rng, size_t n_actors, size_t n_ops,
                                     std::map<Dot, int64_t>* deltas, std::string* problem) {
  std::vector<std::unique_ptr<SimReplica>> actors;
  for (size_t i = 0; i < n_actors; ++i) {
    actors.push_back(std::make_unique<SimReplica>(actor_number(i),
                                                  static_cast<int64_t>(pick(rng, 4000)) - 2000));
  }
  uint64_t world_ms = 1'760'000'000'000ull + pick(rng, 1'000'000);
  std::vector<Op> pool;
  for (size_t n = 0; n < n_ops; ++n) {
    SimReplica& a = *actors[pick(rng, n_actors)];
    world_ms += pick(rng, 3);
    a.set_wall(world_ms, rng);
    const size_t receives = pool.empty() || chance(rng, 40) ? 0 : 1 + pick(rng, 4);
    for (size_t k = 0; k < receives; ++k) a.receive(pool[pick(rng, pool.size())]);
    pool.push_back(a.write(u, rng));
  }
  for (const auto& a : actors) {
    if (problem->empty() && !a->problem().empty()) *problem = a->problem();
    deltas->insert(a->counter_deltas().begin(), a->counter_deltas().end());
  }
  return pool;
}

// ---------------------------------------------------------------------------------------------
// The oracle: what a dataset that applied exactly `ops` must read as, computed from the
// contracts (dot_store.h, the register headers and record.h's delete rule).

namespace detail {

inline std::string show(const Value& v) {
  return std::string(type_name(type_of(v))) + ":" + to_display(v);
}

inline std::string show(const DotSet& dots) {
  std::string out = "{";
  for (const Dot& d : dots) out += (out.size() > 1 ? " " : "") + d.to_string();
  return out + "}";
}

template <typename T>
std::string show_all(const std::vector<T>& values) {
  std::string out = "[";
  for (const T& v : values) out += (out.size() > 1 ? ", " : "") + show(v);
  return out + "]";
}

// Observed-remove: the dots added minus every dot some op observed.
template <typename Payload>
std::map<Dot, Payload> live_after(const std::map<Dot, Payload>& added, const DotSet& removed) {
  std::map<Dot, Payload> live;
  for (const auto& [dot, payload] : added) {
    if (!removed.count(dot)) live.emplace(dot, payload);
  }
  return live;
}

inline std::optional<std::string> check_field(const Record& rec, const FieldKey& key,
                                              const std::vector<const Op*>& ops,
                                              const std::map<Dot, int64_t>& deltas) {
  const std::string where = "field '" + key.name + "' (" + kind_name(key.kind) + "): ";
  std::ostringstream err;
  switch (key.kind) {
    case FieldKind::kLww: {
      const Op* best = ops.front();
      for (const Op* op : ops) {
        if (std::tie(op->time, op->dot.actor, op->value) >
            std::tie(best->time, best->dot.actor, best->value)) {
          best = op;
        }
      }
      const LwwRegister* reg = rec.get<LwwRegister>(key.name);
      if (!reg || !reg->is_set() || reg->value() != best->value || reg->time() != best->time ||
          reg->actor() != best->dot.actor) {
        err << where << "expected the write " << best->dot.to_string() << " = "
            << show(best->value);
        if (reg) err << ", holds " << show(reg->value()) << " at " << reg->time().to_string();
      }
      break;
    }
    case FieldKind::kMv:
    case FieldKind::kSet: {
      std::map<Dot, Value> added;
      DotSet removed;
      for (const Op* op : ops) {
        if (op->kind != OpKind::kSetRemove) added.emplace(op->dot, op->value);
        removed.insert(op->observed.begin(), op->observed.end());
      }
      const std::map<Dot, Value> live = live_after(added, removed);
      if (key.kind == FieldKind::kMv) {
        const MvRegister* mv = rec.get<MvRegister>(key.name);
        std::vector<Value> want;
        for (const auto& e : live) want.push_back(e.second);
        if (!mv || mv->entries() != live) {
          err << where << "expected " << show_all(want) << ", holds "
              << (mv ? show_all(mv->values()) : "nothing");
          break;
        }
        // latest(): the live value written at the greatest (HLC time, dot).
        const Op* newest = nullptr;
        for (const Op* op : ops) {
          if (live.count(op->dot) &&
              (!newest || std::tie(op->time, op->dot) > std::tie(newest->time, newest->dot))) {
            newest = op;
          }
        }
        if (newest && mv->latest() != newest->value) {
          err << where << "latest() is " << show(mv->latest()) << ", expected "
              << show(newest->value) << " written by " << newest->dot.to_string();
        }
      } else {
        const AwSet* set = rec.get<AwSet>(key.name);
        std::set<Value> want_set;
        for (const auto& e : live) want_set.insert(e.second);
        const std::vector<Value> want(want_set.begin(), want_set.end());
        if (!set || set->elements() != want) {
          err << where << "expected " << show_all(want) << ", holds "
              << (set ? show_all(set->elements()) : "nothing");
          break;
        }
        for (const Value& v : want) {
          DotSet dots;
          for (const auto& e : live) {
            if (e.second == v) dots.insert(e.first);
          }
          if (set->dots_of(v) != dots) err << where << show(v) << " is not under " << show(dots);
        }
      }
      break;
    }
    case FieldKind::kCounter: {
      int64_t want = 0;
      for (const Op* op : ops) want += deltas.at(op->dot);
      const Counter* c = rec.get<Counter>(key.name);
      if (!c || c->value() != want) {
        err << where << "expected " << want << ", holds "
            << (c ? std::to_string(c->value()) : "nothing");
      }
      break;
    }
    case FieldKind::kLog: {
      std::vector<const Op*> sorted = ops;
      std::sort(sorted.begin(), sorted.end(), [](const Op* a, const Op* b) {
        return std::tie(a->time, a->dot) < std::tie(b->time, b->dot);
      });
      const AppendLog* log = rec.get<AppendLog>(key.name);
      const std::vector<LogAppend> got = log ? log->entries() : std::vector<LogAppend>();
      bool same = got.size() == sorted.size();
      for (size_t i = 0; same && i < got.size(); ++i) {
        same = got[i].id == sorted[i]->dot && got[i].time == sorted[i]->time &&
               got[i].payload == sorted[i]->value;
      }
      if (!same) {
        err << where << "expected " << sorted.size() << " entries in (time, id) order, holds "
            << got.size();
      }
      break;
    }
  }
  if (err.str().empty()) return std::nullopt;
  return err.str();
}

inline std::optional<std::string> check_record(const Record& rec, const std::vector<const Op*>& ops,
                                               const std::map<Dot, int64_t>& deltas) {
  std::map<FieldKey, std::vector<const Op*>> by_field;
  std::map<Dot, DotSet> deletes;
  DotSet restored, field_dots;
  for (const Op* op : ops) {
    if (!rec.has_applied(op->dot)) return "op " + op->dot.to_string() + " not applied";
    if (op->kind == OpKind::kRecordDelete) {
      deletes.emplace(op->dot, op->observed);
    } else if (op->kind == OpKind::kRecordRestore) {
      restored.insert(op->observed.begin(), op->observed.end());
    } else {
      by_field[FieldKey{op->field, *field_kind_of(op->kind)}].push_back(op);
      field_dots.insert(op->dot);
    }
  }
  if (rec.fields().size() != by_field.size()) {
    return "holds " + std::to_string(rec.fields().size()) + " fields, ops wrote " +
           std::to_string(by_field.size());
  }
  for (const auto& [key, field_ops] : by_field) {
    if (auto bad = check_field(rec, key, field_ops, deltas)) return bad;
  }
  const std::map<Dot, DotSet> live = live_after(deletes, restored);
  DotSet live_dots, covered;
  for (const auto& [dot, observed] : live) {
    live_dots.insert(dot);
    covered.insert(observed.begin(), observed.end());
  }
  const bool all_covered =
      std::includes(covered.begin(), covered.end(), field_dots.begin(), field_dots.end());
  const bool want_deleted = !live.empty() && all_covered;
  const bool want_conflict = !live.empty() && !all_covered;
  std::ostringstream err;
  if (rec.field_dots() != field_dots) err << "field_dots " << show(rec.field_dots()) << "; ";
  if (rec.delete_dots() != live_dots) {
    err << "live deletes " << show(rec.delete_dots()) << ", expected " << show(live_dots) << "; ";
  }
  if (rec.is_deleted() != want_deleted) err << "is_deleted()=" << rec.is_deleted() << "; ";
  if (rec.has_delete_conflict() != want_conflict) {
    err << "has_delete_conflict()=" << rec.has_delete_conflict() << "; ";
  }
  if (err.str().empty()) return std::nullopt;
  return err.str();
}

}  // namespace detail

// Nullopt when `d` reads exactly as the contracts say a dataset holding `ops` must; otherwise
// what differs. `deltas` holds the delta of every counter op, by dot.
inline std::optional<std::string> model_mismatch(const Dataset& d, const std::vector<Op>& ops,
                                                 const std::map<Dot, int64_t>& deltas) {
  std::map<std::pair<std::string, RecordId>, std::vector<const Op*>> by_record;
  std::set<Dot> seen;
  for (const Op& op : ops) {
    if (seen.insert(op.dot).second) by_record[{op.collection, op.record}].push_back(&op);
  }
  size_t records = 0;
  for (const auto& [name, coll] : d.collections()) records += coll.size();
  if (records != by_record.size()) {
    return "dataset holds " + std::to_string(records) + " records, ops wrote " +
           std::to_string(by_record.size());
  }
  for (const auto& [where, rec_ops] : by_record) {
    const Record* rec = d.find(where.first, where.second);
    const std::string name = where.first + "/" + where.second.to_hex().substr(20);
    if (!rec) return "record " + name + " missing";
    if (auto bad = detail::check_record(*rec, rec_ops, deltas))
      return "record " + name + ": " + *bad;
  }
  return std::nullopt;
}

// A short human-readable dump of a dataset, printed when a property fails.
inline std::string summarize(const Dataset& d) {
  std::ostringstream out;
  for (const auto& [name, coll] : d.collections()) {
    for (const auto& [id, rec] : coll) {
      out << "  " << name << "/" << id.to_hex().substr(20) << (rec.is_deleted() ? " deleted" : "")
          << (rec.has_delete_conflict() ? " delete-conflict" : "")
          << " deletes=" << detail::show(rec.delete_dots()) << "\n";
      for (const auto& [key, field] : rec.fields()) {
        out << "    " << key.name << " (" << kind_name(key.kind) << ")";
        if (auto* lww = std::get_if<LwwRegister>(&field))
          out << " = " << detail::show(lww->value());
        if (auto* mv = std::get_if<MvRegister>(&field))
          out << " = " << detail::show_all(mv->values());
        if (auto* set = std::get_if<AwSet>(&field))
          out << " = " << detail::show_all(set->elements());
        if (auto* c = std::get_if<Counter>(&field)) out << " = " << c->value();
        if (auto* log = std::get_if<AppendLog>(&field)) out << " " << log->size() << " entries";
        out << "\n";
      }
    }
  }
  return out.str();
}

}  // namespace birga::crdt::testing
