// The store under hostile conditions: tampered changes, plaintext on disk, a full disk, and a
// writer killed with SIGKILL at random moments.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "birga/authority.h"
#include "lmdb_env.h"
#include "replica_fixture.h"

using namespace birga;
using birga::test::make_replica;
using birga::test::TempDir;
using birga::test::test_options;
using crdt::text;

namespace {

const std::string kScope = "tashkent/yunusobod/m0421";

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A replica in `dir` holding `visits` visit records written in one transaction, then one
// case; returns the first visit's id.
crdt::RecordId visits_and_a_case(const std::string& dir, int visits) {
  auto a = make_replica(dir, {kScope});
  REQUIRE(a);
  crdt::RecordId first;
  // Transactions of 50, fewer than make a range: the visits are in blocks.
  for (int from = 0; from < visits; from += 50) {
    Transaction t = a->begin();
    for (int i = from; i < std::min(visits, from + 50); ++i) {
      const crdt::RecordId id = t.create("visit", kScope);
      if (i == 0) first = id;
      t.set("visit", id, "household", text("hh-" + std::to_string(i)));
    }
    REQUIRE(t.commit().is_ok());
  }
  Transaction c = a->begin();
  c.set("case", c.create("case", kScope), "guardian", text("aunt"));
  REQUIRE(c.commit().is_ok());
  REQUIRE(a->verify().is_ok());
  return first;
}

// The one case of visits_and_a_case still reads, and cases can still be written: a damaged
// collection leaves the others working.
void cases_still_work(Replica& r) {
  auto cases = r.list("case");
  REQUIRE(cases.is_ok());
  CHECK(cases->size() == 1);
  Transaction more = r.begin();
  more.set("case", more.create("case", kScope), "guardian", text("uncle"));
  CHECK(more.commit().is_ok());
  CHECK(r.list("case")->size() == 2);
}

// Edits the closed store in `dir` directly, as someone holding the file (not the key) could.
void edit_store(const std::string& dir, const std::function<Status(engine::Txn&)>& edit) {
  auto env = engine::LmdbEnv::open(dir);
  REQUIRE(env.is_ok());
  REQUIRE((*env)->write(edit).is_ok());
}

}  // namespace

TEST_CASE("Store: flipping any byte of a sealed change makes ingest refuse it",
          "[engine][tamper]") {
  TempDir tmp;
  auto a = make_replica(tmp.sub("a"), {kScope});
  auto b = make_replica(tmp.sub("b"), {kScope});
  REQUIRE((a && b));
  Transaction t = a->begin();
  const crdt::RecordId id = t.create("case", kScope);
  t.set("case", id, "guardian", text("grandmother")).append("case", id, "notes", text("visit"));
  REQUIRE(t.commit().is_ok());
  auto changes = a->export_missing(kScope, crdt::VersionVector());
  REQUIRE(changes->size() == 1);
  const std::string sample = (*changes)[0];

  size_t refused = 0;
  for (size_t pos = 0; pos < sample.size(); ++pos) {
    std::string bad = sample;
    bad[pos] = static_cast<char>(bad[pos] ^ 0xFF);
    auto rep = b->ingest({bad});
    REQUIRE(rep.is_ok());
    if (rep->refused.size() == 1 && rep->applied == 0) {
      ++refused;
    } else {
      FAIL_CHECK("byte " << pos << " of " << sample.size() << " flipped was not refused");
    }
  }
  CHECK(refused == sample.size());
  // Nothing of it reached the store.
  CHECK(b->version_vector(kScope)->empty());
  CHECK(b->changed_since(0)->records.empty());
  CHECK(b->verify().is_ok());
  // The untouched change is still accepted.
  CHECK(b->ingest({sample})->applied == 1);
}

