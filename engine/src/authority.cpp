// Authority: certificates, scope keys, key envelopes and revocations, issued as control
// changes (see birga/authority.h and trust_internal.h for the control record layout).
#include "birga/authority.h"

#include <filesystem>
#include <map>
#include <set>

#include "lmdb_env.h"
#include "replica_impl.h"
#include "sealed_change.h"
#include "secrets.h"
#include "store_keys.h"
#include "trust_internal.h"

namespace birga {

using engine::Table;
using engine::Txn;

namespace {

constexpr std::string_view kAuthorityFormat = "BIRGA-AUTHORITY\x01";
constexpr std::string_view kBundleMagic = "BGEB";
const std::string kControl(kControlScope);

std::string device_meta_key(const PublicKey& device) {
  return "device:" + engine::key_bytes(device);
}
std::string revoked_meta_key(const PublicKey& device) {
  return "revoked:" + engine::key_bytes(device);
}

// Builds the lww ops of one control record.
void control_record(std::vector<crdt::Op>& ops, std::string_view collection,
                    const crdt::RecordId& id,
                    std::initializer_list<std::pair<const char*, crdt::Value>> fields) {
  for (const auto& [name, value] : fields) {
    crdt::Op op;
    op.collection = std::string(collection);
    op.record = id;
    op.kind = crdt::OpKind::kLwwWrite;
    op.field = name;
    op.value = value;
    op.dot = crdt::Dot{{}, 1};
    ops.push_back(std::move(op));
  }
}

}  // namespace

// ---- EnrolmentBundle ----------------------------------------------------------------------

std::string EnrolmentBundle::encode() const {
  crdt::ByteWriter w;
  w.raw(kBundleMagic.data(), kBundleMagic.size());
  w.u8(1);
  w.raw(authority.data(), authority.size());
  w.bytes(certificate);
  w.varint(control_keys.size());
  for (const auto& [epoch, sealed] : control_keys) {
    w.varint(epoch);
    w.bytes(sealed);
  }
  w.varint(control_changes.size());
  for (const std::string& c : control_changes) w.bytes(c);
  return w.take();
}

Result<EnrolmentBundle> EnrolmentBundle::decode(std::string_view bytes) {
  crdt::ByteReader r(bytes, "enrolment bundle");
  char magic[4];
  r.raw(magic, 4);
  if (r.ok() && std::string_view(magic, 4) != kBundleMagic) {
    return Status::corrupt_input("not an enrolment bundle (bad magic)");
  }
  if (r.u8() != 1 && r.ok()) return Status::corrupt_input("enrolment bundle: unknown version");
  EnrolmentBundle b;
  r.raw(b.authority.data(), b.authority.size());
  b.certificate = std::string(r.bytes());
  const uint64_t keys = r.count(2);
  for (uint64_t i = 0; i < keys && r.ok(); ++i) {
    const uint64_t epoch = r.varint();
    if (epoch == 0 || epoch > UINT32_MAX) r.fail("bad control key epoch");
    b.control_keys.emplace_back(static_cast<uint32_t>(epoch), std::string(r.bytes()));
  }
  const uint64_t n = r.count(1);
  for (uint64_t i = 0; i < n && r.ok(); ++i) b.control_changes.emplace_back(r.bytes());
  BIRGA_RETURN_IF_ERROR(r.finish());
  return b;
}

// ---- Impl ---------------------------------------------------------------------------------

class Authority::Impl {
 public:
  std::unique_ptr<engine::LmdbEnv> env;
  engine::SigningKey key;
  engine::Key32 wrap_key{};
  crdt::HybridClock clock;

