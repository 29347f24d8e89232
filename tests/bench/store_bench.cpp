// birga-bench --mode store: local write throughput (transactions of 1 and of 1,000 records),
// ingest throughput of a stream of sealed changes, bytes per record on disk, peak RSS.
#include <cstdio>
#include <filesystem>

#include "bench_util.h"
#include "birga/replica.h"
#include "visit_store.h"
#include "workload.h"

namespace birga::bench {
namespace {

const std::string kScope = "tashkent/yunusobod/m0421";

std::unique_ptr<Replica> open_new(const std::string& dir, uint64_t min_range_records) {
  ReplicaOptions o;
  o.passphrase = "bench passphrase";
  o.schema = visits_schema();
  o.min_range_records = min_range_records;
  auto r = Replica::create(dir, std::move(o));
  if (!r.is_ok()) {
    std::fprintf(stderr, "birga-bench: %s\n", r.status().to_string().c_str());
    std::exit(1);
  }
  ScopeKey key;
  key.fill(7);
  if (!(*r)->add_scope_key(kScope, 1, key).is_ok()) std::exit(1);
  return std::move(*r);
}

// Writes `n` records in transactions of `batch`; returns the summed commit time in ms.
double write_records(Replica& r, SplitMix64& g, uint64_t n, uint64_t batch) {
  double ms = 0;
  for (uint64_t done = 0; done < n;) {
    std::vector<VisitRecord> recs;
    for (uint64_t i = 0; i < batch && done + i < n; ++i) recs.push_back(make_record(g));
    Stopwatch sw;
    Transaction t = r.begin();
    for (const VisitRecord& rec : recs) write_visit(t, kScope, rec);
    Status s = t.commit();
    ms += sw.ms();
    if (!s.is_ok()) {
      std::fprintf(stderr, "birga-bench: commit: %s\n", s.to_string().c_str());
      std::exit(1);
    }
    done += recs.size();
  }
  return ms;
}

}  // namespace

int run_store_bench(const Flags& flags) {
  const uint64_t records = flags.get_u64("records", 100000);
  const uint64_t single = flags.get_u64("single", 2000);
  const std::string base = flags.get("dir", "/tmp/birga-bench-store");
  // ReplicaOptions::min_range_records; 0 stores every record in blocks.
  const uint64_t min_range = flags.get_u64("min-range-records", ReplicaOptions().min_range_records);
  std::filesystem::remove_all(base);
  std::filesystem::create_directories(base);
  SplitMix64 g = stream(flags.get_u64("seed", 42), kCreate);

  {
    auto a = open_new(base + "/single", min_range);
    reset_rss_peak();
    const double ms = write_records(*a, g, single, 1);
    std::printf(
        "{\"peer\":\"birga\",\"bench\":\"write\",\"records\":%llu,\"batch\":1,\"ms\":%.1f,"
        "\"records_per_s\":%.0f,\"rss_peak_mb\":%.1f}\n",
        (unsigned long long)single, ms, single / (ms / 1000), rss_peak_mb());
  }

  auto a = open_new(base + "/a", min_range);
  reset_rss_peak();
  const double ms = write_records(*a, g, records, 1000);
  const uint64_t a_bytes = dir_bytes(base + "/a");
  std::printf(
      "{\"peer\":\"birga\",\"bench\":\"write\",\"records\":%llu,\"batch\":1000,\"ms\":%.1f,"
      "\"records_per_s\":%.0f,\"disk_bytes\":%llu,\"bytes_per_record\":%.1f,"
      "\"rss_peak_mb\":%.1f}\n",
      (unsigned long long)records, ms, records / (ms / 1000), (unsigned long long)a_bytes,
      double(a_bytes) / records, rss_peak_mb());

  auto b = open_new(base + "/b", min_range);
  reset_rss_peak();
  auto changes = a->export_missing(kScope, crdt::VersionVector());
  if (!changes.is_ok()) return 1;
  size_t sealed_bytes = 0;
  for (const auto& c : *changes) sealed_bytes += c.size();
  Stopwatch sw;
  size_t applied = 0;
  const size_t per_batch = 10;  // changes per ingest transaction (10,000 records)
  for (size_t i = 0; i < changes->size(); i += per_batch) {
    std::vector<std::string> batch(changes->begin() + i,
                                   changes->begin() + std::min(changes->size(), i + per_batch));
    auto rep = b->ingest(batch);
    if (!rep.is_ok()) {
      std::fprintf(stderr, "birga-bench: ingest: %s\n", rep.status().to_string().c_str());
      return 1;
    }
    applied += rep->applied;
  }
  const double ingest_ms = sw.ms();
  const uint64_t ops = records * 8;
  const bool same = a->state_hash(kScope).value() == b->state_hash(kScope).value();
  std::printf(
      "{\"peer\":\"birga\",\"bench\":\"ingest\",\"changes\":%zu,\"ops\":%llu,\"ms\":%.1f,"
      "\"changes_per_s\":%.0f,\"ops_per_s\":%.0f,\"sealed_bytes\":%zu,\"disk_bytes\":%llu,"
      "\"converged\":%s,\"rss_peak_mb\":%.1f}\n",
      applied, (unsigned long long)ops, ingest_ms, applied / (ingest_ms / 1000),
      ops / (ingest_ms / 1000), sealed_bytes, (unsigned long long)dir_bytes(base + "/b"),
      same ? "true" : "false", rss_peak_mb());
  if (!flags.has("keep")) std::filesystem::remove_all(base);
  return same ? 0 : 1;
}

}  // namespace birga::bench
