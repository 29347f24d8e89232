// Replica: one device's copy of the deployment's records, the object an app embeds.
//
// A replica lives in a directory (one LMDB environment). It holds the device's Ed25519 key pair
// and a storage key, both sealed under the owner's passphrase with Argon2id; the records it
// materialises are encrypted under the storage key, so the files on disk hold nothing readable.
//
// Writing: begin() a Transaction, add ops, commit(). A commit turns the ops into one signed,
// compressed, encrypted change per scope touched, stores it in the change log and applies it,
// all in one LMDB transaction: when commit() returns ok the write is durable.
//
// Exchanging: version_vector(scope) says what this replica holds of a scope; export_missing()
// returns the sealed changes a peer with a given vector lacks; ingest() takes sealed changes
// from anywhere (peer, hub, file), verifies each one's signature and hash chain, and applies
// what it can decrypt. Changes whose scope key is not held are kept sealed, so a relay can
// store and forward what it cannot read, and applied when the key arrives.
//
// Thread rule: a Replica is used from one thread at a time (the app's, or the node's io
// thread). Results are plain values that own their memory.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "birga/crdt/dot.h"
#include "birga/crdt/hlc.h"
#include "birga/crdt/op.h"
#include "birga/crdt/record.h"
#include "birga/crdt/schema.h"
#include "birga/crdt/value.h"
#include "birga/status.h"

namespace birga {

// The on-disk format of a replica's store (docs/storage.md): the byte after "BIRGA-REPLICA"
// in meta "format". Replica::open marks a format-4 store (one without ranges) format 5 and
// refuses any other format.
constexpr uint8_t kStoreFormatVersion = 5;

using PublicKey = std::array<uint8_t, 32>;   // an Ed25519 public key
using ScopeKey = std::array<uint8_t, 32>;    // a scope's data key (XChaCha20-Poly1305)
using ChangeHash = std::array<uint8_t, 32>;  // BLAKE2b-256 of a sealed change

struct ReplicaOptions {
  std::string passphrase;
  // The schema local writes are checked against. Ops from other replicas are applied even for
  // fields it does not know.
  crdt::Schema schema;
  // A remote clock further ahead than this is reported and not adopted (see crdt/hlc.h).
  uint64_t max_clock_skew_ms = crdt::HybridClock::kDefaultMaxSkewMs;
  // Wall clock for the HLC; tests inject a fake one.
  crdt::WallClock wall_clock = crdt::system_wall_clock_ms;
  // The store's memory map to start with (never less than the file): a write that does not
  // fit doubles it and runs again. Small values make tests exercise that path.
  uint64_t initial_map_bytes = uint64_t{64} << 20;
  // Changes that wait for an earlier change of their author (IngestReport::pending: a sync
  // cut short, relays holding different parts of a chain) are held up to these bounds per
  // author and scope. Past them a change is not held (IngestReport::deferred) and comes again
  // in a later sync, once the earlier ones are in: an author, even a certified one, cannot
  // fill the store with changes that are never applied.
  uint64_t max_pending_changes = 4096;
  uint64_t max_pending_bytes = uint64_t{64} << 20;
  // Equivocations (IngestReport::quarantined) are kept as evidence in the quarantine table up
  // to this many per author, in all scopes. Past it a fork is still reported quarantined but
  // not kept, and one `quarantine_full` alert says so: the first ones prove the device cloned
  // or compromised, and nobody can fill the store by offering forks.
  uint64_t max_quarantined_per_author = 64;
  // New records that one change makes, this many or more in a row (by record id), are stored
  // as a range: a reference to that change in the log, not copies of their states
  // (docs/storage.md, section 4, ranges). Only records past every stored record they sort
  // among qualify: a collection's first records, or records past the last record of a block
  // or a range (not records that fall between the records of a block). A bulk entry or a
  // first sync then stores its records once; a read makes them from the change, and the first
  // write to one of them writes the range out as blocks.
  // 0: never.
  uint64_t min_range_records = 64;
};

// A record as the app sees it: where it lives and its CRDT state.
struct RecordView {
  crdt::RecordId id;
  std::string collection;
  std::string scope;
  crdt::Record state;

