// The authority: an older copy restored from a backup catches up from a hub's control log.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>

#include "birga/change_list.h"
#include "sync_fixture.h"

using namespace birga;
using namespace birga::test;

namespace {

const std::string kPassphrase = "admin passphrase";  // Deployment's

// A copy of the deployment's authority as it is now (its backup), in `where`.
void back_up(Deployment& d, const std::string& where) {
  d.authority.reset();
  std::filesystem::copy(d.dir("authority"), where);
  auto reopened = Authority::open(d.dir("authority"), kPassphrase);
  REQUIRE(reopened.is_ok());
  d.authority = std::move(*reopened);
}

std::unique_ptr<Authority> open_copy(const std::string& where) {
  auto a = Authority::open(where, kPassphrase);
  REQUIRE(a.is_ok());
  return std::move(*a);
}

// The control log as the hub holds it (what `birga changes export --scope _control` writes).
std::vector<std::string> hub_control_log(const Replica& hub) {
  auto log = held_changes(hub, std::string(kControlScope));
  REQUIRE(log.is_ok());
  return *log;
}

std::vector<std::pair<std::string, bool>> device_list(const Authority& a) {
  auto devices = a.devices();
  REQUIRE(devices.is_ok());
  std::vector<std::pair<std::string, bool>> out;
  for (const auto& d : *devices) out.emplace_back(d.certificate.bytes, d.revoked);
  std::sort(out.begin(), out.end());
  return out;
}

// A deployment with a hub, and a backup of its authority made then.
struct BackedUp {
  Deployment d;
  TempDir tmp;
  std::unique_ptr<Replica> hub;
  BackedUp() {
    hub = d.add("hub", Role::kHub, {{kDistrict, kRead | kRelay}});
    REQUIRE(hub);
    back_up(d, backup());
  }
  std::string backup() const { return tmp.sub("backup"); }
};

crdt::RecordId write_visit(Replica& r, const std::string& scope, const std::string& household) {
  Transaction t = r.begin();
  const crdt::RecordId id = t.create("visit", scope);
  t.set("visit", id, "household", crdt::text(household));
  REQUIRE(t.commit().is_ok());
  return id;
}

void require_synced(Replica& x, Replica& y) {
  auto out = memory_sync(x, y);
  INFO(out.status.to_string());
  REQUIRE(out.status.is_ok());
  REQUIRE(out.completed);
}

}  // namespace

TEST_CASE_METHOD(
    BackedUp,
    "Authority: a copy restored from before enrolments and a revocation catches up from a "
    "hub's control log and issues on from it",
    "[trust][authority]") {
  // After the backup: two tablets (mahalla A's key is made), a third, then a revocation
  // (every key the revoked tablet could read is rotated).
  auto a1 = d.add("tablet-a1", Role::kField, {{kMahallaA, kRead | kWrite}});
  auto a2 = d.add("tablet-a2", Role::kField, {{kMahallaA, kRead | kWrite}});
  auto b = d.add("tablet-b", Role::kField, {{kMahallaB, kRead | kWrite}});
  REQUIRE((a1 && a2 && b));
  REQUIRE(d.authority->revoke(a2->device_key(), "lost").is_ok());
  REQUIRE(hub->ingest(*d.authority->control_log())->refused.empty());
  const auto log = hub_control_log(*hub);
  REQUIRE(log.size() == d.authority->control_log()->size());

  auto restored = open_copy(backup());
  REQUIRE(device_list(*restored).size() == 1);  // the hub only

  auto done = restored->catch_up(log);
  INFO(done.status().to_string());
  REQUIRE(done.is_ok());
  CHECK(done->held == 1);
  CHECK(done->adopted == log.size() - 1);
  CHECK(done->skipped == 0);
  CHECK(done->certificates == 3);
  CHECK(done->revocations == 1);
  // Mahalla A epochs 1 and 2, mahalla B epoch 1, the control key's epoch 2.
  CHECK(done->keys == 4);
  CHECK(device_list(*restored) == device_list(*d.authority));
  CHECK(*restored->control_log() == *d.authority->control_log());

  SECTION("a second catch-up with the same log adopts nothing") {
    auto again = restored->catch_up(log);
    REQUIRE(again.is_ok());
    CHECK(again->adopted == 0);
    CHECK(again->held == log.size());
  }
  SECTION("what it issues next follows the hubs' log and reads the rotated keys") {
    // tablet-a1 learns of the revocation and writes under mahalla A's new key.
    REQUIRE(a1->ingest(*d.authority->control_log())->refused.empty());
    write_visit(*a1, kMahallaA, "after-revocation");
    require_synced(*a1, *hub);
    // A new tablet enrolled by the restored copy: the hub takes the new control change (a
    // copy behind the log would reuse a seq, and be quarantined).
    auto c = Replica::create(tmp.sub("tablet-c"), birga::test::test_options());
    REQUIRE(c.is_ok());
    auto bundle = restored->enrol((*c)->device_key(), "tablet-c", Role::kField,
                                  {{kMahallaA, kRead | kWrite}}, 0);
    REQUIRE(bundle.is_ok());
    REQUIRE((*c)->install_certificate(bundle->encode()).is_ok());
    auto taken = hub->ingest(bundle->control_changes);
    REQUIRE(taken.is_ok());
    CHECK(taken->quarantined == 0);
    CHECK(taken->refused.empty());
    CHECK(taken->applied == 1);
    auto cert = Certificate::parse(bundle->certificate, restored->public_key());
    REQUIRE(cert.is_ok());
    CHECK(cert->serial == 5);  // after the hub, a1, a2 and b
    require_synced(**c, *hub);
    auto visits = (*c)->list("visit");
    REQUIRE(visits.is_ok());
    REQUIRE(visits->size() == 1);
    CHECK(visits->front().value("household") == crdt::Value(crdt::text("after-revocation")));
  }
}

