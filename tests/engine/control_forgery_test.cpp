// A writer of a data scope cannot make records that read as the authority's control records
// (certificates, revocations, key envelopes): the changes are forged here with the writer's
// own keys, as a modified build on an enrolled tablet could.
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "capnp_util.h"
#include "replica_impl.h"
#include "sealed_change.h"
#include "store_keys.h"
#include "sync.capnp.h"
#include "sync_fixture.h"
#include "trust_internal.h"

namespace birga {

// The seam birga/replica.h declares a friend.
struct ReplicaTestAccess {
  static Replica::Impl& impl(Replica& r) { return *r.impl_; }
};

}  // namespace birga

using namespace birga;
using namespace birga::test;

namespace {

// `author`'s change sealed at its next seq in `scope`, whose ops are the record ops of one
// ordinary visit rewritten by `edit`: signed with the author's key, sealed under its scope key.
std::string forged_change(Replica& author, const std::string& scope,
                          const std::function<void(std::vector<crdt::Op>&)>& edit) {
  Transaction t = author.begin();
  const crdt::RecordId id = t.create("visit", scope);
  t.set("visit", id, "household", crdt::text("cover"));
  REQUIRE(t.commit().is_ok());
  auto all = author.export_missing(scope, crdt::VersionVector(), 1 << 26);
  REQUIRE(all.is_ok());
  const std::string& genuine = all->back();
  auto v = engine::verify_change(genuine);
  REQUIRE(v.is_ok());
  Replica::Impl& impl = ReplicaTestAccess::impl(author);
  const engine::Key32* key = impl.find_scope_key(scope, v->header.key_epoch);
  REQUIRE(key);
  auto body = engine::open_change_body(*v, *key);
  REQUIRE(body.is_ok());
  auto ops = engine::decode_ops(*body, v->header);
  REQUIRE(ops.is_ok());
  edit(*ops);
  auto encoded = engine::encode_ops(*ops);
  REQUIRE(encoded.is_ok());
  auto sealed = engine::seal_change(v->header, *encoded, *key, impl.device);
  REQUIRE(sealed.is_ok());
  return *sealed;
}

// Turns the ops into lww writes of `fields` on record `id` of `collection`.
void rewrite(std::vector<crdt::Op>& ops, std::string_view collection, const crdt::RecordId& id,
             std::vector<std::pair<std::string, crdt::Value>> fields) {
  REQUIRE(!ops.empty());
  crdt::Op proto = ops.front();
  proto.kind = crdt::OpKind::kLwwWrite;
  proto.collection = std::string(collection);
  proto.record = id;
  proto.observed = {};
  ops.clear();
  uint64_t counter = proto.dot.counter;
  for (auto& [name, value] : fields) {
    crdt::Op op = proto;
    op.field = name;
    op.value = value;
    op.dot.counter = counter++;
    ops.push_back(std::move(op));
  }
}

bool has_alert(const Replica& r, const std::string& kind, const std::string& part) {
  auto alerts = r.alerts();
  REQUIRE(alerts.is_ok());
  for (const Alert& a : *alerts) {
    if (a.kind == kind && a.detail.find(part) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("Ingest: a data scope's change cannot make control records", "[sync][trust][forgery]") {
  Deployment d;
  auto hub = d.add("hub", Role::kHub, {{kDistrict, kRead | kRelay}});
  auto insider = d.add("insider", Role::kField, {{kMahallaA, kRead | kWrite}});
  auto victim = d.add("victim", Role::kField, {{kMahallaA, kRead | kWrite}});
  auto other = d.add("other", Role::kField, {{kMahallaB, kRead | kWrite}});
  REQUIRE((hub && insider && victim && other));
  const auto control = *d.authority->control_log();
  for (Replica* r : {hub.get(), insider.get(), victim.get(), other.get()}) {
    REQUIRE(r->ingest(control)->refused.empty());
  }

  SECTION("a revocation of another device") {
    const std::string forged = forged_change(*insider, kMahallaA, [&](auto& ops) {
      rewrite(ops, engine::kRevocationCollection,
              engine::control_record_id("revoke", engine::key_bytes(victim->device_key())),
              {{"device", crdt::text(key_hex(victim->device_key()))},
               {"revoked_ms", crdt::integer(1)},
               {"reason", crdt::text("forged")}});
    });
    auto report = hub->ingest({forged});
    REQUIRE(report.is_ok());
    CHECK(has_alert(*hub, "refused_op", "collections starting with '_' belong to the control"));
    auto revoked = hub->revoked_at(victim->device_key());
    REQUIRE(revoked.is_ok());
    CHECK_FALSE(revoked->has_value());
    auto out = memory_sync(*victim, *hub);
    INFO(out.status.to_string());
    CHECK(out.status.is_ok());
    // The authority's real revocation of the insider still takes effect.
    REQUIRE(d.authority->revoke(insider->device_key(), "lost").is_ok());
    REQUIRE(hub->ingest(*d.authority->control_log())->refused.empty());
    CHECK(hub->revoked_at(insider->device_key())->has_value());
  }
  SECTION("a certificate for a key the authority never certified") {
    const PublicKey ghost = engine::SigningKey::generate().public_key;
    const std::string forged = forged_change(*insider, kMahallaA, [&](auto& ops) {
      rewrite(ops, engine::kCertCollection,
              engine::control_record_id("cert", engine::key_bytes(ghost)),
              {{"certificate", crdt::Value(*insider->certificate())}});
    });
    REQUIRE(hub->ingest({forged}).is_ok());
    auto known = hub->known_certificate(ghost);
    REQUIRE(known.is_ok());
    CHECK_FALSE(known->has_value());
  }
  SECTION("a key envelope that would make the victim write under the insider's key") {
    engine::Key32 chosen{};
    chosen[0] = 0x42;
    auto x = engine::ed25519_pk_to_x25519(victim->device_key());
    REQUIRE(x.is_ok());
    std::string id_key = kMahallaA;
    id_key.push_back('\0');
    engine::put_be32(id_key, 1000);
    id_key += engine::key_bytes(victim->device_key());
    const std::string forged = forged_change(*insider, kMahallaA, [&](auto& ops) {
      rewrite(ops, engine::kEnvelopeCollection, engine::control_record_id("envelope", id_key),
              {{"scope", crdt::text(kMahallaA)},
               {"epoch", crdt::integer(1000)},
               {"recipient", crdt::text(key_hex(victim->device_key()))},
               {"sealed", crdt::Value(engine::box_seal(*x, engine::key_bytes(chosen)))}});
    });
    REQUIRE(victim->ingest({forged}).is_ok());
    // Envelopes are looked for after any control change arrives.
    REQUIRE(d.authority->revoke(other->device_key(), "lost").is_ok());
    REQUIRE(victim->ingest(*d.authority->control_log())->refused.empty());
    CHECK(victim->scope_key_epochs(kMahallaA) == std::vector<uint32_t>{1});
  }
}

namespace {

// The bytes of the message `mb` holds, as a sync frame carries them.
std::string flat_message(capnp::MallocMessageBuilder& mb) {
  kj::Array<capnp::word> words = capnp::messageToFlatArray(mb);
  const auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

// An opening summary listing `scope` with one head: (actor, seq, hash).
std::string summary_of(const std::string& scope, const crdt::ActorId& actor, uint64_t seq,
                       const engine::ChangeId& hash) {
  capnp::MallocMessageBuilder mb;
  auto msg = mb.initRoot<engine::wire::SyncMessage>();
  msg.setHop(1);
  auto scopes = msg.initSummary().initScopes(1);
  scopes[0].setScope(scope);
  auto heads = scopes[0].initHeads(1);
  heads[0].setActor(engine::data_of(actor.bytes));
  heads[0].setSeq(seq);
  heads[0].setHash(engine::data_of(hash));
  return flat_message(mb);
}

// Whether any of `messages` is a batch carrying a change of `scope`.
bool carries_scope(const std::vector<std::string>& messages, const std::string& scope) {
  bool found = false;
  for (const std::string& m : messages) {
    kj::ArrayPtr<const capnp::word> words(reinterpret_cast<const capnp::word*>(m.data()),
                                          m.size() / sizeof(capnp::word));
    capnp::FlatArrayMessageReader reader(words);
    auto msg = reader.getRoot<engine::wire::SyncMessage>();
    if (!msg.isBatch()) continue;
    for (auto c : msg.getBatch().getChanges()) {
      auto h =
          engine::read_header(std::string_view(reinterpret_cast<const char*>(c.begin()), c.size()));
      found |= h.is_ok() && h->header.scope == scope;
    }
  }
  return found;
}

// The peer's last batch, carrying no change.
std::string empty_last_batch(uint64_t id) {
  capnp::MallocMessageBuilder mb;
  auto msg = mb.initRoot<engine::wire::SyncMessage>();
  msg.setHop(2);
  auto batch = msg.initBatch();
  batch.setId(id);
  batch.setLast(true);
  batch.initChanges(0);
  batch.initAcks(0);
  return flat_message(mb);
}

// How many of `messages` are batches.
size_t batches_in(const std::vector<std::string>& messages) {
  size_t n = 0;
  for (const std::string& m : messages) {
    kj::ArrayPtr<const capnp::word> words(reinterpret_cast<const capnp::word*>(m.data()),
                                          m.size() / sizeof(capnp::word));
    capnp::FlatArrayMessageReader reader(words);
    n += reader.getRoot<engine::wire::SyncMessage>().isBatch();
  }
  return n;
}

Certificate certificate_of(const Replica& r, const Deployment& d) {
  auto cert = Certificate::parse(*r.certificate(), d.authority->public_key());
  REQUIRE(cert.is_ok());
  return *cert;
}

}  // namespace

// A summary is the peer's word: it draws out nothing of scopes the peer may not receive, and
// stops no device on its own.
TEST_CASE("Sync: a summary draws out nothing the peer may not receive and stops nobody on its word",
          "[sync][trust][forgery]") {
  Deployment d;
  auto hub = d.add("hub", Role::kHub, {{kDistrict, kRead | kRelay}});
  auto insider = d.add("insider", Role::kField, {{kMahallaA, kRead | kWrite}});
  auto other = d.add("other", Role::kField, {{kMahallaB, kRead | kWrite}});
  REQUIRE((hub && insider && other));
  for (Replica* r : {hub.get(), insider.get(), other.get()}) {
    REQUIRE(r->ingest(*d.authority->control_log())->refused.empty());
  }
  Transaction t = other->begin();
  const crdt::RecordId id = t.create("visit", kMahallaB);
  t.set("visit", id, "household", crdt::text("m0977 only"));
  REQUIRE(t.commit().is_ok());
  auto out = memory_sync(*other, *hub);
  REQUIRE(out.status.is_ok());
  const crdt::ActorId other_actor = engine::actor_of(other->device_key());
  engine::ChangeId junk{};
  junk[0] = 0x99;

  SECTION("fork evidence of another mahalla's change") {
    SyncSession session(*hub, certificate_of(*insider, d));
    session.start();
    auto replies = session.receive(summary_of(kMahallaB, other_actor, 1, junk));
    REQUIRE(replies.is_ok());
    CHECK_FALSE(carries_scope(*replies, kMahallaB));
    CHECK_FALSE(has_alert(*hub, "equivocation", kMahallaB));
  }
  // An entitled peer's word is not enough to stop a device as restored: it must send the
  // device's own change, which only the device's key can sign. Until its last batch the device
  // sends nothing; then the claim is dropped, and the device still writes.
  for (const uint64_t claimed : {uint64_t{99}, uint64_t{1}}) {
    DYNAMIC_SECTION("an entitled peer's unproven claim of this device's change " << claimed) {
      SyncSession session(*other, certificate_of(*hub, d));
      session.start();
      auto replies = session.receive(summary_of(kMahallaB, other_actor, claimed, junk));
      INFO(replies.status().to_string());
      REQUIRE(replies.is_ok());
      CHECK(batches_in(*replies) == 0);
      auto end = session.receive(empty_last_batch(1));
      REQUIRE_FALSE(end.is_ok());
      CHECK(end.status().code() == Code::kPermissionDenied);
      CHECK_THAT(end.status().message(),
                 Catch::Contains("but it sent no change of this device that this store lacks"));
      CHECK_THAT(end.status().message(),
                 Catch::Contains(claimed == 1 ? "holds a different change 1 of this device"
                                              : "holds this device's changes 1..99"));
      CHECK(has_alert(*other, "unproven_claim", kMahallaB));
      CHECK_FALSE(has_alert(*other, "restored_store", kMahallaB));
      Transaction more = other->begin();
      more.set("visit", more.create("visit", kMahallaB), "household", crdt::text("still mine"));
      CHECK(more.commit().is_ok());
    }
  }
  SECTION("a claim to hold more of a device's chain in a scope the peer may not receive") {
    SyncSession session(*other, certificate_of(*insider, d));
    session.start();
    auto replies = session.receive(summary_of(kMahallaB, other_actor, 99, junk));
    INFO(replies.status().to_string());
    CHECK(replies.is_ok());
    CHECK_FALSE(has_alert(*other, "restored_store", kMahallaB));
  }
}

namespace {

// Peak resident memory (VmHWM) since the last reset_peak(), in MiB.
void reset_peak() {
  std::ofstream("/proc/self/clear_refs") << "5";
}
double peak_mib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

// `n` changes by `author` in `scope` (its seqs from 1), each of `ops_each` deletes of one
// record: a few hundred bytes sealed, tens of megabytes once decoded.
std::vector<std::string> op_bombs(Replica& author, const std::string& scope, size_t n,
                                  size_t ops_each) {
  Replica::Impl& impl = ReplicaTestAccess::impl(author);
  const auto epoch = impl.current_epoch(scope);
  REQUIRE(epoch);
  std::string body;
  {
    crdt::Op del;
    del.collection = "visit";
    del.record.bytes[0] = 1;
    del.kind = crdt::OpKind::kRecordDelete;
    std::vector<crdt::Op> ops(ops_each, del);
    auto encoded = engine::encode_ops(ops);
    REQUIRE(encoded.is_ok());
    body = std::move(*encoded);
  }
  std::vector<std::string> out;
  engine::ChangeId prev{};
  for (size_t i = 0; i < n; ++i) {
    engine::ChangeHeader h;
    h.author = author.device_key();
    h.scope = scope;
    h.seq = i + 1;
    h.prev_hash = prev;
    h.hlc = crdt::Timestamp::make(crdt::system_wall_clock_ms(), 0);
    h.key_epoch = *epoch;
    auto sealed = engine::seal_change(h, body, *impl.find_scope_key(scope, *epoch), impl.device);
    REQUIRE(sealed.is_ok());
    prev = engine::change_id(*sealed);
    out.push_back(std::move(*sealed));
  }
  return out;
}

}  // namespace

TEST_CASE("Ingest: a reader's small changes that decode to millions of ops are not decoded",
          "[sync][trust][forgery]") {
  Deployment d;
  auto hub = d.add("hub", Role::kHub, {{kDistrict, kRead | kRelay}});
  auto reader = d.add("reader", Role::kSupervisor, {{kMahallaA, kRead}});
  auto writer = d.add("writer", Role::kField, {{kMahallaA, kRead | kWrite}});
  REQUIRE((hub && reader && writer));
  REQUIRE(hub->ingest(*d.authority->control_log())->refused.empty());
  REQUIRE(reader->ingest(*d.authority->control_log())->refused.empty());
  // Eight changes of 2^18 ops: some 60 MiB each once decoded, 480 MiB if all were.
  auto bombs = op_bombs(*reader, kMahallaA, 8, size_t{1} << 18);
  size_t sealed_bytes = 0;
  for (const std::string& b : bombs) sealed_bytes += b.size();
  INFO("sealed bytes: " << sealed_bytes);
  CHECK(sealed_bytes < 64 * 1024);
  reset_peak();
  const double before = peak_mib();
  auto report = hub->ingest(bombs);
  const double grew = peak_mib() - before;
  REQUIRE(report.is_ok());
  CHECK(report->refused.size() == 8);
  CHECK(report->applied == 0);
  INFO("peak grew by " << grew << " MiB");
  CHECK(grew < 100);
}

TEST_CASE("Ingest: a revoked device's second change for a held seq is refused, not quarantined",
          "[sync][trust][forgery]") {
  Deployment d;
  auto hub = d.add("hub", Role::kHub, {{kDistrict, kRead | kRelay}});
  auto writer = d.add("writer", Role::kField, {{kMahallaA, kRead | kWrite}});
  REQUIRE((hub && writer));
  REQUIRE(hub->ingest(*d.authority->control_log())->refused.empty());
  Transaction t = writer->begin();
  t.set("visit", t.create("visit", kMahallaA), "household", crdt::text("genuine"));
  REQUIRE(t.commit().is_ok());
  REQUIRE(memory_sync(*writer, *hub).status.is_ok());
  REQUIRE(d.authority->revoke(writer->device_key(), "lost").is_ok());
  REQUIRE(hub->ingest(*d.authority->control_log())->refused.empty());
  // Made after the revocation, with the device's own key: 5 forks of its change 1.
  for (size_t i = 0; i < 5; ++i) {
    auto fork = op_bombs(*writer, kMahallaA, 1, 10 + i);
    auto report = hub->ingest(fork);
    REQUIRE(report.is_ok());
    CHECK(report->quarantined == 0);
    REQUIRE(report->refused.size() == 1);
    CHECK_THAT(report->refused[0].message(), Catch::Contains("was revoked before this change"));
  }
  auto withheld = hub->withheld();
  REQUIRE(withheld.is_ok());
  CHECK(withheld->quarantined == 0);
}

// Not a forgery: the history of certificates a re-enrolment writes, read out of the control
// change itself (it needs the control key, which this seam reaches).
TEST_CASE("Authority: a re-enrolment writes the device's previous certificate into its history",
          "[trust][authority]") {
  Deployment d;
  auto tablet = d.add("tablet", Role::kField, {{kMahallaA, kRead | kWrite}});
  REQUIRE(tablet);
  const std::string first = tablet->certificate().value();
  auto moved = d.authority->enrol(tablet->device_key(), "tablet", Role::kField,
                                  {{kMahallaB, kRead | kWrite}}, 0);
  REQUIRE(moved.is_ok());
  REQUIRE(tablet->install_certificate(moved->encode()).is_ok());
  auto before = Certificate::parse(first, *tablet->authority());
  auto after = Certificate::parse(moved->certificate, *tablet->authority());
  REQUIRE((before.is_ok() && after.is_ok()));
  CHECK(after->serial > before->serial);
  CHECK(after->issued_ms > before->issued_ms);  // even when the clock went back

  // The last control change is the re-enrolment: both certificates are in it, so a record
  // written before the history was kept (only `certificate`) gets the earlier one too.
  auto log = d.authority->control_log();
  REQUIRE(log.is_ok());
  auto v = engine::verify_change(log->back());
  REQUIRE(v.is_ok());
  const engine::Key32* key = ReplicaTestAccess::impl(*tablet).find_scope_key(
      std::string(kControlScope), v->header.key_epoch);
  REQUIRE(key);
  auto body = engine::open_change_body(*v, *key);
  REQUIRE(body.is_ok());
  auto ops = engine::decode_ops(*body, v->header);
  REQUIRE(ops.is_ok());
  std::map<std::string, std::string> fields;
  for (const crdt::Op& op : *ops) {
    if (op.collection != engine::kCertCollection) continue;
    if (const auto* s = std::get_if<std::string>(&op.value)) fields[op.field] = *s;
  }
  CHECK(fields["certificate"] == after->bytes);
  CHECK(fields[engine::cert_history_field(after->serial)] == after->bytes);
  CHECK(fields[engine::cert_history_field(before->serial)] == before->bytes);
}
