// Sync between enrolled replicas, in memory through the real handshake, channel and session:
// convergence, scope isolation, relay, one round trip, resumption, refusals, revocation.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <random>
#include <thread>

#include "birga/change_list.h"
#include "lmdb_env.h"
#include "sealed_change.h"
#include "store_keys.h"
#include "sync_fixture.h"

using namespace birga;
using namespace birga::test;
using crdt::text;

namespace {

crdt::RecordId write_visit(Replica& r, const std::string& scope, const std::string& household,
                           const std::string& notes = "routine visit") {
  Transaction t = r.begin();
  const crdt::RecordId id = t.create("visit", scope);
  t.set("visit", id, "household", text(household)).set("visit", id, "notes", text(notes));
  REQUIRE(t.commit().is_ok());
  return id;
}

struct Mahallas {
  Deployment d;
  std::unique_ptr<Replica> hub, a1, a2, b;
  Mahallas() {
    hub = d.add("hub", Role::kHub, {{kDistrict, kRead | kRelay}});
    a1 = d.add("tablet-a1", Role::kField, {{kMahallaA, kRead | kWrite}});
    a2 = d.add("tablet-a2", Role::kField, {{kMahallaA, kRead | kWrite}});
    b = d.add("tablet-b", Role::kField, {{kMahallaB, kRead | kWrite}});
    REQUIRE((hub && a1 && a2 && b));
  }
};

void require_synced(Replica& x, Replica& y, SyncOptions o = {}) {
  auto out = memory_sync(x, y, o);
  INFO(out.status.to_string());
  REQUIRE(out.status.is_ok());
  REQUIRE(out.completed);
  for (const SyncStats* st : {&out.a, &out.b}) {
    for (const Status& r : st->refused) {
      FAIL_CHECK("refused in sync " << x.dir() << " -> " << y.dir() << ": " << r.to_string());
    }
  }
}

}  // namespace

TEST_CASE("Sync: an enrolled tablet's first write after reopening may update a stored record",
          "[sync][trust]") {
  // The write opens the record table itself (nothing read it before), and checking the
  // device's own revocation reads a table of its own in the middle of that write: the two
  // table handles must not collide (LMDB lets one transaction at a time open handles).
  Deployment d;
  crdt::RecordId id;
  {
    auto tablet = d.add("tablet", Role::kField, {{kMahallaA, kRead | kWrite}});
    auto lost = d.add("lost", Role::kField, {{kMahallaA, kRead | kWrite}});
    REQUIRE((tablet && lost));
    id = write_visit(*tablet, kMahallaA, "hh-1");
    // Another device's revocation gives the tablet a revocation table to read.
    REQUIRE(d.authority->revoke(lost->device_key(), "tablet lost").is_ok());
    auto log = d.authority->control_log();
    REQUIRE(log.is_ok());
    REQUIRE(tablet->ingest(*log)->refused.empty());
    REQUIRE(tablet->revoked_at(lost->device_key())->has_value());
  }
  auto r = Replica::open(d.dir("tablet"), birga::test::test_options());
  REQUIRE(r.is_ok());
  for (const char* notes : {"second visit", "third visit"}) {  // and after that commit
    Transaction t = (*r)->begin();
    t.set("visit", id, "notes", text(notes));
    const Status s = t.commit();
    INFO(s.to_string());
    REQUIRE(s.is_ok());
    auto rec = (*r)->get("visit", id);
    REQUIRE(rec.is_ok());
    REQUIRE(rec->has_value());
    CHECK((*rec)->value("notes") == text(notes));
  }
  CHECK((*r)->verify().is_ok());
}

TEST_CASE("Sync: tablets and a hub converge whatever the order of syncs", "[sync]") {
  Mahallas m;
  // The hub received keys for the scopes created after it enrolled? It was enrolled first,
  // so it receives them as envelopes through sync (control scope).
  std::mt19937_64 rng(7);
  for (int i = 0; i < 3; ++i) {
    write_visit(*m.a1, kMahallaA, "a1-hh-" + std::to_string(i));
    write_visit(*m.a2, kMahallaA, "a2-hh-" + std::to_string(i));
    write_visit(*m.b, kMahallaB, "b-hh-" + std::to_string(i));
  }
  std::vector<Replica*> nodes = {m.hub.get(), m.a1.get(), m.a2.get(), m.b.get()};
  for (int round = 0; round < 12; ++round) {
    Replica* x = nodes[rng() % nodes.size()];
    Replica* y = nodes[rng() % nodes.size()];
    if (x == y) continue;
    require_synced(*x, *y);
  }
  // Until nothing moves: a few full passes through every pair.
  for (int pass = 0; pass < 2; ++pass) {
    for (Replica* x : nodes) {
      for (Replica* y : nodes) {
        if (x != y) require_synced(*x, *y);
      }
    }
  }
  const std::string hash_a = m.hub->state_hash(kMahallaA).value();
  CHECK(m.a1->state_hash(kMahallaA).value() == hash_a);
  CHECK(m.a2->state_hash(kMahallaA).value() == hash_a);
  CHECK(m.b->state_hash(kMahallaB).value() == m.hub->state_hash(kMahallaB).value());
  CHECK(m.hub->list("visit")->size() == 9);
  CHECK(m.a1->list("visit")->size() == 6);
  // A tablet of mahalla B never receives a change of mahalla A, though the hub holds both.
  CHECK(m.b->list("visit")->size() == 3);
  CHECK(m.b->version_vector(kMahallaA)->empty());
  CHECK(m.a1->version_vector(kMahallaB)->empty());
  for (Replica* r : nodes) CHECK(r->verify().is_ok());
}

TEST_CASE("Sync: a relay-only node carries sealed changes it cannot read", "[sync][relay]") {
  Mahallas m;
  auto relay = m.d.add("relay", Role::kRelay, {{kDistrict, kRelay}});
  REQUIRE(relay);
  write_visit(*m.a1, kMahallaA, "hh-relayed", "sensitive note 4471");
  require_synced(*m.a1, *relay);
  CHECK(relay->version_vector(kMahallaA)->get(m.a1->actor()) == 1);
  CHECK(relay->list("visit")->empty());
  CHECK_FALSE(relay->has_scope_key(kMahallaA));
  require_synced(*relay, *m.hub);
  auto found = m.hub->find("visit", "household", text("hh-relayed"));
  REQUIRE(found.is_ok());
  CHECK(found->size() == 1);
}

TEST_CASE("Sync: a few new changes each way take one round trip", "[sync]") {
  Mahallas m;
  require_synced(*m.a1, *m.hub);  // both start from the same control log
  write_visit(*m.a1, kMahallaA, "x1");
  write_visit(*m.a1, kMahallaA, "x2");
  require_synced(*m.a2, *m.hub);
  write_visit(*m.a2, kMahallaA, "y1");
  auto out = memory_sync(*m.a1, *m.a2);
  REQUIRE(out.status.is_ok());
  REQUIRE(out.completed);
  CHECK(out.a.changes_sent == 2);
  CHECK(out.b.changes_sent >= 1);
  CHECK(out.a.round_trips == 1);
  CHECK(out.b.round_trips == 1);
  CHECK(m.a1->state_hash(kMahallaA).value() == m.a2->state_hash(kMahallaA).value());
}

