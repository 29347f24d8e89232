// Ranges: new records one change makes in a row, stored as one record-table entry that
// references the change in the log (record_store.cpp seal_range / expand_range), with one
// change feed entry for all of them. Every read must give what ordinary blocks give, a write to
// one of them must write the range out as blocks, and damage at rest must be a clear error.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "lmdb_env.h"
#include "sealed_change.h"
#include "store_keys.h"
#include "sync_fixture.h"

using namespace birga;
using namespace birga::test;
using crdt::text;

namespace Catch {
template <>
struct StringMaker<birga::crdt::RecordId> {
  static std::string convert(const birga::crdt::RecordId& id) { return id.to_hex(); }
};
}  // namespace Catch

namespace {

const std::string kScope = "tashkent/yunusobod/m0421";

// Options with ranges on (the default) or off.
ReplicaOptions options_with(uint64_t min_range_records) {
  ReplicaOptions o = test_options();
  o.min_range_records = min_range_records;
  return o;
}
ReplicaOptions ranges_on() {
  return options_with(64);
}
ReplicaOptions ranges_off() {
  return options_with(0);
}

std::unique_ptr<Replica> make_with(const std::string& dir, ReplicaOptions options,
                                   const std::string& scope = kScope) {
  auto r = Replica::create(dir, std::move(options));
  REQUIRE(r.is_ok());
  REQUIRE((*r)->add_scope_key(scope, 1, test_scope_key(scope)).is_ok());
  return std::move(*r);
}

std::unique_ptr<Replica> reopen(const std::string& dir, ReplicaOptions options) {
  auto r = Replica::open(dir, std::move(options));
  INFO(r.status().to_string());
  REQUIRE(r.is_ok());
  return std::move(*r);
}

// Record `i` of batch `batch`: ids ascend with (batch, i), the same on every replica of a test,
// and every id of a later batch is above every id of an earlier one.
crdt::RecordId id_of(int batch, int i) {
  std::array<uint8_t, 10> random{};
  random[0] = static_cast<uint8_t>(batch);
  random[1] = static_cast<uint8_t>(i >> 8);
  random[2] = static_cast<uint8_t>(i);
  random[9] = 0x5a;
  return crdt::RecordId::make(uint64_t{1750000000000} + uint64_t(batch) * 100000 + i, random);
}

std::vector<crdt::RecordId> ids_of(int batch, int n) {
  std::vector<crdt::RecordId> out;
  for (int i = 0; i < n; ++i) out.push_back(id_of(batch, i));
  return out;
}

std::string tag(int batch, int i) {
  return std::to_string(batch) + "-" + std::to_string(i);
}

// Writes record (batch, i) of "case" in `t`: fields of every kind the test schema has, some
// written twice in the change (the later write wins; an mv write and a set removal observe
// what the change wrote before them).
void write_case(Transaction& t, int batch, int i, const std::string& scope = kScope) {
  const crdt::RecordId id = t.create("case", scope, id_of(batch, i));
  if (i % 7 == 0) {
    t.set("case", id, "title", text("draft-" + tag(batch, i)))
        .set("case", id, "guardian", text("draft-g-" + tag(batch, i)));
  }
  if (i % 10 == 0) t.set("case", id, "address", text("old street"));
  if (i % 11 == 0) {
    t.add("case", id, "members", text("temp-" + tag(batch, i)))
        .remove("case", id, "members", text("temp-" + tag(batch, i)));
  }
  t.set("case", id, "guardian", text("g-" + tag(batch, i)))
      .set("case", id, "title", text("title-" + tag(batch, i)))
      .add("case", id, "members", text("m-" + tag(batch, i)))
      .increment("case", id, "visits", i + 1)
      .append("case", id, "notes", text("note-" + tag(batch, i)));
  if (i % 3 == 0) {
    t.add("case", id, "members", text("m2-" + tag(batch, i)))
        .increment("case", id, "visits", -1)
        .append("case", id, "notes", text("note2-" + tag(batch, i)));
  }
  if (i % 2 == 0) t.set("case", id, "status", text(i % 4 == 0 ? "open" : "closed"));
  if (i % 5 == 0) t.set("case", id, "address", text("street " + tag(batch, i)));
}

// One transaction creating `n` cases of batch `batch`.
void write_cases(Replica& r, int batch, int n, int from = 0, const std::string& scope = kScope) {
  Transaction t = r.begin();
  for (int i = from; i < from + n; ++i) write_case(t, batch, i, scope);
  const Status s = t.commit();
  INFO(s.to_string());
  REQUIRE(s.is_ok());
}

// The cases of batch 0 (49, 99, 149, 199) that the first test deletes in a later transaction:
// a write to records of a range, which writes it out as blocks.
bool deleted_later(int i) {
  return i % 50 == 49;
}

std::string sorted_join(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  std::string out;
  for (const std::string& s : v) out += s + "|";
  return out;
}

// What an app reads of a record: its id, deleted flag and every field's value(s), without the
// dots and times (which differ between replicas that wrote the same values).
std::string summary(const RecordView& v) {
  std::string out = v.id.to_hex() + " " + v.collection + " " + v.scope +
                    (v.deleted() ? " deleted" : "") + (v.in_conflict() ? " conflict" : "");
  for (const auto& [key, field] : v.state.fields()) {
    out += " " + key.name + "=";
    if (const auto* lww = std::get_if<crdt::LwwRegister>(&field)) {
      out += lww->is_set() ? crdt::to_display(lww->value()) : "<unset>";
    } else if (const auto* mv = std::get_if<crdt::MvRegister>(&field)) {
      std::vector<std::string> values;
      for (const crdt::Value& x : mv->values()) values.push_back(crdt::to_display(x));
      out += "mv{" + sorted_join(values) + "}";
    } else if (const auto* set = std::get_if<crdt::AwSet>(&field)) {
      std::vector<std::string> values;
      for (const crdt::Value& x : set->elements()) values.push_back(crdt::to_display(x));
      out += "set{" + sorted_join(values) + "}";
    } else if (const auto* counter = std::get_if<crdt::Counter>(&field)) {
      out += "counter{" + std::to_string(counter->value()) + "}";
    } else if (const auto* log = std::get_if<crdt::AppendLog>(&field)) {
      out += "log{";
      for (const crdt::LogAppend& e : log->entries()) out += crdt::to_display(e.payload) + "|";
      out += "}";
    }
  }
  return out;
}

std::vector<std::string> summaries(const std::vector<RecordView>& views) {
  std::vector<std::string> out;
  for (const RecordView& v : views) out.push_back(summary(v));
  return out;
}

std::vector<crdt::RecordId> ids_in(const std::vector<RecordView>& views) {
  std::vector<crdt::RecordId> out;
  for (const RecordView& v : views) out.push_back(v.id);
  return out;
}

std::vector<crdt::RecordId> ids_in(const ChangedRecords& changed) {
  std::vector<crdt::RecordId> out;
  for (const ChangedRecords::Ref& ref : changed.records) out.push_back(ref.id);
  return out;
}

std::vector<std::string> refs_in(const ChangedRecords& changed) {
  std::vector<std::string> out;
  for (const ChangedRecords::Ref& ref : changed.records) {
    out.push_back(ref.collection + "/" + ref.id.to_hex());
  }
  return out;
}

std::vector<RecordView> list_of(const Replica& r, const std::string& collection) {
  auto all = r.list(collection);
  INFO(all.status().to_string());
  REQUIRE(all.is_ok());
  return std::move(*all);
}

RecordView get_of(const Replica& r, const std::string& collection, const crdt::RecordId& id) {
  auto got = r.get(collection, id);
  INFO(got.status().to_string());
  REQUIRE(got.is_ok());
  REQUIRE(got->has_value());
  return std::move(**got);
}

ChangedRecords changed_of(const Replica& r, uint64_t since) {
  auto changed = r.changed_since(since);
  INFO(changed.status().to_string());
  REQUIRE(changed.is_ok());
  return std::move(*changed);
}

void require_verified(const Replica& r) {
  const Status s = r.verify();
  INFO(s.to_string());
  REQUIRE(s.is_ok());
}

// What the closed store in `dir` holds of `collection`: the entries of its record table, and
// the change feed entries naming its records (one per record, or one per range).
struct StoreCounts {
  uint64_t record_entries = 0;
  uint64_t feed_entries = 0;
};
StoreCounts count_entries(const std::string& dir, const std::string& collection) {
  auto env = engine::LmdbEnv::open(dir);
  INFO(env.status().to_string());
  REQUIRE(env.is_ok());
  StoreCounts c;
  const Status s = (*env)->read([&](const engine::Txn& txn) -> Status {
    auto table = txn.records_of(collection);
    if (!table.is_ok()) return table.status();
    BIRGA_RETURN_IF_ERROR(txn.scan(*table, engine::collection_prefix(collection), [&](auto, auto) {
      ++c.record_entries;
      return true;
    }));
    const std::string prefix = engine::collection_prefix(collection);
    return txn.scan(engine::Table::kFeed, "", [&](auto, std::string_view v) {
      if (v.starts_with(prefix)) ++c.feed_entries;
      return true;
    });
  });
  INFO(s.to_string());
  REQUIRE(s.is_ok());
  return c;
}

// Edits the closed store in `dir` directly, as someone holding the file (not the key) could.
void edit_store(const std::string& dir, const std::function<Status(engine::Txn&)>& edit) {
  auto env = engine::LmdbEnv::open(dir);
  REQUIRE(env.is_ok());
  const Status s = (*env)->write(edit);
  INFO(s.to_string());
  REQUIRE(s.is_ok());
}

// The entries of `collection`'s record table, in key order.
std::vector<std::pair<std::string, std::string>> record_entries(engine::Txn& txn,
                                                                const std::string& collection) {
  std::vector<std::pair<std::string, std::string>> out;
  auto table = txn.records_of(collection);
  REQUIRE(table.is_ok());
  REQUIRE(txn.scan(*table, engine::collection_prefix(collection),
                   [&](auto k, auto v) {
                     out.emplace_back(k, v);
                     return true;
                   })
              .is_ok());
  return out;
}

// The same reads on `a` and `b` give the same records: list, and get of `some`.
void check_same_reads(const Replica& a, const Replica& b, const std::string& collection,
                      const std::vector<crdt::RecordId>& some) {
  const std::vector<RecordView> la = list_of(a, collection), lb = list_of(b, collection);
  CHECK(ids_in(la) == ids_in(lb));
  CHECK(summaries(la) == summaries(lb));
  for (const crdt::RecordId& id : some) {
    INFO("record " << id.to_hex());
    CHECK(summary(get_of(a, collection, id)) == summary(get_of(b, collection, id)));
  }
}

}  // namespace

