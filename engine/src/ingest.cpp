// Ingest: taking sealed changes from anywhere into the store.
//
// Per change, inside one write transaction for the whole batch:
//   1. the signature was verified before the transaction (verify_change);
//   2. the (scope, author) chain decides: an older seq is a duplicate if the bytes are the
//      same and an equivocation if not (quarantined, the held one kept); the next seq must
//      name the held head as its predecessor; a later seq waits in kPending;
//   3. an appended change is stored in kChanges, the head advances, and the change is applied
//      if the scope key of its epoch is held, else marked in kUnapplied (kept sealed, still
//      relayed) until the key arrives;
//   4. pending successors are drained.
#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <set>

#include "birga/crdt/sha256.h"
#include "parallel.h"
#include "record_batch.h"
#include "replica_impl.h"
#include "store_keys.h"
#include "trust_internal.h"

namespace birga {

using engine::Table;
using engine::Txn;

namespace {

// From this many ops decoded (engine::kFreeAsideRecords: records loaded), a batch's memory is
// freed on a thread of its own (engine::Disposer).
constexpr size_t kFreeAsideOps = 2048;
// From this many sealed bytes per change on average, a batch's bodies are opened one at a
// time ahead of their use (engine::Ahead) rather than all at once.
constexpr size_t kOpenAheadBytes = 16 << 10;
// Bodies opened ahead stay in memory until the batch is stored. A body decodes to at most one
// op per byte (each op takes a byte of the kinds column), each op some 200 bytes in memory:
// opened ahead are the bodies whose declared lengths add up to this much, and whose decoded
// ops take up to kOpenAheadOpBytes. The rest are opened where they are applied, one at a time.
constexpr uint64_t kOpenAheadBodyBytes = 32 << 20;
constexpr size_t kOpenAheadOpBytes = 64 << 20;

std::string short_hex(const std::array<uint8_t, 32>& a) {
  return crdt::Sha256::hex(a).substr(0, 16);
}

}  // namespace

// Reads the head of (scope, actor); seq 0 and a zero hash when none.
Result<Head> read_head(const Txn& txn, const std::string& scope, const crdt::ActorId& actor) {
  auto v = txn.get(Table::kHeads, engine::author_key(scope, actor));
  if (!v.is_ok()) return v.status();
  Head head;
  if (!*v) return head;
  if ((*v)->size() != 8 + 32) return Status::data_loss("malformed head entry for '" + scope + "'");
  head.seq = engine::get_be64(**v);
  std::copy((*v)->begin() + 8, (*v)->end(), head.hash.begin());
  return head;
}

Status write_head(Txn& txn, const std::string& scope, const crdt::ActorId& actor,
                  const Head& head) {
  std::string v;
  engine::put_be64(v, head.seq);
  v.append(engine::key_bytes(head.hash));
  return txn.put(Table::kHeads, engine::author_key(scope, actor), v);
}

// Decrypts a verified change and applies its ops. A change that is validly signed but cannot
// be opened or decoded, or an op refused (wrong scope, bad shape), raises an alert and is
// kept in the log: the author's chain stays intact and the rest of the batch goes on.
namespace {

// A change's body, decrypted and decoded (pure work, done ahead on any thread). Applying
// it consumes the ops (their values move into the records).
struct OpenedChange {
  engine::ChangeId id{};
  Status undecryptable;  // why the body could not be opened, or ok
  Result<std::vector<crdt::Op>> ops = Status::internal("change not opened");
  bool consumed = false;
};

OpenedChange open_change(const engine::VerifiedChange& v, const engine::Key32& key) {
  OpenedChange out;
  out.id = v.id;
  auto body = engine::open_change_body(v, key);
  if (!body.is_ok()) {
    out.undecryptable = body.status();
    return out;
  }
  out.ops = engine::decode_ops(*body, v.header);
  return out;
}

}  // namespace

Status apply_change_body(Replica::Impl& replica, Txn& txn, engine::RecordBatch& batch,
                         const engine::VerifiedChange& v, const engine::Key32& key,
                         OpenedChange* opened_ahead = nullptr) {
  const engine::ChangeHeader& h = v.header;
  const std::string who = "change " + std::to_string(h.seq) + " of device " + short_hex(h.author) +
                          " in scope '" + h.scope + "'";
  // A write run again (map growth) finds the change opened ahead consumed: it opens it again.
  const bool ahead = opened_ahead && opened_ahead->id == v.id && !opened_ahead->consumed;
  OpenedChange opened_here;
  if (!ahead) opened_here = open_change(v, key);
  OpenedChange& opened = ahead ? *opened_ahead : opened_here;
  // Out of memory (zstd could not get a context) says nothing about the change: the write
  // fails, and the change is offered again at the next sync, rather than kept unapplied.
  if (opened.undecryptable.code() == Code::kResourceExhausted) return opened.undecryptable;
  if (!opened.ops.is_ok() && opened.ops.status().code() == Code::kResourceExhausted) {
    return opened.ops.status();
  }
  if (!opened.undecryptable.is_ok()) {
    return replica.add_alert(txn, "undecryptable", who + ": " + opened.undecryptable.message());
  }
  auto& ops = opened.ops;
  if (!ops.is_ok()) {
    return replica.add_alert(txn, "malformed_change", who + ": " + ops.status().message());
  }
  opened.consumed = true;
  // Revocations this change makes (the ops are consumed by applying them).
  std::set<crdt::RecordId> revoked;
  if (h.scope == kControlScope) {
    for (const crdt::Op& op : *ops) {
      if (op.collection == engine::kRevocationCollection) revoked.insert(op.record);
    }
  }
  // The next changes are usually opened on another core meanwhile (Ahead, below).
  BIRGA_RETURN_IF_ERROR(batch.apply_ops(
      engine::op_refs(*ops), h.scope,
      engine::change_key(h.scope, engine::actor_of(h.author), h.seq),
      [&](size_t, const Status& why) {
        if (why.code() == Code::kPermissionDenied || why.code() == Code::kInvalidArgument) {
          return replica.add_alert(txn, "refused_op", who + ": " + why.message());
        }
        return why;
      },
      nullptr, engine::threads_beside_helper()));
  for (const crdt::RecordId& record : revoked) {
    BIRGA_RETURN_IF_ERROR(replica.alert_held_after_revocation(txn, batch, record));
  }
  return Status::ok();
}

Result<engine::ChangeHeader> next_change_header(const Txn& txn, const std::string& scope,
                                                const PublicKey& author) {
  auto head = read_head(txn, scope, engine::actor_of(author));
  if (!head.is_ok()) return head.status();
  engine::ChangeHeader h;
  h.author = author;
  h.scope = scope;
  h.seq = head->seq + 1;
  h.prev_hash = head->hash;
  return h;
}

Result<std::string> seal_own_change(const engine::ChangeHeader& h,
                                    const std::vector<const crdt::Op*>& ops,
                                    const engine::Key32& scope_key, const engine::SigningKey& key) {
  auto body = engine::encode_ops(ops);
  if (!body.is_ok()) return body.status();
  return engine::seal_change(h, *body, scope_key, key);
}

Status store_own_change(Txn& txn, const engine::ChangeHeader& h, const std::string& sealed,
                        const engine::ChangeId& id) {
  const crdt::ActorId actor = engine::actor_of(h.author);
  BIRGA_RETURN_IF_ERROR(
      txn.put(Table::kChanges, engine::change_key(h.scope, actor, h.seq), sealed));
  return write_head(txn, h.scope, actor, Head{h.seq, id});
}

Status append_own_change(Txn& txn, const engine::ChangeHeader& h, const std::vector<crdt::Op>& ops,
                         const engine::Key32& scope_key, const engine::SigningKey& key) {
  auto sealed = seal_own_change(h, engine::op_refs(ops), scope_key, key);
  if (!sealed.is_ok()) return sealed.status();
  return store_own_change(txn, h, *sealed, engine::change_id(*sealed));
}

// One batch's worth of ingest state.
class Ingester {
 public:
  Ingester(Replica::Impl& replica, Txn& txn, engine::RecordBatch& batch, IngestReport& report)
      : replica_(replica), txn_(txn), batch_(batch), report_(report) {}

