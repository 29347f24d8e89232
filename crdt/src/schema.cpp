#include "birga/crdt/schema.h"

#include <climits>
#include <cstdint>
#include <optional>
#include <sstream>
#include <vector>

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
  const CollectionSpec* c = collection(op.collection);
  if (!c) {
    BIRGA_RETURN_IF_ERROR(op.check_shape());
    return Status::invalid_argument("unknown collection '" + op.collection + "'");
  }
  return check(op, *c);
}

Status Schema::check(const Op& op, const CollectionSpec& spec) {
  auto it = spec.fields.find(op.field);
  return check(op, spec, it == spec.fields.end() ? nullptr : &it->second);
}

Status Schema::check(const Op& op, const CollectionSpec& spec, const FieldSpec* f) {
  BIRGA_RETURN_IF_ERROR(op.check_shape());
  const auto fk = field_kind_of(op.kind);
  if (!fk) {
    if (spec.immutable && op.kind == OpKind::kRecordDelete) {
      return Status::invalid_argument("records of '" + op.collection +
                                      "' are immutable facts and cannot be deleted");
    }
    return Status::ok();
  }
  // Named only when refusing: built on every check, it cost a few allocations per op.
  auto where = [&] { return "field '" + op.field + "' of '" + op.collection + "'"; };
  if (!f) return Status::invalid_argument("unknown " + where());
  if (f->storage_kind() != *fk) {
    return Status::invalid_argument(where() + " is " + kind_name(f->kind) + "; a " +
                                    op_kind_name(op.kind) + " is refused");
  }
  const bool has_value = op.kind != OpKind::kCounterUpdate;
  if (has_value && f->value_type != ValueType::kAny) {
    const ValueType got = type_of(op.value);
    // A remove names its element; an mv/lww write may clear a field with null.
    const bool null_ok = op.kind == OpKind::kLwwWrite || op.kind == OpKind::kMvWrite;
    if (got != f->value_type && !(got == ValueType::kNull && null_ok && !f->required)) {
      return Status::invalid_argument(where() + " holds " + type_name(f->value_type) +
                                      " values, not " + type_name(got));
    }
  }
  return Status::ok();
}

namespace {

std::vector<std::string> words_of(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line.substr(0, line.find('#')));
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

Status parse_field(const std::vector<std::string>& w, const std::string& where, FieldSpec* f) {
  if (w.size() < 4) return Status::invalid_argument(where + ": expected 'field NAME KIND TYPE'");
  if (w[1].size() > kMaxNameBytes) {
    return Status::invalid_argument(where + ": field name longer than 255 bytes");
  }
  f->name = w[1];
  if (!parse_kind_name(w[2], &f->kind)) {
    return Status::invalid_argument(where + ": unknown field kind '" + w[2] +
                                    "' (lww, mv, set, counter, log)");
  }
  if (!parse_type_name(w[3], &f->value_type)) {
    return Status::invalid_argument(where + ": unknown value type '" + w[3] +
                                    "' (text, int, bool, any)");
  }
  for (size_t i = 4; i < w.size(); ++i) {
    const std::string& flag = w[i];
    if (flag == "indexed")
      f->indexed = true;
    else if (flag == "required")
      f->required = true;
    else if (flag == "flagged" && f->kind == FieldKind::kLww)
      f->flag_conflicts = true;
    else if (flag == "flag-removals" && f->kind == FieldKind::kSet)
      f->flag_removals = true;
    else if (flag == "alert-duplicates" && f->kind == FieldKind::kLww) {
      f->alert_duplicates = true;
      f->indexed = true;  // duplicates are found through the index
    } else
      return Status::invalid_argument(where + ": flag '" + flag + "' does not apply here");
  }
  return Status::ok();
}

}  // namespace

Result<Schema> Schema::parse(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string line;
  std::optional<Schema> schema;
  CollectionSpec* current = nullptr;
  std::map<std::string, CollectionSpec, std::less<>> collections;
  for (int n = 1; std::getline(in, line); ++n) {
    const std::vector<std::string> w = words_of(line);
    if (w.empty()) continue;
    const std::string where = "schema line " + std::to_string(n);
    if (w[0] == "schema") {
      if (schema || w.size() != 2) {
        return Status::invalid_argument(where + ": expected one 'schema VERSION' line");
      }
      const bool digits = !w[1].empty() && w[1].size() <= 10 &&
                          w[1].find_first_not_of("0123456789") == std::string::npos;
      const unsigned long long v = digits ? std::stoull(w[1]) : 0;
      if (v == 0 || v > UINT32_MAX) {
        return Status::invalid_argument(where + ": version must be a positive integer (1 to " +
                                        std::to_string(UINT32_MAX) + ")");
      }
      schema.emplace(static_cast<uint32_t>(v));
    } else if (w[0] == "collection") {
      if (w.size() < 2 || w.size() > 3 || (w.size() == 3 && w[2] != "immutable")) {
        return Status::invalid_argument(where + ": expected 'collection NAME [immutable]'");
      }
      if (collections.count(w[1])) {
        return Status::invalid_argument(where + ": collection '" + w[1] + "' defined twice");
      }
      if (w[1].size() > kMaxNameBytes) {
        return Status::invalid_argument(where + ": collection name longer than 255 bytes");
      }
      if (w[1][0] == '_') {
        return Status::invalid_argument(where + ": collection names starting with '_' are " +
                                        "reserved for the control scope's records");
      }
      current = &collections[w[1]];
      current->name = w[1];
      current->immutable = w.size() == 3;
    } else if (w[0] == "field") {
      if (!current) return Status::invalid_argument(where + ": field outside a collection");
      FieldSpec f;
      BIRGA_RETURN_IF_ERROR(parse_field(w, where, &f));
      if (current->fields.count(f.name)) {
        return Status::invalid_argument(where + ": field '" + f.name + "' defined twice");
      }
      current->add(std::move(f));
    } else {
      return Status::invalid_argument(where + ": unknown keyword '" + w[0] + "'");
    }
  }
  if (!schema) return Status::invalid_argument("schema: missing 'schema VERSION' line");
  for (auto& [name, c] : collections) schema->add(std::move(c));
  return std::move(*schema);
}

}  // namespace birga::crdt
