// The C API (birga.h, libbirga.so): the plain-C scenarios of c_api_scenario.c, one run against
// a hub on loopback and one carrying changes by file between two devices, and the errors a host
// branches on (wrong passphrase, schema violation, peer unreachable, a file that cannot be
// written). The deployment is set up with the C++ API; the devices are then used only through
// the C API.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <random>

#include "birga/birga.h"
#include "c_api_scenario.h"
#include "child_process.h"
#include "transport_fixture.h"

using namespace birga;
using namespace birga::test;

namespace {

constexpr const char* kPassphrase = "tablet passphrase";

// The schema the device's C app writes against (DIR/schema) and the hub runs with.
constexpr const char* kSchema = R"(schema 1
collection case
  field title lww text
  field guardian mv text
  field members set text flag-removals
  field visits counter any
  field notes log text
collection visit
  field household lww text indexed required
  field date lww int
  field consent lww bool
  field notes log text
)";

// An authority, a hub replica (open here) and a device replica (closed, for the C API).
struct CDeployment {
  TempDir tmp;
  std::unique_ptr<Authority> authority;
  std::unique_ptr<Replica> hub;
  std::string device_dir = tmp.sub("tablet");

  CDeployment() {
    setenv("BIRGA_FAST_KDF", "1", 1);
    auto a = Authority::create(tmp.sub("authority"), "admin passphrase");
    REQUIRE(a.is_ok());
    authority = std::move(*a);
    // The device first: its grant creates the mahalla's scope key, which the hub then gets.
    enrol(device_dir, "tablet-1", Role::kField, {{kMahalla, kRead | kWrite}}).reset();
    hub = enrol(tmp.sub("hub"), "hub", Role::kHub, {{kDistrict, kRead | kWrite | kRelay}});
    std::ofstream(device_dir + "/schema") << kSchema;
  }

  // How the C++ side opens the devices' replicas.
  static ReplicaOptions options() {
    auto schema = crdt::Schema::parse(kSchema);
    REQUIRE(schema.is_ok());
    ReplicaOptions o;
    o.passphrase = kPassphrase;
    o.schema = *schema;
    return o;
  }

  std::unique_ptr<Replica> enrol(const std::string& dir, const std::string& name, Role role,
                                 const std::vector<ScopeGrant>& grants) {
    auto r = Replica::create(dir, options());
    REQUIRE(r.is_ok());
    auto bundle = authority->enrol((*r)->device_key(), name, role, grants, 0);
    REQUIRE(bundle.is_ok());
    REQUIRE((*r)->install_certificate(bundle->encode()).is_ok());
    return std::move(*r);
  }

  // Another field device with write on the mahalla, closed, for the C API; returns its dir.
  std::string field_device(const std::string& name) {
    const std::string dir = tmp.sub(name);
    enrol(dir, name, Role::kField, {{kMahalla, kRead | kWrite}}).reset();
    std::ofstream(dir + "/schema") << kSchema;
    return dir;
  }
};

// The names of the files in `dir`, sorted.
std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

transport::ServerOptions quick_server() {
  transport::ServerOptions o;
  o.session.handshake_timeout = 5s;
  o.session.idle_timeout = 5s;
  return o;
}

// Called by the scenario between its syncs: the hub sets the case's guardian on its own
// thread, concurrently with the device's write.
struct HubWrite {
  RunningServer* server;
  Replica* hub;
  Status status = Status::internal("hook not called");
};

void hub_sets_guardian(void* ctx, const char* case_id) {
  auto* h = static_cast<HubWrite*>(ctx);
  std::promise<Status> done;
  h->server->server().post([&] {
    const auto id = crdt::RecordId::from_hex(case_id);
    if (!id) return done.set_value(Status::invalid_argument("bad case id"));
    Transaction t = h->hub->begin();
    t.set("case", *id, "guardian", crdt::text("Karim"));
    done.set_value(t.commit());
  });
  h->status = done.get_future().get();
}

// A loopback port nothing listens on.
uint16_t closed_port() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

// Owns a C error for the length of a test section.
struct Error {
  birga_error_t* e = nullptr;
  ~Error() { birga_error_free(e); }
  int code() const { return birga_error_code(e); }
  int kind() const { return birga_error_kind(e); }
  std::string message() const { return birga_error_message(e); }
};

// Opens the deployment's tablet through the C API, as an app does.
birga_replica_t* open_tablet(const CDeployment& d, Error& err) {
  birga_replica_t* r = birga_replica_open(d.device_dir.c_str(), kPassphrase, &err.e);
  REQUIRE(r != nullptr);
  return r;
}

}  // namespace