  // scope -> epoch -> key
  Result<std::map<std::string, std::map<uint32_t, engine::Key32>>> scope_keys(const Txn& txn) {
    std::map<std::string, std::map<uint32_t, engine::Key32>> out;
    Status problem;
    BIRGA_RETURN_IF_ERROR(
        txn.scan(Table::kScopeKeys, "", [&](std::string_view k, std::string_view v) {
          const size_t n = static_cast<uint8_t>(k[0]);
          auto raw = engine::aead_open(wrap_key, v, k);
          if (!raw.is_ok() || raw->size() != 32 || k.size() != 1 + n + 4) {
            problem = Status::data_loss("authority scope key cannot be read");
            return false;
          }
          engine::Key32 key32;
          std::copy(raw->begin(), raw->end(), key32.begin());
          out[std::string(k.substr(1, n))][engine::get_be32(k.substr(1 + n))] = key32;
          return true;
        }));
    if (!problem.is_ok()) return problem;
    return out;
  }

  Status put_scope_key(Txn& txn, const std::string& scope, uint32_t epoch,
                       const engine::Key32& key32) {
    const std::string k = engine::scope_key_key(scope, epoch);
    return txn.put(Table::kScopeKeys, k, engine::aead_seal(wrap_key, engine::key_bytes(key32), k));
  }

  // Active (issued, not revoked) devices with their certificates.
  Result<std::vector<Certificate>> active_devices(const Txn& txn) {
    std::vector<Certificate> out;
    Status problem;
    BIRGA_RETURN_IF_ERROR(
        txn.scan(Table::kMeta, "device:", [&](std::string_view k, std::string_view v) {
          auto c = Certificate::parse(v, key.public_key);
          if (!c.is_ok()) {
            problem = Status::data_loss("authority holds an unreadable certificate");
            return false;
          }
          auto revoked = txn.get(Table::kMeta, "revoked:" + std::string(k.substr(7)));
          if (revoked.is_ok() && !*revoked) out.push_back(std::move(*c));
          return true;
        }));
    if (!problem.is_ok()) return problem;
    return out;
  }

  static engine::Key32 fresh_key() {
    engine::Key32 k;
    const std::string r = engine::random_bytes(k.size());
    std::copy(r.begin(), r.end(), k.begin());
    return k;
  }

  // Appends envelopes of `key32` (scope, epoch) for `device`.
  Status add_envelope(std::vector<crdt::Op>& ops, const std::string& scope, uint32_t epoch,
                      const engine::Key32& key32, const PublicKey& device) {
    auto x = engine::ed25519_pk_to_x25519(device);
    if (!x.is_ok()) return x.status();
    const std::string sealed = engine::box_seal(*x, engine::key_bytes(key32));
    std::string id_key = scope;
    id_key.push_back('\0');
    engine::put_be32(id_key, epoch);
    id_key += engine::key_bytes(device);
    control_record(ops, engine::kEnvelopeCollection, engine::control_record_id("envelope", id_key),
                   {{"scope", crdt::text(scope)},
                    {"epoch", crdt::integer(epoch)},
                    {"recipient", crdt::text(key_hex(device))},
                    {"sealed", crdt::Value(sealed)}});
    return Status::ok();
  }

  // Makes the next epoch of `scope`'s key (`epochs`: those so far, none for a new scope; it
  // gets the new one) and seals it to the authority and to each of `devices` that may read the
  // scope, but `except`. A new scope gets epoch 1; revoking a reader, or narrowing its grant,
  // makes the next, so that what is written there from then on is sealed under a key that
  // device never holds.
  Status add_scope_epoch(Txn& txn, std::vector<crdt::Op>& ops, const std::string& scope,
                         std::map<uint32_t, engine::Key32>& epochs,
                         const std::vector<Certificate>& devices,
                         const PublicKey* except = nullptr) {
    const uint32_t epoch = epochs.empty() ? 1 : epochs.rbegin()->first + 1;
    const engine::Key32 fresh = fresh_key();
    BIRGA_RETURN_IF_ERROR(put_scope_key(txn, scope, epoch, fresh));
    BIRGA_RETURN_IF_ERROR(add_envelope(ops, scope, epoch, fresh, key.public_key));
    for (const Certificate& other : devices) {
      if ((!except || other.device != *except) && (other.rights_on(scope) & kRead)) {
        BIRGA_RETURN_IF_ERROR(add_envelope(ops, scope, epoch, fresh, other.device));
      }
    }
    epochs[epoch] = fresh;
    return Status::ok();
  }

