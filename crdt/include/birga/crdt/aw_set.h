// AwSet: the add-wins (observed-remove) set, for household members and similar lists.
//
// Each add tags its element with a fresh dot. A remove names the dots of the element it
// observed, so an add concurrent with a remove survives (add wins), and a remove that arrives
// before the add it observed still removes it.
//
// Thread rule: plain value.
#pragma once

#include <vector>

#include "birga/crdt/dot_store.h"
#include "birga/crdt/value.h"

namespace birga::crdt {

struct SetAdd {
  Dot dot;
  Value element;
};

struct SetRemove {
  DotSet observed;  // dots_of(element) at the remover
};

class AwSet {
 public:
  void apply(const SetAdd& op) { store_.add(op.dot, op.element); }
  void apply(const SetRemove& op) { store_.remove(op.observed); }
  void merge(const AwSet& other) { store_.merge(other.store_); }

  bool contains(const Value& element) const;
  // The distinct elements present, in value order.
  std::vector<Value> elements() const;
  // The dots under which `element` is present: what a remove of it observes.
  DotSet dots_of(const Value& element) const;
  // Dots of removes ever applied (lets a reader flag removed members for review).
  const DotSet& removed_dots() const { return store_.removed(); }

  void encode(ByteWriter& w) const;
  static AwSet decode(ByteReader& r);
  friend bool operator==(const AwSet&, const AwSet&) = default;

 private:
  DotStore<Value> store_;
};

}  // namespace birga::crdt
