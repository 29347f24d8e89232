// Key encodings of the replica's LMDB tables (docs/storage.md is the reference).
//
// Integers in keys are big-endian so that LMDB's byte order is numeric order. A scope or a
// collection name in a key is one length byte then the bytes, so no name is a prefix of
// another's key range.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "birga/crdt/dot.h"
#include "birga/crdt/op.h"
#include "birga/status.h"

namespace birga::engine {

constexpr size_t kMaxNameBytes = crdt::kMaxNameBytes;  // scope paths, collection names

void put_be64(std::string& out, uint64_t v);
void put_be32(std::string& out, uint32_t v);
uint64_t get_be64(std::string_view in);  // REQUIRES: in.size() >= 8
uint32_t get_be32(std::string_view in);  // REQUIRES: in.size() >= 4

// Ok when `name` is 1..255 bytes with no control characters; names what was wrong otherwise.
Status check_name(std::string_view what, std::string_view name);

// u8 len || scope
std::string scope_prefix(std::string_view scope);
// scope_prefix || actor(16): kHeads key, and prefix of an author's changes.
std::string author_key(std::string_view scope, const crdt::ActorId& actor);
// author_key || seq(be64): kChanges, kPending, kUnapplied key.
std::string change_key(std::string_view scope, const crdt::ActorId& actor, uint64_t seq);

struct ChangeKey {
  std::string scope;
  crdt::ActorId actor;
  uint64_t seq = 0;
};
// Parses a change_key; false when malformed.
bool parse_change_key(std::string_view key, ChangeKey* out);

// u8 len || collection || id(16): record tables and kConflicts key; kFeed and kIndex value.
std::string record_key(std::string_view collection, const crdt::RecordId& id);
bool parse_record_key(std::string_view key, std::string* collection, crdt::RecordId* id);
// u8 len || collection: prefix of every record of a collection.
std::string collection_prefix(std::string_view collection);

// scope_prefix || epoch(be32): kScopeKeys key.
std::string scope_key_key(std::string_view scope, uint32_t epoch);

}  // namespace birga::engine
