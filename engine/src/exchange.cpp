// Exchange and verification: what a replica holds of a scope, what a peer lacks, and the
// consistency check of the whole store.
#include <algorithm>
#include <set>

#include "birga/crdt/sha256.h"
#include "record_batch.h"
#include "replica_impl.h"
#include "store_keys.h"
#include "zstd_context.h"

namespace birga {

using engine::Table;
using engine::Txn;

Status for_each_head(
    const Txn& txn, const std::optional<std::string>& scope,
    const std::function<bool(std::string_view, const crdt::ActorId&, const Head&)>& fn) {
  const std::string prefix = scope ? engine::scope_prefix(*scope) : std::string();
  Status inner;
  BIRGA_RETURN_IF_ERROR(
      txn.scan(Table::kHeads, prefix, [&](std::string_view k, std::string_view v) {
        const size_t n = k.empty() ? 0 : static_cast<uint8_t>(k[0]);
        if (k.size() != 1 + n + 16 || v.size() != 40) {
          inner = Status::data_loss("malformed head entry" +
                                    (scope ? " in scope '" + *scope + "'" : std::string()));
          return false;
        }
        crdt::ActorId actor;
        std::copy(k.begin() + 1 + n, k.end(), actor.bytes.begin());
        Head head;
        head.seq = engine::get_be64(v);
        std::copy(v.begin() + 8, v.end(), head.hash.begin());
        return fn(k.substr(1, n), actor, head);
      }));
  return inner;
}

Result<std::vector<std::string>> Replica::scopes() const {
  std::set<std::string> found;
  Status s = impl_->env->read([&](const Txn& txn) {
    return txn.scan(Table::kHeads, "", [&](std::string_view k, std::string_view) {
      const size_t n = static_cast<uint8_t>(k[0]);
      if (k.size() > n) found.emplace(k.substr(1, n));
      return true;
    });
  });
  if (!s.is_ok()) return s;
  for (const auto& [scope, epochs] : impl_->scope_keys) found.insert(scope);
  return std::vector<std::string>(found.begin(), found.end());
}

Result<std::map<crdt::ActorId, Head>> Replica::heads(const std::string& scope) const {
  std::map<crdt::ActorId, Head> out;
  Status s = impl_->env->read([&](const Txn& txn) {
    return for_each_head(txn, scope, [&](std::string_view, const crdt::ActorId& a, const Head& h) {
      out[a] = h;
      return true;
    });
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<crdt::VersionVector> Replica::version_vector(const std::string& scope) const {
  auto h = heads(scope);
  if (!h.is_ok()) return h.status();
  crdt::VersionVector vv;
  for (const auto& [actor, head] : *h) vv.advance(actor, head.seq);
  return vv;
}

Result<std::optional<std::string>> Replica::Impl::change_at(const std::string& scope,
                                                            const crdt::ActorId& actor,
                                                            uint64_t seq) const {
  std::optional<std::string> out;
  Status s = env->read([&](const Txn& txn) -> Status {
    auto v = txn.get(Table::kChanges, engine::change_key(scope, actor, seq));
    if (!v.is_ok()) return v.status();
    if (*v) out = std::string(**v);
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<std::vector<std::string>> Replica::export_missing(const std::string& scope,
                                                         const crdt::VersionVector& peer,
                                                         size_t max_bytes) const {
  std::vector<std::string> out;
  size_t bytes = 0;
  Status s = impl_->env->read([&](const Txn& txn) -> Status {
    std::vector<std::pair<crdt::ActorId, Head>> behind;
    BIRGA_RETURN_IF_ERROR(
        for_each_head(txn, scope, [&](std::string_view, const crdt::ActorId& a, const Head& h) {
          if (h.seq > peer.get(a)) behind.emplace_back(a, h);
          return true;
        }));
    for (const auto& [actor, head] : behind) {
      const uint64_t from_seq = peer.get(actor) + 1;
      const std::string from = engine::change_key(scope, actor, from_seq);
      // A revoked device's changes from the first made at or after its revocation on are
      // refused by every node that knows of it: this one took them before it knew, and does
      // not pass them on (the revoked_held alert names them).
      uint64_t last = head.seq;
      if (scope != kControlScope) {
        auto first = txn.get(Table::kChanges, from);
        if (!first.is_ok()) return first.status();
        auto h = *first ? engine::read_header(**first)
                        : Result<engine::OpenedHeader>(Status::data_loss("missing"));
        if (!h.is_ok()) {
          return Status::data_loss("change " + std::to_string(from_seq) + " of a chain in scope '" +
                                   scope + "' is missing or does not parse");
        }
        auto revoked = impl_->revoked_ms_of(txn, h->header.author);
        if (!revoked.is_ok()) return revoked.status();
        if (*revoked) {
          auto cut = Replica::Impl::first_after_revocation(txn, scope, actor, from_seq, head.seq,
                                                           **revoked);
          if (!cut.is_ok()) return cut.status();
          last = *cut - 1;
        }
      }
      bool full = false;
      BIRGA_RETURN_IF_ERROR(txn.scan(
          Table::kChanges, engine::author_key(scope, actor),
          [&](std::string_view k, std::string_view v) {
            if (engine::get_be64(k.substr(k.size() - 8)) > last) return false;
            if (!out.empty() && bytes + v.size() > max_bytes) {
              full = true;
              return false;
            }
            bytes += v.size();
            out.emplace_back(v);
            return true;
          },
          from));
      if (full) break;
    }
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<std::string> Replica::state_hash(const std::string& scope) const {
  crdt::Sha256 hash;
  Status s = impl_->env->read([&](const Txn& txn) -> Status {
    // In record key order, whichever tables the collections live in (lmdb_env.h): blocks
    // never overlap, so their keys order them.
    std::vector<std::pair<std::string_view, std::string_view>> blocks;
    auto tables = txn.record_tables();
    if (!tables.is_ok()) return tables.status();
    for (const engine::RecordTable& t : *tables) {
      BIRGA_RETURN_IF_ERROR(txn.scan(t, "", [&](std::string_view k, std::string_view v) {
        blocks.emplace_back(k, v);
        return true;
      }));
    }
    std::sort(blocks.begin(), blocks.end());
    std::string last_key;
    for (const auto& [k, v] : blocks) {
      BIRGA_RETURN_IF_ERROR(impl_->visit_block(txn, k, v, &last_key,
                                               [&](std::string_view rkey, Impl::StoredRecord& rec) {
                                                 if (rec.scope != scope) return Status::ok();
                                                 crdt::ByteWriter w;
                                                 w.bytes(rkey);
                                                 rec.state.encode(w);
                                                 hash.update(w.data());
                                                 return Status::ok();
                                               }));
    }
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return crdt::Sha256::hex(hash.finish());
}

// ---- verify -------------------------------------------------------------------------------

namespace {

Status verify_chains(const Txn& txn) {
  Status problem;
  std::string last_author;
  uint64_t expect_seq = 1;
  engine::ChangeId prev{};
  BIRGA_RETURN_IF_ERROR(txn.scan(Table::kChanges, "", [&](std::string_view k, std::string_view v) {
    engine::ChangeKey ck;
    if (!engine::parse_change_key(k, &ck)) {
      problem = Status::data_loss("malformed key in the change log");
      return false;
    }
    const std::string author(k.substr(0, k.size() - 8));
    if (author != last_author) {
      last_author = author;
      expect_seq = 1;
      prev = {};
    }
    const std::string where = "change " + std::to_string(ck.seq) + " of scope '" + ck.scope + "'";
    auto v2 = engine::verify_change(v);
    if (!v2.is_ok()) {
      problem = Status::data_loss(where + " fails verification: " + v2.status().message());
      return false;
    }
    const engine::ChangeHeader& h = v2->header;
    if (h.seq != ck.seq || h.scope != ck.scope || engine::actor_of(h.author) != ck.actor) {
      problem = Status::data_loss(where + " is stored under the wrong key");
      return false;
    }
    if (ck.seq != expect_seq || h.prev_hash != prev) {
      problem = Status::data_loss(where + " breaks its author's chain");
      return false;
    }
    prev = v2->id;
    ++expect_seq;
    // The head must name this change when it is the last one held.
    auto head = read_head(txn, ck.scope, ck.actor);
    if (!head.is_ok() || head->seq < ck.seq || (head->seq == ck.seq && head->hash != v2->id)) {
      problem = Status::data_loss(where + " disagrees with its head entry");
      return false;
    }
    return true;
  }));
  BIRGA_RETURN_IF_ERROR(problem);
  // Every head must have its full chain.
  BIRGA_RETURN_IF_ERROR(txn.scan(Table::kHeads, "", [&](std::string_view k, std::string_view v) {
    if (v.size() != 40) {
      problem = Status::data_loss("malformed head entry");
      return false;
    }
    std::string key(k);
    engine::put_be64(key, engine::get_be64(v));
    auto held = txn.get(Table::kChanges, key);
    if (!held.is_ok() || !*held) {
      problem = Status::data_loss("a head names a change the log does not hold");
      return false;
    }
    return true;
  }));
  return problem;
}

Status verify_records(const Replica::Impl& impl, const Txn& txn) {
  BIRGA_RETURN_IF_ERROR(txn.check_record_tables());
  auto tables = txn.record_tables();
  if (!tables.is_ok()) return tables.status();
  auto check = [&](const engine::RecordTable& t, std::string_view k,
                   const Replica::Impl::StoredRecord& rec) {
    crdt::RecordId id;
    auto home = Replica::Impl::home_table(txn, k, &id);
    if (!home.is_ok()) return home.status();
    if (*home != t) return Status::data_loss("a record is stored outside its collection's table");
    auto flagged = txn.get(Table::kConflicts, k);
    if (!flagged.is_ok() || flagged->has_value() != rec.state.is_conflicted()) {
      return Status::data_loss("conflict set disagrees with a record");
    }
    if (rec.feed_pos == 0) return Status::data_loss("a record has no change feed position");
    // Its feed entry: its own at its position, or that of the range it is stored in, at or
    // below its position.
    std::string pos;
    engine::put_be64(pos, rec.feed_pos);
    auto fed = txn.floor(Table::kFeed, pos);
    Replica::Impl::FeedEntry e;
    if (!fed.is_ok() || !*fed || (*fed)->key.size() != 8 ||
        !Replica::Impl::parse_feed_entry((*fed)->value, &e) ||
        (e.range ? engine::get_be64((*fed)->key) + e.count <= rec.feed_pos || k < e.rkey
                 : (*fed)->key != pos || e.rkey != k)) {
      return Status::data_loss("change feed disagrees with a record");
    }
    return Status::ok();
  };
  uint64_t records = 0;
  for (const engine::RecordTable& t : *tables) {
    BIRGA_RETURN_IF_ERROR(
        impl.scan_records(txn, t, "", [&](std::string_view k, Replica::Impl::StoredRecord& rec) {
          ++records;
          return check(t, k, rec);
        }));
  }
  // Each record names its own feed entry (above): with as many entries as records, no entry
  // names a record the store lost (a block deleted, or put back as it was before records
  // joined it).
  uint64_t fed = 0;
  bool malformed = false;
  BIRGA_RETURN_IF_ERROR(txn.scan(Table::kFeed, "", [&](std::string_view k, std::string_view v) {
    Replica::Impl::FeedEntry e;
    malformed = k.size() != 8 || !Replica::Impl::parse_feed_entry(v, &e);
    fed += e.count;
    return !malformed;
  }));
  if (malformed) return Status::data_loss("malformed change feed entry");
  if (fed != records) {
    return Status::data_loss("the change feed names " +
                             std::to_string(fed - std::min(fed, records)) +
                             " records the store does not hold (a record block is missing or "
                             "older than its records)");
  }
  return Status::ok();
}

}  // namespace

Status Replica::release_memory() const {
  engine::CompressContext::release_idle();
  engine::DecompressContext::release_idle();
  return impl_->env->release_pages();
}

Status Replica::verify() const {
  return impl_->env->read([&](const Txn& txn) -> Status {
    BIRGA_RETURN_IF_ERROR(verify_chains(txn));
    BIRGA_RETURN_IF_ERROR(verify_records(*impl_, txn));
    Status problem;
    BIRGA_RETURN_IF_ERROR(txn.scan(Table::kAlerts, "", [&](std::string_view k, std::string_view v) {
      auto plain = engine::aead_open(impl_->record_key, v, k);
      if (!plain.is_ok()) {
        problem = Status::data_loss("an alert entry cannot be decrypted");
        return false;
      }
      if (auto alert = decode_alert(k, *plain); !alert.is_ok()) {
        problem = Status::data_loss("an alert entry does not decode: " + alert.status().message());
        return false;
      }
      return true;
    }));
    BIRGA_RETURN_IF_ERROR(problem);
    BIRGA_RETURN_IF_ERROR(txn.scan(Table::kUnapplied, "", [&](std::string_view k, auto) {
      auto held = txn.get(Table::kChanges, k);
      if (!held.is_ok() || !*held) {
        problem = Status::data_loss("an unapplied mark names a change the log does not hold");
        return false;
      }
      return true;
    }));
    return problem;
  });
}

}  // namespace birga
