// Guardianship cases (open, assign-guardian, set-status, note) and `resolve`, which settles a
// conflict on any record. Status and guardian are mv registers: a write replaces the values
// this device has seen, so two devices writing concurrently leave both values side by side
// until a person resolves them.
#include "command.h"
#include "context.h"
#include "records.h"
#include "validate.h"
#include "write_fields.h"

namespace birga::cli {

namespace {

using Type = FlagSpec::Type;
const std::string kCase = "guardianship_case";

Status run_case_open(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({}));
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  auto scope = write_scope(**replica, args);
  if (!scope.is_ok()) return scope.status();
  Transaction txn = (*replica)->begin();
  const crdt::RecordId id = txn.create(kCase, *scope);
  std::vector<FieldFlag> flags = {{"child", "child", Rule::kPerson, true},
                                  {"type", "case_type", Rule::kCaseType, true},
                                  {"status", "status", Rule::kCaseStatus},
                                  {"owner", "owner", Rule::kText},
                                  {"manager", "case_manager", Rule::kText}};
  BIRGA_RETURN_IF_ERROR(apply_flags(txn, **replica, kCase, id, args, flags));
  if (!args.has("status")) txn.set(kCase, id, "status", crdt::text("identification"));
  BIRGA_RETURN_IF_ERROR(txn.commit());
  return print_written(args, **replica, kCase, id);
}

// Opens the replica and the case named by the first positional word, checks the rest, and
// commits what `queue` adds to one transaction.
template <typename Queue>
Status update_case(const Args& args, const std::vector<std::string_view>& positional, Queue queue) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional(positional));
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  auto record = writable_record(**replica, kCase, args.positional()[0], args);
  if (!record.is_ok()) return record.status();
  Transaction txn = (*replica)->begin();
  BIRGA_RETURN_IF_ERROR(queue(txn, **replica, *record));
  BIRGA_RETURN_IF_ERROR(txn.commit());
  return print_written(args, **replica, kCase, record->id);
}

// "Name (relation; decision REF)", leaving out what was not given.
std::string guardian_text(const std::string& name, const std::optional<std::string>& relation,
                          const std::optional<std::string>& decision) {
  std::string extra;
  if (relation) extra = *relation;
  if (decision) extra += (extra.empty() ? "" : "; ") + ("decision " + *decision);
  return extra.empty() ? name : name + " (" + extra + ")";
}

Status run_case_assign_guardian(const Args& args) {
  return update_case(args, {"ID"}, [&](Transaction& txn, Replica&, const RecordView& c) {
    auto guardian = args.require("guardian", "TEXT (the guardian's name)");
    if (!guardian.is_ok()) return guardian.status();
    BIRGA_RETURN_IF_ERROR(check_text(*guardian, "--guardian"));
    const auto relation = args.get("relation"), decision = args.get("decision");
    if (relation) BIRGA_RETURN_IF_ERROR(check_text(*relation, "--relation"));
    if (decision) BIRGA_RETURN_IF_ERROR(check_text(*decision, "--decision"));
    txn.set(kCase, c.id, "guardian", crdt::text(guardian_text(*guardian, relation, decision)));
    return txn.status();
  });
}

Status run_case_set_status(const Args& args) {
  return update_case(args, {"ID", "STATUS"}, [&](Transaction& txn, Replica&, const RecordView& c) {
    const std::string& status = args.positional()[1];
    BIRGA_RETURN_IF_ERROR(check_one_of(status, kCaseStatuses, "STATUS"));
    txn.set(kCase, c.id, "status", crdt::text(status));
    return txn.status();
  });
}

Status run_case_note(const Args& args) {
  return append_text_arg(args, kCase, "notes");
}

Status run_case_decision(const Args& args) {
  return append_text_arg(args, kCase, "decisions");
}

Status run_case_consent(const Args& args) {
  return append_text_arg(args, kCase, "consent");
}

// The field of `record` that resolve may write: one holding concurrent values.
Status check_resolvable(const crdt::Schema& schema, const RecordView& record,
                        const std::string& field) {
  const crdt::FieldSpec* spec = schema.field(record.collection, field);
  if (!spec) {
    return Status::invalid_argument(record.collection + " has no field '" + field + "'");
  }
  if (spec->storage_kind() != crdt::FieldKind::kMv) {
    return Status::invalid_argument("field '" + field + "' of " + record.collection +
                                    " keeps no concurrent values, so it cannot be in conflict");
  }
  if (record.values(field).size() < 2) {
    return Status::invalid_argument("field '" + field + "' of " + record.collection + " " +
                                    record.id.to_hex() + " is not in conflict; nothing to " +
                                    "resolve (see `birga conflicts`)");
  }
  return Status::ok();
}

// A resolution's reason is its audit trail, so resolve writes nothing it cannot record: a
// replica created with version 1 of the mahalla schema (or a schema of its own) may have no
// `resolutions` log for this kind.
Status check_resolutions_log(const crdt::Schema& schema, const std::string& collection,
                             const std::string& dir) {
  const crdt::FieldSpec* log = schema.field(collection, "resolutions");
  if (log && log->kind == crdt::FieldKind::kLog) return Status::ok();
  return Status::invalid_argument(
      collection + " has no `resolutions` log in this replica's schema (" + dir +
      "/schema, version " + std::to_string(schema.version()) +
      "), so the reason could not be kept; nothing was written. Add `field resolutions log " +
      "text` to collection " + collection + " there (the built-in mahalla schema has it from " +
      "version 2) and raise its version");
}