TEST_CASE("C API: a C app writes, reads, syncs with a hub and sees a concurrent change",
          "[transport][c_api]") {
  CDeployment d;
  crdt::RecordId hub_visit;
  {
    Transaction t = d.hub->begin();
    hub_visit = t.create("visit", kMahalla);
    t.set("visit", hub_visit, "household", crdt::text("hub household"));
    REQUIRE(t.commit().is_ok());
  }
  c_api_scenario_result out{};
  {
    RunningServer server(*d.hub, quick_server());
    REQUIRE(server.listen_status().is_ok());
    HubWrite hook{&server, d.hub.get()};
    const int rc = c_api_scenario_run(d.device_dir.c_str(), kPassphrase, "127.0.0.1", server.port(),
                                      hub_sets_guardian, &hook, &out);
    INFO(out.failure);
    CHECK(rc == 0);
    CHECK(hook.status.is_ok());
    CHECK(server.wait_sessions(2));
  }
  CHECK(out.hub_visits == 1);
  CHECK(out.guardians == 2);
  CHECK(out.first_sync.changes_sent >= 1);
  CHECK(out.first_sync.round_trips >= 1);
  CHECK(out.first_sync.clock_offset_known == 1);  // both clocks are this machine's
  CHECK(std::abs(out.first_sync.clock_offset_ms) < 60'000);
  CHECK(out.second_sync.changes_received >= 1);

  // The hub holds what the C app wrote, and the same conflict.
  const auto id = crdt::RecordId::from_hex(out.case_id);
  REQUIRE(id);
  auto kase = d.hub->get("case", *id);
  REQUIRE(kase.is_ok());
  REQUIRE(*kase);
  CHECK((*kase)->value("title") == crdt::text("Karimova household"));
  CHECK((*kase)->values("guardian").size() == 2);
  CHECK((*kase)->in_conflict());
}

TEST_CASE("C API: a wrong passphrase is permission denied, with a message", "[transport][c_api]") {
  CDeployment d;
  Error err;
  CHECK(birga_replica_open(d.device_dir.c_str(), "wrong passphrase", &err.e) == nullptr);
  REQUIRE(err.e);
  CHECK(err.code() == BIRGA_PERMISSION_DENIED);
  CHECK(err.kind() == BIRGA_KIND_PERMANENT);
  CHECK_FALSE(err.message().empty());

  SECTION("a later failure replaces the error; a NULL err is allowed") {
    CHECK(birga_replica_open(d.tmp.sub("nowhere").c_str(), kPassphrase, &err.e) == nullptr);
    CHECK(err.code() == BIRGA_NOT_FOUND);
    CHECK(err.message().find("schema") != std::string::npos);
    CHECK(birga_replica_open(nullptr, kPassphrase, &err.e) == nullptr);
    CHECK(err.code() == BIRGA_INVALID_ARGUMENT);
    CHECK(birga_replica_open(d.device_dir.c_str(), "wrong", nullptr) == nullptr);
  }
  SECTION("the right passphrase opens it") {
    birga_error_free(err.e);
    err.e = nullptr;
    birga_replica_t* r = birga_replica_open(d.device_dir.c_str(), kPassphrase, &err.e);
    CHECK(r != nullptr);
    CHECK(err.e == nullptr);
    birga_replica_close(r);
  }
}

TEST_CASE("C API: an app changes the passphrase of its closed replica", "[transport][c_api]") {
  CDeployment d;
  const char* dir = d.device_dir.c_str();
  Error err;
  birga_replica_t* open = birga_replica_open(dir, kPassphrase, &err.e);
  REQUIRE(open);
  CHECK(birga_change_passphrase(dir, kPassphrase, "handed to Malika", &err.e) == BIRGA_UNAVAILABLE);
  CHECK(err.message().find("close it first") != std::string::npos);
  birga_replica_close(open);
  CHECK(birga_change_passphrase(dir, "not it", "handed to Malika", &err.e) ==
        BIRGA_PERMISSION_DENIED);
  CHECK(err.message() == "the current passphrase is wrong");
  CHECK(birga_change_passphrase(dir, kPassphrase, "", &err.e) == BIRGA_INVALID_ARGUMENT);
  CHECK(birga_change_passphrase(dir, kPassphrase, nullptr, &err.e) == BIRGA_INVALID_ARGUMENT);
  CHECK(birga_change_passphrase(d.tmp.sub("nowhere").c_str(), kPassphrase, "handed to Malika",
                                &err.e) == BIRGA_NOT_FOUND);
  birga_error_free(err.e);
  err.e = nullptr;
  REQUIRE(birga_change_passphrase(dir, kPassphrase, "handed to Malika", &err.e) == BIRGA_OK);
  CHECK(err.e == nullptr);
  CHECK(birga_replica_open(dir, kPassphrase, &err.e) == nullptr);
  CHECK(err.code() == BIRGA_PERMISSION_DENIED);
  birga_replica_t* reopened = birga_replica_open(dir, "handed to Malika", &err.e);
  CHECK(reopened != nullptr);
  birga_replica_close(reopened);
}

TEST_CASE("C API: an unknown field fails the commit as invalid argument naming the field",
          "[transport][c_api]") {
  CDeployment d;
  Error err;
  birga_replica_t* r = open_tablet(d, err);
  birga_txn_t* t = birga_txn_begin(r);
  char* id = birga_txn_create(t, "case", nullptr, &err.e);
  REQUIRE(id);
  birga_txn_set_text(t, "case", id, "title", "fine");
  birga_txn_set_text(t, "case", id, "favourite_colour", "blue");
  CHECK(birga_txn_commit(t, &err.e) == BIRGA_INVALID_ARGUMENT);
  CHECK(err.code() == BIRGA_INVALID_ARGUMENT);
  CHECK(err.kind() == BIRGA_KIND_PERMANENT);
  CHECK(err.message().find("favourite_colour") != std::string::npos);
  // Nothing was written.
  char** ids = birga_replica_list(r, "case", &err.e);
  REQUIRE(ids);
  CHECK(ids[0] == nullptr);
  birga_strings_free(ids);
  birga_free(id);
  birga_txn_free(t);
  birga_replica_close(r);
}

TEST_CASE("C API: a record created with no field set fails the commit and writes nothing",
          "[transport][c_api]") {
  CDeployment d;
  Error err;
  birga_replica_t* r = open_tablet(d, err);
  birga_txn_t* t = birga_txn_begin(r);
  char* id = birga_txn_create(t, "case", nullptr, &err.e);
  REQUIRE(id);
  CHECK(birga_txn_commit(t, &err.e) == BIRGA_INVALID_ARGUMENT);
  CHECK_THAT(err.message(), Catch::Contains(id));
  CHECK_THAT(err.message(), Catch::Contains("set at least one"));
  birga_txn_free(t);
  birga_error_free(err.e);
  err.e = nullptr;
  CHECK(birga_replica_get(r, "case", id, &err.e) == nullptr);
  CHECK(err.e == nullptr);
  birga_free(id);
  birga_replica_close(r);
}

TEST_CASE("C API: get and list of a misspelt collection are invalid argument naming it",
          "[transport][c_api]") {
  CDeployment d;
  Error err;
  birga_replica_t* r = open_tablet(d, err);
  birga_txn_t* t = birga_txn_begin(r);
  char* id = birga_txn_create(t, "visit", nullptr, &err.e);
  REQUIRE(id);
  birga_txn_set_text(t, "visit", id, "household", "hh-1");
  REQUIRE(birga_txn_commit(t, &err.e) == BIRGA_OK);
  birga_txn_free(t);

  CHECK(birga_replica_get(r, "vizit", id, &err.e) == nullptr);
  REQUIRE(err.e);
  CHECK(err.code() == BIRGA_INVALID_ARGUMENT);
  CHECK(err.message() ==
        "unknown collection 'vizit' (not in the schema, and this store holds none of its "
        "records)");
  birga_error_free(err.e);
  err.e = nullptr;
  CHECK(birga_replica_list(r, "vizit", &err.e) == nullptr);
  REQUIRE(err.e);
  CHECK(err.code() == BIRGA_INVALID_ARGUMENT);
  CHECK_THAT(err.message(), Catch::Contains("'vizit'"));
  birga_error_free(err.e);
  err.e = nullptr;

  // The right name reads the record; a collection of the schema with none is an empty list.
  birga_record_t* rec = birga_replica_get(r, "visit", id, &err.e);
  CHECK(rec != nullptr);
  birga_record_free(rec);
  char** ids = birga_replica_list(r, "case", &err.e);
  REQUIRE(ids);
  CHECK(ids[0] == nullptr);
  birga_strings_free(ids);
  CHECK(err.e == nullptr);
  birga_free(id);
  birga_replica_close(r);
}

TEST_CASE("C API: create refuses a passphrase shorter than 8 characters", "[transport][c_api]") {
  test::TempDir tmp;
  Error err;
  const std::string dir = tmp.sub("tablet");
  CHECK(birga_replica_create(dir.c_str(), "abc", kSchema, &err.e) == nullptr);
  CHECK(err.code() == BIRGA_INVALID_ARGUMENT);
  CHECK(err.message() == "the new passphrase is too short: at least 8 characters");
  CHECK_FALSE(std::filesystem::exists(dir + "/data.mdb"));
  CHECK_FALSE(std::filesystem::exists(dir + "/schema"));
  CHECK(birga_replica_create(dir.c_str(), "", kSchema, &err.e) == nullptr);
  CHECK(err.code() == BIRGA_INVALID_ARGUMENT);
  birga_replica_t* r = birga_replica_create(dir.c_str(), "12345678", kSchema, &err.e);
  CHECK(r != nullptr);
  birga_replica_close(r);
}

TEST_CASE("C API: sync to a closed port is unavailable, a transient error", "[transport][c_api]") {
  CDeployment d;
  Error err;
  birga_replica_t* r = open_tablet(d, err);
  birga_sync_stats_t stats{1, 1, 1, 1, 1, 1, 1};
  CHECK(birga_replica_sync(r, "127.0.0.1", closed_port(), &stats, &err.e) == BIRGA_UNAVAILABLE);
  CHECK(err.code() == BIRGA_UNAVAILABLE);
  CHECK(err.kind() == BIRGA_KIND_TRANSIENT);
  CHECK_FALSE(err.message().empty());
  CHECK(stats.changes_sent == 0);
  CHECK(stats.changes_received == 0);
  CHECK(stats.clock_offset_known == 0);  // no handshake, no clock
  CHECK(birga_replica_sync(r, nullptr, 1, nullptr, &err.e) == BIRGA_INVALID_ARGUMENT);
  birga_replica_close(r);
}

TEST_CASE("C API: sync_with bounds the wait for a node that does not answer",
          "[transport][c_api]") {
  CDeployment d;
  Error err;
  birga_replica_t* r = open_tablet(d, err);
  // Accepts the connection and says nothing: without a bound this waits 10 s for the hello.
  RawServer mute("");
  birga_sync_options_t options{};
  options.setup_timeout_ms = 300;
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(birga_replica_sync_with(r, "127.0.0.1", mute.port(), &options, nullptr, &err.e) ==
        BIRGA_UNAVAILABLE);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3));
  CHECK_THAT(err.message(), Catch::Contains("handshake timeout"));
  // Out of range: refused before anything is tried.
  options.idle_timeout_ms = 3'600'001;
  CHECK(birga_replica_sync_with(r, "127.0.0.1", mute.port(), &options, nullptr, &err.e) ==
        BIRGA_INVALID_ARGUMENT);
  CHECK_THAT(err.message(), Catch::Contains("idle_timeout_ms"));
  // NULL options: the defaults, as birga_replica_sync.
  CHECK(birga_replica_sync_with(r, "127.0.0.1", closed_port(), nullptr, nullptr, &err.e) ==
        BIRGA_UNAVAILABLE);
  birga_replica_close(r);
}

