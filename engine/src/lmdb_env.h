// LmdbEnv: Birga's one LMDB environment per replica, its named tables, and transactions.
//
// All LMDB return codes are mapped to Status at this edge. Writes go through write(), which
// runs a function inside one write transaction and commits it: when the map is full it aborts,
// doubles the map size and runs the function again, so the function must derive everything
// from the transaction it is given (no side effects outside it until write() returns ok).
// A commit that returns ok is durable (LMDB syncs on commit). A failed commit (full disk)
// leaves the previous state intact and returns kResourceExhausted naming the cause.
//
// Views: a std::string_view returned by Txn::get or given to a cursor callback points into the
// memory map and is valid only until the transaction ends. Copy what must outlive it.
//
// Thread rule: the environment may be shared; a Txn belongs to the thread that made it, and
// only one write transaction runs at a time (LMDB enforces it).
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "birga/status.h"

namespace birga::engine {

// The named databases of a replica. docs/storage.md gives each one's key and value format.
enum class Table : int {
  kMeta = 0,    // replica metadata: format, device key, sealed secrets, clock
  kChanges,     // sealed change log, by (scope, author, seq)
  kHeads,       // per (scope, author): contiguous seq and head change id
  kRecords,     // materialised records, encrypted, by (collection, record id)
  kIndex,       // keyed hash of (collection, field, value) -> record ids (dupsort)
  kPending,     // changes waiting for a missing predecessor, by (scope, author, seq)
  kQuarantine,  // equivocations and other refused-but-kept changes, by change id
  kUnapplied,   // held changes not yet applied (no scope key yet), by (scope, author, seq)
  kScopeKeys,   // scope data keys, encrypted, by (scope, epoch)
  kFeed,        // change feed: feed position -> record key
  kConflicts,   // record keys of records in conflict
  kAlerts,      // reported anomalies (clock skew, equivocation, over-issuance), by position
  kCount
};
const char* table_name(Table t);

// Where the records of one collection live: a table of the collection's own (so that records
// made in time order are appended and pages stay full), or the shared kRecords table once the
// store holds kMaxRecordTables of them. Record keys are the same in either.
struct RecordTable {
  MDB_dbi dbi = 0;
  friend bool operator==(const RecordTable&, const RecordTable&) = default;
};
inline constexpr size_t kMaxRecordTables = 64;

class LmdbEnv;

class Txn {
 public:
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn();

  // The value at `key`, or nullopt. The view dies with the transaction.
  Result<std::optional<std::string_view>> get(Table t, std::string_view key) const;
  bool writable() const { return writable_; }
  // REQUIRES: writable(). kLikelyLast: the key is probably past every key of the table (a new
  // feed position, a new time-ordered record id): it is then appended, which leaves full pages
  // behind (an ordinary insert at the end splits a page in half); otherwise it is put as usual.
  enum class PutHint { kNone, kLikelyLast };
  Status put(Table t, std::string_view key, std::string_view value, PutHint hint = PutHint::kNone);
  // Deletes `key` (with a dupsort table and a non-empty `value`, only that value).
  // Deleting what is absent is ok.
  Status del(Table t, std::string_view key, std::string_view value = {});

  // Calls fn(key, value) for every entry whose key starts with `prefix`, in key order, from
  // the first key >= `from` (defaults to `prefix`). fn returns false to stop.
  using Visit = std::function<bool(std::string_view key, std::string_view value)>;
  Status scan(Table t, std::string_view prefix, const Visit& fn, std::string_view from = {}) const;
  // Every value stored under `key` in a dupsort table.
  Status scan_dups(Table t, std::string_view key, const Visit& fn) const;
  // Number of entries in a table.
  Result<uint64_t> count(Table t) const;

  // The table holding `collection`'s records. With `create` (write transactions), a collection
  // not seen before gets a table of its own while fewer than kMaxRecordTables exist; otherwise,
  // and for a collection that has none, the shared kRecords table.
  Result<RecordTable> records_of(std::string_view collection, bool create);
  Result<RecordTable> records_of(std::string_view collection) const;
  // Every table that holds records: kRecords, then each collection's own.
  Result<std::vector<RecordTable>> record_tables() const;
  // Consistency: every collection table in the file is registered in kMeta under its
  // collection (a table whose entry was lost would hide its records from every read).
  Status check_record_tables() const;
  Result<std::optional<std::string_view>> get(RecordTable t, std::string_view key) const;
  Status put(RecordTable t, std::string_view key, std::string_view value,
             PutHint hint = PutHint::kNone);
  Status scan(RecordTable t, std::string_view prefix, const Visit& fn,
              std::string_view from = {}) const;
  Status del(RecordTable t, std::string_view key);
  // The entry with the greatest key <= `key` whose key starts with `prefix`, or nullopt.
  // `next`, when given, receives the table's first key past `key` (nullopt: none).
  struct Entry {
    std::string_view key, value;
  };
  Result<std::optional<Entry>> floor(RecordTable t, std::string_view prefix, std::string_view key,
                                     std::optional<std::string_view>* next = nullptr) const;
  // The same for a fixed table, over all of its keys.
  Result<std::optional<Entry>> floor(Table t, std::string_view key) const;

  MDB_txn* raw() const { return txn_; }

