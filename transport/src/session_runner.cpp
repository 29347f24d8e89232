#include "session_runner.h"

#include <chrono>
#include <optional>

namespace birga::transport {

namespace {

// A read that failed during the handshake. End of stream after the peer's hello arrived is
// how a refusal looks from the refused side (the peer checked our hello and hung up).
Status handshake_read_error(const FrameConnection& conn, const Status& read_status,
                            bool got_peer_hello) {
  if (conn.peer_closed() && got_peer_hello) {
    return Status::permission_denied(
        "handshake: peer closed the connection after our hello (it refused this device's "
        "certificate, or failed): " +
        read_status.message());
  }
  return read_status.with_context("handshake");
}

class SessionDriver {
 public:
  SessionDriver(Replica& replica, FrameConnection& conn, bool initiator,
                const SessionOptions& options, const SessionHooks& hooks, SyncResult& result)
      : replica_(replica),
        conn_(conn),
        initiator_(initiator),
        options_(options),
        hooks_(hooks),
        result_(result) {}

  asio::awaitable<Status> run() {
    if (hooks_.handshake_deadline) {
      conn_.set_deadline(*hooks_.handshake_deadline, hooks_.handshake_deadline_reason);
    } else {
      conn_.set_deadline(Clock::now() + options_.handshake_timeout,
                         "handshake timeout: not authenticated within " +
                             std::to_string(options_.handshake_timeout.count()) + " ms");
    }
    std::optional<SecureChannel> channel;
    Status st = co_await handshake(channel);
    if (!st.is_ok()) co_return st;
    conn_.use_idle_deadline();
    st = co_await sync(*channel);
    if (!st.is_ok()) co_return st;
    co_await close_gracefully(*channel);
    co_return Status::ok();
  }

 private:
  asio::awaitable<Status> handshake(std::optional<SecureChannel>& channel) {
    auto hs = Handshake::begin(replica_, initiator_);
    if (!hs.is_ok()) co_return hs.status().with_context("handshake");
    Handshake& h = **hs;
    conn_.send(h.hello());
    auto peer_hello = co_await conn_.read_frame(kMaxHandshakeFrameBytes);
    if (!peer_hello.is_ok()) co_return handshake_read_error(conn_, peer_hello.status(), false);
    auto proof = h.receive_hello(*peer_hello);
    if (!proof.is_ok()) co_return proof.status().with_context("handshake: refusing the peer");
    conn_.send(*proof);
    auto peer_proof = co_await conn_.read_frame(kMaxHandshakeFrameBytes);
    if (!peer_proof.is_ok()) co_return handshake_read_error(conn_, peer_proof.status(), true);
    Status st = h.receive_proof(*peer_proof);
    if (!st.is_ok()) co_return st.with_context("handshake: refusing the peer");
    result_.peer = h.peer();
    result_.peer_clock_offset_ms = h.peer_clock_offset_ms();
    channel = h.channel();
    co_return Status::ok();
  }

  asio::awaitable<Status> sync(SecureChannel& channel) {
    SyncSession session(replica_, result_.peer, options_.sync);
    Status st = send_all(channel, session.start());
    last_progress_ = Clock::now();
    uint64_t frames = 0;
    while (st.is_ok() && !session.done()) {
      auto frame = co_await conn_.read_frame();
      if (!frame.is_ok()) {
        st = sync_read_error(frame.status(), frames);
        break;
      }
      ++frames;
      auto plain = channel.open(*frame);
      if (!plain.is_ok()) {
        st = Status::corrupt_input("frame failed to open: " + plain.status().message());
        break;
      }
      auto out = session.receive(*plain);
      if (!out.is_ok()) {
        st = out.status().with_context("sync");
        break;
      }
      st = send_all(channel, *out);
      result_.stats = session.stats();
      report_progress();
    }
    result_.stats = session.stats();
    co_return st;
  }

  // The peer checks our certificate with our proof, after it sent its own: so a peer that
  // refuses this device closes the connection before its first sync frame, and that is
  // the only sign of the refusal this side gets.
  Status sync_read_error(const Status& read_status, uint64_t frames_received) const {
    if (!conn_.peer_closed() || conn_.closed()) return read_status;
    if (frames_received == 0) {
      return Status::permission_denied(
          "peer closed the connection right after the handshake (it refused this device: "
          "certificate unknown, expired or revoked there? or it gave up: its own timeout): " +
          read_status.message());
    }
    return Status::unavailable("peer closed the connection before the sync completed (" +
                               read_status.message() + ")");
  }

  Status send_all(SecureChannel& channel, const std::vector<std::string>& messages) {
    for (const std::string& m : messages) {
      std::string sealed = channel.seal(m);
      if (sealed.size() > kMaxFrameBytes) {
        return Status::internal("sync produced a message of " + std::to_string(sealed.size()) +
                                " bytes, above the frame limit");
      }
      if (!conn_.send(sealed)) return conn_.close_reason();
    }
    return Status::ok();
  }

  void report_progress() {
    if (!hooks_.progress) return;
    const auto now = Clock::now();
    if (now - last_progress_ < hooks_.progress_interval) return;
    last_progress_ = now;
    hooks_.progress(result_.stats);
  }

  // Done: flush what we owe, half-close, and give the peer a moment to read it and close its
  // half, so neither side cuts the other's last message. Anything the peer still sends is
  // opened (the channel's counters must stay in step) and dropped.
  asio::awaitable<void> close_gracefully(SecureChannel& channel) {
    Status st = co_await conn_.flush();
    if (!st.is_ok()) co_return;
    conn_.shutdown_send();
    conn_.set_deadline(Clock::now() + options_.close_timeout, "close timeout");
    for (int i = 0; i < 64; ++i) {  // bounded: a well-behaved peer sends nothing more
      auto frame = co_await conn_.read_frame();
      if (!frame.is_ok()) co_return;
      if (!channel.open(*frame).is_ok()) co_return;
    }
  }

  Replica& replica_;
  FrameConnection& conn_;
  bool initiator_;
  const SessionOptions& options_;
  const SessionHooks& hooks_;
  SyncResult& result_;
  Clock::time_point last_progress_;
};

}  // namespace

FrameConnection::Limits connection_limits(const SessionOptions& options) {
  FrameConnection::Limits limits;
  limits.max_frame_bytes = kMaxFrameBytes;
  limits.max_send_queue_bytes = options.max_send_queue_bytes;
  limits.idle_timeout = options.idle_timeout;
  limits.socket_buffer_bytes = options.socket_buffer_bytes;
  return limits;
}

asio::awaitable<SyncResult> run_session(Replica& replica, std::shared_ptr<FrameConnection> conn,
                                        bool initiator, SessionOptions options,
                                        SessionHooks hooks) {
  const auto started = Clock::now();
  SyncResult result;
  result.remote = conn->remote();
  conn->start();
  SessionDriver driver(replica, *conn, initiator, options, hooks, result);
  Status st = co_await driver.run();
  // A deadline or a stop closes the connection first; its reason is the session's outcome.
  if (conn->closed() && !conn->close_reason().is_ok() && !st.is_ok()) st = conn->close_reason();
  conn->close(st);
  result.status = std::move(st);
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  result.wire_bytes_sent = conn->bytes_sent();
  result.wire_bytes_received = conn->bytes_received();
  result.send_queue_high_water = conn->queue_high_water();
  if (hooks.log) hooks.log(describe(result));
  co_return result;
}

}  // namespace birga::transport