Status run_resolve(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({"ID", "FIELD", "VALUE"}));
  auto reason = args.require("reason", "TEXT (why this value)");
  if (!reason.is_ok()) return reason.status();
  BIRGA_RETURN_IF_ERROR(check_text(*reason, "--reason"));
  auto id = parse_id(args.positional()[0], "ID");
  if (!id.is_ok()) return id.status();
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  auto found = find_any(**replica, *id);
  if (!found.is_ok()) return found.status();
  if (!*found) return Status::not_found("no record " + id->to_hex() + " on this device");
  auto record = writable_record(**replica, (*found)->collection, id->to_hex(), args);
  if (!record.is_ok()) return record.status();
  const std::string& field = args.positional()[1];
  const std::string& text = args.positional()[2];
  const crdt::Schema& schema = (*replica)->schema();
  BIRGA_RETURN_IF_ERROR(check_resolutions_log(schema, record->collection, (*replica)->dir()));
  BIRGA_RETURN_IF_ERROR(check_resolvable(schema, *record, field));
  auto value = parse_field_value(schema, record->collection, field, text);
  if (!value.is_ok()) return value.status();
  if (crdt::type_of(*value) == crdt::ValueType::kText) {
    BIRGA_RETURN_IF_ERROR(check_text(text, "VALUE"));
  }
  Transaction txn = (*replica)->begin();
  txn.set(record->collection, record->id, field, *value);
  txn.append(record->collection, record->id, "resolutions",
             crdt::text(signed_text(field + "=" + text + ": " + *reason, **replica)));
  BIRGA_RETURN_IF_ERROR(txn.commit());
  return print_written(args, **replica, record->collection, record->id);
}

}  // namespace

std::vector<Command> case_commands() {
  return {
      {"case open",
       "--child PERSON_ID --type TYPE [--status STATUS] [--owner TEXT] [--manager TEXT] "
       "[--scope PATH]",
       "open a guardianship case for a child; prints its id",
       "TYPE: guardianship, sponsorship, foster-care, care-leaver. STATUS: identification "
       "(default), assessment, placement, monitoring, closed.",
       {kDirFlag,
        kScopeFlag,
        {"child", Type::kValue, "PERSON_ID  the child (required)"},
        {"type", Type::kValue, "TYPE   the case type (required)"},
        {"status", Type::kValue, "STATUS  the first status (default identification)"},
        {"owner", Type::kValue, "TEXT   the owning Inson centre"},
        {"manager", Type::kValue, "TEXT   the case manager"},
        kJsonFlag},
       run_case_open},
      {"case assign-guardian",
       "ID --guardian TEXT [--relation TEXT] [--decision REF]",
       "assign the child's guardian",
       "Stored as one value \"TEXT (relation; decision REF)\". A concurrent assignment on "
       "another device is kept beside this one and shows as a conflict.",
       {kDirFlag,
        kScopeFlag,
        {"guardian", Type::kValue, "TEXT   the guardian (required)"},
        {"relation", Type::kValue, "TEXT   the guardian's relation to the child"},
        {"decision", Type::kValue, "REF    the legal decision's reference"},
        kJsonFlag},
       run_case_assign_guardian},
      {"case set-status",
       "ID STATUS",
       "move a case to a status",
       "STATUS: identification, assessment, placement, monitoring, closed.",
       {kDirFlag, kScopeFlag, kJsonFlag},
       run_case_set_status},
      {"case note",
       "ID TEXT",
       "append a note to a case",
       "",
       {kDirFlag, kScopeFlag, kJsonFlag},
       run_case_note},
      {"case decision",
       "ID TEXT",
       "record a legal decision on a case (its reference and what it decides)",
       "Decisions are append-only: a later decision is a new entry, never an edit.",
       {kDirFlag, kScopeFlag, kJsonFlag},
       run_case_decision},
      {"case consent",
       "ID TEXT",
       "record the child's consent (asked from age 10), as given",
       "Consent entries are append-only: a withdrawn consent is a new entry.",
       {kDirFlag, kScopeFlag, kJsonFlag},
       run_case_consent},
      {"resolve",
       "ID FIELD VALUE --reason TEXT",
       "settle a conflict: write VALUE over every concurrent value of FIELD",
       "Refused when FIELD is not in conflict. The resolution, with its reason and who made "
       "it, is appended to the record's `resolutions` log (shown by `birga show`); it travels "
       "to every replica like any change. Refused when the record's kind has no "
       "`resolutions` log in DIR/schema (a replica created with version 1 of the mahalla "
       "schema: its households and persons).",
       {kDirFlag, kScopeFlag, {"reason", Type::kValue, "TEXT   why this value"}, kJsonFlag},
       run_resolve},
  };
}

}  // namespace birga::cli