 private:
  friend class LmdbEnv;
  Txn(const LmdbEnv* env, MDB_txn* txn, bool writable)
      : env_(env), txn_(txn), writable_(writable) {}

  Result<std::optional<std::string_view>> get(MDB_dbi dbi, std::string_view key,
                                              const char* what) const;
  Status put(MDB_dbi dbi, std::string_view key, std::string_view value, PutHint hint,
             const char* what);
  Status del(MDB_dbi dbi, std::string_view key, std::string_view value, const char* what);
  Status scan(MDB_dbi dbi, std::string_view prefix, const Visit& fn, std::string_view from,
              const char* what) const;
  // The collection's own table, opened in this transaction if needed; nullopt when it has none.
  Result<std::optional<MDB_dbi>> own_records(std::string_view collection) const;

  const LmdbEnv* env_;
  MDB_txn* txn_;
  bool writable_;
  // Collection tables opened in this transaction: LMDB closes them if it aborts, so they join
  // the environment's list only once it has committed.
  mutable std::map<std::string, MDB_dbi, std::less<>> opened_;
  // The same for collections this transaction found had to stay in the shared table.
  std::set<std::string, std::less<>> shared_for_good_;
};

class LmdbEnv {
 public:
  friend class Txn;
  struct Options {
    uint64_t initial_map_bytes = uint64_t{64} << 20;  // grows by doubling when full
    uint64_t max_map_bytes = uint64_t{1} << 40;
  };

  // Opens (creating if needed) the environment in directory `dir`, which must exist.
  // unavailable when this process has it open already (LMDB forbids it: the second open would
  // break the first one's locks).
  static Result<std::unique_ptr<LmdbEnv>> open(const std::string& dir, Options options);
  static Result<std::unique_ptr<LmdbEnv>> open(const std::string& dir) { return open(dir, {}); }
  ~LmdbEnv();
  LmdbEnv(const LmdbEnv&) = delete;
  LmdbEnv& operator=(const LmdbEnv&) = delete;

  // Runs fn in one write transaction and commits it (see the file comment).
  Status write(const std::function<Status(Txn&)>& fn);
  // Runs fn in a read transaction (a consistent snapshot); on a thread in the middle of a
  // transaction, in that one (see t_current in lmdb_env.cpp).
  Status read(const std::function<Status(const Txn&)>& fn) const;

  // Drops the store's pages from this process's resident set. The map is read-only (no
  // MDB_WRITEMAP), so nothing is lost: the pages stay in the kernel's page cache and the next
  // read maps them again. Returns what madvise reported.
  Status release_pages() const;

  // Makes sure that no other process has the environment open, and keeps it so until this
  // LmdbEnv is destroyed (a process that opens it meanwhile waits). LMDB holds a shared lock on
  // byte 0 of lock.mdb in every process that has the environment open, and tries the exclusive
  // lock first to learn whether it is alone; this takes that exclusive lock, which is granted
  // only when no other process holds the shared one. unavailable when one does. (Within this
  // process, open() already refuses a store that another LmdbEnv has open.)
  Status lock_exclusive();

  // Clears from the file the stale copies of data that LMDB leaves: it copies a page on write
  // and frees the old copy, which keeps its bytes until the page is reused, and it writes pages
  // from recycled buffers without clearing what the page does not use, which then holds bytes
  // of whatever the buffer held before. After a value is replaced (the secrets, sealed under a
  // passphrase since changed), copies of the old value can so remain. This writes zeros over
  // every freed page LMDB itself could reuse (freed before the last commit and before the
  // oldest snapshot an open reader holds), the unused middle of every branch and leaf page, the
  // tail past each value on overflow pages, and the pages past the last one in use; then syncs.
  // Only bytes that no reader reads are written. REQUIRES: lock_exclusive(), and an
  // environment opened afresh, whose buffers never held a copy. docs/storage.md, section 3.
  // Returns the number of pages written to.
  Result<uint64_t> scrub_stale_bytes();

  MDB_dbi dbi(Table t) const { return dbis_[static_cast<int>(t)]; }
  uint64_t map_bytes() const { return map_bytes_; }
  const std::string& dir() const { return dir_; }

 private:
  LmdbEnv() = default;
  Status grow();

  // Ends `txn` (commit, or for a read transaction, a release that keeps its table handles) and
  // adopts the collection tables it opened.
  int finish(Txn& txn) const;

  MDB_env* env_ = nullptr;
  MDB_dbi dbis_[static_cast<int>(Table::kCount)] = {};
  // Collection record tables known to be committed, by collection name.
  mutable std::map<std::string, MDB_dbi, std::less<>> record_dbis_;
  // Collections found, in a committed write, to stay in the shared table for good (the store
  // had kMaxRecordTables committed before they came; tables are never removed).
  mutable std::set<std::string, std::less<>> shared_for_good_;
  std::string dir_;
  Options options_;
  int exclusive_fd_ = -1;  // lock.mdb, while lock_exclusive() holds it
  // The directory's device and inode, among the stores this process has open.
  std::optional<std::pair<uint64_t, uint64_t>> opened_;
  uint64_t map_bytes_ = 0;
};

// Maps an LMDB (or errno) return code to a Status; `what` names the operation.
Status lmdb_status(int rc, const std::string& what);

}  // namespace birga::engine
