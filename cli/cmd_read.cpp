// Read commands: list, show, conflicts, aid total. Reads never write; with --json they print
// one JSON document (records as described in records.h).
#include <iostream>
#include <map>
#include <set>

#include "command.h"
#include "context.h"
#include "records.h"
#include "validate.h"

namespace birga::cli {

namespace {

using Type = FlagSpec::Type;

// True when `record`'s `field` holds `value` (any current value, element or log entry).
bool holds(const RecordView& record, const crdt::FieldSpec& field, const crdt::Value& value) {
  switch (field.kind) {
    case crdt::FieldKind::kSet: {
      const auto* set = record.state.get<crdt::AwSet>(field.name);
      return set && set->contains(value);
    }
    case crdt::FieldKind::kCounter: {
      const auto* c = record.state.get<crdt::Counter>(field.name);
      return crdt::Value(c ? c->value() : int64_t{0}) == value;
    }
    case crdt::FieldKind::kLog: {
      const auto* log = record.state.get<crdt::AppendLog>(field.name);
      if (!log) return false;
      for (const crdt::LogAppend& e : log->entries()) {
        if (e.payload == value) return true;
      }
      return false;
    }
    default:
      for (const crdt::Value& v : record.values(field.name)) {
        if (v == value) return true;
      }
      return false;
  }
}

// The live records of `collection`, filtered by --where FIELD=VALUE when given (an index
// lookup when the field is indexed).
Result<std::vector<RecordView>> select(const Replica& replica, const std::string& collection,
                                       const std::optional<std::string>& where) {
  Result<std::vector<RecordView>> records = std::vector<RecordView>{};
  const crdt::FieldSpec* field = nullptr;
  crdt::Value value;
  if (where) {
    const size_t eq = where->find('=');
    if (eq == std::string::npos) {
      return Status::invalid_argument("--where: '" + *where + "' is not FIELD=VALUE");
    }
    const std::string name = where->substr(0, eq);
    auto parsed = parse_field_value(replica.schema(), collection, name, where->substr(eq + 1));
    if (!parsed.is_ok()) return parsed.status().with_context("--where");
    value = *parsed;
    field = replica.schema().field(collection, name);
  }
  records = field && field->indexed ? replica.find(collection, field->name, value)
                                    : replica.list(collection);
  if (!records.is_ok()) return records;
  std::vector<RecordView> out;
  for (RecordView& r : *records) {
    if (r.deleted() || (field && !holds(r, *field, value))) continue;
    out.push_back(std::move(r));
  }
  return out;
}

void print_records(const Args& args, const Replica& replica, const std::vector<RecordView>& records,
                   const std::string& empty) {
  if (args.has("json")) {
    JsonWriter w;
    w.begin_array();
    for (const RecordView& r : records) write_record_json(w, r, replica.schema());
    w.end_array();
    print_line(w.str());
    return;
  }
  if (records.empty()) print_line(empty);
  for (const RecordView& r : records) print_line(record_summary(r, replica.schema()));
}

Status run_list(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({"KIND"}));
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  auto collection = collection_named((*replica)->schema(), args.positional()[0]);
  if (!collection.is_ok()) return collection.status();
  auto records = select(**replica, *collection, args.get("where"));
  if (!records.is_ok()) return records.status();
  print_records(args, **replica, *records, "no " + *collection + " records");
  return Status::ok();
}

Status run_show(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({"ID"}));
  auto id = parse_id(args.positional()[0], "ID");
  if (!id.is_ok()) return id.status();
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  auto record = find_any(**replica, *id);
  if (!record.is_ok()) return record.status();
  if (!*record) {
    return Status::not_found("no record " + id->to_hex() + " on this device (its scope may " +
                             "not be held here, or it has not been synced yet)");
  }
  if (args.has("json")) {
    JsonWriter w;
    write_record_json(w, **record, (*replica)->schema());
    print_line(w.str());
    return Status::ok();
  }
  for (const std::string& line : record_lines(**record, (*replica)->schema())) print_line(line);
  return Status::ok();
}