  // The value of an lww field, or the latest (by HLC time) of an mv field; nullopt if unset.
  std::optional<crdt::Value> value(const std::string& field) const;
  // Every current value of an mv field (more than one while in conflict).
  std::vector<crdt::Value> values(const std::string& field) const;
  bool in_conflict() const { return state.is_conflicted(); }
  bool deleted() const { return state.is_deleted(); }
};

// What the records changed since a feed position are, and the position to ask from next.
struct ChangedRecords {
  struct Ref {
    std::string collection;
    crdt::RecordId id;
  };
  std::vector<Ref> records;
  uint64_t position = 0;
};

// The head of one author's chain in one scope.
struct Head {
  uint64_t seq = 0;   // contiguous: every change 1..seq is held
  ChangeHash hash{};  // id of change `seq`
};

// Every change given to ingest is counted exactly once, in the one category where it ended
// up: applied + duplicates + pending + sealed_only + quarantined + refused.size() is the number
// of changes given. A change that waited and was let in by a later change of the same batch
// counts as applied (or sealed_only), not as pending too; one that an earlier ingest left
// waiting counts as pending again while it still waits, and as applied once this batch lets
// it in, not as already held.
struct IngestReport {
  size_t applied = 0;     // verified, chained, and (if the key is held) applied
  size_t duplicates = 0;  // already held (or twice in the batch): no-op
  size_t pending = 0;     // still waiting for a missing predecessor: not in force
  // Also waiting for a missing predecessor, and not held: as many of its author's changes in
  // its scope wait here as ReplicaOptions::max_pending_* allow. The sender offers it again.
  size_t deferred = 0;
  size_t sealed_only = 0;  // stored and relayable, not applied: scope key not held
  // Equivocations: a second change for a held (scope, author, seq). Kept in the quarantine
  // table (once, however often offered) up to ReplicaOptions::max_quarantined_per_author.
  size_t quarantined = 0;
  std::vector<Status> refused;  // each refused change with why (forged, malformed, ...)
  // Not among the changes given: changes an earlier ingest left waiting that this one let in
  // (applied or kept sealed), since their missing predecessor came with this batch.
  size_t released = 0;
  // One line per pending change: which change of which device and scope waits for which
  // missing one, e.g. "change 7 of device 31f3b7b51bac598a in scope '_control' waits for its
  // change 5 (this replica holds its changes 1 to 4)".
  std::vector<std::string> waiting;

  // Each change of the batch not kept as applied, held sealed or a duplicate, with its change
  // id, so a sync can tell the sender which of its changes did not arrive.
  struct NotKept {
    enum class Outcome { kRefused, kQuarantined, kWaiting };
    ChangeHash change{};
    Outcome outcome = Outcome::kRefused;
    std::string reason;
  };
  std::vector<NotKept> not_kept;
};

struct Alert {
  uint64_t position = 0;
  // "clock_skew", "equivocation" (also a broken hash chain), "quarantine_full",
  // "undecryptable",
  // "malformed_change", "refused_op", "bad_envelope", "removed_member", "over_issuance",
  // "revoked_author", "revoked_held" (changes of a device made after its revocation, taken
  // before it was known here; their edits are taken back out of the records),
  // "superseded_grant", "restored_store" (a sync found this store behind its own chain),
  // "restored_peer" (a sync found the peer's store behind the peer's own chain),
  // "unproven_claim" (a peer said this store is behind its own chain, and showed no change)
  std::string kind;
  std::string detail;  // human-readable, names the device and scope
  // Set by acknowledge_alert() on this replica: when (wall ms; 0 while the alert is open) and
  // the note the person left. Acknowledgements are local, like the alerts themselves.
  uint64_t acknowledged_ms = 0;
  std::string acknowledgement;
  bool open() const { return acknowledged_ms == 0; }
};

// The shortest passphrase accepted for new keys or a change (`birga init`, Replica::create and
// change_passphrase): it is all that protects a lost device's keys.
inline constexpr size_t kMinPassphraseBytes = 8;
// Ok, or invalid_argument "the new passphrase is too short: at least 8 characters" when
// `passphrase` is shorter than kMinPassphraseBytes: the one check of a passphrase that is to
// seal keys (Replica::create, Replica::change_passphrase).
Status check_new_passphrase(std::string_view passphrase);

class Transaction;

// Removes the store files (data.mdb, lock.mdb) of a replica that Replica::create just made in
// `dir` and that is closed again, for a caller whose own setup after create failed (the
// schema file could not be written): create can then run in `dir` again. Never call it on a
// replica in use: its keys and records would be lost.
void remove_new_store(const std::string& dir);

class Replica {
 public:
  // Creates a replica in `dir` (created if absent; must not already hold a replica).
  // invalid_argument, and nothing made, when options.passphrase is shorter than
  // kMinPassphraseBytes (check_new_passphrase), as change_passphrase refuses it.
  static Result<std::unique_ptr<Replica>> create(const std::string& dir, ReplicaOptions options);
  // Opens an existing replica. A wrong passphrase is kPermissionDenied, never an empty replica.
  static Result<std::unique_ptr<Replica>> open(const std::string& dir, ReplicaOptions options);
  // Seals the device's keys in the replica in `dir` under `next` instead of `current`, then
  // clears from the file the stale copies sealed under the old passphrase (LMDB leaves them in
  // freed pages, in the unused space of pages and past the values on overflow pages). The
  // replica must be closed: in this process (destroy the Replica first) and in every other
  // (unavailable while one has it open). The keys do not change, so nothing is re-encrypted
  // and peers see no difference; a copy of the directory taken before still opens with the old
  // passphrase. permission_denied when `current` is wrong; invalid_argument when `next` is
  // shorter than 8 bytes. With `next` equal to `current` it seals and clears again (to finish
  // a change whose clearing failed). Returns the number of pages written while clearing.
  static Result<uint64_t> change_passphrase(const std::string& dir, std::string_view current,
                                            std::string_view next);
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  const PublicKey& device_key() const;
  crdt::ActorId actor() const;
  const crdt::Schema& schema() const;
  const std::string& dir() const;

