// Replica: enrolment, key envelopes, and the author checks applied on ingest.
#include <map>
#include <set>

#include "birga/authority.h"
#include "record_batch.h"
#include "replica_impl.h"
#include "store_keys.h"
#include "trust_internal.h"

namespace birga {

using engine::Table;
using engine::Txn;

namespace {

std::optional<std::string> lww_text(const crdt::Record& r, const std::string& field) {
  const auto* reg = r.get<crdt::LwwRegister>(field);
  if (!reg || !reg->is_set()) return std::nullopt;
  if (const auto* s = std::get_if<std::string>(&reg->value())) return *s;
  return std::nullopt;
}

std::optional<int64_t> lww_int(const crdt::Record& r, const std::string& field) {
  const auto* reg = r.get<crdt::LwwRegister>(field);
  if (!reg || !reg->is_set()) return std::nullopt;
  if (const auto* i = std::get_if<int64_t>(&reg->value())) return *i;
  return std::nullopt;
}

// What a stored control record says, read from a record of the control scope only: a
// record of the same collection and id in another scope is not the authority's (no current
// writer can make one, but a store may hold one from before that was refused).
std::optional<std::string> certificate_in(const std::string& scope, const crdt::Record& r) {
  return scope == kControlScope ? lww_text(r, "certificate") : std::nullopt;
}
// Every certificate a `_certificate` record keeps: the newest ("certificate") and each one
// issued ("issued/<serial>"; stores written before the history was kept have only the newest).
// Views into the record. Control scope only, as above.
std::vector<std::string_view> certificates_in(const std::string& scope, const crdt::Record& r) {
  std::vector<std::string_view> out;
  if (scope != kControlScope) return out;
  for (const auto& [key, field] : r.fields()) {
    if (key.kind != crdt::FieldKind::kLww) continue;
    if (key.name != "certificate" && !key.name.starts_with(engine::kCertHistoryPrefix)) continue;
    const auto& reg = std::get<crdt::LwwRegister>(field);
    if (!reg.is_set()) continue;
    if (const auto* s = std::get_if<std::string>(&reg.value())) out.push_back(*s);
  }
  return out;
}

// The certificates that parse (by `parse`), name `device` and differ in serial, in serial
// order. One that does not parse is left out: the others still judge the device.
template <typename Parse>
std::vector<Certificate> device_certificates(const std::vector<std::string_view>& all,
                                             const PublicKey& device, Parse&& parse) {
  std::map<uint64_t, Certificate> by_serial;
  for (std::string_view bytes : all) {
    Result<Certificate> cert = parse(bytes);
    if (cert.is_ok() && cert->device == device) by_serial.emplace(cert->serial, std::move(*cert));
  }
  std::vector<Certificate> out;
  out.reserve(by_serial.size());
  for (auto& [serial, cert] : by_serial) out.push_back(std::move(cert));
  return out;
}

std::optional<uint64_t> revoked_ms_in(const std::string& scope, const crdt::Record& r) {
  if (scope != kControlScope) return std::nullopt;
  const auto ms = lww_int(r, "revoked_ms");
  return ms ? std::optional<uint64_t>(static_cast<uint64_t>(*ms)) : std::nullopt;
}

std::string short_key(const PublicKey& k) {
  return key_hex(k).substr(0, 16);
}

}  // namespace

Status Replica::Impl::load_trust() {
  return env->read([&](const Txn& txn) -> Status {
    auto a = txn.get(Table::kMeta, "authority");
    auto c = txn.get(Table::kMeta, "certificate");
    if (!a.is_ok()) return a.status();
    if (!c.is_ok()) return c.status();
    if (*a && (*a)->size() == 32) {
      PublicKey k;
      std::copy((*a)->begin(), (*a)->end(), k.begin());
      authority = k;
    }
    if (*c) certificate = std::string(**c);
    return Status::ok();
  });
}

Status Replica::install_certificate(std::string_view bundle_bytes) {
  auto bundle = EnrolmentBundle::decode(bundle_bytes);
  if (!bundle.is_ok()) return bundle.status();
  Impl& impl = *impl_;
  if (impl.authority && *impl.authority != bundle->authority) {
    return Status::permission_denied("this certificate belongs to another deployment (authority " +
                                     key_hex(bundle->authority).substr(0, 16) +
                                     ", this replica's is " +
                                     key_hex(*impl.authority).substr(0, 16) + ")");
  }
  auto cert = Certificate::parse(bundle->certificate, bundle->authority);
  if (!cert.is_ok()) return cert.status();
  if (cert->device != impl.device.public_key) {
    return Status::invalid_argument("certificate '" + cert->name + "' is for device " +
                                    short_key(cert->device) + ", not this one (" +
                                    short_key(impl.device.public_key) + ")");
  }
  BIRGA_RETURN_IF_ERROR(impl.check_not_older(*cert));
  // Open every control key first: a bundle that is not for this device changes nothing.
  auto xpk = engine::ed25519_pk_to_x25519(impl.device.public_key);
  auto xsk = engine::ed25519_sk_to_x25519(impl.device.secret_key);
  if (!xpk.is_ok() || !xsk.is_ok()) return Status::internal("cannot derive the X25519 key");
  std::vector<std::pair<uint32_t, engine::Key32>> control_keys;
  for (const auto& [epoch, sealed] : bundle->control_keys) {
    auto key = engine::box_seal_open(*xpk, *xsk, sealed);
    if (!key.is_ok() || key->size() != 32) {
      return Status::permission_denied("the bundle's control key is not sealed to this device");
    }
    engine::Key32 k;
    std::copy_n(key->data(), 32, k.begin());
    control_keys.emplace_back(epoch, k);
  }
  const std::string control(kControlScope);
  BIRGA_RETURN_IF_ERROR(impl.env->write([&](Txn& txn) -> Status {
    BIRGA_RETURN_IF_ERROR(txn.put(Table::kMeta, "authority", engine::key_bytes(bundle->authority)));
    return txn.put(Table::kMeta, "certificate", cert->bytes);
  }));
  impl.authority = bundle->authority;
  impl.certificate = cert->bytes;
  for (const auto& [epoch, k] : control_keys) {
    if (!impl.find_scope_key(control, epoch)) {
      BIRGA_RETURN_IF_ERROR(impl.store_scope_key(control, epoch, k));
    }
  }
  auto report = ingest(bundle->control_changes);
  if (!report.is_ok()) return report.status();
  if (!report->refused.empty()) return report->refused.front().with_context("enrolment bundle");
  return Status::ok();
}

// An older bundle installed over a newer one would undo what the newer one changed: a narrowed
// grant would widen again, a shortened expiry grow back, and the device would present that in
// every handshake. So a certificate is only ever replaced by a later one (the authority's
// serials only grow). The one installed, installed again, changes nothing and is allowed, so
// that a bundle can be installed twice; two different certificates of one serial come from two
// copies of the authority, and neither is the newer.
Status Replica::Impl::check_not_older(const Certificate& next) {
  if (certificate.empty() || certificate == next.bytes) return Status::ok();
  auto held = parse_certificate(certificate);
  if (!held.is_ok()) return Status::ok();  // a damaged one is replaced, not defended
  const std::string held_serial = std::to_string(held->serial);
  const std::string next_serial = std::to_string(next.serial);
  if (next.serial < held->serial) {
    return Status::permission_denied(
        "the bundle's certificate has serial " + next_serial + ", older than the installed " +
        "one's, serial " + held_serial + ": installing it would undo what serial " + held_serial +
        " changed (a narrowed grant, an earlier expiry); nothing was installed. " +
        "Install the newest bundle the authority issued for this device");
  }
  if (next.serial == held->serial) {
    return Status::permission_denied(
        "the bundle's certificate has serial " + next_serial + ", the installed one's serial, " +
        "but differs from it: two certificates of one serial come from two copies of the " +
        "authority (a restored backup?); nothing was installed");
  }
  return Status::ok();
}

std::optional<std::string> Replica::certificate() const {
  if (impl_->certificate.empty()) return std::nullopt;
  return impl_->certificate;
}

std::optional<PublicKey> Replica::authority() const {
  return impl_->authority;
}

Result<std::optional<std::string>> Replica::known_certificate(const PublicKey& device) const {
  auto v = get(std::string(engine::kCertCollection),
               engine::control_record_id("cert", engine::key_bytes(device)));
  if (!v.is_ok()) return v.status();
  if (!*v) return std::optional<std::string>();
  return certificate_in((*v)->scope, (*v)->state);
}

Result<std::optional<uint64_t>> Replica::revoked_at(const PublicKey& device) const {
  std::optional<uint64_t> out;
  Status s = impl_->env->read([&](const Txn& txn) -> Status {
    auto ms = impl_->revoked_ms_of(txn, device);
    if (!ms.is_ok()) return ms.status();
    out = *ms;
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return out;
}

Result<std::optional<uint64_t>> Replica::Impl::revoked_ms_of(const Txn& txn,
                                                             const PublicKey& device) const {
  auto v = load_view(
      txn, engine::record_key(engine::kRevocationCollection,
                              engine::control_record_id("revoke", engine::key_bytes(device))));
  if (!v.is_ok()) return v.status();
  if (!*v) return std::optional<uint64_t>();
  return revoked_ms_in((*v)->scope, (*v)->state);
}

Result<uint64_t> Replica::Impl::first_after_revocation(const Txn& txn, const std::string& scope,
                                                       const crdt::ActorId& actor, uint64_t from,
                                                       uint64_t head, uint64_t revoked_ms) {
  std::optional<uint64_t> found;
  Status inner;
  BIRGA_RETURN_IF_ERROR(txn.scan(
      Table::kChanges, engine::author_key(scope, actor),
      [&](std::string_view k, std::string_view v) {
        const uint64_t seq = engine::get_be64(k.substr(k.size() - 8));
        if (seq > head) return false;
        auto h = engine::read_header(v);
        if (!h.is_ok()) {
          inner = Status::data_loss("a stored change of scope '" + scope + "' does not parse");
          return false;
        }
        if (h->header.hlc.wall_ms() >= revoked_ms) found = seq;
        return !found;
      },
      engine::change_key(scope, actor, from)));
  if (!inner.is_ok()) return inner;
  return found.value_or(head + 1);
}

Status Replica::Impl::alert_held_after_revocation(Txn& txn, engine::RecordBatch& batch,
                                                  const crdt::RecordId& record) {
  auto rec = batch.load(std::string(engine::kRevocationCollection), record);
  if (!rec.is_ok()) return rec.status();
  const auto revoked_ms = revoked_ms_in((*rec)->scope, (*rec)->state);
  const auto* named = (*rec)->state.get<crdt::LwwRegister>("device");
  const std::string* hex =
      named && named->is_set() ? std::get_if<std::string>(&named->value()) : nullptr;
  const std::optional<PublicKey> device = hex ? parse_key_hex(*hex) : std::nullopt;
  // A revocation record names the device it is found by (Authority::revoke).
  if (!revoked_ms || !device ||
      !(engine::control_record_id("revoke", engine::key_bytes(*device)) == record)) {
    return Status::ok();
  }
  const crdt::ActorId actor = engine::actor_of(*device);
  std::vector<std::pair<std::string, uint64_t>> chains;  // scope, head seq
  BIRGA_RETURN_IF_ERROR(for_each_head(
      txn, std::nullopt, [&](std::string_view scope, const crdt::ActorId& a, const Head& h) {
        if (a == actor && scope != kControlScope) chains.emplace_back(scope, h.seq);
        return true;
      }));
  auto certs = certificates_of(batch, *device);
  if (!certs.is_ok()) return certs.status();
  const std::string name =
      certs->empty() ? "device " + short_key(*device) : "'" + certs->back().name + "'";
  for (const auto& [scope, head] : chains) {
    auto first = first_after_revocation(txn, scope, actor, 1, head, *revoked_ms);
    if (!first.is_ok()) return first.status();
    if (*first > head) continue;
    auto undone = undo_changes_after_revocation(txn, batch, scope, actor, *first, head);
    if (!undone.is_ok()) return undone.status();
    const uint64_t n = head - *first + 1;
    BIRGA_RETURN_IF_ERROR(add_alert(
        txn, "revoked_held",
        std::to_string(n) + " change(s) of " + name + " in scope '" + scope + "' (seq " +
            std::to_string(*first) + (n > 1 ? " to " + std::to_string(head) : "") +
            ") were made at or after its revocation and were taken here before it was known: "
            "their edits were taken back out of this replica's records (" +
            std::to_string(*undone) +
            " record(s) made again from the other changes), as nodes that knew of the "
            "revocation refuse them, and this replica no longer passes them on; check what "
            "they had changed"));
  }
  return Status::ok();
}

Result<size_t> Replica::Impl::undo_changes_after_revocation(Txn& txn, engine::RecordBatch& batch,
                                                            const std::string& scope,
                                                            const crdt::ActorId& actor,
                                                            uint64_t first, uint64_t head) {
  // Where each author's chain in `scope` ends for a node that knows its revocation (as
  // export_missing ends it): the first seq made at or after it, looked up once per author,
  // through the batch, so that a revocation this same batch made counts.
  std::map<crdt::ActorId, uint64_t> cut_at;
  auto cut_of = [&](const engine::ChangeHeader& h) -> Result<uint64_t> {
    const crdt::ActorId a = engine::actor_of(h.author);
    if (a == actor) return first;
    if (auto it = cut_at.find(a); it != cut_at.end()) return it->second;
    auto rec = batch.load(std::string(engine::kRevocationCollection),
                          engine::control_record_id("revoke", engine::key_bytes(h.author)));
    if (!rec.is_ok()) return rec.status();
    uint64_t cut = UINT64_MAX;
    if (const auto ms = revoked_ms_in((*rec)->scope, (*rec)->state)) {
      auto found = first_after_revocation(txn, scope, a, 1, UINT64_MAX - 1, *ms);
      if (!found.is_ok()) return found.status();
      cut = *found;
    }
    return cut_at[a] = cut;
  };
  // A stored change's ops, as ingest applied them: none for one never applied here (held
  // sealed: no key for its epoch, or marked unapplied until its key comes), nor for one whose
  // body did not open or decode (ingest kept it with an alert), nor, with `cut`, for one past
  // its author's revocation.
  auto ops_of = [&](std::string_view key, std::string_view sealed,
                    bool cut) -> Result<std::vector<crdt::Op>> {
    auto unapplied = txn.get(Table::kUnapplied, key);
    if (!unapplied.is_ok()) return unapplied.status();
    if (*unapplied) return std::vector<crdt::Op>();
    auto v = engine::verify_change(sealed);
    if (!v.is_ok()) {
      return Status::data_loss("a stored change of scope '" + scope +
                               "' does not verify: " + v.status().message());
    }
    if (cut) {
      auto at = cut_of(v->header);
      if (!at.is_ok()) return at.status();
      if (v->header.seq >= *at) return std::vector<crdt::Op>();
    }
    const engine::Key32* data_key = find_scope_key(scope, v->header.key_epoch);
    if (!data_key) return std::vector<crdt::Op>();
    auto body = engine::open_change_body(*v, *data_key);
    if (!body.is_ok()) return std::vector<crdt::Op>();
    auto ops = engine::decode_ops(*body, v->header);
    if (!ops.is_ok()) return std::vector<crdt::Op>();
    return ops;
  };
  using Ref = std::pair<std::string, crdt::RecordId>;  // collection, record id
  // The records the changes touched (control collections never: such ops were refused).
  std::set<Ref> touched;
  Status inner;
  BIRGA_RETURN_IF_ERROR(txn.scan(
      Table::kChanges, engine::author_key(scope, actor),
      [&](std::string_view k, std::string_view v) {
        if (engine::get_be64(k.substr(k.size() - 8)) > head) return false;
        auto ops = ops_of(k, v, false);
        if (!ops.is_ok()) {
          inner = ops.status();
          return false;
        }
        for (const crdt::Op& op : *ops) {
          if (!op.collection.empty() && op.collection[0] != '_') {
            touched.emplace(op.collection, op.record);
          }
        }
        return true;
      },
      engine::change_key(scope, actor, first)));
  BIRGA_RETURN_IF_ERROR(inner);
  // Those still held sealed (no key yet) are never applied: apply_held takes only marked ones.
  std::vector<std::string> held;
  BIRGA_RETURN_IF_ERROR(txn.scan(
      Table::kUnapplied, engine::author_key(scope, actor),
      [&](std::string_view k, std::string_view) {
        if (engine::get_be64(k.substr(k.size() - 8)) > head) return false;
        held.emplace_back(k);
        return true;
      },
      engine::change_key(scope, actor, first)));
  for (const std::string& k : held) BIRGA_RETURN_IF_ERROR(txn.del(Table::kUnapplied, k));
  if (touched.empty()) return size_t{0};
  // Their states from every other applied change of the scope, each author's in chain order
  // (the ops commute across authors, as they do when changes arrive in any order), without
  // any revoked author's changes past its revocation: those an earlier undo took out too.
  std::map<Ref, crdt::Record> made;
  std::set<Ref> kept;  // made holds an op of them
  BIRGA_RETURN_IF_ERROR(txn.scan(Table::kChanges, engine::scope_prefix(scope),
                                 [&](std::string_view k, std::string_view v) {
                                   engine::ChangeKey ck;
                                   if (!engine::parse_change_key(k, &ck)) {
                                     inner = Status::data_loss("malformed key in the change log");
                                     return false;
                                   }
                                   if (ck.actor == actor && ck.seq >= first) return true;
                                   auto ops = ops_of(k, v, true);
                                   if (!ops.is_ok()) {
                                     inner = ops.status();
                                     return false;
                                   }
                                   for (crdt::Op& op : *ops) {
                                     Ref ref(op.collection, op.record);
                                     if (!touched.count(ref)) continue;
                                     crdt::Record& r = made[ref];
                                     if (r.has_applied(op.dot)) continue;
                                     if (r.apply(std::move(op)).is_ok())
                                       kept.insert(ref);  // one refused is skipped
                                   }
                                   return true;
                                 }));
  BIRGA_RETURN_IF_ERROR(inner);
  size_t undone = 0;
  for (const Ref& ref : touched) {
    auto rec = batch.load(ref.first, ref.second);
    if (!rec.is_ok()) return rec.status();
    engine::LoadedRecord& r = **rec;
    // Never made here (not stored, nor made earlier in this batch), or not this scope's.
    if ((!r.existed && !r.dirty) || r.scope != scope) continue;
    if (kept.count(ref)) {
      r.state = std::move(made[ref]);
    } else {
      r.state = crdt::Record();  // a later op of this batch makes it again (apply_ops)
      r.removed = true;
    }
    r.dirty = true;
    // Not what one change made any more: never stored as a range of it (RecordBatch::flush).
    r.source = engine::LoadedRecord::kMixedSource;
    ++undone;
  }
  return undone;
}

Result<std::vector<Certificate>> Replica::Impl::certificates_of(engine::RecordBatch& batch,
                                                                const PublicKey& device) {
  auto rec = batch.load(std::string(engine::kCertCollection),
                        engine::control_record_id("cert", engine::key_bytes(device)));
  if (!rec.is_ok()) return rec.status();
  // The record is found by the device's key; a certificate counts only if it names that key.
  return device_certificates(certificates_in((*rec)->scope, (*rec)->state), device,
                             [&](std::string_view b) { return parse_certificate(b); });
}

Replica::Impl::Standing Replica::Impl::stored_standing(const PublicKey& author) const {
  Standing k;
  if (!authority) return k;
  const std::string key = engine::key_bytes(author);
  (void)env->read([&](const Txn& txn) -> Status {
    auto cert_rec = load_view(
        txn, engine::record_key(engine::kCertCollection, engine::control_record_id("cert", key)));
    if (!cert_rec.is_ok() || !*cert_rec) return Status::ok();
    auto certs =
        device_certificates(certificates_in((*cert_rec)->scope, (*cert_rec)->state), author,
                            [&](std::string_view b) { return Certificate::parse(b, *authority); });
    if (certs.empty()) return Status::ok();
    auto revoked = revoked_ms_of(txn, author);
    if (!revoked.is_ok()) return Status::ok();
    k.revoked_ms = *revoked;
    k.certs = std::move(certs);
    return Status::ok();
  });
  return k;
}

Result<std::vector<Replica::Impl::AuthorAlert>> Replica::Impl::check_author(
    engine::RecordBatch& batch, const engine::ChangeHeader& h) {
  std::vector<AuthorAlert> alerts;
  if (!authority) return alerts;
  const std::string who = "change " + std::to_string(h.seq) + " of device " + short_key(h.author) +
                          " in scope '" + h.scope + "'";
  if (h.scope == kControlScope) {
    if (h.author != *authority) {
      // Most often a change list of another deployment (its authority's log) imported here.
      return Status::permission_denied(
          who +
          ": only the authority writes the control scope, and this deployment's authority is " +
          short_key(*authority) + " (a change of another deployment, or forged)");
    }
    return alerts;
  }
  if (h.scope.empty() || h.scope[0] == '_') {
    return Status::permission_denied(who + ": reserved scope name");
  }
  auto certs = certificates_of(batch, h.author);
  if (!certs.is_ok()) return certs.status().with_context(who);
  auto revoked = batch.load(std::string(engine::kRevocationCollection),
                            engine::control_record_id("revoke", engine::key_bytes(h.author)));
  if (!revoked.is_ok()) return revoked.status();
  const auto revoked_ms = revoked_ms_in((*revoked)->scope, (*revoked)->state);
  auto under = judge_author(h, *certs, revoked_ms, who);
  if (!under.is_ok()) return under.status();
  if (const Certificate& newest = certs->back();
      *under != &newest && !(newest.rights_on(h.scope) & kWrite)) {
    // Made under a grant since withdrawn, before it was by its time: genuine work written
    // before a move, or a device that set its clock back. Kept, and a person should look.
    alerts.push_back(
        {"superseded_grant",
         who + ": accepted under certificate serial " + std::to_string((*under)->serial) + " of '" +
             (*under)->name + "', in force at its time; serial " + std::to_string(newest.serial) +
             ", issued since, grants no write on this scope (work written before a move, or a "
             "clock set back); check it"});
  }
  if (revoked_ms) {
    // Made before the revocation by its own clock: kept (it may be genuine field work), but a
    // revoked device can set its clock back, so a person should look at it.
    alerts.push_back({"revoked_author", who +
                                            ": accepted because its time is before the "
                                            "revocation of '" +
                                            (*under)->name + "'; check it"});
  }
  return alerts;
}

// A change is judged by the certificate in force when it was made (by its time), not by the
// newest: a visit written in a mahalla before its author moved to another stays valid. In force
// at time t: of the certificates issued at or before t, the one of the highest serial, which
// replaced every one before it (a narrowed grant takes effect when issued; serials, unlike the
// authority's clock, never go back), and also every later one, because a device whose clock is
// behind the authority's writes under a certificate it already holds.
Result<const Certificate*> Replica::Impl::judge_author(const engine::ChangeHeader& h,
                                                       const std::vector<Certificate>& certs,
                                                       std::optional<uint64_t> revoked_ms,
                                                       const std::string& who) {
  if (certs.empty()) {
    return Status::permission_denied(who +
                                     ": unknown author (no certificate from this "
                                     "deployment's authority is known for it yet)");
  }
  const uint64_t t = h.hlc.wall_ms();
  size_t in_force = certs.size();              // none issued by t
  for (size_t i = 0; i < certs.size(); ++i) {  // serial order
    if (certs[i].issued_ms <= t) in_force = i;
  }
  // The one in force and every later one, in serial order.
  const size_t first = in_force == certs.size() ? 0 : in_force;
  const Certificate* granting = nullptr;
  const Certificate* expired = nullptr;
  for (size_t i = first; i < certs.size(); ++i) {
    const Certificate* c = &certs[i];
    if (!(c->rights_on(h.scope) & kWrite)) continue;
    if (!c->expired_at(t)) {
      granting = c;
      break;
    }
    if (!expired) expired = c;
  }
  if (!granting && expired) {
    return Status::permission_denied(who + ": the certificate of '" + expired->name +
                                     "' had expired when this change was made");
  }
  if (!granting) {
    const Certificate& shown = certs[in_force == certs.size() ? certs.size() - 1 : in_force];
    return Status::permission_denied(
        who + ": '" + shown.name + "' has no write right on this scope (certificate serial " +
        std::to_string(shown.serial) + ", in force when the change was made)");
  }
  if (revoked_ms && t >= *revoked_ms) {
    return Status::permission_denied(who + ": '" + granting->name +
                                     "' was revoked before this change was made");
  }
  return granting;
}

Result<Certificate> Replica::Impl::parse_certificate(std::string_view bytes) {
  if (auto it = certificate_cache.find(bytes); it != certificate_cache.end()) return it->second;
  auto cert = Certificate::parse(bytes, *authority);
  if (!cert.is_ok()) return cert.status();
  // Bounded: every certificate of a few thousand devices, each re-issued a few times.
  if (certificate_cache.size() >= 16384) certificate_cache.clear();
  certificate_cache.emplace(std::string(bytes), *cert);
  return cert;
}

Status Replica::Impl::check_own_write(const std::string& scope) {
  if (!authority || certificate.empty()) return Status::ok();
  auto cert = parse_certificate(certificate);
  if (!cert.is_ok()) return cert.status().with_context("this device's certificate");
  if (!(cert->rights_on(scope) & kWrite)) {
    return Status::permission_denied("this device's certificate ('" + cert->name +
                                     "') grants no write right on scope '" + scope + "'");
  }
  if (cert->expired_at(std::max(clock.last().wall_ms(), crdt::system_wall_clock_ms()))) {
    return Status::permission_denied("this device's certificate expired: ask for a new one");
  }
  return env->read([&](const Txn& txn) -> Status {
    auto revoked = revoked_ms_of(txn, device.public_key);
    if (!revoked.is_ok()) return revoked.status();
    if (*revoked) {
      return Status::permission_denied("this device has been revoked; it can no longer write");
    }
    return Status::ok();
  });
}

Status Replica::Impl::apply_envelopes() {
  if (!authority) return Status::ok();
  const std::string me = key_hex(device.public_key);
  struct Found {
    std::string scope;
    uint32_t epoch;
    std::string sealed;
  };
  std::vector<Found> found;
  Status s = env->read([&](const Txn& txn) -> Status {
    auto table = txn.records_of(engine::kEnvelopeCollection);
    if (!table.is_ok()) return table.status();
    return scan_records(txn, *table, engine::collection_prefix(engine::kEnvelopeCollection),
                        [&](std::string_view, StoredRecord& stored) {
                          const crdt::Record& r = stored.state;
                          if (stored.scope != kControlScope) return Status::ok();
                          if (lww_text(r, "recipient") != me) return Status::ok();
                          const auto sc = lww_text(r, "scope");
                          const auto ep = lww_int(r, "epoch");
                          const auto sealed = lww_text(r, "sealed");
                          if (sc && ep && sealed && *ep > 0) {
                            found.push_back({*sc, static_cast<uint32_t>(*ep), *sealed});
                          }
                          return Status::ok();
                        });
  });
  BIRGA_RETURN_IF_ERROR(s);
  for (const Found& f : found) {
    if (find_scope_key(f.scope, f.epoch)) continue;
    auto xpk = engine::ed25519_pk_to_x25519(device.public_key);
    auto xsk = engine::ed25519_sk_to_x25519(device.secret_key);
    if (!xpk.is_ok() || !xsk.is_ok()) return Status::internal("cannot derive the X25519 key");
    auto key = engine::box_seal_open(*xpk, *xsk, f.sealed);
    if (!key.is_ok() || key->size() != 32) {
      BIRGA_RETURN_IF_ERROR(env->write([&](Txn& txn) {
        return add_alert(txn, "bad_envelope",
                         "a key envelope for scope '" + f.scope + "' cannot be opened");
      }));
      continue;
    }
    engine::Key32 k;
    std::copy_n(key->data(), 32, k.begin());
    BIRGA_RETURN_IF_ERROR(store_scope_key(f.scope, f.epoch, k));
  }
  return Status::ok();
}

}  // namespace birga
