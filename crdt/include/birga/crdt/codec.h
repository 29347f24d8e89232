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
#include <string>
#include <string_view>

#include "birga/crdt/dot.h"
#include "birga/crdt/hlc.h"
#include "birga/crdt/value.h"
#include "birga/status.h"

namespace birga::crdt {

class ByteWriter {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void varint(uint64_t v);
  void svarint(int64_t v);         // zigzag
  void bytes(std::string_view s);  // length-prefixed
  void raw(const void* data, size_t n) { out_.append(static_cast<const char*>(data), n); }
  void actor(const ActorId& a) { raw(a.bytes.data(), a.bytes.size()); }
  void dot(const Dot& d);
  void dots(const DotSet& s);
  void timestamp(Timestamp t) { varint(t.packed()); }
  void value(const Value& v);

  const std::string& data() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
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
  Timestamp timestamp() { return Timestamp::from_packed(varint()); }
  Value value();
  // A count of items each at least `min_item_bytes` long: refused if the rest of the input
  // could not hold that many, so a forged count cannot trigger a huge allocation.
  uint64_t count(size_t min_item_bytes = 1);

  bool ok() const { return status_.is_ok(); }
  bool at_end() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }
  const Status& status() const { return status_; }
  // Records a failure found by the caller ("unknown field kind 9") at the current offset.
  void fail(const std::string& why);
  // Ok when everything was consumed without error; otherwise names the problem.
  Status finish();

 private:
  bool need(size_t n);

  std::string_view in_;
  std::string what_;
  size_t pos_ = 0;
  Status status_;
};

}  // namespace birga::crdt
