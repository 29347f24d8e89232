#include "birga/crdt/record.h"

#include <algorithm>

namespace birga::crdt {

FieldKind kind_of(const Field& f) {
  return static_cast<FieldKind>(f.index() + 1);
}

namespace {

Field empty_field(FieldKind kind) {
  switch (kind) {
    case FieldKind::kMv:
      return MvRegister();
    case FieldKind::kSet:
      return AwSet();
    case FieldKind::kCounter:
      return Counter();
    case FieldKind::kLog:
      return AppendLog();
    default:
      return LwwRegister();
  }
}

// The op's value: taken over from an op given as an rvalue, copied from any other.
template <typename O>
Value value_of(O&& op) {
  return std::forward<O>(op).value;
}

template <typename O>
void apply_to_field(Field& f, O&& op) {
  switch (op.kind) {
    case OpKind::kLwwWrite:
      std::get<LwwRegister>(f).apply(
          LwwWrite{op.time, op.dot.actor, value_of(std::forward<O>(op))});
      break;
    case OpKind::kMvWrite:
      std::get<MvRegister>(f).apply(
          MvWrite{op.dot, value_of(std::forward<O>(op)), op.observed, op.time});
      break;
    case OpKind::kSetAdd:
      std::get<AwSet>(f).apply(SetAdd{op.dot, value_of(std::forward<O>(op))});
      break;
    case OpKind::kSetRemove:
      std::get<AwSet>(f).apply(SetRemove{op.observed});
      break;
    case OpKind::kCounterUpdate:
      std::get<Counter>(f).apply(CounterUpdate{op.dot.actor, op.inc_total, op.dec_total});
      break;
    case OpKind::kLogAppend:
      std::get<AppendLog>(f).apply(LogAppend{op.dot, op.time, value_of(std::forward<O>(op))});
      break;
    default:
      break;
  }
}

}  // namespace

namespace {
// The first field of `fields` whose key is not below (name, kind), in FieldKey order, without
// making a FieldKey (a copy of the name) to compare with. A record's field names mostly
// differ in their first byte, compared first (as unsigned, like the full comparison).
template <typename Fields>
auto lower_field(Fields& fields, std::string_view name, FieldKind kind) {
  return std::lower_bound(
      fields.begin(), fields.end(), name, [kind](const auto& entry, std::string_view n) {
        const std::string_view e(entry.first.name);
        if (!e.empty() && !n.empty() && e[0] != n[0]) {
          return static_cast<unsigned char>(e[0]) < static_cast<unsigned char>(n[0]);
        }
        const int c = e.compare(n);
        return c < 0 || (c == 0 && entry.first.kind < kind);
      });
}
template <typename It>
bool is_field(It it, It end, std::string_view name, FieldKind kind) {
  return it != end && it->first.kind == kind && it->first.name == name;
}
}  // namespace

Record::Fields::iterator Record::lower(const FieldKey& key) {
  return lower_field(fields_, key.name, key.kind);
}

Record::Fields::const_iterator Record::lower(const FieldKey& key) const {
  return lower_field(fields_, key.name, key.kind);
}

Field& Record::field_for(const std::string& name, FieldKind kind) {
  auto it = lower_field(fields_, name, kind);
  if (is_field(it, fields_.end(), name, kind)) return it->second;
  if (fields_.empty()) {  // room for a record's usual handful of fields, allocated once
    fields_.reserve(8);
    it = fields_.begin();
  }
  return fields_.emplace(it, FieldKey{name, kind}, empty_field(kind))->second;
}

Status Record::apply(const Op& op) {
  return apply_op(op);
}

Status Record::apply(Op&& op) {
  return apply_op(std::move(op));
}

template <typename O>
Status Record::apply_op(O&& op) {
  BIRGA_RETURN_IF_ERROR(op.check_shape());
  if (has_applied(op.dot)) return Status::ok();
  if (op.kind == OpKind::kRecordDelete) {
    record_op_dots_.insert(op.dot);
    deletes_.add(op.dot, op.observed);
    return Status::ok();
  }
  if (op.kind == OpKind::kRecordRestore) {
    record_op_dots_.insert(op.dot);
    deletes_.remove(op.observed);
    return Status::ok();
  }
  field_dots_.insert(op.dot);
  apply_to_field(field_for(op.field, *field_kind_of(op.kind)), std::forward<O>(op));
  return Status::ok();
}

void Record::merge(const Record& other) {
  if (&other == this) return;  // idempotent; and field_for below may move other's fields
  for (const auto& entry : other.fields_) {  // not a structured binding: clang 14 cannot
    const Field& theirs = entry.second;      // capture one in the lambda below
    Field& mine = field_for(entry.first.name, entry.first.kind);
    std::visit(
        [&](auto& m) {
          using T = std::decay_t<decltype(m)>;
          m.merge(std::get<T>(theirs));
        },
        mine);
  }
  deletes_.merge(other.deletes_);
  field_dots_.insert(other.field_dots_);
  record_op_dots_.insert(other.record_op_dots_);
}

const Field* Record::find(const std::string& name, FieldKind kind) const {
  auto it = lower_field(fields_, name, kind);
  return is_field(it, fields_.end(), name, kind) ? &it->second : nullptr;
}

bool Record::has_applied(const Dot& dot) const {
  return field_dots_.contains(dot) || record_op_dots_.contains(dot);
}

namespace {
// True when every dot in `dots` is in some live delete's covered set.
bool covered_by(const DotRanges& dots, const std::map<Dot, DotSet>& deletes) {
  for (const DotRanges::Run& run : dots.runs()) {
    for (uint64_t c = run.first;; ++c) {
      const Dot d{run.actor, c};
      const bool covered = std::any_of(deletes.begin(), deletes.end(),
                                       [&](const auto& del) { return del.second.count(d) > 0; });
      if (!covered) return false;
      if (c == run.last) break;
    }
  }
  return true;
}
}  // namespace

bool Record::is_deleted() const {
  return !deletes_.empty() && covered_by(field_dots_, deletes_.entries());
}

bool Record::has_delete_conflict() const {
  return !deletes_.empty() && !covered_by(field_dots_, deletes_.entries());
}

bool Record::is_conflicted() const {
  if (has_delete_conflict()) return true;
  for (const auto& [key, field] : fields_) {
    if (const auto* mv = std::get_if<MvRegister>(&field); mv && mv->is_conflicted()) return true;
  }
  return false;
}

// The actors and times of a record repeat (one device writes most of its fields in one
// change): they are written once, in tables ahead of the body, which refers to them by index.
// The body is written first (it fills the tables), into a buffer each thread keeps: encoding
// a record then allocates little besides what `w` grows by.
void Record::encode(ByteWriter& w) const {
  constexpr size_t kKeptBodyBytes = 64 << 10;  // a larger buffer is let go after use
  thread_local ByteWriter body;
  body.clear();
  CodecTables tables;
  body.use_tables(&tables);
  body.varint(fields_.size());
  for (const auto& [key, field] : fields_) {
    body.bytes(key.name);
    body.u8(static_cast<uint8_t>(key.kind));
    std::visit([&](const auto& f) { f.encode(body); }, field);
  }
  deletes_.encode(body, [](ByteWriter& bw, const DotSet& covered) { bw.dots(covered); });
  body.dot_ranges(field_dots_);
  body.dot_ranges(record_op_dots_);
  body.use_tables(nullptr);

  w.reserve(w.data().size() + 20 + tables.actors.size() * 16 + tables.times.size() * 10 +
            body.data().size());
  w.varint(tables.actors.size());
  for (const ActorId& a : tables.actors) w.raw(a.bytes.data(), a.bytes.size());
  w.varint(tables.times.size());
  for (const Timestamp& t : tables.times) w.varint(t.packed());
  w.raw(body.data().data(), body.data().size());
  if (body.data().capacity() > kKeptBodyBytes) (void)body.take();
}

Record Record::decode(ByteReader& r) {
  Record rec;
  // The tables themselves are written in full (never through other tables the reader may be
  // using), and whatever tables the reader used are restored after the body.
  CodecTables tables;
  const uint64_t actors = r.count(16);
  for (uint64_t i = 0; i < actors && r.ok(); ++i) {
    ActorId a;
    r.raw(a.bytes.data(), a.bytes.size());
    tables.actors.push_back(a);
  }
  const uint64_t times = r.count(1);
  for (uint64_t i = 0; i < times && r.ok(); ++i) {
    tables.times.push_back(Timestamp::from_packed(r.varint()));
  }
  const CodecTables* outer = r.tables();
  r.use_tables(&tables);
  rec.decode_body(r);
  r.use_tables(outer);
  return rec;
}

void Record::decode_body(ByteReader& r) {
  Record& rec = *this;
  const uint64_t n = r.count(3);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    std::string name(r.bytes());
    const uint8_t kind = r.u8();
    Field f;
    switch (static_cast<FieldKind>(kind)) {
      case FieldKind::kLww:
        f = LwwRegister::decode(r);
        break;
      case FieldKind::kMv:
        f = MvRegister::decode(r);
        break;
      case FieldKind::kSet:
        f = AwSet::decode(r);
        break;
      case FieldKind::kCounter:
        f = Counter::decode(r);
        break;
      case FieldKind::kLog:
        f = AppendLog::decode(r);
        break;
      default:
        r.fail("unknown field kind " + std::to_string(kind));
        return;
    }
    // Canonical input is sorted and unique: appended. Otherwise sorted in, and a repeated
    // field keeps its first state (as a map would).
    FieldKey key{std::move(name), static_cast<FieldKind>(kind)};
    if (rec.fields_.empty() || rec.fields_.back().first < key) {
      rec.fields_.emplace_back(std::move(key), std::move(f));
    } else if (auto at = rec.lower(key); !(at->first == key)) {
      rec.fields_.emplace(at, std::move(key), std::move(f));
    }
  }
  rec.deletes_ = DotStore<DotSet>::decode(r, [](ByteReader& br) { return br.dots(); });
  rec.field_dots_ = r.dot_ranges();
  rec.record_op_dots_ = r.dot_ranges();
}

}  // namespace birga::crdt