TEST_CASE("C API: NULL handles are harmless", "[transport][c_api]") {
  birga_replica_close(nullptr);
  birga_txn_free(nullptr);
  birga_record_free(nullptr);
  birga_error_free(nullptr);
  birga_strings_free(nullptr);
  birga_free(nullptr);
  CHECK(birga_txn_begin(nullptr) == nullptr);
  CHECK(birga_replica_device_key(nullptr) == nullptr);
  CHECK(birga_record_field_count(nullptr) == 0);
  CHECK(birga_record_value_text(nullptr, 0, 0) == nullptr);
  CHECK(birga_error_code(nullptr) == BIRGA_OK);
  Error err;
  CHECK(birga_txn_commit(nullptr, &err.e) == BIRGA_INVALID_ARGUMENT);
  CHECK(birga_replica_conflicts(nullptr, &err.e) == nullptr);
  CHECK(err.code() == BIRGA_INVALID_ARGUMENT);
  CHECK(birga_alerts_count(nullptr) == 0);
  CHECK(birga_alerts_get(nullptr, 0) == nullptr);
  birga_alerts_free(nullptr);
  CHECK(birga_replica_export_changes(nullptr, "x.bgcl", nullptr, nullptr, &err.e) ==
        BIRGA_INVALID_ARGUMENT);
  CHECK(err.message() == "replica is NULL");
  CHECK(birga_replica_import_changes(nullptr, "x.bgcl", nullptr, nullptr) ==
        BIRGA_INVALID_ARGUMENT);
}

