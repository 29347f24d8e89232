// The canonical binary codec (ByteWriter / ByteReader), the decoders of every CRDT state on
// valid and hostile bytes, and SHA-256.
#include "birga/crdt/codec.h"

#include <catch2/catch.hpp>
#include <random>

#include "birga/crdt/append_log.h"
#include "birga/crdt/aw_set.h"
#include "birga/crdt/counter.h"
#include "birga/crdt/lww_register.h"
#include "birga/crdt/mv_register.h"
#include "birga/crdt/record.h"
#include "birga/crdt/sha256.h"

namespace birga::crdt {
namespace {

const ActorId kA = ActorId::named("alice");
const ActorId kB = ActorId::named("bob");

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out.push_back(kHex[static_cast<uint8_t>(c) >> 4]);
    out.push_back(kHex[static_cast<uint8_t>(c) & 15]);
  }
  return out;
}

std::string unhex(std::string_view h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

template <typename F>
std::string written(F f) {
  ByteWriter w;
  f(w);
  return w.take();
}

template <typename T>
std::string encoded(const T& x) {
  return written([&](ByteWriter& w) { x.encode(w); });
}

// decode(encode(x)) must give x back and consume every byte.
template <typename T>
void check_round_trip(const T& x) {
  const std::string bytes = encoded(x);
  ByteReader r(bytes);
  const T back = T::decode(r);
  INFO("bytes " << hex(bytes));
  REQUIRE(r.finish().is_ok());
  CHECK(back == x);
  CHECK(encoded(back) == bytes);
}

// Every proper prefix of a valid encoding must fail to decode: the formats are self-delimiting.
template <typename T>
void check_prefixes_fail(const T& x) {
  const std::string bytes = encoded(x);
  for (size_t n = 0; n < bytes.size(); ++n) {
    ByteReader r(std::string_view(bytes).substr(0, n));
    (void)T::decode(r);
    INFO("prefix of " << n << " of " << bytes.size() << " bytes");
    CHECK_FALSE(r.ok());
    CHECK(r.status().code() == Code::kCorruptInput);
  }
}

Record rich_record() {
  Record rec;
  auto op = [](OpKind kind, std::string field, Dot dot, Value value, DotSet observed = {}) {
    Op o;
    o.collection = "visit";
    o.kind = kind;
    o.field = std::move(field);
    o.dot = dot;
    o.time = Timestamp::make(1000 + dot.counter, 0);
    o.value = std::move(value);
    o.observed = std::move(observed);
    return o;
  };
  REQUIRE(rec.apply(op(OpKind::kLwwWrite, "title", {kA, 1}, text("home visit"))).is_ok());
  REQUIRE(rec.apply(op(OpKind::kMvWrite, "status", {kA, 2}, text("open"))).is_ok());
  REQUIRE(rec.apply(op(OpKind::kMvWrite, "status", {kB, 1}, text("closed"))).is_ok());
  REQUIRE(rec.apply(op(OpKind::kSetAdd, "members", {kA, 3}, text("amir"))).is_ok());
  REQUIRE(rec.apply(op(OpKind::kSetAdd, "members", {kB, 2}, text("zarina"))).is_ok());
  REQUIRE(rec.apply(op(OpKind::kSetRemove, "members", {kB, 3}, text("amir"), {{kA, 3}})).is_ok());
  Op count = op(OpKind::kCounterUpdate, "visits", {kA, 4}, Value());
  count.inc_total = 5;
  count.dec_total = 2;
  REQUIRE(rec.apply(count).is_ok());
  REQUIRE(rec.apply(op(OpKind::kLogAppend, "notes", {kB, 4}, text("knocked"))).is_ok());
  REQUIRE(rec.apply(op(OpKind::kLogAppend, "notes", {kA, 5}, integer(-7))).is_ok());
  Op del = op(OpKind::kRecordDelete, "", {kB, 5}, Value(), rec.field_dots());
  REQUIRE(rec.apply(del).is_ok());
  REQUIRE(rec.apply(op(OpKind::kLwwWrite, "title", {kA, 6}, Value(true))).is_ok());
  return rec;
}

TEST_CASE("ByteWriter: varints are LEB128", "[crdt][codec]") {
  auto varint = [](uint64_t v) { return hex(written([v](ByteWriter& w) { w.varint(v); })); };
  CHECK(varint(0) == "00");
  CHECK(varint(1) == "01");
  CHECK(varint(127) == "7f");
  CHECK(varint(128) == "8001");
  CHECK(varint(300) == "ac02");
  CHECK(varint(16384) == "808001");
  CHECK(varint(UINT64_MAX) == "ffffffffffffffffff01");
}

TEST_CASE("ByteWriter: signed varints are zigzag mapped", "[crdt][codec]") {
  auto svarint = [](int64_t v) { return hex(written([v](ByteWriter& w) { w.svarint(v); })); };
  CHECK(svarint(0) == "00");
  CHECK(svarint(-1) == "01");
  CHECK(svarint(1) == "02");
  CHECK(svarint(-2) == "03");
  CHECK(svarint(63) == "7e");
  CHECK(svarint(-64) == "7f");
  CHECK(svarint(64) == "8001");
  CHECK(svarint(INT64_MAX) == "feffffffffffffffff01");
  CHECK(svarint(INT64_MIN) == "ffffffffffffffffff01");
}

TEST_CASE("ByteReader: integers round trip at the edges", "[crdt][codec]") {
  const std::vector<uint64_t> unsigned_values = {0,          1,          127,       128,
                                                 UINT32_MAX, 1ull << 63, UINT64_MAX};
  const std::vector<int64_t> signed_values = {0, -1, 1, INT32_MIN, INT64_MIN, INT64_MAX};
  ByteWriter w;
  for (uint64_t v : unsigned_values) w.varint(v);
  for (int64_t v : signed_values) w.svarint(v);
  w.u8(0xAB);
  ByteReader r(w.data());
  for (uint64_t v : unsigned_values) CHECK(r.varint() == v);
  for (int64_t v : signed_values) CHECK(r.svarint() == v);
  CHECK(r.u8() == 0xAB);
  CHECK(r.at_end());
  CHECK(r.finish().is_ok());
}

TEST_CASE("ByteWriter: values are a type tag then the content", "[crdt][codec]") {
  auto value = [](const Value& v) { return hex(written([&](ByteWriter& w) { w.value(v); })); };
  CHECK(value(Value()) == "00");
  CHECK(value(Value(false)) == "01");
  CHECK(value(Value(true)) == "02");
  CHECK(value(integer(5)) == "030a");
  CHECK(value(integer(-1)) == "0301");
  CHECK(value(text("hi")) == "04026869");
  CHECK(value(text("")) == "0400");

  const std::vector<Value> values = {Value(),    Value(false),    Value(true),
                                     integer(0), integer(-99),    integer(INT64_MIN),
                                     text(""),   text("Ташкент"), text(std::string("a\0b", 3))};
  ByteWriter w;
  for (const Value& v : values) w.value(v);
  ByteReader r(w.data());
  for (const Value& v : values) CHECK(r.value() == v);
  CHECK(r.finish().is_ok());
}

TEST_CASE("ByteWriter: dot sets group counters by actor as deltas", "[crdt][codec]") {
  const DotSet dots{{kA, 1}, {kA, 3}, {kA, 300}, {kB, 2}};
  const std::string bytes = written([&](ByteWriter& w) { w.dots(dots); });
  const std::string expected =
      "02" + hex(std::string_view(reinterpret_cast<const char*>(kA.bytes.data()), 16)) + "03" +
      "01" + "02" + "a902" +
      hex(std::string_view(reinterpret_cast<const char*>(kB.bytes.data()), 16)) + "01" + "02";
  CHECK(hex(bytes) == expected);
  ByteReader r(bytes);
  CHECK(r.dots() == dots);
  CHECK(r.finish().is_ok());

  CHECK(hex(written([](ByteWriter& w) { w.dots({}); })) == "00");
  const Dot d{kB, 1ull << 40};
  const std::string dot_bytes = written([&](ByteWriter& w) { w.dot(d); });
  ByteReader rd(dot_bytes);
  CHECK(rd.dot() == d);
  CHECK(rd.finish().is_ok());
}

TEST_CASE("ByteReader: strings are length-prefixed views of the input", "[crdt][codec]") {
  ByteWriter w;
  w.bytes("visit");
  w.bytes("");
  w.actor(kA);
  w.timestamp(Timestamp::make(1795338611123ull, 9));
  const std::string data = w.take();
  ByteReader r(data);
  const std::string_view s = r.bytes();
  CHECK(s == "visit");
  CHECK(s.data() == data.data() + 1);  // a view, no copy
  CHECK(r.bytes().empty());
  CHECK(r.actor() == kA);
  CHECK(r.timestamp() == Timestamp::make(1795338611123ull, 9));
  CHECK(r.finish().is_ok());
}

TEST_CASE("ByteReader: truncated input is an error, never a crash", "[crdt][codec][hostile]") {
  SECTION("a varint cut short") {
    const std::string input = unhex("8080");
    ByteReader r(input);
    CHECK(r.varint() == 0);
    CHECK_FALSE(r.ok());
    CHECK(r.status().code() == Code::kCorruptInput);
    CHECK(r.status().kind() == Kind::kPermanent);
    CHECK_THAT(r.status().message(), Catch::Contains("truncated"));
  }
  SECTION("a raw id cut short is zero-filled") {
    const std::string input = std::string(10, '\x7f');
    ByteReader r(input, "frame");
    CHECK(r.actor() == ActorId());
    CHECK_FALSE(r.ok());
    CHECK_THAT(r.status().message(), Catch::StartsWith("frame at byte 0"));
  }
  SECTION("an empty input") {
    ByteReader r("");
    CHECK(r.u8() == 0);
    CHECK_FALSE(r.ok());
  }
  SECTION("a value whose text is cut short") {
    const std::string input = unhex("0405616263");  // text of length 5, 3 bytes present
    ByteReader r(input);
    const Value v = r.value();
    CHECK_FALSE(r.ok());
    CHECK((v == Value() || v == text("")));  // a zero value, never a partial text
  }
}

TEST_CASE("ByteReader: huge counts and lengths are refused before any allocation",
          "[crdt][codec][hostile]") {
  SECTION("a length beyond the input") {
    const std::string input = written([](ByteWriter& w) { w.varint(1ull << 40); }) + "abc";
    ByteReader r(input);
    CHECK(r.bytes().empty());
    CHECK_FALSE(r.ok());
    CHECK_THAT(r.status().message(), Catch::Contains("exceeds"));
  }
  SECTION("a length of 2^64-1") {
    const std::string input = unhex("ffffffffffffffffff01") + "abc";
    ByteReader r(input);
    CHECK(r.bytes().empty());
    CHECK_FALSE(r.ok());
  }
  SECTION("a count the rest of the input cannot hold") {
    const std::string fits = unhex("03") + std::string(6, 'x');
    ByteReader ok_reader(fits);
    CHECK(ok_reader.count(2) == 3);  // exactly fits
    CHECK(ok_reader.ok());
    const std::string input = unhex("04") + std::string(6, 'x');
    ByteReader r(input);
    CHECK(r.count(2) == 0);
    CHECK_FALSE(r.ok());
    CHECK_THAT(r.status().message(), Catch::Contains("count 4"));
  }
  SECTION("a dot set claiming 2^62 actors") {
    const std::string input =
        written([](ByteWriter& w) { w.varint(1ull << 62); }) + std::string(40, 'x');
    ByteReader r(input);
    CHECK(r.dots().empty());
    CHECK_FALSE(r.ok());
  }
  SECTION("a dot set claiming 2^62 counters for one actor") {
    ByteWriter w;
    w.varint(1);
    w.actor(kA);
    w.varint(1ull << 62);
    w.varint(1);
    ByteReader r(w.data());
    CHECK(r.dots().empty());
    CHECK_FALSE(r.ok());
  }
  SECTION("each state decoder") {
    const std::string huge = unhex("ffffffffffffffff7f") + std::string(64, '\x01');
    {
      ByteReader r(huge);
      CHECK(MvRegister::decode(r) == MvRegister());
      CHECK_FALSE(r.ok());
    }
    {
      ByteReader r(huge);
      CHECK(AwSet::decode(r) == AwSet());
      CHECK_FALSE(r.ok());
    }
    {
      ByteReader r(huge);
      CHECK(Counter::decode(r) == Counter());
      CHECK_FALSE(r.ok());
    }
    {
      ByteReader r(huge);
      CHECK(AppendLog::decode(r).size() == 0);
      CHECK_FALSE(r.ok());
    }
    {
      ByteReader r(huge);
      CHECK(Record::decode(r).fields().empty());
      CHECK_FALSE(r.ok());
    }
  }
}

TEST_CASE("ByteReader: malformed content is refused", "[crdt][codec][hostile]") {
  SECTION("a varint longer than 64 bits") {
    const std::string input = unhex("ffffffffffffffffff02");  // the tenth byte would need bit 64
    ByteReader r(input);
    CHECK(r.varint() == 0);
    CHECK_FALSE(r.ok());
    CHECK_THAT(r.status().message(), Catch::Contains("64 bits"));
    const std::string eleven_bytes = unhex("8080808080808080808000");
    ByteReader eleven(eleven_bytes);
    CHECK(eleven.varint() == 0);
    CHECK_FALSE(eleven.ok());
  }
  SECTION("an unknown value tag") {
    const std::string input = unhex("05");
    ByteReader r(input);
    CHECK(r.value() == Value());
    CHECK_FALSE(r.ok());
  }
  SECTION("dot set counters that do not increase") {
    ByteWriter w;
    w.varint(1);
    w.actor(kA);
    w.varint(2);
    w.varint(4);
    w.varint(0);  // the same counter again
    ByteReader r(w.data());
    (void)r.dots();
    CHECK_FALSE(r.ok());
  }
  SECTION("dot set counters that wrap around past 2^64") {
    // 5, then 5 + (2^64 - 1) = 4, then 5 again: not increasing, though no delta is 0.
    ByteWriter w;
    w.varint(1);
    w.actor(kA);
    w.varint(3);
    w.varint(5);
    w.varint(UINT64_MAX);
    w.varint(1);
    ByteReader r(w.data());
    const DotSet dots = r.dots();
    INFO("decoded " << dots.size() << " dot(s) from a set of 3");
    CHECK_FALSE(r.finish().is_ok());
  }
  SECTION("an lww flag other than 0 or 1") {
    const std::string input = unhex("02");
    ByteReader r(input);
    (void)LwwRegister::decode(r);
    CHECK_FALSE(r.ok());
  }
  SECTION("a dot store holding a dot it also lists as removed") {
    ByteWriter w;  // an AwSet: entries (dot, element), then the removed dots
    w.varint(1);
    w.dot(Dot{kA, 1});
    w.value(text("x"));
    w.dots({{kA, 1}});
    ByteReader r(w.data());
    (void)AwSet::decode(r);
    CHECK_FALSE(r.ok());
    CHECK_THAT(r.status().message(), Catch::Contains("removed dot"));

    ByteWriter mv;  // an MvRegister: entries (dot, time, value), then the removed dots
    mv.varint(1);
    mv.dot(Dot{kA, 1});
    mv.timestamp(Timestamp::make(1000, 0));
    mv.value(text("x"));
    mv.dots({{kA, 1}});
    ByteReader rm(mv.data());
    (void)MvRegister::decode(rm);
    CHECK_FALSE(rm.ok());
    CHECK_THAT(rm.status().message(), Catch::Contains("removed dot"));
  }
  SECTION("an unknown field kind in a record") {
    ByteWriter w;
    w.varint(0);  // no actors
    w.varint(0);  // no times
    w.varint(1);
    w.bytes("title");
    w.u8(9);
    w.u8(0);
    ByteReader r(w.data());
    (void)Record::decode(r);
    CHECK_FALSE(r.ok());
    CHECK_THAT(r.status().message(), Catch::Contains("unknown field kind 9"));
  }
  SECTION("an actor or time index beyond a record's tables") {
    for (const bool actor : {true, false}) {
      ByteWriter w;
      w.varint(1);  // one actor
      w.raw(std::string(16, 'a').data(), 16);
      w.varint(1);  // one time
      w.varint(5);
      w.varint(1);  // one field
      w.bytes("title");
      w.u8(1);                  // lww
      w.u8(1);                  // set
      w.varint(actor ? 0 : 1);  // time index
      w.varint(actor ? 1 : 0);  // actor index
      w.u8(0);
      ByteReader r(w.data());
      (void)Record::decode(r);
      CHECK_FALSE(r.ok());
      CHECK_THAT(r.status().message(),
                 Catch::Contains(actor ? "actor index 1 beyond" : "time index 1 beyond"));
    }
  }
  SECTION("trailing bytes") {
    const std::string input = unhex("0100");
    ByteReader r(input);
    CHECK(r.varint() == 1);
    CHECK(r.ok());
    CHECK_FALSE(r.at_end());
    CHECK(r.remaining() == 1);
    const Status s = r.finish();
    CHECK(s.code() == Code::kCorruptInput);
    CHECK_THAT(s.message(), Catch::Contains("trailing"));
  }
}

TEST_CASE("ByteReader: the first failure is kept and later reads return zeros",
          "[crdt][codec][hostile]") {
  const std::string input = unhex("05") + "abcdefghijklmnopqrstuvwxyz";
  ByteReader r(input);
  (void)r.value();  // unknown tag 5
  REQUIRE_FALSE(r.ok());
  const std::string first = r.status().message();
  CHECK(r.u8() == 0);
  CHECK(r.varint() == 0);
  CHECK(r.bytes().empty());
  CHECK(r.actor() == ActorId());
  r.fail("a later problem");
  CHECK(r.status().message() == first);
  CHECK(r.finish().message() == first);

  const std::string one_byte = unhex("01");
  ByteReader fresh(one_byte, "change");
  fresh.fail("unknown field kind 9");
  CHECK(fresh.status().to_string() == "corrupt_input: change at byte 0: unknown field kind 9");
}

TEST_CASE("Codec: every state type round trips", "[crdt][codec]") {
  LwwRegister lww;
  check_round_trip(lww);
  lww.apply(LwwWrite{Timestamp::make(5000, 3), kB, text("x")});
  check_round_trip(lww);

  MvRegister mv;
  check_round_trip(mv);
  mv.apply(MvWrite{{kA, 1}, text("open"), {}, Timestamp::make(5000, 1)});
  mv.apply(MvWrite{{kB, 1}, integer(3), {}, Timestamp::make(5000, 2)});
  mv.apply(MvWrite{{kB, 2}, Value(), {{kB, 1}}, Timestamp::make(6000, 0)});
  check_round_trip(mv);
  {
    // The HLC time of each value travels with it (latest() depends on it).
    ByteWriter w;
    mv.encode(w);
    ByteReader r(w.data());
    const MvRegister back = MvRegister::decode(r);
    REQUIRE(r.finish().is_ok());
    CHECK(back.latest() == Value());
    CHECK(back.latest() == mv.latest());
  }

  AwSet set;
  set.apply(SetAdd{{kA, 1}, text("amir")});
  set.apply(SetAdd{{kB, 7}, text("zarina")});
  set.apply(SetRemove{{{kA, 1}, {kA, 9}}});
  check_round_trip(set);

  Counter counter;
  counter.apply(counter.make_add(kA, 10));
  counter.apply(counter.make_add(kB, -30));
  counter.apply(counter.make_add(kB, INT64_MIN));
  check_round_trip(counter);

  AppendLog log;
  log.apply(LogAppend{{kA, 1}, Timestamp::make(9, 0), text("second")});
  log.apply(LogAppend{{kB, 1}, Timestamp::make(3, 0), text("first")});
  check_round_trip(log);

  check_round_trip(Record());
  check_round_trip(rich_record());
}

TEST_CASE("Codec: every proper prefix of a valid encoding is refused", "[crdt][codec][hostile]") {
  LwwRegister lww;
  lww.apply(LwwWrite{Timestamp::make(5000, 3), kB, text("x")});
  check_prefixes_fail(lww);
  MvRegister mv;
  mv.apply(MvWrite{{kA, 1}, text("open"), {}, Timestamp::make(700, 0)});
  mv.apply(MvWrite{{kB, 2}, text("shut"), {{kB, 1}}, Timestamp::make(900, 3)});
  check_prefixes_fail(mv);
  AwSet set;
  set.apply(SetAdd{{kA, 1}, text("amir")});
  set.apply(SetRemove{{{kB, 3}}});
  check_prefixes_fail(set);
  Counter counter;
  counter.apply(counter.make_add(kA, -300));
  check_prefixes_fail(counter);
  AppendLog log;
  log.apply(LogAppend{{kA, 1}, Timestamp::make(9, 0), text("note")});
  check_prefixes_fail(log);
  check_prefixes_fail(rich_record());
}

// Random corruption of a valid record: decoding must never crash (ASan/UBSan builds check the
// memory side), and whatever decodes cleanly must re-encode to something that decodes to the
// same state.
TEST_CASE("Codec: corrupted record bytes never crash the decoder", "[crdt][codec][hostile]") {
  const std::string valid = encoded(rich_record());
  std::mt19937_64 rng(20261122);
  int refused = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string bytes = valid;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % bytes.size();
      switch (rng() % 4) {
        case 0:
          bytes[at] = static_cast<char>(rng());
          break;
        case 1:
          bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
          break;
        case 2:
          bytes.erase(at, 1 + rng() % 8);
          break;
        default:
          bytes.insert(at, 1 + rng() % 4, static_cast<char>(rng()));
          break;
      }
      if (bytes.empty()) bytes = "\xff";
    }
    ByteReader r(bytes);
    const Record rec = Record::decode(r);
    const Status s = r.finish();
    if (!s.is_ok()) {
      ++refused;
      REQUIRE(s.code() == Code::kCorruptInput);
      continue;
    }
    const std::string again = encoded(rec);
    ByteReader r2(again);
    const Record rec2 = Record::decode(r2);
    INFO("input " << hex(bytes));
    REQUIRE(r2.finish().is_ok());
    REQUIRE(rec2 == rec);
  }
  CHECK(refused > 1000);  // most corruptions must be caught
}