TEST_CASE("Sync: a cut connection resumes and resends nothing acknowledged", "[sync][resume]") {
  Mahallas m;
  for (int i = 0; i < 40; ++i) write_visit(*m.a1, kMahallaA, "hh-" + std::to_string(i));
  const size_t total =
      m.a1->export_missing(kMahallaA, crdt::VersionVector())->size() +
      m.a1->export_missing(std::string(kControlScope), crdt::VersionVector())->size();
  SyncOptions small;
  small.max_batch_bytes = 2048;  // several batches
  small.window = 2;
  auto cut = memory_sync(*m.a1, *m.hub, small, 6);
  CHECK_FALSE(cut.completed);
  const uint64_t got_first = m.hub->version_vector(kMahallaA)->get(m.a1->actor());
  CHECK(got_first > 0);
  CHECK(got_first < 40);

  auto rest = memory_sync(*m.a1, *m.hub, small);
  REQUIRE(rest.status.is_ok());
  REQUIRE(rest.completed);
  // Everything the hub durably held after the cut is not sent again.
  CHECK(rest.a.changes_sent == 40 - got_first);
  CHECK(m.hub->version_vector(kMahallaA)->get(m.a1->actor()) == 40);
  CHECK(m.hub->state_hash(kMahallaA).value() == m.a1->state_hash(kMahallaA).value());
  CHECK(total >= 40);
  // A third sync moves no change at all.
  auto again = memory_sync(*m.a1, *m.hub, small);
  REQUIRE(again.completed);
  CHECK(again.a.changes_sent == 0);
  CHECK(again.b.changes_sent == 0);
}

TEST_CASE("Sync: frames carry none of the plaintext written", "[sync]") {
  Mahallas m;
  write_visit(*m.a1, kMahallaA, "household-Qodirova-5521", "violence reported by neighbour 8812");
  auto out = memory_sync(*m.a1, *m.hub);
  REQUIRE(out.completed);
  std::string all;
  for (const std::string& f : out.frames) all += f;
  CHECK(all.size() > 500);
  CHECK(all.find("household-Qodirova-5521") == std::string::npos);
  CHECK(all.find("violence reported by neighbour 8812") == std::string::npos);
  CHECK(all.find("tablet-a1") == std::string::npos);  // even names are inside encrypted frames
}

TEST_CASE("Sync: refused peers: unenrolled, expired, other authority, revoked", "[sync][trust]") {
  Mahallas m;
  SECTION("an unenrolled replica cannot start a handshake") {
    auto lone = Replica::create(m.d.dir("lone"), test::test_options());
    REQUIRE(lone.is_ok());
    auto out = memory_sync(**lone, *m.hub);
    CHECK(out.status.code() == Code::kPermissionDenied);
    CHECK_THAT(out.status.message(), Catch::Contains("not enrolled"));
  }
  SECTION("an expired certificate is refused") {
    auto old = m.d.add("old-tablet", Role::kField, {{kMahallaA, kRead | kWrite}},
                       crdt::system_wall_clock_ms() - 1000);
    REQUIRE(old);
    auto out = memory_sync(*old, *m.hub);
    CHECK(out.status.code() == Code::kPermissionDenied);
    CHECK_THAT(out.status.message(), Catch::Contains("expired"));
  }
  SECTION("a certificate from another authority is refused") {
    Deployment other;
    auto stranger = other.add("stranger", Role::kField, {{kMahallaA, kRead | kWrite}});
    REQUIRE(stranger);
    auto out = memory_sync(*stranger, *m.hub);
    CHECK(out.status.code() == Code::kPermissionDenied);
    CHECK_THAT(out.status.message(), Catch::Contains("another authority"));
  }
  SECTION("a revoked device is refused, its later changes too, and it cannot read new data") {
    require_synced(*m.a1, *m.hub);
    require_synced(*m.a2, *m.hub);
    auto revocation = m.d.authority->revoke(m.a2->device_key(), "tablet lost");
    REQUIRE(revocation.is_ok());
    // The administrator imports the authority's control log at the hub.
    auto log = m.d.authority->control_log();
    REQUIRE(log.is_ok());
    REQUIRE(m.hub->ingest(*log)->refused.empty());
    REQUIRE(m.hub->revoked_at(m.a2->device_key())->has_value());
    auto out = memory_sync(*m.a2, *m.hub);
    CHECK(out.status.code() == Code::kPermissionDenied);
    CHECK_THAT(out.status.message(), Catch::Contains("revoked"));

    // a1 learns the rotation through the hub and writes under the new epoch.
    require_synced(*m.a1, *m.hub);
    const crdt::RecordId secret = write_visit(*m.a1, kMahallaA, "after-revocation");
    require_synced(*m.a1, *m.hub);
    CHECK(m.hub->get("visit", secret)->has_value());
    // The lost tablet, given the sealed change anyway, cannot open it.
    auto change = m.a1->export_missing(kMahallaA, *m.a2->version_vector(kMahallaA));
    REQUIRE(change.is_ok());
    REQUIRE_FALSE(change->empty());
    auto rep = m.a2->ingest(*change);
    REQUIRE(rep.is_ok());
    CHECK(rep->sealed_only >= 1);
    CHECK_FALSE(m.a2->get("visit", secret)->has_value());
    // What the lost tablet writes now is refused everywhere.
    write_visit(*m.a2, kMahallaA, "written-by-thief");
    auto stolen = m.a2->export_missing(kMahallaA, *m.hub->version_vector(kMahallaA));
    auto hub_rep = m.hub->ingest(*stolen);
    REQUIRE(hub_rep.is_ok());
    REQUIRE_FALSE(hub_rep->refused.empty());
    CHECK_THAT(hub_rep->refused.back().message(), Catch::Contains("revoked"));
    CHECK(m.hub->find("visit", "household", text("written-by-thief"))->empty());
    // Control changes after the revocation use a rotated control key: a device enrolled now
    // is visible to a1, not to the lost tablet, even holding the bytes.
    auto newcomer = m.d.add("tablet-a3", Role::kField, {{kMahallaA, kRead | kWrite}});
    REQUIRE(newcomer);
    auto full_log = m.d.authority->control_log();
    REQUIRE(m.hub->ingest(*full_log)->refused.empty());
    require_synced(*m.a1, *m.hub);
    CHECK(m.a1->known_certificate(newcomer->device_key())->has_value());
    REQUIRE(m.a2->ingest(*full_log).is_ok());
    CHECK_FALSE(m.a2->known_certificate(newcomer->device_key())->has_value());
  }
}

