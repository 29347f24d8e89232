// TestProxy: a TCP proxy for tests, on loopback, between a client and a server.
//
// It listens on 127.0.0.1 (any free port), and for each connection it accepts, connects to
// the target and forwards bytes both ways, counting and recording them (for plaintext
// checks). It can cut a connection (close both sides, or reset them) once a number of bytes
// or of complete frames (4-byte big-endian length prefix + payload, as Birga frames) have
// been forwarded, and it can hold back or throttle what the server sends (a slow reader).
//
// Thread rule: the proxy runs on its own thread; every public member is thread-safe. The
// destructor closes every connection and joins the thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

namespace birga::test {

class TestProxy {
 public:
  enum class Direction { kBoth, kClientToServer, kServerToClient };

  struct Options {
    std::string target_host = "127.0.0.1";
    uint16_t target_port = 0;
    // Cut a connection once this many bytes / complete frames were forwarded on it (counted
    // in `cut_direction`; the cut happens exactly at that byte or frame boundary). 0: never.
    uint64_t cut_after_bytes = 0;
    uint64_t cut_after_frames = 0;
    Direction cut_direction = Direction::kBoth;
    // The cut applies to the first `cut_connections` connections; later ones pass through.
    uint64_t cut_connections = std::numeric_limits<uint64_t>::max();
    bool reset_on_cut = false;  // RST instead of an orderly close
    // A slow reader: server-to-client bytes are read in chunks of at most this many bytes,
    // at most this many bytes per second (0: unlimited), after an initial pause.
    uint64_t server_to_client_bytes_per_second = 0;
    std::chrono::milliseconds server_to_client_initial_pause{0};
    // SO_RCVBUF / SO_SNDBUF of the proxy's sockets (0: system default). Small buffers make
    // a slow reader's backpressure reach the sender sooner.
    int socket_buffer_bytes = 0;
  };

  explicit TestProxy(Options options);
  ~TestProxy();
  TestProxy(const TestProxy&) = delete;
  TestProxy& operator=(const TestProxy&) = delete;

  uint16_t port() const;
  // Applies to connections accepted from now on.
  void set_options(const Options& options);

  uint64_t bytes_client_to_server() const;
  uint64_t bytes_server_to_client() const;
  uint64_t frames_client_to_server() const;  // complete frames forwarded
  uint64_t frames_server_to_client() const;
  // Everything forwarded, concatenated over all connections in each direction.
  std::string recorded_client_to_server() const;
  std::string recorded_server_to_client() const;
  uint64_t connections() const;  // accepted so far
  uint64_t cuts() const;         // connections cut by a rule
  // Closes every open connection now (an outage), without a rule.
  void cut_all();

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace birga::test
