// encode_ops / decode_ops: the plaintext body of a change, in columns (schema OpBody in
// change.capnp; byte layout and reader checks in docs/protocol.md section 8).
#include <capnp/message.h>

#include <cstring>
#include <functional>
#include <variant>

#include "capnp_util.h"
#include "change.capnp.h"
#include "sealed_change.h"

namespace birga::engine {
namespace {

using wire::OpBody;

// Values of valueTypes.
enum ValueType : uint8_t { kNone = 0, kFalse = 1, kTrue = 2, kInteger = 3, kText = 4 };
constexpr uint8_t kMaxValueType = kText;
constexpr size_t kIdBytes = 16;  // a record id, an actor
// Cap'n Proto's largest list (2^29 - 1 elements) bounds the texts column. Far above what a
// sealed change can carry anyway (ChangeLimits), but encode_ops must refuse, not throw.
constexpr uint64_t kMaxTextBytes = (uint64_t{1} << capnp::LIST_ELEMENT_COUNT_BITS) - 1;

uint8_t value_type_of(const crdt::Value& v) {
  if (const bool* b = std::get_if<bool>(&v)) return *b ? kTrue : kFalse;
  if (std::holds_alternative<int64_t>(v)) return kInteger;
  if (std::holds_alternative<std::string>(v)) return kText;
  return kNone;
}

std::string_view id_view(const std::array<uint8_t, kIdBytes>& id) {
  return std::string_view(reinterpret_cast<const char*>(id.data()), id.size());
}

// Distinct keys in first-use order, each mapped to its index. The keys are views: what they
// point to must outlive the table. Small tables (the usual few collections and fields) are
// scanned; past kLinear keys an open-addressing hash table takes over.
class Interner {
 public:
  uint32_t index_of(std::string_view key) {
    if (slots_.empty()) {
      for (size_t i = 0; i < keys_.size(); ++i) {
        if (keys_[i] == key) return static_cast<uint32_t>(i);
      }
      keys_.push_back(key);
      if (keys_.size() > kLinear) rehash(64);
      return static_cast<uint32_t>(keys_.size() - 1);
    }
    const size_t mask = slots_.size() - 1;
    for (size_t s = hash_of(key) & mask;; s = (s + 1) & mask) {
      if (slots_[s] == 0) {
        keys_.push_back(key);
        slots_[s] = static_cast<uint32_t>(keys_.size());
        if (2 * keys_.size() > slots_.size()) rehash(2 * slots_.size());
        return static_cast<uint32_t>(keys_.size() - 1);
      }
      if (keys_[slots_[s] - 1] == key) return slots_[s] - 1;
    }
  }
  const std::vector<std::string_view>& keys() const { return keys_; }
  size_t size() const { return keys_.size(); }

 private:
  static constexpr size_t kLinear = 16;

  static size_t hash_of(std::string_view key) { return std::hash<std::string_view>{}(key); }

  void rehash(size_t slots) {
    slots_.assign(slots, 0);  // 0 is empty, otherwise key index + 1
    const size_t mask = slots - 1;
    for (size_t i = 0; i < keys_.size(); ++i) {
      size_t s = hash_of(keys_[i]) & mask;
      while (slots_[s] != 0) s = (s + 1) & mask;
      slots_[s] = static_cast<uint32_t>(i + 1);
    }
  }

