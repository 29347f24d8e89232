#include "birga/crdt/dataset.h"

#include "birga/crdt/sha256.h"

namespace birga::crdt {
namespace {

void encode_records(ByteWriter& w, const Dataset::Collection& records) {
  w.varint(records.size());
  for (const auto& [id, record] : records) {
    w.raw(id.bytes.data(), id.bytes.size());
    record.encode(w);
  }
}

}  // namespace

Status Dataset::apply(const Op& op) {
  BIRGA_RETURN_IF_ERROR(op.check_shape());
  return collections_[op.collection][op.record].apply(op);
}

void Dataset::merge(const Dataset& other) {
  for (const auto& [name, records] : other.collections_) {
    Collection& mine = collections_[name];
    for (const auto& [id, record] : records) mine[id].merge(record);
  }
}

const Record* Dataset::find(const std::string& coll, const RecordId& id) const {
  const Collection* c = collection(coll);
  if (!c) return nullptr;
  auto it = c->find(id);
  return it == c->end() ? nullptr : &it->second;
}

const Dataset::Collection* Dataset::collection(const std::string& name) const {
  auto it = collections_.find(name);
  return it == collections_.end() ? nullptr : &it->second;
}

std::string Dataset::encode_collection(const std::string& name) const {
  ByteWriter w;
  const Collection* c = collection(name);
  encode_records(w, c ? *c : Collection());
  return w.take();
}

std::string Dataset::encode() const {
  ByteWriter w;
  w.varint(collections_.size());
  for (const auto& [name, records] : collections_) {
    w.bytes(name);
    encode_records(w, records);
  }
  return w.take();
}

std::string Dataset::hash_hex() const {
  return Sha256::hex(Sha256::digest(encode()));
}

}  // namespace birga::crdt
