#include "birga/crdt/aw_set.h"

#include <set>

namespace birga::crdt {

bool AwSet::contains(const Value& element) const {
  for (const auto& e : store_.entries()) {
    if (e.second == element) return true;
  }
  return false;
}

std::vector<Value> AwSet::elements() const {
  std::set<Value> distinct;
  for (const auto& e : store_.entries()) distinct.insert(e.second);
  return {distinct.begin(), distinct.end()};
}

DotSet AwSet::dots_of(const Value& element) const {
  DotSet s;
  for (const auto& [dot, value] : store_.entries()) {
    if (value == element) s.insert(dot);
  }
  return s;
}

void AwSet::encode(ByteWriter& w) const {
  store_.encode(w, [](ByteWriter& bw, const Value& v) { bw.value(v); });
}

AwSet AwSet::decode(ByteReader& r) {
  AwSet s;
  s.store_ = DotStore<Value>::decode(r, [](ByteReader& br) { return br.value(); });
  return s;
}

}  // namespace birga::crdt
