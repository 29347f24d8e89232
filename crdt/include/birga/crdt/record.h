// Record: a map from field name to a typed CRDT field, plus deletion.
//
// Fields are keyed by (name, kind). The schema says which kind a field has, but an op carries
// its own kind, and keying by both keeps replicas convergent even when they disagree about a
// schema (an older replica meeting a newer field keeps it and passes it on).
//
// Delete rule ("observed delete, edits survive"): a delete names every field-op dot its
// author had seen on the record. The record reads as deleted when a delete is live and every
// field op ever applied is covered by a live delete. An edit the delete did not observe
// (concurrent with it) is never hidden: the record stays visible and has_delete_conflict() is
// true until a person deletes again (a new delete that observes the edit) or restores (an op
// that removes the delete). Deletes and restores are themselves observed-remove entries, so
// the outcome does not depend on the order in which replicas see them.
//
// Every applied op's dot is remembered: applying an op twice changes nothing.
//
// Thread rule: plain value.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "birga/crdt/append_log.h"
#include "birga/crdt/aw_set.h"
#include "birga/crdt/counter.h"
#include "birga/crdt/dot_store.h"
#include "birga/crdt/lww_register.h"
#include "birga/crdt/mv_register.h"
#include "birga/crdt/op.h"
#include "birga/status.h"

namespace birga::crdt {

using Field = std::variant<LwwRegister, MvRegister, AwSet, Counter, AppendLog>;
FieldKind kind_of(const Field& f);

struct FieldKey {
  std::string name;
  FieldKind kind;
  friend auto operator<=>(const FieldKey&, const FieldKey&) = default;
};

class Record {
 public:
  // Applies an op addressed to this record (collection and record id are the caller's
  // business). REQUIRES: op.check_shape() is ok; otherwise that error is returned and nothing
  // changes. A duplicate op is a no-op.
  Status apply(const Op& op);
  // The same, taking the op's value over (for a caller done with the op).
  Status apply(Op&& op);
  // State merge: the result is as if every op applied to either had been applied to both.
  void merge(const Record& other);

  // The field `name` of kind `kind`, or nullptr when it was never written.
  const Field* find(const std::string& name, FieldKind kind) const;
  template <typename T>
  const T* get(const std::string& name) const {
    const Field* f = find(name, kind_for<T>());
    return f ? &std::get<T>(*f) : nullptr;
  }
  // The fields in (name, kind) order.
  using Fields = std::vector<std::pair<FieldKey, Field>>;
  const Fields& fields() const { return fields_; }

  bool is_deleted() const;
  bool has_delete_conflict() const;
  // Some mv field holds concurrent values, or a delete conflicts with an edit.
  bool is_conflicted() const;
  // The dots of every field op applied: what a delete written here observes.
  DotSet field_dots() const { return field_dots_.to_set(); }
  // The live deletes: what a restore written here observes.
  DotSet delete_dots() const { return deletes_.live_dots(); }
  bool has_applied(const Dot& dot) const;

  void encode(ByteWriter& w) const;
  static Record decode(ByteReader& r);
  friend bool operator==(const Record&, const Record&) = default;

 private:
  template <typename T>
  static constexpr FieldKind kind_for() {
    if constexpr (std::is_same_v<T, LwwRegister>) return FieldKind::kLww;
    if constexpr (std::is_same_v<T, MvRegister>) return FieldKind::kMv;
    if constexpr (std::is_same_v<T, AwSet>) return FieldKind::kSet;
    if constexpr (std::is_same_v<T, Counter>) return FieldKind::kCounter;
    return FieldKind::kLog;
  }
  template <typename O>  // const Op& or Op&&
  Status apply_op(O&& op);
  Field& field_for(const std::string& name, FieldKind kind);
  void decode_body(ByteReader& r);

  // Sorted by key, unique: a record has a handful of fields, so one flat array (one
  // allocation, not a tree node per field) is both smaller and faster than a map.
  Fields fields_;
  Fields::iterator lower(const FieldKey& key);
  Fields::const_iterator lower(const FieldKey& key) const;
  DotStore<DotSet> deletes_;  // live deletes, each with the field dots it covered
  DotRanges field_dots_;      // every field op applied
  DotRanges record_op_dots_;  // every delete and restore applied
};

}  // namespace birga::crdt