  // Seals `ops` as the next control change and stores it.
  Status issue(Txn& txn, const std::vector<crdt::Op>& ops) {
    auto h = next_change_header(txn, kControl, key.public_key);
    if (!h.is_ok()) return h.status();
    h->hlc = clock.now();
    auto keys = scope_keys(txn);
    if (!keys.is_ok()) return keys.status();
    const auto& control = (*keys)[kControl];
    if (control.empty()) return Status::data_loss("the authority has no control scope key");
    h->key_epoch = control.rbegin()->first;
    return append_own_change(txn, *h, ops, control.rbegin()->second, key);
  }

  Result<std::vector<std::string>> log_from(const Txn& txn, uint64_t from_seq) {
    std::vector<std::string> out;
    const crdt::ActorId actor = engine::actor_of(key.public_key);
    BIRGA_RETURN_IF_ERROR(txn.scan(
        Table::kChanges, engine::author_key(kControl, actor),
        [&](std::string_view, std::string_view v) {
          out.emplace_back(v);
          return true;
        },
        engine::change_key(kControl, actor, from_seq)));
    return out;
  }
};

Authority::Authority(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Authority::~Authority() = default;

const PublicKey& Authority::public_key() const {
  return impl_->key.public_key;
}

Result<uint64_t> Authority::change_passphrase(const std::string& dir, std::string_view current,
                                              std::string_view next) {
  BIRGA_RETURN_IF_ERROR(engine::crypto_init());
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "data.mdb", ec)) {
    return Status::not_found("no authority in " + dir);
  }
  return engine::change_passphrase(dir, current, next);
}

Result<std::unique_ptr<Authority>> Authority::create(const std::string& dir,
                                                     const std::string& passphrase) {
  BIRGA_RETURN_IF_ERROR(engine::crypto_init());
  BIRGA_RETURN_IF_ERROR(check_new_passphrase(passphrase));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (std::filesystem::exists(std::filesystem::path(dir) / "data.mdb", ec)) {
    return Status::already_exists(dir + " already holds a store");
  }
  auto impl = std::make_unique<Impl>();
  auto env = engine::LmdbEnv::open(dir);
  if (!env.is_ok()) return env.status();
  impl->env = std::move(*env);
  impl->key = engine::SigningKey::generate();
  const std::string wrap = engine::random_bytes(32);
  std::copy(wrap.begin(), wrap.end(), impl->wrap_key.begin());
  std::string secrets(impl->key.secret_key.view());
  secrets += wrap;
  auto blob = engine::seal_with_passphrase(secrets, passphrase, engine::default_pwhash_cost());
  std::fill(secrets.begin(), secrets.end(), '\0');
  if (!blob.is_ok()) return blob.status();
  BIRGA_RETURN_IF_ERROR(impl->env->write([&](Txn& txn) -> Status {
    BIRGA_RETURN_IF_ERROR(txn.put(Table::kMeta, "format", kAuthorityFormat));
    BIRGA_RETURN_IF_ERROR(txn.put(Table::kMeta, "public", engine::key_bytes(impl->key.public_key)));
    BIRGA_RETURN_IF_ERROR(txn.put(Table::kMeta, "secrets", *blob));
    // The control scope's key: secret, handed to each device sealed to its own key.
    return impl->put_scope_key(txn, kControl, engine::kControlEpoch, Impl::fresh_key());
  }));
  return std::unique_ptr<Authority>(new Authority(std::move(impl)));
}

