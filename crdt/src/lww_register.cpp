#include "birga/crdt/lww_register.h"

#include <tuple>

namespace birga::crdt {

namespace {
bool wins(const LwwWrite& op, bool set, const LwwWrite& current) {
  return !set || std::tie(op.time, op.actor, op.value) >
                     std::tie(current.time, current.actor, current.value);
}
}  // namespace

void LwwRegister::apply(const LwwWrite& op) {
  if (!wins(op, set_, current_)) return;
  current_ = op;
  set_ = true;
}

void LwwRegister::apply(LwwWrite&& op) {
  if (!wins(op, set_, current_)) return;
  current_ = std::move(op);
  set_ = true;
}

void LwwRegister::merge(const LwwRegister& other) {
  if (other.set_) apply(other.current_);
}

void LwwRegister::encode(ByteWriter& w) const {
  w.u8(set_ ? 1 : 0);
  if (!set_) return;
  w.timestamp(current_.time);
  w.actor(current_.actor);
  w.value(current_.value);
}

LwwRegister LwwRegister::decode(ByteReader& r) {
  LwwRegister reg;
  const uint8_t set = r.u8();
  if (set > 1) r.fail("bad lww flag");
  if (set != 1) return reg;
  reg.set_ = true;
  reg.current_.time = r.timestamp();
  reg.current_.actor = r.actor();
  reg.current_.value = r.value();
  return reg;
}

}  // namespace birga::crdt
