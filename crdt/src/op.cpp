#include "birga/crdt/op.h"

#include <cstring>

namespace birga::crdt {

RecordId RecordId::make(uint64_t wall_ms, const std::array<uint8_t, 10>& random) {
  RecordId id;
  for (int i = 0; i < 6; ++i) id.bytes[i] = static_cast<uint8_t>(wall_ms >> (40 - 8 * i));
  std::memcpy(id.bytes.data() + 6, random.data(), random.size());
  return id;
}

std::string RecordId::to_hex() const {
  ActorId as_actor;
  as_actor.bytes = bytes;
  return as_actor.to_hex();
}

std::optional<RecordId> RecordId::from_hex(std::string_view hex) {
  auto parsed = ActorId::from_hex(hex);
  if (!parsed) return std::nullopt;
  RecordId id;
  id.bytes = parsed->bytes;
  return id;
}

const char* kind_name(FieldKind k) {
  switch (k) {
    case FieldKind::kLww:
      return "lww";
    case FieldKind::kMv:
      return "mv";
    case FieldKind::kSet:
      return "set";
    case FieldKind::kCounter:
      return "counter";
    case FieldKind::kLog:
      return "log";
  }
  return "unknown";
}

bool parse_kind_name(std::string_view name, FieldKind* out) {
  for (FieldKind k :
       {FieldKind::kLww, FieldKind::kMv, FieldKind::kSet, FieldKind::kCounter, FieldKind::kLog}) {
    if (name == kind_name(k)) {
      *out = k;
      return true;
    }
  }
  return false;
}

const char* op_kind_name(OpKind k) {
  switch (k) {
    case OpKind::kLwwWrite:
      return "lww write";
    case OpKind::kMvWrite:
      return "mv write";
    case OpKind::kSetAdd:
      return "set add";
    case OpKind::kSetRemove:
      return "set remove";
    case OpKind::kCounterUpdate:
      return "counter update";
    case OpKind::kLogAppend:
      return "log append";
    case OpKind::kRecordDelete:
      return "record delete";
    case OpKind::kRecordRestore:
      return "record restore";
  }
  return "unknown op";
}

std::optional<FieldKind> field_kind_of(OpKind k) {
  switch (k) {
    case OpKind::kLwwWrite:
      return FieldKind::kLww;
    case OpKind::kMvWrite:
      return FieldKind::kMv;
    case OpKind::kSetAdd:
    case OpKind::kSetRemove:
      return FieldKind::kSet;
    case OpKind::kCounterUpdate:
      return FieldKind::kCounter;
    case OpKind::kLogAppend:
      return FieldKind::kLog;
    default:
      return std::nullopt;
  }
}

Status Op::check_shape() const {
  // The message prefix is built only on failure: this runs for every op encoded or decoded.
  auto what = [&] { return std::string(op_kind_name(kind)) + " on '" + collection + "'"; };
  if (collection.empty()) return Status::invalid_argument(what() + ": no collection");
  if (collection.size() > kMaxNameBytes || field.size() > kMaxNameBytes) {
    return Status::invalid_argument(what().substr(0, 80) +
                                    ": a collection or field name is longer "
                                    "than 255 bytes");
  }
  if (dot.counter == 0) return Status::invalid_argument(what() + ": dot counter is 0");
  const auto fk = field_kind_of(kind);
  if (!fk) {
    if (kind != OpKind::kRecordDelete && kind != OpKind::kRecordRestore) {
      return Status::invalid_argument("unknown op kind " + std::to_string(int(kind)));
    }
    if (!field.empty()) return Status::invalid_argument(what() + " names a field");
    if (!std::holds_alternative<std::monostate>(value) || inc_total || dec_total) {
      return Status::invalid_argument(what() + " carries a value or counter totals");
    }
    return Status::ok();
  }
  if (field.empty()) return Status::invalid_argument(what() + ": no field name");
  const bool uses_observed = kind == OpKind::kMvWrite || kind == OpKind::kSetRemove;
  if (!uses_observed && !observed.empty()) {
    return Status::invalid_argument(what() + ", field '" + field + "': unexpected observed dots");
  }
  if (kind != OpKind::kCounterUpdate && (inc_total || dec_total)) {
    return Status::invalid_argument(what() + ", field '" + field + "': unexpected counter totals");
  }
  if (kind == OpKind::kCounterUpdate && !std::holds_alternative<std::monostate>(value)) {
    return Status::invalid_argument(what() + ", field '" + field + "': counter op carries a value");
  }
  return Status::ok();
}

}  // namespace birga::crdt
