#include "sealed_change.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <string>
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

// A body with one op built by hand, so that fields the encoder would refuse can be set.
template <typename Edit>
std::string body_with(Edit&& edit) {
  capnp::MallocMessageBuilder message;
  auto op = message.initRoot<wire::OpBody>().initOps(1)[0];
  op.setCollection("household");
  const std::array<uint8_t, 16> rec{};
  op.setRecord(capnp::Data::Reader(rec.data(), rec.size()));
  op.setKind(uint8_t(OpKind::kLwwWrite));
  op.setField("name");
  op.getValue().setText("x");
  edit(op);
  return bytes_of(capnp::messageToFlatArray(message));
}

}  // namespace

TEST_CASE("OpBody: decode_ops rejects unknown kinds and malformed ops", "[op_body]") {
  Fixture f;
  const ChangeHeader h = f.header(1);
  REQUIRE(decode_ops(body_with([](auto) {}), h).is_ok());
  for (uint8_t kind : {uint8_t{0}, uint8_t{9}, uint8_t{200}, uint8_t{255}}) {
    Result<std::vector<Op>> r = decode_ops(body_with([&](auto op) { op.setKind(kind); }), h);
    CHECK(r.status().code() == Code::kCorruptInput);
    CHECK(r.status().message().find("unknown op kind " + std::to_string(kind)) !=
          std::string::npos);
  }
  const std::array<uint8_t, 15> short_id{};
  Result<std::vector<Op>> bad_record =
      decode_ops(body_with([&](auto op) {
                   op.setRecord(capnp::Data::Reader(short_id.data(), short_id.size()));
                 }),
                 h);
  CHECK(bad_record.status().message().find("record id is 15 bytes") != std::string::npos);

  Result<std::vector<Op>> bad_actor =
      decode_ops(body_with([&](auto op) {
                   op.setKind(uint8_t(OpKind::kMvWrite));
                   auto dots = op.initObserved(1);
                   dots[0].setActor(capnp::Data::Reader(short_id.data(), 3));
                   dots[0].setCounter(1);
                 }),
                 h);
  CHECK(bad_actor.status().message().find("actor is 3 bytes") != std::string::npos);

  // Shape: an lww write with counter totals, a delete that names a field, no collection.
  CHECK(decode_ops(body_with([](auto op) { op.setIncTotal(1); }), h).status().code() ==
        Code::kCorruptInput);
  CHECK(decode_ops(body_with([](auto op) {
                     op.setKind(uint8_t(OpKind::kRecordDelete));
                     op.getValue().setNone();
                   }),
                   h)
            .status()
            .code() == Code::kCorruptInput);
  CHECK(decode_ops(body_with([](auto op) { op.setCollection(""); }), h).status().code() ==
        Code::kCorruptInput);
  // A header with an impossible seq.
  ChangeHeader bad_seq = h;
  bad_seq.seq = 0;
  CHECK(decode_ops(body_with([](auto) {}), bad_seq).status().code() == Code::kCorruptInput);
}

TEST_CASE("OpBody: a list claiming too many ops is refused without a huge allocation",
          "[op_body][limits]") {
  // Segment table, root pointer to OpBody (0 data words, 1 pointer), then a composite list
  // pointer and its tag claiming 2^20 zero-sized structs: 4 words in all.
  std::string body(32, '\0');
  const uint32_t table[2] = {0, 3};
  std::memcpy(body.data(), table, 8);
  const uint32_t root[2] = {0, 1u << 16};  // struct pointer, offset 0, 0 data, 1 pointer
  std::memcpy(body.data() + 8, root, 8);
  const uint32_t list[2] = {0u << 2 | 1, 0u << 3 | 7};  // composite list, 0 words of elements
  std::memcpy(body.data() + 16, list, 8);
  const uint32_t tag[2] = {(1u << 20) << 2, 0};  // tag: element count 2^20, size 0/0
  std::memcpy(body.data() + 24, tag, 8);
  Fixture f;
  Result<std::vector<Op>> r = decode_ops(body, f.header(1));
  CHECK(r.status().code() == Code::kCorruptInput);
}

TEST_CASE("OpBody: encode_ops refuses ops that would not decode", "[op_body]") {
  std::vector<Op> ops = {make_op(OpKind::kCounterUpdate, "n", crdt::integer(1))};
  CHECK(encode_ops(ops).status().code() == Code::kInvalidArgument);
  CHECK(encode_ops({}).is_ok());
  Fixture f;
  Result<std::vector<Op>> none = decode_ops(*encode_ops({}), f.header(1));
  REQUIRE(none.is_ok());
  CHECK(none->empty());
}

}  // namespace birga::engine