TEST_CASE("Codec: random bytes never crash any decoder", "[crdt][codec][hostile]") {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() % 4 == 0 ? 0xff : rng() % 24);
    ByteReader r1(bytes), r2(bytes), r3(bytes), r4(bytes), r5(bytes), r6(bytes), r7(bytes);
    (void)LwwRegister::decode(r1);
    (void)MvRegister::decode(r2);
    (void)AwSet::decode(r3);
    (void)Counter::decode(r4);
    (void)AppendLog::decode(r5);
    (void)Record::decode(r6);
    (void)r7.dots();
    for (ByteReader* r : {&r1, &r2, &r3, &r4, &r5, &r6, &r7}) {
      const Status s = r->finish();
      REQUIRE((s.is_ok() || s.code() == Code::kCorruptInput));
    }
  }
}

TEST_CASE("Sha256: known vectors", "[crdt][sha256]") {
  CHECK(Sha256::hex(Sha256::digest("")) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256::hex(Sha256::digest("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256::hex(Sha256::digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // Lengths around the padding boundary (55 fits one block, 56 needs two), then 64 and 119.
  CHECK(Sha256::hex(Sha256::digest(std::string(55, 'a'))) ==
        "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  CHECK(Sha256::hex(Sha256::digest(std::string(56, 'a'))) ==
        "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  CHECK(Sha256::hex(Sha256::digest(std::string(64, 'a'))) ==
        "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
  CHECK(Sha256::hex(Sha256::digest(std::string(119, 'a'))) ==
        "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb");
}

TEST_CASE("Sha256: incremental updates equal one digest", "[crdt][sha256]") {
  // One million 'a' fed in uneven pieces (FIPS 180-2 test vector).
  Sha256 h;
  const std::string chunk(997, 'a');
  size_t fed = 0;
  for (size_t piece = 1; fed < 1000000; piece = piece * 7 % 997 + 1) {
    const size_t n = std::min(piece, 1000000 - fed);
    h.update(std::string_view(chunk).substr(0, n));
    fed += n;
  }
  CHECK(Sha256::hex(h.finish()) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

  Sha256 empty_parts;
  empty_parts.update("");
  empty_parts.update("ab");
  empty_parts.update("");
  empty_parts.update("c");
  CHECK(empty_parts.finish() == Sha256::digest("abc"));
}

}  // namespace
}  // namespace birga::crdt