  std::vector<std::string_view> keys_;
  std::vector<uint32_t> slots_;  // empty while the keys are scanned
};

// The counts a field's values take in the grouped columns.
struct FieldValues {
  uint32_t integers = 0;
  uint32_t texts = 0;
  uint64_t text_bytes = 0;
};

// Where each field's values start in the value columns (its running write/read position).
struct FieldCursor {
  uint32_t integer = 0;
  uint32_t text = 0;
  uint64_t text_byte = 0;
};

// Values are grouped by field: field 0's values (in op order), then field 1's, and so on. Each
// field's values start where the previous field's end.
std::vector<FieldCursor> start_cursors(const std::vector<FieldValues>& per_field) {
  std::vector<FieldCursor> cursors(per_field.size());
  FieldCursor next;
  for (size_t f = 0; f < per_field.size(); ++f) {
    cursors[f] = next;
    next.integer += per_field[f].integers;
    next.text += per_field[f].texts;
    next.text_byte += per_field[f].text_bytes;
  }
  return cursors;
}

capnp::Text::Reader text_of(std::string_view s) {
  return capnp::Text::Reader(s.data(), s.size());
}

std::string out_of_range(size_t op, const char* what, uint32_t index, size_t size,
                         const char* table) {
  return "op body: op " + std::to_string(op) + ": " + what + " index " + std::to_string(index) +
         " out of range (" + std::to_string(size) + " " + table + ")";
}

Status column_length(const char* column, size_t got, size_t expected, const char* per) {
  if (got == expected) return Status::ok();
  return Status::corrupt_input("op body: " + std::string(column) + " holds " + std::to_string(got) +
                               " entries, expected " + std::to_string(expected) + " (" + per + ")");
}

Status id_table(const char* table, capnp::Data::Reader bytes) {
  if (bytes.size() % kIdBytes == 0) return Status::ok();
  return Status::corrupt_input("op body: " + std::string(table) + " table is " +
                               std::to_string(bytes.size()) + " bytes, not a multiple of 16");
}

// Reads a List(Text) once (each fetch counts against the traversal limit) into views of the
// message's bytes.
std::vector<std::string_view> names_of(capnp::List<capnp::Text>::Reader list) {
  std::vector<std::string_view> names;
  names.reserve(list.size());
  for (capnp::Text::Reader t : list) names.emplace_back(t.begin(), t.size());
  return names;
}

// Checks the columns of `in` against each other and fills `out` with its ops.
Status read_body(OpBody::Reader in, const ChangeHeader& h, std::vector<crdt::Op>* out) {
  // Every pointer is fetched once: Cap'n Proto charges each fetch to the traversal limit.
  const capnp::Data::Reader kinds = in.getKinds();
  const size_t n = kinds.size();
  if (n > kMaxOpsPerChange) {
    return Status::corrupt_input("op body: " + std::to_string(n) + " ops, at most " +
                                 std::to_string(kMaxOpsPerChange) + " allowed");
  }
  const auto collection = in.getCollection();
  const auto record = in.getRecord();
  const auto field = in.getField();
  const capnp::Data::Reader value_types = in.getValueTypes();
  BIRGA_RETURN_IF_ERROR(column_length("collection", collection.size(), n, "one per op"));
  BIRGA_RETURN_IF_ERROR(column_length("record", record.size(), n, "one per op"));
  BIRGA_RETURN_IF_ERROR(column_length("field", field.size(), n, "one per op"));
  BIRGA_RETURN_IF_ERROR(column_length("valueTypes", value_types.size(), n, "one per op"));
  const capnp::Data::Reader records = in.getRecords();
  const capnp::Data::Reader actors = in.getActors();
  BIRGA_RETURN_IF_ERROR(id_table("record", records));
  BIRGA_RETURN_IF_ERROR(id_table("actor", actors));
  const std::vector<std::string_view> collection_names = names_of(in.getCollections());
  const std::vector<std::string_view> field_names = names_of(in.getFields());
  const size_t record_count = records.size() / kIdBytes;
  const size_t actor_count = actors.size() / kIdBytes;

  // Pass 1: every index in range, every kind and value type known; count the values.
  std::vector<FieldValues> per_field(field_names.size());
  FieldValues total;
  size_t counter_ops = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t kind = kinds[i];
    if (kind < uint8_t(crdt::OpKind::kLwwWrite) || kind > uint8_t(crdt::OpKind::kRecordRestore)) {
      return Status::corrupt_input("op " + std::to_string(i) + ": unknown op kind " +
                                   std::to_string(kind));
    }
    if (collection[i] >= collection_names.size()) {
      return Status::corrupt_input(
          out_of_range(i, "collection", collection[i], collection_names.size(), "collections"));
    }
    if (record[i] >= record_count) {
      return Status::corrupt_input(
          out_of_range(i, "record", record[i], record_count, "record ids"));
    }
    const uint32_t f = field[i];
    if (f >= field_names.size()) {
      return Status::corrupt_input(out_of_range(i, "field", f, field_names.size(), "fields"));
    }
    const uint8_t type = value_types[i];
    if (type > kMaxValueType) {
      return Status::corrupt_input("op " + std::to_string(i) + ": unknown value type " +
                                   std::to_string(type));
    }
    if (type == kInteger) {
      ++total.integers;
      ++per_field[f].integers;
    } else if (type == kText) {
      ++total.texts;
      ++per_field[f].texts;
    }
    if (kind == uint8_t(crdt::OpKind::kCounterUpdate)) ++counter_ops;
  }

