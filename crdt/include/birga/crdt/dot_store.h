// DotStore<T>: the observed-remove kernel shared by the multi-value register, the add-wins
// set and record deletion.
//
// Each add puts a payload under a fresh dot. A remove names the dots it observed; they are
// remembered in `removed`, so a remove that arrives before its add still wins over exactly
// that add and over nothing else. The live entries are the added dots that no remove named.
// Applying adds and removes in any order, any number of times, gives the same state:
//   state = ({adds} minus removed, removed).
//
// Known cost: `removed` grows with every overwrite. It can be compacted once every replica is
// known to have seen a dot (causal stability); Birga does not do that yet.
//
// Thread rule: plain value.
#pragma once

#include <map>
#include <utility>

#include "birga/crdt/codec.h"
#include "birga/crdt/dot.h"

namespace birga::crdt {

template <typename T>
class DotStore {
 public:
  void add(const Dot& dot, T payload) {
    if (removed_.count(dot)) return;
    entries_.emplace(dot, std::move(payload));
  }

  void remove(const DotSet& dots) {
    for (const Dot& d : dots) {
      removed_.insert(d);
      entries_.erase(d);
    }
  }

  void merge(const DotStore& other) {
    remove(other.removed_);
    for (const auto& [dot, payload] : other.entries_) add(dot, payload);
  }

  const std::map<Dot, T>& entries() const { return entries_; }
  const DotSet& removed() const { return removed_; }
  bool empty() const { return entries_.empty(); }

  DotSet live_dots() const {
    DotSet s;
    for (const auto& e : entries_) s.insert(s.end(), e.first);
    return s;
  }

  // Canonical encoding: the live entries in dot order, then the removed dots.
  template <typename EncodePayload>
  void encode(ByteWriter& w, EncodePayload encode_payload) const {
    w.varint(entries_.size());
    for (const auto& [dot, payload] : entries_) {
      w.dot(dot);
      encode_payload(w, payload);
    }
    w.dots(removed_);
  }

  template <typename DecodePayload>
  static DotStore decode(ByteReader& r, DecodePayload decode_payload) {
    DotStore s;
    const uint64_t n = r.count(r.actor_bytes() + 2);
    for (uint64_t i = 0; i < n && r.ok(); ++i) {
      Dot d = r.dot();
      T payload = decode_payload(r);
      s.entries_.emplace(d, std::move(payload));
    }
    s.removed_ = r.dots();
    for (const Dot& d : s.removed_) {
      if (s.entries_.count(d)) r.fail("dot store holds a removed dot");
    }
    return s;
  }

  friend bool operator==(const DotStore&, const DotStore&) = default;

 private:
  std::map<Dot, T> entries_;
  DotSet removed_;
};

}  // namespace birga::crdt
