// MvRegister: the multi-value register, for facts a person must reconcile (a child's
// guardian, a case's status).
//
// A write names the dots of the values it observed. Values that no later write observed stay
// side by side: after two concurrent writes values() holds both and is_conflicted() is true.
// A resolving write that observed all of them replaces them all. Nothing is ever chosen
// silently.
//
// Thread rule: plain value.
#pragma once

#include <vector>

#include "birga/crdt/dot_store.h"
#include "birga/crdt/hlc.h"
#include "birga/crdt/value.h"

namespace birga::crdt {

struct MvWrite {
  Dot dot;  // this write's id
  Value value;
  DotSet observed;  // the dots of the values this write replaces (dots() at the writer)
  Timestamp time;   // the writer's HLC time (orders values for latest())
};

class MvRegister {
 public:
  void apply(const MvWrite& op);
  void merge(const MvRegister& other);

  // The current values, in dot order (deterministic on every replica).
  std::vector<Value> values() const;
  // The value written last by (HLC time, dot) among the current ones: what an lww field whose
  // conflicts are flagged shows while it waits for review. REQUIRES: is_set().
  const Value& latest() const;
  // The dots of the current values: what a new write on this replica observes.
  DotSet dots() const { return store_.live_dots(); }
  std::map<Dot, Value> entries() const;
  // More than one distinct value: concurrent writes of the same value are no conflict.
  bool is_conflicted() const;
  bool is_set() const { return !store_.empty(); }

  void encode(ByteWriter& w) const;
  static MvRegister decode(ByteReader& r);
  friend bool operator==(const MvRegister&, const MvRegister&) = default;

 private:
  struct Entry {
    Timestamp time;
    Value value;
    friend bool operator==(const Entry&, const Entry&) = default;
  };
  DotStore<Entry> store_;
};

}  // namespace birga::crdt
