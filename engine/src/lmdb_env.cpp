#include "lmdb_env.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "birga/crdt/codec.h"

namespace birga::engine {
namespace {

constexpr const char* kTableNames[] = {
    "meta",       "changes",   "heads",      "records", "index",     "pending",
    "quarantine", "unapplied", "scope_keys", "feed",    "conflicts", "alerts",
};
static_assert(sizeof kTableNames / sizeof kTableNames[0] == static_cast<int>(Table::kCount));

MDB_val to_val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
std::string_view to_view(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

// LMDB reports a write cut short as EIO: the disk (or the process's file size limit) filled
// up in the middle of it, or the device failed. True when the store's file system has less
// than 16 MiB free or the file has reached the file size limit: then it was space.
bool out_of_space(const std::string& dir) {
  struct statvfs fs {};
  if (statvfs(dir.c_str(), &fs) == 0 &&
      uint64_t{fs.f_bavail} * fs.f_frsize < (uint64_t{16} << 20)) {
    return true;
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(dir + "/data.mdb", ec);
    if (!ec && size + (uint64_t{1} << 20) >= limit.rlim_cur) return true;
  }
  return false;
}

// The stores this process has open, by the device and inode of their directory. LMDB must not
// open one store twice in a process: its locks belong to the process, so the second open would
// find itself alone, reset the lock file under the first, and on closing drop the first one's
// lock.
std::mutex open_stores_mutex;
std::set<std::pair<uint64_t, uint64_t>> open_stores;

// Claims `dir` for one LmdbEnv of this process: unavailable when another holds it; nullopt
// when the directory cannot be looked at (then opening it fails and says why).
Result<std::optional<std::pair<uint64_t, uint64_t>>> claim_store(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return std::optional<std::pair<uint64_t, uint64_t>>();
  const std::pair<uint64_t, uint64_t> id{st.st_dev, st.st_ino};
  std::lock_guard lock(open_stores_mutex);
  if (!open_stores.insert(id).second) {
    return Status::unavailable("the store in " + dir +
                               " is already open in this process: close it first");
  }
  return std::optional(id);
}

void release_store(const std::pair<uint64_t, uint64_t>& id) {
  std::lock_guard lock(open_stores_mutex);
  open_stores.erase(id);
}

// Sets LMDB's lock on byte 0 of lock.mdb (F_WRLCK, F_RDLCK) through `fd`, without waiting.
int set_lock_byte(int fd, short type) {
  struct flock lock {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = 0;
  lock.l_len = 1;
  int rc;
  while ((rc = fcntl(fd, F_SETLK, &lock)) != 0 && errno == EINTR) {
  }
  return rc;
}

// Set by Txn::put when LMDB reports the map full, so LmdbEnv::write can grow and retry.
thread_local bool t_map_full = false;

// The transaction this thread is running, if any. A read asked for in the middle of one runs
// in it: LMDB lets only one transaction at a time in a process open table handles (a second
// transaction opening a record table could take the slot of one the first has just opened,
// which then fails with MDB_BAD_DBI), and a read in the middle of a write means to see what
// the write has done so far anyway.
thread_local const Txn* t_current = nullptr;
struct Running {
  const Txn* outer;
  explicit Running(const Txn* txn) : outer(t_current) { t_current = txn; }
  ~Running() { t_current = outer; }
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;
};

}  // namespace

const char* table_name(Table t) {
  return kTableNames[static_cast<int>(t)];
}

Status lmdb_status(int rc, const std::string& what) {
  if (rc == MDB_SUCCESS) return Status::ok();
  const std::string msg = what + ": " + mdb_strerror(rc);
  switch (rc) {
    case MDB_MAP_FULL:
      return Status::resource_exhausted(msg + " (map full)");
    case ENOSPC:
    case EFBIG:
    case EDQUOT:
      return Status::resource_exhausted(msg +
                                        " (disk full: free space and retry; nothing was "
                                        "lost, the store is as it was before this write)");
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return Status::data_loss(msg + " (the store is damaged or not an LMDB file)");
    case EACCES:
    case EPERM:
      return Status::permission_denied(msg +
                                       " (this user may not read or write the store's files: run "
                                       "as the user that owns them, or fix their permissions)");
    case EROFS:
      return Status::permission_denied(msg + " (the store is on a read-only file system)");
    case MDB_READERS_FULL:
    case EAGAIN:
    case EBUSY:
      return Status::unavailable(msg);
    default:
      return Status::internal(msg);
  }
}

Txn::~Txn() {
  if (txn_) mdb_txn_abort(txn_);
}

Result<std::optional<std::string_view>> Txn::get(MDB_dbi dbi, std::string_view key,
                                                 const char* what) const {
  MDB_val k = to_val(key), v{};
  const int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
  if (rc != MDB_SUCCESS) return lmdb_status(rc, std::string("get from ") + what);
  return std::optional<std::string_view>(to_view(v));
}

Result<std::optional<std::string_view>> Txn::get(Table t, std::string_view key) const {
  return get(env_->dbi(t), key, table_name(t));
}

Result<std::optional<std::string_view>> Txn::get(RecordTable t, std::string_view key) const {
  return get(t.dbi, key, "records");
}

Status Txn::put(MDB_dbi dbi, std::string_view key, std::string_view value, PutHint hint,
                const char* what) {
  if (!writable_) return Status::internal("put in a read transaction");
  MDB_val k = to_val(key), v = to_val(value);
  int rc = MDB_KEYEXIST;
  if (hint == PutHint::kLikelyLast) {
    // MDB_APPEND refuses (MDB_KEYEXIST, nothing written) a key that is not past the last one.
    rc = mdb_put(txn_, dbi, &k, &v, MDB_APPEND);
  }
  if (rc == MDB_KEYEXIST) rc = mdb_put(txn_, dbi, &k, &v, 0);
  if (rc == MDB_MAP_FULL) t_map_full = true;
  return lmdb_status(rc, std::string("put into ") + what);
}

Status Txn::put(Table t, std::string_view key, std::string_view value, PutHint hint) {
  return put(env_->dbi(t), key, value, hint, table_name(t));
}

Status Txn::put(RecordTable t, std::string_view key, std::string_view value, PutHint hint) {
  return put(t.dbi, key, value, hint, "records");
}

Status Txn::del(MDB_dbi dbi, std::string_view key, std::string_view value, const char* what) {
  if (!writable_) return Status::internal("del in a read transaction");
  MDB_val k = to_val(key), v = to_val(value);
  const int rc = mdb_del(txn_, dbi, &k, value.empty() ? nullptr : &v);
  if (rc == MDB_NOTFOUND) return Status::ok();
  if (rc == MDB_MAP_FULL) t_map_full = true;
  return lmdb_status(rc, std::string("delete from ") + what);
}

Status Txn::del(Table t, std::string_view key, std::string_view value) {
  return del(env_->dbi(t), key, value, table_name(t));
}

namespace {

// A cursor that closes itself.
struct Cursor {
  MDB_cursor* c = nullptr;
  ~Cursor() {
    if (c) mdb_cursor_close(c);
  }
};

}  // namespace

Status Txn::scan(MDB_dbi dbi, std::string_view prefix, const Visit& fn, std::string_view from,
                 const char* what) const {
  Cursor cur;
  BIRGA_RETURN_IF_ERROR(lmdb_status(mdb_cursor_open(txn_, dbi, &cur.c), "cursor"));
  const std::string_view start = from.empty() ? prefix : from;
  MDB_val k = to_val(start), v{};
  int rc = start.empty() ? mdb_cursor_get(cur.c, &k, &v, MDB_FIRST)
                         : mdb_cursor_get(cur.c, &k, &v, MDB_SET_RANGE);
  while (rc == MDB_SUCCESS) {
    const std::string_view key = to_view(k);
    if (key.substr(0, prefix.size()) != prefix) break;
    if (!fn(key, to_view(v))) return Status::ok();
    rc = mdb_cursor_get(cur.c, &k, &v, MDB_NEXT);
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
    return lmdb_status(rc, std::string("scan of ") + what);
  }
  return Status::ok();
}

Status Txn::scan(Table t, std::string_view prefix, const Visit& fn, std::string_view from) const {
  return scan(env_->dbi(t), prefix, fn, from, table_name(t));
}

Status Txn::scan(RecordTable t, std::string_view prefix, const Visit& fn,
                 std::string_view from) const {
  return scan(t.dbi, prefix, fn, from, "records");
}

Status Txn::del(RecordTable t, std::string_view key) {
  return del(t.dbi, key, {}, "records");
}

Result<std::optional<Txn::Entry>> Txn::floor(RecordTable t, std::string_view prefix,
                                             std::string_view key,
                                             std::optional<std::string_view>* next) const {
  Cursor cur;
  BIRGA_RETURN_IF_ERROR(lmdb_status(mdb_cursor_open(txn_, t.dbi, &cur.c), "cursor"));
  MDB_val k = to_val(key), v{};
  int rc = mdb_cursor_get(cur.c, &k, &v, MDB_SET_RANGE);
  if (next) *next = std::nullopt;
  if (rc == MDB_SUCCESS && to_view(k) != key) {
    if (next) *next = to_view(k);
    rc = mdb_cursor_get(cur.c, &k, &v, MDB_PREV);  // the first key past `key`: step back
  } else if (rc == MDB_SUCCESS && next) {
    MDB_val nk{}, nv{};  // `key` itself: k and v stay on it (views of the pages)
    const int after = mdb_cursor_get(cur.c, &nk, &nv, MDB_NEXT);
    if (after == MDB_SUCCESS) {
      *next = to_view(nk);
    } else if (after != MDB_NOTFOUND) {
      return lmdb_status(after, "seek in records");
    }
  } else if (rc == MDB_NOTFOUND) {
    rc = mdb_cursor_get(cur.c, &k, &v, MDB_LAST);  // every key is below `key`
  }
  if (rc == MDB_NOTFOUND) return std::optional<Entry>();
  if (rc != MDB_SUCCESS) return lmdb_status(rc, "seek in records");
  const std::string_view found = to_view(k);
  if (found.substr(0, prefix.size()) != prefix) return std::optional<Entry>();
  return std::optional<Entry>(Entry{found, to_view(v)});
}

Result<std::optional<Txn::Entry>> Txn::floor(Table t, std::string_view key) const {
  return floor(RecordTable{env_->dbi(t)}, "", key);
}

namespace {
const std::string kRecordTablePrefix = "records/";  // meta: + collection -> its table's name

std::string record_table_name(std::string_view collection) {
  return "r" + crdt::to_hex(collection);  // 2 hex digits per byte: at most 511, LMDB's key limit
}
}  // namespace

Result<std::optional<MDB_dbi>> Txn::own_records(std::string_view collection) const {
  if (auto it = opened_.find(collection); it != opened_.end()) return std::optional(it->second);
  if (auto it = env_->record_dbis_.find(collection); it != env_->record_dbis_.end()) {
    return std::optional(it->second);
  }
  auto name = get(Table::kMeta, kRecordTablePrefix + std::string(collection));
  if (!name.is_ok()) return name.status();
  if (!*name) return std::optional<MDB_dbi>();
  const std::string table(**name);
  MDB_dbi dbi = 0;
  BIRGA_RETURN_IF_ERROR(lmdb_status(mdb_dbi_open(txn_, table.c_str(), 0, &dbi),
                                    "open the record table of '" + std::string(collection) + "'"));
  opened_.emplace(std::string(collection), dbi);
  return std::optional(dbi);
}

Result<RecordTable> Txn::records_of(std::string_view collection) const {
  auto own = own_records(collection);
  if (!own.is_ok()) return own.status();
  return RecordTable{*own ? **own : env_->dbi(Table::kRecords)};
}

Result<RecordTable> Txn::records_of(std::string_view collection, bool create) {
  auto own = own_records(collection);
  if (!own.is_ok()) return own.status();
  if (*own) return RecordTable{**own};
  const RecordTable shared{env_->dbi(Table::kRecords)};
  if (!create || !writable_ || env_->shared_for_good_.count(collection) ||
      shared_for_good_.count(collection)) {
    return shared;
  }
  // A collection already in the shared table stays there: tables are only ever added, so once
  // the limit is reached no later collection gets one.
  size_t tables = 0;
  BIRGA_RETURN_IF_ERROR(scan(Table::kMeta, kRecordTablePrefix, [&](auto, auto) {
    ++tables;
    return true;
  }));
  if (tables >= kMaxRecordTables) {
    shared_for_good_.emplace(collection);  // adopted by the environment once committed
    return shared;
  }
  const std::string name = record_table_name(collection);
  MDB_dbi dbi = 0;
  const int rc = mdb_dbi_open(txn_, name.c_str(), MDB_CREATE, &dbi);
  if (rc == MDB_MAP_FULL) t_map_full = true;
  BIRGA_RETURN_IF_ERROR(
      lmdb_status(rc, "create the record table of '" + std::string(collection) + "'"));
  BIRGA_RETURN_IF_ERROR(put(Table::kMeta, kRecordTablePrefix + std::string(collection), name));
  opened_.emplace(std::string(collection), dbi);
  return RecordTable{dbi};
}

Status Txn::check_record_tables() const {
  MDB_dbi main = 0;
  BIRGA_RETURN_IF_ERROR(lmdb_status(mdb_dbi_open(txn_, nullptr, 0, &main), "open the main table"));
  std::vector<std::string> names;
  BIRGA_RETURN_IF_ERROR(scan(
      main, "r",
      [&](std::string_view k, auto) {
        names.emplace_back(k);
        return true;
      },
      {}, "the main table"));
  for (const std::string& name : names) {
    if (name == table_name(Table::kRecords)) continue;
    // Exactly a name record_table_name() gives: "r" and the lowercase hex of a collection.
    const std::optional<std::string> decoded = crdt::from_hex(std::string_view(name).substr(1));
    if (!decoded || decoded->empty() || record_table_name(*decoded) != name) {
      return Status::data_loss("the store holds an unknown table '" + name + "'");
    }
    const std::string& collection = *decoded;
    auto registered = get(Table::kMeta, kRecordTablePrefix + collection);
    if (!registered.is_ok()) return registered.status();
    if (!*registered || **registered != name) {
      return Status::data_loss("the record table of collection '" + collection +
                               "' is not registered: its records would be unreadable");
    }
  }
  return Status::ok();
}

Result<std::vector<RecordTable>> Txn::record_tables() const {
  std::vector<std::string> collections;
  BIRGA_RETURN_IF_ERROR(scan(Table::kMeta, kRecordTablePrefix, [&](std::string_view k, auto) {
    collections.emplace_back(k.substr(kRecordTablePrefix.size()));
    return true;
  }));
  std::vector<RecordTable> out{RecordTable{env_->dbi(Table::kRecords)}};
  for (const std::string& c : collections) {
    auto t = records_of(c);
    if (!t.is_ok()) return t.status();
    out.push_back(*t);
  }
  return out;
}

Status Txn::scan_dups(Table t, std::string_view key, const Visit& fn) const {
  Cursor cur;
  BIRGA_RETURN_IF_ERROR(lmdb_status(mdb_cursor_open(txn_, env_->dbi(t), &cur.c), "cursor"));
  MDB_val k = to_val(key), v{};
  int rc = mdb_cursor_get(cur.c, &k, &v, MDB_SET_KEY);
  while (rc == MDB_SUCCESS) {
    if (!fn(to_view(k), to_view(v))) return Status::ok();
    rc = mdb_cursor_get(cur.c, &k, &v, MDB_NEXT_DUP);
  }
  if (rc != MDB_NOTFOUND) return lmdb_status(rc, std::string("scan of ") + table_name(t));
  return Status::ok();
}

Result<uint64_t> Txn::count(Table t) const {
  MDB_stat st{};
  const int rc = mdb_stat(txn_, env_->dbi(t), &st);
  if (rc != MDB_SUCCESS) return lmdb_status(rc, std::string("stat of ") + table_name(t));
  return static_cast<uint64_t>(st.ms_entries);
}

Result<std::unique_ptr<LmdbEnv>> LmdbEnv::open(const std::string& dir, Options options) {
  std::unique_ptr<LmdbEnv> env(new LmdbEnv());
  auto claimed = claim_store(dir);
  if (!claimed.is_ok()) return claimed.status();
  env->opened_ = *claimed;  // released by the destructor, also when opening fails below
  env->dir_ = dir;
  env->options_ = options;
  env->map_bytes_ = options.initial_map_bytes;
  const std::string what = "open store in " + dir;
  BIRGA_RETURN_IF_ERROR(lmdb_status(mdb_env_create(&env->env_), what));
  BIRGA_RETURN_IF_ERROR(lmdb_status(
      mdb_env_set_maxdbs(env->env_, static_cast<MDB_dbi>(Table::kCount) + kMaxRecordTables + 8),
      what));
  BIRGA_RETURN_IF_ERROR(lmdb_status(mdb_env_set_maxreaders(env->env_, 512), what));
  BIRGA_RETURN_IF_ERROR(lmdb_status(mdb_env_set_mapsize(env->env_, env->map_bytes_), what));
  BIRGA_RETURN_IF_ERROR(lmdb_status(mdb_env_open(env->env_, dir.c_str(), MDB_NOTLS, 0600), what));
  // The file may be larger than the requested map (made by a run that grew it): adopt its size.
  MDB_envinfo info{};
  mdb_env_info(env->env_, &info);
  env->map_bytes_ = std::max<uint64_t>(env->map_bytes_, info.me_mapsize);

  Status s = env->write([&](Txn& txn) -> Status {
    for (int i = 0; i < static_cast<int>(Table::kCount); ++i) {
      unsigned flags = MDB_CREATE;
      if (static_cast<Table>(i) == Table::kIndex) flags |= MDB_DUPSORT;
      BIRGA_RETURN_IF_ERROR(
          lmdb_status(mdb_dbi_open(txn.raw(), kTableNames[i], flags, &env->dbis_[i]),
                      std::string("open table ") + kTableNames[i]));
    }
    return Status::ok();
  });
  BIRGA_RETURN_IF_ERROR(s.with_context(what));
  return env;
}

LmdbEnv::~LmdbEnv() {
  // Back to the shared lock first: an LMDB that finds itself alone when closing (0.9.26 and
  // later) destroys the lock file's mutexes, which a process waiting to open would then use.
  if (exclusive_fd_ >= 0) set_lock_byte(exclusive_fd_, F_RDLCK);
  if (env_) mdb_env_close(env_);
  // Closed after the environment: closing any descriptor of lock.mdb releases every lock this
  // process holds on it, LMDB's own shared one included.
  if (exclusive_fd_ >= 0) close(exclusive_fd_);
  if (opened_) release_store(*opened_);
}

Status LmdbEnv::grow() {
  if (map_bytes_ * 2 > options_.max_map_bytes) {
    return Status::resource_exhausted("store reached its maximum size of " +
                                      std::to_string(options_.max_map_bytes >> 20) + " MiB");
  }
  map_bytes_ *= 2;
  return lmdb_status(mdb_env_set_mapsize(env_, map_bytes_), "grow map");
}

Status LmdbEnv::write(const std::function<Status(Txn&)>& fn) {
  if (t_current && t_current->env_ == this) {  // see t_current
    return Status::internal("a write transaction was started inside another transaction");
  }
  for (int attempt = 0; attempt < 64; ++attempt) {
    MDB_txn* raw = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, 0, &raw);
    if (rc == MDB_MAP_RESIZED) {  // another process grew the file: adopt its size
      BIRGA_RETURN_IF_ERROR(lmdb_status(mdb_env_set_mapsize(env_, 0), "adopt map size"));
      MDB_envinfo info{};
      mdb_env_info(env_, &info);
      map_bytes_ = info.me_mapsize;
      continue;
    }
    BIRGA_RETURN_IF_ERROR(lmdb_status(rc, "begin write"));
    Txn txn(this, raw, true);
    t_map_full = false;
    Status s = [&] {
      Running running(&txn);
      return fn(txn);
    }();
    if (t_map_full) {
      mdb_txn_abort(txn.txn_);
      txn.txn_ = nullptr;
      BIRGA_RETURN_IF_ERROR(grow());
      continue;
    }
    if (!s.is_ok()) return s;  // ~Txn aborts
    rc = finish(txn);
    if (rc == MDB_MAP_FULL) {
      BIRGA_RETURN_IF_ERROR(grow());
      continue;
    }
    if (rc == EIO && out_of_space(dir_)) rc = ENOSPC;
    return lmdb_status(rc, "commit");
  }
  return Status::internal("write transaction retried too often");
}

Status LmdbEnv::read(const std::function<Status(const Txn&)>& fn) const {
  if (t_current && t_current->env_ == this) return fn(*t_current);
  for (int attempt = 0; attempt < 8; ++attempt) {
    MDB_txn* raw = nullptr;
    const int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &raw);
    if (rc == MDB_MAP_RESIZED) {
      BIRGA_RETURN_IF_ERROR(lmdb_status(mdb_env_set_mapsize(env_, 0), "adopt map size"));
      continue;
    }
    BIRGA_RETURN_IF_ERROR(lmdb_status(rc, "begin read"));
    Txn txn(this, raw, false);
    Status s = [&] {
      Running running(&txn);
      return fn(txn);
    }();
    // Committing a read transaction releases it like an abort, but keeps the table handles
    // it opened.
    if (const int end = finish(txn); s.is_ok() && end != 0) {
      return lmdb_status(end, "end read");
    }
    return s;
  }
  return Status::unavailable("read transaction could not start: the map keeps being resized");
}

int LmdbEnv::finish(Txn& txn) const {
  const int rc = mdb_txn_commit(txn.txn_);
  txn.txn_ = nullptr;
  if (rc == 0) {
    record_dbis_.merge(txn.opened_);
    shared_for_good_.merge(txn.shared_for_good_);
  }
  txn.opened_.clear();
  txn.shared_for_good_.clear();
  return rc;
}

Status LmdbEnv::release_pages() const {
  // LMDB does not say where it mapped the file (MDB_envinfo's address is only set with
  // MDB_FIXEDMAP): the process's map list does.
  std::error_code ec;
  const std::string file = std::filesystem::canonical(std::filesystem::path(dir_) / "data.mdb", ec);
  if (ec) return Status::internal("releasing the store's pages: " + ec.message());
  std::ifstream maps("/proc/self/maps");
  if (!maps) return Status::unavailable("releasing the store's pages: no /proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    const size_t path_at = line.find('/');
    if (path_at == std::string::npos || line.compare(path_at, std::string::npos, file) != 0) {
      continue;
    }
    uintptr_t begin = 0, end = 0;
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &begin, &end) != 2 || end <= begin) {
      continue;
    }
    if (madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED) != 0) {
      return Status::internal(std::string("releasing the store's pages: ") + std::strerror(errno));
    }
  }
  return Status::ok();
}

