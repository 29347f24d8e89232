// birga-bench --mode district: the workload of ../shared/bench/WORKLOAD.md through Birga's
// real stack: two enrolled replicas with LMDB stores on disk, sealed (signed, compressed,
// encrypted) changes, and the sync session, messages handed over in memory.
#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include "bench_util.h"
#include "birga/authority.h"
#include "birga/replica.h"
#include "birga/session.h"
#include "birga/transport/client.h"
#include "birga/transport/server.h"
#include "district_data.h"
#include "visit_store.h"

namespace birga::bench {
namespace {

const std::string kScope = "tashkent/yunusobod/m0421";

// ---- memory sampling (WORKLOAD.md section 10) ----------------------------------------------

class RssSampler {
 public:
  RssSampler() : thread_([this] { loop(); }) {}
  ~RssSampler() {
    stop_ = true;
    thread_.join();
  }
  // Verification (dumps, hashes) runs between a phase's end and the next one's start: it is
  // not sampled (WORKLOAD.md section 10: not counted in any memory figure).
  void pause() { paused_ = true; }
  void resume() { paused_ = false; }
  void sample() {
    if (paused_) return;
    const double now = rss_mb();
    std::lock_guard<std::mutex> lock(mu_);
    high_ = std::max(high_, now);
  }
  double high() {
    std::lock_guard<std::mutex> lock(mu_);
    return high_;
  }

