// Replica: create and open, keys, and the read side.
#include <sys/stat.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <filesystem>

#include "birga/process.h"
#include "record_batch.h"
#include "replica_impl.h"
#include "secrets.h"
#include "store_keys.h"
#include "trust_internal.h"

namespace birga {

using engine::Table;
using engine::Txn;

namespace {

// Format 5: records a change created in a row may be kept as a range, a reference to the change
// (format 4: records kept in blocks of consecutive records; format 3: one entry per record, in
// a table per collection; format 2: records carrying their feed position,
// dictionary-compressed; format 1: a feed_pos table). storage.md.
constexpr std::string_view kFormat = "BIRGA-REPLICA\x05";
static_assert(kFormat.back() == kStoreFormatVersion);
// A format-4 store is a format-5 store without ranges: it is opened, and marked format 5 at
// once, since this build may write ranges that a format-4 build cannot read.
constexpr std::string_view kFormat4 = "BIRGA-REPLICA\x04";
constexpr size_t kStorageKeyBytes = 32;

bool store_exists(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::path(dir) / "data.mdb", ec);
}

}  // namespace

std::string encode_alert(const Alert& a) {
  crdt::ByteWriter w;
  w.bytes(a.kind);
  w.bytes(a.detail);
  if (!a.open()) {
    w.varint(a.acknowledged_ms);
    w.bytes(a.acknowledgement);
  }
  return std::string(w.data());
}

Result<Alert> decode_alert(std::string_view key, std::string_view plain) {
  crdt::ByteReader r(plain, "alert");
  Alert a;
  a.position = key.size() == 8 ? engine::get_be64(key) : 0;
  a.kind = std::string(r.bytes());
  a.detail = std::string(r.bytes());
  if (r.ok() && !r.at_end()) {
    a.acknowledged_ms = r.varint();
    a.acknowledgement = std::string(r.bytes());
    if (r.ok() && a.acknowledged_ms == 0) r.fail("acknowledged at time 0");
  }
  BIRGA_RETURN_IF_ERROR(r.finish());
  return a;
}

// ---- RecordView ---------------------------------------------------------------------------

std::optional<crdt::Value> RecordView::value(const std::string& field) const {
  if (const auto* lww = state.get<crdt::LwwRegister>(field); lww && lww->is_set()) {
    return lww->value();
  }
  if (const auto* mv = state.get<crdt::MvRegister>(field); mv && mv->is_set()) {
    return mv->latest();
  }
  return std::nullopt;
}

std::vector<crdt::Value> RecordView::values(const std::string& field) const {
  if (const auto* mv = state.get<crdt::MvRegister>(field)) return mv->values();
  if (auto v = value(field)) return {*v};
  return {};
}

// ---- Impl helpers -------------------------------------------------------------------------

void Replica::Impl::derive_keys() {
  const engine::Key32 storage = storage_key.key32();
  record_key = engine::blake2b_256_keyed(storage, "birga record key v1");
  index_key = engine::blake2b_256_keyed(storage, "birga index key v1");
  scope_wrap_key = engine::blake2b_256_keyed(storage, "birga scope key wrap v1");
}

Status Replica::Impl::load_scope_keys() {
  scope_keys.clear();
  return env->read([&](const Txn& txn) -> Status {
    Status inner;
    BIRGA_RETURN_IF_ERROR(
        txn.scan(Table::kScopeKeys, "", [&](std::string_view k, std::string_view v) {
          const size_t n = k.empty() ? 0 : static_cast<uint8_t>(k[0]);
          if (k.size() != 1 + n + 4) {
            inner = Status::data_loss("scope key entry with a malformed key");
            return false;
          }
          auto key = engine::aead_open(scope_wrap_key, v, k);
          if (!key.is_ok() || key->size() != 32) {
            inner = Status::data_loss("scope key for '" + std::string(k.substr(1, n)) +
                                      "' cannot be decrypted");
            return false;
          }
          engine::Key32 raw;
          std::copy(key->begin(), key->end(), raw.begin());
          scope_keys[std::string(k.substr(1, n))][engine::get_be32(k.substr(1 + n))] = raw;
          return true;
        }));
    return inner;
  });
}

const engine::Key32* Replica::Impl::find_scope_key(const std::string& scope, uint32_t epoch) const {
  auto it = scope_keys.find(scope);
  if (it == scope_keys.end()) return nullptr;
  auto e = it->second.find(epoch);
  return e == it->second.end() ? nullptr : &e->second;
}