TEST_CASE("Ranges: a replica storing ranges reads the same as one storing blocks",
          "[engine][ranges]") {
  TempDir tmp;
  const std::vector<crdt::RecordId> batch0 = ids_of(0, 200), batch1 = ids_of(1, 200);
  std::vector<crdt::RecordId> live;
  for (int b = 0; b < 2; ++b) {
    for (int i = 0; i < 200; ++i) {
      if (!(b == 0 && deleted_later(i))) live.push_back(id_of(b, i));
    }
  }
  const std::vector<crdt::RecordId> some = {batch0[0],   batch0[1],   batch0[63], batch0[64],
                                            batch0[137], batch0[199], batch1[0],  batch1[100],
                                            batch1[199], batch0[49]};
  {
    auto ranged = make_with(tmp.sub("ranged"), ranges_on());
    auto plain = make_with(tmp.sub("plain"), ranges_off());
    for (Replica* r : {ranged.get(), plain.get()}) {
      write_cases(*r, 0, 200);
      write_cases(*r, 1, 200);
      // A few records of the first range deleted (a later change): the range is written out
      // as blocks, its records keeping their feed positions.
      Transaction t = r->begin();
      for (int i = 0; i < 200; ++i) {
        if (deleted_later(i)) t.remove_record("case", id_of(0, i));
      }
      REQUIRE(t.commit().is_ok());
      // And a visit, another collection, in ordinary blocks.
      Transaction v = r->begin();
      v.set("visit", v.create("visit", kScope, id_of(5, 0)), "household", text("hh-1"));
      REQUIRE(v.commit().is_ok());
      // And 100 deliveries (immutable, an alert-duplicates field) in one change: a range,
      // two of them naming one entitlement.
      Transaction dt = r->begin();
      for (int i = 0; i < 100; ++i) {
        const crdt::RecordId id = dt.create("delivery", kScope, id_of(6, i));
        dt.set("delivery", id, "entitlement", text("ent-" + std::to_string(i == 99 ? 0 : i)))
            .set("delivery", id, "amount", crdt::integer(1000 + i));
      }
      REQUIRE(dt.commit().is_ok());
    }
    check_same_reads(*ranged, *plain, "delivery", {id_of(6, 0), id_of(6, 50), id_of(6, 99)});
    CHECK(list_of(*ranged, "delivery").size() == 100);
    CHECK(get_of(*ranged, "delivery", id_of(6, 42)).value("amount") == crdt::integer(1042));
    for (Replica* r : {ranged.get(), plain.get()}) {
      auto alerts = r->alerts();
      REQUIRE(alerts.is_ok());
      size_t over_issuance = 0;
      for (const Alert& a : *alerts) over_issuance += a.kind == "over_issuance";
      CHECK(over_issuance == 1);
      auto found = r->find("delivery", "entitlement", text("ent-0"));
      REQUIRE(found.is_ok());
      CHECK(found->size() == 2);
    }

    check_same_reads(*ranged, *plain, "case", some);
    const std::vector<RecordView> listed = list_of(*ranged, "case");
    CHECK(ids_in(listed) == live);
    // The values are those written (not merely equal on both).
    const RecordView r137 = get_of(*ranged, "case", batch0[137]);
    CHECK(r137.value("title") == text("title-0-137"));
    CHECK(r137.values("guardian") == std::vector<crdt::Value>{text("g-0-137")});
    const RecordView r63 = get_of(*ranged, "case", batch0[63]);
    CHECK(r63.value("title") == text("title-0-63"));  // written twice: the later write
    CHECK(r63.values("guardian") == std::vector<crdt::Value>{text("g-0-63")});
    CHECK_FALSE(r63.in_conflict());
    CHECK(get_of(*ranged, "case", batch0[110]).value("address") == text("street 0-110"));
    CHECK(summary(get_of(*ranged, "case", batch0[77])).find("set{m-0-77|}") !=
          std::string::npos);  // added and removed in the change
    CHECK(summary(r63).find("visits=counter{63}") != std::string::npos);  // 64 - 1
    CHECK(summary(r63).find("set{m-0-63|m2-0-63|}") != std::string::npos);
    // A record deleted after the range was made reads as deleted, and list leaves it out.
    auto gone = ranged->get("case", batch0[49]);
    REQUIRE(gone.is_ok());
    REQUIRE(gone->has_value());
    CHECK((*gone)->deleted());

    // An id inside a range's span, or just past it, that no record has: absent.
    for (const crdt::RecordId& absent :
         {crdt::RecordId::make(uint64_t{1750000000000} + 150, {}),
          crdt::RecordId::make(uint64_t{1750000000000} + 100000 + 150, {}),
          crdt::RecordId::make(uint64_t{1750000000000} + 100000 + 199, {0xff}), id_of(1, 200)}) {
      INFO("absent " << absent.to_hex());
      auto got = ranged->get("case", absent);
      REQUIRE(got.is_ok());
      CHECK_FALSE(got->has_value());
    }

    // find goes through the index, then reads the record from its range.
    for (Replica* r : {ranged.get(), plain.get()}) {
      auto found = r->find("case", "guardian", text("g-1-77"));
      REQUIRE(found.is_ok());
      REQUIRE(found->size() == 1);
      CHECK((*found)[0].id == batch1[77]);
      CHECK((*found)[0].value("title") == text("title-1-77"));
    }

    // The change feed: every record once, in the same order, from any position.
    const ChangedRecords from0 = changed_of(*ranged, 0);
    CHECK(refs_in(from0) == refs_in(changed_of(*plain, 0)));
    CHECK(from0.position == changed_of(*plain, 0).position);
    // 400 cases (4 deleted ones moved past the second range), the visit, 100 deliveries.
    CHECK(from0.records.size() == 501);
    const std::vector<crdt::RecordId> fed = ids_in(from0);
    CHECK(std::set<crdt::RecordId>(fed.begin(), fed.end()).size() == 501);
    for (uint64_t k : {1u, 50u, 63u, 64u, 100u, 150u, 191u, 192u, 193u, 250u, 391u, 400u, 401u,
                       405u, 406u, 450u, 504u, 505u, 600u}) {
      INFO("changed_since(" << k << ")");
      const ChangedRecords x = changed_of(*ranged, k), y = changed_of(*plain, k);
      CHECK(refs_in(x) == refs_in(y));
      CHECK(x.position == y.position);
    }
    // A position inside where the first range was: it was written out as blocks when records
    // of it were deleted, its records keeping their positions (record i at i + 1), the deleted
    // ones moved past the second range.
    const ChangedRecords mid = changed_of(*ranged, 100);
    REQUIRE(mid.records.size() == 98 + 200 + 4 + 1 + 100);
    CHECK(mid.records.front().id == batch0[100]);
    CHECK(mid.records[97].id == batch0[198]);
    CHECK(mid.records[98].id == batch1[0]);
    CHECK(mid.records[297].id == batch1[199]);
    CHECK(mid.records[298].id == batch0[49]);
    CHECK(mid.records[302].collection == "visit");
    CHECK(mid.records.back().id == id_of(6, 99));
    CHECK(mid.position == 505);
    CHECK(from0.position == 505);
    // A position inside the second range, still a range.
    const ChangedRecords mid2 = changed_of(*ranged, 300);
    REQUIRE(mid2.records.size() == 100 + 4 + 1 + 100);
    CHECK(mid2.records.front().id == batch1[100]);  // record i of the second range is at 201 + i

    require_verified(*ranged);
    require_verified(*plain);
  }
  // The ranged replica holds its cases in fewer entries (the second range, and the first one
  // written out as blocks), the other in blocks of at most 32 records; the same for the feed.
  const StoreCounts ranged = count_entries(tmp.sub("ranged"), "case");
  const StoreCounts plain = count_entries(tmp.sub("plain"), "case");
  INFO("ranged: " << ranged.record_entries << " record entries, plain: " << plain.record_entries);
  CHECK(plain.record_entries >= 400 / 32);
  CHECK(plain.feed_entries == 400);
  // The first range written out (200 feed entries), the second still one entry.
  CHECK(ranged.feed_entries == 200 + 1);
  CHECK(ranged.record_entries >= 1 + 200 / 32);
  CHECK(ranged.record_entries < plain.record_entries);
  CHECK(count_entries(tmp.sub("ranged"), "delivery").record_entries == 1);
  CHECK(count_entries(tmp.sub("ranged"), "delivery").feed_entries == 1);
  CHECK(count_entries(tmp.sub("plain"), "delivery").feed_entries == 100);
}

