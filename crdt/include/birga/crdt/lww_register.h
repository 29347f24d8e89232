// LwwRegister: last writer wins. The write with the greatest (HLC time, actor) holds; on the
// (impossible for honest replicas) tie of both, the greater value, so the result never depends
// on arrival order.
//
// Thread rule: plain value.
#pragma once

#include "birga/crdt/codec.h"
#include "birga/crdt/dot.h"
#include "birga/crdt/hlc.h"
#include "birga/crdt/value.h"

namespace birga::crdt {

struct LwwWrite {
  Timestamp time;
  ActorId actor;
  Value value;
};

class LwwRegister {
 public:
  void apply(const LwwWrite& op);
  void apply(LwwWrite&& op);  // the same, taking the value over
  void merge(const LwwRegister& other);

  bool is_set() const { return set_; }
  const Value& value() const { return current_.value; }
  Timestamp time() const { return current_.time; }
  const ActorId& actor() const { return current_.actor; }

  void encode(ByteWriter& w) const;
  static LwwRegister decode(ByteReader& r);

  friend bool operator==(const LwwRegister& a, const LwwRegister& b) {
    return a.set_ == b.set_ && a.current_.time == b.current_.time &&
           a.current_.actor == b.current_.actor && a.current_.value == b.current_.value;
  }

 private:
  bool set_ = false;
  LwwWrite current_;
};

}  // namespace birga::crdt
