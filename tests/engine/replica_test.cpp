// Replica: create/open, every kind of write, reads, schema violations, exchange.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "birga/trust.h"
#include "lmdb_env.h"
#include "replica_fixture.h"

using namespace birga;
using birga::test::make_replica;
using birga::test::TempDir;
using birga::test::test_options;
using crdt::text;

namespace {

const std::string kScope = "tashkent/yunusobod/m0421";

// Moves every change `from` holds of `scope` that `to` lacks.
IngestReport sync_one_way(Replica& from, Replica& to, const std::string& scope) {
  auto vv = to.version_vector(scope);
  REQUIRE(vv.is_ok());
  auto missing = from.export_missing(scope, *vv);
  REQUIRE(missing.is_ok());
  auto report = to.ingest(*missing);
  REQUIRE(report.is_ok());
  return *report;
}

// `r` verifies, and its "visit" records are exactly `expected`'s, each holding its household.
void check_households(const Replica& r, const std::map<crdt::RecordId, std::string>& expected) {
  CHECK(r.verify().is_ok());
  auto all = r.list("visit");
  REQUIRE(all.is_ok());
  REQUIRE(all->size() == expected.size());
  auto it = expected.begin();
  for (const RecordView& v : *all) {  // in id order
    CHECK(v.id == it->first);
    CHECK(crdt::to_display(*v.value("household")) == it->second);
    ++it;
  }
}

// Makes a replica in `dir` holding one visit (household "hh-1", date 20000); returns its id.
crdt::RecordId replica_with_one_visit(const std::string& dir) {
  auto r = make_replica(dir, {kScope});
  REQUIRE(r);
  Transaction t = r->begin();
  const crdt::RecordId id = t.create("visit", kScope);
  t.set("visit", id, "household", text("hh-1")).set("visit", id, "date", crdt::integer(20000));
  REQUIRE(t.commit().is_ok());
  return id;
}

}  // namespace

TEST_CASE("Replica: create, write, close and reopen keeps everything", "[engine][replica]") {
  TempDir tmp;
  const crdt::RecordId id = replica_with_one_visit(tmp.sub("a"));
  auto r = Replica::open(tmp.sub("a"), test_options());
  REQUIRE(r.is_ok());
  auto rec = (*r)->get("visit", id);
  REQUIRE(rec.is_ok());
  REQUIRE(rec->has_value());
  CHECK((*rec)->scope == kScope);
  CHECK((*rec)->value("household") == text("hh-1"));
  CHECK((*rec)->value("date") == crdt::integer(20000));
  CHECK((*r)->has_scope_key(kScope));
  CHECK((*r)->verify().is_ok());
}

// Format 4 is format 5 without ranges: such a store opens, keeps its records, and is marked
// format 5 (which a format-4 build then refuses); only once the passphrase has opened it.
// Any other format is refused.
TEST_CASE("Replica: a format-4 store opens and is marked format 5, other formats are refused",
          "[engine][replica]") {
  TempDir tmp;
  const crdt::RecordId id = replica_with_one_visit(tmp.sub("a"));
  auto set_format = [&](char version) {
    auto env = engine::LmdbEnv::open(tmp.sub("a"));
    REQUIRE(env.is_ok());
    REQUIRE((*env)
                ->write([&](engine::Txn& txn) {
                  return txn.put(engine::Table::kMeta, "format",
                                 std::string("BIRGA-REPLICA") + version);
                })
                .is_ok());
  };
  auto format = [&] {
    auto env = engine::LmdbEnv::open(tmp.sub("a"));
    REQUIRE(env.is_ok());
    std::string value;
    REQUIRE((*env)
                ->read([&](const engine::Txn& txn) -> Status {
                  auto v = txn.get(engine::Table::kMeta, "format");
                  if (v.is_ok() && *v) value = std::string(**v);
                  return v.status();
                })
                .is_ok());
    return value;
  };
  REQUIRE(format() == std::string("BIRGA-REPLICA") + char(kStoreFormatVersion));

  set_format('\x04');
  CHECK(Replica::open(tmp.sub("a"), test_options("not the passphrase")).status().code() ==
        Code::kPermissionDenied);
  CHECK(format() == "BIRGA-REPLICA\x04");
  {
    auto r = Replica::open(tmp.sub("a"), test_options());
    REQUIRE(r.is_ok());
    auto rec = (*r)->get("visit", id);
    REQUIRE(rec.is_ok());
    REQUIRE(rec->has_value());
    CHECK((*rec)->value("household") == text("hh-1"));
    CHECK((*r)->verify().is_ok());
  }
  CHECK(format() == "BIRGA-REPLICA\x05");

  for (char other : {'\x03', '\x06'}) {
    set_format(other);
    auto r = Replica::open(tmp.sub("a"), test_options());
    CHECK(r.status().code() == Code::kDataLoss);
    CHECK_THAT(r.status().message(), Catch::Contains("not a Birga replica of a known format"));
  }
}

namespace {
// Resident file-backed memory of this process, in kB (RssFile in /proc/self/status).
long rss_file_kb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("RssFile:", 0) == 0) return std::stol(line.substr(8));
  }
  return -1;
}
}  // namespace

TEST_CASE("Replica: release_memory drops the store's pages from RSS and loses nothing",
          "[engine][replica]") {
  TempDir tmp;
  auto r = make_replica(tmp.sub("a"), {kScope});
  REQUIRE(r);
  // Values that do not compress, so the store's pages (a few MB) dwarf the code pages the
  // process may map meanwhile (sanitizer builds have large ones).
  auto value_of = [](int i) {
    std::string v = "hh-" + std::to_string(i) + "-";
    uint64_t x = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(i + 1);
    while (v.size() < 600) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      v += "0123456789abcdef"[x & 15];
    }
    return v;
  };
  std::vector<crdt::RecordId> ids;
  Transaction t = r->begin();
  for (int i = 0; i < 3000; ++i) {
    ids.push_back(t.create("visit", kScope));
    t.set("visit", ids.back(), "household", text(value_of(i)));
  }
  REQUIRE(t.commit().is_ok());
  REQUIRE(r->list("visit").is_ok());  // maps every record page
  const long before = rss_file_kb();
  REQUIRE(r->release_memory().is_ok());
  const long after = rss_file_kb();
  INFO("RssFile before " << before << " kB, after " << after << " kB");
  CHECK(after + 512 < before);
  auto rec = r->get("visit", ids[1234]);
  REQUIRE(rec.is_ok());
  REQUIRE(rec->has_value());
  CHECK((*rec)->value("household") == text(value_of(1234)));
  CHECK(r->verify().is_ok());
}

TEST_CASE("Replica: a wrong passphrase is refused, never an empty replica", "[engine][replica]") {
  TempDir tmp;
  REQUIRE(make_replica(tmp.sub("a"), {kScope}));
  auto r = Replica::open(tmp.sub("a"), test_options("not the passphrase"));
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == Code::kPermissionDenied);
  CHECK_THAT(r.status().message(), Catch::Contains("passphrase"));

  auto missing = Replica::open(tmp.sub("nothing-here"), test_options());
  CHECK(missing.status().code() == Code::kNotFound);
  auto again = Replica::create(tmp.sub("a"), test_options());
  CHECK(again.status().code() == Code::kAlreadyExists);
  auto empty = Replica::create(tmp.sub("b"), test_options(""));
  CHECK(empty.status().code() == Code::kInvalidArgument);
}

TEST_CASE("Replica: create refuses a passphrase shorter than change_passphrase accepts",
          "[engine][replica]") {
  TempDir tmp;
  auto short_one = Replica::create(tmp.sub("a"), test_options("abc"));
  CHECK(short_one.status().code() == Code::kInvalidArgument);
  CHECK(short_one.status().message() == "the new passphrase is too short: at least 8 characters");
  CHECK(Replica::create(tmp.sub("a"), test_options("1234567")).status().code() ==
        Code::kInvalidArgument);
  // Refused before anything is made: the directory holds no store to be opened by mistake.
  CHECK_FALSE(std::filesystem::exists(tmp.sub("a") + "/data.mdb"));
  CHECK(Replica::create(tmp.sub("a"), test_options("12345678")).is_ok());
}

