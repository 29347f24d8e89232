// The `birga` command line, end to end: the real binary in a temporary directory.
#include <sys/stat.h>

#include <filesystem>

#include "birga/crdt/schema.h"
#include "cli_fixture.h"

namespace birga::test {

namespace {

bool is_hex(const std::string& s, size_t n) {
  return s.size() == n && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// The records of `kind` as JSON objects.
Json list(const Cli& cli, const std::string& dir, const std::string& kind) {
  return cli.json({"list", kind, "--dir", dir});
}

}  // namespace

TEST_CASE("CLI: --help lists every command and the exit codes", "[cli]") {
  Cli cli;
  RunResult r = cli.run({"--help"});
  CHECK(r.code == 0);
  for (const char* c : {"authority init", "init",           "enrol",
                        "cert install",   "household add",  "person add",
                        "visit amend",    "aid reverse",    "case assign-guardian",
                        "resolve",        "conflicts",      "alerts",
                        "status",         "export",         "verify",
                        "import",         "changes export", "aid total",
                        "sync",           "serve"}) {
    CHECK(r.out.find("  " + std::string(c) + " ") != std::string::npos);
  }
  CHECK(r.out.find("4  data problem") != std::string::npos);
  CHECK(r.out.find("7  sync: protocol error") != std::string::npos);
  RunResult help = cli.run({"household", "add", "--help"});
  CHECK(help.code == 0);
  CHECK(help.out.find("--address") != std::string::npos);
  CHECK(cli.run({}).code == 1);
}

// The version is the project's (CMakeLists.txt); the formats it names are the ones this build
// writes: the byte after "BIRGA-REPLICA" in a new store's metadata, after "BGCL" in a change
// file. (The protocol version is checked against a hello in sync_processes_test.cpp.)
TEST_CASE("CLI: --version names the program version and the formats it writes", "[cli]") {
  Cli cli;
  const RunResult r = cli.run({"--version"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.err.empty());
  CHECK(cli.ok({"version"}) == r.line());
  const Json v = cli.json({"--version"});
  CHECK(v["version"].s == BIRGA_PROJECT_VERSION);
  CHECK(r.line() == "birga " BIRGA_PROJECT_VERSION " (store format " +
                        std::to_string(v["store_format"].i) + ", wire protocol " +
                        std::to_string(v["protocol"].i) + ", change files " +
                        std::to_string(v["change_list_format"].i) + ")");
  CHECK(cli.run({"--help"}).out.find("  version ") != std::string::npos);

  cli.ok({"init", "--dir", "a"});
  const std::string store = Cli::slurp(cli.path("a/data.mdb"));
  const size_t at = store.find("BIRGA-REPLICA");
  REQUIRE(at != std::string::npos);
  CHECK(static_cast<uint8_t>(store[at + 13]) == v["store_format"].i);
  cli.ok({"changes", "export", "--dir", "a", "--out", "a.bgcl"});
  const std::string file = Cli::slurp(cli.path("a.bgcl"));
  REQUIRE(file.size() > 4);
  CHECK(file.substr(0, 4) == "BGCL");
  CHECK(static_cast<uint8_t>(file[4]) == v["change_list_format"].i);
}

TEST_CASE("CLI: every option of every command is described", "[cli]") {
  Cli cli;
  size_t checked = 0;
  for (std::vector<std::string> args : cli.commands()) {
    const std::string name = Cli::join(args);
    args.push_back("--help");
    const RunResult help = cli.run(args);
    INFO(name << " --help:\n" << help.out);
    REQUIRE(help.code == 0);
    std::istringstream options(help.out);
    for (std::string opt; std::getline(options, opt);) {
      if (opt.rfind("  --", 0) != 0) continue;
      INFO(opt);
      // "  --flag VALUE" padded to 30 columns, then the description.
      const size_t gap = opt.find("  ", 4);
      const size_t text = gap == std::string::npos ? gap : opt.find_first_not_of(' ', gap);
      REQUIRE(text != std::string::npos);  // a description follows
      CHECK(text >= 30);
      std::istringstream head(opt.substr(0, text));
      size_t words = 0;
      for (std::string w; head >> w;) ++words;
      CHECK(words <= 2);  // "--flag" or "--flag VALUE", nothing of the description
      ++checked;
    }
  }
  CHECK(checked > 100);
}

TEST_CASE("CLI: authority init, init, enrol --device and status", "[cli]") {
  Cli cli;
  const std::string authority = cli.ok({"authority", "init", "--dir", "auth"});
  CHECK(is_hex(authority, 64));
  const std::string device = cli.ok({"init", "--dir", "a"});
  CHECK(is_hex(device, 64));
  CHECK(Cli::slurp(cli.path("a/schema")).find("collection guardianship_case") != std::string::npos);
  cli.ok({"enrol", "--dir", "auth", "--device", "a", "--name", "Dilnoza", "--role", "field",
          "--scope", std::string(kMahalla) + ":rw", "--expires", "2099-12-31"});

  Json st = cli.json({"status", "--dir", "a"});
  CHECK(st["device_key"].s == device);
  CHECK(st["authority"].s == authority);
  CHECK(st["certificate"]["name"].s == "Dilnoza");
  CHECK(st["certificate"]["role"].s == "field");
  CHECK(st["certificate"]["expires"].s == "2099-12-31");
  CHECK(st["certificate"]["scopes"][0]["path"].s == kMahalla);
  CHECK(st["certificate"]["scopes"][0]["rights"].s == "rw");
  CHECK(st["records"]["household"].i == 0);
  CHECK(st["alerts"].i == 0);
  CHECK(st["store_bytes"].i > 0);
  bool holds_key = false;
  for (const Json& s : st["scopes"].a) holds_key |= s["scope"].s == kMahalla && s["key_held"].b;
  CHECK(holds_key);

  // The two-step way: a bundle file carried to the device.
  const std::string key_b = cli.ok({"init", "--dir", "b"});
  cli.ok({"enrol", "--dir", "auth", "--device-key", key_b, "--name", "Bekzod", "--role",
          "supervisor", "--scope", "tashkent/yunusobod:r", "--scope", std::string(kMahalla) + ":rw",
          "--out", "b.bundle"});
  Json installed = cli.json({"cert", "install", "b.bundle", "--dir", "b"});
  CHECK(installed["name"].s == "Bekzod");
  CHECK(installed["scopes"].size() == 2);
  // Two grants, one writable: writes default to it.
  CHECK(is_hex(cli.ok({"household", "add", "--dir", "b", "--address", "x"}), 32));
  Json devices = cli.json({"authority", "devices", "--dir", "auth"});
  CHECK(devices.size() == 2);
  // The plain listing says when each certificate expires.
  const std::string listed = cli.ok({"authority", "devices", "--dir", "auth"});
  CHECK(listed.find("Dilnoza  field  " + std::string(kMahalla) + ":rw  expires 2099-12-31") !=
        std::string::npos);
  CHECK(listed.find("Bekzod  supervisor") != std::string::npos);
}

TEST_CASE("CLI: every write command, read back with list, show and export", "[cli]") {
  Cli cli;
  cli.deploy();
  const std::vector<std::string> a = {"--dir", "a"};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), a.begin(), a.end());
    return args;
  };
  const std::string child =
      cli.ok(with({"person", "add", "--name", "Aziz Karimov", "--pinfl", "12345678901234",
                   "--birth-date", "2015-03-04", "--sex", "male", "--disability", "none"}));
  const std::string mother = cli.ok(with({"person", "add", "--name", "Nodira Karimova"}));
  Json h =
      cli.json(with({"household", "add", "--address", "12 Navoi St, \"Blue gate\"", "--phone",
                     "+998 90 1234567", "--category", "low-income", "--member", child + ":child"}));
  const std::string household = h["id"].s;
  CHECK(is_hex(household, 32));
  CHECK(h["kind"].s == "household");
  CHECK(h["scope"].s == kMahalla);
  CHECK(h["address"].s == "12 Navoi St, \"Blue gate\"");
  CHECK(h["members"][0].s == child + ":child");
  CHECK(h["conflict"].b == false);
  cli.ok(with({"household", "add-member", household, mother + ":mother"}));
  cli.ok(with({"household", "remove-member", household, mother + ":mother"}));
  cli.ok(with({"household", "add-member", household, mother + ":head"}));

