#include "sealed_change.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "change.capnp.h"

namespace birga::engine {
namespace {

using crdt::Op;
using crdt::OpKind;

Key32 seed(uint8_t b) {
  Key32 k{};
  k.fill(b);
  return k;
}

crdt::RecordId record(uint8_t b) {
  crdt::RecordId r;
  r.bytes.fill(b);
  return r;
}

Op make_op(OpKind kind, std::string field, crdt::Value value = {}) {
  Op op;
  op.collection = "household";
  op.record = record(7);
  op.kind = kind;
  op.field = std::move(field);
  op.value = std::move(value);
  return op;
}

// One op of every kind, with every value type.
std::vector<Op> every_kind() {
  const crdt::Dot seen{crdt::ActorId::named("tablet-9"), (uint64_t{3} << 20) | 2};
  std::vector<Op> ops;
  ops.push_back(make_op(OpKind::kLwwWrite, "name", crdt::text("Dilnoza Karimova")));
  ops.push_back(make_op(OpKind::kLwwWrite, "members", crdt::integer(-5)));
  Op mv = make_op(OpKind::kMvWrite, "guardian", crdt::text("aunt"));
  mv.observed = {seen, {crdt::ActorId::named("hub"), 1}};
  ops.push_back(mv);
  ops.push_back(make_op(OpKind::kSetAdd, "needs", crdt::text("school uniform")));
  Op rm = make_op(OpKind::kSetRemove, "needs", crdt::text("winter coal"));
  rm.observed = {seen};
  ops.push_back(rm);
  Op counter = make_op(OpKind::kCounterUpdate, "aid_soum");
  counter.inc_total = 1500000;
  counter.dec_total = 250000;
  ops.push_back(counter);
  ops.push_back(make_op(OpKind::kLogAppend, "visits", crdt::text("visited; all well")));
  ops.push_back(make_op(OpKind::kLwwWrite, "disabled", true));
  ops.push_back(make_op(OpKind::kLwwWrite, "note", crdt::Value{}));
  Op del = make_op(OpKind::kRecordDelete, "");
  del.observed = {seen};
  ops.push_back(del);
  Op restore = make_op(OpKind::kRecordRestore, "");
  restore.observed = {{crdt::ActorId::named("tablet-9"), (uint64_t{4} << 20) | 1}};
  ops.push_back(restore);
  return ops;
}

struct Fixture {
  SigningKey author = SigningKey::from_seed(seed(0xA1));
  Key32 scope_key = seed(0x5C);

  ChangeHeader header(uint64_t seq = 1, std::string scope = "district-17/mahalla-042") {
    ChangeHeader h;
    h.author = author.public_key;
    h.scope = std::move(scope);
    h.seq = seq;
    if (seq > 1) h.prev_hash = blake2b_256("previous");
    h.hlc = crdt::Timestamp::make(1767225600000, 3);
    h.key_epoch = 2;
    h.schema_version = 5;
    return h;
  }

