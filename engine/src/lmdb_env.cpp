#include "lmdb_env.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

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
    case EROFS:
      return Status::permission_denied(msg);
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
  if (env_) mdb_env_close(env_);
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

}  // namespace birga::engine
