#include "birga/crdt/append_log.h"

#include <tuple>

namespace birga::crdt {

void AppendLog::apply(const LogAppend& op) {
  if (ids_.count(op.id)) {
    // Same id seen again. For honest replicas it is the same entry; if a forged one differs,
    // keep the smaller (time, payload) so every replica keeps the same one.
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first.second != op.id) continue;
      if (std::tie(op.time, op.payload) < std::tie(it->first.first, it->second)) {
        entries_.erase(it);
        entries_.emplace(std::make_pair(op.time, op.id), op.payload);
      }
      return;
    }
    return;
  }
  ids_.insert(op.id);
  entries_.emplace(std::make_pair(op.time, op.id), op.payload);
}

void AppendLog::merge(const AppendLog& other) {
  for (const auto& [key, payload] : other.entries_)
    apply(LogAppend{key.second, key.first, payload});
}

std::vector<LogAppend> AppendLog::entries() const {
  std::vector<LogAppend> out;
  out.reserve(entries_.size());
  for (const auto& [key, payload] : entries_) out.push_back({key.second, key.first, payload});
  return out;
}

void AppendLog::encode(ByteWriter& w) const {
  w.varint(entries_.size());
  for (const auto& [key, payload] : entries_) {
    w.timestamp(key.first);
    w.dot(key.second);
    w.value(payload);
  }
}

AppendLog AppendLog::decode(ByteReader& r) {
  AppendLog log;
  const uint64_t n = r.count(r.actor_bytes() + 3);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    LogAppend e;
    e.time = r.timestamp();
    e.id = r.dot();
    e.payload = r.value();
    log.apply(e);
  }
  return log;
}

}  // namespace birga::crdt