Status LmdbEnv::lock_exclusive() {
  // No other LmdbEnv of this process has the store open (claim_store), so the lock below tells
  // about other processes.
  if (!opened_) return Status::internal("cannot tell which store " + dir_ + " is");
  if (exclusive_fd_ < 0) {
    exclusive_fd_ = ::open((dir_ + "/lock.mdb").c_str(), O_RDWR | O_CLOEXEC);
    if (exclusive_fd_ < 0) {
      return Status::internal("opening " + dir_ + "/lock.mdb: " + std::strerror(errno));
    }
  }
  if (set_lock_byte(exclusive_fd_, F_WRLCK) == 0) return Status::ok();
  if (errno == EACCES || errno == EAGAIN) {
    return Status::unavailable("the store in " + dir_ +
                               " is open in another process (a running `birga serve`, `birga "
                               "sync` or app): stop it first");
  }
  return Status::internal("locking " + dir_ + "/lock.mdb: " + std::strerror(errno));
}

namespace {
// The oldest snapshot any open read transaction of the environment holds (every process's,
// from the reader table), or `last` when none is older. mdb_reader_list gives one line per
// reader slot: "pid thread txnid", txnid "-" when the slot holds no transaction.
uint64_t oldest_snapshot(MDB_env* env, uint64_t last) {
  std::string lines;
  mdb_reader_list(
      env,
      [](const char* msg, void* ctx) -> int {
        *static_cast<std::string*>(ctx) += msg;
        return 0;
      },
      &lines);
  std::istringstream in(lines);
  uint64_t oldest = last;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string pid, thread, txnid;
    if (!(fields >> pid >> thread >> txnid) ||
        !std::all_of(txnid.begin(), txnid.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;  // the header line, "(no reader locks)", or a slot without a transaction
    }
    oldest = std::min<uint64_t>(oldest, std::stoull(txnid));
  }
  return oldest;
}

// LMDB's page header (lmdb's MDB_page in a 64-bit build): page number, 2 bytes of padding,
// flags, then the bounds of the free space between the node pointers and the nodes (an
// overflow page has its page count there instead).
static_assert(sizeof(size_t) == 8, "the page layout below is LMDB's in a 64-bit build");
constexpr size_t kPageHeaderBytes = 16;
constexpr uint16_t kPageBranch = 0x01, kPageLeaf = 0x02, kPageOverflow = 0x04, kPageLeaf2 = 0x20,
                   kPageSub = 0x40;
struct PageHeader {
  uint64_t pgno = 0;
  uint16_t flags = 0, lower = 0, upper = 0;
  uint32_t pages = 0;  // an overflow page's
};
PageHeader page_header(const char* bytes) {
  PageHeader h;
  std::memcpy(&h.pgno, bytes, 8);
  std::memcpy(&h.flags, bytes + 10, 2);
  std::memcpy(&h.lower, bytes + 12, 2);
  std::memcpy(&h.upper, bytes + 14, 2);
  std::memcpy(&h.pages, bytes + 12, 4);
  return h;
}

Status write_zeros(int fd, uint64_t offset, uint64_t bytes) {
  static const std::string zeros(size_t{64} << 10, '\0');
  for (uint64_t done = 0; done < bytes;) {
    const ssize_t n = pwrite(fd, zeros.data(), std::min<uint64_t>(bytes - done, zeros.size()),
                             static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Status::internal("scrubbing: writing at byte " + std::to_string(offset + done) + ": " +
                              (n < 0 ? std::strerror(errno) : "nothing written"));
    }
    done += static_cast<uint64_t>(n);
  }
  return Status::ok();
}

// Writes zeros over bytes [from, to) of the file where they are not zeros already; true when
// it wrote.
Result<bool> clear_range(int fd, uint64_t from, uint64_t to) {
  bool wrote = false;
  std::string bytes;
  for (uint64_t at = from; at < to; at += bytes.size()) {
    bytes.assign(std::min<uint64_t>(to - at, uint64_t{64} << 10), '\0');
    if (pread(fd, bytes.data(), bytes.size(), static_cast<off_t>(at)) !=
        static_cast<ssize_t>(bytes.size())) {
      return Status::internal("scrubbing: reading at byte " + std::to_string(at));
    }
    if (std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; })) continue;
    BIRGA_RETURN_IF_ERROR(write_zeros(fd, at, bytes.size()));
    wrote = true;
  }
  return wrote;
}