  Status offer(std::string_view sealed, const engine::VerifiedChange& v) {
    const engine::ChangeHeader& h = v.header;
    const crdt::ActorId actor = engine::actor_of(h.author);
    const std::string ck = engine::change_key(h.scope, actor, h.seq);
    auto head = read_head(txn_, h.scope, actor);
    if (!head.is_ok()) return head.status();

    if (h.seq <= head->seq) {
      auto held = txn_.get(Table::kChanges, ck);
      if (!held.is_ok()) return held.status();
      if (*held && **held == sealed) {
        // Let in earlier in this batch from the pending table, where an earlier ingest had
        // left it: it is counted where it went, not as held before.
        if (auto it = let_in_unread_.find(ck); it != let_in_unread_.end()) {
          --report_.released;
          ++*it->second;
          let_in_unread_.erase(it);
        } else {
          ++report_.duplicates;
        }
        return Status::ok();
      }
      // Kept as evidence only when its author could have written it: a revoked or
      // unentitled device's forks would fill the quarantine at no cost to it.
      auto may = entitled(v);
      if (!may.is_ok() || !*may) return may.status();
      ++report_.quarantined;
      return quarantine(
          sealed, v, "equivocation: a second, different change for seq " + std::to_string(h.seq));
    }
    // A change new here: its author must be entitled to it (checked once, not per duplicate).
    auto may = entitled(v);
    if (!may.is_ok() || !*may) return may.status();
    if (h.seq > head->seq + 1) return hold_pending(sealed, v, ck);
    if (h.prev_hash != head->hash) {
      ++report_.quarantined;
      return quarantine(sealed, v,
                        "equivocation: change " + std::to_string(h.seq) +
                            " does not follow the held change " + std::to_string(head->seq) +
                            " (hash chain broken)");
    }
    size_t* where = nullptr;
    BIRGA_RETURN_IF_ERROR(append(sealed, v, ck, &where));
    ++*where;
    BIRGA_RETURN_IF_ERROR(raise_author_alerts());
    return drain(h.scope, actor, h.seq + 1);
  }