TEST_CASE("Ranges: two changes of 200 new records are stored as two ranges", "[engine][ranges]") {
  TempDir tmp;
  {
    auto ranged = make_with(tmp.sub("ranged"), ranges_on());
    auto plain = make_with(tmp.sub("plain"), ranges_off());
    for (Replica* r : {ranged.get(), plain.get()}) {
      write_cases(*r, 0, 200);
      write_cases(*r, 1, 200);
    }
    check_same_reads(*ranged, *plain, "case", {id_of(0, 0), id_of(0, 150), id_of(1, 199)});
    CHECK(ids_in(changed_of(*ranged, 0)) == ids_in(changed_of(*plain, 0)));
    CHECK(ids_in(changed_of(*ranged, 123)) == ids_in(changed_of(*plain, 123)));
    CHECK(ids_in(changed_of(*ranged, 123)).size() == 400 - 123);
    CHECK(changed_of(*ranged, 123).position == 400);
    CHECK(changed_of(*ranged, 0).position == changed_of(*plain, 0).position);
    require_verified(*ranged);
    require_verified(*plain);
  }
  const StoreCounts ranged = count_entries(tmp.sub("ranged"), "case");
  const StoreCounts plain = count_entries(tmp.sub("plain"), "case");
  CHECK(ranged.record_entries == 2);
  CHECK(ranged.feed_entries == 2);
  CHECK(plain.record_entries >= 400 / 32);
  CHECK(plain.feed_entries == 400);
  {
    // Read again after a reopen, with ranges turned off: ranges stored before still read.
    auto again = reopen(tmp.sub("ranged"), ranges_off());
    CHECK(list_of(*again, "case").size() == 400);
    CHECK(get_of(*again, "case", id_of(1, 42)).value("title") == text("title-1-42"));
    require_verified(*again);
  }
}