Status run_conflicts(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({}));
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  auto records = (*replica)->conflicts();
  if (!records.is_ok()) return records.status();
  if (args.has("json")) {
    print_records(args, **replica, *records, "");
    return Status::ok();
  }
  if (records->empty()) print_line("no conflicts");
  for (const RecordView& r : *records) {
    print_line(r.collection + " " + r.id.to_hex() + "  " + r.scope);
    for (const std::string& field : conflicted_fields(r)) {
      print_line("  " + field + ":");
      for (const crdt::Value& v : r.values(field)) print_line("    - " + crdt::to_display(v));
    }
    if (r.state.has_delete_conflict()) print_line("  deleted on one device, edited on another");
  }
  return Status::ok();
}

struct AidTotal {
  int64_t total = 0;
  size_t deliveries = 0;
  size_t reversals = 0;
  // Reversals of a delivery another reversal already cancels (made on two devices apart): not
  // counted, or the delivery would be taken back twice.
  size_t extra_reversals = 0;
};

Status run_aid_total(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({}));
  auto text = args.require("household", "ID");
  if (!text.is_ok()) return text.status();
  auto id = parse_id(*text, "--household");
  if (!id.is_ok()) return id.status();
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  auto household = find_record(**replica, "household", *id);
  if (!household.is_ok()) return household.status();
  auto found = (*replica)->find("aid_delivery", "household", crdt::text(id->to_hex()));
  if (!found.is_ok()) return found.status();
  AidTotal sum;
  std::set<crdt::RecordId> seen;  // a sum over unique ids: nothing is counted twice
  // The reversal counted for each reversed delivery (its id and value): the one with the
  // lowest id, so that every replica holding the same records counts the same one.
  std::map<std::string, std::pair<crdt::RecordId, int64_t>> counted_reversal;
  for (const RecordView& d : *found) {
    if (d.deleted() || !seen.insert(d.id).second) continue;
    const auto v = d.value("value_soums");
    const int64_t* soums = v ? std::get_if<int64_t>(&*v) : nullptr;
    if (!soums) continue;
    const auto reverses = d.value("reverses");
    if (!reverses) {
      sum.total += *soums;
      ++sum.deliveries;
      continue;
    }
    auto [it, first] = counted_reversal.try_emplace(crdt::to_display(*reverses), d.id, *soums);
    if (first) continue;
    ++sum.extra_reversals;
    if (d.id < it->second.first) it->second = {d.id, *soums};
  }
  for (const auto& [reversed, reversal] : counted_reversal) {
    sum.total += reversal.second;
    ++sum.reversals;
  }
  if (args.has("json")) {
    JsonWriter w;
    w.begin_object().key("household").value(id->to_hex()).key("total_soums").value(sum.total);
    w.key("deliveries").value(sum.deliveries).key("reversals").value(sum.reversals);
    w.key("reversals_not_counted").value(sum.extra_reversals).end_object();
    print_line(w.str());
  } else {
    print_line(std::to_string(sum.total));
  }
  if (sum.extra_reversals > 0) {
    std::cerr << "warning: " << sum.extra_reversals
              << " reversal(s) not counted: another reversal of the same delivery is (both were "
                 "recorded on devices apart; `birga alerts` names them)\n";
  }
  return Status::ok();
}

}  // namespace

std::vector<Command> read_commands() {
  return {
      {"list",
       "KIND [--where FIELD=VALUE]",
       "list the records of a kind",
       "KIND: household, person, visit, aid_delivery (or aid), guardianship_case (or case). "
       "--where uses the index when FIELD is indexed, else filters every record. Each line "
       "shows a record's id, scope and up to five of its fields (an aid delivery's date, value, "
       "household, entitlement and what it reverses, say); `show ID` or --json gives them all.",
       {kDirFlag,
        {"where", Type::kValue, "FIELD=VALUE  only records whose FIELD holds VALUE"},
        kJsonFlag},
       run_list},
      {"show",
       "ID",
       "print every field of a record, conflicts marked",
       "",
       {kDirFlag, kJsonFlag},
       run_show},
      {"conflicts",
       "",
       "list the records holding concurrent values to resolve",
       "Settle each with `birga resolve ID FIELD VALUE --reason TEXT`.",
       {kDirFlag, kJsonFlag},
       run_conflicts},
      {"aid total",
       "--household ID",
       "sum a household's deliveries in soums (unique ids, reversals negative)",
       "",
       {kDirFlag, {"household", Type::kValue, "ID     the household"}, kJsonFlag},
       run_aid_total},
  };
}

}  // namespace birga::cli
