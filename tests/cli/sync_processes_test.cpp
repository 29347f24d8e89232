// Multi-process sync: every node is a separate `birga` process with its own store; hubs are
// long-running `birga serve` processes on 127.0.0.1; a tablet-to-tablet sync runs `birga
// serve` on the target tablet for the duration of that sync, then stops it with SIGTERM.
// The network is loopback only; the TCP proxy of tests/transport sits in between where bytes
// are counted, recorded or cut. Every process is stopped by RAII (process_fixture.h).
//
// Randomness (sync order, garbage bytes, record contents) comes from one seed, printed at the
// start of each test; BIRGA_SYNC_SEED=N replays it.
#include <algorithm>
#include <ctime>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "process_fixture.h"
#include "test_proxy.h"

namespace birga::test {

namespace {

constexpr const char* kMahallaA = "tashkent/yunusobod/m0421";
constexpr const char* kMahallaB = "tashkent/yunusobod/m0977";
const std::vector<std::string> kKinds = {"household", "person", "visit", "aid_delivery",
                                         "guardianship_case"};

uint64_t test_seed(const char* test) {
  uint64_t seed = 0;
  if (const char* s = std::getenv("BIRGA_SYNC_SEED")) {
    seed = std::stoull(s);
  } else {
    std::random_device rd;
    seed = (uint64_t{rd()} << 32) | rd();
  }
  std::cout << test << ": seed " << seed << " (replay with BIRGA_SYNC_SEED=" << seed << ")"
            << std::endl;
  return seed;
}

std::string grant(const std::string& path, const std::string& rights) {
  return path + ":" + rights;
}

// A new replica in DIR, enrolled by the authority in "auth" (or `authority`).
void enrol(const Cli& cli, const std::string& dir, const std::string& name, const std::string& role,
           const std::string& scope, const std::string& authority = "auth",
           const std::vector<std::string>& extra = {}, const EnvChanges& env = {}) {
  cli.ok({"init", "--dir", dir});
  std::vector<std::string> args = {"enrol", "--dir",  authority, "--device", dir,  "--name",
                                   name,    "--role", role,      "--scope",  scope};
  args.insert(args.end(), extra.begin(), extra.end());
  cli.ok(args, env);
}

// As docs/operations.md says: export the authority's control log, import it at each hub.
void publish_control_log(const Cli& cli, const std::vector<std::string>& hubs) {
  cli.ok({"authority", "export", "--dir", "auth", "--out", "control.log"});
  for (const std::string& hub : hubs) {
    Json report = cli.json({"import", "control.log", "--dir", hub});
    CHECK(report["refused"].size() == 0);
    CHECK(report["pending"].i == 0);
  }
}

// The smallest deployment: an authority, the hub "hub" (Yunusobod hub, the district with
// read and relay) and the field tablet "t" (Dilnoza, writing in mahalla A), the control log
// imported at the hub.
void hub_and_tablet(const Cli& cli) {
  cli.ok({"authority", "init", "--dir", "auth"});
  enrol(cli, "hub", "Yunusobod hub", "hub", grant("tashkent/yunusobod", "r+relay"));
  enrol(cli, "t", "Dilnoza", "field", grant(kMahallaA, "rw"));
  publish_control_log(cli, {"hub"});
}

std::string device_key(const Cli& cli, const std::string& dir) {
  return cli.json({"status", "--dir", dir})["device_key"].s;
}

// A tablet-to-tablet sync: `server` serves for the duration of the sync, then stops (SIGTERM,
// exit 0).
SyncRun sync_tablets(const Cli& cli, const std::string& client, const std::string& server) {
  Serve serve(cli, server);
  SyncRun r = sync_with(cli, client, serve.address());
  if (r.code == 0) CHECK(serve.wait_sessions(1));
  INFO("serve " << server << " log: " << serve.log());
  CHECK(serve.stop() == 0);
  // Its stdout: JSON lines only, the session's between the first and the last.
  const std::vector<Json> lines = serve.lines();
  REQUIRE(lines.size() >= 2);
  CHECK(lines.front()["port"].i > 0);
  CHECK(lines.back()["stopped"].b);
  CHECK(lines.back()["completed"].i + lines.back()["failed"].i ==
        static_cast<int64_t>(lines.size() - 2));
  return r;
}

// The records of `kind` on `dir`, by scope: canonical JSON text of each, sorted by id.
std::map<std::string, std::vector<std::string>> records_by_scope(const Cli& cli,
                                                                 const std::string& dir,
                                                                 const std::string& kind) {
  Json list = cli.json({"list", kind, "--dir", dir});
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> by_scope;
  for (const Json& r : list.a) by_scope[r["scope"].s].emplace_back(r["id"].s, dump_json(r));
  std::map<std::string, std::vector<std::string>> out;
  for (auto& [scope, records] : by_scope) {
    std::sort(records.begin(), records.end());
    for (auto& [id, text] : records) out[scope].push_back(text);
  }
  return out;
}

// The version vector of each scope `dir` holds (canonical JSON text), from `status --json`.
std::map<std::string, std::string> version_vectors(const Cli& cli, const std::string& dir) {
  std::map<std::string, std::string> out;
  const Json status = cli.json({"status", "--dir", dir});
  for (const Json& s : status["scopes"].a) {
    out[s["scope"].s] = dump_json(s["version_vector"]);
  }
  return out;
}

struct FieldWork {
  std::map<std::string, size_t> written;  // kind -> records created
  std::string household, visit, kase;     // a household with a delivery, its visit, the case
};

// Field work on one tablet while it is apart: persons, households, visits (one amended), aid
// deliveries, a guardianship case.
FieldWork field_work(const Cli& cli, const std::string& dir, const std::string& tag,
                     std::mt19937_64& rng) {
  const std::vector<std::string> d = {"--dir", dir};
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.end(), d.begin(), d.end());
    return cli.ok(args);
  };
  const std::string n = std::to_string(rng() % 1000);
  const std::string child = run({"person", "add", "--name", tag + " child " + n, "--birth-date",
                                 "2016-04-0" + std::to_string(1 + rng() % 9), "--sex", "female"});
  const std::string adult = run({"person", "add", "--name", tag + " mother " + n});
  FieldWork w;
  w.household = run({"household", "add", "--address", tag + " Navoi St " + n, "--phone",
                     "+998 90 " + n, "--member", child + ":child", "--member", adult + ":head"});
  const std::string h2 =
      run({"household", "add", "--address", tag + " Bobur St " + n, "--category", "low-income"});
  w.visit =
      run({"visit", "add", "--household", w.household, "--type", "initial-assessment", "--date",
           "2026-11-20", "--notes", tag + " first visit", "--need", "food", "--consent", "yes"});
  run({"visit", "add", "--household", h2, "--type", "monitoring", "--date", "2026-11-21"});
  run({"visit", "amend", w.visit, "--text", tag + " the date was 2026-11-19"});
  run({"aid", "add", "--household", w.household, "--value", std::to_string(100000 + rng() % 900000),
       "--entitlement", "ENT-" + tag + "-1", "--programme", "winter", "--item", "COAL"});
  run({"aid", "add", "--household", h2, "--value", "120000", "--entitlement", "ENT-" + tag + "-2"});
  w.kase = run({"case", "open", "--child", child, "--type", "guardianship"});
  run({"case", "assign-guardian", w.kase, "--guardian", tag + " aunt", "--relation", "aunt"});
  run({"case", "set-status", w.kase, "assessment"});
  run({"case", "note", w.kase, tag + " met the child at school"});
  w.written = {
      {"person", 2}, {"household", 2}, {"visit", 2}, {"aid_delivery", 2}, {"guardianship_case", 1}};
  return w;
}