TEST_CASE("Ranges: min_range_records is the least number of records a range holds",
          "[engine][ranges]") {
  TempDir tmp;
  const int n = GENERATE(63, 64);
  {
    auto r = make_with(tmp.sub("a"), ranges_on());
    write_cases(*r, 0, n);
    CHECK(list_of(*r, "case").size() == size_t(n));
    require_verified(*r);
  }
  const StoreCounts c = count_entries(tmp.sub("a"), "case");
  INFO(n << " records");
  // 63: blocks of at most 32, one feed entry each; 64: one range with one feed entry.
  if (n == 64) {
    CHECK(c.record_entries == 1);
  } else {
    CHECK(c.record_entries >= 2);
  }
  CHECK(c.feed_entries == (n == 64 ? 1u : uint64_t(n)));
}

TEST_CASE("Ranges: a replica syncing another's ranges stores ranges and holds the same state",
          "[engine][ranges][sync]") {
  Deployment d;
  std::vector<crdt::RecordId> ids = ids_of(0, 200);
  {
    auto a = d.add("a", Role::kField, {{kMahallaA, kRead | kWrite}});
    std::unique_ptr<Replica> b = d.add("b", Role::kField, {{kMahallaA, kRead | kWrite}});
    // c stores no ranges: it makes every record by applying the ops, as before ranges.
    auto c_made = Replica::create(d.dir("c"), ranges_off());
    REQUIRE(c_made.is_ok());
    std::unique_ptr<Replica> c = std::move(*c_made);
    const std::vector<ScopeGrant> grants = {{kMahallaA, kRead | kWrite}};
    auto bundle = d.authority->enrol(c->device_key(), "c", Role::kField, grants, 0);
    REQUIRE(bundle.is_ok());
    REQUIRE(c->install_certificate(bundle->encode()).is_ok());
    REQUIRE((a && b));

    write_cases(*a, 0, 200, 0, kMahallaA);
    write_cases(*a, 1, 200, 0, kMahallaA);
    for (Replica* peer : {b.get(), c.get()}) {
      auto out = memory_sync(*a, *peer);
      INFO(out.status.to_string());
      REQUIRE(out.status.is_ok());
      REQUIRE(out.completed);
      CHECK(out.a.refused.empty());
      CHECK(out.b.refused.empty());
    }
    const std::string hash = a->state_hash(kMahallaA).value();
    CHECK(b->state_hash(kMahallaA).value() == hash);
    CHECK(c->state_hash(kMahallaA).value() == hash);
    // The very same states (dots and times included), record by record.
    const std::vector<RecordView> la = list_of(*a, "case");
    CHECK(la.size() == 400);
    for (Replica* peer : {b.get(), c.get()}) {
      const std::vector<RecordView> lp = list_of(*peer, "case");
      REQUIRE(lp.size() == la.size());
      for (size_t i = 0; i < la.size(); ++i) {
        INFO("record " << la[i].id.to_hex());
        CHECK(lp[i].id == la[i].id);
        CHECK(lp[i].state == la[i].state);
        CHECK(lp[i].scope == kMahallaA);
      }
      CHECK(ids_in(changed_of(*peer, 0)).size() >= 400);
      require_verified(*peer);
    }
    // b then writes to a record of a range it got by sync, and a gets it back.
    Transaction t = b->begin();
    t.set("case", ids[10], "title", text("edited at b"));
    REQUIRE(t.commit().is_ok());
    auto back = memory_sync(*b, *a);
    REQUIRE(back.status.is_ok());
    CHECK(get_of(*a, "case", ids[10]).value("title") == text("edited at b"));
    CHECK(a->state_hash(kMahallaA).value() == b->state_hash(kMahallaA).value());
    require_verified(*a);
    require_verified(*b);

    // b stored what it received as ranges too (two changes, two ranges; the first now
    // written out, the second untouched).
    b.reset();
    const StoreCounts bc = count_entries(d.dir("b"), "case");
    INFO("b: " << bc.record_entries << " record entries");
    CHECK(bc.record_entries >= 1 + 200 / 32);
    CHECK(bc.feed_entries == 200 + 1);
    b = reopen(d.dir("b"), test_options());

    // a and c write one mv field of a record of the second range at once (c holds it in a
    // block, a in its range): after a sync both hold the conflict, flagged. b, which still
    // holds that range, then gets both writes from c in one sync.
    const crdt::RecordId contested = id_of(1, 150);
    Transaction ta = a->begin();
    ta.set("case", contested, "guardian", text("aunt"));
    REQUIRE(ta.commit().is_ok());
    Transaction tc = c->begin();
    tc.set("case", contested, "guardian", text("uncle"));
    REQUIRE(tc.commit().is_ok());
    auto both = memory_sync(*a, *c);
    REQUIRE(both.status.is_ok());
    REQUIRE(both.completed);
    auto to_b = memory_sync(*c, *b);
    REQUIRE(to_b.status.is_ok());
    REQUIRE(to_b.completed);
    for (Replica* r : {a.get(), b.get(), c.get()}) {
      auto conflicts = r->conflicts();
      REQUIRE(conflicts.is_ok());
      REQUIRE(conflicts->size() == 1);
      CHECK((*conflicts)[0].id == contested);
      CHECK(summary((*conflicts)[0]).find("guardian=mv{aunt|uncle|}") != std::string::npos);
      require_verified(*r);
    }
    CHECK(a->state_hash(kMahallaA).value() == c->state_hash(kMahallaA).value());
    CHECK(b->state_hash(kMahallaA).value() == c->state_hash(kMahallaA).value());
    // Every record still once in b's feed, the contested one last.
    const ChangedRecords fed = changed_of(*b, 0);
    std::vector<crdt::RecordId> cases;
    for (const ChangedRecords::Ref& ref : fed.records) {
      if (ref.collection == "case") cases.push_back(ref.id);
    }
    CHECK(cases.size() == 400);
    CHECK(std::set<crdt::RecordId>(cases.begin(), cases.end()).size() == 400);
    CHECK(cases.back() == contested);
  }
  // c, without ranges, holds its cases in blocks.
  const StoreCounts c = count_entries(d.dir("c"), "case");
  CHECK(c.record_entries >= 400 / 32);
  CHECK(c.feed_entries == 400);
}

TEST_CASE("Ranges: a replica ingesting changes stores each one's new records as a range",
          "[engine][ranges][sync]") {
  TempDir tmp;
  {
    auto a = make_with(tmp.sub("a"), ranges_on());
    auto b = make_with(tmp.sub("b"), ranges_on());
    write_cases(*a, 0, 200);
    write_cases(*a, 1, 200);
    // Both changes in one ingest: one write batch, two sources.
    auto changes = a->export_missing(kScope, crdt::VersionVector());
    REQUIRE(changes.is_ok());
    REQUIRE(changes->size() == 2);
    auto report = b->ingest(*changes);
    REQUIRE(report.is_ok());
    CHECK(report->applied == 2);
    CHECK(report->refused.empty());
    CHECK(b->state_hash(kScope).value() == a->state_hash(kScope).value());
    CHECK(ids_in(changed_of(*b, 0)) == ids_in(changed_of(*a, 0)));
    CHECK(ids_in(changed_of(*b, 77)) == ids_in(changed_of(*a, 77)));
    require_verified(*b);
  }
  const StoreCounts b = count_entries(tmp.sub("b"), "case");
  CHECK(b.record_entries == 2);
  CHECK(b.feed_entries == 2);
}

