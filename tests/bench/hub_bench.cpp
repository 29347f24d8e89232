// birga-bench --mode hub: a district hub under many concurrently syncing clients, over real
// loopback TCP with the full handshake (transport::Server and transport::async_sync).
//
// Setup (not timed): an authority; a hub replica enrolled "tashkent/yunusobod:r+relay"; N
// client replicas enrolled rw on M mahallas (client i in mahalla i % M), each with K local
// changes of R visit records; then the hub imports the authority's control log (once, after
// every enrolment). Every store is on disk under --dir.
//
// Run: the hub serves on its own thread (by default in a child process of its own, so its
// memory is measured apart from the clients'); every client syncs at once, each an
// async_sync coroutine on ONE client io_context thread. Round 1 delivers the clients' changes
// to the hub; round 2 (every client again) brings each client the other changes of its
// mahalla. One JSON line per round; the process exits non-zero if a session failed or the
// result is not correct.
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "bench_util.h"
#include "birga/authority.h"
#include "birga/replica.h"
#include "birga/transport/client.h"
#include "birga/transport/server.h"
#include "visit_store.h"
#include "workload.h"

namespace birga::bench {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

const std::string kDistrict = "tashkent/yunusobod";
const char* const kPassphrase = "bench passphrase";

ReplicaOptions replica_options() {
  ReplicaOptions o;
  o.passphrase = kPassphrase;
  o.schema = visits_schema();
  return o;
}

std::string mahalla_scope(uint64_t m) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s/m%04llu", kDistrict.c_str(), (unsigned long long)m);
  return buf;
}

// The record's text and integer fields, in bytes (what the record carries, before encoding).
size_t record_bytes(const VisitRecord& r) {
  return r.household_id.size() + r.visitor_id.size() + r.status.size() + r.needs.size() +
         r.notes.size() + r.geo.size() + 2 * sizeof(int64_t);
}

struct Params {
  uint64_t clients = 200;
  uint64_t mahallas = 50;
  uint64_t changes = 5;              // transactions (one change each) per client
  uint64_t records_per_change = 10;  // records per transaction
  uint64_t seed = 42;
  uint64_t timeout_s = 300;  // the longest a round may take
  uint64_t verify_mahallas = 10;
  bool hub_process = true;
  bool keep = false;
  std::string dir;
};

// Nearest-rank percentile of `v` (p in [0, 1]); 0 for an empty vector.
double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

// VmHWM / VmRSS of a process, in MiB (0 if unreadable).
double proc_status_mb(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      std::istringstream s(line.substr(std::strlen(field)));
      double kb = 0;
      s >> kb;
      return kb / 1024.0;
    }
  }
  return 0;
}

// CPU time (user + system) of this process, and of process `pid` from /proc/<pid>/stat, in ms.
double self_cpu_ms() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto ms = [](const timeval& t) { return t.tv_sec * 1000.0 + t.tv_usec / 1000.0; };
  return ms(u.ru_utime) + ms(u.ru_stime);
}
double proc_cpu_ms(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const size_t paren = stat.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) return 0;
  std::istringstream s(stat.substr(paren + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && s >> field; ++i) {  // fields 3.. after "pid (comm)"
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) * 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// ---- pipes between the bench and the hub process ---------------------------------------------

bool write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// One line (without its '\n') from `fd`, waiting at most `timeout`; nullopt on end of file,
// error or timeout. Reads a byte at a time: the lines are short and rare.
std::optional<std::string> read_line(int fd, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  std::string line;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd pfd{fd, POLLIN, 0};
    const int r = ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return std::nullopt;
    if (r == 0) continue;
    char c;
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    if (c == '\n') return line;
    line.push_back(c);
  }
}

// ---- the hub's view of a round -----------------------------------------------------------------

struct HubFigures {
  uint64_t sessions = 0;
  uint64_t failed = 0;
  uint64_t changes_received = 0;
  uint64_t changes_sent = 0;
  double session_ms_median = 0;
  double session_ms_p99 = 0;