  const auto integers = in.getIntegers();
  const auto text_lengths = in.getTextLengths();
  const capnp::Data::Reader texts = in.getTexts();
  BIRGA_RETURN_IF_ERROR(
      column_length("integers", integers.size(), total.integers, "one per integer value"));
  BIRGA_RETURN_IF_ERROR(
      column_length("textLengths", text_lengths.size(), total.texts, "one per text value"));
  // The texts' byte counts per field: the lengths are stored field after field, so each
  // field's share is a run of them (the counts just checked add up to text_lengths.size()).
  for (size_t f = 0, k = 0; f < per_field.size(); ++f) {
    for (const size_t end = k + per_field[f].texts; k < end; ++k) {
      per_field[f].text_bytes += text_lengths[k];
    }
    total.text_bytes += per_field[f].text_bytes;
  }
  if (total.text_bytes != texts.size()) {
    return Status::corrupt_input("op body: text lengths sum to " +
                                 std::to_string(total.text_bytes) + " bytes, texts hold " +
                                 std::to_string(texts.size()));
  }
  const auto inc_totals = in.getIncTotals();
  const auto dec_totals = in.getDecTotals();
  BIRGA_RETURN_IF_ERROR(
      column_length("incTotals", inc_totals.size(), counter_ops, "one per counter update"));
  BIRGA_RETURN_IF_ERROR(
      column_length("decTotals", dec_totals.size(), counter_ops, "one per counter update"));
  const auto observed_op = in.getObservedOp();
  const auto observed_actor = in.getObservedActor();
  const auto observed_counter = in.getObservedCounter();
  BIRGA_RETURN_IF_ERROR(column_length("observedActor", observed_actor.size(), observed_op.size(),
                                      "one per observed dot"));
  BIRGA_RETURN_IF_ERROR(column_length("observedCounter", observed_counter.size(),
                                      observed_op.size(), "one per observed dot"));
  for (size_t j = 0, previous = 0; j < observed_op.size(); ++j) {
    auto bad_dot = [&](const std::string& what) {
      return Status::corrupt_input("op body: observed dot " + std::to_string(j) + ": " + what);
    };
    const uint32_t op = observed_op[j];
    if (op >= n) {
      return bad_dot("op index " + std::to_string(op) + " out of range (" + std::to_string(n) +
                     " ops)");
    }
    if (op < previous) {
      return bad_dot("op index " + std::to_string(op) + " after " + std::to_string(previous) +
                     " (must not decrease)");
    }
    previous = op;
    if (observed_actor[j] >= actor_count) {
      return bad_dot("actor index " + std::to_string(observed_actor[j]) + " out of range (" +
                     std::to_string(actor_count) + " actors)");
    }
  }

  // Pass 2: every column is consistent; build the ops.
  std::vector<crdt::Op>& ops = *out;
  ops.resize(n);
  std::vector<FieldCursor> cursors = start_cursors(per_field);
  const crdt::ActorId author = actor_of(h.author);
  const char* text_bytes = reinterpret_cast<const char*>(texts.begin());
  size_t counter = 0;
  for (size_t i = 0; i < n; ++i) {
    crdt::Op& op = ops[i];
    op.kind = static_cast<crdt::OpKind>(kinds[i]);
    op.collection.assign(collection_names[collection[i]]);
    std::memcpy(op.record.bytes.data(), records.begin() + kIdBytes * record[i], kIdBytes);
    op.field.assign(field_names[field[i]]);
    FieldCursor& at = cursors[field[i]];
    switch (value_types[i]) {
      case kFalse:
      case kTrue:
        op.value = value_types[i] == kTrue;
        break;
      case kInteger:
        op.value = int64_t{integers[at.integer++]};
        break;
      case kText: {
        const uint32_t length = text_lengths[at.text++];
        op.value.emplace<std::string>(text_bytes + at.text_byte, length);
        at.text_byte += length;
        break;
      }
      default:
        break;  // kNone: the value stays monostate
    }
    if (op.kind == crdt::OpKind::kCounterUpdate) {
      op.inc_total = inc_totals[counter];
      op.dec_total = dec_totals[counter];
      ++counter;
    }
    op.dot = op_dot(author, h.seq, i);
    op.time = h.hlc;
  }
  for (size_t j = 0; j < observed_op.size(); ++j) {
    crdt::Dot dot;
    std::memcpy(dot.actor.bytes.data(), actors.begin() + kIdBytes * observed_actor[j], kIdBytes);
    dot.counter = observed_counter[j];
    ops[observed_op[j]].observed.insert(dot);
  }
  for (size_t i = 0; i < n; ++i) {
    Status shape = ops[i].check_shape();
    if (!shape.is_ok()) {
      return Status::corrupt_input("op " + std::to_string(i) + ": " + shape.message());
    }
  }
  return Status::ok();
}

}  // namespace

