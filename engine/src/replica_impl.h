// Replica::Impl: the state behind a Replica, shared by its parts (replica.cpp: open and reads;
// transaction.cpp: local writes; ingest.cpp: remote changes; record_batch.cpp: materialising).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "birga/replica.h"
#include "birga/trust.h"
#include "crypto.h"
#include "lmdb_env.h"
#include "parallel.h"
#include "sealed_change.h"

namespace birga {
namespace engine {
class RecordBatch;
}

class Replica::Impl {
 public:
  std::string dir;
  ReplicaOptions options;
  std::unique_ptr<engine::LmdbEnv> env;
  crdt::HybridClock clock;
  engine::SigningKey device;
  crdt::ActorId actor;
  engine::SecretBytes storage_key;  // 32 bytes, sealed under the passphrase in kMeta
  engine::Key32 record_key{};       // derived: encrypts materialised records
  engine::Key32 index_key{};        // derived: keys the index hashes
  engine::Key32 scope_wrap_key{};   // derived: encrypts scope keys at rest
  std::map<std::string, std::map<uint32_t, engine::Key32>> scope_keys;  // scope -> epoch -> key
  std::optional<PublicKey> authority;                                   // set when enrolled
  std::string certificate;  // this device's certificate bytes, when enrolled

  explicit Impl(ReplicaOptions opts)
      : options(std::move(opts)), clock(options.wall_clock, options.max_clock_skew_ms) {}

  // Derives the subkeys from storage_key.
  void derive_keys();
  // Loads and decrypts every scope key (at open).
  Status load_scope_keys();
  // Stores a scope key (encrypted at rest) and applies the held changes it opens.
  Status store_scope_key(const std::string& scope, uint32_t epoch, const engine::Key32& key);
  const engine::Key32* find_scope_key(const std::string& scope, uint32_t epoch) const;
  // Highest epoch held for `scope`, or nullopt.
  std::optional<uint32_t> current_epoch(const std::string& scope) const;

  // The sealed change (scope, actor, seq) from the log, if held.
  Result<std::optional<std::string>> change_at(const std::string& scope, const crdt::ActorId& actor,
                                               uint64_t seq) const;
  // Appends an alert in the transaction.
  Status add_alert(engine::Txn& txn, const std::string& kind, const std::string& detail);
  // Persists the clock in the transaction.
  Status save_clock(engine::Txn& txn);