TEST_CASE("C API: a NULL argument is invalid_argument naming it, with or without err",
          "[transport][c_api]") {
  CDeployment d;
  Error open_err;
  birga_replica_t* r = birga_replica_open(d.device_dir.c_str(), kPassphrase, &open_err.e);
  REQUIRE(r != nullptr);
  // Each call is made once with an error to fill and once with err NULL (nothing to report
  // to, and nothing may crash).
  std::vector<std::pair<std::function<int(birga_error_t**)>, std::string>> calls = {
      {[](auto e) { return birga_replica_install_certificate(nullptr, "b", 1, e); },
       "replica is NULL"},
      {[&](auto e) { return birga_replica_install_certificate(r, nullptr, 1, e); },
       "bundle is NULL"},
      {[](auto e) { return birga_replica_release_memory(nullptr, e); }, "replica is NULL"},
      {[](auto e) { return birga_change_passphrase("d", "current", nullptr, e); }, "next is NULL"},
      {[](auto e) { return birga_txn_commit(nullptr, e); }, "transaction is NULL"},
      {[](auto e) { return birga_replica_acknowledge_alert(nullptr, 1, "note", e); },
       "replica is NULL"},
      {[&](auto e) { return birga_replica_acknowledge_alert(r, 1, nullptr, e); }, "note is NULL"},
      {[&](auto e) { return birga_replica_sync(r, nullptr, 1, nullptr, e); }, "host is NULL"},
      {[&](auto e) { return birga_replica_export_changes(r, nullptr, nullptr, nullptr, e); },
       "path is NULL"},
      {[&](auto e) { return birga_replica_import_changes(r, nullptr, nullptr, e); },
       "path is NULL"},
  };
  // The calls that return a pointer: NULL and the error.
  auto returns_null = [](auto call) {
    return [call](birga_error_t** e) { return call(e) == nullptr ? BIRGA_INVALID_ARGUMENT : -1; };
  };
  calls.push_back(
      {returns_null([](auto e) { return birga_replica_open(nullptr, "p", e); }), "dir is NULL"});
  calls.push_back({returns_null([](auto e) { return birga_replica_create("d", nullptr, "s", e); }),
                   "passphrase is NULL"});
  calls.push_back(
      {returns_null([](auto e) { return birga_txn_create(nullptr, "case", nullptr, e); }),
       "transaction is NULL"});
  calls.push_back({returns_null([&](auto e) { return birga_replica_get(r, nullptr, "00", e); }),
                   "collection is NULL"});
  calls.push_back({returns_null([](auto e) { return birga_replica_list(nullptr, "case", e); }),
                   "replica is NULL"});
  calls.push_back({returns_null([](auto e) { return birga_replica_conflicts(nullptr, e); }),
                   "replica is NULL"});
  calls.push_back(
      {returns_null([](auto e) { return birga_replica_changed_since(nullptr, 0, nullptr, e); }),
       "replica is NULL"});
  calls.push_back(
      {returns_null([&](auto e) { return birga_replica_find(r, "visit", nullptr, "x", e); }),
       "field is NULL"});
  calls.push_back(
      {returns_null([](auto e) { return birga_replica_alerts(nullptr, e); }), "replica is NULL"});
  for (const auto& [call, message] : calls) {
    INFO(message);
    Error err;
    CHECK(call(&err.e) == BIRGA_INVALID_ARGUMENT);
    CHECK(err.code() == BIRGA_INVALID_ARGUMENT);
    CHECK(err.message() == message);
    CHECK(call(nullptr) == BIRGA_INVALID_ARGUMENT);
  }
  birga_replica_close(r);
}