crdt::Dot op_dot(const crdt::ActorId& author, uint64_t seq, size_t index) {
  return crdt::Dot{author, (seq << 20) | (uint64_t{index} + 1)};
}

Result<std::string> encode_ops(const std::vector<const crdt::Op*>& ops) {
  if (ops.size() > kMaxOpsPerChange) {
    return Status::invalid_argument("a change holds at most " + std::to_string(kMaxOpsPerChange) +
                                    " ops, got " + std::to_string(ops.size()));
  }
  uint64_t text_bytes = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (const std::string* s = std::get_if<std::string>(&ops[i]->value)) text_bytes += s->size();
    // Dots are derived on decode: check the rest of the shape (a zero counter is the only
    // thing the dot can fail on, so only an op carrying one is copied to give it another).
    Status shape;
    if (ops[i]->dot.counter != 0) {
      shape = ops[i]->check_shape();
    } else {
      crdt::Op probe = *ops[i];
      probe.dot.counter = 1;
      shape = probe.check_shape();
    }
    if (!shape.is_ok()) return shape.with_context("op " + std::to_string(i));
  }
  if (text_bytes > kMaxTextBytes) {
    return Status::invalid_argument("a change holds at most " + std::to_string(kMaxTextBytes) +
                                    " bytes of text values, got " + std::to_string(text_bytes));
  }
  const unsigned n = static_cast<unsigned>(ops.size());
  // One first segment large enough for the usual body (per op: 14 bytes of columns and up to
  // 4 + 8 of value; then the texts), so the builder rarely grows.
  capnp::MallocMessageBuilder message(static_cast<unsigned>((26 * n + text_bytes) / 8 + 64));
  OpBody::Builder root = message.initRoot<OpBody>();
  if (n == 0) return canonical_message(root.asReader());

  // Pass 1: the per-op columns, the tables, and how many values each field has.
  Interner collections, fields, records, actors;
  std::vector<FieldValues> per_field;
  FieldValues total;
  size_t counter_ops = 0, observed = 0;
  auto kinds = root.initKinds(n);
  auto collection = root.initCollection(n);
  auto record = root.initRecord(n);
  auto field = root.initField(n);
  auto value_types = root.initValueTypes(n);
  uint32_t last_record = 0;
  for (unsigned i = 0; i < n; ++i) {
    const crdt::Op& op = *ops[i];
    kinds[i] = static_cast<uint8_t>(op.kind);
    collection.set(i, collections.index_of(op.collection));
    if (i == 0 || op.record != ops[i - 1]->record) {
      last_record = records.index_of(id_view(op.record.bytes));
    }
    record.set(i, last_record);
    const uint32_t f = fields.index_of(op.field);
    field.set(i, f);
    if (per_field.size() <= f) per_field.resize(f + 1);
    const uint8_t type = value_type_of(op.value);
    value_types[i] = type;
    FieldValues& values = per_field[f];
    if (type == kInteger) {
      ++values.integers;
      ++total.integers;
    } else if (type == kText) {
      const size_t bytes = std::get<std::string>(op.value).size();
      ++values.texts;
      values.text_bytes += bytes;
      ++total.texts;
      total.text_bytes += bytes;
    }
    if (op.kind == crdt::OpKind::kCounterUpdate) ++counter_ops;
    for (const crdt::Dot& d : op.observed) actors.index_of(id_view(d.actor.bytes));
    observed += op.observed.size();
  }

  // The tables.
  auto collection_names = root.initCollections(static_cast<unsigned>(collections.size()));
  for (unsigned i = 0; i < collections.size(); ++i) {
    collection_names.set(i, text_of(collections.keys()[i]));
  }
  auto field_names = root.initFields(static_cast<unsigned>(fields.size()));
  for (unsigned i = 0; i < fields.size(); ++i) field_names.set(i, text_of(fields.keys()[i]));
  auto record_ids = root.initRecords(static_cast<unsigned>(kIdBytes * records.size()));
  for (size_t i = 0; i < records.size(); ++i) {
    std::memcpy(record_ids.begin() + kIdBytes * i, records.keys()[i].data(), kIdBytes);
  }

  // Pass 2: the values, each at its field's cursor.
  std::vector<FieldCursor> cursors = start_cursors(per_field);
  capnp::List<int64_t>::Builder integers;
  capnp::List<uint32_t>::Builder text_lengths;
  capnp::Data::Builder texts;
  if (total.integers) integers = root.initIntegers(total.integers);
  if (total.texts) text_lengths = root.initTextLengths(total.texts);
  if (total.text_bytes) texts = root.initTexts(static_cast<unsigned>(total.text_bytes));
  for (unsigned i = 0; i < n; ++i) {
    const crdt::Value& v = ops[i]->value;
    if (const int64_t* x = std::get_if<int64_t>(&v)) {
      integers.set(cursors[field[i]].integer++, *x);
    } else if (const std::string* s = std::get_if<std::string>(&v)) {
      FieldCursor& at = cursors[field[i]];
      text_lengths.set(at.text++, static_cast<uint32_t>(s->size()));
      if (!s->empty()) std::memcpy(texts.begin() + at.text_byte, s->data(), s->size());
      at.text_byte += s->size();
    }
  }

  // Observed dots and counter totals, in op order.
  if (observed) {
    auto actor_ids = root.initActors(static_cast<unsigned>(kIdBytes * actors.size()));
    for (size_t i = 0; i < actors.size(); ++i) {
      std::memcpy(actor_ids.begin() + kIdBytes * i, actors.keys()[i].data(), kIdBytes);
    }
    auto observed_op = root.initObservedOp(static_cast<unsigned>(observed));
    auto observed_actor = root.initObservedActor(static_cast<unsigned>(observed));
    auto observed_counter = root.initObservedCounter(static_cast<unsigned>(observed));
    unsigned j = 0;
    for (unsigned i = 0; i < n; ++i) {
      for (const crdt::Dot& d : ops[i]->observed) {
        observed_op.set(j, i);
        observed_actor.set(j, actors.index_of(id_view(d.actor.bytes)));
        observed_counter.set(j, d.counter);
        ++j;
      }
    }
  }
  if (counter_ops) {
    auto inc_totals = root.initIncTotals(static_cast<unsigned>(counter_ops));
    auto dec_totals = root.initDecTotals(static_cast<unsigned>(counter_ops));
    unsigned k = 0;
    for (const crdt::Op* op : ops) {
      if (op->kind != crdt::OpKind::kCounterUpdate) continue;
      inc_totals.set(k, op->inc_total);
      dec_totals.set(k, op->dec_total);
      ++k;
    }
  }
  return canonical_message(root.asReader());
}

Result<std::string> encode_ops(const std::vector<crdt::Op>& ops) {
  return encode_ops(op_refs(ops));
}

Result<std::vector<crdt::Op>> decode_ops(std::string_view body, const ChangeHeader& h) {
  if (h.seq == 0 || h.seq > kMaxChangeSeq) {
    return Status::corrupt_input("op body: change seq " + std::to_string(h.seq) + " out of range");
  }
  std::vector<crdt::Op> ops;
  // An honest canonical body is visited once (each column fetched once); twice that plus a
  // little slack bounds what a hostile body can make the reader walk.
  const MessageLimits limits{2 * (body.size() / 8) + 1024, 8};
  Status st = read_message(body, limits, "op body", [&](capnp::MessageReader& reader) {
    return read_body(reader.getRoot<OpBody>(), h, &ops);
  });
  if (!st.is_ok()) return st;
  return ops;
}

}  // namespace birga::engine