TEST_CASE("Ranges: one ingest of a change and a later edit of one of its records",
          "[engine][ranges][sync]") {
  // b gets three changes in one ingest: 200 new cases, an edit of case 77, 200 more. Case 77
  // is made by two changes, so it cannot be in a range: the first change's cases on either
  // side of it are two ranges of that change.
  TempDir tmp;
  {
    auto a = make_with(tmp.sub("a"), ranges_on());
    auto b = make_with(tmp.sub("b"), ranges_on());
    write_cases(*a, 0, 200);
    Transaction t = a->begin();
    t.set("case", id_of(0, 77), "title", text("edited"))
        .increment("case", id_of(0, 77), "visits", 5);
    REQUIRE(t.commit().is_ok());
    write_cases(*a, 1, 200);
    auto changes = a->export_missing(kScope, crdt::VersionVector());
    REQUIRE(changes.is_ok());
    REQUIRE(changes->size() == 3);
    auto report = b->ingest(*changes);
    REQUIRE(report.is_ok());
    CHECK(report->applied == 3);
    CHECK(b->state_hash(kScope).value() == a->state_hash(kScope).value());
    const std::vector<RecordView> la = list_of(*a, "case"), lb = list_of(*b, "case");
    REQUIRE(la.size() == 400);
    REQUIRE(lb.size() == 400);
    for (size_t i = 0; i < la.size(); ++i) {
      INFO("record " << i);
      CHECK(lb[i].id == la[i].id);
      CHECK(lb[i].state == la[i].state);
    }
    CHECK(get_of(*b, "case", id_of(0, 77)).value("title") == text("edited"));
    CHECK(get_of(*b, "case", id_of(0, 76)).value("title") == text("title-0-76"));
    CHECK(get_of(*b, "case", id_of(0, 78)).value("title") == text("title-0-78"));
    // b's feed: one batch, so every record once, in key order.
    const ChangedRecords all = changed_of(*b, 0);
    std::vector<crdt::RecordId> expected = ids_of(0, 200);
    for (const crdt::RecordId& id : ids_of(1, 200)) expected.push_back(id);
    CHECK(ids_in(all) == expected);
    CHECK(all.position == 400);
    for (uint64_t k : {50u, 76u, 77u, 78u, 79u, 100u, 200u, 300u}) {
      INFO("changed_since(" << k << ")");
      CHECK(ids_in(changed_of(*b, k)) ==
            std::vector<crdt::RecordId>(expected.begin() + k, expected.end()));
    }
    require_verified(*b);
  }
  const StoreCounts b = count_entries(tmp.sub("b"), "case");
  INFO("b: " << b.record_entries << " record entries, " << b.feed_entries << " feed entries");
  CHECK(b.feed_entries == 4);  // ranges of cases 0-76, 78-199 and of batch 1; case 77
  CHECK(b.record_entries == 4);
  {
    auto again = reopen(tmp.sub("b"), ranges_on());
    CHECK(list_of(*again, "case").size() == 400);
    CHECK(get_of(*again, "case", id_of(0, 77)).value("title") == text("edited"));
    require_verified(*again);
  }
}

TEST_CASE("Ranges: changes held sealed are applied as ranges when their scope key arrives",
          "[engine][ranges][sync]") {
  TempDir tmp;
  {
    auto a = make_with(tmp.sub("a"), ranges_on());
    auto made = Replica::create(tmp.sub("b"), ranges_on());
    REQUIRE(made.is_ok());
    std::unique_ptr<Replica> b = std::move(*made);
    write_cases(*a, 0, 200);
    write_cases(*a, 1, 100);
    auto changes = a->export_missing(kScope, crdt::VersionVector());
    REQUIRE(changes.is_ok());
    auto report = b->ingest(*changes);
    REQUIRE(report.is_ok());
    CHECK(report->sealed_only == 2);
    CHECK(list_of(*b, "case").empty());
    REQUIRE(b->add_scope_key(kScope, 1, test_scope_key(kScope)).is_ok());
    CHECK(b->state_hash(kScope).value() == a->state_hash(kScope).value());
    CHECK(list_of(*b, "case").size() == 300);
    CHECK(get_of(*b, "case", id_of(1, 99)).value("title") == text("title-1-99"));
    CHECK(ids_in(changed_of(*b, 250)) == ids_in(changed_of(*a, 250)));
    require_verified(*b);
  }
  const StoreCounts b = count_entries(tmp.sub("b"), "case");
  CHECK(b.record_entries == 2);
  CHECK(b.feed_entries == 2);
}

TEST_CASE("Ranges: a write that outgrows the store's map runs again and stores its range",
          "[engine][ranges][store]") {
  // A 1 MiB map and 300 cases with 8 KB of hardly compressible notes each: the commit fills the
  // map, doubles it and runs again.
  TempDir tmp;
  auto small = [&](const std::string& name, uint64_t min_range_records) {
    ReplicaOptions o = options_with(min_range_records);
    o.initial_map_bytes = 1 << 20;
    return make_with(tmp.sub(name), std::move(o));
  };
  auto write = [](Replica& r) {
    std::mt19937_64 rng(11);
    Transaction t = r.begin();
    for (int i = 0; i < 300; ++i) {
      write_case(t, 0, i);
      std::string noise;
      for (int k = 0; k < 8000; ++k) noise += static_cast<char>('a' + rng() % 26);
      t.append("case", id_of(0, i), "notes", text(noise));
    }
    const Status s = t.commit();
    INFO(s.to_string());
    REQUIRE(s.is_ok());
  };
  {
    auto a = small("a", 64);
    auto plain = small("plain", 0);
    write(*a);
    write(*plain);
    CHECK(std::filesystem::file_size(tmp.sub("a") + "/data.mdb") > (1u << 20));
    require_verified(*a);
    check_same_reads(*a, *plain, "case", {id_of(0, 0), id_of(0, 149), id_of(0, 299)});
    auto b = small("b", 64);
    auto changes = a->export_missing(kScope, crdt::VersionVector());
    REQUIRE(changes.is_ok());
    REQUIRE(b->ingest(*changes)->applied == 1);
    CHECK(b->state_hash(kScope).value() == a->state_hash(kScope).value());
    require_verified(*b);
  }
  CHECK(count_entries(tmp.sub("a"), "case").record_entries == 1);
  CHECK(count_entries(tmp.sub("b"), "case").record_entries == 1);
}

