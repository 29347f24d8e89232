#include "fuzz_world.h"

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include "engine/replica_fixture.h"
#include "trust_internal.h"

namespace birga::fuzz {

namespace {

[[noreturn]] void setup_failed(const std::string& what, const Status& s) {
  std::fprintf(stderr, "fuzz world setup failed: %s: %s\n", what.c_str(), s.to_string().c_str());
  std::abort();
}

template <typename T>
T take(Result<T> r, const std::string& what) {
  if (!r.is_ok()) setup_failed(what, r.status());
  return std::move(r).value();
}

void check(const Status& s, const std::string& what) {
  if (!s.is_ok()) setup_failed(what, s);
}

std::string make_base_dir() {
  std::string base = "/tmp";
  if (const char* t = std::getenv("TMPDIR"); t && *t) base = t;
  if (access("/dev/shm", W_OK) == 0) base = "/dev/shm";
  std::string tmpl = base + "/birga-fuzz-XXXXXX";
  if (!mkdtemp(tmpl.data())) setup_failed("mkdtemp " + tmpl, Status::internal(strerror(errno)));
  return tmpl;
}

// Creates and enrols a replica; `bundle` receives the encoded enrolment bundle.
std::unique_ptr<Replica> enrol(World& w, const std::string& name, Role role,
                               std::vector<ScopeGrant> grants, std::string* bundle) {
  auto r = take(Replica::create(w.dir + "/" + name, test::test_options()), "create " + name);
  auto b = take(w.authority->enrol(r->device_key(), name, role, grants, 0), "enrol " + name);
  *bundle = b.encode();
  check(r->install_certificate(*bundle), "install " + name);
  return r;
}

engine::Key32 key32_of(const engine::SecretBytes& s, const std::string& what) {
  if (s.size() != 32) setup_failed(what, Status::internal("not 32 bytes"));
  return s.key32();
}

// The data key of `scope` for `device`, as a replica finds it: the control key from the
// device's bundle opens the control changes, whose key envelope for the device opens the key.
void open_envelope(World& w, const EnrolmentBundle& bundle, const engine::SigningKey& device,
                   const std::string& scope) {
  const auto xpk = take(engine::ed25519_pk_to_x25519(device.public_key), "x25519 public key");
  const auto xsk = take(engine::ed25519_sk_to_x25519(device.secret_key), "x25519 secret key");
  std::map<uint32_t, engine::Key32> control;
  for (const auto& [epoch, sealed] : bundle.control_keys) {
    control[epoch] =
        key32_of(take(engine::box_seal_open(xpk, xsk, sealed), "control key"), "control key");
  }
  struct Envelope {
    std::string scope, recipient, sealed;
    int64_t epoch = 0;
  };
  std::map<crdt::RecordId, Envelope> envelopes;
  for (const std::string& c : w.control_changes) {
    const auto v = take(engine::verify_change(c), "control change");
    const auto key = control.find(v.header.key_epoch);
    if (key == control.end()) continue;
    const auto body = take(engine::open_change_body(v, key->second), "control change body");
    for (const crdt::Op& op : take(engine::decode_ops(body, v.header), "control ops")) {
      if (op.collection != engine::kEnvelopeCollection) continue;
      Envelope& e = envelopes[op.record];
      if (const auto* i = std::get_if<int64_t>(&op.value); i && op.field == "epoch") e.epoch = *i;
      const auto* text = std::get_if<std::string>(&op.value);
      if (!text) continue;
      if (op.field == "scope") e.scope = *text;
      if (op.field == "recipient") e.recipient = *text;
      if (op.field == "sealed") e.sealed = *text;
    }
  }
  for (const auto& [id, e] : envelopes) {
    if (e.scope != scope || e.recipient != key_hex(device.public_key)) continue;
    w.mahalla_key =
        key32_of(take(engine::box_seal_open(xpk, xsk, e.sealed), "envelope"), "envelope");
    w.mahalla_epoch = static_cast<uint32_t>(e.epoch);
    return;
  }
  setup_failed("open_envelope", Status::not_found("no envelope for " + scope));
}

// A few transactions covering every field kind, a second change in the chain and a delete.
void write_records(Replica& r) {
  using crdt::integer;
  using crdt::text;
  const std::string scope(kMahalla);
  Transaction t1 = r.begin();
  const crdt::RecordId visit = t1.create("visit", scope);
  t1.set("visit", visit, "household", text("HH-0421-0007"))
      .set("visit", visit, "notes", text("routine visit"))
      .set("visit", visit, "date", integer(20454))
      .append("visit", visit, "timeline", text("arrived 10:05"));
  const crdt::RecordId kase = t1.create("case", scope);
  t1.set("case", kase, "guardian", text("aunt"))
      .set("case", kase, "status", text("open"))
      .add("case", kase, "members", text("P-1:child"))
      .add("case", kase, "members", text("P-2:mother"))
      .increment("case", kase, "visits", 2)
      .append("case", kase, "notes", text("opened after the school's referral"))
      .set("case", kase, "address", text("Yunusobod 4-17"));
  check(t1.commit(), "commit 1");
  Transaction t2 = r.begin();
  t2.remove("case", kase, "members", text("P-1:child"))
      .increment("case", kase, "visits", -1)
      .set("visit", visit, "notes", text("follow-up booked"));
  check(t2.commit(), "commit 2");
  Transaction t3 = r.begin();
  t3.remove_record("visit", visit);
  check(t3.commit(), "commit 3");
}

}  // namespace

World::World() : dir(make_base_dir()) {
  setenv("BIRGA_FAST_KDF", "1", 1);  // Argon2id at its minimum cost: a test fixture
  authority = take(Authority::create(dir + "/authority", "fuzz passphrase"), "authority");
  authority_key = authority->public_key();
  hub = enrol(*this, "hub", Role::kHub, {{std::string(kDistrict), kRead | kRelay}}, &hub_bundle);
  tablet = enrol(*this, "tablet", Role::kField, {{std::string(kMahalla), kRead | kWrite}},
                 &tablet_bundle);
  spare = enrol(*this, "spare", Role::kField, {{std::string(kMahalla), kRead}}, &spare_bundle);
  engine::Key32 rogue_seed;
  rogue_seed.fill(0xB7);
  rogue = engine::SigningKey::from_seed(rogue_seed);
  const EnrolmentBundle rogue_bundle =
      take(authority->enrol(rogue.public_key, "rogue", Role::kField,
                            {{std::string(kMahalla), kRead | kWrite}}, 0),
           "enrol rogue");
  hub_cert = take(Certificate::parse(*hub->certificate(), authority_key), "hub certificate");
  tablet_cert =
      take(Certificate::parse(*tablet->certificate(), authority_key), "tablet certificate");
  write_records(*tablet);
  tablet_changes =
      take(tablet->export_missing(std::string(kMahalla), crdt::VersionVector{}), "export");
  control_changes = take(authority->control_log(), "control log");
  // The hub enrolled first: it learns the later certificates (the tablet's) and scope key
  // envelopes from the authority's log, as a hub does with `birga import`.
  auto imported = take(hub->ingest(control_changes), "hub imports the control log");
  if (!imported.refused.empty()) setup_failed("hub imports the control log", imported.refused[0]);
  open_envelope(*this, rogue_bundle, rogue, std::string(kMahalla));
}

World::~World() {
  hub.reset();
  tablet.reset();
  spare.reset();
  authority.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

World& world() {
  static World w;
  return w;
}

const engine::SigningKey& fuzz_author() {
  static const engine::SigningKey key = [] {
    engine::Key32 seed;
    seed.fill(0xA1);
    return engine::SigningKey::from_seed(seed);
  }();
  return key;
}

const engine::Key32& fuzz_scope_key() {
  static const engine::Key32 key = [] {
    engine::Key32 k;
    k.fill(0x5C);
    return k;
  }();
  return key;
}

engine::ChangeHeader fuzz_header(uint64_t seq) {
  engine::ChangeHeader h;
  h.author = fuzz_author().public_key;
  h.scope = std::string(kMahalla);
  h.seq = seq;
  if (seq > 1) h.prev_hash = engine::blake2b_256("previous");
  h.hlc = crdt::Timestamp::make(1767225600000, 3);
  h.key_epoch = 2;
  h.schema_version = 5;
  return h;
}

std::vector<crdt::Op> every_kind_ops() {
  using crdt::Op;
  using crdt::OpKind;
  crdt::RecordId record;
  record.bytes.fill(7);
  auto make = [&](OpKind kind, std::string field, crdt::Value value = {}) {
    Op op;
    op.collection = "household";
    op.record = record;
    op.kind = kind;
    op.field = std::move(field);
    op.value = std::move(value);
    return op;
  };
  const crdt::Dot seen{crdt::ActorId::named("tablet-9"), (uint64_t{3} << 20) | 2};
  std::vector<Op> ops;
  ops.push_back(make(OpKind::kLwwWrite, "name", crdt::text("Dilnoza Karimova")));
  ops.push_back(make(OpKind::kLwwWrite, "members", crdt::integer(-5)));
  ops.push_back(make(OpKind::kLwwWrite, "disabled", true));
  ops.push_back(make(OpKind::kLwwWrite, "note", crdt::Value{}));
  Op mv = make(OpKind::kMvWrite, "guardian", crdt::text("aunt"));
  mv.observed = {seen, {crdt::ActorId::named("hub"), 1}};
  ops.push_back(mv);
  ops.push_back(make(OpKind::kSetAdd, "needs", crdt::text("school uniform")));
  Op rm = make(OpKind::kSetRemove, "needs", crdt::text("winter coal"));
  rm.observed = {seen};
  ops.push_back(rm);
  Op counter = make(OpKind::kCounterUpdate, "aid_soum");
  counter.inc_total = 1500000;
  counter.dec_total = 250000;
  ops.push_back(counter);
  ops.push_back(make(OpKind::kLogAppend, "visits", crdt::text("visited; all well")));
  Op del = make(OpKind::kRecordDelete, "");
  del.observed = {seen};
  ops.push_back(del);
  Op restore = make(OpKind::kRecordRestore, "");
  restore.observed = {{crdt::ActorId::named("tablet-9"), (uint64_t{4} << 20) | 1}};
  ops.push_back(restore);
  return ops;
}

void report(const char* what, const Status& status) {
  static const bool verbose = [] {
    const char* v = std::getenv("BIRGA_FUZZ_VERBOSE");
    return v && std::string_view(v) == "1";
  }();
  if (verbose) std::fprintf(stderr, "  %s: %s\n", what, status.to_string().c_str());
}

void report_ingest(const Result<IngestReport>& r) {
  if (!r.is_ok()) return report("ingest", r.status());
  const std::string counts = "ingest: applied " + std::to_string(r->applied) + ", duplicates " +
                             std::to_string(r->duplicates) + ", pending " +
                             std::to_string(r->pending) + ", sealed only " +
                             std::to_string(r->sealed_only) + ", quarantined " +
                             std::to_string(r->quarantined) + ", refused";
  report(counts.c_str(), Status::ok());
  for (const Status& s : r->refused) report("ingest refused", s);
}

std::vector<std::string_view> split_messages(std::string_view data, size_t max) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < data.size() && out.size() < max) {
    uint32_t n = 0;
    for (int i = 0; i < 4 && pos < data.size(); ++i, ++pos) {
      n |= uint32_t{static_cast<uint8_t>(data[pos])} << (8 * i);
    }
    const size_t take_n = std::min<size_t>(n, data.size() - pos);
    out.push_back(data.substr(pos, take_n));
    pos += take_n;
  }
  return out;
}

std::string join_messages(const std::vector<std::string>& messages) {
  std::string out;
  for (const std::string& m : messages) {
    const auto n = static_cast<uint32_t>(m.size());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(n >> (8 * i)));
    out += m;
  }
  return out;
}

}  // namespace birga::fuzz