TEST_CASE("Store: no field value is readable in any file of the replica", "[engine][at-rest]") {
  TempDir tmp;
  const std::vector<std::string> secrets = {"Zebunnisa-Qodirova-7731", "HIV-positive-mother-5519",
                                            "guardian-Rustamov-0042", "note-domestic-violence-88"};
  {
    auto a = make_replica(tmp.sub("a"), {kScope});
    auto b = make_replica(tmp.sub("b"), {kScope});
    REQUIRE((a && b));
    Transaction t = a->begin();
    const crdt::RecordId c = t.create("case", kScope);
    t.set("case", c, "title", text(secrets[0]))
        .add("case", c, "members", text(secrets[1]))
        .set("case", c, "guardian", text(secrets[2]))
        .append("case", c, "notes", text(secrets[3]));
    const crdt::RecordId v = t.create("visit", kScope);
    t.set("visit", v, "household", text(secrets[0]));  // an indexed value
    REQUIRE(t.commit().is_ok());
    auto all = a->export_missing(kScope, crdt::VersionVector());
    REQUIRE(b->ingest(*all)->applied == 1);
    REQUIRE(b->get("case", c)->has_value());
  }
  for (const char* name : {"a", "b"}) {
    size_t files = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(tmp.sub(name))) {
      if (!entry.is_regular_file()) continue;
      ++files;
      const std::string bytes = read_file(entry.path());
      for (const std::string& s : secrets) {
        INFO(entry.path() << " must not contain " << s);
        CHECK(bytes.find(s) == std::string::npos);
      }
    }
    CHECK(files >= 2);  // data.mdb and lock.mdb at least
  }
}

TEST_CASE("Store: a full disk is a clear error and the store stays intact", "[engine][disk]") {
  TempDir tmp;
  {
    auto a = make_replica(tmp.sub("a"), {kScope});
    REQUIRE(a);
  }
  const auto size = std::filesystem::file_size(tmp.sub("a") + "/data.mdb");
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child may write at most 512 KiB more to any file: the disk "fills up".
    signal(SIGXFSZ, SIG_IGN);
    rlimit lim{size + (512u << 10), size + (512u << 10)};
    setrlimit(RLIMIT_FSIZE, &lim);
    auto r = Replica::open(tmp.sub("a"), test_options());
    if (!r.is_ok()) _exit(3);
    const std::string filler(2000, 'x');
    for (uint32_t i = 1; i < 100000; ++i) {
      Transaction t = (*r)->begin();
      const crdt::RecordId v = t.create("visit", kScope);
      t.set("visit", v, "household", text("n-" + std::to_string(i)));
      t.set("visit", v, "notes", text(filler + std::to_string(i)));
      Status s = t.commit();
      if (!s.is_ok()) {
        const bool clear = s.code() == Code::kResourceExhausted &&
                           s.message().find("disk full") != std::string::npos;
        _exit(clear ? 0 : 4);
      }
      if (write(fds[1], &i, sizeof i) != sizeof i) _exit(5);
    }
    _exit(6);  // the limit never hit
  }
  close(fds[1]);
  uint32_t last = 0, n = 0;
  while (read(fds[0], &n, sizeof n) == sizeof n) last = n;
  close(fds[0]);
  int wstatus = 0;
  REQUIRE(waitpid(child, &wstatus, 0) == child);
  REQUIRE(WIFEXITED(wstatus));
  CHECK(WEXITSTATUS(wstatus) == 0);  // 0: the error was resource_exhausted and said "disk full"
  CHECK(last > 0);

  auto r = Replica::open(tmp.sub("a"), test_options());
  REQUIRE(r.is_ok());
  CHECK((*r)->verify().is_ok());
  for (uint32_t i = 1; i <= last; ++i) {
    INFO("committed record " << i);
    CHECK((*r)->find("visit", "household", text("n-" + std::to_string(i)))->size() == 1);
  }
  // Writing works again once there is space.
  Transaction t = (*r)->begin();
  t.set("visit", t.create("visit", kScope), "household", text("after"));
  CHECK(t.commit().is_ok());
}

