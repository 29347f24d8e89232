#include "birga/crdt/codec.h"

#include <cstring>

namespace birga::crdt {

void ByteWriter::varint(uint64_t v) {
  while (v >= 0x80) {
    u8(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  u8(static_cast<uint8_t>(v));
}

void ByteWriter::svarint(int64_t v) {
  varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}

void ByteWriter::bytes(std::string_view s) {
  varint(s.size());
  out_.append(s);
}

void ByteWriter::dot(const Dot& d) {
  actor(d.actor);
  varint(d.counter);
}

namespace {
constexpr size_t kLinearTableEntries = 16;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string to_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes.size());
  for (unsigned char b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

template <typename T>
uint64_t CodecTables::index_in(std::vector<T>& table, std::map<T, uint64_t>& index, const T& v) {
  if (table.size() <= kLinearTableEntries) {
    for (size_t i = 0; i < table.size(); ++i) {
      if (table[i] == v) return i;
    }
  } else {
    if (index.empty()) {
      for (size_t i = 0; i < table.size(); ++i) index.emplace(table[i], i);
    }
    if (auto it = index.find(v); it != index.end()) return it->second;
    index.emplace(v, table.size());
  }
  table.push_back(v);
  return table.size() - 1;
}

void ByteWriter::actor(const ActorId& a) {
  if (tables_) return varint(tables_->index_of(a));
  raw(a.bytes.data(), a.bytes.size());
}

void ByteWriter::timestamp(Timestamp t) {
  if (tables_) return varint(tables_->index_of(t));
  varint(t.packed());
}

// A dot set is written as its runs (dot_ranges below): one encoding for both forms.
void ByteWriter::dots(const DotSet& s) {
  DotRanges ranges;
  for (const Dot& d : s) ranges.insert(d);
  dot_ranges(ranges);
}

// A dot set groups its dots by actor (in actor order) and writes the counters of each actor
// as increasing deltas: the first counter, then 1 for each next one of a run.
void ByteWriter::dot_ranges(const DotRanges& ranges) {
  const auto& runs = ranges.runs();
  size_t groups = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (i == 0 || runs[i - 1].actor != runs[i].actor) ++groups;
  }
  varint(groups);
  for (size_t i = 0; i < runs.size();) {
    size_t end = i;
    uint64_t n = 0;
    for (; end < runs.size() && runs[end].actor == runs[i].actor; ++end) {
      n += runs[end].last - runs[end].first + 1;
    }
    actor(runs[i].actor);
    varint(n);
    uint64_t prev = 0;
    for (size_t r = i; r < end; ++r) {
      varint(runs[r].first - prev);
      for (uint64_t c = runs[r].first; c < runs[r].last; ++c) u8(1);  // consecutive: delta 1
      prev = runs[r].last;
    }
    i = end;
  }
}

void ByteWriter::value(const Value& v) {
  switch (v.index()) {
    case 1:
      u8(std::get<bool>(v) ? 2 : 1);
      break;
    case 2:
      u8(3);
      svarint(std::get<int64_t>(v));
      break;
    case 3:
      u8(4);
      bytes(std::get<std::string>(v));
      break;
    default:
      u8(0);
      break;
  }
}

bool ByteReader::need(size_t n) {
  if (!status_.is_ok()) return false;
  if (in_.size() - pos_ < n) {
    fail("truncated: needs " + std::to_string(n) + " more byte(s)");
    return false;
  }
  return true;
}

void ByteReader::fail(const std::string& why) {
  if (!status_.is_ok()) return;
  status_ = Status::corrupt_input(what_ + " at byte " + std::to_string(pos_) + ": " + why);
}

uint8_t ByteReader::u8() {
  if (!need(1)) return 0;
  return static_cast<uint8_t>(in_[pos_++]);
}

uint64_t ByteReader::varint() {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (!need(1)) return 0;
    const uint8_t b = static_cast<uint8_t>(in_[pos_++]);
    if (shift == 63 && b > 1) break;
    v |= uint64_t{b & 0x7Fu} << shift;
    if (!(b & 0x80)) return v;
  }
  fail("varint longer than 64 bits");
  return 0;
}

int64_t ByteReader::svarint() {
  const uint64_t z = varint();
  return static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1));
}

std::string_view ByteReader::bytes() {
  const uint64_t n = varint();
  if (!ok()) return {};
  if (n > remaining()) {
    fail("length " + std::to_string(n) + " exceeds the " + std::to_string(remaining()) +
         " byte(s) left");
    return {};
  }
  std::string_view s = in_.substr(pos_, n);
  pos_ += n;
  return s;
}

void ByteReader::raw(void* out, size_t n) {
  if (!need(n)) {
    std::memset(out, 0, n);
    return;
  }
  std::memcpy(out, in_.data() + pos_, n);
  pos_ += n;
}

// The entry of `table` at the varint index read next; a default value (and a failure) when
// the index is beyond it.
template <typename T>
T ByteReader::table_entry(const std::vector<T>& table, const char* what) {
  const uint64_t i = varint();
  if (i < table.size()) return table[i];
  fail(std::string(what) + " index " + std::to_string(i) + " beyond the table of " +
       std::to_string(table.size()));
  return T();
}

ActorId ByteReader::actor() {
  if (tables_) return table_entry(tables_->actors, "actor");
  ActorId a;
  raw(a.bytes.data(), a.bytes.size());
  return a;
}

Timestamp ByteReader::timestamp() {
  if (tables_) return table_entry(tables_->times, "time");
  return Timestamp::from_packed(varint());
}

Dot ByteReader::dot() {
  Dot d;
  d.actor = actor();
  d.counter = varint();
  return d;
}

template <typename Add>
void ByteReader::read_dots(Add add) {
  const uint64_t groups = count(actor_bytes() + 1);
  for (uint64_t g = 0; g < groups && ok(); ++g) {
    const ActorId a = actor();
    const uint64_t n = count(1);
    uint64_t counter = 0;
    for (uint64_t i = 0; i < n && ok(); ++i) {
      const uint64_t delta = varint();
      if (delta == 0) fail("dot set counters not increasing");
      if (delta > UINT64_MAX - counter) fail("dot set counter overflows 64 bits");
      if (!ok()) break;
      counter += delta;
      add(a, counter);
    }
  }
}

DotSet ByteReader::dots() {
  DotSet s;
  read_dots([&](const ActorId& a, uint64_t counter) { s.insert(s.end(), Dot{a, counter}); });
  return s;
}

DotRanges ByteReader::dot_ranges() {
  DotRanges r;
  read_dots([&](const ActorId& a, uint64_t counter) { r.insert_run(a, counter, counter); });
  return r;
}

Value ByteReader::value() {
  switch (u8()) {
    case 0:
      return Value();
    case 1:
      return Value(false);
    case 2:
      return Value(true);
    case 3:
      return Value(svarint());
    case 4:
      return Value(std::string(bytes()));
    default:
      fail("unknown value tag");
      return Value();
  }
}

uint64_t ByteReader::count(size_t min_item_bytes) {
  const uint64_t n = varint();
  if (ok() && min_item_bytes > 0 && n > remaining() / min_item_bytes) {
    fail("count " + std::to_string(n) + " cannot fit in the " + std::to_string(remaining()) +
         " byte(s) left");
    return 0;
  }
  return n;
}

Status ByteReader::finish() {
  if (ok() && !at_end()) fail(std::to_string(remaining()) + " trailing byte(s)");
  return status_;
}

}  // namespace birga::crdt