  // Whether the change's author was entitled to make it (check_author); one that was not is
  // refused and listed. An error is the store's own. The alerts its author raises wait in
  // author_alerts_ until the change is kept (raise_author_alerts).
  Result<bool> entitled(const engine::VerifiedChange& v) {
    auto alerts = replica_.check_author(batch_, v.header);
    author_alerts_.clear();
    if (alerts.is_ok()) {
      author_alerts_ = std::move(*alerts);
      return true;
    }
    Status s = alerts.status();
    if (s.code() != Code::kPermissionDenied) return s;
    not_kept(v.id, IngestReport::NotKept::Outcome::kRefused, s.message());
    report_.refused.push_back(std::move(s));
    return false;
  }

  // Raises the alerts check_author found for the change just kept: once per change, when it is
  // stored or first held waiting, not for a copy offered again or one not held.
  Status raise_author_alerts() {
    for (const Replica::Impl::AuthorAlert& a : author_alerts_) {
      BIRGA_RETURN_IF_ERROR(replica_.add_alert(txn_, a.kind, a.detail));
    }
    author_alerts_.clear();
    return Status::ok();
  }
  std::vector<Replica::Impl::AuthorAlert> author_alerts_;

  // Call after the last offer(): completes the report with the changes read in this batch
  // that are still waiting, each with what it waits for (IngestReport::waiting), and takes
  // the ones that left the pending table since they were read off the not-kept list.
  Status finish() {
    remove_dropped();
    for (const auto& [ck, w] : read_waiting_) {
      auto head = read_head(txn_, w.scope, w.actor);
      if (!head.is_ok()) return head.status();
      report_.waiting.push_back("change " + std::to_string(w.seq) + " of device " + w.author +
                                " in scope '" + w.scope + "' waits for its change " +
                                std::to_string(head->seq + 1) + " (this replica holds " +
                                (head->seq == 0 ? std::string("none of its changes")
                                                : "its changes 1 to " + std::to_string(head->seq)) +
                                ")");
    }
    return Status::ok();
  }

