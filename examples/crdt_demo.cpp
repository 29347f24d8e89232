// birga-crdt-demo: three replicas of one mahalla's records make concurrent edits while apart,
// exchange their operations in different orders, and converge. Two tablets assign different
// guardians to the same child; the conflict is surfaced, not overwritten, and a supervisor's
// resolution (itself an operation) settles it everywhere.
//
// This runs the CRDT layer alone, in memory. The networked demo of tablets and a hub syncing
// signed, encrypted change sets is the later `birga` demo.
#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "birga/crdt/dataset.h"
#include "birga/crdt/schema.h"

using namespace birga::crdt;

namespace {

// One device: its actor id, its clock and its own copy of the data.
struct Tablet {
  std::string name;
  ActorId actor;
  HybridClock clock;
  Dataset data;
  uint64_t next_counter = 1;
  std::vector<Op> written;  // every op this device made, to hand to the others

  Tablet(std::string n, uint64_t wall_ms)
      : name(n), actor(ActorId::named(n)), clock([wall_ms] { return wall_ms; }) {}

  Op make(const std::string& coll, const RecordId& id, OpKind kind, const std::string& field,
          Value value) {
    Op op;
    op.collection = coll;
    op.record = id;
    op.kind = kind;
    op.field = field;
    op.value = std::move(value);
    op.dot = Dot{actor, next_counter++};
    op.time = clock.now();
    return op;
  }

  void commit(Op op) {
    if (auto s = data.apply(op); !s.is_ok()) std::printf("refused: %s\n", s.to_string().c_str());
    written.push_back(std::move(op));
  }

  void set(const std::string& coll, const RecordId& id, const std::string& field, Value v) {
    commit(make(coll, id, OpKind::kLwwWrite, field, std::move(v)));
  }
  // An mv write observes the values this device currently sees, and replaces exactly those.
  void assign(const std::string& coll, const RecordId& id, const std::string& field, Value v) {
    Op op = make(coll, id, OpKind::kMvWrite, field, std::move(v));
    if (const Record* r = data.find(coll, id)) {
      if (const auto* mv = r->get<MvRegister>(field)) op.observed = mv->dots();
    }
    commit(std::move(op));
  }
  void add(const std::string& coll, const RecordId& id, const std::string& field, Value v) {
    commit(make(coll, id, OpKind::kSetAdd, field, std::move(v)));
  }
  void note(const std::string& coll, const RecordId& id, const std::string& field, Value v) {
    commit(make(coll, id, OpKind::kLogAppend, field, std::move(v)));
  }
};

// Delivers every op of `from` to `to`, shuffled, some twice.
void deliver(const Tablet& from, Tablet& to, std::mt19937_64& rng) {
  std::vector<Op> ops = from.written;
  std::vector<Op> dupes(ops.begin(), ops.begin() + static_cast<long>(ops.size() / 2));
  ops.insert(ops.end(), dupes.begin(), dupes.end());
  std::shuffle(ops.begin(), ops.end(), rng);
  for (const Op& op : ops) {
    to.clock.update(op.time);
    (void)to.data.apply(op);
  }
}

void print_record(const std::string& coll, const RecordId& id, const Record& r) {
  std::printf("  %s %s%s\n", coll.c_str(), id.to_hex().substr(0, 12).c_str(),
              r.is_conflicted() ? "   <-- IN CONFLICT" : "");
  for (const auto& [key, field] : r.fields()) {
    std::string shown;
    if (auto* lww = std::get_if<LwwRegister>(&field)) shown = to_display(lww->value());
    if (auto* mv = std::get_if<MvRegister>(&field)) {
      for (const Value& v : mv->values()) shown += (shown.empty() ? "" : " | ") + to_display(v);
      if (mv->is_conflicted()) shown = "{ " + shown + " }  concurrent values, needs a person";
    }
    if (auto* set = std::get_if<AwSet>(&field)) {
      for (const Value& v : set->elements()) shown += (shown.empty() ? "" : ", ") + to_display(v);
    }
    if (auto* log = std::get_if<AppendLog>(&field)) {
      for (const auto& e : log->entries()) shown += "\n      - " + to_display(e.payload);
    }
    std::printf("    %-10s %s\n", key.name.c_str(), shown.c_str());
  }
}

void print_all(const char* title, const Tablet& t) {
  std::printf("%s (%s), state hash %s\n", title, t.name.c_str(),
              t.data.hash_hex().substr(0, 16).c_str());
  for (const auto& [coll, records] : t.data.collections()) {
    for (const auto& [id, r] : records) print_record(coll, id, r);
  }
}

}  // namespace

int main() {
  std::mt19937_64 rng(2026);
  Tablet dilnoza("tablet-dilnoza", 1763800000000);
  Tablet jasur("tablet-jasur", 1763800005000);
  Tablet hub("hub-yunusobod", 1763800009000);

  const RecordId household = RecordId::make(1763800000000, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  const RecordId child_case = RecordId::make(1763800000001, {9, 9, 9, 9, 9, 9, 9, 9, 9, 9});

  // Dilnoza opens the household and the guardianship case; everyone receives them.
  dilnoza.set("household", household, "address", text("Yunusobod 4-17"));
  dilnoza.add("household", household, "members", text("person:aziza (child, 9)"));
  dilnoza.assign("guardianship_case", child_case, "status", text("assessment"));
  deliver(dilnoza, jasur, rng);
  deliver(dilnoza, hub, rng);

  // Apart, with no connectivity: both tablets work on the same case.
  dilnoza.assign("guardianship_case", child_case, "guardian", text("grandmother Malika"));
  dilnoza.note("guardianship_case", child_case, "notes", text("grandmother willing, home visited"));
  dilnoza.add("household", household, "members", text("person:malika (grandmother)"));
  jasur.assign("guardianship_case", child_case, "guardian", text("uncle Bekzod"));
  jasur.note("guardianship_case", child_case, "notes", text("uncle applied at Inson centre"));
  jasur.set("household", household, "phone", text("+998 90 123 45 67"));

  // They meet the hub in different orders: every replica gets every op, shuffled, duplicated.
  deliver(jasur, hub, rng);
  deliver(dilnoza, hub, rng);
  deliver(hub, dilnoza, rng);
  deliver(jasur, dilnoza, rng);
  deliver(dilnoza, jasur, rng);

  std::printf("== after syncing in different orders ==\n");
  print_all("converged view", hub);
  const bool converged =
      dilnoza.data.encode() == jasur.data.encode() && jasur.data.encode() == hub.data.encode();
  std::printf("all three replicas byte-identical: %s\n\n", converged ? "yes" : "NO");

  // A supervisor at the hub resolves the conflict; the resolution observed both values.
  std::printf("== supervisor resolves: guardian = grandmother Malika ==\n");
  hub.assign("guardianship_case", child_case, "guardian", text("grandmother Malika"));
  hub.note("guardianship_case", child_case, "notes",
           text("resolved by supervisor: grandmother has housing, uncle works abroad"));
  deliver(hub, jasur, rng);
  deliver(hub, dilnoza, rng);
  print_all("after resolution", dilnoza);
  const bool settled =
      dilnoza.data.encode() == jasur.data.encode() && jasur.data.encode() == hub.data.encode();
  const Record* c = hub.data.find("guardianship_case", child_case);
  const bool resolved = c && !c->is_conflicted();
  std::printf("all three replicas byte-identical: %s; conflict resolved: %s\n",
              settled ? "yes" : "NO", resolved ? "yes" : "NO");
  return converged && settled && resolved ? 0 : 1;
}