Result<std::unique_ptr<Authority>> Authority::open(const std::string& dir,
                                                   const std::string& passphrase) {
  BIRGA_RETURN_IF_ERROR(engine::crypto_init());
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "data.mdb", ec)) {
    return Status::not_found("no authority in " + dir +
                             " (create one with `birga authority init`)");
  }
  auto impl = std::make_unique<Impl>();
  auto env = engine::LmdbEnv::open(dir);
  if (!env.is_ok()) return env.status();
  impl->env = std::move(*env);
  std::string blob, pub;
  BIRGA_RETURN_IF_ERROR(impl->env->read([&](const Txn& txn) -> Status {
    auto format = txn.get(Table::kMeta, "format");
    if (!format.is_ok() || !*format || **format != kAuthorityFormat) {
      return Status::invalid_argument(dir + " is not a Birga authority directory");
    }
    auto b = txn.get(Table::kMeta, "secrets");
    auto p = txn.get(Table::kMeta, "public");
    if (!b.is_ok() || !*b || !p.is_ok() || !*p) return Status::data_loss("authority keys missing");
    blob = std::string(**b);
    pub = std::string(**p);
    return Status::ok();
  }));
  auto secrets = engine::open_with_passphrase(blob, passphrase);
  if (!secrets.is_ok()) return secrets.status().with_context("open authority " + dir);
  if (secrets->size() != 64 + 32) return Status::data_loss("authority secrets have the wrong size");
  auto key = engine::SigningKey::from_secret_key(secrets->view().substr(0, 64));
  if (!key.is_ok()) return key.status();
  impl->key = std::move(*key);
  if (engine::key_bytes(impl->key.public_key) != pub) {
    return Status::data_loss("authority key does not match its public key");
  }
  const std::string_view wrap = secrets->view().substr(64);
  std::copy(wrap.begin(), wrap.end(), impl->wrap_key.begin());
  return std::unique_ptr<Authority>(new Authority(std::move(impl)));
}

