#include "birga/crdt/schema.h"

namespace birga::crdt {

CollectionSpec& CollectionSpec::add(FieldSpec f) {
  std::string key = f.name;
  fields[std::move(key)] = std::move(f);
  return *this;
}

void Schema::add(CollectionSpec c) {
  std::string key = c.name;
  collections_[std::move(key)] = std::move(c);
}

const CollectionSpec* Schema::collection(std::string_view name) const {
  auto it = collections_.find(name);
  return it == collections_.end() ? nullptr : &it->second;
}

const FieldSpec* Schema::field(std::string_view coll, std::string_view name) const {
  const CollectionSpec* c = collection(coll);
  if (!c) return nullptr;
  auto it = c->fields.find(name);
  return it == c->fields.end() ? nullptr : &it->second;
}

Status Schema::check(const Op& op) const {
  BIRGA_RETURN_IF_ERROR(op.check_shape());
  const CollectionSpec* c = collection(op.collection);
  if (!c) return Status::invalid_argument("unknown collection '" + op.collection + "'");
  const auto fk = field_kind_of(op.kind);
  if (!fk) {
    if (c->immutable && op.kind == OpKind::kRecordDelete) {
      return Status::invalid_argument("records of '" + op.collection +
                                      "' are immutable facts and cannot be deleted");
    }
    return Status::ok();
  }
  const FieldSpec* f = field(op.collection, op.field);
  const std::string where = "field '" + op.field + "' of '" + op.collection + "'";
  if (!f) return Status::invalid_argument("unknown " + where);
  if (f->kind != *fk) {
    return Status::invalid_argument(where + " is " + kind_name(f->kind) + "; a " +
                                    op_kind_name(op.kind) + " is refused");
  }
  const bool has_value = op.kind != OpKind::kCounterUpdate;
  if (has_value && f->value_type != ValueType::kAny) {
    const ValueType got = type_of(op.value);
    // A remove names its element; an mv/lww write may clear a field with null.
    const bool null_ok = op.kind == OpKind::kLwwWrite || op.kind == OpKind::kMvWrite;
    if (got != f->value_type && !(got == ValueType::kNull && null_ok && !f->required)) {
      return Status::invalid_argument(where + " holds " + type_name(f->value_type) +
                                      " values, not " + type_name(got));
    }
  }
  return Status::ok();
}

}  // namespace birga::crdt