// The pages on the free list (LMDB's table 0: key the id of the transaction that freed them,
// value a count and then the page numbers) freed by a transaction before `before`, sorted.
Result<std::vector<uint64_t>> free_pages(MDB_txn* reader, uint64_t before) {
  std::vector<uint64_t> pages;
  MDB_cursor* cursor = nullptr;
  if (int rc = mdb_cursor_open(reader, 0, &cursor)) {
    return lmdb_status(rc, "scrubbing: open the free list");
  }
  MDB_val key, value;
  int rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
    if (key.mv_size != 8 || value.mv_size < 8) continue;
    uint64_t freed_by = 0, count = 0;
    std::memcpy(&freed_by, key.mv_data, 8);
    std::memcpy(&count, value.mv_data, 8);
    if (freed_by >= before || value.mv_size < (count + 1) * 8) continue;
    for (uint64_t i = 1; i <= count; ++i) {
      uint64_t page = 0;
      std::memcpy(&page, static_cast<const char*>(value.mv_data) + i * 8, 8);
      pages.push_back(page);
    }
  }
  mdb_cursor_close(cursor);
  if (rc != MDB_NOTFOUND) return lmdb_status(rc, "scrubbing: read the free list");
  std::sort(pages.begin(), pages.end());
  return pages;
}