TEST_CASE("C API: an app finds records by an indexed field and acknowledges an alert",
          "[transport][c_api]") {
  CDeployment d;
  Error err;
  birga_replica_t* r = open_tablet(d, err);
  birga_txn_t* t = birga_txn_begin(r);
  std::vector<std::string> visits;
  for (const char* household : {"hh-7", "hh-8", "hh-7"}) {
    char* id = birga_txn_create(t, "visit", nullptr, &err.e);
    REQUIRE(id != nullptr);
    birga_txn_set_text(t, "visit", id, "household", household);
    visits.emplace_back(id);
    birga_free(id);
  }
  char* kase = birga_txn_create(t, "case", nullptr, &err.e);
  REQUIRE(kase != nullptr);
  birga_txn_add(t, "case", kase, "members", "p1:child");
  REQUIRE(birga_txn_commit(t, &err.e) == BIRGA_OK);
  birga_txn_free(t);

  char** found = birga_replica_find(r, "visit", "household", "hh-7", &err.e);
  REQUIRE(found != nullptr);
  std::vector<std::string> ids;
  for (char** p = found; *p; ++p) ids.emplace_back(*p);
  birga_strings_free(found);
  std::vector<std::string> expected{visits[0], visits[2]};
  std::sort(expected.begin(), expected.end());
  CHECK(ids == expected);
  found = birga_replica_find(r, "visit", "household", "hh-9", &err.e);
  REQUIRE(found != nullptr);
  CHECK(found[0] == nullptr);
  birga_strings_free(found);
  CHECK(birga_replica_find(r, "visit", "date", "12", &err.e) == nullptr);
  CHECK(err.code() == BIRGA_INVALID_ARGUMENT);
  CHECK_THAT(err.message(), Catch::Contains("not indexed"));
  birga_error_free(err.e);
  err.e = nullptr;

  // Removing a member raises an alert, which a person acknowledges with a note.
  birga_alerts_t* alerts = birga_replica_alerts(r, &err.e);
  REQUIRE(alerts != nullptr);
  CHECK(birga_alerts_count(alerts) == 0);
  birga_alerts_free(alerts);
  t = birga_txn_begin(r);
  birga_txn_remove(t, "case", kase, "members", "p1:child");
  REQUIRE(birga_txn_commit(t, &err.e) == BIRGA_OK);
  birga_txn_free(t);
  birga_free(kase);
  alerts = birga_replica_alerts(r, &err.e);
  REQUIRE(alerts != nullptr);
  REQUIRE(birga_alerts_count(alerts) == 1);
  const birga_alert_t* a = birga_alerts_get(alerts, 0);
  CHECK(a->position == 1);
  CHECK(std::string(a->kind) == "removed_member");
  CHECK_THAT(std::string(a->detail), Catch::Contains("p1:child"));
  CHECK(a->acknowledged_ms == 0);
  CHECK(a->acknowledgement == nullptr);
  CHECK(birga_alerts_get(alerts, 1) == nullptr);
  birga_alerts_free(alerts);

  CHECK(birga_replica_acknowledge_alert(r, 2, "checked", &err.e) == BIRGA_NOT_FOUND);
  birga_error_free(err.e);
  err.e = nullptr;
  CHECK(birga_replica_acknowledge_alert(r, 1, "the child moved out", &err.e) == BIRGA_OK);
  CHECK(birga_replica_acknowledge_alert(r, 1, "again", &err.e) == BIRGA_ALREADY_EXISTS);
  alerts = birga_replica_alerts(r, &err.e);
  REQUIRE(alerts != nullptr);
  a = birga_alerts_get(alerts, 0);
  REQUIRE(a != nullptr);
  CHECK(a->acknowledged_ms > 0);
  CHECK(std::string(a->acknowledgement) == "the child moved out");
  birga_alerts_free(alerts);
  birga_replica_close(r);
}

