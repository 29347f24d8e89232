// Server: a node that accepts sync sessions (`birga serve`, a district hub).
//
// It listens on one address and port (IPv4 or IPv6) and runs every accepted connection as
// a session coroutine (see sync_result.h) on ONE thread, the one that calls run(): the
// Replica is single-threaded, so every engine call happens there. Any number of sessions run
// concurrently up to max_sessions; past it the server stops accepting until one ends (the
// kernel keeps the waiting connections in the listen backlog). A session's failure closes
// that session only; each finished session is logged and reported to on_session.
//
// Lifetime: construct, listen(), run() (blocks), and from any thread stop(): it stops
// accepting, cancels every session (each reported as "server stopping") and makes run()
// return. The Replica must outlive the Server and must not be used by another thread while
// run() is running; use post() to run code on the server's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "birga/replica.h"
#include "birga/status.h"
#include "birga/transport/discovery.h"
#include "birga/transport/sync_result.h"

namespace birga::transport {

struct ServerOptions {
  std::string address = "0.0.0.0";  // "::" for IPv6 (and IPv4 where the system maps it)
  uint16_t port = 0;                // 0: any free port (see Server::port())
  size_t max_sessions = 1024;
  SessionOptions session;
  LogSink log = stderr_log_sink();  // empty: no log lines
  // Called on the server thread after each session ends, with its result.
  std::function<void(const SyncResult&)> on_session;
  // Stop on SIGINT and SIGTERM (for `birga serve`).
  bool stop_on_signals = false;
  // UDP beacon for LAN discovery (see discovery.h); its TCP port is the listening port.
  BeaconOptions beacon;
};

// Counters readable from any thread while the server runs.
struct ServerStats {
  uint64_t accepted = 0;
  uint64_t active = 0;
  uint64_t peak_active = 0;  // the most sessions ever running at once
  uint64_t completed = 0;    // ended ok
  uint64_t failed = 0;       // ended with an error
  uint64_t wire_bytes_sent = 0;
  uint64_t wire_bytes_received = 0;
  size_t send_queue_high_water = 0;  // the most bytes ever queued for one peer
  uint64_t backpressure_pauses = 0;  // times a session stopped reading for a full queue
};

class Server {
 public:
  Server(Replica& replica, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens (and starts the beacon if enabled). unavailable when the address is in
  // use or cannot be bound; invalid_argument for a bad address or beacon options.
  Status listen();
  // The bound TCP port. REQUIRES: listen() returned ok.
  uint16_t port() const;

  // Serves until stop(). REQUIRES: listen() returned ok. Call at most once.
  void run();
  // Thread-safe; idempotent. run() returns once every session has ended.
  void stop();
  // Runs `fn` on the server thread (thread-safe).
  void post(std::function<void()> fn);

  ServerStats stats() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace birga::transport