  // Materialised records (record_store.cpp): blocks of consecutive records of one collection,
  // compressed (with the collection's record dictionary once it has one) and encrypted under
  // record_key with the block's table key (its first record's key) as associated data.
  struct RecordDict;
  struct StoredRecord {
    uint64_t feed_pos = 0;
    std::string scope;
    crdt::Record state;
  };
  // One record of a block: its id and payload (a view into the block's body or the writer's).
  struct BlockItem {
    crdt::RecordId id;
    std::string_view payload;
  };
  // A range: the records one change created, stored as a reference to that change in the log
  // rather than as their states (record_store.cpp). Its records are the ones the change's ops
  // create in the range's collection with ids from the block key's to `last`; the i-th has
  // feed position `first_pos + i`.
  struct RangeRef {
    uint64_t first_pos = 0;
    uint64_t count = 0;
    crdt::RecordId last;
    std::string change;  // the change's kChanges key
  };
  // A block opened: its body and its records in id order (views into `body`: not movable).
  // A range opened without its records (open_block's `expand` false) has `range` set and no
  // items until expand_range().
  struct OpenedBlock {
    std::string body;
    std::vector<BlockItem> items;
    std::optional<RangeRef> range;
    bool expanded = true;  // false: a range whose items are not made yet
    OpenedBlock() = default;
    OpenedBlock(const OpenedBlock&) = delete;
    OpenedBlock& operator=(const OpenedBlock&) = delete;
    const BlockItem* find(const crdt::RecordId& id) const;
  };
  // A record's feed position, scope and state, as stored in a block.
  static std::string record_payload(uint64_t feed_pos, std::string_view scope,
                                    const crdt::Record& state);
  static Status open_payload(std::string_view payload, StoredRecord* out);
  // Seals `items` (at least one, ascending ids) as the block stored at `block_key`.
  std::string seal_block(std::string_view block_key, const std::vector<BlockItem>& items,
                         const RecordDict* dict) const;
  // Opens the block stored at `block_key`. A range's records are made from its change unless
  // `expand` is false (the caller then has `range` and no items, and may expand_range() later).
  Status open_block(const engine::Txn& txn, std::string_view block_key, std::string_view sealed,
                    OpenedBlock* out, bool expand = true) const;
  // Seals a range stored at `block_key` (its first record's key).
  std::string seal_range(std::string_view block_key, const RangeRef& range) const;
  // Makes the records of the range `out->range` (stored at `block_key`) from its change.
  Status expand_range(const engine::Txn& txn, std::string_view block_key, OpenedBlock* out) const;
  // A change feed entry's value: the key of the record at its position, or of a range's
  // first record followed by the number of records the range holds (u64 BE), which have the
  // positions from the entry's on.
  struct FeedEntry {
    std::string_view rkey;
    uint64_t count = 1;
    bool range = false;
  };
  static bool parse_feed_entry(std::string_view value, FeedEntry* out);
  // Calls fn(position, record key) for every record whose feed position is past `since`, in
  // position order; stops at fn's first error.
  Status visit_feed(const engine::Txn& txn, uint64_t since,
                    const std::function<Status(uint64_t pos, std::string_view rkey)>& fn) const;
  // The table that holds the record keyed `rkey` (its collection's own, or the shared one);
  // `id` receives the record's id. A key that does not parse is data_loss.
  static Result<engine::RecordTable> home_table(const engine::Txn& txn, std::string_view rkey,
                                                crdt::RecordId* id);
  // The record stored at `rkey`, nullopt when absent.
  Result<std::optional<StoredRecord>> read_record(const engine::Txn& txn,
                                                  std::string_view rkey) const;
  // Calls fn(record key, record) for every record of the blocks of `table` whose keys start
  // with `prefix`, in key order, and checks the blocks' order; stops at fn's first error.
  using RecordVisit = std::function<Status(std::string_view rkey, StoredRecord& rec)>;
  Status scan_records(const engine::Txn& txn, engine::RecordTable table, std::string_view prefix,
                      const RecordVisit& fn) const;
  // The same for one block; `last_key` (optional) is the previous block's last record key,
  // which this block's keys must follow, and is set to this block's last.
  Status visit_block(const engine::Txn& txn, std::string_view block_key, std::string_view sealed,
                     std::string* last_key, const RecordVisit& fn) const;
  // The dictionary of `collection`, or null when it has none yet.
  Result<std::shared_ptr<const RecordDict>> collection_dict(const engine::Txn& txn,
                                                            std::string_view collection) const;
  // Makes `collection`'s dictionary from these payloads (null when they are too few).
  Result<std::shared_ptr<const RecordDict>> make_collection_dict(
      engine::Txn& txn, std::string_view collection, const std::vector<std::string_view>& payloads);
  Result<std::shared_ptr<const RecordDict>> record_dict(const engine::Txn& txn, uint64_t id) const;
  // Makes the dictionary `content` (named `id`) usable and caches it.
  Result<std::shared_ptr<const RecordDict>> cache_dict(uint64_t id, std::string_view content) const;
  // Loaded dictionaries by id (an id is a hash of the content: an entry is never stale).
  mutable std::map<uint64_t, std::shared_ptr<const RecordDict>> record_dicts;
  // kIndex key of (collection, field, value): a keyed hash, so the file shows no value.
  std::string index_entry(std::string_view collection, std::string_view field,
                          const crdt::Value& value) const;
  // Loads a record by table key into a RecordView; nullopt when absent.
  Result<std::optional<RecordView>> load_view(const engine::Txn& txn, std::string_view rkey) const;

  // Loads the authority and certificate (at open).
  Status load_trust();
  // An alert a change raises once it is kept (stored, or held waiting), never for a copy
  // offered again or one not held.
  struct AuthorAlert {
    std::string kind;  // "revoked_author", "superseded_grant"
    std::string detail;
  };
  // Why a verified change may not be accepted (its author's rights: permission_denied), or the
  // alerts to raise when it is kept. `batch` sees the control records applied earlier in the
  // same batch. Only checked once enrolled.
  Result<std::vector<AuthorAlert>> check_author(engine::RecordBatch& batch,
                                                const engine::ChangeHeader& h);
  // An author's certificates and revocation time as the store holds them (not as a batch
  // being written changes them): no certificates when none is known or the store cannot be read.
  struct Standing {
    std::vector<Certificate> certs;  // in serial order
    std::optional<uint64_t> revoked_ms;
  };
  Standing stored_standing(const PublicKey& author) const;
  // When `device` was revoked (the authority's clock), as the store holds it; nullopt when it
  // was not (or no revocation of it is known here).
  Result<std::optional<uint64_t>> revoked_ms_of(const engine::Txn& txn,
                                                const PublicKey& device) const;
  // The chain (`scope`, `actor`) from seq `from` on, up to `head`: the first seq whose change
  // was made at or after `revoked_ms` (by its HLC), or head + 1 when none was. A node that
  // knows of the revocation refuses that change (check_author), and so never holds any
  // later one of the chain.
  static Result<uint64_t> first_after_revocation(const engine::Txn& txn, const std::string& scope,
                                                 const crdt::ActorId& actor, uint64_t from,
                                                 uint64_t head, uint64_t revoked_ms);
  // Called when a control change has just set the revocation record `record`: in each scope in
  // which this store holds changes of the revoked device made at or after its revocation
  // (taken before the revocation was known here), their edits are taken back out of the
  // records (undo_changes_after_revocation), and one `revoked_held` alert says so.
  Status alert_held_after_revocation(engine::Txn& txn, engine::RecordBatch& batch,
                                     const crdt::RecordId& record);
  // Rebuilds, in `batch`, every record that the changes of (`scope`, `actor`) from seq `first`
  // to `head` touched, from the scope's other applied changes in the log: as a node that
  // refused those changes holds it. A record that only they made is removed. Returns how many
  // records were rebuilt or removed. The changes stay in the log (export_missing no longer
  // passes them on).
  Result<size_t> undo_changes_after_revocation(engine::Txn& txn, engine::RecordBatch& batch,
                                               const std::string& scope, const crdt::ActorId& actor,
                                               uint64_t first, uint64_t head);
  // The rule check_author applies to a data scope's change, given its author's certificates
  // (in serial order; none: unknown) and revocation time: the certificate the change was made
  // under, or permission_denied naming `who` and why.
  static Result<const Certificate*> judge_author(const engine::ChangeHeader& h,
                                                 const std::vector<Certificate>& certs,
                                                 std::optional<uint64_t> revoked_ms,
                                                 const std::string& who);
  // A certificate of this deployment, parsed and its signature checked once per distinct
  // certificate (ingest asks for an author's certificate with every change).
  Result<Certificate> parse_certificate(std::string_view bytes);
  std::map<std::string, Certificate, std::less<>> certificate_cache;  // by certificate bytes

