#include "birga/crdt/mv_register.h"

#include <algorithm>
#include <tuple>

namespace birga::crdt {

void MvRegister::apply(const MvWrite& op) {
  store_.remove(op.observed);
  store_.add(op.dot, Entry{op.time, op.value});
}

void MvRegister::merge(const MvRegister& other) {
  store_.merge(other.store_);
}

std::vector<Value> MvRegister::values() const {
  std::vector<Value> out;
  for (const auto& e : store_.entries()) out.push_back(e.second.value);
  return out;
}

std::map<Dot, Value> MvRegister::entries() const {
  std::map<Dot, Value> out;
  for (const auto& [dot, e] : store_.entries()) out.emplace(dot, e.value);
  return out;
}

bool MvRegister::is_conflicted() const {
  const auto& e = store_.entries();
  if (e.size() < 2) return false;
  const Value& first = e.begin()->second.value;
  return std::any_of(std::next(e.begin()), e.end(),
                     [&](const auto& entry) { return entry.second.value != first; });
}

const Value& MvRegister::latest() const {
  auto best = store_.entries().begin();
  for (auto it = best; it != store_.entries().end(); ++it) {
    if (std::tie(it->second.time, it->first) > std::tie(best->second.time, best->first)) best = it;
  }
  return best->second.value;
}

void MvRegister::encode(ByteWriter& w) const {
  store_.encode(w, [](ByteWriter& bw, const Entry& e) {
    bw.timestamp(e.time);
    bw.value(e.value);
  });
}

MvRegister MvRegister::decode(ByteReader& r) {
  MvRegister reg;
  reg.store_ = DotStore<Entry>::decode(r, [](ByteReader& br) {
    Entry e;
    e.time = br.timestamp();
    e.value = br.value();
    return e;
  });
  return reg;
}

}  // namespace birga::crdt