TEST_CASE("Store: a damaged record dictionary is a clear error, and the rest keeps working",
          "[engine][at-rest]") {
  TempDir tmp;
  // 40 records in one batch: "visit" gets its dictionary.
  const crdt::RecordId first = visits_and_a_case(tmp.sub("a"), 40);
  {
    edit_store(tmp.sub("a"), [](engine::Txn& txn) -> Status {
      std::string key, value;
      BIRGA_RETURN_IF_ERROR(txn.scan(engine::Table::kMeta, "dictid/", [&](auto k, auto v) {
        key = k, value = v;
        return false;
      }));
      if (key.empty()) return Status::not_found("no record dictionary");
      value[value.size() / 2] ^= 0x20;
      return txn.put(engine::Table::kMeta, key, value);
    });
  }
  auto r = Replica::open(tmp.sub("a"), test_options());
  REQUIRE(r.is_ok());
  auto visit = (*r)->get("visit", first);
  CHECK(visit.status().code() == Code::kDataLoss);
  CHECK_THAT(visit.status().message(), Catch::Contains("record dictionary"));
  CHECK((*r)->list("visit").status().code() == Code::kDataLoss);
  CHECK((*r)->verify().code() == Code::kDataLoss);
  // An edit of a record it cannot read is refused whole, naming why.
  Transaction edit = (*r)->begin();
  edit.set("visit", first, "notes", text("x"));
  const Status refused = edit.commit();
  CHECK(refused.code() == Code::kDataLoss);
  CHECK_THAT(refused.message(), Catch::Contains("record dictionary"));
  cases_still_work(**r);
}

TEST_CASE("Store: record blocks swapped on disk are a clear error, and the rest keeps working",
          "[engine][at-rest]") {
  TempDir tmp;
  visits_and_a_case(tmp.sub("a"), 100);  // 100 records: several blocks
  {
    // Someone with the file but not the key moves a block to another block's place.
    edit_store(tmp.sub("a"), [](engine::Txn& txn) -> Status {
      auto table = txn.records_of("visit");
      if (!table.is_ok()) return table.status();
      std::vector<std::pair<std::string, std::string>> blocks;
      BIRGA_RETURN_IF_ERROR(txn.scan(*table, "", [&](auto k, auto v) {
        blocks.emplace_back(k, v);
        return blocks.size() < 2;
      }));
      if (blocks.size() < 2) return Status::not_found("fewer than two blocks");
      BIRGA_RETURN_IF_ERROR(txn.put(*table, blocks[0].first, blocks[1].second));
      return txn.put(*table, blocks[1].first, blocks[0].second);
    });
  }
  auto r = Replica::open(tmp.sub("a"), test_options());
  REQUIRE(r.is_ok());
  auto visits = (*r)->list("visit");
  CHECK(visits.status().code() == Code::kDataLoss);
  CHECK_THAT(visits.status().message(), Catch::Contains("record block cannot be decrypted"));
  CHECK((*r)->verify().code() == Code::kDataLoss);
  cases_still_work(**r);
}

