// Dataset: collections of records held in memory, with canonical encodings and hashes.
//
// The in-memory replica of the CRDT layer: what the property tests converge and what the
// engine's materialised store must agree with. Two datasets that have applied the same set
// of ops, in any order and with any duplicates, have byte-identical canonical encodings.
//
// Canonical encoding of a collection: varint record count, then per record in id order the
// 16 id bytes and the record's encoding (Record::encode). Of a dataset: varint collection
// count, then per collection in name order its name (length-prefixed) and its encoding.
//
// Thread rule: plain value.
#pragma once

#include <array>
#include <map>
#include <string>

#include "birga/crdt/op.h"
#include "birga/crdt/record.h"
#include "birga/status.h"

namespace birga::crdt {

class Dataset {
 public:
  using Collection = std::map<RecordId, Record>;

  // Applies one op to the record it names (creating the record and collection as needed).
  Status apply(const Op& op);
  void merge(const Dataset& other);

  const Record* find(const std::string& collection, const RecordId& id) const;
  const Collection* collection(const std::string& name) const;
  const std::map<std::string, Collection>& collections() const { return collections_; }

  std::string encode_collection(const std::string& name) const;
  std::string encode() const;
  // SHA-256 of encode(), as 64 hex digits.
  std::string hash_hex() const;
  friend bool operator==(const Dataset&, const Dataset&) = default;

 private:
  std::map<std::string, Collection> collections_;
};

}  // namespace birga::crdt
