// Background `birga` processes for the multi-process sync tests, on top of cli_fixture.h.
//
// A Process runs the real binary in a Cli's directory with the same environment as Cli::run
// (BIRGA_PASSPHRASE, BIRGA_FAST_KDF=1, stdin from /dev/null) and its own stdout/stderr files.
// It is stopped when it goes out of scope, even when a test fails: SIGTERM, then SIGKILL after
// a grace period; the child also gets SIGKILL if the test process dies (PR_SET_PDEATHSIG).
// A Serve is `birga serve --listen 127.0.0.1:0 --json` (or another --listen) whose port is read
// from its first stdout line, {"listening":"127.0.0.1:N","port":N}. Every wait here is bounded
// in time.
//
// Thread rule: use a Process from one thread. fork() copies only that thread, so the child
// runs async-signal-safe calls only (argv and environment are prepared before fork).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli_fixture.h"
#include "mini_json.h"

extern char** environ;

namespace birga::test {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

class Process {
 public:
  Process(const Cli& cli, const std::vector<std::string>& args, const EnvChanges& env = {}) {
    static std::atomic<int> counter{0};
    const std::string stem = cli.path(".proc-" + std::to_string(++counter));
    out_path_ = stem + ".out";
    err_path_ = stem + ".err";
    command_ = "birga " + Cli::join(args);

    std::vector<std::string> argv_s = {BIRGA_CLI_PATH};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<std::string> env_s = environment(env);
    std::vector<char*> argv, envp;
    for (std::string& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    for (std::string& s : env_s) envp.push_back(s.data());
    envp.push_back(nullptr);
    const std::string dir = cli.dir();
    const pid_t parent = getpid();

    pid_ = fork();
    if (pid_ < 0) FAIL("fork failed: " << std::strerror(errno));
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(123);
      if (chdir(dir.c_str()) != 0) _exit(120);
      const int in = open("/dev/null", O_RDONLY);
      const int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      const int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (in < 0 || out < 0 || err < 0) _exit(121);
      dup2(in, 0);
      dup2(out, 1);
      dup2(err, 2);
      execve(argv[0], argv.data(), envp.data());
      _exit(122);
    }
  }
  ~Process() { stop(); }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& command() const { return command_; }

  // True while the process has not exited (reaps it once it has).
  bool running() {
    if (code_) return false;
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false;
    }
    return r == 0;
  }

  // The exit code once it has exited within `timeout`; nullopt if it is still running.
  std::optional<int> wait_for(std::chrono::milliseconds timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    while (running()) {
      if (SteadyClock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(5ms);
    }
    return code_;
  }

  // Waits for the exit; a process still running after `timeout` is killed and fails the test.
  int wait(std::chrono::milliseconds timeout = 30s) {
    if (auto code = wait_for(timeout)) return *code;
    const std::string e = err();
    stop();
    FAIL(command_ << ": still running after " << timeout.count() << " ms (killed)\nstderr: " << e);
    return -1;
  }

  // SIGTERM, then SIGKILL after `grace`. Returns the exit code (128 + signal when killed).
  int stop(std::chrono::milliseconds grace = 5s) {
    if (!running()) return *code_;
    ::kill(pid_, SIGTERM);
    if (auto code = wait_for(grace)) return *code;
    kill9();
    return *code_;
  }

  // SIGKILL now (a crash), and reap.
  void kill9() {
    if (!running()) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    code_ = 128 + SIGKILL;
  }

  std::string out() const { return Cli::slurp(out_path_); }
  std::string err() const { return Cli::slurp(err_path_); }
  RunResult result() const {
    RunResult r;
    r.code = code_.value_or(-1);
    r.out = out();
    r.err = err();
    return r;
  }

 private:
  // The environment Cli::run gives a command, with `changes` applied.
  static std::vector<std::string> environment(const EnvChanges& changes) {
    EnvChanges all = {{"BIRGA_PASSPHRASE", std::string(kPassphrase)},
                      {"BIRGA_FAST_KDF", std::string("1")},
                      {"BIRGA_DIR", std::nullopt},
                      {"BIRGA_DEVICE_PASSPHRASE", std::nullopt},
                      {"BIRGA_AUTHORITY_PASSPHRASE", std::nullopt}};
    for (const auto& [k, v] : changes) all[k] = v;
    std::vector<std::string> out;
    for (char** e = environ; *e; ++e) {
      const std::string entry = *e;
      if (all.count(entry.substr(0, entry.find('='))) == 0) out.push_back(entry);
    }
    for (const auto& [k, v] : all) {
      if (v) out.push_back(k + "=" + *v);
    }
    return out;
  }

  pid_t pid_ = -1;
  std::optional<int> code_;
  std::string out_path_, err_path_, command_;
};

// Runs a command to its end, bounded in time (a hung process is killed and fails the test).
inline RunResult run_bounded(const Cli& cli, const std::vector<std::string>& args,
                             std::chrono::milliseconds timeout = 30s, const EnvChanges& env = {}) {
  Process p(cli, args, env);
  p.wait(timeout);
  return p.result();
}

// `birga serve --dir DIR --listen 127.0.0.1:0 --json` (or another --listen), started and
// listening.
class Serve {
 public:
  Serve(const Cli& cli, const std::string& dir, const EnvChanges& env = {},
        const std::string& listen = "127.0.0.1:0")
      : dir_(dir), process_(cli, {"serve", "--dir", dir, "--listen", listen, "--json"}, env) {
    const auto deadline = SteadyClock::now() + 10s;
    for (;;) {
      const std::string out = process_.out();
      if (const size_t end = out.find('\n'); end != std::string::npos) {
        const Json listening = Json::parse(out.substr(0, end));
        port_ = static_cast<uint16_t>(listening["port"].i);
        address_ = listening["listening"].s;
        CHECK(Catch::endsWith(address_, ":" + std::to_string(port_)));
        break;
      }
      if (!process_.running() || SteadyClock::now() > deadline) {
        const std::string err = process_.err();
        process_.stop();
        FAIL("birga serve --dir " << dir << " did not start listening\nstdout: " << out
                                  << "\nstderr: " << err);
      }
      std::this_thread::sleep_for(5ms);
    }
  }