  std::string encode() const {
    char buf[256];
    std::snprintf(buf, sizeof buf, "figures %llu %llu %llu %llu %.3f %.3f",
                  (unsigned long long)sessions, (unsigned long long)failed,
                  (unsigned long long)changes_received, (unsigned long long)changes_sent,
                  session_ms_median, session_ms_p99);
    return buf;
  }
  static std::optional<HubFigures> decode(const std::string& line) {
    std::istringstream in(line);
    std::string tag;
    HubFigures f;
    in >> tag >> f.sessions >> f.failed >> f.changes_received >> f.changes_sent >>
        f.session_ms_median >> f.session_ms_p99;
    if (tag != "figures" || in.fail()) return std::nullopt;
    return f;
  }
};

// Sessions as the server reports them (on its thread); read from another.
class HubTally {
 public:
  void add(const transport::SyncResult& r) {
    std::lock_guard<std::mutex> g(mu_);
    ++sessions_;
    if (!r.status.is_ok()) {
      ++failed_;
      if (failed_ <= 5) {
        std::fprintf(stderr, "birga-bench hub: %s\n", transport::describe(r).c_str());
      }
    }
    changes_received_ += r.stats.changes_received;
    changes_sent_ += r.stats.changes_sent;
    ms_.push_back(r.seconds * 1000);
    cv_.notify_all();
  }
  // Waits until `n` sessions ended since the last take() (at most `timeout`), returns their
  // figures and starts over.
  HubFigures take(uint64_t n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> g(mu_);
    cv_.wait_for(g, timeout, [&] { return sessions_ >= n; });
    HubFigures f;
    f.sessions = sessions_;
    f.failed = failed_;
    f.changes_received = changes_received_;
    f.changes_sent = changes_sent_;
    f.session_ms_median = percentile(ms_, 0.5);
    f.session_ms_p99 = percentile(ms_, 0.99);
    sessions_ = failed_ = changes_received_ = changes_sent_ = 0;
    ms_.clear();
    return f;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t sessions_ = 0, failed_ = 0, changes_received_ = 0, changes_sent_ = 0;
  std::vector<double> ms_;
};

transport::ServerOptions server_options(HubTally& tally, bool stop_on_signals) {
  transport::ServerOptions o;
  o.address = "127.0.0.1";  // loopback only
  o.port = 0;
  o.stop_on_signals = stop_on_signals;
  // Session timeouts: the defaults, as `birga serve` runs. Only failures are logged.
  const transport::LogSink err = transport::stderr_log_sink();
  o.log = [err](const std::string& line) {
    if (line.find(" closed: ") != std::string::npos || line.find("failed") != std::string::npos) {
      err("hub: " + line);
    }
  };
  o.on_session = [&tally](const transport::SyncResult& r) { tally.add(r); };
  return o;
}

// The hub process: waits for "go" (the setup is done), opens the hub replica, serves, writes
// "port N", then answers "take N MS" (the round's figures) and "reset" (clears its VmHWM)
// until SIGTERM. Never returns.
[[noreturn]] void hub_child(const std::string& dir, int cmd_fd, int reply_fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the bench
  const auto go = read_line(cmd_fd, std::chrono::hours(2));
  if (!go || *go != "go") ::_exit(3);
  auto hub = Replica::open(dir + "/hub", replica_options());
  if (!hub.is_ok()) {
    write_all(reply_fd, "error opening the hub: " + hub.status().to_string() + "\n");
    ::_exit(3);
  }
  HubTally tally;
  auto server = std::make_unique<transport::Server>(**hub, server_options(tally, true));
  if (Status s = server->listen(); !s.is_ok()) {
    write_all(reply_fd, "error listening: " + s.to_string() + "\n");
    ::_exit(3);
  }
  write_all(reply_fd, "port " + std::to_string(server->port()) + "\n");
  std::thread commands([&] {
    while (auto line = read_line(cmd_fd, std::chrono::hours(2))) {
      std::istringstream in(*line);
      std::string cmd;
      in >> cmd;
      if (cmd == "take") {
        uint64_t n = 0, ms = 0;
        in >> n >> ms;
        write_all(reply_fd, tally.take(n, std::chrono::milliseconds(ms)).encode() + "\n");
      } else if (cmd == "reset") {
        reset_rss_peak();
        write_all(reply_fd, "ok\n");
      }
    }
    ::kill(::getpid(), SIGTERM);  // the bench went away: stop serving
  });
  server->run();  // until SIGTERM
  server.reset();
  hub->reset();  // closes the store
  commands.detach();
  ::_exit(0);
}

// The hub, in a child process (the default) or on a thread of this one.
class Hub {
 public:
  Hub(const Params& p) : p_(p) {}
  ~Hub() { stop(); }