 private:
  // A change read here that waits for an earlier change of its author. Counted pending
  // once however often it is read, and also when an earlier ingest left it waiting already:
  // it is not in force, whatever brought it.
  Status hold_pending(std::string_view sealed, const engine::VerifiedChange& v,
                      const std::string& ck) {
    // Compared with what waits under its key first (put there by an earlier ingest or earlier
    // in this batch): a different change for the same seq is a fork, never a duplicate.
    auto held = txn_.get(Table::kPending, ck);
    if (!held.is_ok()) return held.status();
    if (*held && **held != sealed) {
      ++report_.quarantined;
      return quarantine(
          sealed, v,
          "equivocation: two different pending changes for seq " + std::to_string(v.header.seq));
    }
    if (read_waiting_.count(ck) || deferred_read_.count(ck)) {
      ++report_.duplicates;  // the same change twice in one batch
      return Status::ok();
    }
    if (!*held) {
      auto parked = parked_of(v.header.scope, engine::actor_of(v.header.author));
      if (!parked.is_ok()) return parked.status();
      Parked& p = **parked;
      const ReplicaOptions& o = replica_.options;
      if (p.changes + 1 > o.max_pending_changes || p.bytes + sealed.size() > o.max_pending_bytes) {
        ++report_.deferred;
        deferred_read_.insert(ck);
        not_kept(v.id, IngestReport::NotKept::Outcome::kWaiting,
                 "change " + std::to_string(v.header.seq) + " of device " +
                     short_hex(v.header.author) + " in scope '" + v.header.scope + "' not held: " +
                     std::to_string(p.changes) + " of its changes (" + std::to_string(p.bytes) +
                     " bytes) already wait here for an earlier one, as many as this node holds; "
                     "it is taken once they are in");
        return Status::ok();
      }
      ++p.changes;
      p.bytes += sealed.size();
    }
    ++report_.pending;
    read_waiting_.emplace(ck, Waiting{v.header.scope, engine::actor_of(v.header.author),
                                      short_hex(v.header.author), v.header.seq, v.id});
    not_kept(v.id, IngestReport::NotKept::Outcome::kWaiting,
             "change " + std::to_string(v.header.seq) + " of device " + short_hex(v.header.author) +
                 " in scope '" + v.header.scope + "' waits here for the earlier change " +
                 std::to_string(v.header.seq - 1));
    if (*held) return Status::ok();  // its alerts were raised when it was first held
    BIRGA_RETURN_IF_ERROR(txn_.put(Table::kPending, ck, sealed));
    return raise_author_alerts();
  }
  std::set<std::string> deferred_read_;  // change keys not held in this batch (deferred)

  // What waits in the pending table for one author in one scope: counted from the table when
  // first asked for in this batch, then kept up to date as changes are put and taken.
  struct Parked {
    uint64_t changes = 0;
    uint64_t bytes = 0;
  };
  Result<Parked*> parked_of(const std::string& scope, const crdt::ActorId& actor) {
    const std::string prefix = engine::author_key(scope, actor);
    auto [it, fresh] = parked_.try_emplace(prefix);
    if (fresh) {
      Parked& p = it->second;
      Status s = txn_.scan(Table::kPending, prefix, [&](std::string_view, std::string_view value) {
        ++p.changes;
        p.bytes += value.size();
        return true;
      });
      if (!s.is_ok()) {
        parked_.erase(it);
        return s;
      }
    }
    return &it->second;
  }
  std::map<std::string, Parked> parked_;  // by author_key

  // Where a change taken from the pending table (`*where`: applied, sealed_only or
  // quarantined) is counted: read in this batch, it leaves pending; left by an earlier ingest
  // and not read yet, it counts as released until (if) it is read later in this batch.
  // Returns whether it was read in this batch (then it is no longer listed as waiting).
  bool settle(const std::string& ck, size_t* where) {
    if (auto it = read_waiting_.find(ck); it != read_waiting_.end()) {
      drop_waiting(it->second.id);
      read_waiting_.erase(it);
      --report_.pending;
      ++*where;
      return true;
    }
    if (where != &report_.quarantined) {
      ++report_.released;
      let_in_unread_[ck] = where;
    }
    return false;
  }