  // Trust. install_certificate() takes an enrolment bundle (birga/authority.h): it checks
  // the certificate against the bundle's authority (which must be this replica's, once set)
  // and this device's key, stores both, and ingests the bundle's control changes, which
  // deliver this device's scope keys. Until a replica is enrolled it checks signatures and
  // hash chains but not authors' rights, and it cannot sync. A certificate older than the
  // installed one (a lower serial), or a different one of the same serial, is refused
  // (permission_denied, naming both serials) and nothing is installed: it would undo a
  // narrowed grant or an earlier expiry. The installed one, installed again, is accepted.
  Status install_certificate(std::string_view bundle);
  // This device's certificate (raw bytes) and the deployment authority, when enrolled.
  std::optional<std::string> certificate() const;
  std::optional<PublicKey> authority() const;
  // The certificate of `device` as published in the control scope, if known here.
  Result<std::optional<std::string>> known_certificate(const PublicKey& device) const;
  // When `device` was revoked (wall ms), if a revocation is known here.
  Result<std::optional<uint64_t>> revoked_at(const PublicKey& device) const;

  // Scope data keys (32 bytes per scope and epoch), kept encrypted at rest. Adding a key
  // applies the held changes it opens. Writes use the highest epoch held.
  Status add_scope_key(const std::string& scope, uint32_t epoch, const ScopeKey& key);
  bool has_scope_key(const std::string& scope) const;
  // The epochs of `scope`'s key held here, ascending (empty: no key).
  std::vector<uint32_t> scope_key_epochs(const std::string& scope) const;

  // A new write transaction. Nothing is stored until its commit().
  Transaction begin();

  // Reads. get and list read any collection of the schema, and any other whose records the
  // store holds (a collection of a newer schema, received by sync); any other name is
  // invalid_argument "unknown collection '<name>' (not in the schema, and this store holds
  // none of its records)", not an absent record or an empty list.
  Result<std::optional<RecordView>> get(const std::string& collection,
                                        const crdt::RecordId& id) const;
  Result<std::vector<RecordView>> list(const std::string& collection) const;
  Result<std::vector<RecordView>> conflicts() const;
  // Records whose indexed `field` holds `value` (an index lookup, not a scan).
  Result<std::vector<RecordView>> find(const std::string& collection, const std::string& field,
                                       const crdt::Value& value) const;
  // Records changed (written locally or ingested) after feed position `since`. A record taken
  // out of the store (a revoked device's record, when the revocation arrives: the
  // "revoked_held" alert) is not listed: an app that keeps copies re-reads them then.
  Result<ChangedRecords> changed_since(uint64_t since) const;
  Result<std::vector<Alert>> alerts() const;
  // Changes held here but not in force: `pending` wait for an earlier change of their author
  // and scope that has not arrived (a revocation among them does not take effect yet);
  // `quarantined` are equivocations, kept for review (alerts() names them).
  struct Withheld {
    size_t pending = 0;
    size_t quarantined = 0;
  };
  Result<Withheld> withheld() const;
  // Marks alert `position` as reviewed, with a note saying what the person found or did (not
  // empty), and returns it so. It stays in alerts(), acknowledged. kNotFound when there is no
  // such alert, kAlreadyExists when it is already acknowledged (the first note is kept).
  Result<Alert> acknowledge_alert(uint64_t position, std::string_view note);

  // Exchange.
  Result<std::vector<std::string>> scopes() const;
  Result<std::map<crdt::ActorId, Head>> heads(const std::string& scope) const;
  Result<crdt::VersionVector> version_vector(const std::string& scope) const;
  // The sealed changes of `scope` that a peer holding `peer` lacks, in chain order per author,
  // at most `max_bytes` in total (at least one change when any is missing). A revoked device's
  // chain ends before its first change made at or after the revocation (every node that knows
  // of the revocation refuses it; this one may have taken it before it knew).
  Result<std::vector<std::string>> export_missing(const std::string& scope,
                                                  const crdt::VersionVector& peer,
                                                  size_t max_bytes = SIZE_MAX) const;
  // Ingests sealed changes in one durable transaction. A bad change is refused (listed in the
  // report) and the others are kept.
  Result<IngestReport> ingest(const std::vector<std::string>& sealed);