  // Forks the hub process (before the setup, while this process is small and has one
  // thread). Returns false on failure.
  bool fork_child() {
    int cmd[2], reply[2];
    if (::pipe(cmd) != 0 || ::pipe(reply) != 0) return false;
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
      ::close(cmd[1]);
      ::close(reply[0]);
      hub_child(p_.dir, cmd[0], reply[1]);
    }
    ::close(cmd[0]);
    ::close(reply[1]);
    pid_ = pid;
    cmd_fd_ = cmd[1];
    reply_fd_ = reply[0];
    return true;
  }

  // After the setup: starts serving; returns the port (0 on failure).
  uint16_t start() {
    if (p_.hub_process) {
      if (!write_all(cmd_fd_, "go\n")) return 0;
      const auto line = read_line(reply_fd_, 60s);
      if (!line || line->rfind("port ", 0) != 0) {
        std::fprintf(stderr, "birga-bench: the hub process did not start: %s\n",
                     line ? line->c_str() : "(no answer)");
        return 0;
      }
      return static_cast<uint16_t>(std::stoul(line->substr(5)));
    }
    auto hub = Replica::open(p_.dir + "/hub", replica_options());
    if (!hub.is_ok()) {
      std::fprintf(stderr, "birga-bench: %s\n", hub.status().to_string().c_str());
      return 0;
    }
    replica_ = std::move(*hub);
    server_ = std::make_unique<transport::Server>(*replica_, server_options(tally_, false));
    if (Status s = server_->listen(); !s.is_ok()) {
      std::fprintf(stderr, "birga-bench: listen: %s\n", s.to_string().c_str());
      return 0;
    }
    thread_ = std::thread([this] { server_->run(); });
    return server_->port();
  }

  // Clears the hub process's VmHWM (no-op in process: the bench's own is cleared).
  void reset_peak() {
    if (!p_.hub_process) return;
    write_all(cmd_fd_, "reset\n");
    read_line(reply_fd_, 10s);
  }
  // The hub process's VmHWM and VmRSS (MiB); nullopt when the hub runs in this process.
  std::optional<double> peak_mb() const {
    if (!p_.hub_process) return std::nullopt;
    return proc_status_mb(pid_, "VmHWM:");
  }
  std::optional<double> rss_mb() const {
    if (!p_.hub_process) return std::nullopt;
    return proc_status_mb(pid_, "VmRSS:");
  }
  std::optional<double> cpu_ms() const {
    if (!p_.hub_process) return std::nullopt;
    return proc_cpu_ms(pid_);
  }

  // The figures of the round's `n` sessions (waiting at most `timeout` for them to end).
  HubFigures take(uint64_t n, std::chrono::milliseconds timeout) {
    if (!p_.hub_process) return tally_.take(n, timeout);
    write_all(cmd_fd_, "take " + std::to_string(n) + " " + std::to_string(timeout.count()) + "\n");
    const auto line = read_line(reply_fd_, timeout + 10s);
    auto f = line ? HubFigures::decode(*line) : std::nullopt;
    if (!f) {
      std::fprintf(stderr, "birga-bench: no figures from the hub process\n");
      return {};
    }
    return *f;
  }

  // Stops the hub (SIGTERM to the process, bounded wait) and returns the hub replica, opened
  // here, for the checks.
  std::unique_ptr<Replica> stop_and_open() {
    stop();
    if (replica_) return std::move(replica_);
    auto hub = Replica::open(p_.dir + "/hub", replica_options());
    if (!hub.is_ok()) {
      std::fprintf(stderr, "birga-bench: reopening the hub: %s\n",
                   hub.status().to_string().c_str());
      return nullptr;
    }
    return std::move(*hub);
  }