  uint16_t port() const { return port_; }
  // "127.0.0.1:PORT", "[::1]:PORT": where it listens, as its first line says.
  const std::string& address() const { return address_; }
  const std::string& dir() const { return dir_; }
  Process& process() { return process_; }
  // The log (one line per session, with why it ended), on stderr.
  std::string log() const { return process_.err(); }

  // Every stdout line so far, parsed (with --json, stdout carries JSON lines only).
  std::vector<Json> lines() const {
    std::string text = process_.out();
    text.resize(text.rfind('\n') + 1);  // a line still being written waits for its end
    std::vector<Json> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(Json::parse(line));
    return out;
  }
  // The per-session JSON results printed so far (not the first and last lines).
  std::vector<Json> sessions() const {
    std::vector<Json> out;
    for (Json& line : lines()) {
      if (!line.has("listening") && !line.has("stopped")) out.push_back(std::move(line));
    }
    return out;
  }

  // Waits until at least `n` sessions have ended (false after `timeout`).
  bool wait_sessions(size_t n, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = SteadyClock::now() + timeout;
    while (sessions().size() < n) {
      if (SteadyClock::now() > deadline || !process_.running()) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  // SIGTERM; the exit code (0 for a clean stop).
  int stop() { return process_.stop(); }

 private:
  std::string dir_;
  Process process_;
  uint16_t port_ = 0;
  std::string address_;
};

// `birga sync ADDRESS --dir DIR --json`, bounded in time: its exit code and parsed result.
struct SyncRun {
  int code = -1;
  Json result;  // null when nothing was printed
  std::string err;
  int64_t sent() const { return result.has("changes_sent") ? result["changes_sent"].i : -1; }
  int64_t received() const {
    return result.has("changes_received") ? result["changes_received"].i : -1;
  }
};

inline SyncRun parse_sync(const RunResult& r) {
  SyncRun s;
  s.code = r.code;
  s.err = r.err;
  std::string line = r.line();
  if (!line.empty()) s.result = Json::parse(line);
  return s;
}

inline std::vector<std::string> sync_args(const std::string& dir, const std::string& address) {
  return {"sync", address, "--dir", dir, "--json", "--timeout", "5"};
}

inline SyncRun sync_with(const Cli& cli, const std::string& dir, const std::string& address) {
  return parse_sync(run_bounded(cli, sync_args(dir, address)));
}

// A raw TCP client on loopback: sends `bytes`, then reads until the peer closes (or
// `timeout`). Returns whether the peer closed the connection, and how many bytes it sent.
struct RawOutcome {
  bool connected = false;
  bool closed_by_peer = false;
  size_t bytes_read = 0;
  uint16_t local_port = 0;
};

inline RawOutcome raw_exchange(uint16_t port, const std::string& bytes,
                               std::chrono::milliseconds timeout = 5s) {
  RawOutcome o;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return o;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return o;
  }
  o.connected = true;
  sockaddr_in local{};
  socklen_t len = sizeof local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
  o.local_port = ntohs(local.sin_port);
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  const auto deadline = SteadyClock::now() + timeout;
  char buf[4096];
  while (SteadyClock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {  // EOF, or a reset: either way the peer closed it
      o.closed_by_peer = true;
      break;
    }
    o.bytes_read += static_cast<size_t>(n);
  }
  close(fd);
  return o;
}

// Canonical JSON text (objects' keys sorted, as mini_json's std::map keeps them), to compare
// records across replicas.
inline void dump_json(const Json& v, std::string& out) {
  switch (v.type) {
    case Json::Type::kNull:
      out += "null";
      return;
    case Json::Type::kBool:
      out += v.b ? "true" : "false";
      return;
    case Json::Type::kInt:
      out += std::to_string(v.i);
      return;
    case Json::Type::kString:
      out += '"';
      for (char c : v.s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      out += '"';
      return;
    case Json::Type::kArray:
      out += '[';
      for (size_t i = 0; i < v.a.size(); ++i) {
        if (i) out += ',';
        dump_json(v.a[i], out);
      }
      out += ']';
      return;
    case Json::Type::kObject: {
      out += '{';
      bool first = true;
      for (const auto& [k, x] : v.o) {
        if (!first) out += ',';
        first = false;
        out += '"' + k + "\":";
        dump_json(x, out);
      }
      out += '}';
      return;
    }
  }
}

inline std::string dump_json(const Json& v) {
  std::string out;
  dump_json(v, out);
  return out;
}

}  // namespace birga::test