// Random [a-z0-9] text (zstd cannot shrink it much): big records for several batches.
std::string random_text(std::mt19937_64& rng, size_t n) {
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s(n, 'a');
  for (char& c : s) c = kAlphabet[rng() % 36];
  return s;
}

size_t count_of(const Cli& cli, const std::string& dir, const std::string& kind) {
  return cli.json({"list", kind, "--dir", dir}).size();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Waits (bounded) until `serve`'s log contains `text`.
bool wait_log(const Serve& serve, const std::string& text, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = SteadyClock::now() + timeout;
  while (!contains(serve.log(), text)) {
    if (SteadyClock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// The log line of the session from 127.0.0.1:PORT ("" if none yet).
std::string session_line(const Serve& serve, uint16_t port) {
  const std::string log = serve.log();
  const size_t at = log.find("session 127.0.0.1:" + std::to_string(port) + " ");
  if (at == std::string::npos) return "";
  return log.substr(at, log.find('\n', at) - at);
}

std::string date_days_ago(int days) {
  const std::time_t t = std::time(nullptr) - static_cast<std::time_t>(days) * 86400;
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &utc);
  return buf;
}

}  // namespace

TEST_CASE("Sync processes: a hub and three tablets converge through random pairwise syncs",
          "[sync][processes]") {
  const uint64_t seed = test_seed("convergence");
  INFO("seed " << seed << " (replay with BIRGA_SYNC_SEED=" << seed << ")");
  std::mt19937_64 rng(seed);
  Cli cli;
  cli.ok({"authority", "init", "--dir", "auth"});
  enrol(cli, "hub", "Yunusobod hub", "hub", grant("tashkent/yunusobod", "r+relay"));
  enrol(cli, "a1", "Dilnoza", "field", grant(kMahallaA, "rw"));
  enrol(cli, "a2", "Aziza", "field", grant(kMahallaA, "rw"));
  enrol(cli, "b1", "Bekzod", "field", grant(kMahallaB, "rw"));
  publish_control_log(cli, {"hub"});

  // Apart: each tablet writes on its own.
  std::map<std::string, std::map<std::string, size_t>> written;  // scope -> kind -> count
  std::map<std::string, FieldWork> work;
  for (const auto& [dir, scope] : std::vector<std::pair<std::string, std::string>>{
           {"a1", kMahallaA}, {"a2", kMahallaA}, {"b1", kMahallaB}}) {
    work[dir] = field_work(cli, dir, dir, rng);
    for (const auto& [kind, n] : work[dir].written) written[scope][kind] += n;
  }

  Serve hub(cli, "hub");
  struct Pair {
    std::string x, y;
    bool tablets;
  };
  std::vector<Pair> pairs = {
      {"a1", "a2", true}, {"a1", "hub", false}, {"a2", "hub", false}, {"b1", "hub", false}};
  std::string trace;
  // Passes over every pair, in a random order (and a random direction between tablets), until
  // a whole pass moves nothing.
  auto converge = [&](const std::string& phase) {
    constexpr int kMaxPasses = 8;
    for (int pass = 1; pass <= kMaxPasses; ++pass) {
      std::shuffle(pairs.begin(), pairs.end(), rng);
      int64_t moved = 0;
      for (const Pair& p : pairs) {
        SyncRun r;
        std::string label;
        if (p.tablets) {
          const bool flip = rng() % 2 == 1;
          const std::string& client = flip ? p.y : p.x;
          const std::string& server = flip ? p.x : p.y;
          label = client + " -> " + server + " (serving)";
          r = sync_tablets(cli, client, server);
        } else {
          label = p.x + " -> hub";
          r = sync_with(cli, p.x, hub.address());
        }
        trace += phase + ", pass " + std::to_string(pass) + ": " + label + ": sent " +
                 std::to_string(r.sent()) + ", received " + std::to_string(r.received()) + "\n";
        INFO(trace << "stderr: " << r.err);
        REQUIRE(r.code == 0);
        REQUIRE(r.result["ok"].b);
        moved += r.sent() + r.received();
      }
      if (moved == 0) return pass;
    }
    INFO(trace);
    FAIL("no quiet pass after " << kMaxPasses << " passes");
    return 0;
  };
  CHECK(converge("apart") >= 2);

  // Then concurrent work on shared records: both A tablets move A1's case (an mv conflict
  // that nobody may silently overwrite), A2 amends A1's visit and delivers against A1's
  // entitlement again (both deliveries kept, an over-issuance alert); B writes on.
  const FieldWork& a1 = work["a1"];
  cli.ok({"case", "assign-guardian", "--dir", "a1", a1.kase, "--guardian", "a1 grandmother"});
  cli.ok({"case", "set-status", "--dir", "a1", a1.kase, "placement"});
  cli.ok({"case", "assign-guardian", "--dir", "a2", a1.kase, "--guardian", "a2 uncle"});
  cli.ok({"case", "set-status", "--dir", "a2", a1.kase, "monitoring"});
  cli.ok({"visit", "amend", "--dir", "a2", a1.visit, "--text", "a2 saw the family again"});
  cli.ok({"aid", "add", "--dir", "a2", "--household", a1.household, "--value", "50000",
          "--entitlement", "ENT-a1-1"});
  written[kMahallaA]["aid_delivery"] += 1;
  cli.ok({"household", "add", "--dir", "b1", "--address", "b1 later street"});
  written[kMahallaB]["household"] += 1;
  converge("concurrent");
  INFO("syncs:\n" << trace);
  CHECK(hub.stop() == 0);

  // Every node holding a scope has the same records of it, kind by kind, and the same
  // version vector; nobody holds a scope it is not entitled to.
  const std::map<std::string, std::vector<std::string>> holders = {{kMahallaA, {"a1", "a2", "hub"}},
                                                                   {kMahallaB, {"b1", "hub"}}};
  for (const std::string& kind : kKinds) {
    std::map<std::string, std::map<std::string, std::vector<std::string>>> state;  // dir -> ...
    for (const char* dir : {"a1", "a2", "b1", "hub"}) state[dir] = records_by_scope(cli, dir, kind);
    for (const auto& [scope, dirs] : holders) {
      const std::vector<std::string>& reference = state[dirs[0]][scope];
      CHECK(reference.size() == written[scope][kind]);
      for (const std::string& dir : dirs) {
        INFO(kind << " in " << scope << ": " << dirs[0] << " vs " << dir);
        CHECK(state[dir][scope] == reference);
      }
    }
    CHECK(state["a1"].count(kMahallaB) == 0);
    CHECK(state["a2"].count(kMahallaB) == 0);
    CHECK(state["b1"].count(kMahallaA) == 0);
  }
  std::map<std::string, std::map<std::string, std::string>> vvs;
  for (const char* dir : {"a1", "a2", "b1", "hub"}) vvs[dir] = version_vectors(cli, dir);
  CHECK(vvs["a1"][kMahallaA] == vvs["hub"][kMahallaA]);
  CHECK(vvs["a2"][kMahallaA] == vvs["hub"][kMahallaA]);
  CHECK(vvs["b1"][kMahallaB] == vvs["hub"][kMahallaB]);
  CHECK(vvs["b1"].count(kMahallaA) == 0);

  // The concurrent case moves are kept side by side everywhere A is held; the double
  // delivery is counted once per id, the same everywhere, and flagged.
  const std::string total =
      cli.ok({"aid", "total", "--dir", "a1", "--household", a1.household, "--json"});
  for (const char* dir : {"a1", "a2", "hub"}) {
    INFO(dir);
    const Json conflicts = cli.json({"conflicts", "--dir", dir});
    REQUIRE(conflicts.size() == 1);
    CHECK(conflicts[0]["id"].s == a1.kase);
    CHECK(conflicts[0]["guardian"].size() == 2);
    CHECK(conflicts[0]["status"].size() == 2);
    CHECK(cli.ok({"aid", "total", "--dir", dir, "--household", a1.household, "--json"}) == total);
    CHECK(Json::parse(total)["deliveries"].i == 2);
    bool over_issuance = false;
    const Json alerts = cli.json({"alerts", "--dir", dir});
    for (const Json& a : alerts.a) over_issuance |= a["kind"].s == "over_issuance";
    CHECK(over_issuance);
  }
  CHECK(cli.json({"conflicts", "--dir", "b1"}).size() == 0);
  for (const char* dir : {"a1", "a2", "b1", "hub"}) {
    RunResult v = cli.run({"verify", "--dir", dir});
    INFO(dir << ": " << v.out << v.err);
    CHECK(v.code == 0);
  }
}

TEST_CASE("Sync processes: scopes stay apart, and a relay carries sealed changes it cannot read",
          "[sync][processes]") {
  Cli cli;
  cli.ok({"authority", "init", "--dir", "auth"});
  enrol(cli, "hub", "Yunusobod hub", "hub", grant("tashkent/yunusobod", "r+relay"));
  enrol(cli, "hub2", "Second hub", "hub", grant("tashkent/yunusobod", "r+relay"));
  enrol(cli, "relay", "Courier relay", "relay", grant("tashkent/yunusobod", "relay"));
  enrol(cli, "a1", "Dilnoza", "field", grant(kMahallaA, "rw"));
  enrol(cli, "b1", "Bekzod", "field", grant(kMahallaB, "rw"));
  publish_control_log(cli, {"hub", "hub2"});

  std::set<std::string> a1_households;
  for (int i = 0; i < 3; ++i) {
    a1_households.insert(cli.ok(
        {"household", "add", "--dir", "a1", "--address", "A-only street " + std::to_string(i)}));
  }
  const std::string child = cli.ok({"person", "add", "--dir", "a1", "--name", "A-only child"});
  cli.ok({"case", "open", "--dir", "a1", "--child", child, "--type", "foster-care"});
  cli.ok({"household", "add", "--dir", "b1", "--address", "B street 1"});

  SECTION("the mahalla-B tablet never receives scope A, even from the hub that holds both") {
    Serve hub(cli, "hub");
    REQUIRE(sync_with(cli, "a1", hub.address()).code == 0);
    for (int round = 0; round < 2; ++round) {
      SyncRun r = sync_with(cli, "b1", hub.address());
      INFO(r.err);
      REQUIRE(r.code == 0);
    }
    CHECK(hub.stop() == 0);
    // The hub holds and reads both scopes...
    std::set<std::string> hub_scopes;
    for (const Json& h : cli.json({"list", "household", "--dir", "hub"}).a) {
      hub_scopes.insert(h["scope"].s);
    }
    CHECK(hub_scopes == std::set<std::string>{kMahallaA, kMahallaB});
    // ...the B tablet neither.
    for (const std::string& kind : kKinds) {
      for (const Json& r : cli.json({"list", kind, "--dir", "b1"}).a) {
        INFO(kind << " " << r["id"].s);
        CHECK(r["scope"].s == kMahallaB);
      }
    }
    Json status = cli.json({"status", "--dir", "b1"});
    for (const Json& s : status["scopes"].a) CHECK(s["scope"].s != kMahallaA);
    CHECK(status["records"]["household"].i == 1);
    CHECK(cli.run({"verify", "--dir", "b1"}).code == 0);
  }

  SECTION("a relay carries A's sealed changes from A1 to a hub that never met A1") {
    {
      Serve relay(cli, "relay");
      SyncRun r = sync_with(cli, "a1", relay.address());
      INFO(r.err);
      REQUIRE(r.code == 0);
      CHECK(r.sent() >= 5);  // 3 households, a person, a case
      CHECK(relay.wait_sessions(1));
      CHECK(relay.stop() == 0);
    }
    // The relay stores them, sealed: no key, nothing readable.
    for (const std::string& kind : kKinds) {
      CHECK(cli.json({"list", kind, "--dir", "relay"}).size() == 0);
    }
    bool sealed_only = false;
    const Json relay_status = cli.json({"status", "--dir", "relay"});
    for (const Json& s : relay_status["scopes"].a) {
      if (s["scope"].s == kMahallaA) sealed_only = !s["key_held"].b && s["version_vector"].size();
    }
    CHECK(sealed_only);
    CHECK(cli.run({"verify", "--dir", "relay"}).code == 0);

    {
      Serve hub2(cli, "hub2");
      SyncRun r = sync_with(cli, "relay", hub2.address());
      INFO(r.err);
      REQUIRE(r.code == 0);
      CHECK(r.sent() >= 5);
      CHECK(hub2.wait_sessions(1));
      CHECK(hub2.stop() == 0);
    }
    std::set<std::string> at_hub2;
    for (const Json& h : cli.json({"list", "household", "--dir", "hub2"}).a) {
      at_hub2.insert(h["id"].s);
      CHECK(h["scope"].s == kMahallaA);
      CHECK(contains(h["address"].s, "A-only street"));
    }
    CHECK(at_hub2 == a1_households);
    CHECK(count_of(cli, "hub2", "guardianship_case") == 1);
    CHECK(cli.run({"verify", "--dir", "hub2"}).code == 0);
  }
}

TEST_CASE("Sync processes: a cut sync resumes without resending what the hub holds",
          "[sync][processes]") {
  const uint64_t seed = test_seed("interruption");
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  Cli cli;
  hub_and_tablet(cli);

  // Big records (24 KiB of random text, about 16 KiB once compressed and sealed), one
  // transaction each: several batches of 512 KiB (32 changes).
  constexpr size_t kRecords = 120;      // the first lot: about four batches
  constexpr size_t kMoreRecords = 200;  // the second: more than the window of 4 batches
  constexpr size_t kAddressBytes = 24 << 10;
  auto write_batch = [&](const std::string& tag, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      cli.ok({"household", "add", "--dir", "t", "--address",
              tag + std::to_string(i) + " " + random_text(rng, kAddressBytes)});
    }
  };
  write_batch("first ", kRecords);
  cli.ok({"changes", "export", "--dir", "t", "--scope", kMahallaA, "--out", "full.bgcl"});
  const uint64_t full_estimate = Cli::slurp(cli.path("full.bgcl")).size();
  REQUIRE(full_estimate > 3 * (512u << 10));  // more than three batches

  auto hub = std::make_unique<Serve>(cli, "hub");
  TestProxy::Options cut;
  cut.target_port = hub->port();
  // hello, proof, summary, then two batches of changes: cut there.
  cut.cut_after_frames = 5;
  cut.cut_direction = TestProxy::Direction::kClientToServer;
  cut.cut_connections = 1;
  TestProxy proxy(cut);
  const std::string via_proxy = "127.0.0.1:" + std::to_string(proxy.port());

  // Stops the hub (if still running), counts the households it durably holds, restarts it.
  auto restart_hub_and_count = [&](bool running) {
    if (running) CHECK(hub->stop() == 0);
    const size_t held = count_of(cli, "hub", "household");
    hub = std::make_unique<Serve>(cli, "hub");
    TestProxy::Options pass;
    pass.target_port = hub->port();
    proxy.set_options(pass);
    return held;
  };

  SyncRun first = sync_with(cli, "t", via_proxy);
  INFO("first sync: " << first.err);
  CHECK((first.code == 5 || first.code == 7));
  CHECK(proxy.cuts() == 1);
  REQUIRE(hub->wait_sessions(1));  // the hub saw the session end
  const uint64_t first_bytes = proxy.bytes_client_to_server();
  const size_t held = restart_hub_and_count(true);
  INFO("the hub held " << held << " of " << kRecords << " after the cut; first sync sent "
                       << first_bytes << " bytes; full size about " << full_estimate);
  CHECK(held > 0);
  CHECK(held < kRecords);

  SyncRun second = sync_with(cli, "t", via_proxy);
  INFO("second sync: " << second.err);
  REQUIRE(second.code == 0);
  CHECK(second.sent() == static_cast<int64_t>(kRecords - held));
  const uint64_t second_bytes = proxy.bytes_client_to_server() - first_bytes;
  std::cout << "interruption: the hub held " << held << " of " << kRecords
            << " after the cut; the resumed sync sent " << second.sent() << " changes, "
            << second_bytes << " bytes (a full sync: about " << full_estimate << ")" << std::endl;
  CHECK(second_bytes < full_estimate);
  // About the share the hub lacked, plus the handshake, summary and framing.
  CHECK(second_bytes < full_estimate * (kRecords - held) / kRecords + (32u << 10));
  REQUIRE(hub->wait_sessions(1));
  CHECK(count_of(cli, "hub", "household") == kRecords);

  // Then a crash: the tablet has a second lot of records, more than its window of batches in
  // flight; the hub's acknowledgements crawl back (server-to-client throttled), so the tablet
  // stalls. As soon as the hub has committed some of the lot (read from its store while it
  // runs), it is killed (SIGKILL) and restarted. What it committed survives, and the next
  // sync sends only the rest, acknowledged or not.
  write_batch("second ", kMoreRecords);
  TestProxy::Options slow;
  slow.target_port = hub->port();
  slow.server_to_client_bytes_per_second = 500;
  proxy.set_options(slow);
  {
    Process sync(cli, sync_args("t", via_proxy));
    const auto deadline = SteadyClock::now() + 20s;
    int64_t at_hub = 0;
    while (at_hub <= static_cast<int64_t>(kRecords) && SteadyClock::now() < deadline &&
           sync.running()) {
      std::this_thread::sleep_for(5ms);
      at_hub = cli.json({"status", "--dir", "hub"})["records"]["household"].i;
    }
    hub->process().kill9();
    const int code = sync.wait();
    INFO("sync during the crash: " << sync.err());
    CHECK((code == 5 || code == 7));
  }
  const size_t held2 = restart_hub_and_count(false);
  INFO("the hub held " << held2 << " households after the crash");
  CHECK(held2 >= kRecords);
  CHECK(held2 < kRecords + kMoreRecords);
  SyncRun after = sync_with(cli, "t", via_proxy);
  std::cout << "interruption: after the crash the hub held " << held2 - kRecords << " of "
            << kMoreRecords << " new; the next sync sent " << after.sent() << std::endl;
  INFO("sync after the restart: " << after.err);
  REQUIRE(after.code == 0);
  CHECK(after.sent() == static_cast<int64_t>(kRecords + kMoreRecords - held2));
  REQUIRE(hub->wait_sessions(1));
  CHECK(count_of(cli, "hub", "household") == kRecords + kMoreRecords);

  // Converged: nothing more moves, both hold the same, both verify.
  SyncRun again = sync_with(cli, "t", hub->address());
  REQUIRE(again.code == 0);
  CHECK(again.sent() == 0);
  CHECK(again.received() == 0);
  CHECK(hub->stop() == 0);
  CHECK(records_by_scope(cli, "hub", "household") == records_by_scope(cli, "t", "household"));
  CHECK(cli.run({"verify", "--dir", "hub"}).code == 0);
  CHECK(cli.run({"verify", "--dir", "t"}).code == 0);
}

TEST_CASE("Sync processes: refusals while a legitimate session on the same hub completes",
          "[sync][processes]") {
  const uint64_t seed = test_seed("refusals");
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  Cli cli;
  cli.ok({"authority", "init", "--dir", "auth"});
  enrol(cli, "hub", "Yunusobod hub", "hub", grant("tashkent/yunusobod", "r+relay"));
  enrol(cli, "legit", "Dilnoza", "field", grant(kMahallaA, "rw"));
  enrol(cli, "revoked", "Lost tablet", "field", grant(kMahallaA, "rw"));
  // `enrol --expires` refuses a past date, so the authority issues this one with its clock
  // moved back 800 days (a test-only LD_PRELOAD shim): it expired 400 days ago.
  enrol(cli, "expired", "Old tablet", "field", grant(kMahallaA, "rw"), "auth",
        {"--expires", date_days_ago(400)},
        {{"LD_PRELOAD", std::string(BIRGA_CLOCK_SHIFT_LIB)},
         {"BIRGA_TEST_CLOCK_SHIFT_S", std::to_string(-800 * 86400)},
         {"ASAN_OPTIONS", std::string("verify_asan_link_order=0")}});
  cli.ok({"authority", "init", "--dir", "auth2"});
  enrol(cli, "stranger", "Stranger", "field", grant(kMahallaA, "rw"), "auth2");
  cli.ok({"init", "--dir", "unenrolled"});
  publish_control_log(cli, {"hub"});
  cli.ok({"authority", "revoke", "--dir", "auth", "--device-key", device_key(cli, "revoked"),
          "--reason", "lost 2026-11-20", "--out", "revoke.log"});
  Json imported = cli.json({"import", "revoke.log", "--dir", "hub"});
  REQUIRE(imported["applied"].i >= 1);
  REQUIRE(imported["pending"].i == 0);

  cli.ok({"household", "add", "--dir", "legit", "--address", "legit street 1"});
  cli.ok({"household", "add", "--dir", "revoked", "--address", "written by the lost tablet"});
  cli.ok({"household", "add", "--dir", "stranger", "--address", "another deployment"});

  Serve hub(cli, "hub");
  {  // A second node on the hub's port: a usage error naming the address, not exit 5 (sync's)
    const std::string taken = "127.0.0.1:" + std::to_string(hub.port());
    RunResult r = cli.run({"serve", "--dir", "legit", "--listen", taken});
    INFO("stderr: " << r.err);
    CHECK(r.code == 1);
    CHECK(r.err.find("cannot listen on " + taken) != std::string::npos);
  }
  // The legitimate tablet syncs through a proxy that holds back the hub's bytes for a while,
  // so each of its sessions is still running while the refused attempt happens.
  TestProxy::Options slow;
  slow.target_port = hub.port();
  slow.server_to_client_initial_pause = 1000ms;
  TestProxy legit_proxy(slow);
  const std::string legit_address = "127.0.0.1:" + std::to_string(legit_proxy.port());
  int legit_syncs = 0;

  auto while_legit_syncs = [&](const std::string& what, const std::function<void()>& attempt) {
    INFO("refusal: " << what);
    const uint64_t connections = legit_proxy.connections();
    Process legit(cli, sync_args("legit", legit_address));
    const auto deadline = SteadyClock::now() + 5s;
    while (legit_proxy.connections() == connections && SteadyClock::now() < deadline) {
      std::this_thread::sleep_for(2ms);
    }
    REQUIRE(legit_proxy.connections() > connections);
    attempt();
    const bool overlapped = legit.running();
    const int code = legit.wait();
    INFO("legitimate sync: " << legit.err());
    CHECK(code == 0);
    CHECK(overlapped);
    ++legit_syncs;
  };

  while_legit_syncs("unenrolled", [&] {
    // The CLI refuses before connecting: nothing reaches the hub (a counting proxy shows it).
    TestProxy probe(TestProxy::Options{.target_port = hub.port()});
    RunResult r =
        run_bounded(cli, sync_args("unenrolled", "127.0.0.1:" + std::to_string(probe.port())));
    INFO(r.err);
    CHECK(r.code == 3);
    CHECK(contains(r.err, "not enrolled"));
    std::this_thread::sleep_for(100ms);
    CHECK(probe.connections() == 0);
  });
  while_legit_syncs("expired", [&] {
    SyncRun r = sync_with(cli, "expired", hub.address());
    INFO(r.err);
    CHECK(r.code == 6);
    CHECK(contains(r.err, "refused this device"));
    CHECK(wait_log(hub, "certificate of 'Old tablet'"));
    CHECK(contains(hub.log(), "expired on"));
  });
  while_legit_syncs("revoked", [&] {
    SyncRun r = sync_with(cli, "revoked", hub.address());
    INFO(r.err);
    CHECK(r.code == 6);
    CHECK(contains(r.err, "refused this device"));
    CHECK(wait_log(hub, "'Lost tablet'"));
    CHECK(wait_log(hub, "was revoked on"));
  });
  while_legit_syncs("another authority", [&] {
    SyncRun r = sync_with(cli, "stranger", hub.address());
    INFO(r.err);
    CHECK(r.code == 6);
    CHECK(contains(r.err, "another authority"));
    // The hub was never authenticated: its name and key are null, not zeros.
    REQUIRE(!r.result.is_null());
    CHECK(!r.result["ok"].b);
    CHECK(r.result["peer"].is_null());
    CHECK(r.result["peer_key"].is_null());
    CHECK(wait_log(hub, "certificate of 'Stranger'"));
    CHECK(contains(hub.log(), "is signed by another authority"));
  });
  while_legit_syncs("garbage bytes", [&] {
    // A framed 64-byte "hello" of random bytes, then more random bytes.
    std::string garbage = {0, 0, 0, 64};
    for (int i = 0; i < 64 + 200; ++i) garbage += static_cast<char>(rng() & 0xFF);
    RawOutcome o = raw_exchange(hub.port(), garbage);
    REQUIRE(o.connected);
    CHECK(o.closed_by_peer);
    CHECK(wait_log(hub, "session 127.0.0.1:" + std::to_string(o.local_port) + " closed"));
    const std::string line = session_line(hub, o.local_port);
    INFO(line);
    CHECK(contains(line, "corrupt_input"));
    CHECK(contains(line, "hello"));
  });
  while_legit_syncs("oversized length prefix", [&] {
    RawOutcome o = raw_exchange(hub.port(), std::string(4, '\xFF'));
    REQUIRE(o.connected);
    CHECK(o.closed_by_peer);
    CHECK(wait_log(hub, "session 127.0.0.1:" + std::to_string(o.local_port) + " closed"));
    const std::string line = session_line(hub, o.local_port);
    INFO(line);
    CHECK(contains(line, "frame length 4294967295 exceeds the limit"));
  });

  // Every legitimate session completed at the hub; nothing of the refused devices got in.
  CHECK(hub.wait_sessions(static_cast<size_t>(legit_syncs) + 5));
  size_t completed = 0;
  for (const Json& s : hub.sessions()) completed += s["ok"].b && s["peer"].s == "Dilnoza";
  CHECK(completed == static_cast<size_t>(legit_syncs));
  CHECK(hub.stop() == 0);
  Json households = cli.json({"list", "household", "--dir", "hub"});
  REQUIRE(households.size() == 1);
  CHECK(households[0]["address"].s == "legit street 1");
  CHECK(cli.run({"verify", "--dir", "hub"}).code == 0);
}

TEST_CASE("Sync processes: a tablet whose clock is two hours ahead is told at sync",
          "[sync][processes][clock]") {
  Cli cli;
  hub_and_tablet(cli);
  const EnvChanges ahead = {{"LD_PRELOAD", std::string(BIRGA_CLOCK_SHIFT_LIB)},
                            {"BIRGA_TEST_CLOCK_SHIFT_S", std::to_string(2 * 3600)},
                            {"ASAN_OPTIONS", std::string("verify_asan_link_order=0")}};
  Serve hub(cli, "hub");
  RunResult skewed = cli.run({"sync", hub.address(), "--dir", "t", "--json"}, ahead);
  INFO("stderr: " << skewed.err);
  REQUIRE(skewed.code == 0);
  const int64_t offset = Json::parse(skewed.line())["clock_offset_ms"].i;
  CHECK(offset <= -7'200'000);  // the hub's clock is behind this tablet's
  CHECK(offset > -7'260'000);
  CHECK(skewed.err.find("warning: this device's clock is 2 h 0 min ahead of the clock of hub "
                        "'Yunusobod hub': set this device's date, time and time zone") !=
        std::string::npos);

  RunResult fixed = cli.run({"sync", hub.address(), "--dir", "t", "--json"});
  REQUIRE(fixed.code == 0);
  CHECK(std::abs(Json::parse(fixed.line())["clock_offset_ms"].i) < 60'000);
  CHECK(fixed.err.find("warning") == std::string::npos);
  CHECK(hub.wait_sessions(2));
  CHECK(hub.stop() == 0);
  // The hub saw the same two hours the other way round, in its session line and its log.
  const std::vector<Json> lines = hub.lines();
  REQUIRE(lines.size() == 4);
  CHECK(lines[1]["clock_offset_ms"].i >= 7'140'000);
  CHECK(lines[1]["clock_offset_ms"].i <= 7'200'000);
  const std::string log = hub.log();
  const size_t warned = log.find("the clock of 'Dilnoza' is ");
  REQUIRE(warned != std::string::npos);
  CHECK(log.find(" ahead of this device's", warned) != std::string::npos);
}

TEST_CASE("Sync processes: the bytes on the wire hold no plaintext field value or device name",
          "[sync][processes]") {
  Cli cli;
  cli.ok({"authority", "init", "--dir", "auth"});
  const std::vector<std::string> names = {"Yunusobod-Hub-Kx41", "Shahnoza-Yusupova-Tq72",
                                          "Bobur-Aliyev-Wm35", "Gulnora-Tursunova-Zp18"};
  enrol(cli, "hub", names[0], "hub", grant("tashkent/yunusobod", "r+relay"));
  enrol(cli, "t1", names[1], "field", grant(kMahallaA, "rw"));
  enrol(cli, "t2", names[2], "field", grant(kMahallaA, "rw"));
  enrol(cli, "t3", names[3], "field", grant(kMahallaA, "rw"));
  publish_control_log(cli, {"hub"});

  const std::vector<std::string> d = {"--dir", "t1"};
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.end(), d.begin(), d.end());
    return cli.ok(args);
  };
  const std::vector<std::string> secrets = {
      "Zulfiya-Ergasheva-Qx7", "31205889900123",         "Qatortol-kochasi-77-Xq9",
      "+998-90-555-71-19",     "disability-note-Hv2",    "bruises-on-arms-note-Zk4",
      "ENT-SECRET-9931",       "VCH-SECRET-4471",        "Malika-Karimova-Guardian-J2",
      "court-decision-Rf55",   "child-said-at-school-Y8"};
  const std::string child = run(
      {"person", "add", "--name", secrets[0], "--pinfl", secrets[1], "--disability", secrets[4]});
  const std::string h = run({"household", "add", "--address", secrets[2], "--phone", secrets[3],
                             "--member", child + ":child"});
  run({"visit", "add", "--household", h, "--type", "protection-concern", "--notes", secrets[5]});
  run({"aid", "add", "--household", h, "--value", "450000", "--entitlement", secrets[6],
       "--voucher", secrets[7]});
  const std::string kase = run({"case", "open", "--child", child, "--type", "guardianship"});
  run({"case", "assign-guardian", kase, "--guardian", secrets[8], "--decision", secrets[9]});
  run({"case", "note", kase, secrets[10]});

  std::string wire;  // everything that crossed, both directions, every connection
  auto through_proxy = [&](const std::string& client, uint16_t target) {
    TestProxy proxy(TestProxy::Options{.target_port = target});
    SyncRun r = sync_with(cli, client, "127.0.0.1:" + std::to_string(proxy.port()));
    INFO(client << ": " << r.err);
    REQUIRE(r.code == 0);
    wire += proxy.recorded_client_to_server() + proxy.recorded_server_to_client();
    return r;
  };
  {  // tablet to tablet: t2 serves
    Serve t2(cli, "t2");
    CHECK(through_proxy("t1", t2.port()).sent() >= 7);
    CHECK(t2.wait_sessions(1));
    CHECK(t2.stop() == 0);
  }
  Serve hub(cli, "hub");
  CHECK(through_proxy("t2", hub.port()).sent() >= 7);  // t1's changes, relayed by t2
  CHECK(through_proxy("t3", hub.port()).received() >= 7);
  CHECK(hub.stop() == 0);

  // The data arrived and is readable where it should be...
  Json at_t3 = cli.json({"list", "household", "--dir", "t3"});
  REQUIRE(at_t3.size() == 1);
  CHECK(at_t3[0]["address"].s == secrets[2]);
  CHECK(cli.json({"show", "--dir", "t3", kase})["guardian"][0].s ==
        secrets[8] + " (decision " + secrets[9] + ")");
  CHECK(cli.json({"list", "aid", "--dir", "hub"})[0]["delivered_by"].s == names[1]);
  // ...but none of it crossed the wire in clear.
  CHECK(wire.size() > 10000);
  for (const std::string& s : secrets) {
    INFO("plaintext on the wire: " << s);
    CHECK_FALSE(contains(wire, s));
  }
  for (const std::string& n : names) {
    INFO("device name on the wire: " << n);
    CHECK_FALSE(contains(wire, n));
  }
}

