// Bad input to every kind of `birga` command: a clear error on stderr, a non-zero exit code
// that says what kind of problem it is, and nothing changed in the replica.
#include "cli_fixture.h"

namespace birga::test {

namespace {

constexpr const char* kUnknownId = "0123456789abcdef0123456789abcdef";

// What a replica holds, as `status --json` reports it (minus the size on disk).
std::string snapshot(const Cli& cli, const std::string& dir) {
  Json st = cli.json({"status", "--dir", dir});
  std::string out;
  for (const auto& [name, count] : st["records"].o)
    out += name + "=" + std::to_string(count.i) + ";";
  for (const Json& s : st["scopes"].a) {
    out += s["scope"].s + ":";
    for (const auto& [actor, seq] : s["version_vector"].o)
      out += actor + "=" + std::to_string(seq.i) + ",";
  }
  out += "alerts=" + std::to_string(st["alerts"].i) +
         ";conflicts=" + std::to_string(st["conflicts"].i);
  out += ";cert=" +
         (st["certificate"].is_null() ? std::string("none") : st["certificate"]["authority"].s);
  return out;
}

void expect_refused(const RunResult& r, int code, const std::string& message) {
  INFO("stderr: " << r.err << "\nstdout: " << r.out);
  CHECK(r.code == code);
  CHECK(r.err.find(message) != std::string::npos);
  CHECK(r.out.empty());
}

}  // namespace

TEST_CASE("CLI: bad input is refused with a clear error and changes nothing", "[cli]") {
  Cli cli;
  cli.deploy();
  const std::string child = cli.ok({"person", "add", "--dir", "a", "--name", "Aziz"});
  const std::string household =
      cli.ok({"household", "add", "--dir", "a", "--address", "1 Bobur St"});
  const std::string kase =
      cli.ok({"case", "open", "--dir", "a", "--child", child, "--type", "guardianship"});
  const std::string before = snapshot(cli, "a");
  auto in_a = [](std::vector<std::string> args) {
    args.insert(args.end(), {"--dir", "a"});
    return args;
  };

  SECTION("unknown id") {
    expect_refused(cli.run(in_a({"household", "add-member", kUnknownId, child + ":son"})), 2,
                   "no household " + std::string(kUnknownId));
    expect_refused(cli.run(in_a({"show", kUnknownId})), 2, "no record");
    expect_refused(cli.run(in_a({"aid", "total", "--household", kUnknownId})), 2, "no household");
    expect_refused(cli.run(in_a({"household", "add", "--address", "x", "--member",
                                 std::string(kUnknownId) + ":son"})),
                   2, "--member: no person");
  }
  SECTION("malformed id, and an id of the wrong kind") {
    expect_refused(cli.run(in_a({"show", "12345"})), 1, "is not a record id");
    expect_refused(cli.run(in_a({"visit", "amend", household, "--text", "x"})), 1,
                   "is a household, not a visit");
    expect_refused(cli.run(in_a({"case", "open", "--child", household, "--type", "sponsorship"})),
                   1, "is a household, not a person");
  }
  SECTION("missing required fields and arguments") {
    expect_refused(cli.run(in_a({"household", "add"})), 1, "missing --address");
    expect_refused(cli.run(in_a({"visit", "add", "--household", household})), 1, "missing --type");
    expect_refused(cli.run(in_a({"aid", "add", "--household", household, "--value", "10"})), 1,
                   "missing --entitlement");
    expect_refused(cli.run(in_a({"case", "set-status", kase})), 1, "missing STATUS");
    expect_refused(cli.run(in_a({"aid", "reverse", kUnknownId})), 1, "missing --reason");
  }
  SECTION("invalid values name the field") {
    expect_refused(cli.run(in_a({"person", "add", "--name", "X", "--birth-date", "2024-02-30"})), 1,
                   "--birth-date: '2024-02-30' is not a date");
    expect_refused(cli.run(in_a({"person", "add", "--name", "X", "--pinfl", "123"})), 1, "--pinfl");
    // Dates of what happened cannot be after tomorrow (a mistyped year).
    expect_refused(cli.run(in_a({"visit", "add", "--household", household, "--type", "monitoring",
                                 "--date", "2206-11-20"})),
                   1, "--date: '2206-11-20' is in the future (today is ");
    expect_refused(cli.run(in_a({"aid", "add", "--household", household, "--value", "5",
                                 "--entitlement", "E", "--delivered-at", "2999-01-01"})),
                   1, "--delivered-at: '2999-01-01' is in the future");
    expect_refused(cli.run(in_a({"aid", "add", "--household", household, "--value", "12.5",
                                 "--entitlement", "E"})),
                   1, "--value: '12.5' is not a whole number");
    expect_refused(cli.run(in_a({"aid", "add", "--household", household, "--value", "-5",
                                 "--entitlement", "E"})),
                   1, "--value: must be greater than 0");
    expect_refused(cli.run(in_a({"case", "set-status", kase, "done"})), 1,
                   "STATUS: 'done' is not one of identification|assessment");
    expect_refused(cli.run(in_a({"visit", "add", "--household", household, "--type", "chat"})), 1,
                   "--type: 'chat' is not one of");
    expect_refused(cli.run(in_a({"visit", "add", "--household", household, "--type", "monitoring",
                                 "--consent", "maybe"})),
                   1, "--consent");
    expect_refused(cli.run(in_a({"list", "person", "--where", "birth_date=yesterday"})), 1,
                   "birth_date");
    expect_refused(cli.run(in_a({"list", "dogs"})), 1, "no kind 'dogs'");
    expect_refused(cli.run(in_a({"export", "person", "--format", "xml"})), 1, "--format");
  }
  SECTION("resolve refuses a field that is not in conflict") {
    expect_refused(cli.run(in_a({"resolve", kase, "status", "closed", "--reason", "x"})), 1,
                   "is not in conflict");
    expect_refused(cli.run(in_a({"resolve", kase, "child", "x", "--reason", "x"})), 1,
                   "keeps no concurrent values");
  }
  SECTION("usage errors") {
    expect_refused(cli.run(in_a({"household", "add", "--adress", "x"})), 1,
                   "unknown option --adress");
    expect_refused(cli.run(in_a({"household", "add", "--address", "x", "--address", "y"})), 1,
                   "given more than once");
    expect_refused(cli.run({"household", "frob"}), 1, "unknown command 'household frob'");
    expect_refused(cli.run({"status", "--dir", "nowhere"}), 2,
                   "no replica in nowhere: run `birga init` first or pass --dir");
    expect_refused(cli.run({"status", "--dir", "auth"}), 2, "not a replica");
    expect_refused(cli.run({"init", "--dir", "a"}), 1, "already holds a store");
  }
  SECTION("wrong or missing passphrase") {
    // A new key is not protected by a few letters; nothing is created.
    expect_refused(cli.run({"init", "--dir", "weak"}, {{"BIRGA_PASSPHRASE", "1234567"}}), 1,
                   "the passphrase is too short: at least 8 characters");
    CHECK(!std::filesystem::exists(cli.path("weak/data.mdb")));
    expect_refused(
        cli.run({"authority", "init", "--dir", "weak-auth"}, {{"BIRGA_PASSPHRASE", "x"}}), 1,
        "the passphrase is too short");
    CHECK(!std::filesystem::exists(cli.path("weak-auth/data.mdb")));
    cli.ok({"init", "--dir", "eight"}, {{"BIRGA_PASSPHRASE", "12345678"}});
    expect_refused(
        cli.run(in_a({"household", "add", "--address", "x"}), {{"BIRGA_PASSPHRASE", "not it"}}), 3,
        "wrong passphrase");
    // The error names the variable the passphrase was taken from.
    expect_refused(cli.run(in_a({"status"}), {{"BIRGA_PASSPHRASE", "not it"}}), 3,
                   "(check $BIRGA_PASSPHRASE)");
    expect_refused(cli.run(in_a({"status"}), {{"BIRGA_DEVICE_PASSPHRASE", "not it"}}), 3,
                   "(check $BIRGA_DEVICE_PASSPHRASE)");
    expect_refused(cli.run(in_a({"status"}), {{"BIRGA_PASSPHRASE", std::nullopt}}), 3,
                   "set $BIRGA_DEVICE_PASSPHRASE or $BIRGA_PASSPHRASE");
    expect_refused(cli.run({"authority", "export", "--dir", "auth", "--out", "c.bgcl"},
                           {{"BIRGA_AUTHORITY_PASSPHRASE", "not it"}}),
                   3, "wrong passphrase");
    expect_refused(cli.run({"authority", "export", "--dir", "auth", "--out", "c.bgcl"},
                           {{"BIRGA_AUTHORITY_PASSPHRASE", "not it"}}),
                   3, "(check $BIRGA_AUTHORITY_PASSPHRASE)");
  }
  SECTION("writing outside the certificate's scopes") {
    expect_refused(cli.run(in_a({"household", "add", "--address", "x", "--scope",
                                 std::string(kMahalla) + "/"})),
                   1, "has an empty segment");
    // Another case would be another scope: refused with the path meant, before any grant check.
    expect_refused(cli.run(in_a({"household", "add", "--address", "x", "--scope",
                                 "Tashkent/Yunusobod/M0421"})),
                   1,
                   "--scope: scope 'Tashkent/Yunusobod/M0421' has capital letters: scopes are "
                   "lowercase and matched exactly (did you mean 'tashkent/yunusobod/m0421'?)");
    expect_refused(cli.run(in_a({"household", "add", "--address", "x", "--scope",
                                 "tashkent/chilanzar/m0007"})),
                   3, "grants no write on scope 'tashkent/chilanzar/m0007'");
    cli.ok({"init", "--dir", "unenrolled"});
    expect_refused(cli.run({"household", "add", "--dir", "unenrolled", "--address", "x"}), 3,
                   "not enrolled");
  }
  SECTION("a grant above a mahalla is no default scope") {
    cli.ok({"init", "--dir", "sup"});
    cli.ok({"enrol", "--dir", "auth", "--device", "sup", "--name", "Supervisor", "--role",
            "supervisor", "--scope", "tashkent/yunusobod:rw"});
    expect_refused(cli.run({"household", "add", "--dir", "sup", "--address", "x"}), 1,
                   "this device may write in 'tashkent/yunusobod' and every scope below it: "
                   "choose one with --scope");
    CHECK(cli.json({"status", "--dir", "sup"})["records"]["household"].i == 0);
    // Either, named, is written there.
    for (const std::string& scope : {std::string(kMahalla), std::string("tashkent/yunusobod")}) {
      const std::string id =
          cli.ok({"household", "add", "--dir", "sup", "--address", "x", "--scope", scope});
      CHECK(cli.json({"show", "--dir", "sup", id})["scope"].s == scope);
    }
  }
  SECTION("a bundle from another deployment") {
    cli.ok({"authority", "init", "--dir", "other"});
    const std::string key = cli.json(in_a({"status"}))["device_key"].s;
    cli.ok({"enrol", "--dir", "other", "--device-key", key, "--name", "Mallory", "--role", "field",
            "--scope", std::string(kMahalla) + ":rw", "--out", "foreign.bundle"});
    expect_refused(cli.run(in_a({"cert", "install", "foreign.bundle"})), 3,
                   "from another deployment");
    expect_refused(cli.run({"enrol", "--dir", "other", "--device", "a", "--name", "M", "--role",
                            "field", "--scope", "x:r"}),
                   3, "belongs to another deployment");
    expect_refused(cli.run(in_a({"cert", "install", "missing.bundle"})), 2, "cannot read");
    // The other deployment's control log, imported here: every change refused, saying why.
    cli.ok({"authority", "export", "--dir", "other", "--out", "foreign.bgcl"});
    const RunResult imported = cli.run(in_a({"import", "foreign.bgcl"}));
    INFO(imported.err);
    CHECK(imported.code == 1);
    CHECK(imported.out.find(" applied") != std::string::npos);
    CHECK(imported.err.find("in scope '_control': only the authority writes the control scope, "
                            "and this deployment's authority is ") != std::string::npos);
    CHECK(imported.err.find("(a change of another deployment, or forged)") != std::string::npos);
  }
  SECTION("bad enrolment requests issue nothing") {
    const std::string key = cli.json(in_a({"status"}))["device_key"].s;
    const std::vector<std::string> base = {"enrol",  "--dir", "auth",  "--device-key", key,
                                           "--name", "X",     "--out", "x.bundle"};
    auto enrol = [&](std::vector<std::string> extra) {
      std::vector<std::string> args = base;
      args.insert(args.end(), extra.begin(), extra.end());
      return cli.run(args);
    };
    expect_refused(enrol({"--role", "boss", "--scope", "a/b:rw"}), 1, "--role: 'boss'");
    expect_refused(enrol({"--role", "field", "--scope", "a/b:rwx"}), 1, "rights 'rwx'");
    expect_refused(enrol({"--role", "field", "--scope", "a//b:rw"}), 1, "empty segment");
    expect_refused(enrol({"--role", "field", "--scope", "Tashkent/x:rw"}), 1,
                   "did you mean 'tashkent/x'?");
    expect_refused(enrol({"--role", "field"}), 1, "missing --scope");
    expect_refused(enrol({"--role", "field", "--scope", "a:r", "--expires", "2001-01-01"}), 1,
                   "in the past");
    expect_refused(cli.run({"enrol", "--dir", "auth", "--device-key", "abc", "--name", "X",
                            "--role", "field", "--scope", "a:r", "--out", "x"}),
                   1, "--device-key: 'abc' is not 64 hex digits");
    CHECK(cli.json({"authority", "devices", "--dir", "auth"}).size() == 1);
  }
  SECTION("files that are not change lists, truncated or tampered") {
    cli.ok({"changes", "export", "--dir", "a", "--out", "good.bgcl"});
    const std::string good = Cli::slurp(cli.path("good.bgcl"));
    std::ofstream(cli.path("junk.bgcl")) << "hello";
    std::ofstream(cli.path("short.bgcl"), std::ios::binary) << good.substr(0, good.size() - 7);
    std::string tampered = good;
    tampered.back() = static_cast<char>(tampered.back() ^ 1);
    std::ofstream(cli.path("tampered.bgcl"), std::ios::binary) << tampered;
    expect_refused(cli.run(in_a({"import", "junk.bgcl"})), 1, "not a change list");
    {  // the complete changes before the cut are kept (here all already held)
      RunResult r = cli.run(in_a({"import", "short.bgcl"}));
      INFO("stderr: " << r.err);
      CHECK(r.code == 1);
      CHECK(r.err.find("short.bgcl: change list: change ") != std::string::npos);
      CHECK(r.err.find("is truncated; the ") != std::string::npos);
      CHECK(r.err.find("complete changes before it were imported") != std::string::npos);
    }
    expect_refused(cli.run(in_a({"import", "missing.bgcl"})), 2, "cannot read missing.bgcl");
    expect_refused(cli.run(in_a({"cert", "install", "good.bgcl"})), 1, "enrolment bundle");
    RunResult r = cli.run(in_a({"import", "tampered.bgcl"}));
    CHECK(r.code == 1);
    CHECK(r.err.find("signature invalid") != std::string::npos);
    CHECK(r.err.find("1 of ") != std::string::npos);
  }
  CHECK(snapshot(cli, "a") == before);
  CHECK(cli.run(in_a({"verify"})).code == 0);
}

// Every command that takes --dir says the same of a file given there, before it acts: the
// directory is a bad value (exit 1), not a missing store (2), nor a store failing to open.
// A store another user owns (the usual slip: a command run as root on a hub's store, or the
// other way round) is a permissions problem, and said to be one: not a missing store, nor a
// wrong passphrase. Only a run as root can switch users; elsewhere the test has nothing to do.
TEST_CASE("CLI: a store the user may not open is reported as a permissions problem", "[cli]") {
  if (::geteuid() != 0) {
    WARN("not run as root: cannot run a command as another user");
    return;
  }
  Cli cli;
  cli.deploy();
  cli.ok({"household", "add", "--dir", "a", "--address", "1 Bobur St"});
  namespace fs = std::filesystem;
  fs::permissions(cli.path(""), fs::perms::owner_all | fs::perms::others_exec);  // traversable
  const EnvChanges nobody = {{kRunAsUid, "65534"}};
  const fs::perms dir_mode = fs::status(cli.path("a")).permissions();
  fs::permissions(cli.path("a"), fs::perms::owner_all);
  RunResult closed = cli.run({"list", "household", "--dir", "a"}, nobody);
  if (closed.code == 122) {
    WARN("uid 65534 cannot reach the birga binary here");
    return;
  }
  expect_refused(closed, 3, "cannot look into a: Permission denied (run as the user that owns it");
  CHECK(closed.err.find("birga init") == std::string::npos);

  // The directory open, its files the owner's only (as `birga init` makes them).
  fs::permissions(cli.path("a"), dir_mode | fs::perms::others_read | fs::perms::others_exec);
  expect_refused(cli.run({"list", "household", "--dir", "a"}, nobody), 3,
                 "cannot read a/schema: Permission denied (run as the user that owns it");

  // Readable but not writable (LMDB opens its lock file for writing).
  fs::permissions(cli.path("a"), fs::perms::owner_all | fs::perms::group_read |
                                     fs::perms::group_exec | fs::perms::others_read |
                                     fs::perms::others_exec);
  for (const auto& f : fs::directory_iterator(cli.path("a"))) {
    fs::permissions(f.path(), fs::perms::owner_read | fs::perms::owner_write |
                                  fs::perms::group_read | fs::perms::others_read);
  }
  RunResult read_only = cli.run({"list", "household", "--dir", "a"}, nobody);
  expect_refused(read_only, 3, "Permission denied (this user may not read or write the store");
  CHECK(read_only.err.find("PASSPHRASE") == std::string::npos);
  // As its owner, the store is as it was.
  CHECK(cli.ok({"list", "household", "--dir", "a"}).find("1 Bobur St") != std::string::npos);
}

TEST_CASE("CLI: a file given as --dir is refused the same way by every command", "[cli]") {
  Cli cli;
  std::ofstream(cli.path("notes.txt")) << "not a store\n";
  const std::string why =
      "--dir notes.txt is a file, not a directory: pass the directory of the replica or "
      "authority (init and authority init create a new one)\n";
  size_t checked = 0;
  for (std::vector<std::string> args : cli.commands()) {
    const std::string name = Cli::join(args);
    args.push_back("--help");
    if (cli.run(args).out.find("  --dir ") == std::string::npos) continue;
    args.back() = "--dir";
    args.push_back("notes.txt");
    expect_refused(cli.run(args), 1, "birga " + name + ": " + why);
    ++checked;
  }
  CHECK(checked > 30);
  // With the arguments each needs, and from $BIRGA_DIR.
  cli.ok({"authority", "init", "--dir", "auth"});
  expect_refused(cli.run({"import", "notes.txt", "--dir", "notes.txt"}), 1, why);
  expect_refused(cli.run({"household", "add", "--address", "x", "--dir", "notes.txt"}), 1, why);
  expect_refused(cli.run({"sync", "127.0.0.1:1", "--dir", "notes.txt"}), 1, why);
  expect_refused(cli.run({"serve", "--listen", "127.0.0.1:0", "--dir", "notes.txt"}), 1, why);
  expect_refused(cli.run({"status"}, {{"BIRGA_DIR", "notes.txt"}}), 1,
                 "$BIRGA_DIR notes.txt is a file, not a directory");
  // A path through the file, and enrol's --device.
  expect_refused(cli.run({"init", "--dir", "notes.txt/a"}), 1,
                 "birga init: --dir notes.txt/a is inside notes.txt, which is a file, not a "
                 "directory");
  expect_refused(cli.run({"enrol", "--dir", "auth", "--device", "notes.txt", "--name", "X",
                          "--role", "field", "--scope", std::string(kMahalla) + ":rw"}),
                 1, "birga enrol: --device notes.txt is a file, not a directory");
  CHECK(Cli::slurp(cli.path("notes.txt")) == "not a store\n");
}

// With --json a failure is one JSON object on stdout, {"error":{"code","message"}}, so that a
// script reading stdout gets JSON whatever happens; the exit code and the line on stderr stay
// what they are without --json.
TEST_CASE("CLI: under --json a failure is one JSON object on stdout with the same exit code",
          "[cli]") {
  Cli cli;
  cli.deploy();
  cli.ok({"household", "add", "--dir", "a", "--address", "x"});
  cli.ok({"changes", "export", "--dir", "a", "--out", "good.bgcl"});
  std::string tampered = Cli::slurp(cli.path("good.bgcl"));
  tampered.back() = static_cast<char>(tampered.back() ^ 1);
  std::ofstream(cli.path("tampered.bgcl"), std::ios::binary) << tampered;
  std::ofstream(cli.path("junk.bgcl")) << "hello";
  std::ofstream(cli.path("notes.txt")) << "x";
  auto with_json = [](std::vector<std::string> args) {
    args.push_back("--json");
    return args;
  };
  // Runs `args` with and without --json; returns the --json run's output, parsed.
  auto both = [&](const std::vector<std::string>& args, const EnvChanges& env = {}) {
    const RunResult text = cli.run(args, env);
    const RunResult json = cli.run(with_json(args), env);
    INFO("birga " << Cli::join(args) << "\nstderr: " << text.err << "--json stdout: " << json.out);
    CHECK(text.code != 0);
    CHECK(json.code == text.code);
    CHECK(json.err == text.err);
    // One line: one object.
    REQUIRE(!json.out.empty());
    CHECK(json.out.find('\n') == json.out.size() - 1);
    Json out = Json::parse(json.out);
    CHECK(Catch::endsWith(text.err, ": " + out["error"]["message"].s + "\n"));
    return out;
  };
  struct Failure {
    std::vector<std::string> args;
    const char* code;
    EnvChanges env;
  };
  const std::vector<Failure> failures = {
      {{"status", "--dir", "nowhere"}, "not_found", {}},
      {{"household", "add", "--dir", "a", "--adress", "x"}, "invalid_argument", {}},  // usage
      {{"household", "add", "--dir", "a"}, "invalid_argument", {}},
      {{"household", "frob", "--dir", "a"}, nullptr, {}},  // no command: no --json, text only
      {{"show", "12345", "--dir", "a"}, "invalid_argument", {}},
      {{"status", "--dir", "a"}, "permission_denied", {{"BIRGA_PASSPHRASE", "not it"}}},
      {{"status", "--dir", "notes.txt"}, "invalid_argument", {}},
      {{"authority", "devices", "--dir", "a"}, "invalid_argument", {}},
      {{"import", "junk.bgcl", "--dir", "a"}, "corrupt_input", {}},
      {{"sync", "127.0.0.1", "--dir", "a"}, "invalid_argument", {}},
      {{"serve", "--listen", "127.0.0.1", "--dir", "a"}, "invalid_argument", {}},
      {{"version", "extra"}, "invalid_argument", {}},
  };
  for (const Failure& f : failures) {
    if (!f.code) {
      const RunResult r = cli.run(with_json(f.args));
      CHECK(r.code == 1);
      CHECK(r.out.empty());
      continue;
    }
    const Json out = both(f.args, f.env);
    CHECK(out.size() == 1);
    CHECK(out["error"].size() == 2);
    CHECK(out["error"]["code"].s == f.code);
  }
  // A command that prints its result before it knows it failed puts the error in it.
  const Json sync = both({"sync", "127.0.0.1:1", "--dir", "a", "--timeout", "2"});
  CHECK_FALSE(sync["ok"].b);
  CHECK(sync["remote"].s == "127.0.0.1:1");
  CHECK(sync["error"]["code"].s == "unavailable");
  const Json import = both({"import", "tampered.bgcl", "--dir", "a"});
  CHECK(import["changes"].i >= 1);
  CHECK(import["refused"].size() == 1);
  CHECK(import["error"]["code"].s == "invalid_argument");
  CHECK(Catch::startsWith(import["error"]["message"].s, "1 of "));
  CHECK(import["error"]["message"].s.find(" changes in tampered.bgcl were refused") !=
        std::string::npos);
}

// Re-enrolling narrows a grant only if the older bundle cannot be installed back.
TEST_CASE("CLI: cert install refuses a certificate older than the installed one", "[cli]") {
  Cli cli;
  cli.ok({"authority", "init", "--dir", "auth"});
  const std::string key = cli.ok({"init", "--dir", "t"});
  const std::string other = "tashkent/yunusobod/m0977";
  auto enrol = [&](const std::string& scope, const std::string& out) {
    cli.ok({"enrol", "--dir", "auth", "--device-key", key, "--name", "Bekzod", "--role", "field",
            "--scope", scope + ":rw", "--out", out});
  };
  enrol(kMahalla, "b1.bundle");  // serial 1
  enrol(other, "b2.bundle");     // serial 2: moved to another mahalla
  cli.ok({"cert", "install", "b1.bundle", "--dir", "t"});
  cli.ok({"cert", "install", "b2.bundle", "--dir", "t"});
  const std::string before = snapshot(cli, "t");

  RunResult older = cli.run({"cert", "install", "b1.bundle", "--dir", "t"});
  expect_refused(older, 3, "serial 1, older than the installed one's, serial 2");
  CHECK(older.err.find("nothing was installed") != std::string::npos);
  Json st = cli.json({"status", "--dir", "t"});
  CHECK(st["certificate"]["scopes"][0]["path"].s == other);
  CHECK(snapshot(cli, "t") == before);
  // The installed bundle, installed again, changes nothing and is no error.
  CHECK(cli.json({"cert", "install", "b2.bundle", "--dir", "t"})["scopes"][0]["path"].s == other);
  // A newer one replaces it.
  enrol(kMahalla, "b3.bundle");
  cli.ok({"cert", "install", "b3.bundle", "--dir", "t"});
  CHECK(cli.json({"status", "--dir", "t"})["certificate"]["scopes"][0]["path"].s == kMahalla);
}

TEST_CASE("CLI: verify fails with exit 4 on a damaged store", "[cli]") {
  Cli cli;
  cli.deploy();
  for (int i = 0; i < 20; ++i) {
    cli.ok({"household", "add", "--dir", "a", "--address", "house " + std::to_string(i)});
  }
  CHECK(cli.run({"verify", "--dir", "a"}).code == 0);
  // Flip bytes through the middle of the LMDB file, where the sealed records live, and one
  // header byte of every sealed change (found by its magic, "CGRB" then version 1): where a
  // fixed page offset lands depends on how full the pages are, so it may miss them all.
  const std::string path = cli.path("a/data.mdb");
  std::string bytes = Cli::slurp(path);
  for (size_t i = 4 * 4096 + 200; i < bytes.size(); i += 4096)
    bytes[i] = static_cast<char>(~bytes[i]);
  const std::string magic("CGRB\x01", 5);
  for (size_t at = bytes.find(magic); at != std::string::npos; at = bytes.find(magic, at + 1)) {
    if (at + 100 < bytes.size()) bytes[at + 100] = static_cast<char>(bytes[at + 100] ^ 1);
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  RunResult r = cli.run({"verify", "--dir", "a"});
  INFO(r.err);
  CHECK(r.code == 4);
  CHECK(!r.err.empty());
}

}  // namespace birga::test