std::optional<uint32_t> Replica::Impl::current_epoch(const std::string& scope) const {
  auto it = scope_keys.find(scope);
  if (it == scope_keys.end() || it->second.empty()) return std::nullopt;
  return it->second.rbegin()->first;
}

Status Replica::Impl::add_alert(Txn& txn, const std::string& kind, const std::string& detail) {
  auto n = txn.count(Table::kAlerts);
  if (!n.is_ok()) return n.status();
  std::string key;
  engine::put_be64(key, *n + 1);
  Alert alert;
  alert.kind = kind;
  alert.detail = detail;
  // Details name records and set elements: encrypted at rest like the records.
  return txn.put(Table::kAlerts, key, engine::aead_seal(record_key, encode_alert(alert), key));
}

Status Replica::Impl::save_clock(Txn& txn) {
  std::string v;
  engine::put_be64(v, clock.last().packed());
  return txn.put(Table::kMeta, "hlc", v);
}

std::string Replica::Impl::index_entry(std::string_view collection, std::string_view field,
                                       const crdt::Value& value) const {
  crdt::ByteWriter w;
  w.bytes(collection);
  w.bytes(field);
  w.value(value);
  return engine::key_bytes(engine::blake2b_256_keyed(index_key, w.data()));
}

Result<std::optional<RecordView>> Replica::Impl::load_view(const Txn& txn,
                                                           std::string_view rkey) const {
  RecordView view;
  if (!engine::parse_record_key(rkey, &view.collection, &view.id)) {
    return Status::data_loss("malformed record key in the store");
  }
  auto stored = read_record(txn, rkey);
  if (!stored.is_ok()) return stored.status();
  if (!*stored) return std::optional<RecordView>();
  view.scope = std::move((*stored)->scope);
  view.state = std::move((*stored)->state);
  return std::optional<RecordView>(std::move(view));
}

// ---- create / open ------------------------------------------------------------------------