TEST_CASE("Store: every acknowledged transaction survives SIGKILL at random moments",
          "[engine][crash]") {
  TempDir tmp;
  {
    auto a = make_replica(tmp.sub("a"), {kScope});
    REQUIRE(a);
  }
  const uint64_t kills = test::env_u64("BIRGA_CRASH_KILLS", 30);
  const uint64_t seed = test::env_u64("BIRGA_CRASH_SEED", std::random_device{}());
  std::printf("crash test: %llu kills, seed %llu (replay: BIRGA_CRASH_SEED=%llu)\n",
              static_cast<unsigned long long>(kills), static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  uint32_t next = 1;  // the first record number the next child writes
  for (uint64_t k = 0; k < kills; ++k) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      close(fds[0]);
      auto r = Replica::open(tmp.sub("a"), test_options());
      if (!r.is_ok()) _exit(3);
      for (uint32_t i = next;; ++i) {
        Transaction t = (*r)->begin();
        const crdt::RecordId v = t.create("visit", kScope);
        t.set("visit", v, "household", text("n-" + std::to_string(i)));
        if (!t.commit().is_ok()) _exit(4);
        if (write(fds[1], &i, sizeof i) != sizeof i) _exit(5);
      }
    }
    close(fds[1]);
    // Let it commit a random number of transactions, then kill it at a random instant.
    const uint32_t wait_for = 1 + static_cast<uint32_t>(rng() % 20);
    uint32_t got = 0, last = next - 1, n = 0;
    while (got < wait_for && read(fds[0], &n, sizeof n) == sizeof n) last = n, ++got;
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    kill(child, SIGKILL);
    while (read(fds[0], &n, sizeof n) == sizeof n) last = n;  // reported before it died
    close(fds[0]);
    int wstatus = 0;
    REQUIRE(waitpid(child, &wstatus, 0) == child);
    REQUIRE(WIFSIGNALED(wstatus));

    auto r = Replica::open(tmp.sub("a"), test_options());
    REQUIRE(r.is_ok());
    REQUIRE((*r)->verify().is_ok());
    for (uint32_t i = next; i <= last; ++i) {
      INFO("kill " << k << ": acknowledged record " << i);
      REQUIRE((*r)->find("visit", "household", text("n-" + std::to_string(i)))->size() == 1);
    }
    // A transaction the child committed but had no time to report may be there too; the next
    // child starts after the highest one present so numbers stay unique.
    next = last + 1;
    while ((*r)->find("visit", "household", text("n-" + std::to_string(next)))->size() == 1) {
      ++next;
    }
  }
}

TEST_CASE("Store: a record block deleted from the file is found by verify", "[engine][at-rest]") {
  TempDir tmp;
  visits_and_a_case(tmp.sub("a"), 100);  // several blocks of "visit"
  // Someone with the file deletes the last block: its records vanish from every read, and
  // verify names the loss.
  edit_store(tmp.sub("a"), [](engine::Txn& txn) -> Status {
    auto table = txn.records_of("visit");
    if (!table.is_ok()) return table.status();
    std::string last;
    BIRGA_RETURN_IF_ERROR(txn.scan(*table, "", [&](auto k, auto) {
      last = k;
      return true;
    }));
    return txn.del(*table, last);
  });
  auto r = Replica::open(tmp.sub("a"), test_options());
  REQUIRE(r.is_ok());
  const Status verdict = (*r)->verify();
  CHECK(verdict.code() == Code::kDataLoss);
  CHECK_THAT(verdict.message(), Catch::Contains("records the store does not hold"));
}

TEST_CASE("Store: a read inside a transaction runs in it, a write inside one is refused",
          "[engine][store]") {
  TempDir tmp;
  std::filesystem::create_directories(tmp.sub("s"));
  auto env = engine::LmdbEnv::open(tmp.sub("s"));
  INFO((env.is_ok() ? std::string() : env.status().to_string()));
  REQUIRE(env.is_ok());
  engine::LmdbEnv& e = **env;
  Status inner;
  REQUIRE(e.write([&](engine::Txn& txn) -> Status {
             BIRGA_RETURN_IF_ERROR(txn.put(engine::Table::kMeta, "k", "written"));
             // The read sees the write's own put: it runs in the same transaction.
             inner = e.read([&](const engine::Txn& r) -> Status {
               auto v = r.get(engine::Table::kMeta, "k");
               if (!v.is_ok()) return v.status();
               if (!*v || **v != "written") return Status::internal("the write's put not seen");
               return Status::ok();
             });
             return Status::ok();
           }).is_ok());
  CHECK(inner.is_ok());

  Status nested_write;
  REQUIRE(e.read([&](const engine::Txn&) -> Status {
             nested_write =
                 e.write([](engine::Txn& w) { return w.put(engine::Table::kMeta, "k", "x"); });
             return Status::ok();
           }).is_ok());
  CHECK(nested_write.code() == Code::kInternal);
  CHECK_THAT(nested_write.message(), Catch::Contains("inside another transaction"));
  // Nothing was written, and a write on its own still works.
  REQUIRE(e.read([](const engine::Txn& r) -> Status {
             auto v = r.get(engine::Table::kMeta, "k");
             if (!v.is_ok()) return v.status();
             return *v && **v == "written" ? Status::ok() : Status::internal("value changed");
           }).is_ok());
  CHECK(e.write([](engine::Txn& w) { return w.put(engine::Table::kMeta, "k", "again"); }).is_ok());
}