TEST_CASE("Replica: every kind of write is applied and readable", "[engine][replica]") {
  TempDir tmp;
  auto r = make_replica(tmp.sub("a"), {kScope});
  REQUIRE(r);
  Transaction t = r->begin();
  const crdt::RecordId id = t.create("case", kScope);
  t.set("case", id, "title", text("Aziza"))
      .set("case", id, "guardian", text("grandmother"))
      .add("case", id, "members", text("p1"))
      .add("case", id, "members", text("p2"))
      .increment("case", id, "visits", 3)
      .append("case", id, "notes", text("first"))
      .append("case", id, "notes", text("second"));
  REQUIRE(t.commit().is_ok());

  Transaction t2 = r->begin();
  t2.remove("case", id, "members", text("p1")).increment("case", id, "visits", -1);
  t2.set("case", id, "guardian", text("aunt"));
  REQUIRE(t2.commit().is_ok());

  auto rec = r->get("case", id);
  REQUIRE(rec.is_ok());
  REQUIRE(rec->has_value());
  const RecordView& v = **rec;
  CHECK(v.value("title") == text("Aziza"));
  CHECK(v.values("guardian") == std::vector<crdt::Value>{text("aunt")});
  CHECK_FALSE(v.in_conflict());
  CHECK(v.state.get<crdt::AwSet>("members")->elements() == std::vector<crdt::Value>{text("p2")});
  CHECK(v.state.get<crdt::Counter>("visits")->value() == 2);
  const auto notes = v.state.get<crdt::AppendLog>("notes")->entries();
  REQUIRE(notes.size() == 2);
  CHECK(notes[0].payload == text("first"));
  CHECK(notes[1].payload == text("second"));

  Transaction t3 = r->begin();
  t3.remove_record("case", id);
  REQUIRE(t3.commit().is_ok());
  auto listed = r->list("case");
  REQUIRE(listed.is_ok());
  CHECK(listed->empty());
  auto deleted = r->get("case", id);
  REQUIRE(deleted->has_value());
  CHECK((*deleted)->deleted());

  Transaction t4 = r->begin();
  t4.restore_record("case", id);
  REQUIRE(t4.commit().is_ok());
  CHECK(r->list("case")->size() == 1);
  CHECK(r->verify().is_ok());
}

TEST_CASE("Replica: a field written twice in one transaction keeps the last write",
          "[engine][replica]") {
  TempDir tmp;
  auto a = make_replica(tmp.sub("a"), {kScope});
  auto b = make_replica(tmp.sub("b"), {kScope});
  REQUIRE(a);
  REQUIRE(b);
  auto title = [](Replica& r, const crdt::RecordId& id) {
    auto rec = r.get("case", id);
    REQUIRE(rec.is_ok());
    REQUIRE(rec->has_value());
    return (*rec)->value("title");
  };
  Transaction t = a->begin();
  const crdt::RecordId x = t.create("case", kScope);
  const crdt::RecordId y = t.create("case", kScope);
  // Both writes carry the change's time, so were both kept the greater value would win: each
  // overwritten value here is the greater. x's second write comes after y's (another run of
  // ops for x); then one record's two writes come in one run.
  t.set("case", x, "title", text("x overwritten")).set("case", y, "title", text("y"));
  t.set("case", x, "title", text("x kept"));
  REQUIRE(t.commit().is_ok());
  CHECK(title(*a, x) == text("x kept"));
  CHECK(title(*a, y) == text("y"));

  Transaction t2 = a->begin();
  t2.set("case", x, "title", text("x zz")).set("case", x, "title", text("x again"));
  REQUIRE(t2.commit().is_ok());
  CHECK(title(*a, x) == text("x again"));

  sync_one_way(*a, *b, kScope);
  CHECK(title(*b, x) == text("x again"));
  CHECK(title(*b, y) == text("y"));
}

