// RecordBatch: the materialised records one write transaction touches.
//
// Each record's block is read and decrypted once, its records changed in memory by any number
// of ops, and the blocks written back once by flush(), which also updates the index, the
// conflict set and the change feed. A batch lives inside one LmdbEnv::write() call and dies
// with it; flush() is its last step.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "birga/crdt/record.h"
#include "lmdb_env.h"
#include "parallel.h"
#include "replica_impl.h"

namespace birga::engine {

struct LoadedRecord {
  std::string collection;
  crdt::RecordId id;
  std::string scope;  // empty until known (a record being created)
  crdt::Record state;
  uint64_t feed_pos = 0;        // its position in the change feed (0: none yet)
  bool existed = false;         // was in the store before this batch
  bool was_conflicted = false;  // in the conflicts table before this batch
  bool dirty = false;
  // No op of it is left (Replica::Impl::undo_changes_after_revocation): flush takes it out of
  // its block, the feed, the index and the conflicts, as if it had never been made.
  bool removed = false;
  std::vector<std::string> index_before;  // index entries at load time
  // apply_ops(): the first and the last of this record's ops; the ones between are chained
  // in op order. kNoOp when none is queued.
  static constexpr size_t kNoOp = SIZE_MAX;
  size_t first_op = kNoOp, last_op = kNoOp;
  // The key of the block it is (or, new, will be) stored in; for a collection without any
  // block yet, the collection's key prefix; for a new record past the end of a range, the
  // range's key followed by a zero byte (a group of new records, never a stored key).
  std::string block;
  // The change whose ops made it, as an index into the batch's sources: kNoSource before any
  // op, kMixedSource when it was stored before or ops of two changes (or of a local write
  // that is not a change) touched it. Only records made by one change can form a range.
  static constexpr uint32_t kNoSource = UINT32_MAX, kMixedSource = UINT32_MAX - 1;
  uint32_t source = kNoSource;
};

// A block of records as stored (record_store.cpp), opened once per batch.
struct LoadedBlock {
  bool stored = false;  // in the store under its key
  Replica::Impl::OpenedBlock content;
};

// From this many records loaded, a batch's records and blocks are freed on a thread of their
// own (parallel.h Disposer) while the write commits; fewer cost less to free than a thread
// costs to start.
constexpr size_t kFreeAsideRecords = 256;

class RecordBatch {
 public:
  RecordBatch(Replica::Impl& replica, Txn& txn) : replica_(replica), txn_(txn) {}

  // The record (loaded from the store, or a fresh empty one with existed=false). The pointer
  // stays valid for the batch's life.
  Result<LoadedRecord*> load(const std::string& collection, const crdt::RecordId& id);
  // Applies the ops of one change in `scope`: each op's record is loaded first (on this
  // thread), then each record's ops are applied in their order, the records spread over the
  // cores (parallel.h). An op aimed at a record of another scope is refused (a device entitled
  // to one scope cannot edit another's records through it), an op of a bad shape too; a
  // duplicate op changes nothing. `before(i, state)`, when given, runs on the record's thread
  // just before op i is applied to its record's state (the local writer fills in what the op
  // observed). Then, on this thread and in op order, each refusal is handed to `refused(i,
  // why)` (its error ends the call) and each removal from a field that flags removals raises
  // an alert. An error leaves the batch unusable (the write is then aborted).
  // Ops given as `crdt::Op*` are consumed: their values are moved into the records, for a
  // caller that drops them after; ops given as `const crdt::Op*` are only read.
  // `threads` bounds the threads the records are spread over (the caller's included): a
  // caller that keeps a helper busy meanwhile (a commit's sealer, an ingest's opener) leaves
  // it its core (parallel.h threads_beside_helper).
  using BeforeApply = std::function<void(size_t op, const crdt::Record& state)>;
  using Refused = std::function<Status(size_t op, const Status& why)>;
  // `change` is the kChanges key of the change the ops are (stored in this transaction):
  // records it alone makes may be stored as a range, a reference to it (flush).
  template <typename OpPtr>  // const crdt::Op* or crdt::Op*
  Status apply_ops(const std::vector<OpPtr>& ops, const std::string& scope,
                   const std::string& change, const Refused& refused,
                   const BeforeApply& before = nullptr, unsigned threads = kAllThreads);
  static constexpr unsigned kAllThreads = kMaxLoopThreads;
  // Has flush() write the range stored at `key` out as blocks, even if none of its records
  // changed (Replica::Impl::write_out_ranges).
  void write_out(std::string collection, std::string key) {
    write_out_.emplace_back(std::move(collection), std::move(key));
  }
  // Writes every changed record, its index entries, conflict flag and feed position.
  Status flush();
  // The records and blocks loaded, handed over to be freed elsewhere (parallel.h Disposer);
  // the batch holds none after.
  struct Contents {
    std::map<std::string, LoadedRecord> records;
    std::map<std::string, LoadedBlock> blocks;
  };
  Contents release();
  size_t loaded() const { return records_.size(); }
  Txn& txn() { return txn_; }

 private:
  std::vector<std::string> index_entries(const LoadedRecord& r) const;
  Status check_duplicates(const LoadedRecord& r);
  // The block stored at `key` (`sealed`, when the caller has it), opened; an empty one when
  // nothing is stored there.
  // A range's records are made only when asked for (expanded()).
  Result<LoadedBlock*> block(RecordTable table, const std::string& key,
                             std::optional<std::string_view> sealed = std::nullopt);
  Status expanded(const std::string& key, LoadedBlock* b);

  // The last seek for the block a record is in: every key of the table from `from` up to
  // `next` (exclusive; nullopt: no bound) has the same floor, `floor` (nullopt: none within
  // `prefix`), opened as `floor_block` (held in blocks_). Records loaded in key order, as
  // appended ones are, seek once per block. Valid until the batch writes blocks (flush).
  struct Seek {
    MDB_dbi dbi = 0;
    std::string prefix, from;
    std::optional<std::string> floor, next;
    LoadedBlock* floor_block = nullptr;
    bool covers(MDB_dbi table, std::string_view key_prefix, std::string_view key) const {
      return table == dbi && key_prefix == prefix && key >= from && (!next || key < *next);
    }
  };

  Replica::Impl& replica_;
  Txn& txn_;
  std::optional<Seek> seek_;
  std::map<std::string, LoadedRecord> records_;  // by record key
  std::map<std::string, LoadedBlock> blocks_;    // by block key
  std::vector<std::string> sources_;             // kChanges keys of the changes applied
  std::vector<std::pair<std::string, std::string>> write_out_;  // collection, range key
  // The record load() returned last.
  std::map<std::string, LoadedRecord>::iterator last_ = records_.end();
};

}  // namespace birga::engine