  void stop() {
    if (server_) {
      server_->stop();
      if (thread_.joinable()) thread_.join();
      server_.reset();
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      bool reaped = false;
      for (int i = 0; i < 200 && !reaped; ++i) {  // at most 10 s
        reaped = ::waitpid(pid_, &status, WNOHANG) == pid_;
        if (!reaped) std::this_thread::sleep_for(50ms);
      }
      if (!reaped) {
        std::fprintf(stderr, "birga-bench: the hub process did not stop; killing it\n");
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
      pid_ = -1;
      ::close(cmd_fd_);
      ::close(reply_fd_);
    }
  }

 private:
  const Params& p_;
  pid_t pid_ = -1;
  int cmd_fd_ = -1, reply_fd_ = -1;
  HubTally tally_;
  std::unique_ptr<Replica> replica_;
  std::unique_ptr<transport::Server> server_;
  std::thread thread_;
};

// ---- the bench ----------------------------------------------------------------------------------

struct Client {
  std::unique_ptr<Replica> replica;
  std::string scope;
  crdt::ActorId actor;
  uint64_t own_counter = 0;  // its own entry of its scope's version vector after the setup
};

struct RoundFigures {
  double ms = 0;
  uint64_t failed = 0;  // client side: not ok, or not finished in time
  uint64_t changes_received_by_clients = 0;
  uint64_t changes_sent_by_clients = 0;
  std::vector<double> session_ms;
  HubFigures hub;
  std::optional<double> hub_peak_mb, hub_before_mb;
  double process_peak_mb = 0, process_before_mb = 0;
  std::optional<double> hub_cpu_ms;  // CPU time the hub process used during the round
  double process_cpu_ms = 0;         // ... and this process (the clients, and the hub in process)
};

class HubBench {
 public:
  explicit HubBench(const Flags& flags) : hub_(p_) {
    p_.clients = flags.get_u64("clients", 200);
    p_.mahallas = std::max<uint64_t>(1, flags.get_u64("mahallas", 50));
    p_.changes = flags.get_u64("changes", 5);
    p_.records_per_change = flags.get_u64("records-per-change", 10);
    p_.seed = flags.get_u64("seed", 42);
    p_.timeout_s = flags.get_u64("timeout", 300);
    p_.verify_mahallas = flags.get_u64("verify-mahallas", 10);
    p_.hub_process = !flags.has("in-process") && flags.get("hub-process", "1") != "0";
    p_.keep = flags.has("keep");
    p_.dir = flags.get("dir", "/tmp/birga-bench-hub");
  }
  int run();

 private:
  bool setup();
  RoundFigures run_round(uint16_t port);
  bool verify(Replica& hub);
  void print(int round, const RoundFigures& f, bool correct);