TEST_CASE_METHOD(
    BackedUp,
    "Authority: catch-up refuses a log that contradicts the copy, lacks a change or is not "
    "its own, and changes nothing",
    "[trust][authority]") {
  REQUIRE(d.add("tablet-a1", Role::kField, {{kMahallaA, kRead | kWrite}}));
  REQUIRE(d.add("tablet-b", Role::kField, {{kMahallaB, kRead | kWrite}}));
  REQUIRE(hub->ingest(*d.authority->control_log())->refused.empty());
  auto log = hub_control_log(*hub);
  REQUIRE(log.size() == 3);
  auto restored = open_copy(backup());
  const auto before = device_list(*restored);
  const auto before_log = *restored->control_log();

  SECTION("the copy issued after the backup") {
    auto other = Replica::create(tmp.sub("tablet-x"), birga::test::test_options());
    REQUIRE(other.is_ok());
    REQUIRE(restored
                ->enrol((*other)->device_key(), "tablet-x", Role::kField,
                        {{kMahallaA, kRead | kWrite}}, 0)
                .is_ok());
    const auto diverged = device_list(*restored);
    const auto diverged_log = *restored->control_log();
    auto done = restored->catch_up(log);
    REQUIRE_FALSE(done.is_ok());
    CHECK(done.status().code() == Code::kDataLoss);
    CHECK_THAT(done.status().message(),
               Catch::Contains("control change 2 in the file differs from the one this "
                               "authority holds"));
    CHECK(device_list(*restored) == diverged);
    CHECK(*restored->control_log() == diverged_log);
    return;
  }
  SECTION("a change missing in the middle") {
    log.erase(log.begin() + 1);
    auto done = restored->catch_up(log);
    REQUIRE_FALSE(done.is_ok());
    CHECK(done.status().code() == Code::kInvalidArgument);
    CHECK_THAT(done.status().message(), Catch::Contains("lacks control change 2"));
  }
  SECTION("a tampered change") {
    log[2][log[2].size() - 5] ^= 0x01;
    auto done = restored->catch_up(log);
    REQUIRE_FALSE(done.is_ok());
    CHECK(done.status().code() == Code::kCorruptInput);
    CHECK_THAT(done.status().message(), Catch::Contains("control change 3"));
  }
  SECTION("another deployment's log") {
    Deployment other;
    auto other_hub = other.add("hub", Role::kHub, {{kDistrict, kRead | kRelay}});
    REQUIRE(other_hub);
    auto done = restored->catch_up(hub_control_log(*other_hub));
    REQUIRE_FALSE(done.is_ok());
    CHECK(done.status().code() == Code::kInvalidArgument);
    CHECK_THAT(done.status().message(),
               Catch::Contains("holds no control change of this authority"));
  }
  CHECK(device_list(*restored) == before);
  CHECK(*restored->control_log() == before_log);
}