 private:
  void loop() {
    while (!stop_) {
      sample();
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }
  std::mutex mu_;
  double high_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  std::thread thread_;
};

// ---- records --------------------------------------------------------------------------------

// The record's id is its key's bytes, zero padded: the key is recovered from the id.
crdt::RecordId id_of(const std::string& key) {
  crdt::RecordId id;
  std::copy_n(key.begin(), std::min<size_t>(key.size(), 16), id.bytes.begin());
  return id;
}

std::string key_of(const crdt::RecordId& id) {
  const auto end = std::find(id.bytes.begin(), id.bytes.end(), 0);
  return std::string(id.bytes.begin(), end);
}

// The canonical dump (section 8) of a replica; `masked` writes '*' for the given records'
// status.
std::string dump(const Replica& r, const std::set<std::string>& masked = {}) {
  auto records = r.list(kVisits);
  if (!records.is_ok()) return "error: " + records.status().to_string();
  std::vector<std::pair<std::string, std::string>> lines;
  for (const RecordView& v : *records) {
    const std::string key = key_of(v.id);
    std::string line = key;
    for (const char* f : kVisitFields) {
      const auto value = v.value(f);
      std::string text = value ? crdt::to_display(*value) : "";
      if (masked.count(key) && std::string(f) == "status") text = "*";
      line += "\t" + text;
    }
    lines.emplace_back(key, line + "\n");
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (auto& l : lines) out += l.second;
  return out;
}

// ---- sync in memory -------------------------------------------------------------------------

struct SyncFigures {
  uint64_t bytes_a_to_b = 0, bytes_b_to_a = 0, messages = 0, round_trips = 0;
  double ms = 0;
  bool completed = false;
  std::string error;
};

// Runs a full session between `a` and `b`, `first` ('a' or 'b') sending first, turns strictly
// alternating, until neither side has anything to send.
SyncFigures memory_sync(Replica& a, Replica& b, char first, RssSampler& rss) {
  SyncFigures f;
  Stopwatch sw;
  auto ha = Handshake::begin(a, first == 'a');
  auto hb = Handshake::begin(b, first == 'b');
  if (!ha.is_ok() || !hb.is_ok()) {
    f.error = "handshake: " + (ha.is_ok() ? hb.status() : ha.status()).to_string();
    return f;
  }
  auto pa = (*ha)->receive_hello((*hb)->hello());
  auto pb = (*hb)->receive_hello((*ha)->hello());
  if (!pa.is_ok() || !pb.is_ok() || !(*ha)->receive_proof(*pb).is_ok() ||
      !(*hb)->receive_proof(*pa).is_ok()) {
    f.error = "handshake failed";
    return f;
  }
  SyncSession sa(a, (*ha)->peer()), sb(b, (*hb)->peer());
  std::vector<std::string> to_b = sa.start(), to_a = sb.start();
  char turn = first;
  for (int idle = 0, guard = 0; idle < 2 && guard < 1000000; ++guard) {
    std::vector<std::string>& inbox = turn == 'a' ? to_b : to_a;  // what this side sends
    std::vector<std::string>& other = turn == 'a' ? to_a : to_b;
    SyncSession& receiver = turn == 'a' ? sb : sa;
    if (inbox.empty()) {
      ++idle;
    } else {
      idle = 0;
      std::vector<std::string> sending;
      sending.swap(inbox);
      for (std::string& m : sending) {
        (turn == 'a' ? f.bytes_a_to_b : f.bytes_b_to_a) += m.size();
        ++f.messages;
        auto replies = receiver.receive(m);
        rss.sample();
        if (!replies.is_ok()) {
          f.error = replies.status().to_string();
          return f;
        }
        for (std::string& r : *replies) other.push_back(std::move(r));
      }
    }
    turn = turn == 'a' ? 'b' : 'a';
  }
  f.ms = sw.ms();
  f.completed = sa.done() && sb.done();
  f.round_trips = std::max(sa.stats().round_trips, sb.stats().round_trips);
  return f;
}

// The same exchange over a real loopback TCP connection with the full handshake: the side
// that goes first connects (transport::sync_once); the other serves (transport::Server on its
// own thread). Bytes are what crossed the socket, frame headers and AEAD tags included.
SyncFigures tcp_sync(Replica& a, Replica& b, char first, RssSampler& rss) {
  SyncFigures f;
  Replica& client = first == 'a' ? a : b;
  Replica& served = first == 'a' ? b : a;
  transport::ServerOptions so;
  so.address = "127.0.0.1";
  so.port = 0;
  so.log = nullptr;
  transport::Server server(served, so);
  if (Status s = server.listen(); !s.is_ok()) {
    f.error = "listen: " + s.to_string();
    return f;
  }
  std::thread serving([&] { server.run(); });
  transport::ClientOptions co;
  co.progress = [&](const SyncStats&) { rss.sample(); };
  Stopwatch sw;
  const transport::SyncResult r = transport::sync_once(client, "127.0.0.1", server.port(), co);
  f.ms = sw.ms();
  server.stop();
  serving.join();
  const bool a_is_client = first == 'a';
  f.bytes_a_to_b = a_is_client ? r.wire_bytes_sent : r.wire_bytes_received;
  f.bytes_b_to_a = a_is_client ? r.wire_bytes_received : r.wire_bytes_sent;
  f.messages = r.stats.messages_sent + r.stats.messages_received;
  f.round_trips = r.stats.round_trips;
  f.completed = r.status.is_ok();
  if (!r.status.is_ok()) f.error = r.status.to_string();
  return f;
}

// ---- profiling hook ------------------------------------------------------------------------

// `perf record -D -1 --control fifo:CTL ...` with BIRGA_PERF_CTL=CTL and BIRGA_PERF_PHASE=<phase>
// profiles that one phase only (data generation and verification stay out of the profile).
class PerfPhase {
 public:
  PerfPhase(const char* phase) {
    const char* ctl = getenv("BIRGA_PERF_CTL");
    const char* want = getenv("BIRGA_PERF_PHASE");
    if (ctl && want && std::string(want) == phase) send(ctl, "enable\n"), ctl_ = ctl;
  }
  ~PerfPhase() {
    if (ctl_) send(ctl_, "disable\n");
  }

 private:
  static void send(const char* path, const char* what) {
    if (FILE* f = std::fopen(path, "w")) std::fputs(what, f), std::fclose(f);
  }
  const char* ctl_ = nullptr;
};

// ---- phases ---------------------------------------------------------------------------------

struct PhaseMemory {
  double rss_mb, phase_peak_mb;
};

class District {
 public:
  District(const Flags& flags) : flags_(flags) {
    p_.records = flags.get_u64("records", 100000);
    p_.pct_bp = static_cast<uint64_t>(std::stod(flags.get("pct", "1")) * 100 + 0.5);
    p_.new_records = flags.get_u64("new", 500);
    p_.conflicts = flags.get_u64("conflicts", 100);
    p_.batch = flags.get_u64("batch", 1000);
    p_.seed = flags.get_u64("seed", 42);
    dir_ = flags.get("dir", "/tmp/birga-bench-district");
    tcp_ = flags.get("transport", "memory") == "tcp";
  }
  int run();

 private:
  void begin_phase() {
    // The previous phase's verification (dumps, hashes) freed its memory and read every record
    // of both stores: hand the heap back to the system and the stores' pages back to the page
    // cache (Replica::release_memory), so it is not counted in this phase (WORKLOAD.md section
    // 10; the JavaScript peers force a GC here).
    malloc_trim(0);
    for (Replica* r : {a_.get(), b_.get()}) {
      if (r) (void)r->release_memory();
    }
    reset_rss_peak();
    rss_.resume();
    rss_.sample();
    if (getenv("BIRGA_BENCH_DEBUG")) std::fprintf(stderr, "phase start: rss %.1f MB\n", rss_mb());
  }
  PhaseMemory end_phase() {
    rss_.sample();
    rss_.pause();
    const double peak = rss_peak_mb();
    peak_ = std::max(peak_, peak);
    return {rss_.high(), peak};
  }
  std::string common(const char* phase) const;
  void print(const std::string& line) { std::printf("%s}\n", line.c_str()), std::fflush(stdout); }
  bool setup();
  double write_ops(Replica& r, const std::vector<DivergeOp>& ops);

  const Flags& flags_;
  DistrictParams p_;
  std::string dir_;
  DistrictData data_;
  RssSampler rss_;
  double peak_ = 0;
  SyncFigures sync(char first) {
    return tcp_ ? tcp_sync(*a_, *b_, first, rss_) : memory_sync(*a_, *b_, first, rss_);
  }

  bool tcp_ = false;
  std::unique_ptr<Authority> authority_;
  std::unique_ptr<Replica> a_, b_;
};

std::string District::common(const char* phase) const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"peer\":\"birga\",\"version\":\"" BIRGA_VERSION_STRING
                "\",\"transport\":\"%s\",\"phase\":\"%s\","
                "\"records\":%llu,\"pct\":%g,\"new\":%llu,\"conflicts\":%llu,\"batch\":%llu,"
                "\"seed\":%llu",
                tcp_ ? "tcp-loopback" : "memory", phase, (unsigned long long)p_.records,
                p_.pct_bp / 100.0, (unsigned long long)p_.new_records,
                (unsigned long long)p_.conflicts, (unsigned long long)p_.batch,
                (unsigned long long)p_.seed);
  return buf;
}

bool District::setup() {
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  setenv("BIRGA_FAST_KDF", "1", 1);  // key-file cost is not what is measured here
  auto auth = Authority::create(dir_ + "/authority", "bench passphrase");
  if (!auth.is_ok()) return false;
  authority_ = std::move(*auth);
  for (auto [name, slot] : {std::pair{"a", &a_}, std::pair{"b", &b_}}) {
    ReplicaOptions o;
    o.passphrase = "bench passphrase";
    o.schema = visits_schema();
    auto r = Replica::create(dir_ + "/" + name, std::move(o));
    if (!r.is_ok()) return false;
    auto bundle =
        authority_->enrol((*r)->device_key(), name, Role::kField, {{kScope, kRead | kWrite}}, 0);
    if (!bundle.is_ok() || !(*r)->install_certificate(bundle->encode()).is_ok()) return false;
    *slot = std::move(*r);
  }
  // Both replicas start from the same control log (B's bundle holds all of it).
  auto log = authority_->control_log();
  return log.is_ok() && a_->ingest(*log).is_ok();
}

double District::write_ops(Replica& r, const std::vector<DivergeOp>& ops) {
  double ms = 0;
  for (size_t i = 0; i < ops.size(); i += p_.batch) {
    Stopwatch sw;
    Transaction t = r.begin();
    for (size_t j = i; j < std::min(ops.size(), i + p_.batch); ++j) {
      const DivergeOp& op = ops[j];
      if (op.kind == DivergeOp::kCreate) {
        write_visit(t, kScope, op.record, id_of(record_key('b', op.index)));
      } else {
        t.set(kVisits, id_of(record_key('a', op.index)),
              op.kind == DivergeOp::kSetStatus ? "status" : "notes", crdt::text(op.value));
      }
    }
    Status s = t.commit();
    ms += sw.ms();
    rss_.sample();
    if (getenv("BIRGA_BENCH_DEBUG")) {
      std::ifstream st("/proc/self/status");
      for (std::string l; std::getline(st, l);) {
        if (l.rfind("Rss", 0) == 0) std::fprintf(stderr, "%s  ", l.c_str());
      }
      std::fprintf(stderr, "\n");
    }
    if (!s.is_ok()) std::fprintf(stderr, "birga-bench: %s\n", s.to_string().c_str());
  }
  return ms;
}

int District::run() {
  data_ = generate_district(p_);
  const std::string expected_dataset = data_.dataset_hash();
  const std::string expected_masked = data_.final_hash('*');
  if (flags_.has("gen-only")) {
    std::printf(
        "{\"records\":%llu,\"dataset_bytes\":%zu,\"dataset_sha256\":\"%s\","
        "\"final_masked_sha256\":\"%s\",\"final_b_wins_sha256\":\"%s\","
        "\"final_a_wins_sha256\":\"%s\"}\n",
        (unsigned long long)p_.records, data_.dataset_dump().size(), expected_dataset.c_str(),
        expected_masked.c_str(), data_.final_hash('b').c_str(), data_.final_hash('a').c_str());
    return 0;
  }
  if (!setup()) {
    std::fprintf(stderr, "birga-bench: setting up replicas failed\n");
    return 1;
  }
  const double base = rss_mb();
  bool all_ok = true;

  // Phase 1: create. Each transaction's records are generated just before it, untimed.
  begin_phase();
  double ms = 0;
  SplitMix64 create = stream(p_.seed, kCreate);
  std::vector<VisitRecord> batch;
  std::optional<PerfPhase> perf_create("create");
  for (uint64_t i = 0; i < p_.records; i += p_.batch) {
    batch.clear();
    for (uint64_t j = i; j < std::min(p_.records, i + p_.batch); ++j) {
      batch.push_back(make_record(create));
    }
    Stopwatch sw;
    Transaction t = a_->begin();
    for (uint64_t j = i; j < std::min(p_.records, i + p_.batch); ++j) {
      write_visit(t, kScope, batch[j - i], id_of(record_key('a', j)));
    }
    Status s = t.commit();
    ms += sw.ms();
    rss_.sample();
    if (!s.is_ok()) {
      std::fprintf(stderr, "birga-bench: create: %s\n", s.to_string().c_str());
      return 1;
    }
  }
  perf_create.reset();
  PhaseMemory mem = end_phase();
  print(common("create") + ",\"ms\":" + std::to_string(ms) +
        ",\"bytes_a_to_b\":null,\"bytes_b_to_a\":null,\"messages\":null,\"round_trips\":null" +
        ",\"state_bytes\":" + std::to_string(dir_bytes(dir_ + "/a")) +
        ",\"save_ms\":0,\"converged\":null,\"correct\":" +
        (sha256_hex(dump(*a_)) == expected_dataset ? "true" : "false") + ",\"rss_mb\":" +
        std::to_string(mem.rss_mb) + ",\"rss_phase_peak_mb\":" + std::to_string(mem.phase_peak_mb) +
        ",\"rss_peak_mb\":" + std::to_string(peak_) + ",\"rss_base_mb\":" + std::to_string(base));

  // Phase 2: initial sync, B first.
  begin_phase();
  std::optional<PerfPhase> perf_sync("initial_sync");
  SyncFigures f = sync('b');
  perf_sync.reset();
  mem = end_phase();
  const std::string hash_b = sha256_hex(dump(*b_));
  const bool converged2 = f.completed && hash_b == sha256_hex(dump(*a_)) &&
                          a_->version_vector(kScope).value() == b_->version_vector(kScope).value();
  const bool correct2 = hash_b == expected_dataset;
  all_ok = all_ok && converged2 && correct2;
  auto sync_line = [&](const char* phase, const SyncFigures& s, const char* state_of) {
    return common(phase) + ",\"ms\":" + std::to_string(s.ms) +
           ",\"bytes_a_to_b\":" + std::to_string(s.bytes_a_to_b) +
           ",\"bytes_b_to_a\":" + std::to_string(s.bytes_b_to_a) +
           ",\"messages\":" + std::to_string(s.messages) +
           ",\"round_trips\":" + std::to_string(s.round_trips) +
           ",\"state_bytes\":" + std::to_string(dir_bytes(dir_ + "/" + state_of)) +
           ",\"rss_mb\":" + std::to_string(mem.rss_mb) +
           ",\"rss_phase_peak_mb\":" + std::to_string(mem.phase_peak_mb) +
           ",\"rss_peak_mb\":" + std::to_string(peak_) +
           (s.error.empty() ? "" : ",\"error\":\"" + s.error + "\"");
  };
  print(sync_line("initial_sync", f, "b") + ",\"converged\":" + (converged2 ? "true" : "false") +
        ",\"correct\":" + (correct2 ? "true" : "false") + ",\"hash\":\"" + hash_b + "\"");

  // Phase 3: diverge.
  begin_phase();
  const double ms_a = write_ops(*a_, data_.a_ops);
  const double ms_b = write_ops(*b_, data_.b_ops);
  mem = end_phase();
  print(common("diverge") + ",\"ms\":" + std::to_string(ms_a + ms_b) +
        ",\"ms_a\":" + std::to_string(ms_a) + ",\"ms_b\":" + std::to_string(ms_b) +
        ",\"bytes_a_to_b\":null,\"bytes_b_to_a\":null,\"messages\":null,\"round_trips\":null" +
        ",\"state_bytes\":null,\"converged\":null,\"rss_mb\":" + std::to_string(mem.rss_mb) +
        ",\"rss_phase_peak_mb\":" + std::to_string(mem.phase_peak_mb) +
        ",\"rss_peak_mb\":" + std::to_string(peak_));

  // Phase 4: reconcile, A first.
  begin_phase();
  f = sync('a');
  mem = end_phase();
  std::set<std::string> masked;
  for (uint64_t i : data_.c_set) masked.insert(record_key('a', i));
  const std::string da = dump(*a_), db = dump(*b_);
  const bool converged4 = f.completed && da == db &&
                          a_->version_vector(kScope).value() == b_->version_vector(kScope).value();
  bool correct4 = sha256_hex(dump(*a_, masked)) == expected_masked &&
                  sha256_hex(dump(*b_, masked)) == expected_masked;
  uint64_t a_wins = 0;
  for (size_t k = 0; k < data_.c_set.size(); ++k) {
    const uint64_t i = data_.c_set[k];
    const crdt::RecordId id = id_of(record_key('a', i));
    auto va = a_->get(kVisits, id), vb = b_->get(kVisits, id);
    const std::string sa = va.is_ok() && *va ? crdt::to_display(*(*va)->value("status")) : "";
    const std::string sb = vb.is_ok() && *vb ? crdt::to_display(*(*vb)->value("status")) : "";
    const std::string& a_wrote = data_.a_ops[data_.a_set.size() + k].value;
    const std::string& b_wrote = data_.b_ops[data_.b_set.size() + p_.new_records + k].value;
    if (sa != sb || (sa != a_wrote && sa != b_wrote)) correct4 = false;
    if (sa == a_wrote) ++a_wins;
  }
  all_ok = all_ok && converged4 && correct4;
  print(sync_line("reconcile", f, "a") + ",\"converged\":" + (converged4 ? "true" : "false") +
        ",\"correct\":" + (correct4 ? "true" : "false") +
        ",\"conflict_a_wins\":" + std::to_string(a_wins) + ",\"hash\":\"" + sha256_hex(da) +
        "\",\"persisted_peer_state\":\"none: each sync starts from the peers' summaries\"");

  // Optional phase (section 7b): a fresh replica opens a copy of A's store (copied untimed,
  // while A is idle: an LMDB file at rest is consistent) until the collection can be read.
  if (flags_.has("load")) {
    const std::string copy = dir_ + "/load";
    std::filesystem::create_directories(copy);
    std::filesystem::copy_file(dir_ + "/a/data.mdb", copy + "/data.mdb");
    begin_phase();
    Stopwatch sw;
    ReplicaOptions o;
    o.passphrase = "bench passphrase";
    o.schema = visits_schema();
    auto loaded = Replica::open(copy, std::move(o));
    bool readable = false;
    if (loaded.is_ok()) {
      auto first = (*loaded)->get(kVisits, id_of(record_key('a', 0)));
      readable = first.is_ok() && first->has_value();
    }
    const double load_ms = sw.ms();
    mem = end_phase();
    const bool load_correct = readable && sha256_hex(dump(**loaded, masked)) == expected_masked;
    all_ok = all_ok && load_correct;
    print(common("load") + ",\"ms\":" + std::to_string(load_ms) +
          ",\"bytes_a_to_b\":null,\"bytes_b_to_a\":null,\"messages\":null,"
          "\"round_trips\":null,\"state_bytes\":" +
          std::to_string(dir_bytes(copy)) + ",\"converged\":null,\"correct\":" +
          (load_correct ? "true" : "false") + ",\"rss_mb\":" + std::to_string(mem.rss_mb) +
          ",\"rss_phase_peak_mb\":" + std::to_string(mem.phase_peak_mb) +
          ",\"rss_peak_mb\":" + std::to_string(peak_) +
          ",\"load\":\"open the store and read one record (the collection is then readable)\"");
  }

  if (const std::string dump_dir = flags_.get("dump-dir", ""); !dump_dir.empty()) {
    std::filesystem::create_directories(dump_dir);
    std::ofstream(dump_dir + "/birga-a.tsv") << da;
    std::ofstream(dump_dir + "/birga-b.tsv") << db;
    std::ofstream(dump_dir + "/expected-masked.tsv") << data_.final_dump('*');
  }
  if (!flags_.has("keep")) std::filesystem::remove_all(dir_);
  return all_ok ? 0 : 1;
}

}  // namespace

int run_district_bench(const Flags& flags) {
  District d(flags);
  return d.run();
}

}  // namespace birga::bench
