// Op shapes, record ids, Record (fields, duplicates, the delete rule, encoding) and Dataset.
#include "birga/crdt/record.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>

#include "birga/crdt/dataset.h"
#include "birga/crdt/op.h"
#include "birga/crdt/sha256.h"

namespace birga::crdt {
namespace {

const ActorId kA = ActorId::named("alice");
const ActorId kB = ActorId::named("bob");
const ActorId kC = ActorId::named("carol");
const RecordId kRec = RecordId::make(1795338611123ull, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
const RecordId kRec2 = RecordId::make(1795338611124ull, {9, 9, 9, 9, 9, 9, 9, 9, 9, 9});

Op make_op(OpKind kind, std::string field, Dot dot, Value value = {}, DotSet observed = {}) {
  Op op;
  op.collection = "visit";
  op.record = kRec;
  op.kind = kind;
  op.field = std::move(field);
  op.dot = dot;
  op.time = Timestamp::make(1795338611000ull + dot.counter, 0);
  op.value = std::move(value);
  op.observed = std::move(observed);
  return op;
}
Op lww(std::string field, Dot dot, Value v) {
  return make_op(OpKind::kLwwWrite, std::move(field), dot, std::move(v));
}
Op mv(std::string field, Dot dot, Value v, DotSet observed = {}) {
  return make_op(OpKind::kMvWrite, std::move(field), dot, std::move(v), std::move(observed));
}
Op set_add(std::string field, Dot dot, Value v) {
  return make_op(OpKind::kSetAdd, std::move(field), dot, std::move(v));
}
Op set_remove(std::string field, Dot dot, Value v, DotSet observed) {
  return make_op(OpKind::kSetRemove, std::move(field), dot, std::move(v), std::move(observed));
}
Op counter(std::string field, Dot dot, uint64_t inc, uint64_t dec) {
  Op op = make_op(OpKind::kCounterUpdate, std::move(field), dot);
  op.inc_total = inc;
  op.dec_total = dec;
  return op;
}
Op log_append(std::string field, Dot dot, Value v) {
  return make_op(OpKind::kLogAppend, std::move(field), dot, std::move(v));
}
Op del(Dot dot, DotSet observed) {
  return make_op(OpKind::kRecordDelete, "", dot, Value(), std::move(observed));
}
Op restore(Dot dot, DotSet observed) {
  return make_op(OpKind::kRecordRestore, "", dot, Value(), std::move(observed));
}

std::string encoded(const Record& r) {
  ByteWriter w;
  r.encode(w);
  return w.take();
}

Record applied(const std::vector<Op>& ops) {
  Record r;
  for (const Op& op : ops) {
    INFO("op " << op.dot.to_string());
    REQUIRE(r.apply(op).is_ok());
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Op, RecordId, kinds

TEST_CASE("RecordId: wall time first, then the random bytes", "[crdt][record]") {
  const RecordId id = RecordId::make(0x0123456789ABull, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  CHECK(id.to_hex() == "0123456789ab0102030405060708090a");
  const std::optional<RecordId> back = RecordId::from_hex(id.to_hex());
  REQUIRE(back.has_value());
  CHECK(*back == id);
  CHECK_FALSE(RecordId::from_hex("0123").has_value());
  CHECK_FALSE(RecordId::from_hex("0123456789ab0102030405060708090z").has_value());
  // Ids sort by creation time whatever their random part.
  CHECK(RecordId::make(1000, {255, 255, 255, 255, 255, 255, 255, 255, 255, 255}) <
        RecordId::make(1001, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
}

TEST_CASE("FieldKind: names round trip and op kinds map to field kinds", "[crdt][record]") {
  const std::vector<std::pair<FieldKind, std::string>> names = {{FieldKind::kLww, "lww"},
                                                                {FieldKind::kMv, "mv"},
                                                                {FieldKind::kSet, "set"},
                                                                {FieldKind::kCounter, "counter"},
                                                                {FieldKind::kLog, "log"}};
  for (const auto& [kind, name] : names) {
    CHECK(kind_name(kind) == name);
    FieldKind parsed = FieldKind::kLww;
    CHECK(parse_kind_name(name, &parsed));
    CHECK(parsed == kind);
  }
  FieldKind untouched = FieldKind::kLog;
  CHECK_FALSE(parse_kind_name("LWW", &untouched));
  CHECK_FALSE(parse_kind_name("", &untouched));
  CHECK(untouched == FieldKind::kLog);

  CHECK(field_kind_of(OpKind::kLwwWrite) == FieldKind::kLww);
  CHECK(field_kind_of(OpKind::kMvWrite) == FieldKind::kMv);
  CHECK(field_kind_of(OpKind::kSetAdd) == FieldKind::kSet);
  CHECK(field_kind_of(OpKind::kSetRemove) == FieldKind::kSet);
  CHECK(field_kind_of(OpKind::kCounterUpdate) == FieldKind::kCounter);
  CHECK(field_kind_of(OpKind::kLogAppend) == FieldKind::kLog);
  CHECK_FALSE(field_kind_of(OpKind::kRecordDelete).has_value());
  CHECK_FALSE(field_kind_of(OpKind::kRecordRestore).has_value());
  CHECK(std::string(op_kind_name(OpKind::kSetRemove)) == "set remove");
  CHECK(std::string(op_kind_name(OpKind::kRecordRestore)) == "record restore");
}

TEST_CASE("Op: check_shape accepts every well-formed kind", "[crdt][record]") {
  for (const Op& op : {lww("t", {kA, 1}, text("x")), lww("t", {kA, 1}, Value()),
                       mv("s", {kA, 1}, text("x"), {{kB, 1}}), set_add("m", {kA, 1}, text("x")),
                       set_remove("m", {kA, 1}, text("x"), {{kA, 1}}), counter("c", {kA, 1}, 3, 1),
                       counter("c", {kA, 1}, 0, 0), log_append("n", {kA, 1}, text("x")),
                       del({kA, 1}, {}), del({kA, 1}, {{kB, 2}}), restore({kA, 1}, {{kB, 3}})}) {
    INFO(op_kind_name(op.kind));
    CHECK(op.check_shape().is_ok());
  }
}

TEST_CASE("Record: an op with a bad shape is refused and changes nothing", "[crdt][record]") {
  struct Bad {
    Op op;
    std::string says;
  };
  std::vector<Bad> bad;
  Op no_collection = lww("title", {kA, 9}, text("x"));
  no_collection.collection.clear();
  bad.push_back({no_collection, "no collection"});
  bad.push_back({lww("title", {kA, 0}, text("x")), "dot counter is 0"});
  Op delete_with_field = del({kA, 9}, {});
  delete_with_field.field = "title";
  bad.push_back({delete_with_field, "names a field"});
  bad.push_back({lww("", {kA, 9}, text("x")), "no field name"});
  Op lww_observed = lww("title", {kA, 9}, text("x"));
  lww_observed.observed = {{kB, 1}};
  bad.push_back({lww_observed, "'title': unexpected observed dots"});
  Op add_observed = set_add("members", {kA, 9}, text("x"));
  add_observed.observed = {{kB, 1}};
  bad.push_back({add_observed, "'members': unexpected observed dots"});
  Op log_totals = log_append("notes", {kA, 9}, text("x"));
  log_totals.dec_total = 1;
  bad.push_back({log_totals, "'notes': unexpected counter totals"});
  Op counter_value = counter("visits", {kA, 9}, 1, 0);
  counter_value.value = integer(1);
  bad.push_back({counter_value, "'visits': counter op carries a value"});
  Op unknown = lww("title", {kA, 9}, text("x"));
  unknown.kind = static_cast<OpKind>(9);
  bad.push_back({unknown, "unknown op kind 9"});

  Record rec = applied({lww("title", {kA, 1}, text("kept"))});
  const std::string before = encoded(rec);
  for (const Bad& b : bad) {
    INFO("expecting: " << b.says);
    const Status shape = b.op.check_shape();
    CHECK(shape.code() == Code::kInvalidArgument);
    CHECK_THAT(shape.message(), Catch::Contains(b.says));
    const Status applied_status = rec.apply(b.op);
    CHECK(applied_status.code() == Code::kInvalidArgument);
    CHECK(encoded(rec) == before);
    CHECK_FALSE(rec.has_applied(b.op.dot));
    Dataset d;
    CHECK(d.apply(b.op).code() == Code::kInvalidArgument);
    CHECK(d.collections().empty());
  }
}

// op.h: "Ok when the members that `kind` uses are present and the others are empty"; the table
// gives delete and restore no value and no counters.
TEST_CASE("Op: check_shape refuses a delete or restore carrying a value or counter totals",
          "[crdt][record]") {
  Op delete_with_value = del({kA, 1}, {});
  delete_with_value.value = text("junk");
  CHECK(delete_with_value.check_shape().code() == Code::kInvalidArgument);
  Op restore_with_totals = restore({kA, 1}, {{kB, 1}});
  restore_with_totals.inc_total = 7;
  CHECK(restore_with_totals.check_shape().code() == Code::kInvalidArgument);
  Op delete_with_totals = del({kA, 1}, {});
  delete_with_totals.dec_total = 1;
  CHECK(delete_with_totals.check_shape().code() == Code::kInvalidArgument);
}

// op.h: collection and field names are 1..255 bytes (the store keys them with a length byte).
TEST_CASE("Op: check_shape limits collection and field names to 255 bytes", "[crdt][record]") {
  Op longest = lww(std::string(255, 'f'), {kA, 1}, text("x"));
  longest.collection = std::string(255, 'c');
  CHECK(longest.check_shape().is_ok());

  Op long_collection = lww("title", {kA, 1}, text("x"));
  long_collection.collection = std::string(256, 'c');
  CHECK(long_collection.check_shape().code() == Code::kInvalidArgument);
  const Op long_field = lww(std::string(256, 'f'), {kA, 1}, text("x"));
  CHECK(long_field.check_shape().code() == Code::kInvalidArgument);
  Op long_delete = del({kA, 1}, {});
  long_delete.collection = std::string(1000, 'c');
  CHECK(long_delete.check_shape().code() == Code::kInvalidArgument);

  Record rec;
  CHECK(rec.apply(long_field).code() == Code::kInvalidArgument);
  CHECK(rec.fields().empty());
}

// ---------------------------------------------------------------------------------------------
// Record: fields

TEST_CASE("Record: every field kind is written through an Op", "[crdt][record]") {
  Counter visits;
  const CounterUpdate visit_op = visits.make_add(kA, 3);
  const Record rec = applied({
      lww("title", {kA, 1}, text("home visit")),
      mv("status", {kA, 2}, text("open")),
      mv("status", {kB, 1}, text("referred")),
      set_add("members", {kA, 3}, text("amir")),
      set_add("members", {kA, 4}, text("zarina")),
      set_remove("members", {kA, 5}, text("amir"), {{kA, 3}}),
      counter("visits", {kA, 6}, visit_op.inc_total, visit_op.dec_total),
      counter("visits", {kB, 2}, 0, 5),
      log_append("notes", {kA, 7}, text("knocked")),
      log_append("notes", {kB, 3}, text("called")),
  });
  REQUIRE(rec.get<LwwRegister>("title") != nullptr);
  CHECK(rec.get<LwwRegister>("title")->value() == text("home visit"));
  CHECK(rec.get<LwwRegister>("title")->actor() == kA);
  REQUIRE(rec.get<MvRegister>("status") != nullptr);
  CHECK(rec.get<MvRegister>("status")->values() ==
        std::vector<Value>{text("open"), text("referred")});
  // The op's HLC time reaches the register: (A,2) was written after (B,1).
  CHECK(rec.get<MvRegister>("status")->latest() == text("open"));
  REQUIRE(rec.get<AwSet>("members") != nullptr);
  CHECK(rec.get<AwSet>("members")->elements() == std::vector<Value>{text("zarina")});
  REQUIRE(rec.get<Counter>("visits") != nullptr);
  CHECK(rec.get<Counter>("visits")->value() == 3 - 5);
  REQUIRE(rec.get<AppendLog>("notes") != nullptr);
  const std::vector<LogAppend> notes = rec.get<AppendLog>("notes")->entries();
  REQUIRE(notes.size() == 2);
  CHECK(notes[0].payload == text("called"));  // (B,3) was written at an earlier time than (A,7)
  CHECK(notes[1].payload == text("knocked"));

  CHECK(rec.fields().size() == 5);
  CHECK(rec.find("title", FieldKind::kMv) == nullptr);
  CHECK(rec.get<Counter>("title") == nullptr);
  CHECK(rec.find("nothing", FieldKind::kLww) == nullptr);
  REQUIRE(rec.find("status", FieldKind::kMv) != nullptr);
  CHECK(kind_of(*rec.find("status", FieldKind::kMv)) == FieldKind::kMv);
  CHECK(kind_of(*rec.find("visits", FieldKind::kCounter)) == FieldKind::kCounter);

  CHECK(rec.field_dots() == DotSet{{kA, 1},
                                   {kA, 2},
                                   {kB, 1},
                                   {kA, 3},
                                   {kA, 4},
                                   {kA, 5},
                                   {kA, 6},
                                   {kB, 2},
                                   {kA, 7},
                                   {kB, 3}});
  CHECK(rec.has_applied({kA, 7}));
  CHECK_FALSE(rec.has_applied({kC, 1}));
  CHECK_FALSE(rec.is_deleted());
  CHECK_FALSE(rec.has_delete_conflict());
  CHECK(rec.is_conflicted());  // the status field holds two values
  CHECK(rec.delete_dots().empty());
}

TEST_CASE("Record: fields are keyed by name and kind", "[crdt][record]") {
  // An older replica meeting a field written as another kind keeps both.
  const Record rec = applied({lww("x", {kA, 1}, integer(5)), counter("x", {kB, 1}, 2, 0)});
  CHECK(rec.fields().size() == 2);
  REQUIRE(rec.get<LwwRegister>("x") != nullptr);
  REQUIRE(rec.get<Counter>("x") != nullptr);
  CHECK(rec.get<LwwRegister>("x")->value() == integer(5));
  CHECK(rec.get<Counter>("x")->value() == 2);
  CHECK_FALSE(rec.is_conflicted());
}

TEST_CASE("Record: a duplicate op is a no-op", "[crdt][record]") {
  const std::vector<Op> ops = {lww("title", {kA, 1}, text("x")),
                               mv("status", {kA, 2}, text("open")),
                               set_add("members", {kB, 1}, text("amir")),
                               counter("visits", {kB, 2}, 4, 0),
                               log_append("notes", {kA, 3}, text("knocked")),
                               del({kC, 1}, {{kA, 1}}),
                               restore({kC, 2}, {{kC, 1}})};
  const Record once = applied(ops);
  Record twice = once;
  for (const Op& op : ops) REQUIRE(twice.apply(op).is_ok());
  CHECK(encoded(twice) == encoded(once));
  CHECK(twice == once);
  CHECK(twice.get<AppendLog>("notes")->size() == 1);

  // An op reusing an applied dot is the same op as far as the record knows: a later LWW time
  // under dot (A,1) must not win.
  Op replay = lww("title", {kA, 1}, text("changed"));
  replay.time = Timestamp::make(9'000'000'000'000ull, 0);
  REQUIRE(twice.apply(replay).is_ok());
  CHECK(twice.get<LwwRegister>("title")->value() == text("x"));
  CHECK(twice == once);
}

// ---------------------------------------------------------------------------------------------
// Record: deletion

TEST_CASE("Record: a delete that observed every field op deletes the record",
          "[crdt][record][delete]") {
  Record rec = applied({lww("title", {kA, 1}, text("x")), mv("status", {kB, 1}, text("open"))});
  REQUIRE(rec.apply(del({kA, 2}, rec.field_dots())).is_ok());
  CHECK(rec.is_deleted());
  CHECK_FALSE(rec.has_delete_conflict());
  CHECK_FALSE(rec.is_conflicted());
  CHECK(rec.delete_dots() == DotSet{{kA, 2}});
  CHECK(rec.has_applied({kA, 2}));
  // The data stays (a restore brings it back).
  REQUIRE(rec.get<LwwRegister>("title") != nullptr);
  CHECK(rec.get<LwwRegister>("title")->value() == text("x"));

  // A record that only ever saw a delete reads as deleted.
  const Record bare = applied({del({kA, 1}, {})});
  CHECK(bare.is_deleted());
}

TEST_CASE("Record: an edit concurrent with a delete keeps the record visible",
          "[crdt][record][delete]") {
  const Op create = lww("title", {kA, 1}, text("before"));
  const Op deletion = del({kB, 1}, {{kA, 1}});            // Bob saw only the creation
  const Op edit = lww("title", {kA, 2}, text("edited"));  // Alice edits concurrently
  const Record one = applied({create, deletion, edit});
  const Record two = applied({create, edit, deletion});
  const Record three = applied({deletion, edit, create});
  for (const Record* rec : {&one, &two, &three}) {
    CHECK_FALSE(rec->is_deleted());
    CHECK(rec->has_delete_conflict());
    CHECK(rec->is_conflicted());
    REQUIRE(rec->get<LwwRegister>("title") != nullptr);
    CHECK(rec->get<LwwRegister>("title")->value() == text("edited"));
  }
  CHECK(encoded(one) == encoded(two));
  CHECK(encoded(one) == encoded(three));

  SECTION("a new delete that observed the edit deletes it") {
    Record rec = one;
    REQUIRE(rec.apply(del({kC, 1}, rec.field_dots())).is_ok());
    CHECK(rec.is_deleted());
    CHECK_FALSE(rec.has_delete_conflict());
    CHECK(rec.delete_dots() == DotSet{{kB, 1}, {kC, 1}});
  }
  SECTION("a restore removes the conflict") {
    Record rec = one;
    REQUIRE(rec.apply(restore({kC, 1}, rec.delete_dots())).is_ok());
    CHECK_FALSE(rec.is_deleted());
    CHECK_FALSE(rec.has_delete_conflict());
    CHECK_FALSE(rec.is_conflicted());
  }
  SECTION("an edit of another field is concurrent just the same") {
    Record rec = applied({create, deletion});
    REQUIRE(rec.is_deleted());
    REQUIRE(rec.apply(set_add("members", {kC, 1}, text("amir"))).is_ok());
    CHECK_FALSE(rec.is_deleted());
    CHECK(rec.has_delete_conflict());
    CHECK(rec.get<AwSet>("members")->contains(text("amir")));
  }
}

TEST_CASE("Record: restore removes the delete in any order", "[crdt][record][delete]") {
  const Op create = mv("status", {kA, 1}, text("open"));
  const Op deletion = del({kB, 1}, {{kA, 1}});
  const Op undo = restore({kA, 2}, {{kB, 1}});
  const Record in_order = applied({create, deletion, undo});
  const Record restore_first = applied({undo, create, deletion});
  for (const Record* rec : {&in_order, &restore_first}) {
    CHECK_FALSE(rec->is_deleted());
    CHECK_FALSE(rec->has_delete_conflict());
    CHECK(rec->delete_dots().empty());
    CHECK(rec->get<MvRegister>("status")->values() == std::vector<Value>{text("open")});
    CHECK(rec->has_applied({kB, 1}));
    CHECK(rec->has_applied({kA, 2}));
  }
  CHECK(encoded(in_order) == encoded(restore_first));

  // The delete delivered again after the restore stays undone.
  Record again = in_order;
  REQUIRE(again.apply(deletion).is_ok());
  CHECK_FALSE(again.is_deleted());
  CHECK(again == in_order);
}

TEST_CASE("Record: a delete concurrent with a restore survives it", "[crdt][record][delete]") {
  const Op create = lww("title", {kA, 1}, text("x"));
  const Op first_delete = del({kB, 1}, {{kA, 1}});
  const Op undo = restore({kA, 2}, {{kB, 1}});       // saw the first delete only
  const Op second_delete = del({kC, 1}, {{kA, 1}});  // concurrent with the restore
  const Record one = applied({create, first_delete, undo, second_delete});
  const Record two = applied({second_delete, undo, create, first_delete});
  for (const Record* rec : {&one, &two}) {
    CHECK(rec->is_deleted());
    CHECK(rec->delete_dots() == DotSet{{kC, 1}});
  }
  CHECK(one == two);
}

TEST_CASE("Record: merge equals applying the union of ops", "[crdt][record]") {
  const std::vector<Op> left_ops = {lww("title", {kA, 1}, text("a")),
                                    mv("status", {kA, 2}, text("open")),
                                    del({kA, 3}, {{kA, 1}, {kA, 2}})};
  const std::vector<Op> right_ops = {lww("title", {kA, 1}, text("a")),
                                     mv("status", {kB, 1}, text("closed"), {{kA, 2}}),
                                     counter("visits", {kB, 2}, 1, 0), restore({kB, 3}, {{kA, 3}})};
  std::vector<Op> all = left_ops;
  all.insert(all.end(), right_ops.begin(), right_ops.end());
  const Record left = applied(left_ops);
  const Record right = applied(right_ops);
  const Record expected = applied(all);
  Record lr = left;
  lr.merge(right);
  Record rl = right;
  rl.merge(left);
  CHECK(encoded(lr) == encoded(expected));
  CHECK(encoded(rl) == encoded(expected));
  CHECK(lr == expected);
  // The expectation itself, read from the contracts.
  CHECK(expected.get<MvRegister>("status")->values() == std::vector<Value>{text("closed")});
  CHECK_FALSE(expected.is_deleted());
  CHECK(expected.has_applied({kA, 3}));
  CHECK(expected.has_applied({kB, 3}));
}

TEST_CASE("Record: encode/decode round trip keeps everything", "[crdt][record][codec]") {
  Record rec = applied({
      lww("title", {kA, 1}, text("home visit")),
      mv("status", {kA, 2}, text("open")),
      mv("status", {kB, 1}, integer(4)),
      set_add("members", {kA, 3}, text("amir")),
      set_remove("members", {kB, 2}, text("amir"), {{kA, 3}}),
      set_add("members", {kC, 1}, text("zarina")),
      counter("visits", {kA, 4}, 10, 3),
      log_append("notes", {kB, 3}, text("knocked")),
      log_append("notes", {kC, 2}, Value(false)),
      lww("x", {kC, 3}, Value()),
      counter("x", {kC, 4}, 0, 1),
      del({kA, 5}, {{kA, 1}, {kA, 2}}),
      restore({kB, 4}, {{kA, 5}}),
      del({kC, 5}, {{kA, 1}}),
  });
  REQUIRE(rec.has_delete_conflict());
  const std::string bytes = encoded(rec);
  ByteReader r(bytes);
  const Record back = Record::decode(r);
  REQUIRE(r.finish().is_ok());
  CHECK(back == rec);
  CHECK(encoded(back) == bytes);
  CHECK(back.fields().size() == rec.fields().size());
  CHECK(back.field_dots() == rec.field_dots());
  CHECK(back.delete_dots() == DotSet{{kC, 5}});
  CHECK(back.has_applied({kB, 4}));
  CHECK(back.has_delete_conflict());
  CHECK(back.get<MvRegister>("status")->values() == rec.get<MvRegister>("status")->values());

  Record empty;
  ByteWriter w;
  empty.encode(w);
  ByteReader re(w.data());
  CHECK(Record::decode(re) == empty);
  CHECK(re.finish().is_ok());
}

// ---------------------------------------------------------------------------------------------
// Dataset

TEST_CASE("Dataset: applying creates collections and records", "[crdt][dataset]") {
  Dataset d;
  CHECK(d.find("visit", kRec) == nullptr);
  CHECK(d.collection("visit") == nullptr);
  Op other = lww("title", {kA, 2}, text("y"));
  other.collection = "household";
  other.record = kRec2;
  REQUIRE(d.apply(lww("title", {kA, 1}, text("x"))).is_ok());
  REQUIRE(d.apply(other).is_ok());
  REQUIRE(d.find("visit", kRec) != nullptr);
  CHECK(d.find("visit", kRec)->get<LwwRegister>("title")->value() == text("x"));
  CHECK(d.find("visit", kRec2) == nullptr);
  CHECK(d.find("household", kRec2) != nullptr);
  REQUIRE(d.collection("visit") != nullptr);
  CHECK(d.collection("visit")->size() == 1);
  CHECK(d.collections().size() == 2);
}

TEST_CASE("Dataset: the canonical encoding does not depend on order or duplicates",
          "[crdt][dataset]") {
  std::vector<Op> ops;
  for (uint64_t i = 1; i <= 12; ++i) {
    const ActorId& actor = i % 3 == 0 ? kA : (i % 3 == 1 ? kB : kC);
    Op op = i % 2 ? lww("title", {actor, i}, integer(static_cast<int64_t>(i)))
                  : set_add("members", {actor, i}, text("m" + std::to_string(i % 4)));
    op.collection = i % 4 == 0 ? "household" : "visit";
    op.record = i % 5 == 0 ? kRec2 : kRec;
    ops.push_back(op);
  }
  ops.push_back(del({kA, 100}, {{kB, 1}}));
  Dataset forward;
  for (const Op& op : ops) REQUIRE(forward.apply(op).is_ok());

  std::mt19937_64 rng(42);
  for (int round = 0; round < 20; ++round) {
    std::vector<Op> shuffled = ops;
    for (size_t i = 0; i < ops.size(); i += 3) shuffled.push_back(ops[i]);  // duplicates
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    Dataset d;
    for (const Op& op : shuffled) REQUIRE(d.apply(op).is_ok());
    REQUIRE(d.encode() == forward.encode());
    REQUIRE(d.hash_hex() == forward.hash_hex());
    REQUIRE(d == forward);
  }

  // One more op changes the bytes and the hash.
  Dataset more = forward;
  REQUIRE(more.apply(lww("title", {kC, 200}, text("new"))).is_ok());
  CHECK(more.encode() != forward.encode());
  CHECK(more.hash_hex() != forward.hash_hex());
}

TEST_CASE("Dataset: encoding follows the documented layout", "[crdt][dataset]") {
  CHECK(Dataset().encode() == std::string(1, '\0'));
  // SHA-256 of the single byte 0x00.
  CHECK(Dataset().hash_hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");

  Dataset d;
  Op op = lww("t", {kA, 1}, text("v"));
  op.time = Timestamp::make(1000, 2);
  REQUIRE(d.apply(op).is_ok());

  // The record, written out by hand from record.h / lww_register.h / dot_store.h: the actor
  // and time tables, then the body, which names actors and times by their index.
  ByteWriter rec;
  rec.varint(1);  // one actor
  rec.actor(kA);
  rec.varint(1);  // one time
  rec.varint(Timestamp::make(1000, 2).packed());
  rec.varint(1);  // one field
  rec.bytes("t");
  rec.u8(1);      // FieldKind::kLww
  rec.u8(1);      // set
  rec.varint(0);  // time 0
  rec.varint(0);  // actor 0
  rec.u8(4);      // text
  rec.bytes("v");
  rec.varint(0);  // deletes: no live entries
  rec.varint(0);  //          no removed dots
  rec.varint(1);  // field dots: one actor
  rec.varint(0);  //             actor 0
  rec.varint(1);  //             one dot
  rec.varint(1);  //             counter 1
  rec.varint(0);  // record op dots: none

  ByteWriter coll;
  coll.varint(1);
  coll.raw(kRec.bytes.data(), kRec.bytes.size());
  coll.raw(rec.data().data(), rec.data().size());
  CHECK(d.encode_collection("visit") == coll.data());
  CHECK(d.encode_collection("missing") == std::string(1, '\0'));

  ByteWriter all;
  all.varint(1);
  all.bytes("visit");
  all.raw(coll.data().data(), coll.data().size());
  CHECK(d.encode() == all.data());
  CHECK(d.hash_hex() == Sha256::hex(Sha256::digest(all.data())));
  CHECK(d.hash_hex().size() == 64);
}

TEST_CASE("Dataset: merge equals applying both sides' ops", "[crdt][dataset]") {
  Op a = lww("title", {kA, 1}, text("a"));
  Op b = set_add("members", {kB, 1}, text("x"));
  b.record = kRec2;
  Op c = del({kC, 1}, {{kA, 1}});
  c.collection = "household";
  Dataset left, right, both;
  for (const Op& op : {a, c}) REQUIRE(left.apply(op).is_ok());
  for (const Op& op : {b, a}) REQUIRE(right.apply(op).is_ok());
  for (const Op& op : {a, b, c}) REQUIRE(both.apply(op).is_ok());
  Dataset lr = left;
  lr.merge(right);
  right.merge(left);
  CHECK(lr.encode() == both.encode());
  CHECK(right.encode() == both.encode());
  CHECK(lr.find("household", kRec)->is_deleted());
  CHECK_FALSE(lr.find("visit", kRec)->is_deleted());
}

}  // namespace
}  // namespace birga::crdt