// For every value stored on overflow pages (in the free list and in every table but the
// dupsort ones, whose values are small), its first page and where the value ends, counted from
// that page's start. LMDB puts a value on overflow pages when its node (8 bytes, the key, the
// value) is larger than a leaf page's largest node; the value then directly follows the first
// page's header in the map, which must also be the header read from the file.
Result<std::map<uint64_t, uint64_t>> overflow_value_ends(MDB_txn* reader, int fd, uint64_t psize) {
  const uint64_t node_max = (((psize - kPageHeaderBytes) / 2) & ~uint64_t{1}) - 2;
  std::vector<MDB_dbi> tables = {0};
  MDB_cursor* names = nullptr;
  if (int rc = mdb_cursor_open(reader, 1, &names)) {
    return lmdb_status(rc, "scrubbing: list the tables");
  }
  MDB_val key, value;
  for (int rc = mdb_cursor_get(names, &key, &value, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(names, &key, &value, MDB_NEXT)) {
    MDB_dbi dbi = 0;
    unsigned flags = 0;
    const std::string name(static_cast<const char*>(key.mv_data), key.mv_size);
    if (mdb_dbi_open(reader, name.c_str(), 0, &dbi) == 0 &&
        mdb_dbi_flags(reader, dbi, &flags) == 0 && !(flags & MDB_DUPSORT)) {
      tables.push_back(dbi);
    }
  }
  mdb_cursor_close(names);
  std::map<uint64_t, uint64_t> ends;
  for (MDB_dbi dbi : tables) {
    MDB_cursor* cursor = nullptr;
    if (int rc = mdb_cursor_open(reader, dbi, &cursor)) {
      return lmdb_status(rc, "scrubbing: read a table");
    }
    for (int rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
      if (8 + key.mv_size + value.mv_size <= node_max) continue;  // in its leaf page
      const char* mapped = static_cast<const char*>(value.mv_data) - kPageHeaderBytes;
      const PageHeader h = page_header(mapped);
      char stored[kPageHeaderBytes];
      if (!(h.flags & kPageOverflow) ||
          pread(fd, stored, sizeof stored, static_cast<off_t>(h.pgno * psize)) != sizeof stored ||
          std::memcmp(stored, mapped, sizeof stored) != 0) {
        continue;  // not as LMDB lays it out: its page is left alone
      }
      ends[h.pgno] = kPageHeaderBytes + value.mv_size;
    }
    mdb_cursor_close(cursor);
  }
  return ends;
}
}  // namespace