TEST_CASE(
    "Sync: a revoked device's changes after its revocation, taken before it was known, are "
    "taken back out of the records there and not passed on",
    "[sync][trust]") {
  Mahallas m;
  const crdt::RecordId visit = write_visit(*m.a2, kMahallaA, "before-revocation");
  require_synced(*m.a2, *m.a1);
  REQUIRE(m.d.authority->revoke(m.a2->device_key(), "tablet lost").is_ok());
  auto log = m.d.authority->control_log();
  REQUIRE(log.is_ok());
  REQUIRE(m.hub->ingest(*log)->refused.empty());
  // The lost tablet writes three times more: two new visits and an edit of the first; a1,
  // which has not heard of the revocation, takes them all, and then adds a note of its own to
  // the first visit.
  write_visit(*m.a2, kMahallaA, "after-revocation-1");
  write_visit(*m.a2, kMahallaA, "after-revocation-2");
  {
    Transaction t = m.a2->begin();
    t.set("visit", visit, "household", text("changed-after-revocation"));
    REQUIRE(t.commit().is_ok());
  }
  require_synced(*m.a2, *m.a1);
  {
    Transaction t = m.a1->begin();
    t.set("visit", visit, "notes", text("a1's note"));
    REQUIRE(t.commit().is_ok());
  }
  REQUIRE(m.a1->list("visit")->size() == 3);
  REQUIRE((*m.a1->get("visit", visit))->value("household") == text("changed-after-revocation"));
  auto before = m.a1->alerts();
  REQUIRE(before.is_ok());
  CHECK(std::none_of(before->begin(), before->end(),
                     [](const Alert& a) { return a.kind == "revoked_held"; }));

  // a1 learns of the revocation: one alert names the three changes, and their edits leave the
  // records (the two visits they made, the household they changed); a1's own note stays.
  REQUIRE(m.a1->ingest(*log)->refused.empty());
  auto alerts = m.a1->alerts();
  REQUIRE(alerts.is_ok());
  std::vector<Alert> held;
  std::copy_if(alerts->begin(), alerts->end(), std::back_inserter(held),
               [](const Alert& a) { return a.kind == "revoked_held"; });
  REQUIRE(held.size() == 1);
  CHECK_THAT(held[0].detail, Catch::Contains("3 change(s) of 'tablet-a2'") &&
                                 Catch::Contains("scope '" + kMahallaA + "'") &&
                                 Catch::Contains("seq 2 to 4") &&
                                 Catch::Contains("(3 record(s) made again"));
  auto visits = m.a1->list("visit");
  REQUIRE(visits.is_ok());
  REQUIRE(visits->size() == 1);
  CHECK((*visits)[0].id == visit);
  CHECK((*visits)[0].value("household") == text("before-revocation"));
  CHECK((*visits)[0].value("notes") == text("a1's note"));
  CHECK(m.a1->find("visit", "household", text("after-revocation-1"))->empty());
  const Status verified = m.a1->verify();
  INFO(verified.to_string());
  CHECK(verified.is_ok());

  // a1 no longer offers them: the hub, which refuses them, is not sent them, and a1 is told of
  // nothing not kept. The change made before the revocation, and a1's own, are passed on, and
  // the hub and a1 then hold the same records.
  auto out = memory_sync(*m.a1, *m.hub);
  INFO(out.status.to_string());
  REQUIRE(out.completed);
  CHECK(out.b.refused.empty());
  CHECK(out.a.peer_not_kept.empty());
  CHECK(m.hub->list("visit")->size() == 1);
  CHECK_FALSE(m.hub->find("visit", "household", text("before-revocation"))->empty());
  CHECK(m.hub->state_hash(kMahallaA).value() == m.a1->state_hash(kMahallaA).value());
  auto exported = held_changes(*m.a1, kMahallaA);
  REQUIRE(exported.is_ok());
  CHECK(exported->size() == 2);
  // Nor does a second sync.
  auto again = memory_sync(*m.a1, *m.hub);
  REQUIRE(again.completed);
  CHECK(again.a.changes_sent == 0);
  CHECK(again.b.refused.empty());
}

namespace {
// The hub learns every device; then the authority revokes tablet-a2, which the hub does not
// know yet. Returns the control log with the revocation.
std::vector<std::string> revoke_a2_unknown_to_hub(Mahallas& m) {
  REQUIRE(m.hub->ingest(*m.d.authority->control_log())->refused.empty());
  REQUIRE(m.d.authority->revoke(m.a2->device_key(), "tablet lost").is_ok());
  auto log = m.d.authority->control_log();
  REQUIRE(log.is_ok());
  return *log;
}
}  // namespace

// Within one ingest: a record only the revoked device's change made is removed when the
// revocation is applied, and made again by a later change of the batch that edits it, with
// that edit alone.
TEST_CASE("Sync: a record removed by a revocation is made again by a later change of the batch",
          "[sync][trust]") {
  Mahallas m;
  const std::vector<std::string> log = revoke_a2_unknown_to_hub(m);
  const crdt::RecordId x = write_visit(*m.a2, kMahallaA, "made-after-revocation");
  auto from_a2 = held_changes(*m.a2, kMahallaA);
  REQUIRE(from_a2.is_ok());
  REQUIRE(from_a2->size() == 1);
  require_synced(*m.a2, *m.a1);
  {
    Transaction t = m.a1->begin();
    t.set("visit", x, "notes", text("a1's note"));
    REQUIRE(t.commit().is_ok());
  }
  auto from_a1 = held_changes(*m.a1, kMahallaA);
  REQUIRE(from_a1.is_ok());
  REQUIRE(from_a1->size() == 2);
  std::vector<std::string> a1_own;
  for (const std::string& c : *from_a1) {
    if (c != from_a2->front()) a1_own.push_back(c);
  }
  REQUIRE(a1_own.size() == 1);
  // The hub takes, in one batch: a2's change, the control log with the revocation, a1's edit.
  std::vector<std::string> batch = *from_a2;
  batch.insert(batch.end(), log.begin(), log.end());
  batch.insert(batch.end(), a1_own.begin(), a1_own.end());
  auto report = m.hub->ingest(batch);
  REQUIRE(report.is_ok());
  CHECK(report->refused.empty());
  auto alerts = m.hub->alerts();
  REQUIRE(alerts.is_ok());
  CHECK(std::any_of(alerts->begin(), alerts->end(),
                    [](const Alert& a) { return a.kind == "revoked_held"; }));
  auto rec = m.hub->get("visit", x);
  REQUIRE(rec.is_ok());
  REQUIRE(rec->has_value());
  CHECK((*rec)->value("notes") == text("a1's note"));
  CHECK_FALSE((*rec)->value("household").has_value());
  CHECK(m.hub->verify().is_ok());
}

// A bulk change of the revoked device and the revocation in one batch: the change's records,
// made by this batch, leave it before they are stored (not as a range of the revoked change).
TEST_CASE("Sync: a revoked device's bulk change and its revocation in one batch store nothing",
          "[sync][trust][ranges]") {
  Mahallas m;
  const std::vector<std::string> log = revoke_a2_unknown_to_hub(m);
  {
    Transaction t = m.a2->begin();
    for (int i = 0; i < 100; ++i) {
      t.set("visit", t.create("visit", kMahallaA), "household", text("bulk-" + std::to_string(i)));
    }
    REQUIRE(t.commit().is_ok());
  }
  auto batch = held_changes(*m.a2, kMahallaA);
  REQUIRE(batch.is_ok());
  batch->insert(batch->end(), log.begin(), log.end());
  auto report = m.hub->ingest(*batch);
  REQUIRE(report.is_ok());
  CHECK(report->refused.empty());
  CHECK(m.hub->list("visit")->empty());
  const Status verified = m.hub->verify();
  INFO(verified.to_string());
  CHECK(verified.is_ok());
}

// Two devices revoked in one control change, both of which edited the same record after: the
// undo of each leaves out the other's edit too, so neither comes back.
TEST_CASE("Sync: edits of two revoked devices to one record both leave it", "[sync][trust]") {
  Mahallas m;
  REQUIRE(m.hub->ingest(*m.d.authority->control_log())->refused.empty());
  const crdt::RecordId visit = write_visit(*m.a1, kMahallaA, "before-revocation");
  require_synced(*m.a1, *m.hub);
  require_synced(*m.a2, *m.hub);
  REQUIRE(m.d.authority->revoke(m.a1->device_key(), "tablet lost").is_ok());
  REQUIRE(m.d.authority->revoke(m.a2->device_key(), "tablet lost").is_ok());
  auto log = m.d.authority->control_log();
  REQUIRE(log.is_ok());
  for (auto [tablet, field] :
       {std::pair{m.a1.get(), "household"}, std::pair{m.a2.get(), "notes"}}) {
    Transaction t = tablet->begin();
    t.set("visit", visit, field, text("after-revocation"));
    REQUIRE(t.commit().is_ok());
    require_synced(*tablet, *m.hub);
  }
  REQUIRE((*m.hub->get("visit", visit))->value("notes") == text("after-revocation"));
  REQUIRE(m.hub->ingest(*log)->refused.empty());
  auto rec = m.hub->get("visit", visit);
  REQUIRE(rec.is_ok());
  REQUIRE(rec->has_value());
  CHECK((*rec)->value("household") == text("before-revocation"));
  CHECK((*rec)->value("notes") == text("routine visit"));
  CHECK(m.hub->verify().is_ok());
}

