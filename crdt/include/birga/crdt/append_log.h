// AppendLog: an append-only timeline (visit notes, case decisions, consent records).
//
// Entries (id, HLC time, payload) are kept in (time, id) order; an entry whose id is already
// present is ignored, so re-delivery never duplicates a note. Nothing is ever removed.
//
// Thread rule: plain value.
#pragma once

#include <map>
#include <utility>
#include <vector>

#include "birga/crdt/codec.h"
#include "birga/crdt/dot.h"
#include "birga/crdt/hlc.h"
#include "birga/crdt/value.h"

namespace birga::crdt {

struct LogAppend {
  Dot id;
  Timestamp time;
  Value payload;
};

class AppendLog {
 public:
  void apply(const LogAppend& op);
  void merge(const AppendLog& other);

  // Entries in (time, id) order.
  std::vector<LogAppend> entries() const;
  size_t size() const { return entries_.size(); }

  void encode(ByteWriter& w) const;
  static AppendLog decode(ByteReader& r);
  friend bool operator==(const AppendLog&, const AppendLog&) = default;

 private:
  // Keyed by (time, id); `ids_` finds an id already present under another time (a forged
  // duplicate), which is ignored like any duplicate.
  std::map<std::pair<Timestamp, Dot>, Value> entries_;
  DotSet ids_;
};

}  // namespace birga::crdt