  Params p_;
  Hub hub_;
  std::unique_ptr<Authority> authority_;
  std::vector<Client> clients_;
  size_t record_bytes_ = 0;
  uint64_t records_written_ = 0;
  double setup_ms_ = 0;
};

bool HubBench::setup() {
  Stopwatch sw;
  authority_ = [&]() -> std::unique_ptr<Authority> {
    auto a = Authority::create(p_.dir + "/authority", kPassphrase);
    if (!a.is_ok()) std::fprintf(stderr, "birga-bench: %s\n", a.status().to_string().c_str());
    return a.is_ok() ? std::move(*a) : nullptr;
  }();
  if (!authority_) return false;
  auto enrol = [&](const std::string& name, Role role,
                   const ScopeGrant& grant) -> std::unique_ptr<Replica> {
    auto r = Replica::create(p_.dir + "/" + name, replica_options());
    if (!r.is_ok()) {
      std::fprintf(stderr, "birga-bench: %s: %s\n", name.c_str(), r.status().to_string().c_str());
      return nullptr;
    }
    auto bundle = authority_->enrol((*r)->device_key(), name, role, {grant}, 0);
    if (!bundle.is_ok()) {
      std::fprintf(stderr, "birga-bench: enrol %s: %s\n", name.c_str(),
                   bundle.status().to_string().c_str());
      return nullptr;
    }
    if (Status s = (*r)->install_certificate(bundle->encode()); !s.is_ok()) {
      std::fprintf(stderr, "birga-bench: install %s: %s\n", name.c_str(), s.to_string().c_str());
      return nullptr;
    }
    return std::move(*r);
  };

  auto hub = enrol("hub", Role::kHub, {kDistrict, static_cast<uint8_t>(kRead | kRelay)});
  if (!hub) return false;

  for (uint64_t i = 0; i < p_.clients; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "client-%04llu", (unsigned long long)i);
    Client c;
    c.scope = mahalla_scope(i % p_.mahallas);
    c.replica = enrol(name, Role::kField, {c.scope, static_cast<uint8_t>(kRead | kWrite)});
    if (!c.replica) return false;
    c.actor = c.replica->actor();
    SplitMix64 g = stream(p_.seed + i, kCreate);
    for (uint64_t k = 0; k < p_.changes; ++k) {
      Transaction t = c.replica->begin();
      for (uint64_t j = 0; j < p_.records_per_change; ++j) {
        const VisitRecord rec = make_record(g);
        record_bytes_ += record_bytes(rec);
        ++records_written_;
        write_visit(t, c.scope, rec);
      }
      if (Status s = t.commit(); !s.is_ok()) {
        std::fprintf(stderr, "birga-bench: commit %s: %s\n", name, s.to_string().c_str());
        return false;
      }
    }
    auto vv = c.replica->version_vector(c.scope);
    if (!vv.is_ok()) return false;
    c.own_counter = vv->get(c.actor);
    clients_.push_back(std::move(c));
  }

  // The hub imports the control log once, after every enrolment: it then holds every
  // certificate and the key envelopes of every mahalla.
  auto log = authority_->control_log();
  if (!log.is_ok()) return false;
  auto rep = hub->ingest(*log);
  if (!rep.is_ok() || !rep->refused.empty()) {
    std::fprintf(
        stderr, "birga-bench: the hub's import of the control log failed: %s\n",
        rep.is_ok() ? rep->refused.front().to_string().c_str() : rep.status().to_string().c_str());
    return false;
  }
  hub.reset();  // the hub is reopened by whoever serves it
  setup_ms_ = sw.ms();
  return true;
}

RoundFigures HubBench::run_round(uint16_t port) {
  RoundFigures f;
  hub_.reset_peak();
  reset_rss_peak();
  f.hub_before_mb = hub_.rss_mb();
  f.process_before_mb = rss_mb();
  const std::optional<double> hub_cpu0 = hub_.cpu_ms();
  const double cpu0 = self_cpu_ms();

  transport::ClientOptions co;  // the defaults, as `birga sync` runs
  asio::io_context io{1};
  const size_t n = clients_.size();
  std::vector<std::optional<transport::SyncResult>> results(n);
  size_t finished = 0;
  double last_ms = 0;
  Stopwatch sw;
  for (size_t i = 0; i < n; ++i) {
    asio::co_spawn(io, transport::async_sync(*clients_[i].replica, "127.0.0.1", port, co),
                   [&, i](std::exception_ptr e, transport::SyncResult r) {
                     if (e) r.status = Status::internal("client session threw");
                     results[i] = std::move(r);
                     if (++finished == n) last_ms = sw.ms();
                   });
  }
  io.run_for(std::chrono::seconds(p_.timeout_s));
  f.ms = finished == n ? last_ms : sw.ms();
  // What the process and the hub reached during the round (before anything else runs).
  f.process_peak_mb = rss_peak_mb();
  f.hub_peak_mb = hub_.peak_mb();
  f.process_cpu_ms = self_cpu_ms() - cpu0;
  if (hub_cpu0) f.hub_cpu_ms = *hub_.cpu_ms() - *hub_cpu0;

  size_t reported = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!results[i]) {
      ++f.failed;
      if (++reported <= 5) {
        std::fprintf(stderr, "birga-bench: client %zu did not finish within %llu s\n", i,
                     (unsigned long long)p_.timeout_s);
      }
      continue;
    }
    const transport::SyncResult& r = *results[i];
    f.session_ms.push_back(r.seconds * 1000);
    f.changes_received_by_clients += r.stats.changes_received;
    f.changes_sent_by_clients += r.stats.changes_sent;
    if (!r.status.is_ok()) {
      ++f.failed;
      if (++reported <= 5) {
        std::fprintf(stderr, "birga-bench: client %zu: %s\n", i, transport::describe(r).c_str());
      }
    }
  }
  // Every session the clients started has ended on the hub too (or will, shortly).
  f.hub = hub_.take(n, 30s);
  return f;
}