TEST_CASE("Replica: an invalid transaction names the field and changes nothing",
          "[engine][replica][schema]") {
  TempDir tmp;
  auto r = make_replica(tmp.sub("a"), {kScope});
  REQUIRE(r);
  Transaction ok = r->begin();
  const crdt::RecordId id = ok.create("visit", kScope);
  ok.set("visit", id, "household", text("hh"));
  REQUIRE(ok.commit().is_ok());
  const auto before = r->changed_since(0)->position;
  const auto vv_before = *r->version_vector(kScope);

  struct Case {
    const char* what;
    std::function<void(Transaction&)> write;
    const char* names;
  };
  const std::vector<Case> cases = {
      {"wrong value type", [&](Transaction& t) { t.set("visit", id, "date", text("monday")); },
       "date"},
      {"unknown field", [&](Transaction& t) { t.set("visit", id, "colour", text("red")); },
       "colour"},
      {"set op on an lww field", [&](Transaction& t) { t.add("visit", id, "notes", text("x")); },
       "notes"},
      {"unknown collection", [&](Transaction& t) { t.set("vizit", id, "notes", text("x")); },
       "vizit"},
      {"update of an immutable fact",
       [&](Transaction& t) { t.set("delivery", id, "amount", crdt::integer(5)); }, "delivery"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    Transaction t = r->begin();
    t.set("visit", id, "notes", text("valid op before the bad one"));
    c.write(t);
    Status s = t.commit();
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK_THAT(s.message(), Catch::Contains(c.names));
  }
  Transaction missing = r->begin();
  missing.set("delivery", missing.create("delivery", kScope), "amount", crdt::integer(5));
  Status s = missing.commit();
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK_THAT(s.message(), Catch::Contains("entitlement"));
  CHECK_THAT(s.message(), Catch::Contains("required"));

  CHECK(r->changed_since(0)->position == before);
  CHECK(*r->version_vector(kScope) == vv_before);
  CHECK_FALSE(r->get("visit", id)->value().value("notes").has_value());

  Transaction no_key = r->begin();
  const crdt::RecordId other = no_key.create("visit", "samarkand/x/y");
  no_key.set("visit", other, "notes", text("x"));
  CHECK(no_key.commit().code() == Code::kPermissionDenied);
}

TEST_CASE("Replica: a record created with nothing written to it is refused at commit",
          "[engine][replica][schema]") {
  TempDir tmp;
  auto r = make_replica(tmp.sub("a"), {kScope});
  REQUIRE(r);
  const auto before = r->changed_since(0)->position;

  // A record comes into being only through ops: committing none would report success and
  // store nothing, and the next write to the id would find no record.
  struct Case {
    const char* what;
    const char* collection;
    const char* required;  // the required fields the message names, or null
  };
  for (const Case& c : {Case{"no required field", "case", nullptr},
                        Case{"with a required field", "delivery", "'entitlement'"}}) {
    INFO(c.what);
    Transaction t = r->begin();
    const crdt::RecordId id = t.create(c.collection, kScope);
    const Status s = t.commit();
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK_THAT(s.message(), Catch::Contains(id.to_hex()));
    CHECK_THAT(s.message(), Catch::Contains(std::string("'") + c.collection + "'"));
    CHECK_THAT(s.message(), Catch::Contains("set at least one"));
    if (c.required) CHECK_THAT(s.message(), Catch::Contains(c.required));
    CHECK_FALSE(r->get(c.collection, id)->has_value());
  }

  // One empty record among written ones fails the whole transaction, and an op on the id in
  // another collection does not write the record created.
  Transaction mixed = r->begin();
  const crdt::RecordId written = mixed.create("visit", kScope);
  mixed.set("visit", written, "household", text("hh-1"));
  const crdt::RecordId empty = mixed.create("visit", kScope);
  CHECK_THAT(mixed.commit().message(), Catch::Contains(empty.to_hex()));
  Transaction elsewhere = r->begin();
  const crdt::RecordId id = elsewhere.create("visit", kScope);
  elsewhere.set("case", id, "title", text("not the visit"));
  CHECK_THAT(elsewhere.commit().message(), Catch::Contains("'visit'"));
  CHECK(r->changed_since(0)->position == before);
  CHECK_FALSE(r->get("visit", written)->has_value());

  // Deleting the new record is a write: it exists, deleted.
  Transaction deleted = r->begin();
  const crdt::RecordId gone = deleted.create("case", kScope);
  deleted.remove_record("case", gone);
  REQUIRE(deleted.commit().is_ok());
  auto view = r->get("case", gone);
  REQUIRE(view.is_ok());
  REQUIRE(view->has_value());
  CHECK((*view)->deleted());
}

TEST_CASE("Replica: find uses the index, conflicts and the change feed report",
          "[engine][replica]") {
  TempDir tmp;
  auto a = make_replica(tmp.sub("a"), {kScope});
  auto b = make_replica(tmp.sub("b"), {kScope});
  REQUIRE((a && b));
  Transaction t = a->begin();
  for (int i = 0; i < 5; ++i) {
    const crdt::RecordId v = t.create("visit", kScope);
    t.set("visit", v, "household", text(i % 2 ? "hh-odd" : "hh-even"));
  }
  const crdt::RecordId c = t.create("case", kScope);
  t.set("case", c, "guardian", text("grandmother"));
  REQUIRE(t.commit().is_ok());
  CHECK(a->find("visit", "household", text("hh-even"))->size() == 3);
  CHECK(a->find("visit", "household", text("hh-odd"))->size() == 2);
  CHECK(a->find("visit", "household", text("hh-none"))->empty());
  CHECK(a->find("visit", "notes", text("x")).status().code() == Code::kInvalidArgument);

  sync_one_way(*a, *b, kScope);
  const uint64_t mark = b->changed_since(0)->position;
  // Concurrent guardian assignments on the two replicas.
  Transaction ta = a->begin();
  ta.set("case", c, "guardian", text("uncle"));
  REQUIRE(ta.commit().is_ok());
  Transaction tb = b->begin();
  tb.set("case", c, "guardian", text("aunt"));
  REQUIRE(tb.commit().is_ok());
  sync_one_way(*a, *b, kScope);
  sync_one_way(*b, *a, kScope);

  for (Replica* r : {a.get(), b.get()}) {
    auto conflicts = r->conflicts();
    REQUIRE(conflicts.is_ok());
    REQUIRE(conflicts->size() == 1);
    CHECK((*conflicts)[0].values("guardian") ==
          std::vector<crdt::Value>{(*conflicts)[0].values("guardian")[0],
                                   (*conflicts)[0].values("guardian")[1]});
    CHECK((*conflicts)[0].values("guardian").size() == 2);
    CHECK(r->find("case", "guardian", text("uncle"))->size() == 1);
    CHECK(r->find("case", "guardian", text("aunt"))->size() == 1);
    CHECK(r->find("case", "guardian", text("grandmother"))->empty());
  }
  auto changed = b->changed_since(mark);
  REQUIRE(changed.is_ok());
  REQUIRE(changed->records.size() == 1);
  CHECK(changed->records[0].id == c);
  CHECK(b->changed_since(changed->position)->records.empty());

  // Resolution observes both values and clears the conflict everywhere.
  Transaction resolve = b->begin();
  resolve.set("case", c, "guardian", text("aunt"));
  REQUIRE(resolve.commit().is_ok());
  sync_one_way(*b, *a, kScope);
  CHECK(a->conflicts()->empty());
  CHECK(a->state_hash(kScope).value() == b->state_hash(kScope).value());
}

namespace {

// What an IngestReport counts: each change given exactly once.
size_t counted(const IngestReport& r) {
  return r.applied + r.duplicates + r.pending + r.deferred + r.sealed_only + r.quarantined +
         r.refused.size();
}

}  // namespace

// An operator reads these counts to tell whether a revocation took effect: a change that waits
// must show as waiting (not as held), and none may be counted twice.
// Four visits written on `a`, one change each: its sealed changes in chain order.
Result<std::vector<std::string>> four_visits(Replica& a) {
  for (int i = 0; i < 4; ++i) {
    Transaction t = a.begin();
    const crdt::RecordId v = t.create("visit", kScope);
    t.set("visit", v, "household", text("hh-" + std::to_string(i)));
    REQUIRE(t.commit().is_ok());
  }
  auto all = a.export_missing(kScope, crdt::VersionVector());
  REQUIRE(all.is_ok());
  REQUIRE(all->size() == 4);
  return all;
}

TEST_CASE("Replica: ingest counts every change given once and where it ended up",
          "[engine][replica][ingest]") {
  TempDir tmp;
  auto a = make_replica(tmp.sub("a"), {kScope});
  REQUIRE(a);
  auto all = four_visits(*a);

  SECTION("a change that waits is pending however often it comes, until let in") {
    auto b = make_replica(tmp.sub("b"), {kScope});
    REQUIRE(b);
    auto first = b->ingest({(*all)[2]});
    REQUIRE(first.is_ok());
    CHECK(first->pending == 1);
    REQUIRE(first->waiting.size() == 1);
    CHECK(first->waiting[0] == "change 3 of device " + key_hex(a->device_key()).substr(0, 16) +
                                   " in scope '" + kScope +
                                   "' waits for its change 1 (this replica holds none of its "
                                   "changes)");
    auto again = b->ingest({(*all)[2], (*all)[2]});  // still waiting: not "already held"
    CHECK(again->pending == 1);
    CHECK(again->duplicates == 1);  // the second copy in the batch
    CHECK(counted(*again) == 2);
    CHECK(again->waiting.size() == 1);
    // The whole log: 1 and 2 let the waiting 3 in before it is read again, then 4 follows.
    auto whole = b->ingest(*all);
    CHECK(whole->applied == 4);
    CHECK(whole->duplicates == 0);
    CHECK(whole->pending == 0);
    CHECK(whole->released == 0);
    CHECK(whole->waiting.empty());
    CHECK(counted(*whole) == 4);
    CHECK(b->list("visit")->size() == 4);
    CHECK(b->withheld()->pending == 0);
  }
  SECTION("changes that wait for one later in the same batch count once, as applied") {
    auto c = make_replica(tmp.sub("c"), {kScope});
    REQUIRE(c);
    auto r = c->ingest({(*all)[3], (*all)[2], (*all)[1], (*all)[0]});
    CHECK(r->applied == 4);
    CHECK(r->pending == 0);
    CHECK(counted(*r) == 4);
    CHECK(r->waiting.empty());
  }
  SECTION("a change left waiting by an earlier ingest and let in now is released") {
    auto d = make_replica(tmp.sub("d"), {kScope});
    REQUIRE(d);
    CHECK(d->ingest({(*all)[1]})->pending == 1);
    CHECK(d->withheld()->pending == 1);
    auto r = d->ingest({(*all)[0]});
    CHECK(r->applied == 1);
    CHECK(r->released == 1);
    CHECK(counted(*r) == 1);
    CHECK(d->withheld()->pending == 0);
    CHECK(d->list("visit")->size() == 2);
  }
}

TEST_CASE("Replica: an author's changes wait for an earlier one only up to the bounds",
          "[engine][replica][ingest]") {
  TempDir tmp;
  auto a = make_replica(tmp.sub("a"), {kScope});
  REQUIRE(a);
  for (int i = 0; i < 6; ++i) {
    Transaction t = a->begin();
    t.set("visit", t.create("visit", kScope), "household", text("hh-" + std::to_string(i)));
    REQUIRE(t.commit().is_ok());
  }
  auto all = a->export_missing(kScope, crdt::VersionVector());
  REQUIRE(all.is_ok());
  REQUIRE(all->size() == 6);
  auto bounded = [&](const std::string& name, uint64_t changes, uint64_t bytes) {
    ReplicaOptions o = test_options();
    o.max_pending_changes = changes;
    o.max_pending_bytes = bytes;
    auto r = Replica::create(tmp.sub(name), o);
    REQUIRE(r.is_ok());
    REQUIRE((*r)->add_scope_key(kScope, 1, test::test_scope_key(kScope)).is_ok());
    return std::move(*r);
  };
  const std::vector<std::string> after_first(all->begin() + 1, all->end());

  SECTION("by count") {
    auto b = bounded("b", 2, uint64_t{1} << 30);
    auto r = b->ingest(after_first);  // 2 to 6, without 1
    REQUIRE(r.is_ok());
    CHECK(r->pending == 2);
    CHECK(r->deferred == 3);
    CHECK(counted(*r) == 5);
    CHECK(b->withheld()->pending == 2);
    REQUIRE(r->not_kept.size() == 5);
    CHECK_THAT(r->not_kept[2].reason,
               Catch::Contains("change 4 of device " + key_hex(a->device_key()).substr(0, 16) +
                               " in scope '" + kScope + "' not held: 2 of its changes ("));
    CHECK(r->not_kept[2].outcome == IngestReport::NotKept::Outcome::kWaiting);
    // A later ingest counts what already waits, from the table.
    auto again = b->ingest({(*all)[5]});
    CHECK(again->deferred == 1);
    CHECK(b->withheld()->pending == 2);
    // The missing one lets the held ones in; then the rest fit, and all six are applied.
    auto first = b->ingest({(*all)[0]});
    CHECK(first->applied == 1);
    CHECK(first->released == 2);
    auto rest = b->ingest(after_first);
    CHECK(rest->applied == 3);
    CHECK(rest->duplicates == 2);
    CHECK(b->list("visit")->size() == 6);
    CHECK(b->withheld()->pending == 0);
  }
  SECTION("by bytes") {
    // Room for one waiting change, not two.
    auto b = bounded("b", 100, (*all)[1].size() + (*all)[2].size() - 1);
    auto r = b->ingest({(*all)[1], (*all)[2]});
    CHECK(r->pending == 1);
    CHECK(r->deferred == 1);
    CHECK(b->ingest({(*all)[3]})->deferred == 1);
    CHECK(b->ingest(*all)->applied == 6);
  }
  SECTION("a change not held, offered twice in one batch, is counted and listed once") {
    auto b = bounded("b", 1, uint64_t{1} << 30);
    auto r = b->ingest({(*all)[1], (*all)[2], (*all)[2], (*all)[2]});
    CHECK(r->pending == 1);
    CHECK(r->deferred == 1);
    CHECK(r->duplicates == 2);
    CHECK(counted(*r) == 4);
    CHECK(r->not_kept.size() == 2);
  }
}

TEST_CASE("Replica: ingest is idempotent, fills gaps, and relays what it cannot read",
          "[engine][replica][ingest]") {
  TempDir tmp;
  auto a = make_replica(tmp.sub("a"), {kScope});
  auto relay = make_replica(tmp.sub("relay"), {});
  auto b = make_replica(tmp.sub("b"), {kScope});
  REQUIRE((a && relay && b));
  auto all = four_visits(*a);

  // Out of order: 3 and 4 wait for 2, 1 arrives, then 2 fills the gap.
  auto r1 = relay->ingest({(*all)[3], (*all)[2]});
  CHECK(r1->pending == 2);
  auto r2 = relay->ingest({(*all)[0]});
  CHECK(r2->sealed_only == 1);
  auto r3 = relay->ingest({(*all)[1], (*all)[1], (*all)[0]});
  CHECK(r3->sealed_only == 1);  // 2; the drained 3 and 4 were not among those given
  CHECK(r3->released == 2);
  CHECK(r3->duplicates == 2);
  CHECK(relay->version_vector(kScope)->get(a->actor()) == 4);
  CHECK(relay->list("visit")->empty());  // it holds no key: nothing readable

  // The relay forwards the sealed changes; b can read them.
  auto rb = sync_one_way(*relay, *b, kScope);
  CHECK(rb.applied == 4);
  CHECK(b->list("visit")->size() == 4);
  CHECK(b->state_hash(kScope).value() == a->state_hash(kScope).value());
  CHECK(sync_one_way(*relay, *b, kScope).applied == 0);

  // When the key reaches the relay, the held changes are applied.
  REQUIRE(relay->add_scope_key(kScope, 1, test::test_scope_key(kScope)).is_ok());
  CHECK(relay->list("visit")->size() == 4);
  CHECK(relay->state_hash(kScope).value() == a->state_hash(kScope).value());
  CHECK(relay->verify().is_ok());
}

TEST_CASE("Replica: a batch of large changes, some forged or repeated, is applied whole",
          "[engine][replica]") {
  // Large changes are opened ahead of their use on a helper thread (engine::Ahead in
  // ingest): a forged one among them is refused, a repeated one counted once, and every
  // valid one applied in full, as when each is ingested alone.
  TempDir tmp;
  auto a = make_replica(tmp.sub("a"), {kScope});
  auto b = make_replica(tmp.sub("b"), {kScope});
  auto c = make_replica(tmp.sub("c"), {kScope});
  REQUIRE((a && b && c));
  std::mt19937_64 rng(11);
  for (int change = 0; change < 6; ++change) {
    Transaction t = a->begin();
    for (int i = 0; i < 60; ++i) {
      std::string noise;
      for (int k = 0; k < 600; ++k) noise += static_cast<char>('a' + rng() % 26);
      t.set("visit", t.create("visit", kScope), "household", text(noise));
    }
    REQUIRE(t.commit().is_ok());
  }
  auto changes = a->export_missing(kScope, crdt::VersionVector());
  REQUIRE(changes.is_ok());
  REQUIRE(changes->size() == 6);
  for (const std::string& ch : *changes) REQUIRE(ch.size() >= (16u << 10));  // opened ahead
  std::string forged = (*changes)[2];
  forged[forged.size() / 2] ^= 0x01;
  const std::vector<std::string> batch = {(*changes)[0], (*changes)[1], forged,
                                          (*changes)[2], (*changes)[3], (*changes)[1],
                                          (*changes)[4], (*changes)[5]};
  auto report = b->ingest(batch);
  REQUIRE(report.is_ok());
  CHECK(report->applied == 6);
  CHECK(report->refused.size() == 1);
  CHECK(report->duplicates == 1);
  for (const std::string& ch : *changes) REQUIRE(c->ingest({ch})->applied == 1);
  CHECK(b->state_hash(kScope).value() == a->state_hash(kScope).value());
  CHECK(c->state_hash(kScope).value() == a->state_hash(kScope).value());
  CHECK(b->list("visit")->size() == 360);
  CHECK(b->verify().is_ok());
}

// The device store at tmp "a" closed and copied to "clone" (a restored backup, a copied
// tablet), then both opened again: two stores writing under one device key from here.
std::pair<std::unique_ptr<Replica>, std::unique_ptr<Replica>> clone_device(
    TempDir& tmp, std::unique_ptr<Replica> a) {
  a.reset();
  std::filesystem::copy(tmp.sub("a"), tmp.sub("clone"));
  auto orig = Replica::open(tmp.sub("a"), test_options());
  auto clone = Replica::open(tmp.sub("clone"), test_options());
  REQUIRE((orig.is_ok() && clone.is_ok()));
  return {std::move(*orig), std::move(*clone)};
}

TEST_CASE("Replica: a cloned device's second change for a seq is quarantined",
          "[engine][replica][ingest]") {
  TempDir tmp;
  auto a = make_replica(tmp.sub("a"), {kScope});
  REQUIRE(a);
  auto [orig, clone] = clone_device(tmp, std::move(a));
  auto hub = make_replica(tmp.sub("hub"), {kScope});
  REQUIRE(hub);
  for (Replica* r : {orig.get(), clone.get()}) {
    Transaction t = r->begin();
    const crdt::RecordId v = t.create("visit", kScope);
    t.set("visit", v, "household", text(r == orig.get() ? "original" : "clone"));
    REQUIRE(t.commit().is_ok());
  }
  CHECK(sync_one_way(*orig, *hub, kScope).applied == 1);
  // By version vector the hub already has seq 1 of this author: the clone's change only
  // arrives when its bytes are sent (sync compares head hashes for this), so send them all.
  CHECK(clone->export_missing(kScope, *hub->version_vector(kScope))->empty());
  auto rep = hub->ingest(*clone->export_missing(kScope, crdt::VersionVector()));
  REQUIRE(rep.is_ok());
  CHECK(rep->quarantined == 1);
  CHECK(rep->applied == 0);
  auto alerts = hub->alerts();
  REQUIRE(alerts.is_ok());
  REQUIRE(alerts->size() == 1);
  CHECK((*alerts)[0].kind == "equivocation");
  CHECK(hub->find("visit", "household", text("original"))->size() == 1);
  CHECK(hub->find("visit", "household", text("clone"))->empty());
  CHECK(hub->verify().is_ok());
}

// Forks are evidence, kept once each and up to a bound per author: a peer offering the same
// fork again, or a device making fork after fork, cannot fill the quarantine or the alerts.
TEST_CASE("Replica: quarantine keeps each fork once and at most a bound per author",
          "[engine][replica][ingest]") {
  TempDir tmp;
  auto a = make_replica(tmp.sub("a"), {kScope});
  REQUIRE(a);
  a.reset();
  // Six copies of one device store, each writing its own change 1: six forks of one seq.
  std::vector<std::string> firsts;
  for (int i = 0; i < 6; ++i) {
    const std::string dir = tmp.sub("copy" + std::to_string(i));
    std::filesystem::copy(tmp.sub("a"), dir);
    auto copy = Replica::open(dir, test_options());
    REQUIRE(copy.is_ok());
    Transaction t = (*copy)->begin();
    t.set("visit", t.create("visit", kScope), "household", text("copy " + std::to_string(i)));
    REQUIRE(t.commit().is_ok());
    auto all = (*copy)->export_missing(kScope, crdt::VersionVector());
    REQUIRE(all.is_ok());
    REQUIRE(all->size() == 1);
    firsts.push_back(all->front());
  }
  ReplicaOptions o = test_options();
  o.max_quarantined_per_author = 3;
  auto created = Replica::create(tmp.sub("hub"), o);
  REQUIRE(created.is_ok());
  Replica& hub = **created;
  REQUIRE(hub.add_scope_key(kScope, 1, test::test_scope_key(kScope)).is_ok());
  auto kinds = [&] {
    auto alerts = hub.alerts();
    REQUIRE(alerts.is_ok());
    std::vector<std::string> out;
    for (const Alert& al : *alerts) out.push_back(al.kind);
    return out;
  };

  auto rep = hub.ingest({firsts[0], firsts[1], firsts[2]});
  REQUIRE(rep.is_ok());
  CHECK(rep->applied == 1);
  CHECK(rep->quarantined == 2);
  CHECK(hub.withheld()->quarantined == 2);
  CHECK(kinds() == std::vector<std::string>{"equivocation", "equivocation"});

  // The same forks again: reported, neither stored nor raised again.
  rep = hub.ingest({firsts[1], firsts[2]});
  REQUIRE(rep.is_ok());
  CHECK(rep->quarantined == 2);
  REQUIRE(rep->not_kept.size() == 2);
  CHECK(rep->not_kept[0].outcome == IngestReport::NotKept::Outcome::kQuarantined);
  CHECK(hub.withheld()->quarantined == 2);
  CHECK(kinds().size() == 2);

  // The third fork fills the bound; the fourth and fifth are reported and not kept, and one
  // alert says so.
  rep = hub.ingest({firsts[3], firsts[4], firsts[5], firsts[4]});
  REQUIRE(rep.is_ok());
  CHECK(rep->quarantined == 4);
  CHECK(counted(*rep) == 4);
  REQUIRE(rep->not_kept.size() == 4);
  CHECK_THAT(rep->not_kept[0].reason, !Catch::Contains("not kept as evidence"));
  for (size_t i = 1; i < 4; ++i) {
    CHECK(rep->not_kept[i].outcome == IngestReport::NotKept::Outcome::kQuarantined);
    CHECK_THAT(rep->not_kept[i].reason,
               Catch::Contains("not kept as evidence: 3 of this device's changes"));
  }
  CHECK(hub.withheld()->quarantined == 3);
  CHECK(kinds() == std::vector<std::string>{"equivocation", "equivocation", "equivocation",
                                            "quarantine_full"});
  auto alerts = hub.alerts();
  REQUIRE(alerts.is_ok());
  CHECK_THAT(alerts->back().detail, Catch::Contains("revoke it"));
  CHECK(hub.ingest({firsts[5]})->quarantined == 1);
  CHECK(kinds().size() == 4);
  CHECK(hub.find("visit", "household", text("copy 0"))->size() == 1);
  CHECK(hub.verify().is_ok());
}

// Two forks of one seq that both wait for an earlier change: the second is compared with the
// first (not taken for it), quarantined and listed as not kept.
TEST_CASE("Replica: a second waiting change for a seq is a fork and not a duplicate",
          "[engine][replica][ingest]") {
  TempDir tmp;
  auto a = make_replica(tmp.sub("a"), {kScope});
  REQUIRE(a);
  auto write = [](Replica& r, const std::string& household) {
    Transaction t = r.begin();
    const crdt::RecordId v = t.create("visit", kScope);
    t.set("visit", v, "household", text(household));
    REQUIRE(t.commit().is_ok());
  };
  write(*a, "first");  // seq 1, which the hub will lack
  auto [orig, clone] = clone_device(tmp, std::move(a));
  auto hub = make_replica(tmp.sub("hub"), {kScope});
  REQUIRE(hub);
  write(*orig, "original");  // seq 2
  write(*clone, "clone");    // another seq 2
  auto second = [&](Replica& r) {
    auto all = r.export_missing(kScope, crdt::VersionVector());
    REQUIRE(all.is_ok());
    REQUIRE(all->size() == 2);
    return all->back();
  };
  auto rep = hub->ingest({second(*orig), second(*clone)});
  REQUIRE(rep.is_ok());
  CHECK(rep->pending == 1);
  CHECK(rep->quarantined == 1);
  CHECK(rep->duplicates == 0);
  REQUIRE(rep->not_kept.size() == 2);
  CHECK(rep->not_kept[0].outcome == IngestReport::NotKept::Outcome::kWaiting);
  CHECK(rep->not_kept[1].outcome == IngestReport::NotKept::Outcome::kQuarantined);
  auto alerts = hub->alerts();
  REQUIRE(alerts.is_ok());
  REQUIRE(alerts->size() == 1);
  CHECK((*alerts)[0].kind == "equivocation");

  // Seq 1 lets the waiting fork in: it leaves the waiting list and counts as released.
  auto first = orig->export_missing(kScope, crdt::VersionVector());
  REQUIRE(first.is_ok());
  auto rest = hub->ingest({first->front()});
  REQUIRE(rest.is_ok());
  CHECK(rest->applied == 1);
  CHECK(rest->released == 1);
  CHECK(rest->not_kept.empty());
  CHECK(hub->find("visit", "household", text("original"))->size() == 1);
  CHECK(hub->find("visit", "household", text("clone"))->empty());
}

TEST_CASE("Replica: a flagged lww field keeps concurrent writes for review",
          "[engine][replica][domain]") {
  TempDir tmp;
  auto a = make_replica(tmp.sub("a"), {kScope});
  auto b = make_replica(tmp.sub("b"), {kScope});
  REQUIRE((a && b));
  Transaction t = a->begin();
  const crdt::RecordId c = t.create("case", kScope);
  t.set("case", c, "address", text("Yunusobod 4-17"));
  REQUIRE(t.commit().is_ok());
  sync_one_way(*a, *b, kScope);
  Transaction ta = a->begin();
  ta.set("case", c, "address", text("Yunusobod 4-18"));
  REQUIRE(ta.commit().is_ok());
  // b writes in a later millisecond, so its write is the latest by HLC time (within one
  // millisecond two devices' times can tie, and the dot decides).
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Transaction tb = b->begin();
  tb.set("case", c, "address", text("Chilonzor 9-2"));
  REQUIRE(tb.commit().is_ok());
  sync_one_way(*a, *b, kScope);
  sync_one_way(*b, *a, kScope);
  for (Replica* r : {a.get(), b.get()}) {
    auto v = r->get("case", c);
    REQUIRE(v->has_value());
    CHECK((*v)->in_conflict());
    CHECK((*v)->values("address").size() == 2);
    // Read as lww: the latest write shows (b wrote after a).
    CHECK((*v)->value("address") == text("Chilonzor 9-2"));
  }
  // The same value written concurrently is no conflict.
  Transaction same_a = a->begin(), same_b = b->begin();
  same_a.set("case", c, "address", text("Olmazor 1-1"));
  same_b.set("case", c, "address", text("Olmazor 1-1"));
  REQUIRE(same_a.commit().is_ok());
  REQUIRE(same_b.commit().is_ok());
  sync_one_way(*a, *b, kScope);
  sync_one_way(*b, *a, kScope);
  CHECK_FALSE(a->get("case", c)->value().in_conflict());
  CHECK(a->conflicts()->empty());
}

TEST_CASE("Replica: two deliveries for one entitlement raise an over-issuance alert",
          "[engine][replica][domain]") {
  TempDir tmp;
  auto a = make_replica(tmp.sub("a"), {kScope});
  auto b = make_replica(tmp.sub("b"), {kScope});
  REQUIRE((a && b));
  for (Replica* r : {a.get(), b.get()}) {
    Transaction t = r->begin();
    const crdt::RecordId d = t.create("delivery", kScope);
    t.set("delivery", d, "entitlement", text("ENT-2026-0042"))
        .set("delivery", d, "amount", crdt::integer(350000));
    REQUIRE(t.commit().is_ok());
  }
  CHECK(a->alerts()->empty());  // alone, each tablet saw one delivery
  sync_one_way(*b, *a, kScope);
  auto alerts = a->alerts();
  REQUIRE(alerts.is_ok());
  REQUIRE(alerts->size() == 1);
  CHECK((*alerts)[0].kind == "over_issuance");
  CHECK_THAT((*alerts)[0].detail, Catch::Contains("ENT-2026-0042"));
  CHECK(a->find("delivery", "entitlement", text("ENT-2026-0042"))->size() == 2);  // both kept
}

TEST_CASE("Replica: removing a household member raises an alert for review",
          "[engine][replica][domain]") {
  TempDir tmp;
  auto a = make_replica(tmp.sub("a"), {kScope});
  REQUIRE(a);
  Transaction t = a->begin();
  const crdt::RecordId c = t.create("case", kScope);
  t.add("case", c, "members", text("child-Aziza")).add("case", c, "members", text("mother"));
  REQUIRE(t.commit().is_ok());
  Transaction rm = a->begin();
  rm.remove("case", c, "members", text("child-Aziza"));
  REQUIRE(rm.commit().is_ok());
  auto alerts = a->alerts();
  REQUIRE(alerts->size() == 1);
  CHECK((*alerts)[0].kind == "removed_member");
  CHECK_THAT((*alerts)[0].detail, Catch::Contains("child-Aziza"));
}

TEST_CASE("Replica: an alert is acknowledged once, with a note, and stays acknowledged",
          "[engine][replica][domain]") {
  TempDir tmp;
  ReplicaOptions options = test_options();
  options.wall_clock = [] { return uint64_t{1795338611123}; };
  auto created = Replica::create(tmp.sub("a"), options);
  REQUIRE(created.is_ok());
  std::unique_ptr<Replica> a = std::move(*created);
  REQUIRE(a->add_scope_key(kScope, 1, test::test_scope_key(kScope)).is_ok());
  auto remove_member = [&](const char* who) {
    Transaction t = a->begin();
    const crdt::RecordId c = t.create("case", kScope);
    t.add("case", c, "members", text(who));
    REQUIRE(t.commit().is_ok());
    Transaction rm = a->begin();
    rm.remove("case", c, "members", text(who));
    REQUIRE(rm.commit().is_ok());
  };
  remove_member("child-Aziza");
  REQUIRE(a->alerts()->size() == 1);
  CHECK(a->alerts()->front().open());

  CHECK(a->acknowledge_alert(1, "").status().code() == Code::kInvalidArgument);
  CHECK(a->acknowledge_alert(2, "checked").status().code() == Code::kNotFound);
  REQUIRE(a->acknowledge_alert(1, "Aziza moved to her grandmother; confirmed by phone").is_ok());
  Status again = a->acknowledge_alert(1, "a second note").status();
  CHECK(again.code() == Code::kAlreadyExists);
  CHECK_THAT(again.message(), Catch::Contains("grandmother"));

  // A later alert takes the next position and is open; the first keeps its note.
  remove_member("child-Bobur");
  a.reset();
  auto reopened = Replica::open(tmp.sub("a"), options);
  REQUIRE(reopened.is_ok());
  auto alerts = (*reopened)->alerts();
  REQUIRE(alerts.is_ok());
  REQUIRE(alerts->size() == 2);
  const Alert& first = (*alerts)[0];
  CHECK(first.position == 1);
  CHECK(first.kind == "removed_member");
  CHECK_THAT(first.detail, Catch::Contains("child-Aziza"));
  CHECK_FALSE(first.open());
  CHECK(first.acknowledged_ms == 1795338611123);
  CHECK(first.acknowledgement == "Aziza moved to her grandmother; confirmed by phone");
  CHECK((*alerts)[1].position == 2);
  CHECK((*alerts)[1].open());
  CHECK_THAT((*alerts)[1].detail, Catch::Contains("child-Bobur"));
  CHECK((*reopened)->verify().is_ok());
}

TEST_CASE("Replica: a transaction too large for one sync frame is refused whole",
          "[engine][replica]") {
  TempDir tmp;
  auto a = make_replica(tmp.sub("a"), {kScope});
  REQUIRE(a);
  Transaction t = a->begin();
  std::mt19937_64 rng(5);
  for (int i = 0; i < 30000; ++i) {  // 7.5 MB of random letters: over 3 MiB compressed
    std::string noise(250, ' ');
    for (char& ch : noise) ch = static_cast<char>('a' + rng() % 26);
    const crdt::RecordId v = t.create("visit", kScope);
    t.set("visit", v, "notes", text(noise));
  }
  Status s = t.commit();
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK_THAT(s.message(), Catch::Contains("split the transaction"));
  CHECK(a->version_vector(kScope)->empty());
  CHECK(a->list("visit")->empty());
}

TEST_CASE("Replica: a field an older schema does not know is kept and passed on",
          "[engine][replica][schema]") {
  TempDir tmp;
  // A newer deployment schema adds "water_source" to "case"; the middle replica runs the old
  // one and relays between two replicas on the new one.
  crdt::Schema newer = test::test_schema();
  crdt::CollectionSpec c = *newer.collection("case");
  c.add({"water_source", crdt::FieldKind::kLww, crdt::ValueType::kText});
  newer.add(c);
  auto with = [&](const std::string& name, const crdt::Schema& schema) {
    ReplicaOptions o = test_options();
    o.schema = schema;
    auto r = Replica::create(tmp.sub(name), o);
    REQUIRE(r.is_ok());
    REQUIRE((*r)->add_scope_key(kScope, 1, test::test_scope_key(kScope)).is_ok());
    return std::move(*r);
  };
  auto a = with("a", newer);
  auto old = with("old", test::test_schema());
  auto b = with("b", newer);
  Transaction t = a->begin();
  const crdt::RecordId id = t.create("case", kScope);
  t.set("case", id, "title", text("Karimov family")).set("case", id, "water_source", text("well"));
  REQUIRE(t.commit().is_ok());
  // The old schema refuses to write the field, but keeps it when it arrives.
  Transaction refused = old->begin();
  refused.set("case", id, "water_source", text("tap"));
  CHECK(refused.commit().code() == Code::kInvalidArgument);
  sync_one_way(*a, *old, kScope);
  auto kept = old->get("case", id);
  REQUIRE(kept->has_value());
  CHECK((*kept)->value("water_source") == text("well"));
  sync_one_way(*old, *b, kScope);
  CHECK(b->get("case", id)->value().value("water_source") == text("well"));
  CHECK(b->state_hash(kScope).value() == a->state_hash(kScope).value());
}

TEST_CASE("Replica: reading a collection neither in the schema nor in the store is an error",
          "[engine][replica][schema]") {
  TempDir tmp;
  // A newer deployment schema adds "household"; the old replica receives its records by sync
  // and must still read them, while a misspelt name must not read as an empty collection.
  crdt::Schema newer = test::test_schema();
  crdt::CollectionSpec household{"household", {}, false};
  household.add({"address", crdt::FieldKind::kLww, crdt::ValueType::kText});
  newer.add(household);
  ReplicaOptions o = test_options();
  o.schema = newer;
  auto a = make_replica(tmp.sub("new"), {kScope}, o);
  REQUIRE(a);
  auto old = make_replica(tmp.sub("old"), {kScope});
  REQUIRE(old);
  Transaction t = a->begin();
  const crdt::RecordId id = t.create("household", kScope);
  t.set("household", id, "address", text("Navoi 12"));
  REQUIRE(t.commit().is_ok());
  sync_one_way(*a, *old, kScope);

  for (Replica* r : {a.get(), old.get()}) {
    auto got = r->get("household", id);
    REQUIRE(got.is_ok());
    REQUIRE(got->has_value());
    CHECK((*got)->value("address") == text("Navoi 12"));
    auto all = r->list("household");
    REQUIRE(all.is_ok());
    CHECK(all->size() == 1);

    auto misspelt = r->get("househld", id);
    CHECK(misspelt.status().code() == Code::kInvalidArgument);
    CHECK(misspelt.status().message() ==
          "unknown collection 'househld' (not in the schema, and this store holds none of its "
          "records)");
    CHECK(r->list("househld").status().code() == Code::kInvalidArgument);
    // A prefix or an extension of a held collection's name is not that collection.
    CHECK(r->list("househol").status().code() == Code::kInvalidArgument);
    CHECK(r->list("households").status().code() == Code::kInvalidArgument);
  }
  // A collection of the schema with no records yet reads as empty.
  auto none = old->list("visit");
  REQUIRE(none.is_ok());
  CHECK(none->empty());
  auto absent = old->get("case", id);
  REQUIRE(absent.is_ok());
  CHECK_FALSE(absent->has_value());
}

TEST_CASE("Replica: collections beyond the record-table limit share one table, invisibly",
          "[engine][replica][store]") {
  // 80 collections, more than kMaxRecordTables (64). A writes records of c00..c39, B of
  // c40..c79. X ingests A's changes first, Y B's: each gives tables to the first 64
  // collections it meets, so they split differently between own tables and the shared one.
  crdt::Schema schema(1);
  for (int c = 0; c < 80; ++c) {
    crdt::CollectionSpec spec{"c" + std::to_string(100 + c).substr(1), {}, false};
    spec.add({"v", crdt::FieldKind::kLww, crdt::ValueType::kText});
    schema.add(spec);
  }
  auto make = [&](const std::string& dir) {
    ReplicaOptions o = test_options();
    o.schema = schema;
    auto r = Replica::create(dir, std::move(o));
    REQUIRE(r.is_ok());
    REQUIRE((*r)->add_scope_key(kScope, 1, birga::test::test_scope_key(kScope)).is_ok());
    return std::move(*r);
  };
  TempDir tmp;
  auto a = make(tmp.sub("a")), b = make(tmp.sub("b")), x = make(tmp.sub("x")),
       y = make(tmp.sub("y"));
  auto write = [](Replica& r, int first, int last) {
    for (int c = first; c <= last; ++c) {
      const std::string coll = "c" + std::to_string(100 + c).substr(1);
      Transaction t = r.begin();
      for (int i = 0; i < 3; ++i) {
        const crdt::RecordId id = t.create(coll, kScope);
        t.set(coll, id, "v", text(coll + "-" + std::to_string(i)));
      }
      REQUIRE(t.commit().is_ok());
    }
  };
  write(*a, 0, 39);
  write(*b, 40, 79);
  auto from_a = a->export_missing(kScope, crdt::VersionVector());
  auto from_b = b->export_missing(kScope, crdt::VersionVector());
  REQUIRE(from_a.is_ok());
  REQUIRE(from_b.is_ok());
  REQUIRE(x->ingest(*from_a).is_ok());
  REQUIRE(x->ingest(*from_b).is_ok());
  REQUIRE(y->ingest(*from_b).is_ok());
  REQUIRE(y->ingest(*from_a).is_ok());

  for (Replica* r : {x.get(), y.get()}) {
    CHECK(r->verify().is_ok());
    for (int c = 0; c < 80; ++c) {
      const std::string coll = "c" + std::to_string(100 + c).substr(1);
      auto records = r->list(coll);
      REQUIRE(records.is_ok());
      REQUIRE(records->size() == 3);
      for (const RecordView& v : *records) {
        CHECK(crdt::to_display(*v.value("v")).rfind(coll + "-", 0) == 0);
        auto again = r->get(coll, v.id);
        REQUIRE(again.is_ok());
        CHECK(again->has_value());
      }
    }
  }
  CHECK(x->state_hash(kScope).value() == y->state_hash(kScope).value());
  // An update lands where the record lives, in either kind of table, and survives a reopen.
  auto last = x->list("c79");
  REQUIRE(last.is_ok());
  Transaction t = x->begin();
  t.set("c79", (*last)[0].id, "v", text("changed"));
  REQUIRE(t.commit().is_ok());
  const crdt::RecordId changed = (*last)[0].id;
  x.reset();
  ReplicaOptions o = test_options();
  o.schema = schema;
  auto reopened = Replica::open(tmp.sub("x"), std::move(o));
  REQUIRE(reopened.is_ok());
  auto v = (*reopened)->get("c79", changed);
  REQUIRE(v.is_ok());
  REQUIRE(v->has_value());
  CHECK((*v)->value("v") == text("changed"));
  CHECK((*reopened)->list("c79")->size() == 3);
  CHECK((*reopened)->verify().is_ok());
  reopened->reset();

  // Opened with an older schema that lacks c05 (own table) and c79 (in the shared one), both
  // are still read from the store; a collection held nowhere is unknown.
  {
    crdt::Schema older(1);
    for (int c = 0; c < 80; ++c) {
      if (c == 5 || c == 79) continue;
      crdt::CollectionSpec spec = *schema.collection("c" + std::to_string(100 + c).substr(1));
      older.add(spec);
    }
    ReplicaOptions oo = test_options();
    oo.schema = older;
    auto old = Replica::open(tmp.sub("x"), std::move(oo));
    REQUIRE(old.is_ok());
    for (const char* coll : {"c05", "c79"}) {
      INFO(coll);
      auto records = (*old)->list(coll);
      REQUIRE(records.is_ok());
      CHECK(records->size() == 3);
    }
    CHECK((*old)->get("c79", changed)->has_value());
    CHECK((*old)->list("c80").status().code() == Code::kInvalidArgument);
    CHECK((*old)->get("c80", changed).status().code() == Code::kInvalidArgument);
  }

  // A collection table whose registration is lost would hide its records: verify says so.
  {
    auto env = engine::LmdbEnv::open(tmp.sub("x"));
    REQUIRE(env.is_ok());
    REQUIRE(
        (*env)
            ->write([](engine::Txn& txn) { return txn.del(engine::Table::kMeta, "records/c05"); })
            .is_ok());
  }
  ReplicaOptions o2 = test_options();
  o2.schema = schema;
  auto damaged = Replica::open(tmp.sub("x"), std::move(o2));
  REQUIRE(damaged.is_ok());
  const Status v2 = (*damaged)->verify();
  CHECK(v2.code() == Code::kDataLoss);
  CHECK_THAT(v2.message(), Catch::Contains("collection 'c05' is not registered"));
}

TEST_CASE("Replica: records kept in blocks split, stay ordered and read back whatever the order",
          "[engine][replica][store]") {
  // Records with random ids (so new ones land before, between and after the stored blocks),
  // of random sizes (a few larger than a whole block), written and rewritten in transactions
  // of random sizes; every read, list, verify and reopen must give what was written last.
  const uint64_t seed = test::env_u64("BIRGA_BLOCK_SEED", std::random_device{}());
  std::printf("block test: seed %llu (replay: BIRGA_BLOCK_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  TempDir tmp;
  auto a = make_replica(tmp.sub("a"), {kScope});
  REQUIRE(a);
  std::map<crdt::RecordId, std::string> expected;
  auto some_text = [&] {
    const size_t n = rng() % 50 == 0 ? 6000 + rng() % 3000 : 10 + rng() % 400;
    std::string s;
    while (s.size() < n) s += "word" + std::to_string(rng() % 1000) + " ";
    return s;
  };
  for (int round = 0; round < 40; ++round) {
    Transaction t = a->begin();
    const size_t n = 1 + rng() % 60;
    for (size_t i = 0; i < n; ++i) {
      if (!expected.empty() && rng() % 3 == 0) {
        auto it = expected.begin();
        std::advance(it, rng() % expected.size());
        it->second = some_text();
        t.set("visit", it->first, "household", text(it->second));
      } else {
        crdt::RecordId id;
        for (auto& b : id.bytes) b = static_cast<uint8_t>(rng());
        expected[id] = some_text();
        t.set("visit", t.create("visit", kScope, id), "household", text(expected[id]));
      }
    }
    REQUIRE(t.commit().is_ok());
    for (int probe = 0; probe < 5; ++probe) {
      auto it = expected.begin();
      std::advance(it, rng() % expected.size());
      auto got = a->get("visit", it->first);
      REQUIRE(got.is_ok());
      REQUIRE(got->has_value());
      CHECK(crdt::to_display(*(*got)->value("household")) == it->second);
    }
  }
  auto check_all = [&](const Replica& r) { check_households(r, expected); };
  check_all(*a);
  // A replica that gets the same records by sync cuts its blocks differently: it reads and
  // hashes the same.
  auto b = make_replica(tmp.sub("b"), {kScope});
  REQUIRE(b);
  sync_one_way(*a, *b, kScope);
  check_all(*b);
  CHECK(a->state_hash(kScope).value() == b->state_hash(kScope).value());
  a.reset();
  auto reopened = Replica::open(tmp.sub("a"), test_options());
  REQUIRE(reopened.is_ok());
  check_all(**reopened);
  reopened->reset();
  // The records are in blocks: fewer stored entries than records, each block at most 32.
  auto env = engine::LmdbEnv::open(tmp.sub("a"));
  REQUIRE(env.is_ok());
  uint64_t blocks = 0;
  REQUIRE((*env)
              ->read([&](const engine::Txn& txn) -> Status {
                auto table = txn.records_of("visit");
                if (!table.is_ok()) return table.status();
                return txn.scan(*table, "", [&](auto, auto) { return ++blocks, true; });
              })
              .is_ok());
  INFO(expected.size() << " records in " << blocks << " blocks");
  CHECK(blocks < expected.size() / 2);
  CHECK(blocks * 32 >= expected.size());
}

TEST_CASE("Replica: records written in key order, across blocks and before the first, read back",
          "[engine][replica][store]") {
  // A write finds each record's block by a seek that serves every later key up to the next
  // block: ascending and descending runs that update stored records, add new ones between
  // them and before the collection's first block, and land exactly on block keys.
  TempDir tmp;
  auto a = make_replica(tmp.sub("a"), {kScope});
  REQUIRE(a);
  auto id_of = [](uint64_t n) {
    crdt::RecordId id;
    for (int i = 0; i < 8; ++i) id.bytes[8 + i] = static_cast<uint8_t>(n >> (56 - 8 * i));
    return id;
  };
  std::map<crdt::RecordId, std::string> expected;
  auto write = [&](const std::vector<uint64_t>& order, const std::string& tag) {
    Transaction t = a->begin();
    for (uint64_t n : order) {
      const std::string value = tag + " " + std::to_string(n) + std::string(n % 90, 'x');
      const bool fresh = !expected.count(id_of(n));
      expected[id_of(n)] = value;
      const crdt::RecordId id = fresh ? t.create("visit", kScope, id_of(n)) : id_of(n);
      t.set("visit", id, "household", text(value));
    }
    REQUIRE(t.commit().is_ok());
  };
  std::vector<uint64_t> order;
  for (uint64_t n = 2000; n < 2400; n += 2) order.push_back(n);  // even keys: ~7 blocks
  write(order, "first");
  order.clear();
  for (uint64_t n = 1990; n < 2410; ++n) order.push_back(n);  // every key, ascending
  write(order, "ascending");
  std::reverse(order.begin(), order.end());
  for (uint64_t& n : order) n += 5;  // new keys past the end, then every stored one
  write(order, "descending");
  order.clear();
  for (uint64_t n = 1900; n < 2420; n += 7) order.push_back(n);  // a stride across blocks
  write(order, "stride");

  auto check_all = [&](const Replica& r) {
    check_households(r, expected);
    for (uint64_t n : {1900u, 1990u, 2000u, 2001u, 2399u, 2414u}) {
      auto got = r.get("visit", id_of(n));
      REQUIRE(got.is_ok());
      REQUIRE(got->has_value());
      CHECK(crdt::to_display(*(*got)->value("household")) == expected[id_of(n)]);
    }
  };
  check_all(*a);
  a.reset();
  auto reopened = Replica::open(tmp.sub("a"), test_options());
  REQUIRE(reopened.is_ok());
  check_all(**reopened);
}

TEST_CASE("Replica: a record dictionary from a small or a large first batch reads back",
          "[engine][replica][store]") {
  // A first batch of 40 visits fits whole in its collection's dictionary (raw content); one
  // of 800 leaves records over, whose statistics give the dictionary entropy tables. Blocks
  // compressed with either read back after more writes, a reopen and a sync both ways.
  TempDir tmp;
  std::map<crdt::RecordId, std::string> written[2];
  for (int large = 0; large < 2; ++large) {
    const std::string dir = tmp.sub(large ? "large" : "small");
    {
      auto r = make_replica(dir, {kScope});
      REQUIRE(r);
      int n = 0;
      for (const int batch : {large ? 800 : 40, 100, 100, 100}) {
        Transaction t = r->begin();
        for (int i = 0; i < batch; ++i, ++n) {
          const crdt::RecordId id = t.create("visit", kScope);
          written[large][id] = "household " + std::to_string(n * 7919 % 100003) + " of mahalla " +
                               std::to_string(large) + ", visited on day " +
                               std::to_string(n % 31) + "; the roof leaks, " +
                               std::to_string(n % 5) + " children attend school, water " +
                               (n % 3 ? "is carried from the well" : "comes by pipe");
          t.set("visit", id, "household", text(written[large][id]));
        }
        REQUIRE(t.commit().is_ok());
      }
    }
    auto reopened = Replica::open(dir, test_options());
    REQUIRE(reopened.is_ok());
    CHECK((*reopened)->verify().is_ok());
    auto all = (*reopened)->list("visit");
    REQUIRE(all.is_ok());
    REQUIRE(all->size() == written[large].size());
    for (const RecordView& v : *all) {
      CHECK(crdt::to_display(*v.value("household")) == written[large].at(v.id));
    }
  }
  auto small = Replica::open(tmp.sub("small"), test_options());
  auto large = Replica::open(tmp.sub("large"), test_options());
  REQUIRE(small.is_ok());
  REQUIRE(large.is_ok());
  sync_one_way(**small, **large, kScope);
  sync_one_way(**large, **small, kScope);
  CHECK((*small)->verify().is_ok());
  CHECK((*large)->verify().is_ok());
  CHECK((*small)->list("visit")->size() == written[0].size() + written[1].size());
  CHECK((*small)->state_hash(kScope).value() == (*large)->state_hash(kScope).value());
}

TEST_CASE("Replica: a write that outgrows the store's map runs again and loses nothing",
          "[engine][replica][store]") {
  // A 1 MiB map: the transaction below (two scopes, mv writes and set removals that observe
  // what the same transaction wrote, about 3 MB of text) fills it; the write doubles the map
  // and runs again, and every op must come out with the dots and observed dots of one run.
  const std::string kOther = "tashkent/yunusobod/m0422";
  TempDir tmp;
  auto small_map_replica = [&](const std::string& name) -> std::unique_ptr<Replica> {
    ReplicaOptions o = test_options();
    o.initial_map_bytes = 1 << 20;
    auto created = Replica::create(tmp.sub(name), std::move(o));
    REQUIRE(created.is_ok());
    for (const std::string& s : {kScope, kOther}) {
      REQUIRE((*created)->add_scope_key(s, 1, birga::test::test_scope_key(s)).is_ok());
    }
    return std::move(*created);
  };
  std::unique_ptr<Replica> a = small_map_replica("a");
  Transaction first = a->begin();
  const crdt::RecordId kase = first.create("case", kScope);
  first.set("case", kase, "guardian", text("aunt")).add("case", kase, "members", text("child"));
  REQUIRE(first.commit().is_ok());

  Transaction t = a->begin();
  t.set("case", kase, "guardian", text("uncle"))
      .remove("case", kase, "members", text("child"))
      .increment("case", kase, "visits", 3);
  std::mt19937_64 rng(7);  // incompressible text: the store must really grow
  for (int i = 0; i < 1000; ++i) {
    const std::string& scope = i % 2 ? kScope : kOther;
    std::string noise;
    for (int k = 0; k < 3000; ++k) noise += static_cast<char>('a' + rng() % 26);
    t.set("visit", t.create("visit", scope), "household", text(noise));
  }
  REQUIRE(t.commit().is_ok());
  CHECK(std::filesystem::file_size(tmp.sub("a") + "/data.mdb") > (1u << 20));
  CHECK(a->verify().is_ok());
  auto got = a->get("case", kase);
  REQUIRE(got.is_ok());
  REQUIRE(got->has_value());
  CHECK((*got)->values("guardian") == std::vector<crdt::Value>{text("uncle")});
  CHECK((*got)->state.get<crdt::Counter>("visits")->value() == 3);
  CHECK((*got)->state.get<crdt::AwSet>("members")->elements().empty());
  CHECK(a->list("visit")->size() == 1000);

  // Another replica, its map as small, gets the same by sync: the sealed changes hold what
  // was applied, and its ingest, run again as its map grows, applies them whole.
  auto b = small_map_replica("b");
  for (const std::string& s : {kScope, kOther}) {
    sync_one_way(*a, *b, s);
    CHECK(a->state_hash(s).value() == b->state_hash(s).value());
  }
  CHECK(std::filesystem::file_size(tmp.sub("b") + "/data.mdb") > (1u << 20));
  CHECK(b->verify().is_ok());
  CHECK(b->list("visit")->size() == 1000);
}
