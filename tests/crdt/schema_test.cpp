// Schema checks of locally written ops, value types and Status.
#include "birga/crdt/schema.h"

#include <catch2/catch.hpp>

#include "birga/crdt/value.h"
#include "birga/status.h"

namespace birga::crdt {
namespace {

const ActorId kA = ActorId::named("alice");

Schema visit_schema() {
  CollectionSpec visit;
  visit.name = "visit";
  visit.add({"title", FieldKind::kLww, ValueType::kText})
      .add({"weight", FieldKind::kLww, ValueType::kInt, false, false, /*required=*/true})
      .add({"status", FieldKind::kMv, ValueType::kText})
      .add({"members", FieldKind::kSet, ValueType::kText})
      .add({"visits", FieldKind::kCounter, ValueType::kInt})
      .add({"notes", FieldKind::kLog, ValueType::kText})
      .add({"extra", FieldKind::kLww, ValueType::kAny});
  CollectionSpec consent;
  consent.name = "consent";
  consent.immutable = true;
  consent.add({"given", FieldKind::kLww, ValueType::kBool});
  Schema schema(3);
  schema.add(visit);
  schema.add(consent);
  return schema;
}

Op op_on(std::string collection, OpKind kind, std::string field, Value value = {}) {
  Op op;
  op.collection = std::move(collection);
  op.kind = kind;
  op.field = std::move(field);
  op.dot = Dot{kA, 1};
  op.time = Timestamp::make(1000, 0);
  op.value = std::move(value);
  if (kind == OpKind::kSetRemove) op.observed = {{kA, 0x99}};
  if (kind == OpKind::kCounterUpdate) op.inc_total = 1;
  return op;
}

void check_refused(const Schema& schema, const Op& op, const std::vector<std::string>& says) {
  const Status s = schema.check(op);
  INFO(s.to_string());
  CHECK(s.code() == Code::kInvalidArgument);
  for (const std::string& part : says) CHECK_THAT(s.message(), Catch::Contains(part));
}

TEST_CASE("Schema: ops that match the schema are accepted", "[crdt][schema]") {
  const Schema schema = visit_schema();
  for (const Op& op :
       {op_on("visit", OpKind::kLwwWrite, "title", text("home")),
        op_on("visit", OpKind::kLwwWrite, "title", Value()),  // clears it
        op_on("visit", OpKind::kLwwWrite, "weight", integer(3200)),
        op_on("visit", OpKind::kMvWrite, "status", text("open")),
        op_on("visit", OpKind::kMvWrite, "status", Value()),
        op_on("visit", OpKind::kSetAdd, "members", text("amir")),
        op_on("visit", OpKind::kSetRemove, "members", text("amir")),
        op_on("visit", OpKind::kCounterUpdate, "visits"),
        op_on("visit", OpKind::kLogAppend, "notes", text("knocked")),
        op_on("visit", OpKind::kLwwWrite, "extra", integer(1)),
        op_on("visit", OpKind::kLwwWrite, "extra", Value(true)),
        op_on("visit", OpKind::kRecordDelete, ""), op_on("visit", OpKind::kRecordRestore, ""),
        op_on("consent", OpKind::kLwwWrite, "given", Value(true))}) {
    INFO(op_kind_name(op.kind) << " on " << op.field);
    const Status s = schema.check(op);
    INFO(s.to_string());
    CHECK(s.is_ok());
  }
}

TEST_CASE("Schema: an unknown collection is refused by name", "[crdt][schema]") {
  const Schema schema = visit_schema();
  check_refused(schema, op_on("vist", OpKind::kLwwWrite, "title", text("x")), {"'vist'"});
  check_refused(schema, op_on("household", OpKind::kRecordDelete, ""), {"'household'"});
}

TEST_CASE("Schema: an unknown field is refused and named", "[crdt][schema]") {
  const Schema schema = visit_schema();
  check_refused(schema, op_on("visit", OpKind::kLwwWrite, "titel", text("x")),
                {"'titel'", "'visit'"});
  // A field of another collection is unknown here.
  check_refused(schema, op_on("consent", OpKind::kLwwWrite, "title", text("x")),
                {"'title'", "'consent'"});
}

TEST_CASE("Schema: an op of the wrong kind for its field is refused", "[crdt][schema]") {
  const Schema schema = visit_schema();
  check_refused(schema, op_on("visit", OpKind::kLwwWrite, "status", text("open")),
                {"'status'", "mv"});
  check_refused(schema, op_on("visit", OpKind::kMvWrite, "title", text("x")), {"'title'", "lww"});
  check_refused(schema, op_on("visit", OpKind::kSetAdd, "notes", text("x")), {"'notes'"});
  check_refused(schema, op_on("visit", OpKind::kCounterUpdate, "members"), {"'members'"});
  check_refused(schema, op_on("visit", OpKind::kLogAppend, "visits", text("x")), {"'visits'"});
}

TEST_CASE("Schema: a value of the wrong type is refused and the field named", "[crdt][schema]") {
  const Schema schema = visit_schema();
  check_refused(schema, op_on("visit", OpKind::kLwwWrite, "title", integer(5)),
                {"'title'", "text", "int"});
  check_refused(schema, op_on("visit", OpKind::kLwwWrite, "weight", text("3 kg")),
                {"'weight'", "int", "text"});
  check_refused(schema, op_on("visit", OpKind::kMvWrite, "status", Value(true)),
                {"'status'", "bool"});
  check_refused(schema, op_on("visit", OpKind::kSetAdd, "members", integer(1)), {"'members'"});
  check_refused(schema, op_on("visit", OpKind::kSetRemove, "members", integer(1)), {"'members'"});
  check_refused(schema, op_on("visit", OpKind::kLogAppend, "notes", integer(1)), {"'notes'"});
  check_refused(schema, op_on("consent", OpKind::kLwwWrite, "given", text("yes")),
                {"'given'", "'consent'"});
}

TEST_CASE("Schema: null clears optional registers only", "[crdt][schema]") {
  const Schema schema = visit_schema();
  // A required field cannot be cleared.
  check_refused(schema, op_on("visit", OpKind::kLwwWrite, "weight", Value()), {"'weight'"});
  // A set element or a log entry is never null.
  check_refused(schema, op_on("visit", OpKind::kSetAdd, "members", Value()), {"'members'"});
  check_refused(schema, op_on("visit", OpKind::kSetRemove, "members", Value()), {"'members'"});
  check_refused(schema, op_on("visit", OpKind::kLogAppend, "notes", Value()), {"'notes'"});
}

TEST_CASE("Schema: a malformed op is refused before the schema is consulted", "[crdt][schema]") {
  const Schema schema = visit_schema();
  Op op = op_on("visit", OpKind::kLwwWrite, "title", text("x"));
  op.dot.counter = 0;
  check_refused(schema, op, {"dot counter is 0"});
  Op no_field = op_on("visit", OpKind::kLwwWrite, "", text("x"));
  check_refused(schema, no_field, {"no field name"});
}

TEST_CASE("Schema: records of an immutable collection cannot be deleted", "[crdt][schema]") {
  const Schema schema = visit_schema();
  check_refused(schema, op_on("consent", OpKind::kRecordDelete, ""), {"'consent'", "immutable"});
  CHECK(schema.check(op_on("visit", OpKind::kRecordDelete, "")).is_ok());
}

TEST_CASE("Schema: lookups and replacement", "[crdt][schema]") {
  Schema schema = visit_schema();
  CHECK(schema.version() == 3);
  CHECK(Schema().version() == 1);
  CHECK(schema.collections().size() == 2);
  REQUIRE(schema.collection("visit") != nullptr);
  CHECK(schema.collection("visit")->fields.size() == 7);
  CHECK(schema.collection("nope") == nullptr);
  REQUIRE(schema.field("visit", "weight") != nullptr);
  CHECK(schema.field("visit", "weight")->required);
  CHECK(schema.field("visit", "weight")->value_type == ValueType::kInt);
  CHECK(schema.field("visit", "given") == nullptr);
  CHECK(schema.field("nope", "title") == nullptr);
  CHECK(schema.collection("consent")->immutable);

  // Adding a collection again replaces it: "title" becomes an int field.
  CollectionSpec visit;
  visit.name = "visit";
  visit.add({"title", FieldKind::kLww, ValueType::kInt}).add({"title", FieldKind::kMv});
  schema.add(visit);
  REQUIRE(schema.collection("visit") != nullptr);
  CHECK(schema.collection("visit")->fields.size() == 1);
  CHECK(schema.field("visit", "title")->kind == FieldKind::kMv);  // the later add wins
  CHECK(schema.check(op_on("visit", OpKind::kMvWrite, "title", integer(5))).is_ok());
  check_refused(schema, op_on("visit", OpKind::kLwwWrite, "weight", integer(1)), {"'weight'"});
}

TEST_CASE("Schema: a flagged lww field is stored as an mv register", "[crdt][schema]") {
  FieldSpec flagged{"address", FieldKind::kLww, ValueType::kText};
  flagged.flag_conflicts = true;
  CHECK(flagged.storage_kind() == FieldKind::kMv);
  CHECK(FieldSpec{"plain", FieldKind::kLww}.storage_kind() == FieldKind::kLww);
  FieldSpec set{"members", FieldKind::kSet};
  set.flag_conflicts = true;  // meaningless outside lww: the storage stays a set
  CHECK(set.storage_kind() == FieldKind::kSet);

  CollectionSpec household;
  household.name = "household";
  household.add(flagged);
  Schema schema;
  schema.add(household);
  CHECK(schema.check(op_on("household", OpKind::kMvWrite, "address", text("Chilonzor 5"))).is_ok());
  check_refused(schema, op_on("household", OpKind::kLwwWrite, "address", text("Chilonzor 5")),
                {"'address'", "'household'"});
  check_refused(schema, op_on("household", OpKind::kMvWrite, "address", integer(5)),
                {"'address'", "text"});
}

// ---------------------------------------------------------------------------------------------
// Schema::parse

const char kSchemaText[] = R"(# a comment line
schema 7

collection household   # trailing comment
  field address lww text flagged required
  field members set text flag-removals
  field visits counter int
  field notes log any
collection consent immutable
  field given lww bool indexed
  field pinfl lww text alert-duplicates
  field status mv text
)";

TEST_CASE("Schema: parse reads the text form", "[crdt][schema][parse]") {
  const Result<Schema> parsed = Schema::parse(kSchemaText);
  INFO(parsed.status().to_string());
  REQUIRE(parsed.is_ok());
  const Schema& schema = *parsed;
  CHECK(schema.version() == 7);
  CHECK(schema.collections().size() == 2);
  REQUIRE(schema.collection("household") != nullptr);
  CHECK_FALSE(schema.collection("household")->immutable);
  CHECK(schema.collection("household")->fields.size() == 4);
  REQUIRE(schema.collection("consent") != nullptr);
  CHECK(schema.collection("consent")->immutable);

  const FieldSpec* address = schema.field("household", "address");
  REQUIRE(address != nullptr);
  CHECK(address->kind == FieldKind::kLww);
  CHECK(address->value_type == ValueType::kText);
  CHECK(address->flag_conflicts);
  CHECK(address->required);
  CHECK_FALSE(address->indexed);
  CHECK(address->storage_kind() == FieldKind::kMv);

  const FieldSpec* members = schema.field("household", "members");
  REQUIRE(members != nullptr);
  CHECK(members->kind == FieldKind::kSet);
  CHECK(members->flag_removals);
  CHECK_FALSE(members->flag_conflicts);
  CHECK(schema.field("household", "visits")->kind == FieldKind::kCounter);
  CHECK(schema.field("household", "notes")->value_type == ValueType::kAny);

  const FieldSpec* given = schema.field("consent", "given");
  REQUIRE(given != nullptr);
  CHECK(given->indexed);
  CHECK(given->value_type == ValueType::kBool);
  CHECK_FALSE(given->flag_conflicts);
  const FieldSpec* pinfl = schema.field("consent", "pinfl");
  REQUIRE(pinfl != nullptr);
  CHECK(pinfl->alert_duplicates);
  CHECK(pinfl->indexed);  // duplicates are found through the index
  CHECK(schema.field("consent", "status")->kind == FieldKind::kMv);

  // The parsed schema checks ops like a built one.
  CHECK(schema.check(op_on("household", OpKind::kMvWrite, "address", text("x"))).is_ok());
  check_refused(schema, op_on("household", OpKind::kSetAdd, "members", integer(1)), {"'members'"});
  check_refused(schema, op_on("consent", OpKind::kRecordDelete, ""), {"immutable"});
}

TEST_CASE("Schema: parse errors name the line", "[crdt][schema][parse]") {
  struct Bad {
    std::string text;
    std::string says;
  };
  const std::vector<Bad> cases = {
      {"", "missing 'schema VERSION'"},
      {"# only a comment\n", "missing 'schema VERSION'"},
      {"collection a\n", "missing 'schema VERSION'"},
      {"schema 1\nschema 2\n", "line 2"},
      {"schema\n", "line 1"},
      {"schema 0\n", "line 1: version must be a positive integer"},
      {"schema -3\n", "line 1: version must be a positive integer"},
      {"schema x\n", "line 1: version must be a positive integer"},
      {"schema 1\ncollection\n", "line 2: expected 'collection NAME [immutable]'"},
      {"schema 1\ncollection a mutable\n", "line 2"},
      {"schema 1\ncollection a immutable extra\n", "line 2"},
      {"schema 1\ncollection a\ncollection a\n", "line 3: collection 'a' defined twice"},
      {"schema 1\nfield x lww text\n", "line 2: field outside a collection"},
      {"schema 1\ncollection a\n  field x lww\n", "line 3: expected 'field NAME KIND TYPE'"},
      {"schema 1\ncollection a\n  field x register text\n",
       "line 3: unknown field kind 'register'"},
      {"schema 1\ncollection a\n  field x lww string\n", "line 3: unknown value type 'string'"},
      {"schema 1\ncollection a\n  field x lww text unique\n", "line 3: flag 'unique'"},
      {"schema 1\ncollection a\n  field x mv text flagged\n", "line 3: flag 'flagged'"},
      {"schema 1\ncollection a\n  field x lww text flag-removals\n", "flag 'flag-removals'"},
      {"schema 1\ncollection a\n  field x set text alert-duplicates\n", "flag 'alert-duplicates'"},
      {"schema 1\ncollection a\n  field x lww text\n\n  field x mv text\n",
       "line 5: field 'x' defined twice"},
      {"schema 1\ntable a\n", "line 2: unknown keyword 'table'"},
      {"schema 1\ncollection _revocation\n",
       "line 2: collection names starting with '_' are reserved"},
  };
  for (const Bad& c : cases) {
    INFO("schema text:\n" << c.text);
    const Result<Schema> parsed = Schema::parse(c.text);
    REQUIRE_FALSE(parsed.is_ok());
    CHECK(parsed.status().code() == Code::kInvalidArgument);
    CHECK_THAT(parsed.status().message(), Catch::Contains(c.says));
  }
}

// "schema <version>": a positive integer. Text after the digits or a value beyond 32 bits is not
// a version.
TEST_CASE("Schema: parse refuses a version that is not a whole 32-bit number",
          "[crdt][schema][parse]") {
  for (const std::string v : {"1x", "2.5", "4294967296", "99999999999"}) {
    INFO("schema " << v);
    const Result<Schema> parsed = Schema::parse("schema " + v + "\n");
    CHECK_FALSE(parsed.is_ok());
  }
  const Result<Schema> max = Schema::parse("schema 4294967295\n");
  REQUIRE(max.is_ok());
  CHECK(max->version() == 4294967295u);
}

TEST_CASE("Value: types, names and display", "[crdt][schema]") {
  CHECK(type_of(Value()) == ValueType::kNull);
  CHECK(type_of(Value(false)) == ValueType::kBool);
  CHECK(type_of(integer(-3)) == ValueType::kInt);
  CHECK(type_of(text("")) == ValueType::kText);
  for (ValueType t :
       {ValueType::kNull, ValueType::kBool, ValueType::kInt, ValueType::kText, ValueType::kAny}) {
    ValueType parsed = ValueType::kBool;
    CHECK(parse_type_name(type_name(t), &parsed));
    CHECK(parsed == t);
  }
  CHECK(std::string(type_name(ValueType::kText)) == "text");
  ValueType untouched = ValueType::kInt;
  CHECK_FALSE(parse_type_name("string", &untouched));
  CHECK(untouched == ValueType::kInt);

  CHECK(to_display(Value()) == "null");
  CHECK(to_display(Value(true)) == "true");
  CHECK(to_display(Value(false)) == "false");
  CHECK(to_display(integer(-42)) == "-42");
  CHECK(to_display(text("Самарканд")) == "Самарканд");

  // Values order by type, then content: the tiebreak order LWW relies on.
  CHECK(Value() < Value(false));
  CHECK(Value(true) < integer(INT64_MIN));
  CHECK(integer(INT64_MAX) < text(""));
  CHECK(text("a") < text("b"));
}

TEST_CASE("Status: codes, kinds and messages", "[crdt][status]") {
  CHECK(Status().is_ok());
  CHECK(Status::ok().to_string() == "ok");
  CHECK(Status::ok().kind() == Kind::kOk);
  const Status bad = Status::invalid_argument("field 'x' of 'visit' is mv");
  CHECK_FALSE(bad.is_ok());
  CHECK(bad.to_string() == "invalid_argument: field 'x' of 'visit' is mv");
  CHECK(bad.with_context("ingest").message() == "ingest: field 'x' of 'visit' is mv");
  CHECK(bad.with_context("ingest").code() == Code::kInvalidArgument);
  CHECK(Status::ok().with_context("ingest").is_ok());

  CHECK(Status::unavailable("").kind() == Kind::kTransient);
  CHECK(Status::resource_exhausted("").kind() == Kind::kTransient);
  CHECK(Status::data_loss("").kind() == Kind::kDataLoss);
  CHECK(Status::corrupt_input("").kind() == Kind::kPermanent);
  CHECK(Status::permission_denied("").kind() == Kind::kPermanent);
  CHECK(Status::not_found("").kind() == Kind::kPermanent);
  CHECK(Status::already_exists("").kind() == Kind::kPermanent);
  CHECK(Status::internal("").kind() == Kind::kPermanent);
  CHECK(std::string(code_name(Code::kCorruptInput)) == "corrupt_input");
  CHECK(std::string(code_name(Code::kResourceExhausted)) == "resource_exhausted");

  const Result<int> value(7);
  CHECK(value.is_ok());
  CHECK(*value == 7);
  CHECK(value.status().is_ok());
  const Result<int> error(Status::not_found("record"));
  CHECK_FALSE(error.is_ok());
  CHECK(error.status().code() == Code::kNotFound);

  auto early = [](bool fail) -> Status {
    BIRGA_RETURN_IF_ERROR(fail ? Status::internal("stop") : Status::ok());
    return Status::already_exists("reached the end");
  };
  CHECK(early(true).code() == Code::kInternal);
  CHECK(early(false).code() == Code::kAlreadyExists);
}

}  // namespace
}  // namespace birga::crdt