  // SHA-256 (hex) of the canonical encoding of every materialised record of `scope`, in
  // (collection, id) order: equal on two replicas exactly when they hold the same state.
  Result<std::string> state_hash(const std::string& scope) const;

  // Consistency check of the store: every chain contiguous, hash-linked and verifying, every
  // head naming its last change, every record decryptable with a matching conflict flag and
  // feed entry, every unapplied mark naming a held change. Ok, or kDataLoss naming the first
  // problem. (Index entries are not re-derived.)
  Status verify() const;

  // Hands the store's pages that this process has read back to the kernel: they leave the
  // process's resident memory (RSS) but stay in the page cache, so nothing is lost and the next
  // read maps them again. Also frees the compression contexts kept for the next commit or sync
  // (up to a megabyte or so each). For an app going to the background on a tablet whose low-memory
  // killer counts RSS, or a hub after a large sync.
  Status release_memory() const;

  class Impl;

 private:
  explicit Replica(std::unique_ptr<Impl> impl);
  friend class Transaction;
  friend class Handshake;
  friend class SyncSession;
  friend struct ReplicaTestAccess;  // tests/engine: a device's own keys, to forge its changes
  std::unique_ptr<Impl> impl_;
};

// A write transaction over records in any scope. Ops are checked against the schema as they
// are added: the first invalid one makes the transaction fail at commit() with that error
// (naming the field), and nothing is written. A record created here must be written in the same
// transaction (its required fields, or at least one field): a record exists only through its
// ops, so commit() refuses one created with none, rather than report success and store nothing.
// Not copyable; commit at most once.
class Transaction {
 public:
  // Creates a record in `collection` and `scope`; returns its fresh 128-bit id. Write at least
  // one of its fields (all its required ones) in this transaction: commit() refuses it with
  // invalid_argument otherwise.
  crdt::RecordId create(const std::string& collection, const std::string& scope);
  // Creates a record with an id the caller chose (an import from another system, generated
  // test data); the caller guarantees it is unique. Returns `id`.
  crdt::RecordId create(const std::string& collection, const std::string& scope,
                        const crdt::RecordId& id);
  Transaction& set(const std::string& collection, const crdt::RecordId& id,
                   const std::string& field, crdt::Value value);  // lww or mv field
  Transaction& add(const std::string& collection, const crdt::RecordId& id,
                   const std::string& field, crdt::Value element);  // set field
  Transaction& remove(const std::string& collection, const crdt::RecordId& id,
                      const std::string& field, crdt::Value element);  // set field
  Transaction& increment(const std::string& collection, const crdt::RecordId& id,
                         const std::string& field, int64_t delta);  // counter field
  Transaction& append(const std::string& collection, const crdt::RecordId& id,
                      const std::string& field, crdt::Value payload);  // log field
  Transaction& remove_record(const std::string& collection, const crdt::RecordId& id);
  Transaction& restore_record(const std::string& collection, const crdt::RecordId& id);

  // The first error so far (ok while the transaction is valid).
  const Status& status() const { return status_; }
  // Seals, stores and applies the ops: one change per scope touched.
  Status commit();

  Transaction(Transaction&&) = default;
  ~Transaction();

  // One queued op, before dots, time and observed dots are assigned at commit.
  struct Pending {
    crdt::Op op;
    // The scope of the record this transaction creates (its entry in the transaction's
    // created records), or null: the record's stored scope.
    const std::string* scope = nullptr;
    bool creates = false;
    int64_t delta = 0;  // counter increments
  };

 private:
  friend class Replica;
  explicit Transaction(Replica* replica) : replica_(replica) {}
  Status check_required() const;
  // `field_spec`, when given, is the spec of `field` in the collection's spec_of() (null when
  // it has none), as the caller already looked it up.
  Transaction& queue(crdt::OpKind kind, const std::string& collection, const crdt::RecordId& id,
                     const std::string& field, crdt::Value value, int64_t delta = 0,
                     std::optional<const crdt::FieldSpec*> field_spec = std::nullopt);

  // A record this transaction creates. It comes into being only through an op on it, so
  // commit() refuses one that no op `touched`.
  struct Created {
    std::string scope;
    std::string collection;
    bool touched = false;
  };

  Replica* replica_;
  std::vector<Pending> ops_;
  std::map<crdt::RecordId, Created> created_scopes_;
  std::pair<const crdt::RecordId, Created>* last_created_ = nullptr;  // looked up last
  const crdt::CollectionSpec* last_spec_ = nullptr;  // the collection spec looked up last
  const crdt::CollectionSpec* spec_of(const std::string& collection);
  Status status_;
  bool committed_ = false;
};

}  // namespace birga