  // Appends and applies (or keeps sealed) the change; `*where` is the report's count it
  // belongs in, left to the caller to count.
  Status append(std::string_view sealed, const engine::VerifiedChange& v, const std::string& ck,
                size_t** where) {
    const engine::ChangeHeader& h = v.header;
    const crdt::ActorId actor = engine::actor_of(h.author);
    BIRGA_RETURN_IF_ERROR(txn_.put(Table::kChanges, ck, sealed));
    BIRGA_RETURN_IF_ERROR(write_head(txn_, h.scope, actor, Head{h.seq, v.id}));

    const crdt::HybridClock::Update u = replica_.clock.update(h.hlc);
    if (!u.adopted) {
      BIRGA_RETURN_IF_ERROR(replica_.add_alert(
          txn_, "clock_skew",
          "change " + std::to_string(h.seq) + " of device " + short_hex(h.author) + " in scope '" +
              h.scope + "' is " + std::to_string(u.ahead_ms / 1000) +
              " s ahead of this clock; kept, clock not advanced"));
    }
    const engine::Key32* key = replica_.find_scope_key(h.scope, h.key_epoch);
    if (!key) {
      *where = &report_.sealed_only;
      return txn_.put(Table::kUnapplied, ck, "");
    }
    *where = &report_.applied;
    return apply_change_body(replica_, txn_, batch_, v, *key, opened_ahead_);
  }

  // Appends the pending successors of (scope, actor) from `seq` on, while they chain.
  Status drain(const std::string& scope, const crdt::ActorId& actor, uint64_t seq) {
    for (;; ++seq) {
      const std::string ck = engine::change_key(scope, actor, seq);
      auto held = txn_.get(Table::kPending, ck);
      if (!held.is_ok()) return held.status();
      if (!*held) return Status::ok();
      const std::string sealed(**held);
      BIRGA_RETURN_IF_ERROR(txn_.del(Table::kPending, ck));
      if (auto it = parked_.find(engine::author_key(scope, actor)); it != parked_.end()) {
        it->second.changes -= std::min<uint64_t>(it->second.changes, 1);
        it->second.bytes -= std::min<uint64_t>(it->second.bytes, sealed.size());
      }
      auto v = engine::verify_change(sealed);
      if (!v.is_ok()) return Status::data_loss("pending change no longer verifies");
      auto head = read_head(txn_, scope, actor);
      if (!head.is_ok()) return head.status();
      if (v->header.prev_hash != head->hash) {
        const bool read_here = settle(ck, &report_.quarantined);
        return quarantine(sealed, *v,
                          "equivocation: pending change " + std::to_string(seq) +
                              " does not follow change " + std::to_string(seq - 1),
                          read_here);
      }
      // Its author was judged when it was first held; a revocation may have come since.
      auto may = entitled(*v);
      if (!may.is_ok()) return may.status();
      if (!*may) {  // refused and listed; its successors wait on, in vain
        if (auto it = read_waiting_.find(ck); it != read_waiting_.end()) {
          drop_waiting(it->second.id);
          read_waiting_.erase(it);
          --report_.pending;
        }
        return Status::ok();
      }
      size_t* where = nullptr;
      BIRGA_RETURN_IF_ERROR(append(sealed, *v, ck, &where));
      settle(ck, where);
      author_alerts_.clear();  // raised when it was first held
    }
  }

