// The worked example of docs/protocol.md section 11 (and the corruption table of section 10):
// one lww write sealed as change 1 of scope "demo".
//
//   "Protocol example: the op body of section 11" pins the plaintext body, byte for byte, so
//   the document cannot drift from the code.
//   "[.protocol_example]" (hidden: run `engine_tests "[.protocol_example]"`) prints everything
//   the document shows for one run: the body, the sealed change (its nonce, ciphertext,
//   signature and id are random per run), the zstd frame size and the corruption messages.
//
// And the sizes of section 21 (two tablets, two new changes each): "[.protocol_sync_example]".
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sealed_change.h"
#include "sync_fixture.h"

namespace birga::engine {
namespace {

struct Example {
  SigningKey author;
  Key32 scope_key;
  ChangeHeader header;
  std::vector<crdt::Op> ops;
};

Example example() {
  Example e;
  Key32 seed;
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(i + 1);
  e.author = SigningKey::from_seed(seed);
  e.scope_key.fill(0x07);
  e.header.author = e.author.public_key;
  e.header.scope = "demo";
  e.header.seq = 1;
  e.header.hlc = crdt::Timestamp::make(1795338000000, 0);
  e.header.key_epoch = 1;
  e.header.schema_version = 1;
  crdt::Op op;
  op.collection = "visits";
  for (size_t i = 0; i < op.record.bytes.size(); ++i) {
    op.record.bytes[i] = static_cast<uint8_t>(0xA0 + i);
  }
  op.kind = crdt::OpKind::kLwwWrite;
  op.field = "status";
  op.value = crdt::text("visited");
  e.ops.push_back(op);
  return e;
}

std::string hex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (!out.empty()) out.push_back(' ');
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string hex_id(const std::array<uint8_t, 32>& id) {
  std::string h = hex(std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
  std::erase(h, ' ');
  return h;
}

// One line per 8 bytes: "<offset>  <bytes>", the offset in `digits` hex digits.
void dump(std::string_view bytes, int digits) {
  for (size_t at = 0; at < bytes.size(); at += 8) {
    std::printf("%0*zx  %s\n", digits, at, hex(bytes.substr(at, 8)).c_str());
  }
}

// The example body, 8 bytes per entry (docs/protocol.md section 11).
const char* const kExampleBody[] = {
    "00 00 00 00 19 00 00 00", "00 00 00 00 00 00 0b 00", "29 00 00 00 0e 00 00 00",
    "2d 00 00 00 0e 00 00 00", "31 00 00 00 82 00 00 00", "35 00 00 00 0a 00 00 00",
    "35 00 00 00 0c 00 00 00", "35 00 00 00 0c 00 00 00", "35 00 00 00 0c 00 00 00",
    "35 00 00 00 0a 00 00 00", "00 00 00 00 00 00 00 00", "31 00 00 00 0c 00 00 00",
    "31 00 00 00 3a 00 00 00", "01 00 00 00 3a 00 00 00", "76 69 73 69 74 73 00 00",
    "01 00 00 00 3a 00 00 00", "73 74 61 74 75 73 00 00", "a0 a1 a2 a3 a4 a5 a6 a7",
    "a8 a9 aa ab ac ad ae af", "01 00 00 00 00 00 00 00", "00 00 00 00 00 00 00 00",
    "00 00 00 00 00 00 00 00", "00 00 00 00 00 00 00 00", "04 00 00 00 00 00 00 00",
    "07 00 00 00 00 00 00 00", "76 69 73 69 74 65 64 00",
};
}  // namespace

TEST_CASE("Protocol example: the op body of section 11", "[op_body][format]") {
  const Example e = example();
  const std::string body = *encode_ops(e.ops);
  std::vector<std::string> rows;
  for (size_t at = 0; at < body.size(); at += 8) rows.push_back(hex(body.substr(at, 8)));
  CHECK(rows == std::vector<std::string>(std::begin(kExampleBody), std::end(kExampleBody)));
  Result<std::vector<crdt::Op>> decoded = decode_ops(body, e.header);
  REQUIRE(decoded.is_ok());
  REQUIRE(decoded->size() == 1);
  CHECK((*decoded)[0].dot.counter == 1048577);
  CHECK((*decoded)[0].dot.actor.to_hex() == "79b5562e8fe654f94078b112e8a98ba7");
  CHECK((*decoded)[0].time == e.header.hlc);
}

TEST_CASE("Protocol example: print section 11", "[.protocol_example]") {
  const Example e = example();
  const std::string body = *encode_ops(e.ops);
  std::printf("op body, %zu bytes:\n", body.size());
  dump(body, 2);
  const std::string sealed = *seal_change(e.header, body, e.scope_key, e.author);
  const VerifiedChange v = *verify_change(sealed);
  const std::string payload = *aead_open(e.scope_key, v.ciphertext, v.header_bytes);
  std::printf(
      "\nheader: %zu bytes, compression %d, bodyLength %u; ciphertext %zu bytes "
      "(payload %zu bytes, starts %s)\n",
      v.header_bytes.size(), v.header.compression, v.header.body_length, v.ciphertext.size(),
      payload.size(), hex(payload.substr(0, 6)).c_str());
  std::printf("public key %s\n", hex_id(e.author.public_key).c_str());
  std::printf("\nsealed change, %zu bytes:\n", sealed.size());
  dump(sealed, 4);
  std::printf("\nchange id %s\n", hex_id(change_id(sealed)).c_str());
  const crdt::Op op = (*decode_ops(*open_change_body(v, e.scope_key), v.header))[0];
  std::printf("decoded dot %s %llu, time %s\n", op.dot.actor.to_hex().c_str(),
              static_cast<unsigned long long>(op.dot.counter), op.time.to_string().c_str());

  // Section 10: what a verifier says of corrupted copies.
  auto report = [](const char* what, const std::string& bytes) {
    std::printf("%s: %s\n", what, verify_change(bytes).status().to_string().c_str());
  };
  std::printf("\n");
  std::string bad = sealed;
  bad[16] ^= 1;
  report("one bit of the magic", bad);
  bad = sealed;
  bad[20] = 2;
  report("version 2", bad);
  bad = sealed;
  bad[22] = 1;
  report("padding after version", bad);
  bad = sealed + std::string(8, '\0');
  bad[4] = static_cast<char>(bad[4] + 1);
  report("segment size + 1 and a zero word", bad);
  report("one more zero word", sealed + std::string(8, '\0'));
  report("last word cut", sealed.substr(0, sealed.size() - 8));
  report("last 3 bytes cut", sealed.substr(0, sealed.size() - 3));
  bad = sealed;
  bad[48 + 0x28] ^= 1;
  report("bodyLength bit", bad);
  Key32 other;
  other.fill(0x08);
  std::printf("another key: %s\n", open_change_body(v, other).status().to_string().c_str());
}

TEST_CASE("Protocol example: print the sizes of section 21", "[.protocol_sync_example]") {
  const std::string scope = "tashkent/yunusobod/m0421";
  std::ifstream file(BIRGA_SOURCE_DIR "/cli/schema/mahalla.schema");
  std::stringstream text;
  text << file.rdbuf();
  Result<crdt::Schema> schema = crdt::Schema::parse(text.str());
  REQUIRE(schema.is_ok());
  test::Deployment d;
  auto tablet = [&](const std::string& name) {
    ReplicaOptions o = test::test_options();
    o.schema = *schema;
    auto r = Replica::create(d.dir(name), std::move(o));
    REQUIRE(r.is_ok());
    auto bundle =
        d.authority->enrol((*r)->device_key(), name, Role::kField, {{scope, kRead | kWrite}}, 0);
    REQUIRE(bundle.is_ok());
    REQUIRE((*r)->install_certificate(bundle->encode()).is_ok());
    return std::move(*r);
  };
  std::unique_ptr<Replica> a1 = tablet("tablet-a1"), a2 = tablet("tablet-a2");
  REQUIRE(test::memory_sync(*a1, *a2).completed);
  const std::vector<std::vector<std::string>> visits = {
      {"HH-0421-0007", "home", "2026-11-22"}, {"HH-0421-0012", "follow-up", "2026-11-23"}};
  for (Replica* r : {a1.get(), a2.get()}) {
    for (const std::vector<std::string>& v : visits) {
      Transaction t = r->begin();
      const crdt::RecordId id = t.create("visit", scope);
      t.set("visit", id, "household", crdt::text(v[0]))
          .set("visit", id, "visit_type", crdt::text(v[1]))
          .set("visit", id, "date", crdt::text(v[2]));
      REQUIRE(t.commit().is_ok());
    }
    std::printf("%s's changes:", r == a1.get() ? "tablet-a1" : "tablet-a2");
    auto changes = r->export_missing(scope, crdt::VersionVector());
    REQUIRE(changes.is_ok());
    for (const std::string& c : *changes) {
      Result<VerifiedChange> checked = verify_change(c);
      INFO(checked.status().to_string());
      REQUIRE(checked.is_ok());
      const VerifiedChange& v = *checked;
      std::printf(" %zu bytes (header %zu, ciphertext %zu, body %u);", c.size(),
                  v.header_bytes.size(), v.ciphertext.size(), v.header.body_length);
    }
    std::printf("\n");
  }
  const test::SyncOutcome out = test::memory_sync(*a1, *a2);
  REQUIRE(out.completed);
  std::printf("frames (hellos in clear, then sealed):");
  for (const std::string& f : out.frames) std::printf(" %zu", f.size());
  std::printf("\nround trips %llu / %llu, changes sent %llu / %llu\n",
              (unsigned long long)out.a.round_trips, (unsigned long long)out.b.round_trips,
              (unsigned long long)out.a.changes_sent, (unsigned long long)out.b.changes_sent);
}

}  // namespace birga::engine
