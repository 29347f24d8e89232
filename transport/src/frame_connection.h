// FrameConnection: one TCP connection carrying length-prefixed frames, with a send queue, a
// single writer, backpressure and a deadline watchdog.
//
// The owner reads frames one at a time with read_frame() and queues frames with send(); a
// writer coroutine keeps exactly one write in flight. While more than
// Limits::max_send_queue_bytes wait to be written, read_frame() does not read (so a peer that
// does not read stops being read, and cannot make this side buffer without bound). A watchdog
// closes the connection when its deadline passes: a fixed deadline (the handshake, the final
// close) or the idle deadline (last complete frame in either direction + idle timeout).
//
// close() ends everything at once; the first reason given is the one close_reason() reports,
// and every pending or later read_frame()/flush() returns it.
//
// Thread rule: every member is called on the connection's executor thread (one io_context
// thread). Hold it by shared_ptr: the writer and watchdog keep it alive until closed.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "birga/session.h"
#include "birga/status.h"

namespace birga::transport {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

class FrameConnection : public std::enable_shared_from_this<FrameConnection> {
 public:
  struct Limits {
    size_t max_frame_bytes = kMaxFrameBytes;
    size_t max_send_queue_bytes = size_t{8} << 20;
    std::chrono::milliseconds idle_timeout{30'000};
    int socket_buffer_bytes = 0;  // 0: the system's default
  };

  FrameConnection(tcp::socket socket, Limits limits);
  ~FrameConnection();
  FrameConnection(const FrameConnection&) = delete;
  FrameConnection& operator=(const FrameConnection&) = delete;

  // Spawns the writer and the watchdog. Call once, before anything else.
  void start();

  // A deadline at `when`; passing it closes the connection with unavailable(`reason`).
  void set_deadline(Clock::time_point when, std::string reason);
  // From now on the deadline is the last complete frame (either direction) + idle timeout.
  void use_idle_deadline();

  // Queues one frame. Returns false (and queues nothing) once closed or half-closed.
  // REQUIRES: payload.size() <= max_frame_bytes.
  bool send(std::string_view payload);

  // The next complete frame's payload. Errors: the close reason once closed; corrupt_input
  // for a length above the limit, or above `max_bytes` when given (nothing allocated);
  // unavailable on end of stream (then peer_closed() is true) or a socket error.
  asio::awaitable<Result<std::string>> read_frame(std::optional<size_t> max_bytes = {});

  // Waits until every queued frame has been written; the close reason if it closes first.
  asio::awaitable<Status> flush();
  // Half-closes: the peer reads end of stream after the frames already written.
  // REQUIRES: the queue is empty (after flush()).
  void shutdown_send();

  // Ends the connection. Idempotent; the first reason is kept.
  void close(Status reason);

  bool closed() const { return closed_; }
  bool peer_closed() const { return peer_closed_; }
  const Status& close_reason() const { return close_reason_; }
  const std::string& remote() const { return remote_; }

  uint64_t bytes_sent() const { return bytes_sent_; }
  uint64_t bytes_received() const { return bytes_received_; }
  size_t queued_bytes() const { return queued_bytes_; }
  size_t queue_high_water() const { return queue_high_water_; }
  // Times read_frame() waited because the send queue was over its limit.
  uint64_t backpressure_pauses() const { return backpressure_pauses_; }

 private:
  asio::awaitable<void> writer(std::shared_ptr<FrameConnection> self);
  asio::awaitable<void> watchdog(std::shared_ptr<FrameConnection> self);
  asio::awaitable<void> wait_drain();
  Status socket_error(const boost::system::error_code& ec, const char* what);
  Clock::time_point deadline() const;

  tcp::socket socket_;
  Limits limits_;
  std::string remote_;

  std::deque<std::string> queue_;  // whole frames (header + payload), oldest first
  size_t queued_bytes_ = 0;
  size_t queue_high_water_ = 0;
  asio::steady_timer write_signal_;  // the writer waits on it for work (cancel() wakes it)
  asio::steady_timer drain_signal_;  // readers wait on it for the queue to drain
  asio::steady_timer watchdog_timer_;

  bool fixed_deadline_ = false;
  Clock::time_point deadline_;
  std::string deadline_reason_;
  Clock::time_point last_activity_;

  bool closed_ = false;
  bool send_shut_ = false;
  bool peer_closed_ = false;
  Status close_reason_;
  uint64_t bytes_sent_ = 0;
  uint64_t bytes_received_ = 0;
  uint64_t backpressure_pauses_ = 0;
};

}  // namespace birga::transport