// A loopback listener that accepts connections and never sends a byte (a peer that hangs in
// the handshake), keeping what it receives. Stopped and joined when it goes out of scope.
class SilentPeer {
 public:
  SilentPeer() {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(listener_, 4) == 0);
    socklen_t len = sizeof addr;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~SilentPeer() {
    stop_ = true;
    thread_.join();
    close(listener_);
  }
  SilentPeer(const SilentPeer&) = delete;
  SilentPeer& operator=(const SilentPeer&) = delete;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string received() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_;
  }

 private:
  void serve() {
    std::vector<int> open;  // accepted, held open (closed only when the client closes)
    while (!stop_) {
      std::vector<pollfd> fds = {{listener_, POLLIN, 0}};
      for (int fd : open) fds.push_back({fd, POLLIN, 0});
      if (poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) open.push_back(accept(listener_, nullptr, nullptr));
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[4096];
        const ssize_t n = recv(fds[i].fd, buf, sizeof buf, 0);
        if (n > 0) {
          std::lock_guard<std::mutex> lock(mutex_);
          received_.append(buf, static_cast<size_t>(n));
        } else {
          close(fds[i].fd);
          open.erase(std::find(open.begin(), open.end(), fds[i].fd));
        }
      }
    }
    for (int fd : open) close(fd);
  }

  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::string received_;
  std::thread thread_;
};