namespace {
// How many times `needle` occurs in `haystack`.
size_t occurrences(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// The offsets of the 16-byte windows of `secret` that occur in `haystack`. A partial copy of
// `secret` (half overwritten, or cut by a page boundary) shows as some, where a search for the
// whole of it finds nothing.
std::vector<size_t> windows_found(const std::string& haystack, const std::string& secret) {
  std::vector<size_t> found;
  for (size_t at = 0; at + 16 <= secret.size(); ++at) {
    if (haystack.find(secret.substr(at, 16)) != std::string::npos) found.push_back(at);
  }
  return found;
}

// The sealed secrets of the closed store in `dir`, as stored.
std::string sealed_secrets(const std::string& dir) {
  auto env = engine::LmdbEnv::open(dir);
  REQUIRE(env.is_ok());
  std::string blob;
  REQUIRE((*env)
              ->read([&](const engine::Txn& txn) -> Status {
                auto v = txn.get(engine::Table::kMeta, "secrets");
                REQUIRE((v.is_ok() && *v));
                blob = std::string(**v);
                return Status::ok();
              })
              .is_ok());
  return blob;
}
}  // namespace

TEST_CASE(
    "Store: after a passphrase change only the new one opens it, and no copy sealed "
    "under the old one stays in the file",
    "[engine][at-rest][passphrase]") {
  TempDir tmp;
  const std::string dir = tmp.sub("a");
  // 500 visits in one change: its sealed bytes lie on overflow pages, whose tails are cleared.
  const crdt::RecordId first = visits_and_a_case(dir, 500);
  const std::string old_blob = sealed_secrets(dir);
  const std::string data = dir + "/data.mdb";
  {
    auto a = Replica::open(dir, test_options());
    REQUIRE(a.is_ok());
    // Each commit rewrites the metadata page that holds the secrets (the clock is beside
    // them); LMDB frees the old copy without clearing it, and writes pages from recycled
    // buffers that may hold it.
    for (int i = 0; i < 6; ++i) {
      Transaction t = (*a)->begin();
      t.set("visit", first, "notes", text("visit " + std::to_string(i)));
      REQUIRE(t.commit().is_ok());
    }
    // Open here: a second open would break the first one's locks, so it is refused.
    auto twice = Replica::change_passphrase(dir, "correct horse", "a new long passphrase");
    CHECK(twice.status().code() == Code::kUnavailable);
    CHECK(twice.status().message().find("already open in this process") != std::string::npos);
    Transaction t = (*a)->begin();  // and the open replica is unharmed
    t.set("visit", first, "notes", text("still writing"));
    CHECK(t.commit().is_ok());
  }
  REQUIRE(occurrences(read_file(data), old_blob) >= 2);  // the live copy and stale ones

  auto wrong = Replica::change_passphrase(dir, "not the passphrase", "a new long passphrase");
  CHECK(wrong.status().code() == Code::kPermissionDenied);
  CHECK(wrong.status().message() == "the current passphrase is wrong");
  CHECK(Replica::change_passphrase(dir, "correct horse", "").status().code() ==
        Code::kInvalidArgument);
  CHECK(Replica::change_passphrase(dir, "correct horse", "1234567").status().message() ==
        "the new passphrase is too short: at least 8 characters");
  CHECK(Replica::change_passphrase(tmp.sub("none"), "correct horse", "a new long passphrase")
            .status()
            .code() == Code::kNotFound);
  CHECK(occurrences(read_file(data), old_blob) >= 2);  // refused: nothing changed

  auto changed = Replica::change_passphrase(dir, "correct horse", "a new long passphrase");
  INFO(changed.status().to_string());
  REQUIRE(changed.is_ok());
  CHECK(*changed >= 1);
  CHECK(occurrences(read_file(data), old_blob) == 0);
  // Nor any part of it: the salt, nonce and ciphertext are random, so no 16 bytes of them
  // occur in the file by chance (the 13 header bytes, the same in the new blob, are shorter).
  CHECK(windows_found(read_file(data), old_blob).empty());

  CHECK(Replica::open(dir, test_options()).status().code() == Code::kPermissionDenied);
  {
    auto reopened = Replica::open(dir, test_options("a new long passphrase"));
    REQUIRE(reopened.is_ok());
    // The keys are the same: the records read, and writing goes on.
    Transaction t = (*reopened)->begin();
    t.set("visit", first, "notes", text("after the change"));
    REQUIRE(t.commit().is_ok());
    auto rec = (*reopened)->get("visit", first);
    REQUIRE((rec.is_ok() && *rec));
    CHECK((*rec)->value("notes") == text("after the change"));
    CHECK((*reopened)->list("case")->size() == 1);
    CHECK((*reopened)->list("visit")->size() == 500);
    CHECK((*reopened)->verify().is_ok());
    // Every sealed change still verifies (signature over all its bytes) at another replica.
    auto all = (*reopened)->export_missing(kScope, crdt::VersionVector());
    REQUIRE(all.is_ok());
    auto b = make_replica(tmp.sub("b"), {kScope});
    REQUIRE(b);
    auto report = b->ingest(*all);
    REQUIRE(report.is_ok());
    CHECK(report->refused.empty());
    CHECK(report->applied == all->size());
  }
  CHECK(occurrences(read_file(data), old_blob) == 0);
  CHECK(windows_found(read_file(data), old_blob).empty());
  // The new passphrase given as both: sealed and cleared again (what finishes a change whose
  // clearing failed).
  REQUIRE(
      Replica::change_passphrase(dir, "a new long passphrase", "a new long passphrase").is_ok());
  CHECK(Replica::open(dir, test_options("a new long passphrase")).is_ok());
}

// The authority's key signs every certificate of the deployment: its passphrase is held to the
// same minimum as a device's, and a refused one leaves no store behind.
TEST_CASE("Store: an authority is not created with a passphrase shorter than 8 characters",
          "[engine][at-rest][passphrase]") {
  TempDir tmp;
  const std::string dir = tmp.sub("authority");
  setenv("BIRGA_FAST_KDF", "1", 1);
  for (const char* weak : {"", "abc", "1234567"}) {
    auto authority = Authority::create(dir, weak);
    CHECK(authority.status().code() == Code::kInvalidArgument);
    CHECK(authority.status().message() == "the new passphrase is too short: at least 8 characters");
    CHECK_FALSE(std::filesystem::exists(dir + "/data.mdb"));
  }
  CHECK(Authority::create(dir, "12345678").is_ok());
}

TEST_CASE("Store: an authority's passphrase can be changed", "[engine][at-rest][passphrase]") {
  TempDir tmp;
  const std::string dir = tmp.sub("authority");
  setenv("BIRGA_FAST_KDF", "1", 1);
  PublicKey key{};
  {
    auto authority = Authority::create(dir, "first passphrase");
    REQUIRE(authority.is_ok());
    key = (*authority)->public_key();
  }
  CHECK(Authority::change_passphrase(dir, "wrong", "second passphrase").status().code() ==
        Code::kPermissionDenied);
  auto changed = Authority::change_passphrase(dir, "first passphrase", "second passphrase");
  INFO(changed.status().to_string());
  REQUIRE(changed.is_ok());
  CHECK(Authority::open(dir, "first passphrase").status().code() == Code::kPermissionDenied);
  auto reopened = Authority::open(dir, "second passphrase");
  REQUIRE(reopened.is_ok());
  CHECK((*reopened)->public_key() == key);
}