TEST_CASE("Ranges: a write to one record of a range keeps every other record and its feed place",
          "[engine][ranges]") {
  TempDir tmp;
  const int target = GENERATE(0, 77, 199);
  INFO("the record written is number " << target);
  const std::vector<crdt::RecordId> ids = ids_of(0, 200);
  std::vector<RecordView> before;
  uint64_t old_position = 0;
  // The feed after the write: every record where it was, the one written moved last.
  std::vector<crdt::RecordId> feed_after;
  for (int i = 0; i < 200; ++i) {
    if (i != target) feed_after.push_back(ids[i]);
  }
  feed_after.push_back(ids[target]);

  auto check_after = [&](const Replica& r) {
    const std::vector<RecordView> now = list_of(r, "case");
    REQUIRE(now.size() == 200);
    for (size_t i = 0; i < now.size(); ++i) {
      INFO("record " << i);
      CHECK(now[i].id == ids[i]);
      if (int(i) == target) {
        CHECK(now[i].value("title") == text("changed"));
        CHECK(now[i].values("guardian") ==
              std::vector<crdt::Value>{text("g-0-" + std::to_string(i))});
      } else {
        CHECK(now[i].state == before[i].state);
      }
    }
    CHECK(get_of(r, "case", ids[target]).value("title") == text("changed"));
    const int other = target == 0 ? 1 : target - 1;
    CHECK(get_of(r, "case", ids[other]).state == before[other].state);

    const ChangedRecords since_old = changed_of(r, old_position);
    CHECK(ids_in(since_old) == std::vector<crdt::RecordId>{ids[target]});
    CHECK(since_old.position == old_position + 1);
    const ChangedRecords all = changed_of(r, 0);
    CHECK(ids_in(all) == feed_after);
    CHECK(all.position == old_position + 1);
    // From the middle of where the range was: its records keep their positions.
    std::vector<crdt::RecordId> from50;
    for (int i = 50; i < 200; ++i) {
      if (i != target) from50.push_back(ids[i]);
    }
    from50.push_back(ids[target]);
    CHECK(ids_in(changed_of(r, 50)) == from50);
    require_verified(r);
  };
  {
    auto r = make_with(tmp.sub("a"), ranges_on());
    write_cases(*r, 0, 200);
    before = list_of(*r, "case");
    REQUIRE(before.size() == 200);
    old_position = changed_of(*r, 0).position;
    CHECK(old_position == 200);
  }
  REQUIRE(count_entries(tmp.sub("a"), "case").record_entries == 1);  // a range
  {
    auto r = reopen(tmp.sub("a"), ranges_on());
    Transaction t = r->begin();
    t.set("case", ids[target], "title", text("changed"));
    REQUIRE(t.commit().is_ok());
    check_after(*r);
  }
  // Written out as blocks, each record with a feed entry of its own.
  const StoreCounts c = count_entries(tmp.sub("a"), "case");
  CHECK(c.record_entries >= 200 / 32);
  CHECK(c.feed_entries == 200);
  {
    auto r = reopen(tmp.sub("a"), ranges_on());
    check_after(*r);
    // Another write, to another record, after the range is gone.
    Transaction t = r->begin();
    const int other = target == 0 ? 1 : target - 1;
    t.increment("case", ids[other], "visits", 1000);
    REQUIRE(t.commit().is_ok());
    CHECK(summary(get_of(*r, "case", ids[other])).find("visits=counter{") != std::string::npos);
    CHECK(ids_in(changed_of(*r, old_position + 1)) == std::vector<crdt::RecordId>{ids[other]});
    CHECK(changed_of(*r, 0).records.size() == 200);
    require_verified(*r);
  }
}

TEST_CASE("Ranges: a write to a record of one range leaves another range as it is",
          "[engine][ranges]") {
  TempDir tmp;
  {
    auto r = make_with(tmp.sub("a"), ranges_on());
    write_cases(*r, 0, 200);
    write_cases(*r, 1, 200);
    Transaction t = r->begin();
    t.set("case", id_of(1, 5), "title", text("changed"));
    REQUIRE(t.commit().is_ok());
    const std::vector<RecordView> all = list_of(*r, "case");
    REQUIRE(all.size() == 400);
    CHECK(all[205].value("title") == text("changed"));
    CHECK(all[204].value("title") == text("title-1-4"));
    CHECK(all[0].value("title") == text("title-0-0"));
    CHECK(all[199].value("title") == text("title-0-199"));
    // Position 100 is inside the first range, which is still one: the records after it, the
    // second range's records (without the one written), then the written one.
    const ChangedRecords mid = changed_of(*r, 100);
    REQUIRE(mid.records.size() == 300);
    CHECK(mid.records[0].id == id_of(0, 100));
    CHECK(mid.records[99].id == id_of(0, 199));
    CHECK(mid.records[100].id == id_of(1, 0));
    CHECK(mid.records.back().id == id_of(1, 5));
    CHECK(mid.position == 401);
    require_verified(*r);
  }
  const StoreCounts c = count_entries(tmp.sub("a"), "case");
  // The first range, and the second written out as blocks.
  CHECK(c.record_entries >= 1 + 200 / 32);
  CHECK(c.feed_entries == 1 + 200);
}

// A collection whose records all came in ranges has no record dictionary until one is written
// out; that write makes it, so the blocks it writes are as small as blocks written at once.
TEST_CASE("Ranges: the first range written out makes the collection's record dictionary",
          "[engine][ranges]") {
  TempDir tmp;
  auto has_dict = [&](const std::string& dir) {
    auto env = engine::LmdbEnv::open(dir);
    REQUIRE(env.is_ok());
    bool found = false;
    REQUIRE((*env)
                ->read([&](const engine::Txn& txn) -> Status {
                  auto v = txn.get(engine::Table::kMeta, "dict/case");
                  if (v.is_ok()) found = v->has_value();
                  return v.status();
                })
                .is_ok());
    return found;
  };
  auto record_bytes = [&](const std::string& dir) {
    auto env = engine::LmdbEnv::open(dir);
    REQUIRE(env.is_ok());
    size_t bytes = 0;
    REQUIRE((*env)
                ->write([&](engine::Txn& txn) -> Status {
                  for (const auto& [k, v] : record_entries(txn, "case")) bytes += v.size();
                  return Status::ok();
                })
                .is_ok());
    return bytes;
  };
  for (const char* name : {"on", "off"}) {
    auto r = make_with(tmp.sub(name), name == std::string("on") ? ranges_on() : ranges_off());
    write_cases(*r, 0, 600);
  }
  CHECK_FALSE(has_dict(tmp.sub("on")));
  CHECK(has_dict(tmp.sub("off")));
  REQUIRE(count_entries(tmp.sub("on"), "case").record_entries == 1);
  for (const char* name : {"on", "off"}) {
    auto r = reopen(tmp.sub(name), name == std::string("on") ? ranges_on() : ranges_off());
    Transaction t = r->begin();
    t.set("case", id_of(0, 300), "title", text("changed"));
    REQUIRE(t.commit().is_ok());
    CHECK(get_of(*r, "case", id_of(0, 300)).value("title") == text("changed"));
    require_verified(*r);
  }
  CHECK(has_dict(tmp.sub("on")));
  CHECK(count_entries(tmp.sub("on"), "case").record_entries > 1);
  // The same records in blocks, sealed with a dictionary on both: within a few percent.
  const size_t on = record_bytes(tmp.sub("on")), off = record_bytes(tmp.sub("off"));
  INFO("record table bytes: written out " << on << ", written at once " << off);
  CHECK(on * 100 <= off * 105);
}