// Whether this system can listen on ::1 (some containers have no IPv6 at all).
bool has_ipv6_loopback() {
  const int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// serve --listen and sync read ADDRESS:PORT with one parser: the same forms, the same words
// for a bad one, and both before a passphrase is needed.
TEST_CASE("Sync processes: serve and sync take the same address forms and refuse bad ones alike",
          "[sync][processes][address]") {
  Cli cli;
  hub_and_tablet(cli);
  const EnvChanges wrong = {{"BIRGA_PASSPHRASE", "not the passphrase"}};
  for (const std::string bad : {"127.0.0.1", ":7400", "127.0.0.1:", "[::1]", "[::1]7400", "[]:7400",
                                "::1:7400", "fd00::1", " 127.0.0.1:7400", "hub local:7400",
                                "127.0.0.1:+7400", "127.0.0.1:0x1c", "127.0.0.1:65536"}) {
    INFO("address '" << bad << "'");
    const RunResult serve =
        run_bounded(cli, {"serve", "--dir", "hub", "--listen", bad}, 10s, wrong);
    const RunResult sync = run_bounded(cli, {"sync", bad, "--dir", "t"}, 10s, wrong);
    INFO("serve: " << serve.err << "sync: " << sync.err);
    CHECK(serve.code == 1);
    CHECK(sync.code == 1);
    CHECK(Catch::startsWith(serve.err, "birga serve: '" + bad + "' is not ADDRESS:PORT"));
    CHECK(Catch::startsWith(sync.err, "birga sync: "));
    CHECK(serve.err.substr(std::string("birga serve: ").size()) ==
          sync.err.substr(std::string("birga sync: ").size()));
  }
  // Port 0 is any free port to listen on, and no peer's port.
  const RunResult zero = run_bounded(cli, {"sync", "127.0.0.1:0", "--dir", "t"});
  CHECK(zero.code == 1);
  CHECK(zero.err.find("port 0 is for serve --listen") != std::string::npos);

  // A host name, resolved by both; the address serve prints is one sync takes.
  {
    Serve hub(cli, "hub", {}, "localhost:0");
    INFO("listening on " << hub.address());
    CHECK(sync_with(cli, "t", "localhost:" + std::to_string(hub.port())).code == 0);
    CHECK(sync_with(cli, "t", hub.address()).code == 0);
    CHECK(hub.stop() == 0);
  }
  {
    Serve hub(cli, "hub", {}, "0.0.0.0:0");
    CHECK(hub.address() == "0.0.0.0:" + std::to_string(hub.port()));
    CHECK(sync_with(cli, "t", "127.0.0.1:" + std::to_string(hub.port())).code == 0);
    CHECK(hub.stop() == 0);
  }
  if (!has_ipv6_loopback()) {
    WARN("no IPv6 loopback here: the [::1] forms are not tried");
    return;
  }
  Serve hub(cli, "hub", {}, "[::1]:0");
  CHECK(hub.address() == "[::1]:" + std::to_string(hub.port()));
  CHECK(sync_with(cli, "t", hub.address()).code == 0);
  CHECK(hub.stop() == 0);
}

// --timeout bounds connecting and the handshake together: a peer that accepts the connection
// and says nothing was waited for the transport's own 10 s handshake timeout, whatever
// --timeout said. Its first frame is this device's hello, which carries the protocol version
// `birga version` names.
TEST_CASE("Sync processes: sync --timeout bounds the handshake of a peer that says nothing",
          "[sync][processes][timeout]") {
  Cli cli;
  hub_and_tablet(cli);
  SilentPeer peer;
  const auto started = SteadyClock::now();
  const RunResult r =
      run_bounded(cli, {"sync", peer.address(), "--dir", "t", "--timeout", "1", "--json"}, 5s);
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
  INFO("stderr: " << r.err << "stdout: " << r.out << "after " << seconds << " s");
  CHECK(r.code == 5);
  CHECK(seconds >= 0.9);
  CHECK(seconds < 3.5);
  CHECK(Catch::startsWith(r.err, "birga sync: sync with " + peer.address() +
                                     ": handshake timeout: the peer accepted the connection but "
                                     "was not authenticated within the 1000 ms allowed for "
                                     "connecting and the handshake\n"));
  const Json result = Json::parse(r.line());
  CHECK(!result["ok"].b);
  CHECK(result["peer"].is_null());

  // The hello (docs/protocol.md, section 14): a 4-byte big-endian length, then 64 bytes with
  // the magic "SHRB" at 0x10 and the version, u16 little-endian, at 0x14.
  const std::string hello = peer.received();
  REQUIRE(hello.size() >= 4 + 64);
  CHECK(hello.substr(0, 4) == std::string("\0\0\0\x40", 4));
  CHECK(hello.substr(4 + 0x10, 4) == "SHRB");
  const int version = static_cast<uint8_t>(hello[4 + 0x14]) | static_cast<uint8_t>(hello[4 + 0x15])
                                                                  << 8;
  CHECK(version == cli.json({"version"})["protocol"].i);
}

TEST_CASE("Sync processes: a passphrase is changed while no process has the store open",
          "[sync][processes][passphrase]") {
  Cli cli;
  hub_and_tablet(cli);
  const std::string household = cli.ok({"household", "add", "--dir", "t", "--address", "x"});
  const EnvChanges to_new = {{"BIRGA_NEW_PASSPHRASE", "a new passphrase"}};
  {
    // A running hub holds its store open: its buffers may hold copies sealed under the old
    // passphrase, so the change is refused (exit 2) and the hub keeps serving.
    Serve hub(cli, "hub");
    RunResult busy = cli.run({"passphrase", "--dir", "hub"}, to_new);
    CHECK(busy.code == 2);
    CHECK(busy.err.find("is open in another process") != std::string::npos);
    CHECK(cli.run({"sync", hub.address(), "--dir", "t"}).code == 0);
    CHECK(hub.stop() == 0);
  }
  RunResult wrong = cli.run(
      {"passphrase", "--dir", "t"},
      {{"BIRGA_PASSPHRASE", "not the passphrase"}, {"BIRGA_NEW_PASSPHRASE", "a new passphrase"}});
  CHECK(wrong.code == 3);
  CHECK(wrong.err.find("the current passphrase is wrong (check $BIRGA_PASSPHRASE)") !=
        std::string::npos);
  RunResult weak = cli.run({"passphrase", "--dir", "t"}, {{"BIRGA_NEW_PASSPHRASE", "short"}});
  CHECK(weak.code == 1);
  CHECK(weak.err.find("the passphrase is too short") != std::string::npos);

  for (const std::string dir : {"t", "hub"}) {
    Json changed = cli.json({"passphrase", "--dir", dir}, to_new);
    CHECK(changed["pages_scrubbed"].i >= 1);
    CHECK(cli.run({"status", "--dir", dir}).code == 3);  // the old passphrase opens it no more
  }
  const EnvChanges with_new = {{"BIRGA_PASSPHRASE", "a new passphrase"}};
  // The keys are unchanged: the hub's peers still know it, and the record still reads.
  Serve hub(cli, "hub", with_new);
  CHECK(cli.run({"sync", hub.address(), "--dir", "t"}, with_new).code == 0);
  CHECK(hub.stop() == 0);
  CHECK(cli.ok({"show", household, "--dir", "t"}, with_new).find("address") != std::string::npos);
  CHECK(cli.run({"verify", "--dir", "t"}, with_new).code == 0);

  cli.ok({"authority", "passphrase", "--dir", "auth"}, to_new);
  CHECK(cli.run({"authority", "devices", "--dir", "auth"}).code == 3);
  CHECK(cli.json({"authority", "devices", "--dir", "auth"}, with_new).size() == 2);
}

TEST_CASE(
    "Sync processes: a change zstd has no memory to open fails the import, and is taken "
    "on a retry",
    "[sync][processes][memory]") {
  Cli cli;
  hub_and_tablet(cli);
  constexpr int kHouseholds = 12;
  for (int i = 0; i < kHouseholds; ++i) {
    // A long address: each change's body is over 16 KiB, more than any control record block.
    std::string address = "Yunusobod " + std::to_string(i);
    while (address.size() < (20u << 10)) address += " kvartal " + std::to_string(address.size());
    cli.ok({"household", "add", "--dir", "t", "--address", address});
  }
  cli.ok({"changes", "export", "--dir", "t", "--out", "visits.bgcl"});
  // zstd runs out of memory opening the households' change bodies (a test-only LD_PRELOAD
  // shim): the import fails (a resource error), and the hub keeps nothing of it.
  RunResult starved = cli.run({"import", "visits.bgcl", "--dir", "hub"},
                              {{"LD_PRELOAD", std::string(BIRGA_ZSTD_FAIL_LIB)},
                               {"BIRGA_TEST_ZSTD_FAIL_ABOVE", std::to_string(16 << 10)},
                               {"ASAN_OPTIONS", std::string("verify_asan_link_order=0")}});
  INFO("stderr: " << starved.err);
  CHECK(starved.code == 4);
  CHECK(starved.err.find("change body: zstd: out of memory") != std::string::npos);
  CHECK(cli.json({"list", "household", "--dir", "hub"}).a.empty());
  CHECK(cli.json({"alerts", "--dir", "hub"}).a.empty());  // no "undecryptable" alert
  // With memory, the same file is taken whole: nothing was kept as held but unapplied.
  Json imported = cli.json({"import", "visits.bgcl", "--dir", "hub"});
  CHECK(imported["applied"].i == kHouseholds);  // none of them "already held"
  CHECK(cli.json({"list", "household", "--dir", "hub"}).a.size() == kHouseholds);
  CHECK(cli.run({"verify", "--dir", "hub"}).code == 0);
}

TEST_CASE("Sync processes: a tablet is told which of its records the hub did not keep and why",
          "[sync][processes][trust]") {
  Cli cli;
  hub_and_tablet(cli);
  // The authority moves Dilnoza to mahalla B and the hub learns it; her tablet never gets
  // the new bundle, so it still writes in mahalla A, and the hub refuses those changes.
  cli.ok({"enrol", "--dir", "auth", "--device-key", device_key(cli, "t"), "--out", "moved.bundle",
          "--name", "Dilnoza", "--role", "field", "--scope", grant(kMahallaB, "rw")});
  publish_control_log(cli, {"hub"});
  cli.ok({"household", "add", "--dir", "t", "--address", "written after the move"});

  Serve hub(cli, "hub");
  SyncRun r = sync_with(cli, "t", hub.address());
  INFO("stderr: " << r.err << "\nhub log: " << hub.log());
  CHECK(r.code == 6);  // refused, as when the hub refuses the device itself
  REQUIRE(r.result.has("peer_refused"));
  CHECK_FALSE(r.result["ok"].b);
  REQUIRE(r.result["peer_refused"].size() == 1);
  const Json& refused = r.result["peer_refused"][0];
  CHECK(refused["own"].b);
  CHECK(refused["outcome"].s == "refused");
  CHECK(refused["scope"].s == kMahallaA);
  CHECK(refused["seq"].i == 1);
  CHECK(refused["change"].s.size() == 64);
  // Judged by the certificate in force when the change was made: the one of after the move.
  CHECK(refused["reason"].s.find("has no write right on this scope (certificate serial") !=
        std::string::npos);
  CHECK(r.result["error"]["code"].s == "permission_denied");
  CHECK(r.result["error"]["message"].s.find("did not reach it") != std::string::npos);
  // The text output lists it, and says the same on stderr.
  RunResult text = run_bounded(cli, {"sync", hub.address(), "--dir", "t", "--timeout", "5"});
  CHECK(text.code == 6);
  CHECK(text.out.find("not kept by the peer: your change 1 in scope '" + std::string(kMahallaA) +
                      "'") != std::string::npos);
  CHECK(text.err.find("did not keep 1 of the changes this device wrote") != std::string::npos);
  REQUIRE(hub.wait_sessions(2));
  CHECK(hub.stop() == 0);
  CHECK(cli.json({"list", "household", "--dir", "hub"}).a.empty());
}

TEST_CASE("Sync processes: a tablet restored from a backup is stopped at sync and told to re-enrol",
          "[sync][processes][trust]") {
  Cli cli;
  hub_and_tablet(cli);
  cli.ok({"household", "add", "--dir", "t", "--address", "before the backup"});
  Serve hub(cli, "hub");
  REQUIRE(sync_with(cli, "t", hub.address()).code == 0);
  std::filesystem::copy(cli.path("t"), cli.path("t-backup"),
                        std::filesystem::copy_options::recursive);
  cli.ok({"household", "add", "--dir", "t", "--address", "after the backup"});
  REQUIRE(sync_with(cli, "t", hub.address()).code == 0);
  // The tablet is restored from the backup, and the worker goes on writing.
  std::filesystem::remove_all(cli.path("t"));
  std::filesystem::copy(cli.path("t-backup"), cli.path("t"),
                        std::filesystem::copy_options::recursive);
  cli.ok({"household", "add", "--dir", "t", "--address", "after the restore"});

  SyncRun r = sync_with(cli, "t", hub.address());
  INFO("stderr: " << r.err << "\nhub log: " << hub.log());
  CHECK(r.code == 4);  // a data problem: this store must not be written again
  CHECK(r.sent() == 0);
  const std::string error = r.result["error"]["message"].s;
  CHECK(error.find("a different change 2 of this device in scope '" + std::string(kMahallaA)) !=
        std::string::npos);
  CHECK(error.find("restored from a backup or copied") != std::string::npos);
  CHECK(error.find("re-enrol the device with a new key") != std::string::npos);
  CHECK(hub.stop() == 0);
  // The hub's log says why the tablet closed the session early.
  CHECK(hub.log().find("the peer stopped because its store is behind its own changes held "
                       "here (restored from a backup or copied; restored_peer alert: ") !=
        std::string::npos);
  // The hub quarantined nothing (nothing was sent), says what it saw, and still has the
  // records of before.
  bool hub_saw = false;
  for (const Json& alert : cli.json({"alerts", "--dir", "hub"}).a) {
    CHECK(alert["detail"].s.find("quarantined") == std::string::npos);
    hub_saw = hub_saw || alert["kind"].s == "restored_peer";
  }
  CHECK(hub_saw);
  CHECK(cli.json({"list", "household", "--dir", "hub"}).a.size() == 2);
  // And the tablet's status says so after the sync.
  CHECK(!cli.json({"status", "--dir", "t"})["restored_store"].s.empty());
  CHECK(cli.ok({"status", "--dir", "t"}).find("RESTORED OR COPIED") != std::string::npos);
  // verify, asked whether the store is fit to use, says no.
  RunResult verify = cli.run({"verify", "--dir", "t"});
  CHECK(verify.code == 4);
  CHECK(verify.err.find("is consistent, but must not be written on: ") != std::string::npos);
  CHECK(verify.err.find("restored from a backup or copied") != std::string::npos);
}

}  // namespace birga::test