TEST_CASE("C API: an app creates its replica, gets enrolled and installs the bundle",
          "[transport][c_api]") {
  CDeployment d;
  Error err;
  const std::string dir = d.tmp.sub("new-tablet");
  birga_replica_t* r = birga_replica_create(dir.c_str(), kPassphrase, kSchema, &err.e);
  REQUIRE(r != nullptr);
  CHECK(err.e == nullptr);
  char* key_hex = birga_replica_device_key(r);
  REQUIRE(key_hex != nullptr);
  const auto key = parse_key_hex(key_hex);
  birga_free(key_hex);
  REQUIRE(key.has_value());
  // Not enrolled yet: writes are refused (no scope is writable).
  birga_txn_t* early = birga_txn_begin(r);
  CHECK(birga_txn_create(early, "visit", nullptr, &err.e) == nullptr);
  CHECK(err.code() == BIRGA_PERMISSION_DENIED);
  birga_txn_free(early);
  birga_error_free(err.e);
  err.e = nullptr;

  auto bundle =
      d.authority->enrol(*key, "new-tablet", Role::kField, {{kMahalla, kRead | kWrite}}, 0);
  REQUIRE(bundle.is_ok());
  const std::string bytes = bundle->encode();
  CHECK(birga_replica_install_certificate(r, bytes.data(), bytes.size(), &err.e) == BIRGA_OK);
  CHECK(err.e == nullptr);
  // A bundle made for another device is refused and changes nothing.
  auto other = d.authority->enrol(d.hub->device_key(), "hub-again", Role::kHub,
                                  {{kDistrict, kRead | kRelay}}, 0);
  REQUIRE(other.is_ok());
  const std::string wrong = other->encode();
  CHECK(birga_replica_install_certificate(r, wrong.data(), wrong.size(), &err.e) ==
        BIRGA_INVALID_ARGUMENT);
  birga_error_free(err.e);
  err.e = nullptr;

  birga_txn_t* t = birga_txn_begin(r);
  char* id = birga_txn_create(t, "visit", nullptr, &err.e);
  REQUIRE(id != nullptr);
  birga_txn_set_text(t, "visit", id, "household", "hh-1");
  CHECK(birga_txn_commit(t, &err.e) == BIRGA_OK);
  birga_txn_free(t);
  birga_replica_close(r);
  // The schema file it wrote lets the replica be opened again.
  birga_replica_t* again = birga_replica_open(dir.c_str(), kPassphrase, &err.e);
  REQUIRE(again != nullptr);
  birga_record_t* rec = birga_replica_get(again, "visit", id, &err.e);
  REQUIRE(rec != nullptr);
  birga_record_free(rec);
  birga_free(id);
  CHECK(birga_replica_create(dir.c_str(), kPassphrase, kSchema, &err.e) == nullptr);
  CHECK(err.code() == BIRGA_ALREADY_EXISTS);
  birga_replica_close(again);
}