  std::string seal(const std::string& body, ChangeHeader h) {
    Result<std::string> sealed = seal_change(std::move(h), body, scope_key, author);
    REQUIRE(sealed.is_ok());
    return std::move(sealed).value();
  }
};

// Verifies and opens; the first failure's status, or ok.
Status verify_and_open(std::string_view sealed, const Key32& key) {
  Result<VerifiedChange> v = verify_change(sealed);
  if (!v.is_ok()) return v.status();
  Result<std::string> body = open_change_body(*v, key);
  return body.status();
}

std::string bytes_of(kj::ArrayPtr<const capnp::word> words) {
  return std::string(reinterpret_cast<const char*>(words.begin()), words.size() * 8);
}

uint32_t u32_at(const std::string& s, size_t at) {
  uint32_t v = 0;
  std::memcpy(&v, s.data() + at, 4);
  return v;
}

}  // namespace

TEST_CASE("SealedChange: seal, verify, open and decode every op kind", "[sealed_change]") {
  Fixture f;
  const std::vector<Op> ops = every_kind();
  Result<std::string> body = encode_ops(ops);
  REQUIRE(body.is_ok());
  const ChangeHeader h = f.header(3);
  const std::string sealed = f.seal(*body, h);

  Result<VerifiedChange> v = verify_change(sealed);
  REQUIRE(v.is_ok());
  CHECK(v->id == change_id(sealed));
  CHECK(v->id == blake2b_256(sealed));
  CHECK(v->header.author == h.author);
  CHECK(v->header.scope == h.scope);
  CHECK(v->header.seq == 3);
  CHECK(v->header.prev_hash == h.prev_hash);
  CHECK(v->header.hlc == h.hlc);
  CHECK(v->header.key_epoch == 2);
  CHECK(v->header.schema_version == 5);
  CHECK(v->header.body_length == body->size());
  CHECK(v->header_bytes == encode_header(v->header));

  Result<std::string> opened = open_change_body(*v, f.scope_key);
  REQUIRE(opened.is_ok());
  CHECK(*opened == *body);

  Result<std::vector<Op>> decoded = decode_ops(*opened, v->header);
  REQUIRE(decoded.is_ok());
  REQUIRE(decoded->size() == ops.size());
  const crdt::ActorId actor = actor_of(f.author.public_key);
  for (size_t i = 0; i < ops.size(); ++i) {
    Op expected = ops[i];
    expected.dot = crdt::Dot{actor, (uint64_t{3} << 20) | (i + 1)};
    expected.time = h.hlc;
    CHECK((*decoded)[i] == expected);
    CHECK((*decoded)[i].check_shape().is_ok());
  }
}

TEST_CASE("SealedChange: the actor is the first 16 bytes of the public key", "[sealed_change]") {
  Fixture f;
  const crdt::ActorId a = actor_of(f.author.public_key);
  CHECK(std::equal(a.bytes.begin(), a.bytes.end(), f.author.public_key.begin()));
  CHECK(op_dot(a, 1, 0).counter == (uint64_t{1} << 20) + 1);
  CHECK(op_dot(a, 2, kMaxOpsPerChange - 1).counter == (uint64_t{3} << 20) - 1);
}

TEST_CASE("SealedChange: read_header parses without checking the signature", "[sealed_change]") {
  Fixture f;
  const std::string sealed = f.seal("body", f.header(1));
  Result<OpenedHeader> h = read_header(sealed);
  REQUIRE(h.is_ok());
  CHECK(h->header.seq == 1);
  CHECK(h->header_bytes == encode_header(h->header));
}

TEST_CASE("SealedChange: compression is kept only when it makes the body smaller",
          "[sealed_change][zstd]") {
  Fixture f;
  std::vector<Op> many;
  for (int i = 0; i < 200; ++i)
    many.push_back(make_op(OpKind::kLogAppend, "visits", crdt::text("visited")));
  const std::string big = *encode_ops(many);
  Result<VerifiedChange> v = verify_change(f.seal(big, f.header()));
  REQUIRE(v.is_ok());
  CHECK(v->header.compression == kCompressionZstd);
  CHECK(v->ciphertext.size() < big.size());
  CHECK(*open_change_body(*v, f.scope_key) == big);

  const std::string tiny = random_bytes(24);
  Result<VerifiedChange> t = verify_change(f.seal(tiny, f.header()));
  REQUIRE(t.is_ok());
  CHECK(t->header.compression == kCompressionNone);
  CHECK(t->header.body_length == 24);
  CHECK(t->ciphertext.size() == 24 + kAeadOverhead);
  CHECK(*open_change_body(*t, f.scope_key) == tiny);

  Result<VerifiedChange> empty = verify_change(f.seal("", f.header()));
  REQUIRE(empty.is_ok());
  CHECK(empty->header.compression == kCompressionNone);
  CHECK(open_change_body(*empty, f.scope_key)->empty());
}

TEST_CASE("SealedChange: the bytes follow the documented layout", "[sealed_change][format]") {
  Fixture f;
  const std::string sealed = f.seal("abc", f.header(1, "s"));
  Result<VerifiedChange> v = verify_change(sealed);
  REQUIRE(v.is_ok());
  const size_t h = v->header_bytes.size(), c = v->ciphertext.size();
  const size_t wh = (h + 7) / 8, wc = (c + 7) / 8;
  CHECK(u32_at(sealed, 0) == 0);
  CHECK(u32_at(sealed, 4) == 5 + wh + wc + 8);
  CHECK(sealed.size() == 8 + 8 * (5 + wh + wc + 8));
  CHECK(sealed.substr(8, 8) == std::string("\0\0\0\0\x01\0\x03\0", 8));
  CHECK(sealed.substr(16, 8) == std::string("CGRB\x01\0\0\0", 8));
  CHECK(u32_at(sealed, 24) == (2u << 2 | 1));
  CHECK(u32_at(sealed, 28) == (uint32_t(h) << 3 | 2));
  CHECK(u32_at(sealed, 32) == (uint32_t(1 + wh) << 2 | 1));
  CHECK(u32_at(sealed, 36) == (uint32_t(c) << 3 | 2));
  CHECK(u32_at(sealed, 40) == (uint32_t(wh + wc) << 2 | 1));
  CHECK(u32_at(sealed, 44) == (64u << 3 | 2));
  CHECK(sealed.substr(48, h) == v->header_bytes);
  CHECK(sealed.substr(48 + 8 * wh, c) == v->ciphertext);
  const std::string sig = sealed.substr(48 + 8 * (wh + wc), 64);
  std::string msg = "birga-change-v1";
  msg += std::string(reinterpret_cast<const char*>(&h), 4);  // little-endian host
  msg += v->header_bytes;
  msg += v->ciphertext;
  CHECK(verify_signature(f.author.public_key, msg, sig));
  // Header: one segment, root pointer with 4 data words and 3 pointers here.
  CHECK(u32_at(v->header_bytes, 0) == 0);
  CHECK(v->header_bytes.substr(8, 8) == std::string("\0\0\0\0\x04\0\x03\0", 8));
}

TEST_CASE("SealedChange: flipping any single byte is refused", "[sealed_change][tamper]") {
  Fixture f;
  // Two samples: header and ciphertext lengths that leave padding, compressed and not.
  std::vector<Op> many;
  for (int i = 0; i < 50; ++i)
    many.push_back(make_op(OpKind::kSetAdd, "needs", crdt::text("flour")));
  const std::vector<std::string> samples = {
      f.seal(*encode_ops(every_kind()), f.header(9, "district-17/mahalla-042")),
      f.seal(std::string("tiny!"), f.header(1, "abcde")),
      f.seal(*encode_ops(many), f.header(2, "s")),
  };
  for (const std::string& sealed : samples) {
    REQUIRE(verify_and_open(sealed, f.scope_key).is_ok());
    Result<VerifiedChange> v = verify_change(sealed);
    INFO("header " << v->header_bytes.size() << " bytes, ciphertext " << v->ciphertext.size());
    for (size_t i = 0; i < sealed.size(); ++i) {
      for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xFF}}) {
        std::string bad = sealed;
        bad[i] = static_cast<char>(bad[i] ^ mask);
        const Status st = verify_and_open(bad, f.scope_key);
        INFO("byte " << i << " ^ " << int(mask));
        CHECK(st.code() == Code::kCorruptInput);
      }
    }
  }
}