bool HubBench::verify(Replica& hub) {
  bool ok = true;
  auto fail = [&](const std::string& what) {
    if (ok) std::fprintf(stderr, "birga-bench: not correct: %s\n", what.c_str());
    ok = false;
  };
  // The hub holds every client's changes, and each client holds exactly what the hub holds of
  // its mahalla (version vectors).
  std::map<std::string, crdt::VersionVector> hub_vv;
  for (uint64_t m = 0; m < p_.mahallas && m < p_.clients; ++m) {
    auto vv = hub.version_vector(mahalla_scope(m));
    if (!vv.is_ok()) {
      fail("hub version vector: " + vv.status().to_string());
      continue;
    }
    hub_vv[mahalla_scope(m)] = *vv;
  }
  for (size_t i = 0; i < clients_.size(); ++i) {
    const Client& c = clients_[i];
    const crdt::VersionVector& hv = hub_vv[c.scope];
    if (hv.get(c.actor) < c.own_counter) {
      fail("the hub lacks changes of client " + std::to_string(i));
    }
    auto vv = c.replica->version_vector(c.scope);
    if (!vv.is_ok() || !(*vv == hv)) {
      fail("client " + std::to_string(i) + "'s version vector differs from the hub's");
    }
  }
  // A sample of mahallas: every client of each has the hub's state hash for it.
  const uint64_t in_use = std::min(p_.mahallas, p_.clients);
  const uint64_t sample = std::min(in_use, p_.verify_mahallas);
  for (uint64_t j = 0; j < sample; ++j) {
    const uint64_t m = j * in_use / sample;
    const std::string scope = mahalla_scope(m);
    auto expected = hub.state_hash(scope);
    if (!expected.is_ok()) {
      fail("hub state hash: " + expected.status().to_string());
      continue;
    }
    for (uint64_t i = m; i < clients_.size(); i += p_.mahallas) {
      auto h = clients_[i].replica->state_hash(scope);
      if (!h.is_ok() || *h != *expected) {
        fail("client " + std::to_string(i) + " differs from the hub on " + scope);
      }
    }
    // Every record of the mahalla is there.
    auto listed = clients_[m].replica->list(kVisits);
    const uint64_t writers = (clients_.size() - m + p_.mahallas - 1) / p_.mahallas;
    if (listed.is_ok() && listed->size() != writers * p_.changes * p_.records_per_change) {
      fail(scope + " holds " + std::to_string(listed->size()) + " records");
    }
  }
  if (Status s = hub.verify(); !s.is_ok()) fail("hub store: " + s.to_string());
  return ok;
}