TEST_CASE("C API: a schema file that cannot be written or read is an error naming it",
          "[transport][c_api]") {
  test::TempDir tmp;
  Error err;
  // A directory (not empty) stands where the schema file goes: the rename over it fails.
  const std::string dir = tmp.sub("tablet");
  std::filesystem::create_directories(dir + "/schema/inside");
  CHECK(birga_replica_create(dir.c_str(), kPassphrase, kSchema, &err.e) == nullptr);
  CHECK(err.code() == BIRGA_INVALID_ARGUMENT);
  CHECK_THAT(err.message(), Catch::StartsWith("cannot write " + dir + "/schema: "));
  CHECK(std::filesystem::is_directory(dir + "/schema/inside"));  // left as it was
  // The store it made first is gone again, so that a retry can succeed.
  CHECK_FALSE(std::filesystem::exists(dir + "/data.mdb"));
  birga_error_free(err.e);
  err.e = nullptr;
  // Opening reads the directory as no file at all, rather than as an empty schema.
  CHECK(birga_replica_open(dir.c_str(), kPassphrase, &err.e) == nullptr);
  CHECK(err.code() == BIRGA_NOT_FOUND);
  CHECK(err.message() == "cannot read " + dir + "/schema: it is a directory, not a file");
  birga_error_free(err.e);
  err.e = nullptr;
  // A missing schema file is named.
  std::filesystem::remove_all(dir + "/schema");
  CHECK(birga_replica_open(dir.c_str(), kPassphrase, &err.e) == nullptr);
  CHECK(err.code() == BIRGA_NOT_FOUND);
  CHECK(err.message() == "cannot read " + dir + "/schema: no such file or not readable");
  birga_error_free(err.e);
  err.e = nullptr;
  // With the obstacle gone, creating again works, and the replica opens.
  birga_replica_t* r = birga_replica_create(dir.c_str(), kPassphrase, kSchema, &err.e);
  REQUIRE(r != nullptr);
  birga_replica_close(r);
  r = birga_replica_open(dir.c_str(), kPassphrase, &err.e);
  CHECK(r != nullptr);
  birga_replica_close(r);
}

TEST_CASE("C API: changes carried by file reach another device, whole or cut short",
          "[transport][c_api]") {
  CDeployment d;
  const std::string second = d.field_device("tablet-2");
  const std::string stick = d.tmp.sub("stick");
  REQUIRE(std::filesystem::create_directory(stick));
  c_api_carry_result out{};
  const int rc = c_api_carry_run(d.device_dir.c_str(), second.c_str(), kPassphrase,
                                 kMahalla.c_str(), stick.c_str(), &out);
  INFO(out.failure);
  CHECK(rc == 0);
  CHECK(out.exported_scope == 2);
  CHECK(out.cut.changes_read == 1);
  CHECK(out.whole.applied == 1);
  CHECK(out.again.duplicates == out.exported);
  CHECK(out.garbage.changes_read == 0);
  CHECK(out.tampered.refused == 1);
  // Only whole files under their names: no temporary left, nothing for the refused export.
  CHECK(files_in(stick) == std::vector<std::string>{"all.bgcl", "cut.bgcl", "junk.bgcl",
                                                    "scope.bgcl", "scope3.bgcl", "tampered.bgcl"});
  // The second device's store is consistent after the cut, repeated and refused imports.
  auto replica = Replica::open(second, CDeployment::options());
  REQUIRE(replica.is_ok());
  CHECK((*replica)->verify().is_ok());
}

TEST_CASE("C API: an export that cannot be written leaves what was there", "[transport][c_api]") {
  CDeployment d;
  Error err;
  birga_replica_t* r = open_tablet(d, err);
  const std::string stick = d.tmp.sub("stick");
  REQUIRE(std::filesystem::create_directories(stick + "/taken.bgcl"));
  uint64_t written = 7;
  // A directory stands where the file would go: the rename fails, the directory stays.
  const std::string taken = stick + "/taken.bgcl";
  CHECK(birga_replica_export_changes(r, taken.c_str(), nullptr, &written, &err.e) ==
        BIRGA_INVALID_ARGUMENT);
  CHECK_THAT(err.message(), Catch::StartsWith("cannot write " + taken + ": "));
  CHECK(written == 0);
  CHECK(std::filesystem::is_directory(taken));
  const std::string nowhere = stick + "/no/such/dir/changes.bgcl";
  CHECK(birga_replica_export_changes(r, nowhere.c_str(), nullptr, &written, &err.e) ==
        BIRGA_INVALID_ARGUMENT);
  CHECK_THAT(err.message(), Catch::Contains(nowhere));
  // An older file of that name is replaced whole.
  const std::string old = stick + "/old.bgcl";
  std::ofstream(old) << "an older file, longer than the change list that replaces it ...";
  CHECK(birga_replica_export_changes(r, old.c_str(), nullptr, &written, &err.e) == BIRGA_OK);
  CHECK(written > 0);
  birga_import_stats_t stats{};
  CHECK(birga_replica_import_changes(r, old.c_str(), &stats, &err.e) == BIRGA_OK);
  CHECK(stats.changes_read == written);
  CHECK(stats.duplicates == written);
  CHECK(files_in(stick) == std::vector<std::string>{"old.bgcl", "taken.bgcl"});
  birga_replica_close(r);
}

