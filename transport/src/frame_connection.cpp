#include "frame_connection.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "birga/transport/frame.h"
#include "endpoint_text.h"

namespace birga::transport {

namespace {
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
// A payload is read (and its buffer grown) this much at a time, so memory follows the bytes
// that actually arrived, not the length a peer announced.
constexpr size_t kReadChunk = size_t{64} << 10;
}  // namespace

FrameConnection::FrameConnection(tcp::socket socket, Limits limits)
    : socket_(std::move(socket)),
      limits_(limits),
      write_signal_(socket_.get_executor()),
      drain_signal_(socket_.get_executor()),
      watchdog_timer_(socket_.get_executor()),
      deadline_(Clock::time_point::max()),
      last_activity_(Clock::now()) {
  use_idle_deadline();
  boost::system::error_code ec;
  const auto ep = socket_.remote_endpoint(ec);
  remote_ = ec ? std::string("(unknown peer)") : endpoint_text(ep);
  socket_.set_option(tcp::no_delay(true), ec);  // small handshake and ack frames
  if (limits_.socket_buffer_bytes > 0) {
    socket_.set_option(asio::socket_base::send_buffer_size(limits_.socket_buffer_bytes), ec);
    socket_.set_option(asio::socket_base::receive_buffer_size(limits_.socket_buffer_bytes), ec);
  }
}

FrameConnection::~FrameConnection() = default;

void FrameConnection::start() {
  auto self = shared_from_this();
  asio::co_spawn(socket_.get_executor(), writer(self), asio::detached);
  asio::co_spawn(socket_.get_executor(), watchdog(self), asio::detached);
}

void FrameConnection::set_deadline(Clock::time_point when, std::string reason) {
  fixed_deadline_ = true;
  deadline_ = when;
  deadline_reason_ = std::move(reason);
  watchdog_timer_.cancel();  // the watchdog re-reads the deadline
}

void FrameConnection::use_idle_deadline() {
  fixed_deadline_ = false;
  last_activity_ = Clock::now();
  deadline_reason_ =
      "idle timeout: no complete frame for " + std::to_string(limits_.idle_timeout.count()) + " ms";
  watchdog_timer_.cancel();
}

Clock::time_point FrameConnection::deadline() const {
  return fixed_deadline_ ? deadline_ : last_activity_ + limits_.idle_timeout;
}

bool FrameConnection::send(std::string_view payload) {
  if (closed_ || send_shut_) return false;
  queue_.push_back(encode_frame(payload));
  queued_bytes_ += queue_.back().size();
  queue_high_water_ = std::max(queue_high_water_, queued_bytes_);
  write_signal_.cancel();
  return true;
}

asio::awaitable<void> FrameConnection::wait_drain() {
  drain_signal_.expires_at(Clock::time_point::max());
  co_await drain_signal_.async_wait(kAwait);
}

asio::awaitable<Result<std::string>> FrameConnection::read_frame(std::optional<size_t> max_bytes) {
  const size_t limit = std::min(limits_.max_frame_bytes, max_bytes.value_or(SIZE_MAX));
  if (!closed_ && queued_bytes_ > limits_.max_send_queue_bytes) {
    ++backpressure_pauses_;
    while (!closed_ && queued_bytes_ > limits_.max_send_queue_bytes) co_await wait_drain();
  }
  if (closed_) co_return close_reason_;

  std::array<uint8_t, kFrameHeaderBytes> header{};
  auto [ec, n] = co_await asio::async_read(socket_, asio::buffer(header), kAwait);
  if (ec) co_return socket_error(ec, "read");
  const uint32_t length = frame_length(header);
  if (length > limit) {
    // Four printable bytes where a length belongs ("HTTP", "SSH-") are another protocol.
    const bool text =
        std::all_of(header.begin(), header.end(), [](uint8_t b) { return b >= 0x20 && b < 0x7F; });
    co_return Status::corrupt_input("frame length " + std::to_string(length) +
                                    " exceeds the limit of " + std::to_string(limit) + " bytes" +
                                    (text ? " (the peer sent text, \"" +
                                                std::string(header.begin(), header.end()) +
                                                "\": it is not a Birga node)"
                                          : ""));
  }
  std::string payload;
  while (payload.size() < length) {
    const size_t have = payload.size();
    const size_t chunk = std::min<size_t>(length - have, kReadChunk);
    payload.resize(have + chunk);
    auto [ec2, n2] =
        co_await asio::async_read(socket_, asio::buffer(payload.data() + have, chunk), kAwait);
    if (ec2) {
      if (ec2 == asio::error::eof && !closed_) {
        peer_closed_ = true;
        co_return Status::unavailable("connection closed by peer in the middle of a frame");
      }
      co_return socket_error(ec2, "read");
    }
  }
  bytes_received_ += kFrameHeaderBytes + length;
  last_activity_ = Clock::now();
  co_return payload;
}

asio::awaitable<Status> FrameConnection::flush() {
  while (!closed_ && !queue_.empty()) co_await wait_drain();
  co_return closed_ ? close_reason_ : Status::ok();
}

void FrameConnection::shutdown_send() {
  if (closed_ || send_shut_) return;
  send_shut_ = true;
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  write_signal_.cancel();
}

void FrameConnection::close(Status reason) {
  if (closed_) return;
  closed_ = true;
  close_reason_ = std::move(reason);
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  write_signal_.cancel();
  drain_signal_.cancel();
  watchdog_timer_.cancel();
}

Status FrameConnection::socket_error(const boost::system::error_code& ec, const char* what) {
  if (closed_) return close_reason_;  // closed on purpose (deadline, stop): that is the reason
  if (ec == asio::error::eof) {
    peer_closed_ = true;
    return Status::unavailable("connection closed by peer");
  }
  if (ec == asio::error::connection_reset) {
    peer_closed_ = true;
    return Status::unavailable("connection reset by peer");
  }
  return Status::unavailable(std::string(what) + " failed: " + ec.message());
}

asio::awaitable<void> FrameConnection::writer(std::shared_ptr<FrameConnection> self) {
  (void)self;  // held only to keep the connection alive while writing
  while (!closed_) {
    if (queue_.empty()) {
      if (send_shut_) break;
      write_signal_.expires_at(Clock::time_point::max());
      co_await write_signal_.async_wait(kAwait);
      continue;
    }
    // A deque keeps references to its elements valid while send() appends behind them.
    const std::string& frame = queue_.front();
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(frame), kAwait);
    if (ec) {
      close(socket_error(ec, "write"));
      break;
    }
    bytes_sent_ += n;
    queued_bytes_ -= frame.size();
    queue_.pop_front();
    last_activity_ = Clock::now();
    drain_signal_.cancel();
  }
  drain_signal_.cancel();
}

asio::awaitable<void> FrameConnection::watchdog(std::shared_ptr<FrameConnection> self) {
  (void)self;
  while (!closed_) {
    const Clock::time_point when = deadline();
    if (Clock::now() >= when) {
      close(Status::unavailable(deadline_reason_));
      break;
    }
    watchdog_timer_.expires_at(when);
    co_await watchdog_timer_.async_wait(kAwait);
  }
}

}  // namespace birga::transport
