#include "records.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <type_traits>

#include "validate.h"

namespace birga::cli {

namespace {

using crdt::FieldKind;

std::string display_list(const std::vector<crdt::Value>& values, std::string_view sep) {
  std::string out;
  for (const crdt::Value& v : values)
    out += (out.empty() ? "" : std::string(sep)) + crdt::to_display(v);
  return out;
}

std::vector<crdt::Value> set_elements(const RecordView& r, const std::string& name) {
  const auto* set = r.state.get<crdt::AwSet>(name);
  return set ? set->elements() : std::vector<crdt::Value>{};
}

std::vector<crdt::LogAppend> log_entries(const RecordView& r, const std::string& name) {
  const auto* log = r.state.get<crdt::AppendLog>(name);
  return log ? log->entries() : std::vector<crdt::LogAppend>{};
}

int64_t counter_value(const RecordView& r, const std::string& name) {
  const auto* c = r.state.get<crdt::Counter>(name);
  return c ? c->value() : 0;
}

void write_field_json(JsonWriter& w, const RecordView& r, const std::string& name, FieldKind kind) {
  w.key(name);
  switch (kind) {
    case FieldKind::kLww:
      if (auto v = r.value(name)) {
        w.value(*v);
      } else {
        w.null();
      }
      return;
    case FieldKind::kMv:
    case FieldKind::kSet:
      w.begin_array();
      for (const crdt::Value& v : kind == FieldKind::kMv ? r.values(name) : set_elements(r, name)) {
        w.value(v);
      }
      w.end_array();
      return;
    case FieldKind::kCounter:
      w.value(counter_value(r, name));
      return;
    case FieldKind::kLog:
      w.begin_array();
      for (const crdt::LogAppend& e : log_entries(r, name)) {
        w.begin_object().key("time").value(iso_time(e.time.wall_ms()));
        w.key("text").value(crdt::to_display(e.payload)).end_object();
      }
      w.end_array();
      return;
  }
}

// Fields present in the record that the schema does not name (written under a newer schema).
std::vector<std::pair<std::string, FieldKind>> unknown_fields(const RecordView& r,
                                                              const crdt::Schema& schema) {
  std::vector<std::pair<std::string, FieldKind>> out;
  for (const auto& [key, field] : r.state.fields()) {
    if (!schema.field(r.collection, key.name)) out.emplace_back(key.name, key.kind);
  }
  return out;
}

// The text of one field for `show`; conflicts spelled out.
std::string field_line(const RecordView& r, const std::string& name, FieldKind kind) {
  const std::vector<crdt::Value> values = r.values(name);
  if ((kind == FieldKind::kLww || kind == FieldKind::kMv) && values.size() > 1) {
    std::string line = name + ": CONFLICT, " + std::to_string(values.size()) + " values:";
    for (const crdt::Value& v : values) line += "\n      - " + crdt::to_display(v);
    return line + "\n      (resolve: birga resolve " + r.id.to_hex() + " " + name +
           " VALUE --reason TEXT)";
  }
  if (kind == FieldKind::kLog) {
    std::string line = name + ":";
    for (const crdt::LogAppend& e : log_entries(r, name)) {
      line += "\n      " + iso_time(e.time.wall_ms()) + "  " + crdt::to_display(e.payload);
    }
    return line;
  }
  if (kind == FieldKind::kSet)
    return name + ": [" + display_list(set_elements(r, name), ", ") + "]";
  if (kind == FieldKind::kCounter) return name + ": " + std::to_string(counter_value(r, name));
  return name + ": " + (values.empty() ? "-" : crdt::to_display(values[0]));
}

}  // namespace

Result<std::vector<RecordView>> holders_of(const Replica& replica, const std::string& collection,
                                           const std::string& field, const crdt::Value& value,
                                           const crdt::RecordId& except) {
  const crdt::FieldSpec* spec = replica.schema().field(collection, field);
  auto found =
      spec && spec->indexed ? replica.find(collection, field, value) : replica.list(collection);
  if (!found.is_ok()) return found;
  std::vector<RecordView> out;
  for (RecordView& r : *found) {
    if (r.deleted() || r.id == except || r.value(field) != value) continue;
    out.push_back(std::move(r));
  }
  return out;
}

std::string iso_time(uint64_t wall_ms) {
  const std::string seconds = utc_text(wall_ms, "%Y-%m-%dT%H:%M:%S");
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03uZ", static_cast<unsigned>(wall_ms % 1000));
  return seconds + ms;
}

Result<RecordView> find_record(const Replica& replica, std::string_view collection,
                               const crdt::RecordId& id) {
  auto got = replica.get(std::string(collection), id);
  if (!got.is_ok()) return got.status();
  if (*got) return std::move(**got);
  auto other = find_any(replica, id);
  if (other.is_ok() && *other) {
    return Status::invalid_argument("record " + id.to_hex() + " is a " + (*other)->collection +
                                    ", not a " + std::string(collection));
  }
  return Status::not_found("no " + std::string(collection) + " " + id.to_hex() +
                           " on this device (check the id with `birga list " +
                           std::string(collection) + "`)");
}

Result<std::optional<RecordView>> find_any(const Replica& replica, const crdt::RecordId& id) {
  for (const auto& [name, spec] : replica.schema().collections()) {
    auto got = replica.get(name, id);
    if (!got.is_ok()) return got.status();
    if (*got) return got;
  }
  return std::optional<RecordView>();
}

std::vector<std::string> conflicted_fields(const RecordView& record) {
  std::vector<std::string> out;
  for (const auto& [key, field] : record.state.fields()) {
    const auto* mv = std::get_if<crdt::MvRegister>(&field);
    if (mv && mv->is_conflicted()) out.push_back(key.name);
  }
  return out;
}

void write_record_json(JsonWriter& w, const RecordView& record, const crdt::Schema& schema) {
  w.begin_object();
  w.key("id").value(record.id.to_hex());
  w.key("kind").value(record.collection);
  w.key("scope").value(record.scope);
  w.key("conflict").value(record.in_conflict());
  if (record.deleted()) w.key("deleted").value(true);
  if (const crdt::CollectionSpec* spec = schema.collection(record.collection)) {
    for (const auto& [name, field] : spec->fields) write_field_json(w, record, name, field.kind);
  }
  for (const auto& [name, kind] : unknown_fields(record, schema)) {
    write_field_json(w, record, name, kind);
  }
  const std::vector<std::string> conflicts = conflicted_fields(record);
  if (!conflicts.empty()) {
    w.key("conflicts").begin_object();
    for (const std::string& name : conflicts) {
      w.key(name).begin_array();
      for (const crdt::Value& v : record.values(name)) w.value(v);
      w.end_array();
    }
    w.end_object();
  }
  w.end_object();
}

std::vector<std::string> record_lines(const RecordView& record, const crdt::Schema& schema) {
  std::vector<std::string> lines;
  lines.push_back(record.collection + " " + record.id.to_hex());
  lines.push_back("  scope: " + record.scope);
  if (record.deleted()) lines.push_back("  DELETED");
  if (record.state.has_delete_conflict()) {
    lines.push_back("  CONFLICT: deleted on one device while edited on another");
  }
  if (const crdt::CollectionSpec* spec = schema.collection(record.collection)) {
    for (const auto& [name, field] : spec->fields) {
      lines.push_back("  " + field_line(record, name, field.kind));
    }
  }
  for (const auto& [name, kind] : unknown_fields(record, schema)) {
    lines.push_back("  " + field_line(record, name, kind) + "  (not in this schema)");
  }
  return lines;
}

namespace {

// The fields `list` shows first for each collection of the mahalla schema: what tells one
// record from another at a glance (an aid delivery's value, and whether it reverses another).
const std::map<std::string, std::vector<std::string>, std::less<>>& summary_fields() {
  static const std::map<std::string, std::vector<std::string>, std::less<>> fields{
      {"household", {"address", "head", "phone", "register_category"}},
      {"person", {"name_latin", "birth_date", "sex", "pinfl"}},
      {"visit", {"date", "visit_type", "household", "needs"}},
      {"aid_delivery", {"delivered_at", "value_soums", "household", "entitlement", "reverses"}},
      {"guardianship_case", {"child", "case_type", "status", "guardian"}},
  };
  return fields;
}

}  // namespace

std::string record_summary(const RecordView& record, const crdt::Schema& schema) {
  constexpr size_t kShown = 5;
  std::string line = record.id.to_hex() + "  " + record.scope;
  const crdt::CollectionSpec* spec = schema.collection(record.collection);
  if (spec) {
    // The collection's summary fields, else (another schema) its required fields and then the
    // rest, each in name order; log fields (histories) are left to `show`.
    std::vector<const crdt::FieldSpec*> order;
    auto known = summary_fields().find(record.collection);
    if (known != summary_fields().end()) {
      for (const std::string& name : known->second) {
        if (auto f = spec->fields.find(name); f != spec->fields.end()) order.push_back(&f->second);
      }
    } else {
      for (bool required : {true, false}) {
        for (const auto& [name, field] : spec->fields) {
          if (field.required == required) order.push_back(&field);
        }
      }
    }
    size_t shown = 0;
    for (const crdt::FieldSpec* field : order) {
      if (shown == kShown || field->kind == FieldKind::kLog) continue;
      const std::string text = field_text(record, *field);
      if (text.empty()) continue;
      line += "  " + field->name + "=" + text;
      ++shown;
    }
  }
  if (record.in_conflict()) line += "  [CONFLICT]";
  return line;
}

std::string field_text(const RecordView& record, const crdt::FieldSpec& field) {
  switch (field.kind) {
    case FieldKind::kLww: {
      const std::vector<crdt::Value> values = record.values(field.name);
      return display_list(values, " | ");
    }
    case FieldKind::kMv:
      return display_list(record.values(field.name), " | ");
    case FieldKind::kSet:
      return display_list(set_elements(record, field.name), "; ");
    case FieldKind::kCounter:
      return std::to_string(counter_value(record, field.name));
    case FieldKind::kLog: {
      std::string out;
      for (const crdt::LogAppend& e : log_entries(record, field.name)) {
        out += (out.empty() ? "" : "\n") + iso_time(e.time.wall_ms()) + " " +
               crdt::to_display(e.payload);
      }
      return out;
    }
  }
  return "";
}

}  // namespace birga::cli
