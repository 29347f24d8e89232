// Op: one operation on one record, as it travels inside a change and is applied on every
// replica. A flat struct so that it maps one to one onto the wire schema; which members are
// meaningful depends on `kind` (see the table below), and check_shape() enforces that.
//
//   kind            field  value     observed               counters
//   kLwwWrite       yes    the value -                      -
//   kMvWrite        yes    the value dots replaced          -
//   kSetAdd         yes    element   -                      -
//   kSetRemove      yes    element   dots of that element   -
//   kCounterUpdate  yes    -         -                      author's running totals
//   kLogAppend      yes    payload   -                      -
//   kRecordDelete   empty  -         field dots covered     -
//   kRecordRestore  empty  -         delete dots undone     -
//
// `dot` names the op uniquely (actor = author); `time` is the author's HLC time.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "birga/crdt/dot.h"
#include "birga/crdt/hlc.h"
#include "birga/crdt/value.h"
#include "birga/status.h"

namespace birga::crdt {

// A record's 128-bit id, made offline: 48 bits of wall-clock milliseconds (so ids sort by
// creation time) then 80 random bits (so two devices never collide).
struct RecordId {
  std::array<uint8_t, 16> bytes{};

  static RecordId make(uint64_t wall_ms, const std::array<uint8_t, 10>& random);
  std::string to_hex() const;  // 32 lower-case hex digits
  static std::optional<RecordId> from_hex(std::string_view hex);
  friend auto operator<=>(const RecordId&, const RecordId&) = default;
};

enum class FieldKind : uint8_t { kLww = 1, kMv = 2, kSet = 3, kCounter = 4, kLog = 5 };
const char* kind_name(FieldKind k);  // "lww", "mv", "set", "counter", "log"
bool parse_kind_name(std::string_view name, FieldKind* out);

enum class OpKind : uint8_t {
  kLwwWrite = 1,
  kMvWrite = 2,
  kSetAdd = 3,
  kSetRemove = 4,
  kCounterUpdate = 5,
  kLogAppend = 6,
  kRecordDelete = 7,
  kRecordRestore = 8,
};
const char* op_kind_name(OpKind k);
// The field kind an op kind writes; nullopt for record-level ops (delete, restore).
std::optional<FieldKind> field_kind_of(OpKind k);

// Collection and field names are 1..255 bytes (the store keys them with one length byte).
constexpr size_t kMaxNameBytes = 255;

struct Op {
  std::string collection;
  RecordId record;
  OpKind kind = OpKind::kLwwWrite;
  std::string field;
  Dot dot;
  Timestamp time;
  Value value;
  DotSet observed;
  uint64_t inc_total = 0;
  uint64_t dec_total = 0;

  // Ok when the members that `kind` uses are present and the others are empty.
  Status check_shape() const;
  friend bool operator==(const Op&, const Op&) = default;
};

}  // namespace birga::crdt
