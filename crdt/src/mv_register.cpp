#include "birga/crdt/mv_register.h"

namespace birga::crdt {

void MvRegister::apply(const MvWrite& op) {
  store_.remove(op.observed);
  store_.add(op.dot, op.value);
}

void MvRegister::merge(const MvRegister& other) {
  store_.merge(other.store_);
}

std::vector<Value> MvRegister::values() const {
  std::vector<Value> out;
  for (const auto& e : store_.entries()) out.push_back(e.second);
  return out;
}

void MvRegister::encode(ByteWriter& w) const {
  store_.encode(w, [](ByteWriter& bw, const Value& v) { bw.value(v); });
}

MvRegister MvRegister::decode(ByteReader& r) {
  MvRegister reg;
  reg.store_ = DotStore<Value>::decode(r, [](ByteReader& br) { return br.value(); });
  return reg;
}

}  // namespace birga::crdt