TEST_CASE("SealedChange: a re-laid-out message with valid values is refused",
          "[sealed_change][tamper]") {
  Fixture f;
  const std::string sealed = f.seal("some body bytes", f.header());
  Result<VerifiedChange> v = verify_change(sealed);
  REQUIRE(v.is_ok());
  // Same values, but the ciphertext is allocated before the header (not pre-order) and the
  // message may span several segments: every field still verifies, the layout does not.
  capnp::MallocMessageBuilder message(1);
  auto root = message.initRoot<wire::SealedChange>();
  root.setMagic(kSealedChangeMagic);
  root.setVersion(kSealedChangeVersion);
  auto bytes = [](const std::string& s) {
    return capnp::Data::Reader(reinterpret_cast<const kj::byte*>(s.data()), s.size());
  };
  std::string sig = sealed.substr(sealed.size() - 64);
  root.setCiphertext(bytes(v->ciphertext));
  root.setHeader(bytes(v->header_bytes));
  root.setSignature(bytes(sig));
  const std::string relaid = bytes_of(capnp::messageToFlatArray(message));
  REQUIRE(relaid != sealed);
  Result<VerifiedChange> r = verify_change(relaid);
  CHECK(r.status().code() == Code::kCorruptInput);

  // Trailing bytes after a valid message.
  CHECK(verify_change(sealed + std::string(8, '\0')).status().code() == Code::kCorruptInput);
}

TEST_CASE("SealedChange: a non-canonical header signed by its author is refused",
          "[sealed_change][tamper]") {
  Fixture f;
  ChangeHeader h = f.header(1, "abc");
  std::string header = encode_header(h);
  // The scope text "abc\0" is padded to 8 bytes; put garbage in its padding.
  const size_t pos = header.find(std::string("abc\0", 4));
  REQUIRE(pos != std::string::npos);
  header[pos + 5] = 'X';
  REQUIRE(decode_header(header).status().code() == Code::kCorruptInput);
  CHECK(decode_header(header).status().message().find("canonical") != std::string::npos);
}

TEST_CASE("SealedChange: forged signatures and wrong keys are refused", "[sealed_change]") {
  Fixture f;
  const SigningKey mallory = SigningKey::from_seed(seed(0x66));
  ChangeHeader h = f.header();
  // seal_change refuses a key that is not the header's author.
  CHECK(seal_change(h, "x", f.scope_key, mallory).status().code() == Code::kInvalidArgument);

  // A change sealed by mallory, then relabelled with the victim's key and re-serialized.
  ChangeHeader forged = h;
  forged.author = mallory.public_key;
  Result<VerifiedChange> m = verify_change(*seal_change(forged, "x", f.scope_key, mallory));
  REQUIRE(m.is_ok());
  ChangeHeader relabelled = m->header;
  relabelled.author = f.author.public_key;
  const std::string header = encode_header(relabelled);
  std::string msg = "birga-change-v1";
  const uint32_t n = static_cast<uint32_t>(header.size());
  msg += std::string(reinterpret_cast<const char*>(&n), 4);
  msg += header + m->ciphertext;
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<wire::SealedChange>();
  root.setMagic(kSealedChangeMagic);
  root.setVersion(kSealedChangeVersion);
  auto bytes = [](const std::string& s) {
    return capnp::Data::Reader(reinterpret_cast<const kj::byte*>(s.data()), s.size());
  };
  const std::string sig = mallory.sign(msg);
  root.setHeader(bytes(header));
  root.setCiphertext(bytes(m->ciphertext));
  root.setSignature(bytes(sig));
  Result<VerifiedChange> r = verify_change(bytes_of(capnp::messageToFlatArray(message)));
  CHECK(r.status().code() == Code::kCorruptInput);
  CHECK(r.status().message() == "change signature invalid");

  // A valid change opened with another scope key.
  Result<VerifiedChange> ok = verify_change(f.seal("body", h));
  REQUIRE(ok.is_ok());
  Result<std::string> wrong = open_change_body(*ok, seed(0x01));
  CHECK(wrong.status().code() == Code::kCorruptInput);
  CHECK(wrong.status().message().find("authentication failed") != std::string::npos);
}

TEST_CASE("SealedChange: header rules are enforced when sealing", "[sealed_change]") {
  Fixture f;
  auto refused = [&](ChangeHeader h) {
    return seal_change(std::move(h), "b", f.scope_key, f.author).status().code() ==
           Code::kInvalidArgument;
  };
  ChangeHeader h = f.header();
  h.seq = 0;
  CHECK(refused(h));
  h = f.header(1);
  h.prev_hash[0] = 1;
  CHECK(refused(h));
  h = f.header(2);
  h.prev_hash = {};
  CHECK(refused(h));
  CHECK(refused(f.header(1, "")));
  CHECK(refused(f.header(1, std::string(kMaxScopeBytes + 1, 's'))));
  CHECK_FALSE(refused(f.header(1, std::string(kMaxScopeBytes, 's'))));
  h = f.header(kMaxChangeSeq + 1);
  CHECK(refused(h));
  h = f.header();
  h.format_version = 2;
  CHECK(refused(h));
}

