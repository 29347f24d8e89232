// Records as the CLI shows them: lookups that say what is wrong ("0192... is a person, not a
// household"), and the three renderings - JSON (list/show/export --json), text (show, list)
// and CSV cells (export --format csv).
//
// JSON shape of a record: {"id", "kind", "scope", "conflict": bool, <field>: ...,
// "conflicts": {<field>: [values]} (only fields holding concurrent values), "deleted": true
// (only when deleted)}. Per field, by its schema kind: lww -> the value (the latest one for a
// flagged field in conflict) or null; mv -> array of values; set -> array of elements;
// counter -> number; log -> array of {"time": ISO-8601 UTC, "text"}. Fields another replica
// wrote that this schema does not know are included by the kind they were written with.
//
// Thread rule: pure functions over values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "birga/replica.h"
#include "json.h"

namespace birga::cli {

// The record `id` of `collection`: not_found when no record has that id here, or
// invalid_argument naming its real kind when it is a record of another collection.
Result<RecordView> find_record(const Replica& replica, std::string_view collection,
                               const crdt::RecordId& id);
// The record `id` in whichever collection holds it.
Result<std::optional<RecordView>> find_any(const Replica& replica, const crdt::RecordId& id);

// The fields holding more than one current value (mv, or flagged lww in conflict).
std::vector<std::string> conflicted_fields(const RecordView& record);

void write_record_json(JsonWriter& w, const RecordView& record, const crdt::Schema& schema);
// Every field, one per line (conflicts marked), for `show`.
std::vector<std::string> record_lines(const RecordView& record, const crdt::Schema& schema);
// One line for `list`: id, scope and up to five set fields, those that tell records apart first.
std::string record_summary(const RecordView& record, const crdt::Schema& schema);
// A field as one CSV cell's text (before escaping).
std::string field_text(const RecordView& record, const crdt::FieldSpec& field);

// The live records of `collection` other than `except` whose `field` holds `value`.
Result<std::vector<RecordView>> holders_of(const Replica& replica, const std::string& collection,
                                           const std::string& field, const crdt::Value& value,
                                           const crdt::RecordId& except);

// "2026-11-22T09:10:11.123Z"
std::string iso_time(uint64_t wall_ms);

}  // namespace birga::cli