  // permission_denied, naming both serials, when `next` would replace this device's installed
  // certificate with an older one (or another of the same serial); ok for the installed one.
  Status check_not_older(const Certificate& next);
  // Once enrolled, a local write must be one this device's certificate allows (write right on
  // the scope, not expired, not revoked): peers would refuse it anyway.
  Status check_own_write(const std::string& scope);
  // Opens the key envelopes addressed to this device that are not yet applied.
  Status apply_envelopes();
  // Every certificate issued to `device` that the control records hold, via `batch`, in
  // serial order.
  Result<std::vector<Certificate>> certificates_of(engine::RecordBatch& batch,
                                                   const PublicKey& device);

  Status commit_local(std::vector<Transaction::Pending>& ops);
  // Writes out as blocks, each in a write of its own, the ranges holding records these ops
  // change (before the commit that changes them).
  Status write_out_ranges(const std::vector<Transaction::Pending>& ops);
  // data_loss once a sync has found this store restored or copied (meta `restored`).
  Status check_not_restored(const engine::Txn& txn) const;
  size_t last_commit_ops = 0;  // how many ops the last commit queued (begin() reserves as many)
  Result<IngestReport> ingest(const std::vector<std::string>& sealed);
  // Applies held (unapplied) changes of `scope` that the newly added key opens.
  Status apply_held(engine::Txn& txn, const std::string& scope);

  // Frees what the last write (an ingest, or a commit while it syncs) decoded and loaded, in
  // the background. Declared last, so it is waited for before anything else of the replica
  // is destroyed.
  engine::Disposer disposer;
};

// The head of (scope, actor)'s chain: seq 0 and a zero hash when nothing is held.
Result<Head> read_head(const engine::Txn& txn, const std::string& scope,
                       const crdt::ActorId& actor);
Status write_head(engine::Txn& txn, const std::string& scope, const crdt::ActorId& actor,
                  const Head& head);
// Calls fn(scope, actor, head) for each author's chain held (exchange.cpp): of `scope` only,
// or of every scope when nullopt; stops when fn returns false. A malformed entry is data_loss.
Status for_each_head(
    const engine::Txn& txn, const std::optional<std::string>& scope,
    const std::function<bool(std::string_view, const crdt::ActorId&, const Head&)>& fn);

// The header of `author`'s next change in `scope`: seq and prev_hash follow its head.
Result<engine::ChangeHeader> next_change_header(const engine::Txn& txn, const std::string& scope,
                                                const PublicKey& author);
// Seals `ops` under `h` (whose author is `key`'s): pure work, any thread.
Result<std::string> seal_own_change(const engine::ChangeHeader& h,
                                    const std::vector<const crdt::Op*>& ops,
                                    const engine::Key32& scope_key, const engine::SigningKey& key);
// Appends an own sealed change, whose change_id() is `id`, to the log and moves its author's
// head.
Status store_own_change(engine::Txn& txn, const engine::ChangeHeader& h, const std::string& sealed,
                        const engine::ChangeId& id);
// Seals `ops` under `h` (whose author is `key`'s) and appends the change to the log.
Status append_own_change(engine::Txn& txn, const engine::ChangeHeader& h,
                         const std::vector<crdt::Op>& ops, const engine::Key32& scope_key,
                         const engine::SigningKey& key);

// An alert entry's plaintext (storage.md, `alerts`), under its table key: bytes(kind) ‖
// bytes(detail), then, once acknowledged, varint(ms) ‖ bytes(note).
std::string encode_alert(const Alert& alert);
Result<Alert> decode_alert(std::string_view key, std::string_view plain);

}  // namespace birga