  const std::string visit = cli.ok(with({"visit",       "add",
                                         "--household", household,
                                         "--type",      "initial-assessment",
                                         "--date",      "2026-11-20",
                                         "--notes",     "first visit",
                                         "--need",      "food",
                                         "--need",      "school uniform",
                                         "--referral",  "polyclinic",
                                         "--consent",   "yes",
                                         "--present",   child,
                                         "--answers",   "q1=2; q7=yes"}));
  Json v = cli.json(with({"visit", "amend", visit, "--text", "the date was 2026-11-19"}));
  CHECK(v["date"].s == "2026-11-20");
  CHECK(v["consent"].b == true);
  CHECK(v["needs"].size() == 2);
  CHECK(v["referrals"][0].s == "polyclinic");
  CHECK(v["notes"][0]["text"].s == "first visit (by Dilnoza)");  // as every other note
  CHECK(v["notes"][0]["time"].s.size() == 24);
  CHECK(v["amendments"][0]["text"].s == "the date was 2026-11-19 (by Dilnoza)");
  CHECK(v["persons_present"][0].s == child);
  CHECK(v["visitors"][0].s == "Dilnoza");  // this device's worker, when none is named
  CHECK(v["answers"].s == "q1=2; q7=yes");
  RunResult stranger = cli.run(with({"visit", "add", "--household", household, "--type",
                                     "monitoring", "--present", std::string(32, 'f')}));
  CHECK(stranger.code == 2);
  CHECK(stranger.err.find("--present") != std::string::npos);

  Json aid = cli.json(with({"aid",           "add",         "--household",
                            household,       "--value",     "450000",
                            "--entitlement", "ENT-2026-17", "--programme",
                            "winter",        "--item",      "COAL",
                            "--quantity",    "3",           "--unit",
                            "bag",           "--recipient", "Nodira",
                            "--voucher",     "V-1",         "--delivered-at",
                            "2026-11-21",    "--place",     "mahalla centre",
                            "--proof",       "signature",   "--outcome",
                            "delivered",     "--funder",    "district budget"}));
  CHECK(aid["value_soums"].i == 450000);
  CHECK(aid["place"].s == "mahalla centre");
  CHECK(aid["proof"].s == "signature");
  CHECK(aid["outcome"].s == "delivered");
  CHECK(aid["funder"].s == "district budget");
  CHECK(aid["quantity"].i == 3);
  CHECK(aid["delivered_by"].s == "Dilnoza");

  const std::string kase =
      cli.ok(with({"case", "open", "--child", child, "--type", "guardianship"}));
  cli.ok(with({"case", "assign-guardian", kase, "--guardian", "Malika Karimova", "--relation",
               "aunt", "--decision", "D-17/2026"}));
  cli.ok(with({"case", "set-status", kase, "assessment"}));
  Json c = cli.json(with({"case", "note", kase, "met the child at school"}));
  CHECK(c["status"].size() == 1);
  CHECK(c["status"][0].s == "assessment");
  CHECK(c["guardian"][0].s == "Malika Karimova (aunt; decision D-17/2026)");
  CHECK(c["child"].s == child);
  CHECK(c["notes"][0]["text"].s == "met the child at school (by Dilnoza)");
  cli.ok(with({"case", "decision", kase, "D-17/2026: guardianship to the aunt"}));
  c = cli.json(with({"case", "consent", kase, "the child agrees (age 11)"}));
  CHECK(c["decisions"][0]["text"].s == "D-17/2026: guardianship to the aunt (by Dilnoza)");
  CHECK(c["consent"][0]["text"].s == "the child agrees (age 11) (by Dilnoza)");
  CHECK(cli.run(with({"case", "decision", kase, ""})).code == 1);

  SECTION("household set, person set and household note correct what was recorded") {
    Json fixed = cli.json(
        with({"household", "set", household, "--phone", "+998 90 7654321", "--head", mother}));
    CHECK(fixed["phone"].s == "+998 90 7654321");
    CHECK(fixed["head"].s == mother);
    CHECK(fixed["address"].s == "12 Navoi St, \"Blue gate\"");  // untouched
    CHECK(fixed["conflict"].b == false);
    RunResult nothing = cli.run(with({"household", "set", household}));
    CHECK(nothing.code == 1);
    CHECK(nothing.err.find("nothing to change: give one of --address") != std::string::npos);
    CHECK(cli.run(with({"household", "set", household, "--head", std::string(32, 'e')})).code == 2);
    RunResult not_household = cli.run(with({"household", "set", child, "--phone", "1"}));
    CHECK(not_household.code == 1);
    CHECK(not_household.err.find("is a person, not a household") != std::string::npos);
    Json p = cli.json(with({"person", "set", child, "--birth-date", "2015-03-05"}));
    CHECK(p["birth_date"].s == "2015-03-05");
    CHECK(p["name_latin"].s == "Aziz Karimov");
    CHECK(cli.run(with({"person", "set", child, "--pinfl", "123"})).code == 1);
    Json noted = cli.json(with({"household", "note", household, "moved to the back house"}));
    CHECK(noted["notes"][0]["text"].s == "moved to the back house (by Dilnoza)");
  }