  // Stores the change in quarantine and raises the alert; the caller counts it. It is listed
  // as not kept when it was read in this batch (`listed`), not when an earlier ingest left it
  // waiting (the sender of this batch did not send it). A change already in quarantine is
  // neither stored nor raised again, and an author's forks are kept up to
  // ReplicaOptions::max_quarantined_per_author: past that one `quarantine_full` alert says
  // later ones are not kept (any peer holding a fork, or the device itself, could otherwise
  // fill the table and the alerts by offering forks again and again).
  Status quarantine(std::string_view sealed, const engine::VerifiedChange& v,
                    const std::string& reason, bool listed = true) {
    const std::string author = short_hex(v.header.author);
    const std::string what = "change " + std::to_string(v.header.seq) + " of device " + author +
                             " in scope '" + v.header.scope + "' quarantined: " + reason;
    const std::string id_key = engine::key_bytes(v.id);
    auto held = txn_.get(Table::kQuarantine, id_key);
    if (!held.is_ok()) return held.status();
    if (*held) {
      if (listed) not_kept(v.id, IngestReport::NotKept::Outcome::kQuarantined, what);
      return Status::ok();
    }
    const std::string count_key = quarantined_count_key(v.header.author);
    auto stored = txn_.get(Table::kMeta, count_key);
    if (!stored.is_ok()) return stored.status();
    const uint64_t count = *stored && (*stored)->size() == 8 ? engine::get_be64(**stored) : 0;
    const uint64_t bound = replica_.options.max_quarantined_per_author;
    std::string next;
    if (count >= bound) {
      if (listed) {
        not_kept(v.id, IngestReport::NotKept::Outcome::kQuarantined,
                 what + " (not kept as evidence: " + std::to_string(bound) +
                     " of this device's changes are in quarantine already)");
      }
      if (count > bound) return Status::ok();  // said once already
      engine::put_be64(next, count + 1);
      BIRGA_RETURN_IF_ERROR(txn_.put(Table::kMeta, count_key, next));
      return replica_.add_alert(
          txn_, "quarantine_full",
          "device " + author + ": " + std::to_string(bound) +
              " of its changes are quarantined as equivocations, and its later forks are not "
              "kept. The device is cloned or compromised: revoke it");
    }
    if (listed) not_kept(v.id, IngestReport::NotKept::Outcome::kQuarantined, what);
    crdt::ByteWriter w;
    w.bytes(reason);
    w.bytes(sealed);
    BIRGA_RETURN_IF_ERROR(txn_.put(Table::kQuarantine, id_key, w.data()));
    engine::put_be64(next, count + 1);
    BIRGA_RETURN_IF_ERROR(txn_.put(Table::kMeta, count_key, next));
    return replica_.add_alert(txn_, "equivocation",
                              "device " + author + " in scope '" + v.header.scope + "': " + reason +
                                  "; the held change is kept, the other quarantined (a cloned "
                                  "or compromised device?)");
  }
  // meta `quarantined/<author, 64 hex digits>`: how many of the author's changes are in
  // quarantine (one more once quarantine_full was raised).
  static std::string quarantined_count_key(const PublicKey& author) {
    return "quarantined/" + crdt::to_hex(author);
  }

  struct Waiting {
    std::string scope;
    crdt::ActorId actor;
    std::string author;  // short hex, for the description
    uint64_t seq = 0;
    engine::ChangeId id{};  // its entry in report_.not_kept
  };

  void not_kept(const engine::ChangeId& id, IngestReport::NotKept::Outcome outcome,
                std::string reason) {
    if (outcome == IngestReport::NotKept::Outcome::kWaiting) {
      waiting_at_.emplace(id, report_.not_kept.size());
    }
    report_.not_kept.push_back({id, outcome, std::move(reason)});
  }
  // A change listed as waiting has left the pending table (let in, or quarantined): its entry
  // is taken off the list by finish(), so that a batch of n changes that all wait and are
  // then let in costs O(n log n), not a search of the list for each.
  void drop_waiting(const engine::ChangeId& id) {
    const auto it = waiting_at_.find(id);
    if (it == waiting_at_.end()) return;
    dropped_.push_back(it->second);
    waiting_at_.erase(it);
  }
  // Removes the dropped entries from the not-kept list, keeping the order of the others.
  void remove_dropped() {
    if (dropped_.empty()) return;
    std::sort(dropped_.begin(), dropped_.end());
    auto& list = report_.not_kept;
    size_t kept = 0;
    for (size_t i = 0, d = 0; i < list.size(); ++i) {
      if (d < dropped_.size() && dropped_[d] == i) {
        ++d;
        continue;
      }
      if (kept != i) list[kept] = std::move(list[i]);
      ++kept;
    }
    list.resize(kept);
    dropped_.clear();
  }