Replica::Replica(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Replica::~Replica() = default;

void remove_new_store(const std::string& dir) {
  std::error_code ec;  // a file already gone is what was wanted
  std::filesystem::remove(std::filesystem::path(dir) / "data.mdb", ec);
  std::filesystem::remove(std::filesystem::path(dir) / "lock.mdb", ec);
}

Result<std::unique_ptr<Replica>> Replica::create(const std::string& dir, ReplicaOptions options) {
  BIRGA_RETURN_IF_ERROR(engine::crypto_init());
  // Refused before anything is made: the passphrase is all that protects the keys sealed here.
  BIRGA_RETURN_IF_ERROR(check_new_passphrase(options.passphrase));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::permission_denied("cannot create " + dir + ": " + ec.message());
  if (store_exists(dir)) {
    return Status::already_exists(dir + " already holds a replica; open it instead");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  impl->dir = dir;
  engine::LmdbEnv::Options env_options;
  env_options.initial_map_bytes = impl->options.initial_map_bytes;
  auto env = engine::LmdbEnv::open(dir, env_options);
  if (!env.is_ok()) return env.status();
  impl->env = std::move(*env);
  impl->device = engine::SigningKey::generate();
  impl->storage_key = engine::SecretBytes::copy_of(engine::random_bytes(kStorageKeyBytes));

  std::string secrets(impl->device.secret_key.view());
  secrets.append(impl->storage_key.view());
  auto blob = engine::seal_with_passphrase(secrets, impl->options.passphrase,
                                           engine::default_pwhash_cost());
  std::fill(secrets.begin(), secrets.end(), '\0');
  if (!blob.is_ok()) return blob.status();

  Status s = impl->env->write([&](Txn& txn) -> Status {
    BIRGA_RETURN_IF_ERROR(txn.put(Table::kMeta, "format", kFormat));
    BIRGA_RETURN_IF_ERROR(
        txn.put(Table::kMeta, "device", engine::key_bytes(impl->device.public_key)));
    return txn.put(Table::kMeta, "secrets", *blob);
  });
  BIRGA_RETURN_IF_ERROR(s);
  impl->actor = engine::actor_of(impl->device.public_key);
  impl->derive_keys();
  return std::unique_ptr<Replica>(new Replica(std::move(impl)));
}

Result<std::unique_ptr<Replica>> Replica::open(const std::string& dir, ReplicaOptions options) {
  BIRGA_RETURN_IF_ERROR(engine::crypto_init());
  if (!store_exists(dir)) {
    return Status::not_found("no replica in " + dir + " (create one with `birga init`)");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  impl->dir = dir;
  engine::LmdbEnv::Options env_options;
  env_options.initial_map_bytes = impl->options.initial_map_bytes;
  auto env = engine::LmdbEnv::open(dir, env_options);
  if (!env.is_ok()) return env.status();
  impl->env = std::move(*env);

  std::string device_pub, blob;
  uint64_t hlc = 0;
  bool format4 = false;
  Status s = impl->env->read([&](const Txn& txn) -> Status {
    auto format = txn.get(Table::kMeta, "format");
    if (!format.is_ok()) return format.status();
    if (*format && **format == kFormat4) {
      format4 = true;
    } else if (!*format || **format != kFormat) {
      return Status::data_loss(dir + " is not a Birga replica of a known format");
    }
    auto dev = txn.get(Table::kMeta, "device");
    auto sec = txn.get(Table::kMeta, "secrets");
    auto clk = txn.get(Table::kMeta, "hlc");
    if (!dev.is_ok() || !sec.is_ok() || !clk.is_ok() || !*dev || !*sec) {
      return Status::data_loss(dir + ": replica metadata is missing");
    }
    device_pub = std::string(**dev);
    blob = std::string(**sec);
    if (*clk && (*clk)->size() == 8) hlc = engine::get_be64(**clk);
    return Status::ok();
  });
  BIRGA_RETURN_IF_ERROR(s);

  auto secrets = engine::open_with_passphrase(blob, impl->options.passphrase);
  if (!secrets.is_ok()) return secrets.status().with_context("open " + dir);
  if (secrets->size() != engine::SigningKey::kSecretKeyBytes + kStorageKeyBytes) {
    return Status::data_loss(dir + ": sealed key material has the wrong size");
  }
  auto device = engine::SigningKey::from_secret_key(
      secrets->view().substr(0, engine::SigningKey::kSecretKeyBytes));
  if (!device.is_ok()) return Status::data_loss(dir + ": " + device.status().message());
  impl->device = std::move(*device);
  if (engine::key_bytes(impl->device.public_key) != device_pub) {
    return Status::data_loss(dir + ": device key does not match the recorded public key");
  }
  impl->storage_key =
      engine::SecretBytes::copy_of(secrets->view().substr(engine::SigningKey::kSecretKeyBytes));
  impl->actor = engine::actor_of(impl->device.public_key);
  impl->derive_keys();
  impl->clock.restore(crdt::Timestamp::from_packed(hlc));
  BIRGA_RETURN_IF_ERROR(impl->load_scope_keys());
  BIRGA_RETURN_IF_ERROR(impl->load_trust());
  if (format4) {  // marked only once the passphrase opened it: a wrong one changes nothing
    BIRGA_RETURN_IF_ERROR(impl->env->write(
        [](Txn& txn) -> Status { return txn.put(Table::kMeta, "format", kFormat); }));
  }
  return std::unique_ptr<Replica>(new Replica(std::move(impl)));
}

Result<uint64_t> Replica::change_passphrase(const std::string& dir, std::string_view current,
                                            std::string_view next) {
  BIRGA_RETURN_IF_ERROR(engine::crypto_init());
  if (!store_exists(dir)) return Status::not_found("no replica in " + dir);
  return engine::change_passphrase(dir, current, next);
}

const PublicKey& Replica::device_key() const {
  return impl_->device.public_key;
}
crdt::ActorId Replica::actor() const {
  return impl_->actor;
}
const crdt::Schema& Replica::schema() const {
  return impl_->options.schema;
}
const std::string& Replica::dir() const {
  return impl_->dir;
}

// ---- scope keys ---------------------------------------------------------------------------

Status Replica::add_scope_key(const std::string& scope, uint32_t epoch, const ScopeKey& key) {
  BIRGA_RETURN_IF_ERROR(engine::check_name("scope", scope));
  if (const engine::Key32* held = impl_->find_scope_key(scope, epoch)) {
    if (*held == key) return Status::ok();
    return Status::already_exists("a different key for scope '" + scope + "' epoch " +
                                  std::to_string(epoch) + " is already held");
  }
  return impl_->store_scope_key(scope, epoch, key);
}

Status Replica::Impl::store_scope_key(const std::string& scope, uint32_t epoch,
                                      const engine::Key32& key) {
  const std::string k = engine::scope_key_key(scope, epoch);
  scope_keys[scope][epoch] = key;
  Status s = env->write([&](Txn& txn) -> Status {
    BIRGA_RETURN_IF_ERROR(txn.put(Table::kScopeKeys, k,
                                  engine::aead_seal(scope_wrap_key, engine::key_bytes(key), k)));
    return apply_held(txn, scope);
  });
  if (!s.is_ok()) scope_keys[scope].erase(epoch);
  return s;
}

bool Replica::has_scope_key(const std::string& scope) const {
  return impl_->current_epoch(scope).has_value();
}

std::vector<uint32_t> Replica::scope_key_epochs(const std::string& scope) const {
  std::vector<uint32_t> out;
  auto it = impl_->scope_keys.find(scope);
  if (it != impl_->scope_keys.end()) {
    for (const auto& e : it->second) out.push_back(e.first);
  }
  return out;
}

Transaction Replica::begin() {
  Transaction t(this);
  // Transactions of an app tend to be alike: room for as many ops as the last commit had
  // saves growing the queue again and again (bounded: one huge import reserves no more).
  constexpr size_t kMaxReserved = 16384;
  t.ops_.reserve(std::min(impl_->last_commit_ops, kMaxReserved));
  return t;
}

// ---- reads --------------------------------------------------------------------------------

namespace {

// Ok when `collection` can be read: it is in the schema, one of the control collections (which
// no schema names, and which hold nothing until the first enrolment), or the store holds
// records of it (a collection of a newer schema, received by sync). Otherwise a misspelt name
// would read as an empty collection, where a write with it is refused.
Status check_known_collection(const Replica::Impl& impl, const Txn& txn,
                              const std::string& collection) {
  if (impl.options.schema.collection(collection) || collection == engine::kCertCollection ||
      collection == engine::kRevocationCollection || collection == engine::kEnvelopeCollection) {
    return Status::ok();
  }
  // A collection's records are all in one table and each block's key starts with the
  // collection's prefix, so one seek tells whether there is any.
  auto table = txn.records_of(collection);
  if (!table.is_ok()) return table.status();
  bool held = false;
  BIRGA_RETURN_IF_ERROR(txn.scan(*table, engine::collection_prefix(collection), [&](auto, auto) {
    held = true;
    return false;
  }));
  if (held) return Status::ok();
  return Status::invalid_argument("unknown collection '" + collection +
                                  "' (not in the schema, and this store holds none of its "
                                  "records)");
}

}  // namespace

Result<std::optional<RecordView>> Replica::get(const std::string& collection,
                                               const crdt::RecordId& id) const {
  std::optional<RecordView> out;
  Status s = impl_->env->read([&](const Txn& txn) -> Status {
    BIRGA_RETURN_IF_ERROR(check_known_collection(*impl_, txn, collection));
    auto v = impl_->load_view(txn, engine::record_key(collection, id));
    if (!v.is_ok()) return v.status();
    out = std::move(*v);
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

namespace {

// Loads the records whose keys a scan yields.
Status collect(const Replica::Impl& impl, const Txn& txn, Table t, std::string_view prefix,
               bool key_is_value, std::vector<RecordView>* out, bool skip_deleted) {
  std::vector<std::string> keys;
  BIRGA_RETURN_IF_ERROR(txn.scan(t, prefix, [&](std::string_view k, std::string_view v) {
    keys.emplace_back(key_is_value ? v : k);
    return true;
  }));
  for (const std::string& k : keys) {
    auto v = impl.load_view(txn, k);
    if (!v.is_ok()) return v.status();
    if (*v && !(skip_deleted && (*v)->deleted())) out->push_back(std::move(**v));
  }
  return Status::ok();
}

}  // namespace

Result<std::vector<RecordView>> Replica::list(const std::string& collection) const {
  std::vector<RecordView> out;
  Status s = impl_->env->read([&](const Txn& txn) -> Status {
    BIRGA_RETURN_IF_ERROR(check_known_collection(*impl_, txn, collection));
    auto table = txn.records_of(collection);
    if (!table.is_ok()) return table.status();
    return impl_->scan_records(txn, *table, engine::collection_prefix(collection),
                               [&](std::string_view k, Impl::StoredRecord& stored) -> Status {
                                 RecordView view;
                                 if (!engine::parse_record_key(k, &view.collection, &view.id)) {
                                   return Status::data_loss("malformed record key in the store");
                                 }
                                 view.scope = std::move(stored.scope);
                                 view.state = std::move(stored.state);
                                 if (!view.deleted()) out.push_back(std::move(view));
                                 return Status::ok();
                               });
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<std::vector<RecordView>> Replica::conflicts() const {
  std::vector<RecordView> out;
  Status s = impl_->env->read([&](const Txn& txn) {
    return collect(*impl_, txn, Table::kConflicts, "", false, &out, false);
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<std::vector<RecordView>> Replica::find(const std::string& collection,
                                              const std::string& field,
                                              const crdt::Value& value) const {
  const crdt::FieldSpec* spec = impl_->options.schema.field(collection, field);
  if (!spec || !spec->indexed) {
    return Status::invalid_argument("field '" + field + "' of '" + collection + "' is not indexed");
  }
  std::vector<RecordView> out;
  const std::string key = impl_->index_entry(collection, field, value);
  Status s = impl_->env->read([&](const Txn& txn) -> Status {
    std::vector<std::string> rkeys;
    BIRGA_RETURN_IF_ERROR(txn.scan_dups(Table::kIndex, key, [&](auto, std::string_view v) {
      rkeys.emplace_back(v);
      return true;
    }));
    for (const std::string& rk : rkeys) {
      auto v = impl_->load_view(txn, rk);
      if (!v.is_ok()) return v.status();
      if (*v && !(*v)->deleted()) out.push_back(std::move(**v));
    }
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<ChangedRecords> Replica::changed_since(uint64_t since) const {
  ChangedRecords out;
  out.position = since;
  Status s = impl_->env->read([&](const Txn& txn) -> Status {
    return impl_->visit_feed(txn, since, [&](uint64_t pos, std::string_view rkey) {
      ChangedRecords::Ref ref;
      if (!engine::parse_record_key(rkey, &ref.collection, &ref.id)) {
        return Status::data_loss("malformed change feed entry");
      }
      out.position = pos;
      out.records.push_back(std::move(ref));
      return Status::ok();
    });
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<std::vector<Alert>> Replica::alerts() const {
  std::vector<Alert> out;
  Status s = impl_->env->read([&](const Txn& txn) {
    return txn.scan(Table::kAlerts, "", [&](std::string_view k, std::string_view sealed) {
      auto plain = engine::aead_open(impl_->record_key, sealed, k);
      if (!plain.is_ok()) return true;  // verify() reports damaged entries
      auto alert = decode_alert(k, *plain);
      if (alert.is_ok()) out.push_back(std::move(*alert));
      return true;
    });
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<Replica::Withheld> Replica::withheld() const {
  Withheld out;
  Status s = impl_->env->read([&](const Txn& txn) {
    BIRGA_RETURN_IF_ERROR(txn.scan(Table::kPending, "", [&](std::string_view, std::string_view) {
      ++out.pending;
      return true;
    }));
    return txn.scan(Table::kQuarantine, "", [&](std::string_view, std::string_view) {
      ++out.quarantined;
      return true;
    });
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<Alert> Replica::acknowledge_alert(uint64_t position, std::string_view note) {
  if (note.empty()) {
    return Status::invalid_argument("an acknowledgement needs a note (what was found or done)");
  }
  const uint64_t now = std::max<uint64_t>(impl_->options.wall_clock(), 1);
  Alert acknowledged;
  Status s = impl_->env->write([&](Txn& txn) -> Status {
    std::string key;
    engine::put_be64(key, position);
    auto sealed = txn.get(Table::kAlerts, key);
    if (!sealed.is_ok()) return sealed.status();
    if (!*sealed) return Status::not_found("there is no alert " + std::to_string(position));
    auto plain = engine::aead_open(impl_->record_key, **sealed, key);
    if (!plain.is_ok()) {
      return Status::data_loss("alert " + std::to_string(position) + " cannot be decrypted");
    }
    auto alert = decode_alert(key, *plain);
    if (!alert.is_ok()) return alert.status().with_context("alert " + std::to_string(position));
    if (!alert->open()) {
      return Status::already_exists("alert " + std::to_string(position) +
                                    " is already acknowledged: " + alert->acknowledgement);
    }
    alert->acknowledged_ms = now;
    alert->acknowledgement = std::string(note);
    acknowledged = *alert;
    return txn.put(Table::kAlerts, key,
                   engine::aead_seal(impl_->record_key, encode_alert(*alert), key));
  });
  if (!s.is_ok()) return s;
  return acknowledged;
}

void keep_freed_heap(size_t bytes) {
#if defined(__GLIBC__)
  constexpr size_t kMmapFrom = size_t{4} << 20;
  mallopt(M_TRIM_THRESHOLD, static_cast<int>(std::min<size_t>(bytes, INT32_MAX)));
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapFrom));
#else
  (void)bytes;
#endif
}

}  // namespace birga
