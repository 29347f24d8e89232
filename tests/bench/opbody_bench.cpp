// birga-bench --mode opbody: the op body of one typical change, in isolation. R visit records
// (WORKLOAD.md make_record, 8 lww ops each, collection "visits", ops in write_visit's order)
// are encoded with engine::encode_ops, compressed with zstd at a few levels and decoded with
// engine::decode_ops; one JSON line per level with the raw and compressed sizes per record and
// the median time of each step over --rounds runs.
//
// Record ids are made as Transaction::create makes them (48-bit wall-clock ms, 80 random bits),
// with a fixed clock (500 records per millisecond) and SplitMix64 bits so that runs repeat. The
// ops carry dots as Transaction::commit gives them (encode_ops ignores them).
#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <vector>

#include "bench_util.h"
#include "sealed_change.h"
#include "visit_store.h"
#include "workload.h"

namespace birga::bench {
namespace {

std::vector<crdt::Op> visit_ops(uint64_t records, uint64_t seed) {
  SplitMix64 g = stream(seed, kCreate);
  SplitMix64 ids(seed ^ 0x1D5ull);
  std::vector<crdt::Op> ops;
  ops.reserve(records * 8);
  for (uint64_t i = 0; i < records; ++i) {
    const VisitRecord r = make_record(g);
    std::array<uint8_t, 10> random{};
    const uint64_t a = ids.next(), b = ids.next();
    for (int k = 0; k < 8; ++k) random[k] = static_cast<uint8_t>(a >> (8 * k));
    random[8] = static_cast<uint8_t>(b);
    random[9] = static_cast<uint8_t>(b >> 8);
    const crdt::RecordId id = crdt::RecordId::make(1767225600000 + i / 500, random);
    const crdt::Value values[8] = {crdt::text(r.household_id),  crdt::text(r.visitor_id),
                                   crdt::integer(r.date),       crdt::text(r.status),
                                   crdt::text(r.needs),         crdt::text(r.notes),
                                   crdt::integer(r.aid_amount), crdt::text(r.geo)};
    for (int f = 0; f < 8; ++f) {
      crdt::Op op;
      op.collection = kVisits;
      op.record = id;
      op.kind = crdt::OpKind::kLwwWrite;
      op.field = kVisitFields[f];
      op.value = values[f];
      op.dot = crdt::Dot{crdt::ActorId::named("bench"), (uint64_t{1} << 20) | (ops.size() + 1)};
      ops.push_back(std::move(op));
    }
  }
  return ops;
}

size_t raw_text_bytes(const std::vector<crdt::Op>& ops) {
  size_t n = 0;
  for (const crdt::Op& op : ops) {
    if (const std::string* s = std::get_if<std::string>(&op.value)) n += s->size();
  }
  return n;
}

template <typename Fn>
double median_ms(uint64_t rounds, Fn&& fn) {
  std::vector<double> times;
  for (uint64_t i = 0; i < rounds; ++i) {
    Stopwatch sw;
    fn();
    times.push_back(sw.ms());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

[[noreturn]] void fail(const char* what, const Status& s) {
  std::fprintf(stderr, "birga-bench: %s: %s\n", what, s.to_string().c_str());
  std::exit(1);
}

}  // namespace

int run_opbody_bench(const Flags& flags) {
  const uint64_t records = flags.get_u64("records", 1000);
  const uint64_t rounds = std::max<uint64_t>(1, flags.get_u64("rounds", 21));
  const std::vector<crdt::Op> ops = visit_ops(records, flags.get_u64("seed", 42));

  engine::ChangeHeader h;
  h.author.fill(0xA1);
  h.scope = "tashkent/yunusobod/m0421";
  h.seq = 1;
  h.hlc = crdt::Timestamp::make(1767225600000, 0);

  Result<std::string> encoded = engine::encode_ops(ops);
  if (!encoded.is_ok()) fail("encode_ops", encoded.status());
  const std::string body = *encoded;
  if (flags.has("dump")) {
    std::ofstream out(flags.get("dump", ""), std::ios::binary);
    out << body;
    if (!out.flush()) fail("--dump", Status::unavailable("cannot write " + flags.get("dump", "")));
  }
  Result<std::vector<crdt::Op>> check = engine::decode_ops(body, h);
  if (!check.is_ok()) fail("decode_ops", check.status());
  for (size_t i = 0; i < ops.size(); ++i) {
    crdt::Op expected = ops[i];
    expected.dot = engine::op_dot(engine::actor_of(h.author), h.seq, i);
    expected.time = h.hlc;
    if ((*check)[i] != expected) {
      std::fprintf(stderr, "birga-bench: op %zu does not round-trip\n", i);
      return 1;
    }
  }
  const double encode_ms = median_ms(rounds, [&] { (void)engine::encode_ops(ops); });
  const double decode_ms = median_ms(rounds, [&] { (void)engine::decode_ops(body, h); });

  std::vector<int> levels = {1, 3, 6, 9, 12, 19};
  if (flags.has("level")) levels = {static_cast<int>(flags.get_u64("level", 3))};
  for (int level : levels) {
    std::string frame(ZSTD_compressBound(body.size()), '\0');
    size_t n = 0;
    const double compress_ms = median_ms(rounds, [&] {
      n = ZSTD_compress(frame.data(), frame.size(), body.data(), body.size(), level);
    });
    if (ZSTD_isError(n)) {
      std::fprintf(stderr, "birga-bench: zstd: %s\n", ZSTD_getErrorName(n));
      return 1;
    }
    frame.resize(n);
    std::string back(body.size(), '\0');
    const double decompress_ms = median_ms(rounds, [&] {
      (void)ZSTD_decompress(back.data(), back.size(), frame.data(), frame.size());
    });
    std::printf(
        "{\"peer\":\"birga\",\"bench\":\"opbody\",\"records\":%llu,\"ops\":%zu,"
        "\"raw_text_per_record\":%.1f,\"body_bytes\":%zu,\"body_per_record\":%.1f,"
        "\"zstd_level\":%d,\"zstd_bytes\":%zu,\"zstd_per_record\":%.1f,\"encode_ms\":%.3f,"
        "\"decode_ms\":%.3f,\"compress_ms\":%.3f,\"decompress_ms\":%.3f}\n",
        (unsigned long long)records, ops.size(), double(raw_text_bytes(ops)) / records, body.size(),
        double(body.size()) / records, level, n, double(n) / records, encode_ms, decode_ms,
        compress_ms, decompress_ms);
  }
  return 0;
}

}  // namespace birga::bench
