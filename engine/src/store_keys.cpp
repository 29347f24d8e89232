#include "store_keys.h"

#include <cstring>

namespace birga::engine {

void put_be64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}

void put_be32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t get_be64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<uint8_t>(in[i]);
  return v;
}

uint32_t get_be32(std::string_view in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | static_cast<uint8_t>(in[i]);
  return v;
}

Status check_name(std::string_view what, std::string_view name) {
  if (name.empty()) return Status::invalid_argument(std::string(what) + " is empty");
  if (name.size() > kMaxNameBytes) {
    return Status::invalid_argument(std::string(what) + " '" + std::string(name.substr(0, 40)) +
                                    "...' is longer than 255 bytes");
  }
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Status::invalid_argument(std::string(what) + " contains a control character");
    }
  }
  return Status::ok();
}

std::string scope_prefix(std::string_view scope) {
  std::string k;
  k.push_back(static_cast<char>(scope.size()));
  k.append(scope);
  return k;
}

std::string author_key(std::string_view scope, const crdt::ActorId& actor) {
  std::string k = scope_prefix(scope);
  k.append(reinterpret_cast<const char*>(actor.bytes.data()), actor.bytes.size());
  return k;
}

std::string change_key(std::string_view scope, const crdt::ActorId& actor, uint64_t seq) {
  std::string k = author_key(scope, actor);
  put_be64(k, seq);
  return k;
}

bool parse_change_key(std::string_view key, ChangeKey* out) {
  if (key.empty()) return false;
  const size_t n = static_cast<uint8_t>(key[0]);
  if (key.size() != 1 + n + 16 + 8) return false;
  out->scope.assign(key.substr(1, n));
  std::memcpy(out->actor.bytes.data(), key.data() + 1 + n, 16);
  out->seq = get_be64(key.substr(1 + n + 16));
  return true;
}

std::string collection_prefix(std::string_view collection) {
  return scope_prefix(collection);
}

std::string record_key(std::string_view collection, const crdt::RecordId& id) {
  std::string k = collection_prefix(collection);
  k.append(reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size());
  return k;
}

bool parse_record_key(std::string_view key, std::string* collection, crdt::RecordId* id) {
  if (key.empty()) return false;
  const size_t n = static_cast<uint8_t>(key[0]);
  if (key.size() != 1 + n + 16) return false;
  collection->assign(key.substr(1, n));
  std::memcpy(id->bytes.data(), key.data() + 1 + n, 16);
  return true;
}

std::string scope_key_key(std::string_view scope, uint32_t epoch) {
  std::string k = scope_prefix(scope);
  put_be32(k, epoch);
  return k;
}

}  // namespace birga::engine