Result<EnrolmentBundle> Authority::enrol(const PublicKey& device, const std::string& name,
                                         Role role, const std::vector<ScopeGrant>& scopes,
                                         uint64_t expires_ms) {
  if (scopes.empty()) return Status::invalid_argument("a certificate needs at least one scope");
  for (const ScopeGrant& g : scopes) {
    BIRGA_RETURN_IF_ERROR(engine::check_name("scope", g.path));
    if (g.path[0] == '_') return Status::invalid_argument("scope names cannot start with '_'");
    if (!g.rights) return Status::invalid_argument("scope '" + g.path + "' grants no right");
  }
  EnrolmentBundle bundle;
  bundle.authority = impl_->key.public_key;
  Status s = impl_->env->write([&](Txn& txn) -> Status {
    auto revoked = txn.get(Table::kMeta, revoked_meta_key(device));
    if (!revoked.is_ok()) return revoked.status();
    if (*revoked) return Status::permission_denied("this device key was revoked; make a new one");
    auto serial_v = txn.get(Table::kMeta, "serial");
    if (!serial_v.is_ok()) return serial_v.status();
    const uint64_t serial =
        (*serial_v && (*serial_v)->size() == 8) ? engine::get_be64(**serial_v) + 1 : 1;
    std::string serial_bytes;
    engine::put_be64(serial_bytes, serial);
    BIRGA_RETURN_IF_ERROR(txn.put(Table::kMeta, "serial", serial_bytes));

    // The device's certificate before this one, if any: it goes into the history again (a
    // record written before the history was kept has only the newest), and this one is issued
    // after it even when the clock went back.
    auto previous_v = txn.get(Table::kMeta, device_meta_key(device));
    if (!previous_v.is_ok()) return previous_v.status();
    std::optional<Certificate> previous;
    if (*previous_v) {
      auto p = Certificate::parse(**previous_v, impl_->key.public_key);
      if (p.is_ok()) previous = std::move(*p);
    }

    Certificate cert;
    cert.authority = impl_->key.public_key;
    cert.device = device;
    cert.name = name;
    cert.role = role;
    cert.scopes = scopes;
    cert.serial = serial;
    cert.issued_ms = crdt::system_wall_clock_ms();
    if (previous) cert.issued_ms = std::max(cert.issued_ms, previous->issued_ms + 1);
    cert.expires_ms = expires_ms;
    BIRGA_RETURN_IF_ERROR(engine::sign_certificate(cert, impl_->key));
    BIRGA_RETURN_IF_ERROR(txn.put(Table::kMeta, device_meta_key(device), cert.bytes));
    bundle.certificate = cert.bytes;

    std::vector<crdt::Op> ops;
    // The newest certificate, and this one kept beside those issued before it.
    const crdt::RecordId cert_record = engine::control_record_id("cert", engine::key_bytes(device));
    const std::string history = engine::cert_history_field(serial);
    control_record(
        ops, engine::kCertCollection, cert_record,
        {{"certificate", crdt::Value(cert.bytes)}, {history.c_str(), crdt::Value(cert.bytes)}});
    if (previous) {
      const std::string before = engine::cert_history_field(previous->serial);
      control_record(ops, engine::kCertCollection, cert_record,
                     {{before.c_str(), crdt::Value(previous->bytes)}});
    }
    auto keys = impl_->scope_keys(txn);
    if (!keys.is_ok()) return keys.status();
    auto others = impl_->active_devices(txn);  // this device among them, with `cert`
    if (!others.is_ok()) return others.status();
    // A narrowed grant: each scope the device could read and no longer may gets a new key.
    if (previous) {
      for (auto& [scope, epochs] : *keys) {
        if (scope == kControl || !(previous->rights_on(scope) & kRead) ||
            (cert.rights_on(scope) & kRead)) {
          continue;
        }
        BIRGA_RETURN_IF_ERROR(impl_->add_scope_epoch(txn, ops, scope, epochs, *others));
      }
    }
    // New data scopes: every path granted write. Existing devices that can read them get the key.
    for (const ScopeGrant& g : scopes) {
      if (!(g.rights & kWrite) || keys->count(g.path)) continue;
      // The device itself gets every epoch of the scopes it reads below.
      BIRGA_RETURN_IF_ERROR(
          impl_->add_scope_epoch(txn, ops, g.path, (*keys)[g.path], *others, &device));
    }
    // The new device gets every epoch of the control key, and of every scope it can read.
    auto x = engine::ed25519_pk_to_x25519(device);
    if (!x.is_ok()) return x.status();
    for (const auto& [epoch, k] : (*keys)[kControl]) {
      bundle.control_keys.emplace_back(epoch, engine::box_seal(*x, engine::key_bytes(k)));
    }
    for (const auto& [scope, epochs] : *keys) {
      if (scope == kControl || !(cert.rights_on(scope) & kRead)) continue;
      for (const auto& [epoch, k] : epochs) {
        BIRGA_RETURN_IF_ERROR(impl_->add_envelope(ops, scope, epoch, k, device));
      }
    }
    BIRGA_RETURN_IF_ERROR(impl_->issue(txn, ops));
    auto log = impl_->log_from(txn, 1);
    if (!log.is_ok()) return log.status();
    bundle.control_changes = std::move(*log);
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return bundle;
}

Result<std::vector<std::string>> Authority::revoke(const PublicKey& device,
                                                   const std::string& reason) {
  std::vector<std::string> out;
  Status s = impl_->env->write([&](Txn& txn) -> Status {
    auto held = txn.get(Table::kMeta, device_meta_key(device));
    if (!held.is_ok()) return held.status();
    if (!*held) return Status::not_found("no certificate was issued to device " + key_hex(device));
    auto cert = Certificate::parse(**held, impl_->key.public_key);
    if (!cert.is_ok()) return cert.status();
    auto already = txn.get(Table::kMeta, revoked_meta_key(device));
    if (!already.is_ok()) return already.status();
    if (*already) return Status::already_exists("device '" + cert->name + "' is already revoked");
    const uint64_t now = crdt::system_wall_clock_ms();
    std::string when;
    engine::put_be64(when, now);
    BIRGA_RETURN_IF_ERROR(txn.put(Table::kMeta, revoked_meta_key(device), when));

    std::vector<crdt::Op> ops;
    control_record(ops, engine::kRevocationCollection,
                   engine::control_record_id("revoke", engine::key_bytes(device)),
                   {{"device", crdt::text(key_hex(device))},
                    {"revoked_ms", crdt::integer(static_cast<int64_t>(now))},
                    {"reason", crdt::text(reason)}});
    auto keys = impl_->scope_keys(txn);
    if (!keys.is_ok()) return keys.status();
    auto remaining = impl_->active_devices(txn);
    if (!remaining.is_ok()) return remaining.status();
    // The revocation travels under the current control key (the remaining devices read it
    // and learn the next one); later control changes use the next one.
    const uint32_t next_control = (*keys)[kControl].rbegin()->first + 1;
    const engine::Key32 control_key = Impl::fresh_key();
    BIRGA_RETURN_IF_ERROR(
        impl_->add_envelope(ops, kControl, next_control, control_key, impl_->key.public_key));
    for (const Certificate& other : *remaining) {
      BIRGA_RETURN_IF_ERROR(
          impl_->add_envelope(ops, kControl, next_control, control_key, other.device));
    }
    for (auto& [scope, epochs] : *keys) {
      if (scope == kControl || !(cert->rights_on(scope) & kRead)) continue;
      BIRGA_RETURN_IF_ERROR(impl_->add_scope_epoch(txn, ops, scope, epochs, *remaining));
    }
    const crdt::ActorId actor = engine::actor_of(impl_->key.public_key);
    auto head = read_head(txn, kControl, actor);
    if (!head.is_ok()) return head.status();
    BIRGA_RETURN_IF_ERROR(impl_->issue(txn, ops));
    BIRGA_RETURN_IF_ERROR(impl_->put_scope_key(txn, kControl, next_control, control_key));
    auto log = impl_->log_from(txn, head->seq + 1);
    if (!log.is_ok()) return log.status();
    out = std::move(*log);
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<std::vector<std::string>> Authority::control_log() const {
  std::vector<std::string> out;
  Status s = impl_->env->read([&](const Txn& txn) -> Status {
    auto log = impl_->log_from(txn, 1);
    if (!log.is_ok()) return log.status();
    out = std::move(*log);
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

namespace {

// The fields of each record a control change writes, by collection and record.
using ControlRecords =
    std::map<std::pair<std::string, crdt::RecordId>, std::map<std::string, crdt::Value>>;

ControlRecords control_records(const std::vector<crdt::Op>& ops) {
  ControlRecords out;
  for (const crdt::Op& op : ops) {
    if (op.kind == crdt::OpKind::kLwwWrite) out[{op.collection, op.record}][op.field] = op.value;
  }
  return out;
}

template <typename T>
const T* field_of(const std::map<std::string, crdt::Value>& fields, const char* name) {
  auto it = fields.find(name);
  return it == fields.end() ? nullptr : std::get_if<T>(&it->second);
}

}  // namespace

Result<Authority::CatchUp> Authority::catch_up(const std::vector<std::string>& changes) {
  CatchUp out;
  const PublicKey& me = impl_->key.public_key;
  const crdt::ActorId actor = engine::actor_of(me);
  // This authority's control changes in the file, by seq, verified as at ingest.
  std::map<uint64_t, std::pair<const std::string*, engine::VerifiedChange>> mine;
  for (const std::string& c : changes) {
    auto h = engine::read_header(c);
    if (!h.is_ok() || h->header.scope != kControl || h->header.author != me) {
      ++out.skipped;
      continue;
    }
    const uint64_t seq = h->header.seq;
    auto v = engine::verify_change(c);
    if (!v.is_ok()) return v.status().with_context("control change " + std::to_string(seq));
    auto [it, fresh] = mine.try_emplace(seq, &c, std::move(*v));
    if (!fresh && *it->second.first != c) {
      return Status::corrupt_input("the file holds two different control changes " +
                                   std::to_string(seq) + " of this authority");
    }
  }
  if (mine.empty()) {
    return Status::invalid_argument(
        "the file holds no control change of this authority (" + key_hex(me).substr(0, 16) +
        "...): export it at a hub of this deployment with `birga changes export --scope " +
        std::string(kControl) + "`");
  }
  auto x_secret = engine::ed25519_sk_to_x25519(impl_->key.secret_key);
  auto x_public = engine::ed25519_pk_to_x25519(me);
  if (!x_secret.is_ok() || !x_public.is_ok()) {
    return Status::internal("cannot derive the authority's X25519 key");
  }
  const std::string my_hex = key_hex(me);
  Status s = impl_->env->write([&](Txn& txn) -> Status {
    out.adopted = out.held = out.certificates = out.revocations = out.keys = 0;
    auto head = read_head(txn, kControl, actor);
    if (!head.is_ok()) return head.status();
    // What this copy holds must be what the file holds.
    for (auto it = mine.begin(); it != mine.end() && it->first <= head->seq; ++it) {
      auto held = txn.get(Table::kChanges, engine::change_key(kControl, actor, it->first));
      if (!held.is_ok()) return held.status();
      if (!*held || **held != *it->second.first) {
        return Status::data_loss(
            "control change " + std::to_string(it->first) +
            " in the file differs from the one this authority holds: this copy issued after "
            "the hubs' log went on without it, and cannot catch up (do not enrol or revoke with "
            "it)");
      }
      ++out.held;
    }
    auto keys = impl_->scope_keys(txn);
    if (!keys.is_ok()) return keys.status();
    uint64_t serial = 0;
    std::set<std::pair<std::string, uint32_t>> handed_out;  // keys the new changes carry
    for (auto it = mine.upper_bound(head->seq); it != mine.end(); ++it) {
      const auto& [seq, entry] = *it;
      const engine::VerifiedChange& v = entry.second;
      if (seq != head->seq + 1) {
        return Status::invalid_argument("the file lacks control change " +
                                        std::to_string(head->seq + 1) + " (it goes on with " +
                                        std::to_string(seq) + ")");
      }
      if (v.header.prev_hash != head->hash) {
        return Status::corrupt_input("control change " + std::to_string(seq) +
                                     " does not follow change " + std::to_string(head->seq) +
                                     " (hash chain broken)");
      }
      const auto control = (*keys)[kControl].find(v.header.key_epoch);
      if (control == (*keys)[kControl].end()) {
        return Status::data_loss("control change " + std::to_string(seq) +
                                 " is sealed under control key " +
                                 std::to_string(v.header.key_epoch) +
                                 ", which this copy does not hold and no earlier change seals "
                                 "to the authority: it cannot catch up");
      }
      auto body = engine::open_change_body(v, control->second);
      if (!body.is_ok()) return body.status().with_context("control change " + std::to_string(seq));
      auto ops = engine::decode_ops(*body, v.header);
      if (!ops.is_ok()) return ops.status().with_context("control change " + std::to_string(seq));
      for (const auto& [where, fields] : control_records(*ops)) {
        const std::string& collection = where.first;
        if (collection == engine::kCertCollection) {
          const std::string* bytes = field_of<std::string>(fields, "certificate");
          if (!bytes) continue;
          auto cert = Certificate::parse(*bytes, me);
          if (!cert.is_ok())
            return cert.status().with_context("control change " + std::to_string(seq));
          BIRGA_RETURN_IF_ERROR(txn.put(Table::kMeta, device_meta_key(cert->device), *bytes));
          serial = std::max(serial, cert->serial);
          ++out.certificates;
        } else if (collection == engine::kRevocationCollection) {
          const std::string* device = field_of<std::string>(fields, "device");
          const int64_t* when = field_of<int64_t>(fields, "revoked_ms");
          const auto key = device ? parse_key_hex(*device) : std::nullopt;
          if (!key || !when) continue;
          std::string bytes;
          engine::put_be64(bytes, static_cast<uint64_t>(*when));
          BIRGA_RETURN_IF_ERROR(txn.put(Table::kMeta, revoked_meta_key(*key), bytes));
          ++out.revocations;
        } else if (collection == engine::kEnvelopeCollection) {
          const std::string* scope = field_of<std::string>(fields, "scope");
          const int64_t* epoch = field_of<int64_t>(fields, "epoch");
          const std::string* recipient = field_of<std::string>(fields, "recipient");
          const std::string* sealed = field_of<std::string>(fields, "sealed");
          if (!scope || !epoch || !recipient || !sealed || *epoch <= 0 || *epoch > UINT32_MAX) {
            continue;
          }
          const auto epoch32 = static_cast<uint32_t>(*epoch);
          handed_out.emplace(*scope, epoch32);
          if (*recipient != my_hex || (*keys)[*scope].count(epoch32)) continue;
          auto key = engine::box_seal_open(*x_public, *x_secret, *sealed);
          if (!key.is_ok() || key->size() != 32) {
            return Status::data_loss("control change " + std::to_string(seq) +
                                     " seals a key of scope '" + *scope +
                                     "' to this authority that does not open");
          }
          engine::Key32 k;
          std::copy_n(key->data(), 32, k.begin());
          BIRGA_RETURN_IF_ERROR(impl_->put_scope_key(txn, *scope, epoch32, k));
          (*keys)[*scope][epoch32] = k;
          ++out.keys;
        }
      }
      BIRGA_RETURN_IF_ERROR(
          txn.put(Table::kChanges, engine::change_key(kControl, actor, seq), *entry.first));
      *head = Head{seq, v.id};
      BIRGA_RETURN_IF_ERROR(write_head(txn, kControl, actor, *head));
      impl_->clock.update(v.header.hlc);
      ++out.adopted;
    }
    // A key handed out that this copy still lacks was made before keys were sealed to the
    // authority too: a device enrolled later could not be given it.
    for (const auto& [scope, epoch] : handed_out) {
      if (!(*keys)[scope].count(epoch)) {
        return Status::data_loss("the control log hands out key " + std::to_string(epoch) +
                                 " of scope '" + scope +
                                 "', which it does not seal to the authority: this copy cannot "
                                 "catch up (the log predates keys sealed to the authority)");
      }
    }
    auto held_serial = txn.get(Table::kMeta, "serial");
    if (!held_serial.is_ok()) return held_serial.status();
    if (*held_serial && (*held_serial)->size() == 8) {
      serial = std::max(serial, engine::get_be64(**held_serial));
    }
    if (serial == 0) return Status::ok();
    std::string serial_bytes;
    engine::put_be64(serial_bytes, serial);
    return txn.put(Table::kMeta, "serial", serial_bytes);
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<std::vector<Authority::DeviceEntry>> Authority::devices() const {
  std::vector<DeviceEntry> out;
  Status s = impl_->env->read([&](const Txn& txn) -> Status {
    Status problem;
    BIRGA_RETURN_IF_ERROR(
        txn.scan(Table::kMeta, "device:", [&](std::string_view k, std::string_view v) {
          auto c = Certificate::parse(v, impl_->key.public_key);
          if (!c.is_ok()) {
            problem = c.status();
            return false;
          }
          auto revoked = txn.get(Table::kMeta, "revoked:" + std::string(k.substr(7)));
          out.push_back(DeviceEntry{std::move(*c), revoked.is_ok() && revoked->has_value()});
          return true;
        }));
    return problem;
  });
  if (!s.is_ok()) return s;
  return out;
}

}  // namespace birga