void HubBench::print(int round, const RoundFigures& f, bool correct) {
  auto opt = [](const std::optional<double>& v) {
    char buf[32];
    if (!v) return std::string("null");
    std::snprintf(buf, sizeof buf, "%.1f", *v);
    return std::string(buf);
  };
  const double s = f.ms / 1000;
  std::printf(
      "{\"peer\":\"birga\",\"bench\":\"hub\",\"round\":%d,\"transport\":\"tcp-loopback\","
      "\"hub_process\":%s,\"clients\":%llu,\"mahallas\":%llu,\"changes_per_client\":%llu,"
      "\"records_per_change\":%llu,\"record_bytes_avg\":%.0f,"
      "\"changes_received_by_hub\":%llu,\"changes_sent_by_hub\":%llu,"
      "\"changes_received_by_clients\":%llu,\"ms\":%.1f,\"changes_per_s\":%.0f,"
      "\"client_changes_per_s\":%.0f,\"sessions_per_s\":%.0f,"
      "\"session_ms_median\":%.1f,\"session_ms_p99\":%.1f,\"session_ms_max\":%.1f,"
      "\"hub_session_ms_median\":%.1f,\"hub_session_ms_p99\":%.1f,"
      "\"sessions_failed\":%llu,\"hub_sessions\":%llu,\"hub_sessions_failed\":%llu,"
      "\"hub_rss_before_mb\":%s,\"hub_rss_peak_mb\":%s,"
      "\"process_rss_before_mb\":%.1f,\"process_rss_peak_mb\":%.1f,\"hub_cpu_ms\":%s,"
      "\"process_cpu_ms\":%.0f,\"setup_ms\":%.0f,"
      "\"correct\":%s}\n",
      round, p_.hub_process ? "true" : "false", (unsigned long long)p_.clients,
      (unsigned long long)p_.mahallas, (unsigned long long)p_.changes,
      (unsigned long long)p_.records_per_change,
      records_written_ ? double(record_bytes_) / records_written_ : 0.0,
      (unsigned long long)f.hub.changes_received, (unsigned long long)f.hub.changes_sent,
      (unsigned long long)f.changes_received_by_clients, f.ms, f.hub.changes_received / s,
      f.changes_received_by_clients / s, clients_.size() / s, percentile(f.session_ms, 0.5),
      percentile(f.session_ms, 0.99), percentile(f.session_ms, 1.0), f.hub.session_ms_median,
      f.hub.session_ms_p99, (unsigned long long)f.failed, (unsigned long long)f.hub.sessions,
      (unsigned long long)f.hub.failed, opt(f.hub_before_mb).c_str(), opt(f.hub_peak_mb).c_str(),
      f.process_before_mb, f.process_peak_mb, opt(f.hub_cpu_ms).c_str(), f.process_cpu_ms,
      setup_ms_, correct ? "true" : "false");
  std::fflush(stdout);
}

int HubBench::run() {
  std::filesystem::remove_all(p_.dir);
  std::filesystem::create_directories(p_.dir);
  setenv("BIRGA_FAST_KDF", "1", 1);  // key-file cost is not what is measured here
  ::signal(SIGPIPE, SIG_IGN);
  if (p_.hub_process && !hub_.fork_child()) {
    std::fprintf(stderr, "birga-bench: cannot fork the hub process: %s\n", std::strerror(errno));
    return 1;
  }
  if (!setup()) {
    std::fprintf(stderr, "birga-bench: setup failed\n");
    return 1;
  }
  const uint16_t port = hub_.start();
  if (port == 0) return 1;

  // Round 1: every client delivers its changes. Correct when every session completed and the
  // hub received every client's changes, each once.
  RoundFigures r1 = run_round(port);
  const uint64_t expected = p_.clients * p_.changes;
  const bool ok1 = r1.failed == 0 && r1.hub.failed == 0 && r1.hub.sessions == p_.clients &&
                   r1.hub.changes_received == expected;
  if (r1.hub.changes_received != expected) {
    std::fprintf(stderr, "birga-bench: round 1: the hub received %llu changes, expected %llu\n",
                 (unsigned long long)r1.hub.changes_received, (unsigned long long)expected);
  }
  print(1, r1, ok1);

  // Round 2: every client receives the rest of its mahalla.
  RoundFigures r2 = run_round(port);
  std::unique_ptr<Replica> hub = hub_.stop_and_open();
  const bool ok2 =
      r2.failed == 0 && r2.hub.failed == 0 && r2.hub.sessions == p_.clients && hub && verify(*hub);
  print(2, r2, ok2);

  hub.reset();
  clients_.clear();
  if (!p_.keep) std::filesystem::remove_all(p_.dir);
  return ok1 && ok2 ? 0 : 1;
}

}  // namespace

int run_hub_bench(const Flags& flags) {
  HubBench b(flags);
  return b.run();
}

}  // namespace birga::bench