Result<uint64_t> LmdbEnv::scrub_stale_bytes() {
  int dead = 0;
  if (int rc = mdb_reader_check(env_, &dead)) {  // dead processes' slots hold old snapshots
    return lmdb_status(rc, "scrubbing: clear the slots of dead readers");
  }
  // The write transaction only holds the writer's lock, so that no page changes meanwhile;
  // LMDB lets only a read-only transaction read the free list (MDB_NOTLS lets one run beside
  // the write on this thread).
  struct Abort {
    MDB_txn* txn = nullptr;
    ~Abort() {
      if (txn) mdb_txn_abort(txn);
    }
  } writer, reader;
  if (int rc = mdb_txn_begin(env_, nullptr, 0, &writer.txn)) {
    return lmdb_status(rc, "scrubbing: begin");
  }
  if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &reader.txn)) {
    return lmdb_status(rc, "scrubbing: begin reading");
  }
  MDB_envinfo info{};
  MDB_stat stat{};
  mdb_env_info(env_, &info);
  mdb_env_stat(env_, &stat);
  const uint64_t psize = stat.ms_psize;
  // LMDB's own rule for reusing a page: freed before the oldest snapshot still read, and
  // before the last commit (whose meta page's twin still names the tree before it).
  auto freed = free_pages(reader.txn, oldest_snapshot(env_, info.me_last_txnid));
  if (!freed.is_ok()) return freed.status();
  int fd = -1;
  if (int rc = mdb_env_get_fd(env_, &fd)) return lmdb_status(rc, "scrubbing");
  auto overflow_ends = overflow_value_ends(reader.txn, fd, psize);
  if (!overflow_ends.is_ok()) return overflow_ends.status();

  uint64_t written = 0;
  auto count = [&](Result<bool> wrote) -> Status {
    if (!wrote.is_ok()) return wrote.status();
    written += *wrote ? 1 : 0;
    return Status::ok();
  };
  char header[kPageHeaderBytes];
  // Pages 0 and 1 are LMDB's meta pages.
  for (uint64_t no = 2; no <= info.me_last_pgno; ++no) {
    const uint64_t at = no * psize;
    if (std::binary_search(freed->begin(), freed->end(), no)) {
      BIRGA_RETURN_IF_ERROR(count(clear_range(fd, at, at + psize)));
      continue;
    }
    if (pread(fd, header, sizeof header, static_cast<off_t>(at)) != sizeof header) {
      return Status::internal("scrubbing: reading page " + std::to_string(no) + " of " + dir_);
    }
    const PageHeader h = page_header(header);
    if (h.pgno != no) continue;  // not a page header (cannot happen in a sound file): left alone
    if (h.flags & kPageOverflow) {
      // Past the value's end, the last page holds what its buffer held before.
      if (auto end = overflow_ends->find(no); end != overflow_ends->end() && h.pages >= 1) {
        BIRGA_RETURN_IF_ERROR(count(clear_range(fd, at + end->second, at + h.pages * psize)));
      }
      if (h.pages > 1) no += h.pages - 1;  // the value's other pages carry no header
      continue;
    }
    if (!(h.flags & (kPageBranch | kPageLeaf)) || (h.flags & (kPageLeaf2 | kPageSub))) continue;
    if (h.lower < kPageHeaderBytes || h.upper < h.lower || h.upper > psize) continue;
    BIRGA_RETURN_IF_ERROR(count(clear_range(fd, at + h.lower, at + h.upper)));
  }
  // Pages past the last one in use: written by a commit that failed, or never.
  struct stat file {};
  if (fstat(fd, &file) != 0) {
    return Status::internal(std::string("scrubbing: ") + std::strerror(errno));
  }
  BIRGA_RETURN_IF_ERROR(
      count(clear_range(fd, (info.me_last_pgno + 1) * psize, static_cast<uint64_t>(file.st_size))));
  if (written > 0 && fdatasync(fd) != 0) {
    return Status::internal(std::string("scrubbing: sync: ") + std::strerror(errno));
  }
  return written;
}

}  // namespace birga::engine