  SECTION("list and --where") {
    CHECK(list(cli, "a", "person").size() == 2);
    Json found = cli.json(with({"list", "person", "--where", "pinfl=12345678901234"}));
    REQUIRE(found.size() == 1);
    CHECK(found[0]["id"].s == child);
    CHECK(found[0]["name_latin"].s == "Aziz Karimov");
    CHECK(cli.json(with({"list", "person", "--where", "sex=male"})).size() == 1);
    CHECK(cli.json(with({"list", "visit", "--where", "household=" + household})).size() == 1);
    Json hh = list(cli, "a", "household");
    REQUIRE(hh.size() == 1);
    CHECK(hh[0]["members"].size() == 2);  // child, and the mother as head
    CHECK(cli.json(with({"list", "case"}))[0]["id"].s == kase);
  }
  SECTION("show, as text and JSON") {
    RunResult shown = cli.run(with({"show", kase}));
    CHECK(shown.code == 0);
    CHECK(shown.out.find("guardianship_case " + kase) != std::string::npos);
    CHECK(shown.out.find("status: assessment") != std::string::npos);
    Json p = cli.json(with({"show", child}));
    CHECK(p["kind"].s == "person");
    CHECK(p["birth_date"].s == "2015-03-04");
    CHECK(p["household"].is_null());
  }
  SECTION("export as CSV and JSON") {
    const std::string csv = cli.ok(with({"export", "household", "--format", "csv"}));
    CHECK(csv.rfind("id,scope,address,head,members,notes,phone,register_category,resolutions\r\n",
                    0) == 0);
    CHECK(csv.find(household + "," + kMahalla + ",\"12 Navoi St, \"\"Blue gate\"\"\",") !=
          std::string::npos);
    Json exported = Json::parse(cli.ok(with({"export", "aid", "--format", "json"})));
    REQUIRE(exported.size() == 1);
    CHECK(exported[0]["entitlement"].s == "ENT-2026-17");
    cli.ok(with({"export", "visit", "--out", "visits.csv"}));
    CHECK(Cli::slurp(cli.path("visits.csv")).find(visit) != std::string::npos);
  }
  SECTION("a removed member raises a review alert") {
    Json alerts = cli.json(with({"alerts"}));
    REQUIRE(alerts.size() == 1);
    CHECK(alerts[0]["kind"].s == "removed_member");
    CHECK(alerts[0]["detail"].s.find(mother + ":mother") != std::string::npos);
  }
  CHECK(cli.run(with({"verify"})).code == 0);
}