  Replica::Impl& replica_;
  Txn& txn_;
  engine::RecordBatch& batch_;
  IngestReport& report_;
  // Every change read is counted once, where it ends up (IngestReport). Read and waiting, by
  // change key: counted pending until a later change lets it in.
  std::map<std::string, Waiting> read_waiting_;
  // Let in from the pending table though not read (yet) in this batch: the count it went to.
  std::map<std::string, size_t*> let_in_unread_;
  // The kWaiting entries of report_.not_kept still listed, by change id: their places in
  // the list; and the places of those let in or quarantined since (removed by finish()).
  std::map<engine::ChangeId, size_t> waiting_at_;
  std::vector<size_t> dropped_;

 public:
  // The body of the change offered next, opened ahead (used when the ids match).
  OpenedChange* opened_ahead_ = nullptr;
};

namespace {

// Whether a change's author may write its scope, by what this replica holds before the batch
// (a read of the certificate and revocation records per author, cached): the test for opening
// a body ahead of the write transaction. check_author, in the transaction, is the rule; this
// only says no where it would surely say no, or where it cannot tell yet.
class EntitledAuthors {
 public:
  explicit EntitledAuthors(const Replica::Impl& replica) : replica_(replica) {}
  bool operator()(const engine::ChangeHeader& h) {
    if (!replica_.authority) return true;  // not enrolled: authors are not checked
    if (h.scope == kControlScope) return h.author == *replica_.authority;
    auto [it, fresh] = known_.try_emplace(h.author);
    if (fresh) it->second = replica_.stored_standing(h.author);
    return Replica::Impl::judge_author(h, it->second.certs, it->second.revoked_ms, "").is_ok();
  }