TEST_CASE("Ranges: records created after a range land after it", "[engine][ranges]") {
  TempDir tmp;
  const std::vector<crdt::RecordId> ids = ids_of(0, 200);
  std::vector<crdt::RecordId> expected = ids;
  {
    auto r = make_with(tmp.sub("a"), ranges_on());
    write_cases(*r, 0, 200);
    // Ten more in a later transaction, then five: fewer than a range takes.
    write_cases(*r, 1, 10);
    write_cases(*r, 1, 5, 10);
    for (int i = 0; i < 15; ++i) expected.push_back(id_of(1, i));
    const std::vector<RecordView> all = list_of(*r, "case");
    CHECK(ids_in(all) == expected);
    for (int i = 0; i < 15; ++i) {
      CHECK(get_of(*r, "case", id_of(1, i)).value("title") == text("title-1-" + std::to_string(i)));
    }
    CHECK(get_of(*r, "case", ids[199]).value("title") == text("title-0-199"));
    const ChangedRecords since = changed_of(*r, 200);
    CHECK(ids_in(since) == std::vector<crdt::RecordId>(expected.begin() + 200, expected.end()));
    CHECK(since.position == 215);
    CHECK(ids_in(changed_of(*r, 0)) == expected);
    CHECK(ids_in(changed_of(*r, 150)) ==
          std::vector<crdt::RecordId>(expected.begin() + 150, expected.end()));
    require_verified(*r);
  }
  // The range is untouched: one entry, and the new records' block (or two).
  const StoreCounts c = count_entries(tmp.sub("a"), "case");
  CHECK(c.record_entries >= 2);
  CHECK(c.record_entries <= 3);
  CHECK(c.feed_entries == 1 + 15);
  {
    auto r = reopen(tmp.sub("a"), ranges_on());
    CHECK(ids_in(list_of(*r, "case")) == expected);
    require_verified(*r);
  }
}

// A collection that already holds blocks (a tablet's own records) still stores a bulk change's
// records as a range when they sort past its last record; the block is left as it is, or
// written with its own changes when the same commit changes it.
TEST_CASE("Ranges: new records past the last record of a block are stored as a range",
          "[engine][ranges]") {
  TempDir tmp;
  for (const char* name : {"on", "off"}) {
    auto r = make_with(tmp.sub(name), name == std::string("on") ? ranges_on() : ranges_off());
    write_cases(*r, 0, 10);   // one block
    write_cases(*r, 1, 200);  // past it: a range
  }
  StoreCounts c = count_entries(tmp.sub("on"), "case");
  CHECK(c.record_entries == 2);
  CHECK(c.feed_entries == 10 + 1);
  // A commit that changes a record of the block and makes 100 more past the range.
  for (const char* name : {"on", "off"}) {
    auto r = reopen(tmp.sub(name), name == std::string("on") ? ranges_on() : ranges_off());
    Transaction t = r->begin();
    t.set("case", id_of(0, 3), "title", text("changed"));
    for (int i = 0; i < 100; ++i) write_case(t, 2, i);
    REQUIRE(t.commit().is_ok());
  }
  c = count_entries(tmp.sub("on"), "case");
  CHECK(c.record_entries == 3);
  CHECK(c.feed_entries == 10 + 1 + 1);
  {
    auto on = reopen(tmp.sub("on"), ranges_on());
    auto off = reopen(tmp.sub("off"), ranges_off());
    const std::vector<crdt::RecordId> some = {id_of(0, 0),   id_of(0, 3), id_of(0, 9), id_of(1, 0),
                                              id_of(1, 199), id_of(2, 0), id_of(2, 99)};
    check_same_reads(*on, *off, "case", some);
    CHECK(get_of(*on, "case", id_of(0, 3)).value("title") == text("changed"));
    CHECK(ids_in(changed_of(*on, 0)) == ids_in(changed_of(*off, 0)));
    CHECK(ids_in(changed_of(*on, 105)) == ids_in(changed_of(*off, 105)));
    require_verified(*on);
    // A record made later between the block's last record and the range joins the block; an
    // edit of the range writes it out; both read as on the replica without ranges.
    for (Replica* r : {on.get(), off.get()}) {
      Transaction t = r->begin();
      write_case(t, 0, 50);
      t.set("case", id_of(1, 100), "title", text("edited"));
      REQUIRE(t.commit().is_ok());
    }
    check_same_reads(*on, *off, "case", {id_of(0, 50), id_of(1, 100), id_of(1, 101)});
    CHECK(list_of(*on, "case").size() == 10 + 200 + 100 + 1);
    require_verified(*on);
  }
  c = count_entries(tmp.sub("on"), "case");
  CHECK(c.feed_entries == 11 + 200 + 1);
}

TEST_CASE("Ranges: a record created with an id inside or before a range's span",
          "[engine][ranges]") {
  TempDir tmp;
  const std::vector<crdt::RecordId> ids = ids_of(1, 200);
  // Batch 1 ids; one new record with an id between two of them (batch 1, the same ms as
  // record 100, a higher random part) or below all of them (batch 0).
  const bool inside = GENERATE(true, false);
  INFO((inside ? "inside" : "before"));
  std::array<uint8_t, 10> random{};
  random.fill(0xff);
  const crdt::RecordId extra =
      inside ? crdt::RecordId::make(uint64_t{1750000000000} + 100000 + 100, random) : id_of(0, 0);
  REQUIRE((inside ? (ids[100] < extra && extra < ids[101]) : extra < ids[0]));
  std::vector<crdt::RecordId> expected = ids;
  expected.insert(inside ? expected.begin() + 101 : expected.begin(), extra);
  std::vector<crdt::RecordId> feed = ids;
  feed.push_back(extra);
  std::vector<RecordView> before;
  {
    auto r = make_with(tmp.sub("a"), ranges_on());
    write_cases(*r, 1, 200);
    before = list_of(*r, "case");
    Transaction t = r->begin();
    t.set("case", t.create("case", kScope, extra), "title", text("extra"));
    REQUIRE(t.commit().is_ok());
    const std::vector<RecordView> all = list_of(*r, "case");
    CHECK(ids_in(all) == expected);
    for (const RecordView& v : all) {
      if (v.id == extra) continue;
      auto was = std::find_if(before.begin(), before.end(),
                              [&](const RecordView& b) { return b.id == v.id; });
      REQUIRE(was != before.end());
      CHECK(v.state == was->state);
    }
    CHECK(get_of(*r, "case", extra).value("title") == text("extra"));
    CHECK(ids_in(changed_of(*r, 0)) == feed);
    CHECK(ids_in(changed_of(*r, 200)) == std::vector<crdt::RecordId>{extra});
    CHECK(ids_in(changed_of(*r, 150)) ==
          std::vector<crdt::RecordId>(feed.begin() + 150, feed.end()));
    require_verified(*r);
  }
  const StoreCounts c = count_entries(tmp.sub("a"), "case");
  CHECK(c.feed_entries == 201);  // the range written out
  {
    auto r = reopen(tmp.sub("a"), ranges_on());
    CHECK(ids_in(list_of(*r, "case")) == expected);
    CHECK(ids_in(changed_of(*r, 0)) == feed);
    require_verified(*r);
  }
}

