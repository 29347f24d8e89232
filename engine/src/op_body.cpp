// encode_ops / decode_ops: the plaintext body of a change (schema OpBody in change.capnp).
#include <capnp/message.h>

#include <variant>

#include "capnp_util.h"
#include "change.capnp.h"
#include "sealed_change.h"

namespace birga::engine {
namespace {

using wire::Dot;
using wire::Op;
using wire::OpBody;

capnp::Text::Reader text_of(const std::string& s) {
  return capnp::Text::Reader(s.data(), s.size());
}
std::string to_string(capnp::Text::Reader t) {
  return std::string(t.begin(), t.size());
}

void write_value(const crdt::Value& v, Op::Value::Builder out) {
  if (const bool* b = std::get_if<bool>(&v)) {
    out.setBoolean(*b);
  } else if (const int64_t* i = std::get_if<int64_t>(&v)) {
    out.setInteger(*i);
  } else if (const std::string* s = std::get_if<std::string>(&v)) {
    out.setText(text_of(*s));
  } else {
    out.setNone();
  }
}

void write_op(const crdt::Op& op, Op::Builder out) {
  out.setCollection(text_of(op.collection));
  out.setRecord(data_of(op.record.bytes));
  out.setKind(static_cast<uint8_t>(op.kind));
  out.setField(text_of(op.field));
  write_value(op.value, out.getValue());
  auto observed = out.initObserved(static_cast<unsigned>(op.observed.size()));
  unsigned i = 0;
  for (const crdt::Dot& d : op.observed) {
    observed[i].setActor(data_of(d.actor.bytes));
    observed[i].setCounter(d.counter);
    ++i;
  }
  out.setIncTotal(op.inc_total);
  out.setDecTotal(op.dec_total);
}

Status read_value(Op::Value::Reader in, crdt::Value* out) {
  switch (in.which()) {
    case Op::Value::NONE:
      *out = std::monostate{};
      return Status::ok();
    case Op::Value::BOOLEAN:
      *out = in.getBoolean();
      return Status::ok();
    case Op::Value::INTEGER:
      *out = int64_t{in.getInteger()};
      return Status::ok();
    case Op::Value::TEXT:
      *out = to_string(in.getText());
      return Status::ok();
  }
  return Status::corrupt_input("unknown value type " + std::to_string(unsigned(in.which())));
}

// Reads op `index` of a change, giving it the derived dot and time.
Status read_op(Op::Reader in, size_t index, const ChangeHeader& h, crdt::Op* out) {
  const std::string where = "op " + std::to_string(index) + ": ";
  const uint8_t kind = in.getKind();
  if (kind < uint8_t(crdt::OpKind::kLwwWrite) || kind > uint8_t(crdt::OpKind::kRecordRestore)) {
    return Status::corrupt_input(where + "unknown op kind " + std::to_string(kind));
  }
  out->kind = static_cast<crdt::OpKind>(kind);
  const capnp::Data::Reader record = in.getRecord();
  if (record.size() != out->record.bytes.size()) {
    return Status::corrupt_input(where + "record id is " + std::to_string(record.size()) +
                                 " bytes, expected 16");
  }
  std::copy(record.begin(), record.end(), out->record.bytes.begin());
  out->collection = to_string(in.getCollection());
  out->field = to_string(in.getField());
  Status value = read_value(in.getValue(), &out->value);
  if (!value.is_ok()) return value.with_context("op " + std::to_string(index));
  for (Dot::Reader d : in.getObserved()) {
    crdt::Dot dot;
    const capnp::Data::Reader actor = d.getActor();
    if (actor.size() != dot.actor.bytes.size()) {
      return Status::corrupt_input(where + "observed dot actor is " + std::to_string(actor.size()) +
                                   " bytes, expected 16");
    }
    std::copy(actor.begin(), actor.end(), dot.actor.bytes.begin());
    dot.counter = d.getCounter();
    out->observed.insert(dot);
  }
  out->inc_total = in.getIncTotal();
  out->dec_total = in.getDecTotal();
  out->dot = op_dot(actor_of(h.author), h.seq, index);
  out->time = h.hlc;
  Status shape = out->check_shape();
  if (!shape.is_ok()) return Status::corrupt_input(where + shape.message());
  return Status::ok();
}

}  // namespace

crdt::Dot op_dot(const crdt::ActorId& author, uint64_t seq, size_t index) {
  return crdt::Dot{author, (seq << 20) | (uint64_t{index} + 1)};
}

Result<std::string> encode_ops(const std::vector<crdt::Op>& ops) {
  if (ops.size() > kMaxOpsPerChange) {
    return Status::invalid_argument("a change holds at most " + std::to_string(kMaxOpsPerChange) +
                                    " ops, got " + std::to_string(ops.size()));
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    crdt::Op probe = ops[i];
    probe.dot.counter = 1;  // dots are derived on decode; check the rest of the shape
    Status shape = probe.check_shape();
    if (!shape.is_ok()) return shape.with_context("op " + std::to_string(i));
  }
  capnp::MallocMessageBuilder message;
  auto list = message.initRoot<OpBody>().initOps(static_cast<unsigned>(ops.size()));
  for (size_t i = 0; i < ops.size(); ++i) write_op(ops[i], list[static_cast<unsigned>(i)]);
  return canonical_message(message.getRoot<OpBody>().asReader());
}

Result<std::vector<crdt::Op>> decode_ops(std::string_view body, const ChangeHeader& h) {
  if (h.seq == 0 || h.seq > kMaxChangeSeq) {
    return Status::corrupt_input("op body: change seq " + std::to_string(h.seq) + " out of range");
  }
  std::vector<crdt::Op> ops;
  // An honest canonical body is visited once (each list and text read once); twice that plus
  // a little slack bounds what a hostile body can make the reader walk.
  const MessageLimits limits{2 * (body.size() / 8) + 1024, 8};
  Status st = read_message(body, limits, "op body", [&](capnp::MessageReader& reader) {
    auto list = reader.getRoot<OpBody>().getOps();
    if (list.size() > kMaxOpsPerChange) {
      return Status::corrupt_input("op body: " + std::to_string(list.size()) + " ops, at most " +
                                   std::to_string(kMaxOpsPerChange) + " allowed");
    }
    ops.resize(list.size());
    for (unsigned i = 0; i < list.size(); ++i) {
      BIRGA_RETURN_IF_ERROR(read_op(list[i], i, h, &ops[i]));
    }
    return Status::ok();
  });
  if (!st.is_ok()) return st;
  return ops;
}

}  // namespace birga::engine