TEST_CASE("C API: an import the store cannot hold (disk full) counts the changes read, keeps none",
          "[transport][c_api][disk]") {
  CDeployment d;
  const std::string second = d.field_device("tablet-2");
  {
    // 20 changes of 10 visits, each with a note of 2000 random letters (zstd cannot shrink
    // them much): about 400 KB to store.
    auto device = Replica::open(d.device_dir, CDeployment::options());
    REQUIRE(device.is_ok());
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> letter('a', 'z');
    for (int change = 0; change < 20; ++change) {
      Transaction t = (*device)->begin();
      for (int i = 0; i < 10; ++i) {
        const crdt::RecordId id = t.create("visit", kMahalla);
        t.set("visit", id, "household", crdt::text("hh-" + std::to_string(change * 10 + i)));
        std::string note(2000, ' ');
        for (char& c : note) c = static_cast<char>(letter(rng));
        t.append("visit", id, "notes", crdt::text(note));
      }
      REQUIRE(t.commit().is_ok());
    }
  }
  const std::string file = d.tmp.sub("visits.bgcl");
  uint64_t written = 0;
  {
    Error err;
    birga_replica_t* r = open_tablet(d, err);
    REQUIRE(birga_replica_export_changes(r, file.c_str(), nullptr, &written, &err.e) == BIRGA_OK);
    birga_replica_close(r);
  }
  REQUIRE(written > 20);  // the visits' changes, and the control scope's

  // In a child that may write at most 64 KiB more to any file: the disk "fills up" during the
  // import's commit.
  struct Outcome {
    int rc = -1;
    birga_import_stats_t stats{};
    char message[512] = {};
  } outcome;
  const std::string out = test::in_child([&] {
    Outcome o;
    birga_error_t* err = nullptr;
    birga_replica_t* r = birga_replica_open(second.c_str(), kPassphrase, &err);
    if (r) {
      signal(SIGXFSZ, SIG_IGN);
      const auto size = std::filesystem::file_size(second + "/data.mdb");
      const rlimit lim{size + (64u << 10), size + (64u << 10)};
      setrlimit(RLIMIT_FSIZE, &lim);
      o.stats.pending = 99;  // zeroed by the call
      o.rc = birga_replica_import_changes(r, file.c_str(), &o.stats, &err);
    }
    std::snprintf(o.message, sizeof o.message, "%s", birga_error_message(err));
    return std::string(reinterpret_cast<const char*>(&o), sizeof o);  // the replica left open
  });
  REQUIRE(out.size() == sizeof outcome);
  std::memcpy(&outcome, out.data(), sizeof outcome);
  INFO(outcome.message);
  CHECK(outcome.rc == BIRGA_RESOURCE_EXHAUSTED);
  CHECK_THAT(outcome.message, Catch::Contains("disk full"));
  CHECK(outcome.stats.changes_read == written);
  CHECK(outcome.stats.applied == 0);
  CHECK(outcome.stats.duplicates == 0);
  CHECK(outcome.stats.pending == 0);
  CHECK(outcome.stats.sealed_only == 0);
  CHECK(outcome.stats.quarantined == 0);
  CHECK(outcome.stats.refused == 0);

  // Nothing was kept, the store is sound, and the same file imports once there is room.
  {
    auto replica = Replica::open(second, CDeployment::options());
    REQUIRE(replica.is_ok());
    CHECK((*replica)->list("visit")->empty());
    CHECK((*replica)->verify().is_ok());
  }
  Error err;
  birga_replica_t* r = birga_replica_open(second.c_str(), kPassphrase, &err.e);
  REQUIRE(r != nullptr);
  birga_import_stats_t stats{};
  CHECK(birga_replica_import_changes(r, file.c_str(), &stats, &err.e) == BIRGA_OK);
  CHECK(stats.changes_read == written);
  CHECK(stats.applied == 20);
  birga_replica_close(r);
}

TEST_CASE("C API: a sync whose hub did not keep the app's changes is permission denied",
          "[transport][c_api]") {
  CDeployment d;
  // The authority moves the tablet to another mahalla; the hub knows, the tablet does not.
  PublicKey key{};
  {
    auto device = Replica::open(d.device_dir, CDeployment::options());
    REQUIRE(device.is_ok());
    key = (*device)->device_key();
  }
  REQUIRE(
      d.authority->enrol(key, "tablet-1", Role::kField, {{kDistrict + "/m9999", kRead | kWrite}}, 0)
          .is_ok());
  REQUIRE(d.hub->ingest(*d.authority->control_log()).is_ok());
  Error err;
  birga_replica_t* r = open_tablet(d, err);
  birga_txn_t* t = birga_txn_begin(r);
  char* id = birga_txn_create(t, "case", kMahalla.c_str(), &err.e);
  REQUIRE(id);
  birga_txn_set_text(t, "case", id, "title", "written after the move");
  REQUIRE(birga_txn_commit(t, &err.e) == BIRGA_OK);
  birga_free(id);
  birga_txn_free(t);
  {
    RunningServer server(*d.hub, quick_server());
    REQUIRE(server.listen_status().is_ok());
    birga_sync_stats_t stats{};
    CHECK(birga_replica_sync(r, "127.0.0.1", server.port(), &stats, &err.e) ==
          BIRGA_PERMISSION_DENIED);
    CHECK(stats.changes_sent == 1);
    CHECK(err.message().find("did not keep 1 of the changes this device wrote") !=
          std::string::npos);
    CHECK(err.message().find("no write right") != std::string::npos);
  }
  birga_replica_close(r);
}
