// Test helpers for replicas on disk: a temporary directory, a test schema and ready replicas.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "birga/replica.h"

namespace birga::test {

// The unsigned integer in environment variable `name`, or `fallback` when unset.
inline uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : fallback;
}

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/birga-test-XXXXXX";
    path_ = mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A small schema with every field kind: "visit" (household indexed), "case" (mv guardian and
// status, log notes, set members, counter visits), "delivery" (immutable).
inline crdt::Schema test_schema() {
  using crdt::FieldKind;
  using crdt::ValueType;
  crdt::Schema s(1);
  crdt::CollectionSpec visit{"visit", {}, false};
  visit.add({"household", FieldKind::kLww, ValueType::kText, true})
      .add({"notes", FieldKind::kLww, ValueType::kText})
      .add({"date", FieldKind::kLww, ValueType::kInt})
      .add({"timeline", FieldKind::kLog, ValueType::kText});
  s.add(visit);
  crdt::CollectionSpec kase{"case", {}, false};
  kase.add({"guardian", FieldKind::kMv, ValueType::kText, true})
      .add({"status", FieldKind::kMv, ValueType::kText})
      .add({"members", FieldKind::kSet, ValueType::kText, false, false, false,
            /*flag_removals=*/true})
      .add({"visits", FieldKind::kCounter, ValueType::kAny})
      .add({"notes", FieldKind::kLog, ValueType::kText})
      .add({"title", FieldKind::kLww, ValueType::kText})
      .add({"address", FieldKind::kLww, ValueType::kText, false, /*flag_conflicts=*/true});
  s.add(kase);
  crdt::CollectionSpec delivery{"delivery", {}, true};
  delivery.add({"amount", FieldKind::kLww, ValueType::kInt})
      .add({"entitlement", FieldKind::kLww, ValueType::kText, true, false, /*required=*/true, false,
            /*alert_duplicates=*/true});
  s.add(delivery);
  return s;
}

inline ReplicaOptions test_options(std::string passphrase = "correct horse") {
  setenv("BIRGA_FAST_KDF", "1", 1);  // Argon2id at its minimum cost: tests only
  ReplicaOptions o;
  o.passphrase = std::move(passphrase);
  o.schema = test_schema();
  return o;
}

// The same key for a scope name in every replica of a test.
inline ScopeKey test_scope_key(const std::string& scope) {
  ScopeKey k;
  for (size_t i = 0; i < k.size(); ++i) {
    k[i] = static_cast<uint8_t>(scope[i % scope.size()] ^ (i * 37));
  }
  return k;
}

// Creates a replica in `dir` holding epoch 1 of the key of each scope in `scopes`.
inline std::unique_ptr<Replica> make_replica(const std::string& dir,
                                             std::initializer_list<std::string> scopes,
                                             ReplicaOptions options = test_options()) {
  auto r = Replica::create(dir, std::move(options));
  if (!r.is_ok()) return nullptr;
  for (const std::string& s : scopes) {
    if (!(*r)->add_scope_key(s, 1, test_scope_key(s)).is_ok()) return nullptr;
  }
  return std::move(*r);
}

}  // namespace birga::test