 private:
  const Replica::Impl& replica_;
  std::map<PublicKey, Replica::Impl::Standing> known_;
};

}  // namespace

Result<IngestReport> Replica::Impl::ingest(const std::vector<std::string>& sealed) {
  // Signatures are checked before the write transaction, on every core.
  std::vector<Result<engine::VerifiedChange>> verified(sealed.size(),
                                                       Status::internal("not verified"));
  engine::parallel_for(
      sealed.size(), [&](size_t i) { verified[i] = engine::verify_change(sealed[i]); }, 2);
  IngestReport report;
  const bool any_valid =
      std::any_of(verified.begin(), verified.end(), [](const auto& v) { return v.is_ok(); });
  if (!any_valid) {  // nothing to store: no write transaction at all
    for (size_t i = 0; i < sealed.size(); ++i) {
      report.refused.push_back(
          verified[i].status().with_context("change " + std::to_string(i) + " of the batch"));
      report.not_kept.push_back({engine::change_id(sealed[i]),
                                 IngestReport::NotKept::Outcome::kRefused,
                                 report.refused.back().message()});
    }
    return report;
  }
  // The bodies whose scope key is held are decrypted and decoded ahead of the write. Large
  // changes (a first sync's thousand records each) are opened in order on a thread of their
  // own while this thread stores and applies the changes before them (engine::Ahead); small
  // ones (a hub relaying a few records per change) cost less to open all at once, over the
  // cores, than to hand over one by one. One that fails to open here (out of memory) is
  // opened again where it is applied.
  // Only the changes of authors entitled to them as this replica knows them now: a peer
  // that may not write a scope must not make this node decode anything (a small body can
  // decode to a million ops). A change whose author's certificate arrives in this same batch
  // is opened where it is applied, after its author is checked.
  std::vector<const engine::Key32*> keys(sealed.size(), nullptr);
  size_t bytes_to_open = 0;
  uint64_t body_bytes = 0;
  EntitledAuthors entitled(*this);
  for (size_t i = 0; i < sealed.size(); ++i) {
    if (!verified[i].is_ok()) continue;
    const engine::ChangeHeader& h = verified[i]->header;
    if (body_bytes + h.body_length > kOpenAheadBodyBytes || !entitled(h)) continue;
    keys[i] = find_scope_key(h.scope, h.key_epoch);
    if (!keys[i]) continue;
    bytes_to_open += sealed[i].size();
    body_bytes += h.body_length;
  }
  std::vector<OpenedChange> opened(sealed.size());
  std::atomic<size_t> op_bytes_ahead{0};
  auto open = [&](size_t i) noexcept {
    if (!keys[i]) return;
    try {
      opened[i] = open_change(*verified[i], *keys[i]);
      const size_t n = opened[i].ops.is_ok() ? opened[i].ops->size() * sizeof(crdt::Op) : 0;
      if (op_bytes_ahead.fetch_add(n) + n > kOpenAheadOpBytes) {
        opened[i] = OpenedChange();  // over the budget: opened again where it is applied
      }
    } catch (...) {       // out of memory: opened again where it is applied, and thrown there
      opened[i].id = {};  // matches no change
    }
  };
  std::optional<engine::Ahead> ahead;
  if (bytes_to_open >= kOpenAheadBytes * sealed.size()) {
    ahead.emplace(sealed.size(), open);
  } else {
    engine::parallel_for(sealed.size(), open, 2);
  }
  Status s = env->write([&](Txn& txn) -> Status {
    report = IngestReport();
    engine::RecordBatch batch(*this, txn);
    Ingester ingester(*this, txn, batch, report);
    for (size_t i = 0; i < sealed.size(); ++i) {
      if (!verified[i].is_ok()) {
        report.refused.push_back(
            verified[i].status().with_context("change " + std::to_string(i) + " of the batch"));
        report.not_kept.push_back({engine::change_id(sealed[i]),
                                   IngestReport::NotKept::Outcome::kRefused,
                                   report.refused.back().message()});
        continue;
      }
      if (ahead) ahead->ready(i);
      ingester.opened_ahead_ = &opened[i];
      BIRGA_RETURN_IF_ERROR(ingester.offer(sealed[i], *verified[i]));
    }
    BIRGA_RETURN_IF_ERROR(ingester.finish());
    BIRGA_RETURN_IF_ERROR(batch.flush());
    // A large batch is freed while the commit writes and syncs the pages; a small one costs
    // less to free here than a thread costs to start.
    if (batch.loaded() >= engine::kFreeAsideRecords) disposer.later(batch.release());
    return Status::ok();
  });
  ahead.reset();  // the helper is done with `opened`
  // Envelopes for this device may have arrived with control changes.
  const bool control = std::any_of(verified.begin(), verified.end(), [](const auto& v) {
    return v.is_ok() && v->header.scope == kControlScope;
  });
  size_t decoded = 0;
  for (const OpenedChange& o : opened) decoded += o.ops.is_ok() ? o.ops->size() : 0;
  if (decoded >= kFreeAsideOps) {  // freed while the caller goes on
    disposer.later(std::pair(std::move(verified), std::move(opened)));
  }
  if (!s.is_ok()) return s;
  if (control) BIRGA_RETURN_IF_ERROR(apply_envelopes());
  return report;
}

Status Replica::Impl::apply_held(Txn& txn, const std::string& scope) {
  std::vector<std::string> keys;
  BIRGA_RETURN_IF_ERROR(txn.scan(Table::kUnapplied, engine::scope_prefix(scope),
                                 [&](std::string_view k, std::string_view) {
                                   keys.emplace_back(k);
                                   return true;
                                 }));
  engine::RecordBatch batch(*this, txn);
  for (const std::string& ck : keys) {
    auto stored = txn.get(Table::kChanges, ck);
    if (!stored.is_ok()) return stored.status();
    if (!*stored) return Status::data_loss("an unapplied change is missing from the log");
    auto v = engine::verify_change(**stored);
    if (!v.is_ok()) return Status::data_loss("a held change no longer verifies");
    const engine::Key32* key = find_scope_key(scope, v->header.key_epoch);
    if (!key) continue;
    BIRGA_RETURN_IF_ERROR(txn.del(Table::kUnapplied, ck));
    BIRGA_RETURN_IF_ERROR(apply_change_body(*this, txn, batch, *v, *key));
  }
  return batch.flush();
}

Result<IngestReport> Replica::ingest(const std::vector<std::string>& sealed) {
  return impl_->ingest(sealed);
}

}  // namespace birga
