// Schema: per collection, the fields a record may have, each with its CRDT kind and value type.
//
// The schema is checked when a replica writes locally: an op of the wrong kind for its field,
// a value of the wrong type, an unknown collection or field is refused with an error naming
// the field. Ops that arrive from other replicas are not refused for a field this schema does
// not know (a newer schema may have added it): Record keeps such fields and passes them on.
//
// Thread rule: immutable once built; share freely between threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "birga/crdt/op.h"
#include "birga/crdt/value.h"
#include "birga/status.h"

namespace birga::crdt {

struct FieldSpec {
  std::string name;
  FieldKind kind = FieldKind::kLww;
  ValueType value_type = ValueType::kAny;  // of the value, element or log payload
  bool indexed = false;                    // the store keeps an index on this field's value
  bool flag_conflicts = false;    // lww: concurrent writes are kept and surfaced for review
  bool required = false;          // must be set when the record is created
  bool flag_removals = false;     // set: removing an element raises an alert for review
  bool alert_duplicates = false;  // lww: two live records sharing a value raise an alert

  // The CRDT that stores the field: an lww field whose conflicts are flagged is kept as a
  // multi-value register (every concurrent value survives) and read as its latest value.
  FieldKind storage_kind() const {
    return kind == FieldKind::kLww && flag_conflicts ? FieldKind::kMv : kind;
  }
};

struct CollectionSpec {
  std::string name;
  std::map<std::string, FieldSpec, std::less<>> fields;
  bool immutable = false;  // records are facts: no update or delete after creation

  // Adds a field; returns *this so specs read as one expression.
  CollectionSpec& add(FieldSpec f);
};

class Schema {
 public:
  explicit Schema(uint32_t version = 1) : version_(version) {}

  // Parses the text form (docs/data-model.md):
  //   schema <version>
  //   collection <name> [immutable]
  //     field <name> <lww|mv|set|counter|log> <text|int|bool|any> [indexed] [required]
  //           [flagged] [flag-removals] [alert-duplicates]
  // '#' starts a comment. Errors name the line.
  static Result<Schema> parse(std::string_view text);

  uint32_t version() const { return version_; }
  // Adds or replaces a collection.
  void add(CollectionSpec c);

  const CollectionSpec* collection(std::string_view name) const;
  const FieldSpec* field(std::string_view collection, std::string_view field) const;
  const std::map<std::string, CollectionSpec, std::less<>>& collections() const {
    return collections_;
  }

  // Checks an op written locally against the schema; the error names collection and field.
  Status check(const Op& op) const;
  // The same, given the op's collection spec (collection(op.collection), not null).
  static Status check(const Op& op, const CollectionSpec& spec);
  // The same, given also the spec of op.field in it (null when it has none), as the caller
  // already looked it up.
  static Status check(const Op& op, const CollectionSpec& spec, const FieldSpec* field);

 private:
  uint32_t version_;
  std::map<std::string, CollectionSpec, std::less<>> collections_;
};

}  // namespace birga::crdt