TEST_CASE("Ranges: a range whose change is missing from the log is data loss",
          "[engine][ranges][at-rest]") {
  TempDir tmp;
  const std::string dir = tmp.sub("a");
  {
    auto r = make_with(dir, ranges_on());
    Transaction v = r->begin();  // change 1: a visit, in a block
    v.set("visit", v.create("visit", kScope, id_of(5, 0)), "household", text("hh-1"));
    REQUIRE(v.commit().is_ok());
    write_cases(*r, 0, 200);  // change 2: a range of cases
    require_verified(*r);
  }
  REQUIRE(count_entries(dir, "case").record_entries == 1);
  // Whether the head is moved back too, so that the log is a whole chain without the change:
  // then only the range shows the loss.
  const bool rewind_head = GENERATE(false, true);
  INFO((rewind_head ? "head moved back" : "head left"));
  edit_store(dir, [&](engine::Txn& txn) -> Status {
    std::vector<std::pair<std::string, std::string>> changes;
    BIRGA_RETURN_IF_ERROR(
        txn.scan(engine::Table::kChanges, engine::scope_prefix(kScope), [&](auto k, auto v) {
          changes.emplace_back(k, v);
          return true;
        }));
    if (changes.size() != 2) return Status::internal("expected two changes");
    BIRGA_RETURN_IF_ERROR(txn.del(engine::Table::kChanges, changes[1].first));
    if (rewind_head) {
      const std::string& key = changes[0].first;
      std::string head;
      engine::put_be64(head, 1);
      const engine::ChangeId id = engine::change_id(changes[0].second);
      head.append(reinterpret_cast<const char*>(id.data()), id.size());
      BIRGA_RETURN_IF_ERROR(txn.put(engine::Table::kHeads, key.substr(0, key.size() - 8), head));
    }
    return Status::ok();
  });
  auto r = reopen(dir, ranges_on());
  auto cases = r->list("case");
  CHECK(cases.status().code() == Code::kDataLoss);
  CHECK_THAT(cases.status().message(), Catch::Contains("range") && Catch::Contains("change"));
  auto one = r->get("case", id_of(0, 17));
  CHECK(one.status().code() == Code::kDataLoss);
  CHECK_THAT(one.status().message(), Catch::Contains("range"));
  CHECK(r->changed_since(0).status().code() == Code::kDataLoss);
  CHECK(r->state_hash(kScope).status().code() == Code::kDataLoss);
  const Status verdict = r->verify();
  CHECK(verdict.code() == Code::kDataLoss);
  CHECK_THAT(verdict.message(), Catch::Contains("change"));
  if (rewind_head) CHECK_THAT(verdict.message(), Catch::Contains("range"));
  // A write to a record of the range is refused whole, naming why.
  Transaction edit = r->begin();
  edit.set("case", id_of(0, 17), "title", text("x"));
  const Status refused = edit.commit();
  CHECK(refused.code() == Code::kDataLoss);
  CHECK_THAT(refused.message(), Catch::Contains("range"));
  // The other collection still reads.
  const std::vector<RecordView> visits = list_of(*r, "visit");
  REQUIRE(visits.size() == 1);
  CHECK(visits[0].value("household") == text("hh-1"));
  CHECK(get_of(*r, "visit", id_of(5, 0)).value("household") == text("hh-1"));
}

TEST_CASE("Ranges: a range's entry swapped with another entry is data loss",
          "[engine][ranges][at-rest]") {
  TempDir tmp;
  const std::string dir = tmp.sub("a");
  {
    auto r = make_with(dir, ranges_on());
    Transaction v = r->begin();
    v.set("visit", v.create("visit", kScope, id_of(5, 0)), "household", text("hh-1"));
    REQUIRE(v.commit().is_ok());
    write_cases(*r, 0, 200);  // a range
    write_cases(*r, 1, 200);  // another range
    write_cases(*r, 2, 10);   // a block
    require_verified(*r);
  }
  REQUIRE(count_entries(dir, "case").record_entries == 3);
  const bool with_range = GENERATE(true, false);
  INFO((with_range ? "swapped with the other range" : "swapped with a block"));
  edit_store(dir, [&](engine::Txn& txn) -> Status {
    auto entries = record_entries(txn, "case");
    if (entries.size() != 3) return Status::internal("expected three entries");
    const auto& other = entries[with_range ? 1 : 2];
    auto table = txn.records_of("case");
    if (!table.is_ok()) return table.status();
    BIRGA_RETURN_IF_ERROR(txn.put(*table, entries[0].first, other.second));
    return txn.put(*table, other.first, entries[0].second);
  });
  auto r = reopen(dir, ranges_on());
  auto cases = r->list("case");
  CHECK(cases.status().code() == Code::kDataLoss);
  CHECK_THAT(cases.status().message(), Catch::Contains("cannot be decrypted"));
  auto one = r->get("case", id_of(0, 17));
  CHECK(one.status().code() == Code::kDataLoss);
  CHECK_THAT(one.status().message(), Catch::Contains("cannot be decrypted"));
  const Status verdict = r->verify();
  CHECK(verdict.code() == Code::kDataLoss);
  CHECK_THAT(verdict.message(), Catch::Contains("cannot be decrypted"));
  CHECK(r->changed_since(0).status().code() == Code::kDataLoss);
  CHECK(list_of(*r, "visit").size() == 1);
}

TEST_CASE("Ranges: a range's change feed entry deleted or moved is found by verify",
          "[engine][ranges][at-rest]") {
  TempDir tmp;
  const std::string dir = tmp.sub("a");
  {
    auto r = make_with(dir, ranges_on());
    write_cases(*r, 0, 200);
    write_cases(*r, 1, 200);
    require_verified(*r);
  }
  REQUIRE(count_entries(dir, "case").feed_entries == 2);
  const bool moved = GENERATE(false, true);
  INFO((moved ? "the second range's entry moved one place on" : "the first range's entry deleted"));
  edit_store(dir, [&](engine::Txn& txn) -> Status {
    std::vector<std::pair<std::string, std::string>> feed;
    BIRGA_RETURN_IF_ERROR(txn.scan(engine::Table::kFeed, "", [&](auto k, auto v) {
      feed.emplace_back(k, v);
      return true;
    }));
    if (feed.size() != 2) return Status::internal("expected two feed entries");
    if (!moved) return txn.del(engine::Table::kFeed, feed[0].first);
    BIRGA_RETURN_IF_ERROR(txn.del(engine::Table::kFeed, feed[1].first));
    std::string pos;
    engine::put_be64(pos, engine::get_be64(feed[1].first) + 1);
    return txn.put(engine::Table::kFeed, pos, feed[1].second);
  });
  auto r = reopen(dir, ranges_on());
  const Status verdict = r->verify();
  CHECK(verdict.code() == Code::kDataLoss);
  INFO(verdict.to_string());
  CHECK_THAT(verdict.message(), Catch::Contains("feed"));
  if (moved) {
    // The feed names a range at a position the range does not start at.
    CHECK(r->changed_since(0).status().code() == Code::kDataLoss);
  }
}