// A change made after its author's revocation that waits for an earlier one is judged again
// when the earlier one lets it in: the revocation may have come meanwhile.
TEST_CASE("Sync: a waiting change is refused when it is let in after its author's revocation",
          "[sync][trust]") {
  Mahallas m;
  REQUIRE(m.hub->ingest(*m.d.authority->control_log())->refused.empty());
  write_visit(*m.a2, kMahallaA, "v1");
  write_visit(*m.a2, kMahallaA, "v2");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(m.d.authority->revoke(m.a2->device_key(), "tablet lost").is_ok());
  auto log = m.d.authority->control_log();
  REQUIRE(log.is_ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  write_visit(*m.a2, kMahallaA, "v3-after-revocation");
  auto c = m.a2->export_missing(kMahallaA, crdt::VersionVector());
  REQUIRE(c.is_ok());
  REQUIRE(c->size() == 3);
  REQUIRE(m.hub->ingest({(*c)[0]})->applied == 1);
  REQUIRE(m.hub->ingest({(*c)[2]})->pending == 1);  // waits for change 2
  REQUIRE(m.hub->ingest(*log)->refused.empty());
  auto report = m.hub->ingest({(*c)[1]});
  REQUIRE(report.is_ok());
  CHECK(report->applied == 1);
  REQUIRE(report->refused.size() == 1);
  CHECK_THAT(report->refused[0].message(), Catch::Contains("change 3"));
  CHECK_FALSE(m.hub->find("visit", "household", text("v2"))->empty());
  CHECK(m.hub->find("visit", "household", text("v3-after-revocation"))->empty());
  CHECK(m.hub->verify().is_ok());
}

// A revoked device's later change held sealed (no key for it yet) is never applied: when the
// revocation comes, its unapplied mark goes, so the key that comes after does not apply it.
TEST_CASE("Sync: a revoked device's later change held sealed is not applied when the key comes",
          "[sync][trust]") {
  Mahallas m;
  REQUIRE(m.d.authority->revoke(m.a2->device_key(), "tablet lost").is_ok());
  write_visit(*m.a2, kMahallaA, "after-revocation");
  auto from_a2 = m.a2->export_missing(kMahallaA, crdt::VersionVector());
  REQUIRE(from_a2.is_ok());
  REQUIRE(from_a2->size() == 1);
  // A new tablet, not enrolled yet, holds no key: it keeps the change sealed.
  auto late = Replica::create(m.d.dir("late"), test::test_options());
  REQUIRE(late.is_ok());
  auto held = (*late)->ingest(*from_a2);
  REQUIRE(held.is_ok());
  REQUIRE(held->sealed_only == 1);
  // Its bundle brings the revocation, then the keys.
  auto bundle = m.d.authority->enrol((*late)->device_key(), "late", Role::kField,
                                     {{kMahallaA, kRead | kWrite}}, 0);
  REQUIRE(bundle.is_ok());
  REQUIRE((*late)->install_certificate(bundle->encode()).is_ok());
  REQUIRE((*late)->has_scope_key(kMahallaA));
  CHECK((*late)->list("visit")->empty());
  auto alerts = (*late)->alerts();
  REQUIRE(alerts.is_ok());
  CHECK(std::any_of(alerts->begin(), alerts->end(),
                    [](const Alert& a) { return a.kind == "revoked_held"; }));
  CHECK((*late)->verify().is_ok());
}

// The same for a bulk change, which a1 stores as a range (the records are in no block): all of
// its records leave the store, and the store stays consistent.
TEST_CASE(
    "Sync: a revoked device's bulk change taken before the revocation was known leaves "
    "the records there",
    "[sync][trust][ranges]") {
  Mahallas m;
  write_visit(*m.a1, kMahallaA, "a1's own");
  REQUIRE(m.d.authority->revoke(m.a2->device_key(), "tablet lost").is_ok());
  auto log = m.d.authority->control_log();
  REQUIRE(log.is_ok());
  {
    Transaction t = m.a2->begin();
    for (int i = 0; i < 100; ++i) {
      const crdt::RecordId id = t.create("visit", kMahallaA);
      t.set("visit", id, "household", text("bulk-" + std::to_string(i)));
    }
    REQUIRE(t.commit().is_ok());
  }
  require_synced(*m.a2, *m.a1);
  REQUIRE(m.a1->list("visit")->size() == 101);
  // a1 holds its visit's block and the range: two entries for 101 records.
  m.a1.reset();
  {
    auto env = engine::LmdbEnv::open(m.d.dir("tablet-a1"));
    REQUIRE(env.is_ok());
    size_t entries = 0;
    REQUIRE((*env)
                ->read([&](const engine::Txn& txn) -> Status {
                  auto table = txn.records_of("visit");
                  if (!table.is_ok()) return table.status();
                  return txn.scan(*table, engine::collection_prefix("visit"), [&](auto, auto) {
                    ++entries;
                    return true;
                  });
                })
                .is_ok());
    CHECK(entries == 2);
  }
  auto reopened = Replica::open(m.d.dir("tablet-a1"), test::test_options());
  REQUIRE(reopened.is_ok());
  m.a1 = std::move(*reopened);
  REQUIRE(m.a1->ingest(*log)->refused.empty());
  auto visits = m.a1->list("visit");
  REQUIRE(visits.is_ok());
  REQUIRE(visits->size() == 1);
  CHECK((*visits)[0].value("household") == text("a1's own"));
  auto changed = m.a1->changed_since(0);
  REQUIRE(changed.is_ok());
  CHECK(std::count_if(changed->records.begin(), changed->records.end(),
                      [](const auto& r) { return r.collection == "visit"; }) == 1);
  const Status verified = m.a1->verify();
  INFO(verified.to_string());
  CHECK(verified.is_ok());
  REQUIRE(m.hub->ingest(*log)->refused.empty());
  require_synced(*m.a1, *m.hub);
  CHECK(m.hub->state_hash(kMahallaA).value() == m.a1->state_hash(kMahallaA).value());
}

// tablet-a1's store copied to "clone"; each writes a visit of its own as change 1, and the
// original's reaches the hub.
std::pair<std::unique_ptr<Replica>, std::unique_ptr<Replica>> cloned_tablet(Mahallas& m) {
  m.a1.reset();
  std::filesystem::copy(m.d.dir("tablet-a1"), m.d.dir("clone"));
  auto orig = Replica::open(m.d.dir("tablet-a1"), test::test_options());
  auto clone = Replica::open(m.d.dir("clone"), test::test_options());
  REQUIRE((orig.is_ok() && clone.is_ok()));
  write_visit(**orig, kMahallaA, "from-original");
  write_visit(**clone, kMahallaA, "from-clone");
  require_synced(**orig, *m.hub);
  return {std::move(*orig), std::move(*clone)};
}

TEST_CASE("Sync: a cloned device is detected from the summaries", "[sync][trust]") {
  Mahallas m;
  auto [orig, clone] = cloned_tablet(m);
  // The clone sees from the hub's summary that its own chain was forked, and stops.
  auto out = memory_sync(*clone, *m.hub);
  CHECK(out.status.code() == Code::kDataLoss);
  auto alerts = m.hub->alerts();
  REQUIRE(alerts.is_ok());
  const bool flagged = std::any_of(alerts->begin(), alerts->end(),
                                   [](const Alert& a) { return a.kind == "equivocation"; });
  CHECK(flagged);
  CHECK(m.hub->find("visit", "household", text("from-clone"))->empty());
  CHECK(m.hub->find("visit", "household", text("from-original"))->size() == 1);
}

TEST_CASE("Channel: an altered, replayed or reordered frame ends the session", "[sync][channel]") {
  Mahallas m;
  auto ha = Handshake::begin(*m.a1, true);
  auto hb = Handshake::begin(*m.hub, false);
  REQUIRE((ha.is_ok() && hb.is_ok()));
  auto pa = (*ha)->receive_hello((*hb)->hello());
  auto pb = (*hb)->receive_hello((*ha)->hello());
  REQUIRE((pa.is_ok() && pb.is_ok()));
  REQUIRE((*ha)->receive_proof(*pb).is_ok());
  REQUIRE((*hb)->receive_proof(*pa).is_ok());
  CHECK((*ha)->peer().name == "hub");
  CHECK((*hb)->peer().name == "tablet-a1");
  // Each proof carries its sender's wall clock: both clocks here are this machine's.
  REQUIRE((*ha)->peer_clock_offset_ms().has_value());
  REQUIRE((*hb)->peer_clock_offset_ms().has_value());
  CHECK(std::abs(*(*ha)->peer_clock_offset_ms()) < 60'000);
  CHECK(std::abs(*(*hb)->peer_clock_offset_ms()) < 60'000);

  SecureChannel tx = (*ha)->channel();
  const std::string f1 = tx.seal("first"), f2 = tx.seal("second");
  {
    SecureChannel rx = (*hb)->channel();
    std::string altered = f1;
    altered[3] ^= 1;
    CHECK(rx.open(altered).status().code() == Code::kCorruptInput);
  }
  {
    SecureChannel rx = (*hb)->channel();
    CHECK(rx.open(f2).status().code() == Code::kCorruptInput);  // reordered
  }
  {
    SecureChannel rx = (*hb)->channel();
    REQUIRE(rx.open(f1).value() == "first");
    CHECK(rx.open(f1).status().code() == Code::kCorruptInput);  // replayed
  }
  // A proof signed for another session (a replayed handshake) is refused.
  auto hc = Handshake::begin(*m.hub, false);
  REQUIRE(hc.is_ok());
  REQUIRE((*hc)->receive_hello((*ha)->hello()).is_ok());
  CHECK_FALSE((*hc)->receive_proof(*pa).is_ok());
}

TEST_CASE("Sync: changes made under an expired certificate are refused at ingest",
          "[sync][trust]") {
  Mahallas m;
  // The device keeps using its first certificate; the authority has since re-issued it with
  // an expiry in the past, and the hub knows the newer one (a device that missed the update,
  // or one whose software skips its own check).
  write_visit(*m.a1, kMahallaA, "before-reissue");
  REQUIRE(m.hub->ingest(*m.d.authority->control_log())->refused.empty());
  REQUIRE(m.hub->ingest(*m.a1->export_missing(kMahallaA, crdt::VersionVector()))->applied == 1);
  auto reissued =
      m.d.authority->enrol(m.a1->device_key(), "tablet-a1", Role::kField,
                           {{kMahallaA, kRead | kWrite}}, crdt::system_wall_clock_ms() - 60000);
  REQUIRE(reissued.is_ok());
  REQUIRE(m.hub->ingest(*m.d.authority->control_log())->refused.empty());
  write_visit(*m.a1, kMahallaA, "after-expiry");
  auto rep = m.hub->ingest(*m.a1->export_missing(kMahallaA, *m.hub->version_vector(kMahallaA)));
  REQUIRE(rep.is_ok());
  REQUIRE(rep->refused.size() == 1);
  CHECK_THAT(rep->refused[0].message(), Catch::Contains("expired"));
  CHECK(m.hub->find("visit", "household", text("before-reissue"))->size() == 1);
  CHECK(m.hub->find("visit", "household", text("after-expiry"))->empty());
}

TEST_CASE("Sync: a device refuses to write what its own certificate does not allow",
          "[sync][trust]") {
  Mahallas m;
  Transaction t = m.a1->begin();
  t.set("visit", t.create("visit", kMahallaB), "household", text("not mine"));
  Status s = t.commit();
  CHECK(s.code() == Code::kPermissionDenied);
  // A hub holds keys (read) but no write right.
  require_synced(*m.a1, *m.hub);
  Transaction h = m.hub->begin();
  h.set("visit", h.create("visit", kMahallaA), "household", text("from the hub"));
  Status hs = h.commit();
  CHECK(hs.code() == Code::kPermissionDenied);
  CHECK_THAT(hs.message(), Catch::Contains("no write right"));
  CHECK(m.hub->find("visit", "household", text("from the hub"))->empty());
}

TEST_CASE(
    "Sync: a change made before its author moved to another mahalla is kept wherever it "
    "arrives later",
    "[sync][trust]") {
  Mahallas m;
  // Written in mahalla A while the tablet was enrolled there, and not yet synced; it also
  // holds a colleague's visit there, which it may no longer hand over after the move.
  write_visit(*m.a2, kMahallaA, "colleague");
  require_synced(*m.a1, *m.a2);
  write_visit(*m.a1, kMahallaA, "before-move");
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // issued after, by the clock
  // The authority moves tablet-a1 to mahalla B; the tablet installs the new bundle, the hub
  // learns it from the control log.
  auto moved = m.d.authority->enrol(m.a1->device_key(), "tablet-a1", Role::kField,
                                    {{kMahallaB, kRead | kWrite}}, 0);
  REQUIRE(moved.is_ok());
  REQUIRE(m.a1->install_certificate(moved->encode()).is_ok());
  REQUIRE(m.hub->ingest(*m.d.authority->control_log())->refused.empty());
  write_visit(*m.a1, kMahallaB, "after-move");
  // The move takes effect for what the tablet writes from now on.
  Transaction t = m.a1->begin();
  t.set("visit", t.create("visit", kMahallaA), "household", text("after-move-in-a"));
  CHECK(t.commit().code() == Code::kPermissionDenied);

  // The visit of before the move reaches the hub, and through it the tablets of mahalla A;
  // the one of after it the tablet of mahalla B. Nothing is refused anywhere.
  require_synced(*m.a1, *m.hub);
  CHECK(m.hub->find("visit", "household", text("before-move"))->size() == 1);
  CHECK(m.hub->find("visit", "household", text("after-move"))->size() == 1);
  CHECK(m.hub->find("visit", "household", text("colleague"))->empty());  // a2 brings it
  // The hub lists to the moved tablet its own chain in mahalla A, so the next sync sends
  // nothing again; the colleague's visit the tablet never offers.
  test::SyncOutcome again = memory_sync(*m.a1, *m.hub);
  REQUIRE(again.status.is_ok());
  CHECK(again.a.changes_sent == 0);
  CHECK(again.b.changes_sent == 0);
  CHECK(again.a.peer_not_kept.empty());
  require_synced(*m.a2, *m.hub);
  CHECK(m.a2->find("visit", "household", text("before-move"))->size() == 1);
  CHECK(m.a2->find("visit", "household", text("after-move"))->empty());
  require_synced(*m.b, *m.hub);
  CHECK(m.b->find("visit", "household", text("after-move"))->size() == 1);
  CHECK(m.b->find("visit", "household", text("before-move"))->empty());
  // Kept under a grant since withdrawn: a person looks (it could be a clock set back).
  for (Replica* r : {m.hub.get(), m.a2.get()}) {
    auto alerts = r->alerts();
    REQUIRE(alerts.is_ok());
    const auto superseded = std::count_if(alerts->begin(), alerts->end(), [](const Alert& a) {
      return a.kind == "superseded_grant";
    });
    CHECK(superseded == 1);  // the change of before the move, not the one of after
  }
  // The move rotated mahalla A's key: what is written there now, the moved tablet, given the
  // sealed change anyway, cannot open.
  const crdt::RecordId later = write_visit(*m.a2, kMahallaA, "after-narrowing");
  require_synced(*m.a2, *m.hub);
  CHECK(m.hub->get("visit", later)->has_value());
  auto change = m.a2->export_missing(kMahallaA, *m.a1->version_vector(kMahallaA));
  REQUIRE(change.is_ok());
  REQUIRE(change->size() == 1);
  CHECK(engine::read_header(change->front())->header.key_epoch == 2);
  auto rep = m.a1->ingest(*change);
  REQUIRE(rep.is_ok());
  CHECK(rep->sealed_only == 1);
  CHECK_FALSE(m.a1->get("visit", later)->has_value());
}

TEST_CASE("Sync: an author's alert is raised once per change kept, however often it is offered",
          "[sync][trust]") {
  Mahallas m;
  for (int i = 0; i < 3; ++i) write_visit(*m.a1, kMahallaA, "before-move-" + std::to_string(i));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto moved = m.d.authority->enrol(m.a1->device_key(), "tablet-a1", Role::kField,
                                    {{kMahallaB, kRead | kWrite}}, 0);
  REQUIRE(moved.is_ok());
  REQUIRE(m.hub->ingest(*m.d.authority->control_log())->refused.empty());
  auto c = m.a1->export_missing(kMahallaA, crdt::VersionVector());
  REQUIRE(c.is_ok());
  REQUIRE(c->size() == 3);
  auto superseded = [&] {
    auto alerts = m.hub->alerts();
    REQUIRE(alerts.is_ok());
    return std::count_if(alerts->begin(), alerts->end(),
                         [](const Alert& a) { return a.kind == "superseded_grant"; });
  };
  // 2 and 3 wait for 1: each is kept (held waiting) once, and raises its alert then.
  REQUIRE(m.hub->ingest({(*c)[1], (*c)[2], (*c)[2]}).is_ok());
  CHECK(superseded() == 2);
  REQUIRE(m.hub->ingest({(*c)[1], (*c)[2]}).is_ok());
  CHECK(superseded() == 2);
  // 1 lets them in: its own alert, none again for the two.
  auto all = m.hub->ingest(*c);
  REQUIRE(all.is_ok());
  CHECK(all->applied == 3);  // the two let in are counted where they went
  CHECK(superseded() == 3);
  CHECK(m.hub->find("visit", "household", text("before-move-2"))->size() == 1);
}

TEST_CASE("Sync: the sender learns which of its changes the peer did not keep and why",
          "[sync][trust]") {
  Mahallas m;
  require_synced(*m.a1, *m.hub);
  // The authority moves tablet-a1 to mahalla B; the hub learns it, the tablet (which missed
  // the new bundle) still holds its old certificate and writes in mahalla A. 70 changes: more
  // than one message lists.
  auto moved = m.d.authority->enrol(m.a1->device_key(), "tablet-a1", Role::kField,
                                    {{kMahallaB, kRead | kWrite}}, 0);
  REQUIRE(moved.is_ok());
  REQUIRE(m.hub->ingest(*m.d.authority->control_log())->refused.empty());
  for (int i = 0; i < 70; ++i) write_visit(*m.a1, kMahallaA, "after-move-" + std::to_string(i));
  auto out = memory_sync(*m.a1, *m.hub);
  REQUIRE(out.status.is_ok());
  REQUIRE(out.completed);
  CHECK(out.b.refused.size() == 70);
  REQUIRE(out.a.peer_not_kept.size() == kMaxNotKeptListed);
  CHECK(out.a.peer_not_kept_unlisted == 70 - kMaxNotKeptListed);
  CHECK(out.a.own_not_kept() == kMaxNotKeptListed);
  const PeerNotKept& first = out.a.peer_not_kept.front();
  CHECK(first.own);
  CHECK(first.scope == kMahallaA);
  CHECK(first.seq == 1);
  CHECK(first.outcome == PeerNotKept::Outcome::kRefused);
  // Judged by the certificate in force when it was made: the one of after the move.
  const auto serial = Certificate::parse_self_signed_claim(moved->certificate)->serial;
  CHECK_THAT(first.reason,
             Catch::Contains("has no write right on this scope (certificate serial " +
                             std::to_string(serial) + ", in force when the change was made)"));
  CHECK(first.reason.size() <= kMaxNotKeptReasonBytes);
  // The id is the change's: what the tablet holds at that seq.
  auto sealed = m.a1->export_missing(kMahallaA, crdt::VersionVector(), 1 << 20);
  REQUIRE(sealed.is_ok());
  const auto listed = std::any_of(sealed->begin(), sealed->end(), [&](const std::string& c) {
    auto report = m.hub->ingest({c});
    return report.is_ok() && !report->not_kept.empty() &&
           report->not_kept[0].change == first.change;
  });
  CHECK(listed);
  // Nothing of the hub's was refused by the tablet.
  CHECK(out.b.peer_not_kept.empty());
}

namespace {
// Backs tablet-a1 up after one synced visit, lets the live tablet write and sync a second,
// and opens the backup: a store behind its own device's chain, as after a restore.
Result<std::unique_ptr<Replica>> open_restored_backup(Mahallas& m) {
  write_visit(*m.a1, kMahallaA, "before-backup");
  require_synced(*m.a1, *m.hub);
  m.a1.reset();
  std::filesystem::copy(m.d.dir("tablet-a1"), m.d.dir("backup"));
  {
    auto live = Replica::open(m.d.dir("tablet-a1"), test::test_options());
    REQUIRE(live.is_ok());
    write_visit(**live, kMahallaA, "after-backup");
    require_synced(**live, *m.hub);
  }
  return Replica::open(m.d.dir("backup"), test::test_options());
}
}  // namespace

// A restored store that wrote more changes than it lost is ahead of the hub: the hub sees no
// fork and sends nothing of that chain, so it cannot show its change; protocol 1 has no way to
// ask for it, and the hub's word is taken, as before proofs were asked for.
TEST_CASE("Sync: a restored store ahead of the hub is stopped on the hub's word", "[sync][trust]") {
  Mahallas m;
  auto restored = open_restored_backup(m);
  REQUIRE(restored.is_ok());
  write_visit(**restored, kMahallaA, "after-restore-1");
  write_visit(**restored, kMahallaA, "after-restore-2");
  auto out = memory_sync(**restored, *m.hub);
  CHECK(out.status.code() == Code::kDataLoss);
  CHECK_THAT(out.status.message(),
             Catch::Contains("a different change 2 of this device in scope '" + kMahallaA) &&
                 Catch::Contains("(whose last is 3)") &&
                 Catch::Contains("This is what the peer says it holds"));
  CHECK(m.hub->find("visit", "household", text("after-restore-1"))->empty());
  auto alerts = (*restored)->alerts();
  REQUIRE(alerts.is_ok());
  CHECK(std::count_if(alerts->begin(), alerts->end(),
                      [](const Alert& a) { return a.kind == "restored_store"; }) == 1);
}

// The proof of a restore that wrote again is the hub's change at the same seq, sent as fork
// evidence after the regular changes. A last batch already near the frame limit carries it in
// one more batch instead of dropping it, or the restored store would go on writing.
TEST_CASE("Sync: fork evidence that does not fit the last batch goes in one more",
          "[sync][trust]") {
  Mahallas m;
  auto restored = open_restored_backup(m);
  REQUIRE(restored.is_ok());
  // A colleague's 2.6 MB of notes that do not compress, which the restored store lacks.
  std::mt19937_64 rng(7);
  for (int i = 0; i < 40; ++i) {
    std::string notes(64 << 10, ' ');
    for (char& c : notes) c = static_cast<char>(33 + rng() % 94);
    write_visit(*m.a2, kMahallaA, "a2-" + std::to_string(i), notes);
  }
  require_synced(*m.a2, *m.hub);
  write_visit(**restored, kMahallaA, "after-restore");
  // Batches as large as a frame allows, so the hub's one batch is its last, and past half a
  // frame before the evidence.
  SyncOptions big;
  big.max_batch_bytes = size_t{3} << 20;
  auto out = memory_sync(**restored, *m.hub, big);
  INFO(out.status.to_string());
  CHECK(out.status.code() == Code::kDataLoss);
  CHECK_THAT(out.status.message(),
             Catch::Contains("a different change 2 of this device in scope '" + kMahallaA));
  CHECK_THAT(out.status.message(),
             Catch::Contains("sent this device's change 2 of that scope, signed with its key"));
  auto alerts = (*restored)->alerts();
  REQUIRE(alerts.is_ok());
  CHECK(std::count_if(alerts->begin(), alerts->end(),
                      [](const Alert& a) { return a.kind == "restored_store"; }) == 1);
}

TEST_CASE("Sync: a store restored from a backup stops at the peer's proof and sends nothing",
          "[sync][trust]") {
  Mahallas m;
  auto restored = open_restored_backup(m);
  REQUIRE(restored.is_ok());

  std::string hub_saw;
  SECTION("before it writes: the hub holds more of its chain") {
    hub_saw = "device 'tablet-a1' holds its own changes in scope '" + kMahallaA +
              "' only to 1, and this node holds them to 2";
    auto out = memory_sync(**restored, *m.hub);
    CHECK(out.status.code() == Code::kDataLoss);
    CHECK_THAT(out.status.message(), Catch::Contains("changes 1..2 in scope '" + kMahallaA +
                                                     "', but this store's last is 1"));
    // Found from the hub's copy of the lost change, not from its word.
    CHECK_THAT(out.status.message(),
               Catch::Contains("sent this device's change 2 of that scope, signed with its key"));
    CHECK(out.a.changes_sent == 0);
  }
  SECTION("after it writes: a different change 2") {
    hub_saw = "device 'tablet-a1' holds a different change 2 of its own in scope '" + kMahallaA;
    write_visit(**restored, kMahallaA, "after-restore");
    auto out = memory_sync(**restored, *m.hub);
    CHECK(out.status.code() == Code::kDataLoss);
    CHECK_THAT(out.status.message(),
               Catch::Contains("a different change 2 of this device in scope '" + kMahallaA));
    CHECK_THAT(out.status.message(), Catch::Contains("restored from a backup or copied"));
    CHECK_THAT(out.status.message(), Catch::Contains("re-enrol the device with a new key"));
    CHECK_THAT(out.status.message(),
               Catch::Contains("sent this device's change 2 of that scope, signed with its key"));
    CHECK(out.a.changes_sent == 0);
    CHECK(m.hub->find("visit", "household", text("after-restore"))->empty());
    auto hub_alerts = m.hub->alerts();  // nothing sent, so nothing quarantined there
    REQUIRE(hub_alerts.is_ok());
    for (const Alert& a : *hub_alerts) CHECK_THAT(a.detail, !Catch::Contains("quarantined"));
  }
  // The hub read the restored store's summary first, and says what it saw.
  auto seen = m.hub->alerts();
  REQUIRE(seen.is_ok());
  CHECK(std::any_of(seen->begin(), seen->end(), [&](const Alert& a) {
    return a.kind == "restored_peer" && a.detail.find(hub_saw) != std::string::npos;
  }));
  // The store keeps the finding, so `birga status` shows it after the sync; a second attempt
  // fails the same way but adds no second alert on either side.
  CHECK(memory_sync(**restored, *m.hub).status.code() == Code::kDataLoss);
  auto count = [](Replica& r, const std::string& kind) {
    auto alerts = r.alerts();
    REQUIRE(alerts.is_ok());
    return std::count_if(alerts->begin(), alerts->end(),
                         [&](const Alert& a) { return a.kind == kind; });
  };
  CHECK(count(**restored, "restored_store") == 1);
  CHECK(count(*m.hub, "restored_peer") == 1);
  // From the finding on, the store takes no new writes (they could never reach anyone), and
  // says why; it can still be read. Reopened, it still refuses.
  Transaction t = (*restored)->begin();
  t.set("visit", t.create("visit", kMahallaA), "household", text("after-finding"));
  Status refused = t.commit();
  CHECK(refused.code() == Code::kDataLoss);
  CHECK_THAT(refused.message(), Catch::Contains("takes no new writes"));
  CHECK_THAT(refused.message(), Catch::Contains("Re-enrol the device with a new key"));
  CHECK((*restored)->find("visit", "household", text("before-backup"))->size() == 1);
  restored->reset();
  auto reopened = Replica::open(m.d.dir("backup"), test::test_options());
  REQUIRE(reopened.is_ok());
  Transaction again = (*reopened)->begin();
  again.set("visit", again.create("visit", kMahallaA), "household", text("after-reopen"));
  CHECK(again.commit().code() == Code::kDataLoss);
  CHECK((*reopened)->find("visit", "household", text("after-reopen"))->empty());
}

TEST_CASE("Sync: evidence of a fork that the peer quarantines comes back as not kept",
          "[sync][trust]") {
  Mahallas m;
  auto [orig, clone] = cloned_tablet(m);
  require_synced(*clone, *m.a2);  // a colleague carries the clone's change
  auto out = memory_sync(*m.a2, *m.hub);
  REQUIRE(out.completed);
  REQUIRE(out.a.peer_not_kept.size() == 1);
  const PeerNotKept& n = out.a.peer_not_kept[0];
  CHECK(n.outcome == PeerNotKept::Outcome::kQuarantined);
  CHECK_FALSE(n.own);  // the clone's change, not tablet-a2's: its sync succeeds
  CHECK(n.scope == kMahallaA);
  CHECK(n.seq == 1);
  CHECK_THAT(n.reason, Catch::Contains("quarantined: equivocation"));
  CHECK(out.a.own_not_kept() == 0);
}

TEST_CASE("Ingest: a change waiting for its predecessor is listed as not kept until it arrives",
          "[sync][ingest]") {
  Mahallas m;
  write_visit(*m.a1, kMahallaA, "first");
  write_visit(*m.a1, kMahallaA, "second");
  REQUIRE(m.hub->ingest(*m.d.authority->control_log())->refused.empty());
  auto changes = m.a1->export_missing(kMahallaA, crdt::VersionVector());
  REQUIRE(changes.is_ok());
  REQUIRE(changes->size() == 2);
  SECTION("alone: waiting") {
    auto report = m.hub->ingest({(*changes)[1]});
    REQUIRE(report.is_ok());
    REQUIRE(report->not_kept.size() == 1);
    CHECK(report->not_kept[0].outcome == IngestReport::NotKept::Outcome::kWaiting);
    CHECK_THAT(report->not_kept[0].reason, Catch::Contains("waits here for the earlier change 1"));
  }
  SECTION("with its predecessor after it in the same batch: kept") {
    auto report = m.hub->ingest({(*changes)[1], (*changes)[0]});
    REQUIRE(report.is_ok());
    CHECK(report->applied == 2);
    CHECK(report->not_kept.empty());
  }
}

TEST_CASE("Ingest: changes that all wait and are then let in by their first leave no entry",
          "[sync][ingest]") {
  Mahallas m;
  constexpr size_t kChanges = 300;
  for (size_t i = 0; i < kChanges; ++i) write_visit(*m.a1, kMahallaA, "v" + std::to_string(i));
  REQUIRE(m.hub->ingest(*m.d.authority->control_log())->refused.empty());
  auto changes = m.a1->export_missing(kMahallaA, crdt::VersionVector(), 1 << 26);
  REQUIRE(changes.is_ok());
  REQUIRE(changes->size() == kChanges);
  // Newest first: each waits for the one after it in the batch, the last lets all in.
  std::vector<std::string> reversed(changes->rbegin(), changes->rend());
  SECTION("in one batch") {
    auto report = m.hub->ingest(reversed);
    REQUIRE(report.is_ok());
    CHECK(report->applied == kChanges);
    CHECK(report->pending == 0);
    CHECK(report->not_kept.empty());
    CHECK(report->waiting.empty());
  }
  SECTION("all but the first, then the first") {
    reversed.pop_back();
    auto waiting = m.hub->ingest(reversed);
    REQUIRE(waiting.is_ok());
    CHECK(waiting->pending == kChanges - 1);
    REQUIRE(waiting->not_kept.size() == kChanges - 1);
    // Listed in the order read.
    CHECK(waiting->not_kept.front().change == engine::change_id(reversed.front()));
    CHECK(waiting->not_kept.back().change == engine::change_id(reversed.back()));
    auto released = m.hub->ingest({changes->front()});
    REQUIRE(released.is_ok());
    CHECK(released->applied == 1);
    CHECK(released->released == kChanges - 1);
    CHECK(released->not_kept.empty());
  }
  auto listed = m.hub->list("visit");
  REQUIRE(listed.is_ok());
  CHECK(listed->size() == kChanges);
}

TEST_CASE("Sync: past one message of not-kept entries the peer's own changes are listed first",
          "[sync][trust]") {
  Mahallas m;
  require_synced(*m.a1, *m.hub);
  require_synced(*m.a2, *m.hub);
  // The relay sends its colleague's changes before its own (the colleague's device sorts
  // first), so a list cut in send order would name none of the relay's own.
  const bool a1_first = engine::actor_of(m.a1->device_key()) < engine::actor_of(m.a2->device_key());
  Replica& colleague = a1_first ? *m.a1 : *m.a2;
  Replica& relay = a1_first ? *m.a2 : *m.a1;
  // The authority moves both tablets to mahalla B; the hub learns it, the tablets do not, and
  // go on writing in mahalla A.
  for (Replica* t : {&colleague, &relay}) {
    const std::string name = t == m.a1.get() ? "tablet-a1" : "tablet-a2";
    REQUIRE(
        m.d.authority->enrol(t->device_key(), name, Role::kField, {{kMahallaB, kRead | kWrite}}, 0)
            .is_ok());
  }
  REQUIRE(m.hub->ingest(*m.d.authority->control_log())->refused.empty());
  for (int i = 0; i < 70; ++i) write_visit(colleague, kMahallaA, "colleague-" + std::to_string(i));
  require_synced(colleague, relay);
  write_visit(relay, kMahallaA, "own-1");
  write_visit(relay, kMahallaA, "own-2");
  auto order = relay.export_missing(kMahallaA, crdt::VersionVector(), 1 << 26);
  REQUIRE(order.is_ok());
  REQUIRE(order->size() == 72);
  REQUIRE(engine::read_header(order->front())->header.author == colleague.device_key());

  auto out = memory_sync(relay, *m.hub);
  REQUIRE(out.status.is_ok());
  REQUIRE(out.completed);
  CHECK(out.b.refused.size() == 72);
  REQUIRE(out.a.peer_not_kept.size() == kMaxNotKeptListed);
  CHECK(out.a.peer_not_kept_unlisted == 72 - kMaxNotKeptListed);
  CHECK(out.a.own_not_kept() == 2);
  CHECK(out.a.peer_not_kept[0].own);
  CHECK(out.a.peer_not_kept[0].seq == 1);
  CHECK(out.a.peer_not_kept[1].own);
  CHECK(out.a.peer_not_kept[1].seq == 2);
  CHECK_FALSE(out.a.peer_not_kept[2].own);
}

TEST_CASE("Sync: a device presenting an older certificate gets the rights of the newest known",
          "[sync][trust]") {
  Mahallas m;
  require_synced(*m.a1, *m.hub);
  // The authority moves tablet-a1 to mahalla B; the hub learns it, the tablet does not.
  REQUIRE(
      m.d.authority
          ->enrol(m.a1->device_key(), "tablet-a1", Role::kField, {{kMahallaB, kRead | kWrite}}, 0)
          .is_ok());
  REQUIRE(m.hub->ingest(*m.d.authority->control_log())->refused.empty());
  write_visit(*m.a2, kMahallaA, "after-the-move");
  require_synced(*m.a2, *m.hub);
  write_visit(*m.b, kMahallaB, "in-b");
  require_synced(*m.b, *m.hub);

  auto out = memory_sync(*m.a1, *m.hub);
  INFO(out.status.to_string());
  REQUIRE(out.status.is_ok());
  REQUIRE(out.completed);
  // Nothing of mahalla A after the move. (Mahalla B's records, which the new grant allows,
  // the tablet itself refuses until it installs its new certificate.)
  bool saw_a_after = false;
  auto visits = m.a1->list("visit");
  REQUIRE(visits.is_ok());
  for (const RecordView& v : *visits) {
    saw_a_after |= v.value("household") == crdt::Value(text("after-the-move"));
  }
  CHECK_FALSE(saw_a_after);

  SECTION("re-issued with an expiry already past: refused") {
    REQUIRE(m.d.authority
                ->enrol(m.a1->device_key(), "tablet-a1", Role::kField,
                        {{kMahallaB, kRead | kWrite}}, 1000)
                .is_ok());
    REQUIRE(m.hub->ingest(*m.d.authority->control_log())->refused.empty());
    auto refused = memory_sync(*m.a1, *m.hub);
    REQUIRE_FALSE(refused.status.is_ok());
    CHECK(refused.status.code() == Code::kPermissionDenied);
    CHECK_THAT(refused.status.message(), Catch::Contains("re-issued as serial"));
  }
}