// Exports hold personal data in plain text; bundles, change files and the control log hold
// changes and sealed keys. With the common umask 022 they would be readable by every user.
TEST_CASE("CLI: every file a command writes is readable by its owner only (0600)", "[cli]") {
  Cli cli;
  const mode_t old_umask = ::umask(022);  // the children inherit it
  cli.deploy();
  const std::string key_b = cli.ok({"init", "--dir", "b"});
  cli.ok({"enrol", "--dir", "auth", "--device-key", key_b, "--name", "Bekzod", "--role", "field",
          "--scope", std::string(kMahalla) + ":rw", "--out", "b.bundle"});
  cli.ok({"person", "add", "--dir", "a", "--name", "Aziz", "--pinfl", "12345678901234"});
  std::ofstream(cli.path("persons.csv")) << "an older export\n";
  REQUIRE(::chmod(cli.path("persons.csv").c_str(), 0644) == 0);  // replaced, not kept
  cli.ok({"export", "person", "--dir", "a", "--out", "persons.csv"});
  cli.ok({"changes", "export", "--dir", "a", "--scope", kMahalla, "--out", "a.changes"});
  cli.ok({"authority", "export", "--dir", "auth", "--out", "control.log"});
  cli.ok({"authority", "revoke", "--dir", "auth", "--device-key", key_b, "--reason", "lost",
          "--out", "revoke.log"});
  ::umask(old_umask);
  CHECK(Cli::slurp(cli.path("persons.csv")).find("12345678901234") != std::string::npos);
  for (const char* file :
       {"b.bundle", "persons.csv", "a.changes", "control.log", "revoke.log", "a/schema"}) {
    struct stat st {};
    INFO(file);
    REQUIRE(::stat(cli.path(file).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
}

TEST_CASE("CLI: a double delivery raises over_issuance, and a reversal corrects the total",
          "[cli]") {
  Cli cli;
  cli.deploy();
  const std::string h = cli.ok({"household", "add", "--dir", "a", "--address", "1 Bobur St"});
  auto deliver = [&](const std::string& value, const std::string& ent) {
    return cli.run(
        {"aid", "add", "--dir", "a", "--household", h, "--value", value, "--entitlement", ent});
  };
  const std::string first = deliver("200000", "ENT-1").line();
  CHECK(cli.json({"alerts", "--dir", "a"}).size() == 0);
  RunResult second = deliver("200000", "ENT-1");
  REQUIRE(second.code == 0);
  CHECK(second.err.find("also named by aid_delivery " + first) != std::string::npos);
  deliver("50000", "ENT-2");

  Json alerts = cli.json({"alerts", "--dir", "a"});
  REQUIRE(alerts.size() == 1);
  CHECK(alerts[0]["kind"].s == "over_issuance");
  CHECK(alerts[0]["detail"].s.find("'ENT-1'") != std::string::npos);
  CHECK(alerts[0]["detail"].s.find(first) != std::string::npos);
  CHECK(cli.json({"status", "--dir", "a"})["alerts"].i == 1);
  CHECK(cli.ok({"aid", "total", "--dir", "a", "--household", h}) == "450000");

  // A reviewed alert is acknowledged with a note; it leaves the open list, not the store.
  CHECK(cli.run({"alerts", "ack", "--dir", "a", "1"}).code == 1);  // no --note
  CHECK(cli.run({"alerts", "ack", "--dir", "a", "7", "--note", "x"}).code == 2);
  Json acked = cli.json({"alerts", "ack", "--dir", "a", "1", "--note", "second voucher cancelled"});
  CHECK(acked["position"].i == 1);
  CHECK(acked["acknowledgement"].s.rfind("second voucher cancelled (by ", 0) == 0);
  CHECK(acked["acknowledged_ms"].i > 0);
  CHECK(cli.json({"alerts", "--dir", "a"}).size() == 0);
  CHECK(cli.ok({"alerts", "--dir", "a"}).find("1 acknowledged not shown") != std::string::npos);
  Json all = cli.json({"alerts", "--dir", "a", "--all"});
  REQUIRE(all.size() == 1);
  CHECK(all[0]["kind"].s == "over_issuance");
  CHECK(all[0]["acknowledgement"].s == acked["acknowledgement"].s);
  CHECK(cli.ok({"alerts", "--dir", "a", "--all"}).find("[acknowledged ") != std::string::npos);
  Json st = cli.json({"status", "--dir", "a"});
  CHECK(st["alerts"].i == 0);
  CHECK(st["alerts_acknowledged"].i == 1);
  RunResult two_lines = cli.run({"alerts", "ack", "--dir", "a", "1", "--note", "a\nb"});
  CHECK(two_lines.code == 1);
  CHECK(two_lines.err.find("--note must be one line") != std::string::npos);
  RunResult twice = cli.run({"alerts", "ack", "--dir", "a", "1", "--note", "again"});
  CHECK(twice.code == 1);
  CHECK(twice.err.find("already acknowledged: second voucher cancelled") != std::string::npos);

  Json reversal =
      cli.json({"aid", "reverse", "--dir", "a", second.line(), "--reason", "issued twice"});
  CHECK(reversal["reverses"].s == second.line());
  CHECK(reversal["value_soums"].i == -200000);
  CHECK(reversal["household"].s == h);
  CHECK(reversal["outcome"].s == "reversal: issued twice");
  Json total = cli.json({"aid", "total", "--dir", "a", "--household", h});
  CHECK(total["total_soums"].i == 250000);
  CHECK(total["deliveries"].i == 3);
  CHECK(total["reversals"].i == 1);
  // The original is never modified, and a delivery is reversed once.
  CHECK(cli.json({"show", "--dir", "a", second.line()})["value_soums"].i == 200000);
  RunResult again = cli.run({"aid", "reverse", "--dir", "a", second.line(), "--reason", "x"});
  CHECK(again.code == 1);
  CHECK(again.err.find("already reversed by " + reversal["id"].s) != std::string::npos);
  RunResult of_reversal =
      cli.run({"aid", "reverse", "--dir", "a", reversal["id"].s, "--reason", "x"});
  CHECK(of_reversal.code == 1);
  CHECK(of_reversal.err.find("is itself a reversal") != std::string::npos);

  // `list` shows what tells deliveries apart: the value, and what a reversal reverses.
  const std::string listed = cli.ok({"list", "aid", "--dir", "a"});
  for (const std::string& id : {first, second.line(), reversal["id"].s}) {
    CHECK(listed.find(id) != std::string::npos);
  }
  CHECK(listed.find("value_soums=200000") != std::string::npos);
  CHECK(listed.find("value_soums=50000") != std::string::npos);
  CHECK(listed.find("value_soums=-200000") != std::string::npos);
  CHECK(listed.find("reverses=" + second.line()) != std::string::npos);
}

// Two tablets apart each reverse the same delivery: once they meet, both reversals are kept
// (nothing is lost), the delivery is taken back once in every total, and an alert names both.
TEST_CASE("CLI: two reversals of one delivery made apart are counted once and raise an alert",
          "[cli]") {
  Cli cli;
  cli.deploy();
  cli.add_device("b", "Bekzod");
  cli.ok({"authority", "export", "--dir", "auth", "--out", "control.log"});
  for (const char* dir : {"a", "b"}) cli.ok({"import", "control.log", "--dir", dir});
  const std::string h = cli.ok({"household", "add", "--dir", "a", "--address", "1 Bobur St"});
  const std::string d = cli.ok({"aid", "add", "--dir", "a", "--household", h, "--value", "100000",
                                "--entitlement", "ENT-1"});
  cli.ok({"aid", "add", "--dir", "a", "--household", h, "--value", "400000", "--entitlement",
          "ENT-2"});
  cli.ok({"changes", "export", "--dir", "a", "--scope", kMahalla, "--out", "a1.bgcl"});
  cli.ok({"import", "a1.bgcl", "--dir", "b"});
  const std::string ra = cli.ok({"aid", "reverse", "--dir", "a", d, "--reason", "wrong family"});
  const std::string rb = cli.ok({"aid", "reverse", "--dir", "b", d, "--reason", "not received"});
  cli.ok({"changes", "export", "--dir", "a", "--scope", kMahalla, "--out", "a2.bgcl"});
  cli.ok({"changes", "export", "--dir", "b", "--scope", kMahalla, "--out", "b2.bgcl"});
  cli.ok({"import", "b2.bgcl", "--dir", "a"});
  cli.ok({"import", "a2.bgcl", "--dir", "b"});
  for (const char* dir : {"a", "b"}) {
    INFO(dir);
    RunResult text = cli.run({"aid", "total", "--dir", dir, "--household", h});
    REQUIRE(text.code == 0);
    CHECK(text.line() == "400000");
    CHECK(text.err.find("1 reversal(s) not counted") != std::string::npos);
    Json total = cli.json({"aid", "total", "--dir", dir, "--household", h});
    CHECK(total["total_soums"].i == 400000);
    CHECK(total["deliveries"].i == 2);
    CHECK(total["reversals"].i == 1);
    CHECK(total["reversals_not_counted"].i == 1);
    // Both reversals are kept.
    CHECK(cli.json({"list", "aid", "--dir", dir, "--where", "reverses=" + d}).size() == 2);
    Json alerts = cli.json({"alerts", "--dir", dir});
    REQUIRE(alerts.size() == 1);
    CHECK(alerts[0]["kind"].s == "over_issuance");
    CHECK(alerts[0]["detail"].s.find("reverses '" + d + "'") != std::string::npos);
    CHECK(alerts[0]["detail"].s.find(ra) != std::string::npos);
    CHECK(alerts[0]["detail"].s.find(rb) != std::string::npos);
  }
}

TEST_CASE("CLI: a change file cut short imports the changes before the cut", "[cli]") {
  Cli cli;
  cli.deploy();
  cli.add_device("b", "Bekzod");
  cli.ok({"person", "add", "--dir", "a", "--name", "Aziz"});
  cli.ok({"household", "add", "--dir", "a", "--address", "1 Bobur St"});
  cli.ok({"household", "add", "--dir", "a", "--address", "2 Bobur St"});
  cli.ok({"changes", "export", "--dir", "a", "--scope", kMahalla, "--out", "all.bgcl"});
  const std::string all = Cli::slurp(cli.path("all.bgcl"));
  std::ofstream(cli.path("cut.bgcl"), std::ios::binary) << all.substr(0, all.size() - 7);

  RunResult r = cli.run({"import", "cut.bgcl", "--dir", "b"});
  INFO("stderr: " << r.err);
  CHECK(r.code == 1);
  CHECK(r.err.find("cut.bgcl: change list: change 3 of 3 is truncated; the 2 complete changes "
                   "before it were imported") != std::string::npos);
  CHECK(r.out.find("imported 2 changes: 2 applied") != std::string::npos);
  CHECK(cli.json({"status", "--dir", "b"})["records"]["person"].i == 1);
  CHECK(cli.json({"status", "--dir", "b"})["records"]["household"].i == 1);
  // The whole file, copied again, brings the rest.
  Json again = cli.json({"import", "all.bgcl", "--dir", "b"});
  CHECK(again["applied"].i == 1);
  CHECK(again["duplicates"].i == 2);
  CHECK(cli.json({"status", "--dir", "b"})["records"]["household"].i == 2);
  CHECK(cli.run({"verify", "--dir", "b"}).code == 0);
}

TEST_CASE("CLI: concurrent case writes on two replicas conflict until resolved", "[cli]") {
  Cli cli;
  cli.deploy();
  cli.add_device("b", "Bekzod");
  const std::string child = cli.ok({"person", "add", "--dir", "a", "--name", "Aziz"});
  const std::string kase =
      cli.ok({"case", "open", "--dir", "a", "--child", child, "--type", "foster-care"});
  cli.ok({"changes", "export", "--dir", "a", "--scope", kMahalla, "--out", "a1.bgcl"});
  Json imported = cli.json({"import", "a1.bgcl", "--dir", "b"});
  CHECK(imported["applied"].i == 2);
  CHECK(cli.json({"show", "--dir", "b", kase})["status"][0].s == "identification");

  // Both move the case while apart, then exchange everything.
  cli.ok({"case", "set-status", "--dir", "a", kase, "placement"});
  cli.ok({"case", "assign-guardian", "--dir", "a", kase, "--guardian", "Malika"});
  cli.ok({"case", "set-status", "--dir", "b", kase, "monitoring"});
  cli.ok({"case", "assign-guardian", "--dir", "b", kase, "--guardian", "Rustam"});
  cli.ok({"changes", "export", "--dir", "a", "--out", "a2.bgcl"});
  cli.ok({"changes", "export", "--dir", "b", "--out", "b2.bgcl"});
  cli.ok({"import", "b2.bgcl", "--dir", "a"});
  cli.ok({"import", "a2.bgcl", "--dir", "b"});

  for (const char* dir : {"a", "b"}) {
    Json conflicts = cli.json({"conflicts", "--dir", dir});
    REQUIRE(conflicts.size() == 1);
    CHECK(conflicts[0]["id"].s == kase);
    CHECK(conflicts[0]["conflict"].b);
    CHECK(conflicts[0]["status"].size() == 2);
    CHECK(conflicts[0]["conflicts"]["status"].size() == 2);
    CHECK(conflicts[0]["conflicts"]["guardian"].size() == 2);
  }
  RunResult shown = cli.run({"show", "--dir", "b", kase});
  CHECK(shown.out.find("status: CONFLICT, 2 values") != std::string::npos);

  Json resolved = cli.json(
      {"resolve", "--dir", "b", kase, "status", "placement", "--reason", "court decision 17"});
  CHECK(resolved["status"].size() == 1);
  CHECK(resolved["status"][0].s == "placement");
  CHECK(resolved["resolutions"][0]["text"].s == "status=placement: court decision 17 (by Bekzod)");
  CHECK(resolved["conflict"].b);  // guardian still waits
  RunResult twice =
      cli.run({"resolve", "--dir", "b", kase, "status", "placement", "--reason", "again"});
  CHECK(twice.code == 1);
  CHECK(twice.err.find("not in conflict") != std::string::npos);
  RunResult bad_value = cli.run({"resolve", "--dir", "b", kase, "guardian", "", "--reason", "x"});
  CHECK(bad_value.code == 1);
  cli.ok({"resolve", "--dir", "b", kase, "guardian", "Malika (aunt)", "--reason", "decision"});
  CHECK(cli.json({"conflicts", "--dir", "b"}).size() == 0);

  // A household's fields are flagged: two corrections made apart are both kept for review.
  const std::string h = cli.ok({"household", "add", "--dir", "a", "--address", "3 Chilonzor"});
  cli.ok({"changes", "export", "--dir", "a", "--out", "a3.bgcl"});
  cli.ok({"import", "a3.bgcl", "--dir", "b"});
  cli.ok({"household", "set", "--dir", "a", h, "--phone", "+998 90 1111111"});
  cli.ok({"household", "set", "--dir", "b", h, "--phone", "+998 90 2222222"});
  cli.ok({"changes", "export", "--dir", "b", "--out", "b4.bgcl"});
  cli.ok({"import", "b4.bgcl", "--dir", "a"});
  Json household = cli.json({"show", "--dir", "a", h});
  CHECK(household["conflict"].b);
  CHECK(household["conflicts"]["phone"].size() == 2);
  cli.ok({"resolve", "--dir", "a", h, "phone", "+998 90 2222222", "--reason", "called both"});
  Json settled = cli.json({"show", "--dir", "a", h});
  CHECK(settled["conflict"].b == false);
  // The reason is kept for a household as for a case: the supervisor's audit trail.
  REQUIRE(settled["resolutions"].size() == 1);
  CHECK(settled["resolutions"][0]["text"].s == "phone=+998 90 2222222: called both (by Dilnoza)");
  CHECK(cli.ok({"show", "--dir", "a", h}).find("phone=+998 90 2222222: called both (by Dilnoza)") !=
        std::string::npos);

  // The resolution is a change like any other: it settles replica a too.
  cli.ok({"changes", "export", "--dir", "b", "--out", "b3.bgcl"});
  cli.ok({"import", "b3.bgcl", "--dir", "a"});
  CHECK(cli.json({"conflicts", "--dir", "a"}).size() == 0);
  CHECK(cli.json({"show", "--dir", "a", kase})["guardian"][0].s == "Malika (aunt)");
  CHECK(cli.run({"verify", "--dir", "a"}).code == 0);
}

// resolve requires a reason for any field that keeps concurrent values, so the kinds holding
// one must keep it: a schema edit that adds a flagged field to a new kind is caught here.
TEST_CASE("CLI: every kind of the built-in schema that can conflict keeps resolutions", "[cli]") {
  Cli cli;
  cli.ok({"init", "--dir", "a"});
  auto schema = crdt::Schema::parse(Cli::slurp(cli.path("a/schema")));
  REQUIRE(schema.is_ok());
  size_t kinds = 0;
  for (const auto& [name, spec] : schema->collections()) {
    bool can_conflict = false;
    for (const auto& [field, f] : spec.fields) {
      can_conflict |= f.storage_kind() == crdt::FieldKind::kMv;
    }
    if (!can_conflict) continue;
    INFO(name);
    const crdt::FieldSpec* log = schema->field(name, "resolutions");
    REQUIRE(log != nullptr);
    CHECK(log->kind == crdt::FieldKind::kLog);
    ++kinds;
  }
  CHECK(kinds == 3);  // household, person, guardianship_case
}

TEST_CASE("CLI: revocation and the control log travel as change files", "[cli]") {
  Cli cli;
  cli.deploy();
  cli.add_device("b", "Bekzod");
  const std::string key_b = cli.json({"status", "--dir", "b"})["device_key"].s;
  Json rev = cli.json({"authority", "revoke", "--dir", "auth", "--device-key", key_b, "--reason",
                       "tablet lost", "--out", "revoke.bgcl"});
  CHECK(rev["changes"].i >= 1);
  CHECK(cli.json({"import", "revoke.bgcl", "--dir", "a"})["refused"].size() == 0);
  bool revoked = false;
  for (const Json& d : cli.json({"authority", "devices", "--dir", "auth"}).a) {
    revoked |= d["device_key"].s == key_b && d["revoked"].b;
  }
  CHECK(revoked);
  CHECK(cli.run({"authority", "devices", "--dir", "auth"}).out.find("REVOKED") !=
        std::string::npos);
  // The revoked device learns it, says so in its status, and stops writing.
  CHECK(cli.json({"status", "--dir", "b"})["revoked_ms"].is_null());
  CHECK(cli.run({"status", "--dir", "b"}).out.find("REVOKED") == std::string::npos);
  cli.ok({"import", "revoke.bgcl", "--dir", "b"});
  CHECK(cli.json({"status", "--dir", "b"})["revoked_ms"].i > 0);
  CHECK(cli.json({"status", "--dir", "a"})["revoked_ms"].is_null());  // a's own status
  CHECK(cli.run({"status", "--dir", "b"}).out.find("  REVOKED on ") != std::string::npos);
  RunResult refused = cli.run({"household", "add", "--dir", "b", "--address", "x"});
  CHECK(refused.code == 3);
  CHECK(refused.err.find("was revoked") != std::string::npos);

  // A hub learns the deployment from the whole control log.
  cli.ok({"authority", "export", "--dir", "auth", "--out", "control.bgcl"});
  cli.ok({"init", "--dir", "hub"});
  Json report = cli.json({"import", "control.bgcl", "--dir", "hub"});
  CHECK(report["changes"].i == rev["changes"].i + 2);
  CHECK(report["refused"].size() == 0);
}

// A node keeps, from a file as from a sync, only the scopes its certificate lets it receive: a
// tablet of another mahalla, or a replica not yet enrolled, refuses the data changes (and says
// why) but keeps the control changes.
TEST_CASE("CLI: import refuses the changes of scopes the replica may not receive", "[cli]") {
  Cli cli;
  cli.deploy();
  cli.ok({"household", "add", "--dir", "a", "--address", "Yunusobod 4-17"});
  cli.ok({"changes", "export", "--dir", "a", "--out", "all.bgcl"});
  const Json exported = cli.json(
      {"changes", "export", "--dir", "a", "--scope", std::string(kMahalla), "--out", "data.bgcl"});
  const int64_t total = exported["changes"].i;
  REQUIRE(total >= 1);

  cli.ok({"init", "--dir", "other"});
  cli.ok({"enrol", "--dir", "auth", "--device", "other", "--name", "Kamola", "--role", "field",
          "--scope", "tashkent/yunusobod/m0977:rw"});
  RunResult other = cli.run({"import", "all.bgcl", "--dir", "other", "--json"});
  INFO("stdout: " << other.out << " stderr: " << other.err);
  CHECK(other.code == 1);  // some were refused, the others kept
  Json report = Json::parse(other.line());
  CHECK(report["refused"].size() == static_cast<size_t>(total));
  CHECK(report["sealed_only"].i == 0);
  CHECK(report["refused"][0].s.find("grants neither read nor relay") != std::string::npos);
  const Json status = cli.json({"status", "--dir", "other"});
  for (const Json& scope : status["scopes"].a) CHECK(scope["scope"].s != kMahalla);

  cli.ok({"init", "--dir", "blank"});
  RunResult blank = cli.run({"import", "all.bgcl", "--dir", "blank"});
  CHECK(blank.code == 1);
  CHECK(blank.err.find("not enrolled") != std::string::npos);
  CHECK(blank.out.find(std::to_string(total) + " refused") != std::string::npos);

  // The hub's grant covers the mahalla: it keeps them all.
  cli.ok({"init", "--dir", "hub"});
  cli.ok({"enrol", "--dir", "auth", "--device", "hub", "--name", "Hub", "--role", "hub", "--scope",
          "tashkent/yunusobod:r+relay"});
  Json hub = cli.json({"import", "data.bgcl", "--dir", "hub"});
  CHECK(hub["refused"].size() == 0);
  CHECK(hub["applied"].i == total);
}

// A revocation imported where the control changes before it are missing waits, and is not in
// force: import says so (and what to do), status shows it, and the counts add up.
TEST_CASE("CLI: import warns of changes left waiting and counts each change once", "[cli]") {
  Cli cli;
  cli.deploy();
  cli.add_device("b", "Bekzod");
  const std::string key_b = cli.json({"status", "--dir", "b"})["device_key"].s;
  const Json rev = cli.json({"authority", "revoke", "--dir", "auth", "--device-key", key_b,
                             "--reason", "tablet lost", "--out", "revoke.bgcl"});
  const int64_t n = rev["changes"].i;
  REQUIRE(n >= 1);
  cli.ok({"init", "--dir", "hub"});

  RunResult first = cli.run({"import", "revoke.bgcl", "--dir", "hub"});
  INFO("stderr: " << first.err);
  CHECK(first.code == 0);  // the import worked; what it brought is not in force yet
  CHECK(first.out.find("0 applied, 0 already held, " + std::to_string(n) +
                       " waiting for earlier changes") != std::string::npos);
  CHECK(first.err.find("NOT in force yet") != std::string::npos);
  CHECK(first.err.find("in scope '_control' waits for its change 1 (this replica holds none of "
                       "its changes)") != std::string::npos);
  CHECK(first.err.find("`birga authority export --dir ADIR --out FILE`") != std::string::npos);
  CHECK(cli.json({"status", "--dir", "hub"})["pending"].i == n);
  CHECK(cli.ok({"status", "--dir", "hub"})
            .find("pending:     " + std::to_string(n) +
                  " change(s) waiting for earlier changes, not in "
                  "force") != std::string::npos);

  // Again: still waiting, so pending, not "already held".
  Json again = cli.json({"import", "revoke.bgcl", "--dir", "hub"});
  CHECK(again["pending"].i == n);
  CHECK(again["duplicates"].i == 0);
  CHECK(again["waiting"].size() == static_cast<size_t>(n));

  // The whole control log lets them in: each change of the file counted once, as applied.
  cli.ok({"authority", "export", "--dir", "auth", "--out", "control.bgcl"});
  RunResult whole = cli.run({"import", "control.bgcl", "--dir", "hub", "--json"});
  CHECK(whole.code == 0);
  CHECK(whole.err.empty());
  Json report = Json::parse(whole.line());
  CHECK(report["changes"].i == n + 2);
  // The hub holds no control key (it is not enrolled): kept sealed rather than applied.
  CHECK(report["applied"].i + report["sealed_only"].i == n + 2);
  CHECK(report["duplicates"].i == 0);
  CHECK(report["pending"].i == 0);
  CHECK(report["released"].i == 0);
  Json st = cli.json({"status", "--dir", "hub"});
  CHECK(st["pending"].i == 0);
  CHECK(st["quarantined"].i == 0);
  // Imported once more, all of it is held: as many as were read.
  Json held = cli.json({"import", "control.bgcl", "--dir", "hub"});
  CHECK(held["duplicates"].i == n + 2);
  CHECK(held["applied"].i + held["sealed_only"].i == 0);
}

// An authority restored from a copy made before an enrolment and a revocation learns them from
// the hub's control log, and its next enrolment follows the hub's log instead of forking it.
TEST_CASE("CLI: authority catch-up brings a restored copy up to date from a hub", "[cli]") {
  Cli cli;
  cli.ok({"authority", "init", "--dir", "auth"});
  cli.ok({"init", "--dir", "hub"});
  cli.ok({"enrol", "--dir", "auth", "--device", "hub", "--name", "hub", "--role", "hub", "--scope",
          "tashkent/yunusobod:r+relay"});
  std::filesystem::copy(cli.path("auth"), cli.path("auth-backup"));
  cli.add_device("a", "Dilnoza");
  cli.add_device("b", "Bekzod");
  const std::string key_b = cli.json({"status", "--dir", "b"})["device_key"].s;
  cli.ok({"authority", "revoke", "--dir", "auth", "--device-key", key_b, "--reason", "lost",
          "--out", "revoke.bgcl"});
  cli.ok({"authority", "export", "--dir", "auth", "--out", "control.bgcl"});
  cli.ok({"import", "control.bgcl", "--dir", "hub"});
  cli.ok({"changes", "export", "--dir", "hub", "--scope", "_control", "--out", "hub.bgcl"});

  RunResult missing = cli.run({"authority", "catch-up", "missing.bgcl", "--dir", "auth-backup"});
  CHECK(missing.code == 2);
  Json done = cli.json({"authority", "catch-up", "hub.bgcl", "--dir", "auth-backup", "--json"});
  CHECK(done["held"].i == 1);
  CHECK(done["adopted"].i == 3);
  CHECK(done["certificates"].i == 2);
  CHECK(done["revocations"].i == 1);
  CHECK(cli.ok({"authority", "devices", "--dir", "auth-backup"}) ==
        cli.ok({"authority", "devices", "--dir", "auth"}));
  CHECK(cli.ok({"authority", "catch-up", "hub.bgcl", "--dir", "auth-backup"})
            .find("adopted 0 control changes (4 already held") != std::string::npos);

  // The copy enrols a new tablet; the hub takes its control change.
  cli.ok({"init", "--dir", "c"});
  const std::string key_c = cli.json({"status", "--dir", "c"})["device_key"].s;
  cli.ok({"enrol", "--dir", "auth-backup", "--device-key", key_c, "--name", "Chori", "--role",
          "field", "--scope", std::string(kMahalla) + ":rw", "--out", "c.bgeb"});
  cli.ok({"cert", "install", "c.bgeb", "--dir", "c"});
  cli.ok({"changes", "export", "--dir", "c", "--scope", "_control", "--out", "c-control.bgcl"});
  Json taken = cli.json({"import", "c-control.bgcl", "--dir", "hub"});
  CHECK(taken["quarantined"].i == 0);
  CHECK(taken["refused"].size() == 0);
  CHECK(taken["applied"].i + taken["sealed_only"].i == 1);

  // Had the original authority issued a change 5 of its own meanwhile, the two would have
  // forked: catch-up says so and changes nothing.
  cli.add_device("d", "Dildora");
  const std::string before = cli.ok({"authority", "devices", "--dir", "auth"});
  RunResult forked = cli.run({"authority", "catch-up", "c-control.bgcl", "--dir", "auth"});
  INFO("stderr: " << forked.err);
  CHECK(forked.code == 4);
  CHECK(forked.err.find("control change 5 in the file differs from the one this authority "
                        "holds") != std::string::npos);
  CHECK(cli.ok({"authority", "devices", "--dir", "auth"}) == before);
}

TEST_CASE("CLI: sync and serve refuse clearly what they cannot do", "[cli][sync]") {
  Cli cli;
  cli.ok({"init", "--dir", "t"});
  // Not enrolled: serving is refused (exit 3) before anything listens.
  RunResult serve = cli.run({"serve", "--dir", "t", "--listen", "127.0.0.1:0"});
  CHECK(serve.code == 3);
  CHECK(serve.err.find("not enrolled") != std::string::npos);
  // Nobody listens on a closed port: unreachable (exit 5).
  cli.ok({"authority", "init", "--dir", "auth"});
  cli.ok({"enrol", "--dir", "auth", "--device", "t", "--name", "t", "--role", "field", "--scope",
          "tashkent/yunusobod/m0421:rw"});
  RunResult sync = cli.run({"sync", "127.0.0.1:1", "--dir", "t", "--timeout", "2"});
  CHECK(sync.code == 5);
  CHECK(sync.err.find("127.0.0.1:1") != std::string::npos);
  RunResult bad = cli.run({"sync", "no-port-here", "--dir", "t"});
  CHECK(bad.code == 1);
  CHECK(bad.err.find("ADDRESS:PORT") != std::string::npos);
  // The command is named once, though the transport names the operation too. (192.0.2.1 is
  // TEST-NET-1: no machine's own address.)
  RunResult host = cli.run({"serve", "--dir", "t", "--listen", "192.0.2.1:7400"});
  CHECK(host.code == 1);
  CHECK(Catch::startsWith(host.err, "birga serve: cannot listen on 192.0.2.1:7400: "));
}

// The passphrase a command reads first is the one its help names first: init with only
// $BIRGA_DEVICE_PASSPHRASE set works, so its help must not say $BIRGA_PASSPHRASE alone.
TEST_CASE("CLI: every help naming $BIRGA_PASSPHRASE names the variable read before it", "[cli]") {
  Cli cli;
  size_t mentions = 0;
  for (std::vector<std::string> args : cli.commands()) {
    args.push_back("--help");
    std::string help = cli.run(args).out;
    for (char& c : help) c = c == '\n' ? ' ' : c;  // the help is wrapped
    std::string flat;
    for (char c : help) {
      if (!(c == ' ' && !flat.empty() && flat.back() == ' ')) flat += c;
    }
    INFO(Cli::join(args) << ":\n" << flat);
    for (size_t at = flat.find("$BIRGA_PASSPHRASE"); at != std::string::npos;
         at = flat.find("$BIRGA_PASSPHRASE", at + 1)) {
      const std::string before = flat.substr(0, at);
      CHECK((Catch::endsWith(before, "$BIRGA_DEVICE_PASSPHRASE, else ") ||
             Catch::endsWith(before, "$BIRGA_AUTHORITY_PASSPHRASE, else ")));
      ++mentions;
    }
  }
  CHECK(mentions >= 6);
  // What init's help says is what it does.
  cli.ok({"init", "--dir", "a"},
         {{"BIRGA_PASSPHRASE", std::nullopt}, {"BIRGA_DEVICE_PASSPHRASE", "device passphrase"}});
}

// A supervisor's first write in a mahalla nobody is enrolled in: the error says what to do, and
// doing it works.
TEST_CASE("CLI: a write without the scope's key says how the key is created and delivered",
          "[cli]") {
  Cli cli;
  cli.ok({"authority", "init", "--dir", "auth"});
  cli.ok({"init", "--dir", "sup"});
  const std::string district = "tashkent/yunusobod";
  const std::string fresh = district + "/m0500";
  cli.ok({"enrol", "--dir", "auth", "--device", "sup", "--name", "Malika", "--role", "supervisor",
          "--scope", district + ":rw"});
  RunResult r = cli.run({"household", "add", "--dir", "sup", "--address", "x", "--scope", fresh});
  INFO("stderr: " << r.err);
  CHECK(r.code == 3);
  CHECK(r.err.find("holds no data key for scope '" + fresh + "'") != std::string::npos);
  CHECK(r.err.find("enrols a device with write on exactly '" + fresh + "'") != std::string::npos);
  CHECK(r.err.find("`birga import` of the authority's control log") != std::string::npos);
  CHECK(r.err.find("with `--scope " + fresh + ":rw` added to its grants") != std::string::npos);
  cli.ok({"enrol", "--dir", "auth", "--device", "sup", "--name", "Malika", "--role", "supervisor",
          "--scope", district + ":rw", "--scope", fresh + ":rw"});
  cli.ok({"household", "add", "--dir", "sup", "--address", "x", "--scope", fresh});
}

TEST_CASE("CLI: init --schema copies the schema, which every command reads", "[cli]") {
  Cli cli;
  std::ofstream(cli.path("small.schema")) << "schema 2\n"
                                          << "collection household\n"
                                          << "  field address lww text flagged required\n"
                                          << "  field water_source lww text\n"
                                          << "  field members set text flag-removals\n"
                                          << "collection visit\n"
                                          << "  field household lww text indexed required\n"
                                          << "  field visit_type lww text required\n"
                                          << "  field date lww text required\n";
  cli.ok({"authority", "init", "--dir", "auth"});
  cli.ok({"init", "--dir", "a", "--schema", "small.schema"});
  cli.ok({"enrol", "--dir", "auth", "--device", "a", "--name", "D", "--role", "field", "--scope",
          std::string(kMahalla) + ":rw"});
  CHECK(cli.json({"status", "--dir", "a"})["schema_version"].i == 2);
  Json h = cli.json({"household", "add", "--dir", "a", "--address", "x"});
  CHECK(h["water_source"].is_null());
  CHECK(!h.has("phone"));
  // A schema without `visitors`: visit add records no default visitor, and works.
  Json v =
      cli.json({"visit", "add", "--dir", "a", "--household", h["id"].s, "--type", "monitoring"});
  CHECK(!v.has("visitors"));
  // A query may name a future date (to find mistyped years); a write may not.
  CHECK(cli.json({"list", "visit", "--dir", "a", "--where", "date=2206-11-20"}).size() == 0);
  RunResult person = cli.run({"person", "add", "--dir", "a", "--name", "x"});
  CHECK(person.code == 1);
  CHECK(person.err.find("'person'") != std::string::npos);

  // This schema keeps no `resolutions` for households (as version 1 of the mahalla schema):
  // resolve refuses rather than drop the reason it requires.
  RunResult unkept = cli.run(
      {"resolve", "--dir", "a", h["id"].s, "address", "y", "--reason", "called the family"});
  CHECK(unkept.code == 1);
  CHECK(unkept.err.find("household has no `resolutions` log in this replica's schema (a/schema, "
                        "version 2), so the reason could not be kept") != std::string::npos);

  std::ofstream(cli.path("a/schema"), std::ios::app) << "  field oops maybe text\n";
  RunResult broken = cli.run({"list", "household", "--dir", "a"});
  CHECK(broken.code == 1);
  CHECK(broken.err.find("a/schema is invalid") != std::string::npos);
  std::ofstream(cli.path("bad.schema")) << "collection\n";
  CHECK(cli.run({"init", "--dir", "c", "--schema", "bad.schema"}).code == 1);
}

}  // namespace birga::test
