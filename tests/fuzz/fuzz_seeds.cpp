#include "fuzz_seeds.h"

#include <capnp/message.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "birga/change_list.h"
#include "birga/crdt/codec.h"
#include "birga/crdt/record.h"
#include "birga/transport/discovery.h"
#include "capnp_util.h"
#include "fuzz_world.h"
#include "sync.capnp.h"

namespace birga::fuzz {

namespace {

template <typename T>
T must(Result<T> r, const char* what) {
  if (!r.is_ok()) {
    std::fprintf(stderr, "fuzz seeds: %s: %s\n", what, r.status().to_string().c_str());
    std::abort();
  }
  return std::move(r).value();
}

std::string u8_prefixed(uint8_t b, std::string_view rest) {
  return std::string(1, static_cast<char>(b)) + std::string(rest);
}

std::string body_of(const std::vector<crdt::Op>& ops) {
  return must(engine::encode_ops(ops), "encode_ops");
}

// Log appends compress well: a body sealed with compression = 1.
std::vector<crdt::Op> compressible_ops() {
  std::vector<crdt::Op> ops;
  for (int i = 0; i < 64; ++i) {
    crdt::Op op = every_kind_ops()[8];  // kLogAppend
    op.value = crdt::text("visited; all well; next visit in two weeks");
    ops.push_back(op);
  }
  return ops;
}

// Several records, collections and fields with every value type, so that mutations reach
// every table and index column of a body (every_kind_ops() is one record of one collection).
std::vector<crdt::Op> multi_record_ops() {
  std::vector<crdt::Op> ops;
  for (int r = 0; r < 3; ++r) {
    for (int f = 0; f < 4; ++f) {
      crdt::Op op = every_kind_ops()[0];  // an lww write
      op.collection = r == 2 ? "case" : "household";
      op.record.bytes.fill(static_cast<uint8_t>(0x10 + r));
      op.field = std::string("field-") + static_cast<char>('a' + f);
      if (f == 0) op.value = crdt::text("value " + std::to_string(r));
      if (f == 1) op.value = int64_t{r * 100 - 7};
      if (f == 2) op.value = r % 2 == 0;
      if (f == 3) op.value = crdt::Value{};
      ops.push_back(op);
    }
  }
  ops.push_back(every_kind_ops()[4]);  // an mv write with two observed dots
  return ops;
}

std::string seal(const engine::ChangeHeader& h, const std::string& body) {
  return must(engine::seal_change(h, body, fuzz_scope_key(), fuzz_author()), "seal_change");
}

std::vector<std::string> sealed_change_seeds() {
  std::vector<std::string> out = {
      seal(fuzz_header(3), body_of(every_kind_ops())),
      seal(fuzz_header(1), body_of(compressible_ops())),
      seal(fuzz_header(2), ""),
  };
  for (const std::string& c : world().tablet_changes) out.push_back(c);
  out.push_back(world().control_changes.front());
  return out;
}

std::vector<std::string> change_header_seeds() {
  engine::ChangeHeader zstd = fuzz_header(7);
  zstd.compression = engine::kCompressionZstd;
  zstd.body_length = 4000;
  engine::ChangeHeader long_scope = fuzz_header(1);
  long_scope.scope = std::string(engine::kMaxScopeBytes, 's');
  std::vector<std::string> out = {engine::encode_header(fuzz_header(1)),
                                  engine::encode_header(zstd), engine::encode_header(long_scope)};
  out.push_back(
      must(engine::read_header(world().tablet_changes.back()), "read_header").header_bytes);
  return out;
}

// u8 compression || u32 LE body_length || payload (see fuzz_change_body.cpp).
std::string change_body_input(uint8_t compression, uint32_t length, std::string_view payload) {
  std::string out(1, static_cast<char>(compression));
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(length >> (8 * i)));
  out += payload;
  return out;
}

std::vector<std::string> change_body_seeds() {
  const std::string plain = body_of(every_kind_ops());
  // The real zstd frame: seal a compressible body, then open its ciphertext without
  // decompressing (the fuzz key is known).
  const auto v = must(engine::verify_change(seal(fuzz_header(1), body_of(compressible_ops()))),
                      "verify_change");
  const std::string frame =
      must(engine::aead_open(fuzz_scope_key(), v.ciphertext, v.header_bytes), "aead_open");
  return {change_body_input(engine::kCompressionNone, static_cast<uint32_t>(plain.size()), plain),
          change_body_input(engine::kCompressionZstd, v.header.body_length, frame)};
}

std::vector<std::string> op_body_seeds() {
  return {body_of(every_kind_ops()), body_of(compressible_ops()), body_of({every_kind_ops()[4]}),
          body_of(multi_record_ops()), body_of({})};
}

std::vector<std::string> certificate_seeds() {
  World& w = world();
  return {*w.hub->certificate(), *w.tablet->certificate(), *w.spare->certificate()};
}

std::vector<std::string> enrolment_bundle_seeds() {
  World& w = world();
  return {w.spare_bundle, w.hub_bundle};
}

std::string proof_plaintext(const std::string& certificate) {
  capnp::MallocMessageBuilder mb;
  auto p = mb.initRoot<engine::wire::Proof>();
  p.setCertificate(
      kj::arrayPtr(reinterpret_cast<const kj::byte*>(certificate.data()), certificate.size()));
  const std::string signature(64, '\x5a');
  p.setSignature(
      kj::arrayPtr(reinterpret_cast<const kj::byte*>(signature.data()), signature.size()));
  return engine::canonical_message(p.asReader());
}

// Flag byte: bit 0 proof mode, bit 1 hub is the initiator (see fuzz_handshake.cpp).
std::vector<std::string> handshake_seeds() {
  World& w = world();
  auto hs = must(Handshake::begin(*w.tablet, false), "Handshake::begin");
  const std::string proof = proof_plaintext(*w.tablet->certificate());
  return {u8_prefixed(0, hs->hello()), u8_prefixed(2, hs->hello()), u8_prefixed(1, proof),
          u8_prefixed(3, proof)};
}

std::string ack_message(uint32_t hop, uint64_t id) {
  capnp::MallocMessageBuilder mb;
  auto m = mb.initRoot<engine::wire::SyncMessage>();
  m.setHop(hop);
  m.initAck().initAcks(1).set(0, id);
  return engine::canonical_message(m.asReader());
}

// What the tablet sends the hub: its summary, then its batches in answer to the hub's summary.
std::vector<std::string> sync_session_seeds() {
  World& w = world();
  SyncSession tablet(*w.tablet, w.hub_cert);
  SyncSession hub(*w.hub, w.tablet_cert);
  const std::vector<std::string> summary = tablet.start();
  const std::vector<std::string> hub_summary = hub.start();
  std::vector<std::string> batches;
  for (const std::string& m : hub_summary) {
    for (std::string& b : must(tablet.receive(m), "tablet receive")) batches.push_back(b);
  }
  std::vector<std::string> all = summary;
  all.insert(all.end(), batches.begin(), batches.end());
  std::vector<std::string> with_ack = summary;
  with_ack.push_back(ack_message(2, 1));
  std::vector<std::string> out = {join_messages(summary), join_messages(all),
                                  join_messages(with_ack), join_messages({ack_message(1, 1)})};
  if (!batches.empty()) out.push_back(join_messages({batches.front()}));  // before the summary
  return out;
}

// Op bodies for the rogue author: every op kind, and the tablet's own bodies (real record ids
// and dots: the rogue then writes to, deletes and restores the tablet's records).
std::vector<std::string> authored_change_seeds() {
  World& w = world();
  std::vector<std::string> out = {body_of(every_kind_ops())};
  for (const std::string& c : w.tablet_changes) {
    const auto v = must(engine::verify_change(c), "verify tablet change");
    out.push_back(must(engine::open_change_body(v, w.mahalla_key), "open tablet change"));
  }
  return out;
}

// Count byte (byte % 3 + 1) then the changes (see fuzz_ingest.cpp).
std::vector<std::string> ingest_seeds() {
  World& w = world();
  const std::vector<std::string>& c = w.tablet_changes;
  std::vector<std::string> out;
  for (size_t n = 1; n <= 3 && n <= c.size(); ++n) {
    out.push_back(u8_prefixed(static_cast<uint8_t>(n - 1),
                              join_messages(std::vector<std::string>(c.begin(), c.begin() + n))));
  }
  out.push_back(u8_prefixed(0, join_messages({w.control_changes.back()})));
  // Out of chain order: the last change alone (pending).
  out.push_back(u8_prefixed(0, join_messages({c.back()})));
  return out;
}

std::vector<std::string> record_seeds() {
  const crdt::ActorId a = crdt::ActorId::named("tablet-a");
  const crdt::ActorId b = crdt::ActorId::named("tablet-b");
  crdt::Record rec;
  uint64_t counter = 0;
  for (crdt::Op op : every_kind_ops()) {
    op.dot = crdt::Dot{a, ++counter};
    op.time = crdt::Timestamp::make(1767225600000 + counter, 0);
    (void)rec.apply(op);
  }
  crdt::Op concurrent = every_kind_ops()[4];  // an mv write that did not see the first
  concurrent.observed = {};
  concurrent.dot = crdt::Dot{b, 1};
  concurrent.time = crdt::Timestamp::make(1767225600500, 2);
  (void)rec.apply(concurrent);
  std::vector<std::string> out;
  crdt::ByteWriter full;
  rec.encode(full);
  out.push_back(full.take());
  crdt::ByteWriter empty;
  crdt::Record().encode(empty);
  out.push_back(empty.take());
  return out;
}

std::vector<std::string> schema_seeds() {
  std::ifstream f(BIRGA_SOURCE_DIR "/cli/schema/mahalla.schema", std::ios::binary);
  std::stringstream text;
  text << f.rdbuf();
  return {text.str(),
          "schema 3\n"
          "collection visit\n"
          "  field household lww text indexed required alert-duplicates\n"
          "  field guardian lww text flagged  # comment\n"
          "  field members set text flag-removals\n"
          "  field visits counter any\n"
          "  field notes log text\n"
          "  field status mv bool\n"
          "collection delivery immutable\n"
          "  field amount lww int\n"};
}

std::vector<std::string> change_list_seeds() {
  World& w = world();
  return {encode_change_list(w.tablet_changes), encode_change_list(w.control_changes),
          encode_change_list({})};
}

std::vector<std::string> beacon_seeds() {
  World& w = world();
  transport::Beacon b;
  b.authority = w.authority_key;
  b.device = w.hub->device_key();
  b.tcp_port = 47101;
  return {transport::encode_beacon(b)};
}

}  // namespace

std::vector<std::string> fuzz_seeds(std::string_view target) {
  static const std::map<std::string_view, std::function<std::vector<std::string>()>> kSeeds = {
      {"sealed_change", sealed_change_seeds},
      {"change_header", change_header_seeds},
      {"change_body", change_body_seeds},
      {"op_body", op_body_seeds},
      {"certificate", certificate_seeds},
      {"enrolment_bundle", enrolment_bundle_seeds},
      {"handshake", handshake_seeds},
      {"sync_session", sync_session_seeds},
      {"ingest", ingest_seeds},
      {"authored_change", authored_change_seeds},
      {"record", record_seeds},
      {"schema", schema_seeds},
      {"change_list", change_list_seeds},
      {"beacon", beacon_seeds},
  };
  auto it = kSeeds.find(target);
  return it == kSeeds.end() ? std::vector<std::string>{} : it->second();
}

}  // namespace birga::fuzz