TEST_CASE("SealedChange: size limits are enforced on both sides", "[sealed_change][limits]") {
  Fixture f;
  const std::string body = random_bytes(4000);  // incompressible
  ChangeLimits small;
  small.max_sealed_bytes = 2048;
  CHECK(seal_change(f.header(), body, f.scope_key, f.author, small).status().code() ==
        Code::kInvalidArgument);
  const std::string sealed = f.seal(body, f.header());
  Result<VerifiedChange> r = verify_change(sealed, small);
  CHECK(r.status().code() == Code::kCorruptInput);
  CHECK(r.status().message().find("over the limit") != std::string::npos);

  ChangeLimits small_body;
  small_body.max_body_bytes = 1000;
  CHECK(seal_change(f.header(), body, f.scope_key, f.author, small_body).status().code() ==
        Code::kInvalidArgument);
  CHECK(verify_change(sealed, small_body).status().code() == Code::kCorruptInput);
  Result<VerifiedChange> v = verify_change(sealed);
  REQUIRE(v.is_ok());
  CHECK(open_change_body(*v, f.scope_key, small_body).status().code() == Code::kCorruptInput);
}

TEST_CASE("SealedChange: a hand-built VerifiedChange with a lying body length is refused",
          "[sealed_change][zstd]") {
  Fixture f;
  std::vector<Op> many(100, make_op(OpKind::kSetAdd, "needs", crdt::text("flour")));
  Result<VerifiedChange> v = verify_change(f.seal(*encode_ops(many), f.header()));
  REQUIRE(v.is_ok());
  REQUIRE(v->header.compression == kCompressionZstd);
  VerifiedChange lying = *v;
  lying.header.body_length += 1;  // AD still matches the real header bytes
  CHECK(open_change_body(lying, f.scope_key).status().code() == Code::kCorruptInput);
  lying = *v;
  lying.header.compression = kCompressionNone;
  CHECK(open_change_body(lying, f.scope_key).status().code() == Code::kCorruptInput);
}

TEST_CASE("SealedChange: an unaligned input verifies", "[sealed_change]") {
  Fixture f;
  const std::string sealed = f.seal("body", f.header());
  std::string buffer = "x" + sealed;
  const std::string_view unaligned(buffer.data() + 1, sealed.size());
  Result<VerifiedChange> v = verify_change(unaligned);
  REQUIRE(v.is_ok());
  CHECK(v->id == change_id(sealed));
}

TEST_CASE("SealedChange: garbage and truncations never crash", "[sealed_change][fuzz]") {
  Fixture f;
  const std::string sealed = f.seal(*encode_ops(every_kind()), f.header(4));
  for (size_t n = 0; n < sealed.size(); ++n) {
    CHECK(verify_change(sealed.substr(0, n)).status().code() == Code::kCorruptInput);
  }
  std::mt19937_64 rng(7);
  const ChangeHeader h = f.header(4);
  for (int i = 0; i < 3000; ++i) {
    std::string junk(rng() % 1024, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (i % 3 == 0 && junk.size() >= 16) {
      // A plausible start so the fuzzing reaches past the segment table.
      std::memcpy(junk.data(), sealed.data(), 8 + rng() % 8);
      const uint32_t words = static_cast<uint32_t>(junk.size() / 8 - 1);
      if (i % 2 == 0) std::memcpy(junk.data() + 4, &words, 4);
      junk.resize(junk.size() / 8 * 8);
    }
    if (i % 5 == 0) {
      // Mutate a few bytes of a real change.
      junk = sealed;
      for (int k = 0; k < 3; ++k) junk[rng() % junk.size()] = static_cast<char>(rng());
    }
    if (junk == sealed) continue;
    CHECK_FALSE(verify_change(junk).is_ok());
    (void)read_header(junk);
    (void)decode_header(junk);
    (void)decode_ops(junk, h);
  }
}

TEST_CASE("OpBody: decode_ops survives mutated bodies", "[op_body][fuzz]") {
  const std::string body = *encode_ops(every_kind());
  Fixture f;
  const ChangeHeader h = f.header(4);
  std::mt19937_64 rng(11);
  for (int i = 0; i < 5000; ++i) {
    std::string junk = body;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) junk[rng() % junk.size()] = static_cast<char>(rng());
    Result<std::vector<Op>> r = decode_ops(junk, h);
    if (r.is_ok()) {
      for (const Op& op : *r) CHECK(op.check_shape().is_ok());
    } else {
      CHECK(r.status().code() == Code::kCorruptInput);
    }
  }
  for (size_t n = 0; n < body.size(); ++n) (void)decode_ops(body.substr(0, n), h);
}

