// ByteWriter / ByteReader: the canonical binary encoding shared by every CRDT state and op.
//
// Integers are unsigned LEB128 varints (signed ones zigzag-mapped first), byte strings are a
// varint length then the bytes, fixed-size ids are written raw. The same value always yields
// the same bytes, which is what makes canonical hashes comparable between replicas.
//
// ByteReader is for bytes that may be hostile: every read is bounds-checked, lengths are
// limited by what is left in the input, and the first failure is kept in status() (later
// reads then return zero values). Callers check status() once at the end.
//
// Thread rule: one owner each. A ByteReader borrows its input, which must outlive it.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "birga/crdt/dot.h"
#include "birga/crdt/hlc.h"
#include "birga/crdt/value.h"
#include "birga/status.h"

namespace birga::crdt {

// Lowercase hex of `bytes`, two digits per byte.
std::string to_hex(std::string_view bytes);
template <size_t N>
std::string to_hex(const std::array<uint8_t, N>& bytes) {
  return to_hex(std::string_view(reinterpret_cast<const char*>(bytes.data()), N));
}
// The bytes `hex` spells (digits of either case), or nullopt when it is not pairs of hex digits.
std::optional<std::string> from_hex(std::string_view hex);

// Tables a message may put ahead of its body (Record::encode does): while a writer or reader
// uses them, every actor and every timestamp is written as a varint index into them instead of
// in full. An index is given in first-use order, so the encoding stays canonical.
struct CodecTables {
  std::vector<ActorId> actors;
  std::vector<Timestamp> times;

  // The writer's lookups: the index of an entry, added when absent. A linear search while a
  // table is small (a record's handful of actors and times), a map once it is not (an append
  // log keeps one time per entry), so encoding stays O(n log n).
  uint64_t index_of(const ActorId& a) { return index_in(actors, actor_index, a); }
  uint64_t index_of(Timestamp t) { return index_in(times, time_index, t); }

 private:
  template <typename T>
  static uint64_t index_in(std::vector<T>& table, std::map<T, uint64_t>& index, const T& v);
  std::map<ActorId, uint64_t> actor_index;  // filled once `actors` outgrows a linear search
  std::map<Timestamp, uint64_t> time_index;
};

class ByteWriter {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void varint(uint64_t v);
  void svarint(int64_t v);         // zigzag
  void bytes(std::string_view s);  // length-prefixed
  void raw(const void* data, size_t n) { out_.append(static_cast<const char*>(data), n); }
  void actor(const ActorId& a);
  void dot(const Dot& d);
  void dots(const DotSet& s);
  void dot_ranges(const DotRanges& s);  // the same encoding as dots()
  void timestamp(Timestamp t);
  void value(const Value& v);

  // Writes actors and timestamps as indexes into `t` (adding what is new), or in full when
  // `t` is null. `t` must outlive its use.
  void use_tables(CodecTables* t) { tables_ = t; }

  const std::string& data() const { return out_; }
  std::string take() { return std::move(out_); }
  void clear() { out_.clear(); }
  void reserve(size_t n) { out_.reserve(n); }

 private:
  std::string out_;
  CodecTables* tables_ = nullptr;
};

class ByteReader {
 public:
  explicit ByteReader(std::string_view in, std::string what = "input")
      : in_(in), what_(std::move(what)) {}

  uint8_t u8();
  uint64_t varint();
  int64_t svarint();
  std::string_view bytes();  // view into the input
  void raw(void* out, size_t n);
  ActorId actor();
  Dot dot();
  DotSet dots();
  DotRanges dot_ranges();  // reads what dots() reads
  Timestamp timestamp();
  Value value();
  // A count of items each at least `min_item_bytes` long: refused if the rest of the input
  // could not hold that many, so a forged count cannot trigger a huge allocation.
  uint64_t count(size_t min_item_bytes = 1);

  bool ok() const { return status_.is_ok(); }
  bool at_end() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }
  const Status& status() const { return status_; }
  // Reads actors and timestamps as indexes into `t` (an index out of range fails), or in full
  // when `t` is null.
  void use_tables(const CodecTables* t) { tables_ = t; }
  const CodecTables* tables() const { return tables_; }
  // The fewest bytes an actor takes in the input (for count()).
  size_t actor_bytes() const { return tables_ ? 1 : 16; }
  // Records a failure found by the caller ("unknown field kind 9") at the current offset.
  void fail(const std::string& why);
  // Ok when everything was consumed without error; otherwise names the problem.
  Status finish();

 private:
  bool need(size_t n);
  template <typename Add>
  void read_dots(Add add);
  template <typename T>
  T table_entry(const std::vector<T>& table, const char* what);

  std::string_view in_;
  std::string what_;
  size_t pos_ = 0;
  const CodecTables* tables_ = nullptr;
  Status status_;
};

}  // namespace birga::crdt