namespace {

using Body = wire::OpBody::Builder;

// The body of `ops` as encode_ops writes it, then edited by hand (`edit` gets its root), so
// that bodies the encoder never writes can be built.
template <typename Edit>
std::string body_with(const std::vector<Op>& ops, Edit&& edit) {
  const std::string good = *encode_ops(ops);
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(good.size() / 8);
  std::memcpy(words.begin(), good.data(), good.size());
  capnp::FlatArrayMessageReader reader(words);
  capnp::MallocMessageBuilder message;
  message.setRoot(reader.getRoot<wire::OpBody>());
  edit(message.getRoot<wire::OpBody>());
  return bytes_of(capnp::messageToFlatArray(message));
}

std::vector<Op> one_op() {
  return {make_op(OpKind::kLwwWrite, "name", crdt::text("x"))};
}

// What decode_ops says of `body` (header seq `seq`): its corrupt_input message, or "ok".
std::string refusal(const std::string& body, uint64_t seq = 1) {
  Fixture f;
  ChangeHeader h = f.header(1);
  h.seq = seq;
  Result<std::vector<Op>> r = decode_ops(body, h);
  if (r.is_ok()) return "ok";
  if (r.status().code() != Code::kCorruptInput) {
    return "not corrupt_input: " + r.status().to_string();
  }
  return r.status().message();
}

// `ops` as decode_ops must return them: each with its derived dot and the header's time.
std::vector<Op> with_derived_dots(std::vector<Op> ops, const ChangeHeader& h) {
  for (size_t i = 0; i < ops.size(); ++i) {
    ops[i].dot = op_dot(actor_of(h.author), h.seq, i);
    ops[i].time = h.hlc;
  }
  return ops;
}

// Random ops of every kind and value type, over more collections, fields, records and actors
// than the encoder's small tables scan (so its hashed tables are used too).
std::vector<Op> random_ops(std::mt19937_64& rng, size_t n) {
  std::vector<Op> ops;
  for (size_t i = 0; i < n; ++i) {
    Op op;
    // Names as "c" += number: GCC 12 warns (-Wrestrict, a false positive) on "c" + number.
    op.collection = "c";
    op.collection += std::to_string(rng() % 3);
    op.record = record(static_cast<uint8_t>(rng() % 24));
    if (i > 0 && rng() % 2 == 0) op.record = ops.back().record;  // runs of one record
    op.kind = static_cast<OpKind>(1 + rng() % 8);
    const bool record_level = op.kind == OpKind::kRecordDelete || op.kind == OpKind::kRecordRestore;
    if (!record_level) {
      op.field = "f";
      op.field += std::to_string(rng() % 24);
    }
    if (!record_level && op.kind != OpKind::kCounterUpdate) {
      switch (rng() % 5) {
        case 0:
          break;
        case 1:
          op.value = rng() % 2 == 0;
          break;
        case 2:
          op.value = static_cast<int64_t>(rng());
          break;
        default: {
          std::string text(rng() % 40, '\0');
          for (char& c : text) c = static_cast<char>(rng() % 4 == 0 ? 0 : 'a' + rng() % 26);
          op.value = std::move(text);
        }
      }
    }
    if (op.kind == OpKind::kCounterUpdate) {
      op.inc_total = rng();
      op.dec_total = rng() % 3 == 0 ? 0 : rng();
    }
    if (op.kind == OpKind::kMvWrite || op.kind == OpKind::kSetRemove || record_level) {
      for (uint64_t k = rng() % 4; k > 0; --k) {
        op.observed.insert({crdt::ActorId::named("actor-" + std::to_string(rng() % 20)), rng()});
      }
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

// Reads an encoded body's columns (for checking the layout the encoder writes).
struct BodyReader {
  explicit BodyReader(const std::string& body)
      : words(kj::heapArray<capnp::word>(body.size() / 8)) {
    std::memcpy(words.begin(), body.data(), body.size());
    reader.emplace(words.asPtr());
  }
  wire::OpBody::Reader root() { return reader->getRoot<wire::OpBody>(); }

  kj::Array<capnp::word> words;
  std::optional<capnp::FlatArrayMessageReader> reader;
};

template <typename List>
auto values_of(List list) {
  std::vector<std::remove_cv_t<decltype(list[0])>> out;
  for (auto v : list) out.push_back(v);
  return out;
}

std::string string_of(capnp::Data::Reader d) {
  return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
}

std::string id_string(const std::array<uint8_t, 16>& id) {
  return std::string(reinterpret_cast<const char*>(id.data()), id.size());
}

}  // namespace

TEST_CASE("OpBody: tables in first-use order, per-op columns, values grouped by field",
          "[op_body][format]") {
  const crdt::Dot hub{crdt::ActorId::named("hub"), 5};
  const crdt::Dot tablet{crdt::ActorId::named("tablet-9"), 2};
  auto op = [](std::string collection, uint8_t rec, OpKind kind, std::string field,
               crdt::Value value = {}) {
    Op o = make_op(kind, std::move(field), std::move(value));
    o.collection = std::move(collection);
    o.record = record(rec);
    return o;
  };
  std::vector<Op> ops = {
      op("household", 0xA, OpKind::kLwwWrite, "name", crdt::text("Dilnoza")),  // 0
      op("household", 0xA, OpKind::kLwwWrite, "members", crdt::integer(5)),    // 1
      op("visits", 0xB, OpKind::kLwwWrite, "status", crdt::text("visited")),   // 2
      op("visits", 0xB, OpKind::kLwwWrite, "days", crdt::integer(7)),          // 3
      op("visits", 0xB, OpKind::kLwwWrite, "name", crdt::text("Aziz")),        // 4
      op("visits", 0xB, OpKind::kLwwWrite, "done", true),                      // 5
      op("household", 0xA, OpKind::kRecordDelete, ""),                         // 6
      op("household", 0xA, OpKind::kCounterUpdate, "aid"),                     // 7
      op("household", 0xC, OpKind::kLwwWrite, "name"),                         // 8
      op("household", 0xA, OpKind::kLwwWrite, "members", crdt::integer(-1)),   // 9
  };
  ops[6].observed = {tablet, hub};
  ops[7].inc_total = 10;
  ops[7].dec_total = 3;
  const std::string body = *encode_ops(ops);
  BodyReader r(body);
  auto root = r.root();

  std::vector<std::string> collections, fields;
  for (auto t : root.getCollections()) collections.emplace_back(t.cStr());
  for (auto t : root.getFields()) fields.emplace_back(t.cStr());
  CHECK(collections == std::vector<std::string>{"household", "visits"});
  CHECK(fields == std::vector<std::string>{"name", "members", "status", "days", "done", "", "aid"});
  CHECK(string_of(root.getRecords()) ==
        id_string(record(0xA).bytes) + id_string(record(0xB).bytes) + id_string(record(0xC).bytes));
  CHECK(string_of(root.getKinds()) == std::string("\1\1\1\1\1\1\7\5\1\1", 10));
  CHECK(values_of(root.getCollection()) == std::vector<uint32_t>{0, 0, 1, 1, 1, 1, 0, 0, 0, 0});
  CHECK(values_of(root.getRecord()) == std::vector<uint32_t>{0, 0, 1, 1, 1, 1, 0, 0, 2, 0});
  CHECK(values_of(root.getField()) == std::vector<uint32_t>{0, 1, 2, 3, 0, 4, 5, 6, 0, 1});
  CHECK(string_of(root.getValueTypes()) == std::string("\4\3\4\3\4\2\0\0\0\3", 10));
  // Grouped by field: "members" (5 then -1) before "days"; "name" (op 0, op 4) before "status".
  CHECK(values_of(root.getIntegers()) == std::vector<int64_t>{5, -1, 7});
  CHECK(values_of(root.getTextLengths()) == std::vector<uint32_t>{7, 4, 7});
  CHECK(string_of(root.getTexts()) == "DilnozaAzizvisited");
  // The observed dots of op 6, in DotSet order (hub < tablet-9).
  CHECK(string_of(root.getActors()) == id_string(hub.actor.bytes) + id_string(tablet.actor.bytes));
  CHECK(values_of(root.getObservedOp()) == std::vector<uint32_t>{6, 6});
  CHECK(values_of(root.getObservedActor()) == std::vector<uint32_t>{0, 1});
  CHECK(values_of(root.getObservedCounter()) == std::vector<uint64_t>{5, 2});
  CHECK(values_of(root.getIncTotals()) == std::vector<uint64_t>{10});
  CHECK(values_of(root.getDecTotals()) == std::vector<uint64_t>{3});

  Fixture f;
  const ChangeHeader h = f.header(6);
  Result<std::vector<Op>> decoded = decode_ops(body, h);
  REQUIRE(decoded.is_ok());
  CHECK(*decoded == with_derived_dots(ops, h));

  // Columns with nothing in them are left null.
  BodyReader plain(*encode_ops(one_op()));
  CHECK(plain.root().hasTexts());
  CHECK_FALSE(plain.root().hasIntegers());
  CHECK_FALSE(plain.root().hasActors());
  CHECK_FALSE(plain.root().hasObservedOp());
  CHECK_FALSE(plain.root().hasIncTotals());
}

TEST_CASE("OpBody: every op kind and value round-trips in order", "[op_body]") {
  Fixture f;
  const ChangeHeader h = f.header(9);
  const std::vector<Op> every = every_kind();
  Result<std::vector<Op>> decoded = decode_ops(*encode_ops(every), h);
  REQUIRE(decoded.is_ok());
  CHECK(*decoded == with_derived_dots(every, h));

  // The dots and times given to encode_ops do not matter.
  std::vector<Op> dotted = every;
  for (Op& op : dotted) op.dot = {crdt::ActorId::named("x"), 77};
  CHECK(*encode_ops(dotted) == *encode_ops(every));

  std::mt19937_64 rng(5);
  for (int run = 0; run < 300; ++run) {
    const size_t n = run < 3 ? run : (run % 50 == 0 ? 3000 : rng() % 80);
    const std::vector<Op> ops = random_ops(rng, n);
    const std::string body = *encode_ops(ops);
    INFO("run " << run << ", " << n << " ops");
    CHECK(*encode_ops(ops) == body);
    Result<std::vector<Op>> back = decode_ops(body, h);
    REQUIRE(back.is_ok());
    CHECK(*back == with_derived_dots(ops, h));
  }
}

TEST_CASE("OpBody: decode_ops rejects unknown kinds and value types", "[op_body]") {
  REQUIRE(refusal(body_with(one_op(), [](Body) {})) == "ok");
  for (uint8_t kind : {uint8_t{0}, uint8_t{9}, uint8_t{200}, uint8_t{255}}) {
    CHECK(refusal(body_with(one_op(), [&](Body b) { b.getKinds()[0] = kind; })) ==
          "op 0: unknown op kind " + std::to_string(kind));
  }
  for (uint8_t type : {uint8_t{5}, uint8_t{255}}) {
    CHECK(refusal(body_with(one_op(), [&](Body b) { b.getValueTypes()[0] = type; })) ==
          "op 0: unknown value type " + std::to_string(type));
  }
  // The op named is the first bad one.
  std::vector<Op> three = {one_op()[0], one_op()[0], one_op()[0]};
  CHECK(refusal(body_with(three, [](Body b) { b.getKinds()[2] = 0; })) ==
        "op 2: unknown op kind 0");
  // A header with an impossible seq: checked before the bytes.
  CHECK(refusal(body_with(one_op(), [](Body) {}), 0) == "op body: change seq 0 out of range");
  CHECK(refusal(body_with(one_op(), [](Body) {}), kMaxChangeSeq + 1) ==
        "op body: change seq 17592186044416 out of range");
}

TEST_CASE("OpBody: every index must be in its table's range", "[op_body]") {
  const std::vector<Op> two = {one_op()[0], one_op()[0]};
  CHECK(refusal(body_with(two, [](Body b) { b.getCollection().set(1, 1); })) ==
        "op body: op 1: collection index 1 out of range (1 collections)");
  CHECK(refusal(body_with(two, [](Body b) { b.getRecord().set(0, 1); })) ==
        "op body: op 0: record index 1 out of range (1 record ids)");
  CHECK(refusal(body_with(two, [](Body b) { b.getField().set(1, 0xFFFFFFFF); })) ==
        "op body: op 1: field index 4294967295 out of range (1 fields)");
  // An empty table: nothing is in range.
  CHECK(refusal(body_with(two, [](Body b) { b.disownRecords(); })) ==
        "op body: op 0: record index 0 out of range (0 record ids)");

  // every_kind(): observed dots on ops 2 (two), 4, 9 and 10; actors hub and tablet-9.
  const std::vector<Op> every = every_kind();
  REQUIRE(values_of(BodyReader(*encode_ops(every)).root().getObservedOp()) ==
          std::vector<uint32_t>{2, 2, 4, 9, 10});
  CHECK(refusal(body_with(every, [](Body b) { b.getObservedOp().set(4, 11); })) ==
        "op body: observed dot 4: op index 11 out of range (11 ops)");
  CHECK(refusal(body_with(every, [](Body b) { b.getObservedOp().set(3, 3); })) ==
        "op body: observed dot 3: op index 3 after 4 (must not decrease)");
  CHECK(refusal(body_with(every, [](Body b) { b.getObservedActor().set(1, 2); })) ==
        "op body: observed dot 1: actor index 2 out of range (2 actors)");
  // Moved to another op that may carry dots, in order: still a valid body.
  CHECK(refusal(body_with(every, [](Body b) { b.getObservedOp().set(2, 2); })) == "ok");
}

TEST_CASE("OpBody: every column must have the length its counts give", "[op_body]") {
  CHECK(refusal(body_with(one_op(), [](Body b) { b.initCollection(2); })) ==
        "op body: collection holds 2 entries, expected 1 (one per op)");
  CHECK(refusal(body_with(one_op(), [](Body b) { b.initRecord(0); })) ==
        "op body: record holds 0 entries, expected 1 (one per op)");
  CHECK(refusal(body_with(one_op(), [](Body b) { b.disownField(); })) ==
        "op body: field holds 0 entries, expected 1 (one per op)");
  CHECK(refusal(body_with(one_op(), [](Body b) { b.initValueTypes(3); })) ==
        "op body: valueTypes holds 3 entries, expected 1 (one per op)");
  // No kinds: no ops, so the other per-op columns must be empty too.
  CHECK(refusal(body_with(one_op(), [](Body b) { b.disownKinds(); })) ==
        "op body: collection holds 1 entries, expected 0 (one per op)");

  // Value counts: one entry per op of that value type.
  CHECK(refusal(body_with(one_op(), [](Body b) { b.getValueTypes()[0] = 3; })) ==
        "op body: integers holds 0 entries, expected 1 (one per integer value)");
  CHECK(refusal(body_with(one_op(), [](Body b) { b.getValueTypes()[0] = 0; })) ==
        "op body: textLengths holds 1 entries, expected 0 (one per text value)");
  CHECK(refusal(body_with(one_op(), [](Body b) { b.initIntegers(1); })) ==
        "op body: integers holds 1 entries, expected 0 (one per integer value)");
  CHECK(refusal(body_with(one_op(), [](Body b) {
          b.getValueTypes()[0] = 3;
          b.initIntegers(1).set(0, 42);
          b.disownTextLengths();
          b.disownTexts();
        })) == "ok");

  // Text lengths must add up to the texts column exactly ("x" is 1 byte).
  CHECK(refusal(body_with(one_op(), [](Body b) { b.getTextLengths().set(0, 2); })) ==
        "op body: text lengths sum to 2 bytes, texts hold 1");
  CHECK(refusal(body_with(one_op(), [](Body b) { b.getTextLengths().set(0, 0); })) ==
        "op body: text lengths sum to 0 bytes, texts hold 1");
  CHECK(refusal(body_with(one_op(), [](Body b) { b.getTextLengths().set(0, 0xFFFFFFFF); })) ==
        "op body: text lengths sum to 4294967295 bytes, texts hold 1");
  CHECK(refusal(body_with(one_op(), [](Body b) { b.initTexts(9); })) ==
        "op body: text lengths sum to 1 bytes, texts hold 9");

  // Counter totals: one pair per counter update (every_kind() has one); observed dots: one
  // actor and counter per op index.
  const std::vector<Op> every = every_kind();
  CHECK(refusal(body_with(every, [](Body b) { b.disownIncTotals(); })) ==
        "op body: incTotals holds 0 entries, expected 1 (one per counter update)");
  CHECK(refusal(body_with(every, [](Body b) { b.initDecTotals(2); })) ==
        "op body: decTotals holds 2 entries, expected 1 (one per counter update)");
  CHECK(refusal(body_with(every, [](Body b) { b.initObservedActor(4); })) ==
        "op body: observedActor holds 4 entries, expected 5 (one per observed dot)");
  CHECK(refusal(body_with(every, [](Body b) { b.initObservedCounter(6); })) ==
        "op body: observedCounter holds 6 entries, expected 5 (one per observed dot)");
}

TEST_CASE("OpBody: id tables hold whole 16-byte ids", "[op_body]") {
  CHECK(refusal(body_with(one_op(), [](Body b) { b.initRecords(15); })) ==
        "op body: record table is 15 bytes, not a multiple of 16");
  CHECK(refusal(body_with(one_op(), [](Body b) { b.initRecords(17); })) ==
        "op body: record table is 17 bytes, not a multiple of 16");
  CHECK(refusal(body_with(every_kind(), [](Body b) { b.initActors(31); })) ==
        "op body: actor table is 31 bytes, not a multiple of 16");
  // An entry no op refers to is harmless.
  CHECK(refusal(body_with(one_op(), [](Body b) { b.initRecords(32); })) == "ok");
}

TEST_CASE("OpBody: decoded ops must pass check_shape", "[op_body]") {
  Op counter = make_op(OpKind::kCounterUpdate, "aid_soum");
  counter.inc_total = 3;
  CHECK(refusal(body_with({counter}, [](Body b) {
          b.getValueTypes()[0] = 3;
          b.initIntegers(1).set(0, 4);
        })) == "op 0: counter update on 'household', field 'aid_soum': counter op carries a value");
  const Op del = make_op(OpKind::kRecordDelete, "");
  CHECK(refusal(body_with({del}, [](Body b) { b.initFields(1).set(0, "name"); })) ==
        "op 0: record delete on 'household' names a field");
  CHECK(refusal(body_with({del}, [](Body b) { b.getValueTypes()[0] = 2; })) ==
        "op 0: record delete on 'household' carries a value or counter totals");
  CHECK(refusal(body_with(one_op(), [](Body b) { b.initCollections(1).set(0, ""); })) ==
        "op 0: lww write on '': no collection");
  CHECK(refusal(body_with(one_op(), [](Body b) { b.initFields(1).set(0, ""); })) ==
        "op 0: lww write on 'household': no field name");
  const std::string long_name(crdt::kMaxNameBytes + 1, 'f');
  CHECK(refusal(body_with(one_op(), [&](Body b) { b.initFields(1).set(0, long_name); })) ==
        "op 0: lww write on 'household': a collection or field name is longer than 255 bytes");
  CHECK(refusal(body_with(one_op(), [](Body b) {
          b.initActors(16);
          b.initObservedOp(1).set(0, 0);
          b.initObservedActor(1).set(0, 0);
          b.initObservedCounter(1).set(0, 1);
        })) == "op 0: lww write on 'household', field 'name': unexpected observed dots");
}

TEST_CASE("OpBody: claimed sizes are refused without a huge allocation", "[op_body][limits]") {
  // Segment table, then a root OpBody (0 data words, 4 pointers) whose `kinds` claims 2^29 - 1
  // bytes that the 5-word segment does not hold.
  std::string body(48, '\0');
  const uint32_t table[2] = {0, 5};
  std::memcpy(body.data(), table, 8);
  const uint32_t root[2] = {0, 4u << 16};
  std::memcpy(body.data() + 8, root, 8);
  const uint32_t kinds[2] = {1, ((1u << 29) - 1) << 3 | 2};  // byte list right after
  std::memcpy(body.data() + 40, kinds, 8);
  std::string message = refusal(body);
  CHECK(message.rfind("op body: ", 0) == 0);
  CHECK(message.find("out-of-bounds") != std::string::npos);

  // The per-op `collection` column as a composite list of 2^20 zero-sized structs (it claims
  // any number of elements in no bytes); `kinds` is one real byte.
  const uint32_t words[9][2] = {
      {0, 8},                      // segment table: 8 words
      {0, 5u << 16},               // root: offset 0, 0 data words, 5 pointers
      {0, 0},                      // collections: null
      {0, 0},                      // fields: null
      {0, 0},                      // records: null
      {1u << 2 | 1, 1u << 3 | 2},  // kinds: offset 1, 1 byte
      {1u << 2 | 1, 0u << 3 | 7},  // collection: offset 1, composite list of 0 words
      {1, 0},                      // the kinds byte (1) and padding
      {(1u << 20) << 2, 0},        // tag: 2^20 elements of 0 data words, 0 pointers
  };
  body.assign(reinterpret_cast<const char*>(words), sizeof words);
  message = refusal(body);
  CHECK(message.rfind("op body: ", 0) == 0);
  CHECK(message.find("collection holds") == std::string::npos);

  // A real claim over the limit: 2^20 kinds bytes.
  capnp::MallocMessageBuilder many;
  auto kinds_column = many.initRoot<wire::OpBody>().initKinds(kMaxOpsPerChange + 1);
  std::memset(kinds_column.begin(), 1, kinds_column.size());
  CHECK(refusal(bytes_of(capnp::messageToFlatArray(many))) ==
        "op body: 1048576 ops, at most 1048575 allowed");
  // At the limit but without the other columns: refused before any op is made.
  capnp::MallocMessageBuilder most;
  auto most_kinds = most.initRoot<wire::OpBody>().initKinds(kMaxOpsPerChange);
  std::memset(most_kinds.begin(), 1, most_kinds.size());
  CHECK(refusal(bytes_of(capnp::messageToFlatArray(most))) ==
        "op body: collection holds 0 entries, expected 1048575 (one per op)");
}

TEST_CASE("OpBody: encode_ops refuses ops that would not decode", "[op_body]") {
  std::vector<Op> ops = {make_op(OpKind::kCounterUpdate, "n", crdt::integer(1))};
  Result<std::string> refused = encode_ops(ops);
  CHECK(refused.status().code() == Code::kInvalidArgument);
  CHECK(refused.status().message() ==
        "op 0: counter update on 'household', field 'n': counter op carries a value");
  std::vector<Op> second = {one_op()[0], make_op(OpKind::kRecordDelete, "name")};
  CHECK(encode_ops(second).status().message() ==
        "op 1: record delete on 'household' names a field");
  CHECK(encode_ops(std::vector<Op>{}).is_ok());
  Fixture f;
  Result<std::vector<Op>> none = decode_ops(*encode_ops(std::vector<Op>{}), f.header(1));
  REQUIRE(none.is_ok());
  CHECK(none->empty());
}

}  // namespace birga::engine
