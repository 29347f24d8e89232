#include "birga/transport/server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <exception>
#include <map>
#include <optional>

#include "endpoint_text.h"
#include "frame_connection.h"
#include "session_runner.h"

namespace birga::transport {

namespace {
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

void store_max(std::atomic<uint64_t>& a, uint64_t v) {
  uint64_t cur = a.load();
  while (cur < v && !a.compare_exchange_weak(cur, v)) {
  }
}
}  // namespace

class Server::Impl {
 public:
  Impl(Replica& replica, ServerOptions options)
      : replica_(replica),
        options_(std::move(options)),
        acceptor_(io_),
        slot_signal_(io_),
        retry_timer_(io_),
        signals_(io_) {}

  Status listen();
  void run() { io_.run(); }
  void stop() {
    asio::post(io_, [this] { do_stop(); });
  }
  void post(std::function<void()> fn) { asio::post(io_, std::move(fn)); }
  uint16_t port() const { return port_; }
  ServerStats stats() const;

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(tcp::socket socket);
  void log(const std::string& line) const {
    if (options_.log) options_.log(line);
  }
  void do_stop();
  void finished(const SyncResult& result, const FrameConnection& conn);

  Replica& replica_;
  ServerOptions options_;
  asio::io_context io_{1};  // one thread: concurrency hint 1 (no internal locking needed)
  tcp::acceptor acceptor_;
  asio::steady_timer slot_signal_;  // the accept loop waits on it for a free session slot
  asio::steady_timer retry_timer_;
  asio::signal_set signals_;
  std::optional<BeaconSender> beacon_;  // declared after io_: destroyed before it
  uint16_t port_ = 0;
  bool stopping_ = false;
  uint64_t next_id_ = 0;
  std::map<uint64_t, std::shared_ptr<FrameConnection>> sessions_;

  std::atomic<uint64_t> accepted_{0}, active_{0}, peak_active_{0}, completed_{0}, failed_{0};
  std::atomic<uint64_t> bytes_sent_{0}, bytes_received_{0}, high_water_{0}, pauses_{0};
};

Status Server::Impl::listen() {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options_.address, ec);
  if (ec) return Status::invalid_argument("serve: bad address '" + options_.address + "'");
  const tcp::endpoint ep(address, options_.port);
  const std::string where = endpoint_text(ep);
  if (acceptor_.open(ep.protocol(), ec) ||
      acceptor_.set_option(tcp::acceptor::reuse_address(true), ec) || acceptor_.bind(ep, ec) ||
      acceptor_.listen(asio::socket_base::max_listen_connections, ec)) {
    return Status::unavailable("serve: cannot listen on " + where + ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint(ec).port();
  if (options_.beacon.enabled) {
    const std::optional<PublicKey> authority =
        options_.beacon.authority ? options_.beacon.authority : replica_.authority();
    if (!authority) {
      return Status::invalid_argument(
          "serve: the beacon needs the deployment's authority key (this node is not enrolled)");
    }
    Beacon b{*authority, replica_.device_key(), port_};
    beacon_.emplace(io_, options_.beacon, b, options_.log);
    BIRGA_RETURN_IF_ERROR(beacon_->start());
  }
  if (options_.stop_on_signals) {
    signals_.add(SIGINT, ec);
    signals_.add(SIGTERM, ec);
    signals_.async_wait([this](const boost::system::error_code& e, int sig) {
      if (e) return;
      log("serve: signal " + std::to_string(sig) + ", stopping");
      do_stop();
    });
  }
  asio::co_spawn(io_, accept_loop(), [this](std::exception_ptr e) {
    if (e) log("serve: the accept loop failed; no more connections are accepted");
  });
  log("serve: listening on " + endpoint_text(acceptor_.local_endpoint(ec)));
  return Status::ok();
}

asio::awaitable<void> Server::Impl::accept_loop() {
  while (!stopping_) {
    while (!stopping_ && sessions_.size() >= options_.max_sessions) {
      slot_signal_.expires_at(Clock::time_point::max());
      co_await slot_signal_.async_wait(kAwait);
    }
    if (stopping_) break;
    auto [ec, socket] = co_await acceptor_.async_accept(kAwait);
    if (stopping_) break;
    if (ec) {
      // Out of descriptors and the like: transient. Wait a little rather than spin.
      log("serve: accept failed: " + ec.message());
      retry_timer_.expires_after(std::chrono::milliseconds(100));
      co_await retry_timer_.async_wait(kAwait);
      continue;
    }
    ++accepted_;
    asio::co_spawn(io_, serve(std::move(socket)), [this](std::exception_ptr e) {
      if (e) log("serve: a session ended with an unexpected exception");
    });
  }
}

asio::awaitable<void> Server::Impl::serve(tcp::socket socket) {
  auto conn =
      std::make_shared<FrameConnection>(std::move(socket), connection_limits(options_.session));
  const uint64_t id = next_id_++;
  sessions_.emplace(id, conn);
  store_max(peak_active_, ++active_);
  SyncResult result;
  try {
    SessionHooks hooks;
    hooks.log = options_.log;
    result = co_await run_session(replica_, conn, /*initiator=*/false, options_.session, hooks);
  } catch (const std::exception& e) {
    conn->close(Status::internal(std::string("session: ") + e.what()));
    result.status = conn->close_reason();
    result.remote = conn->remote();
    log(describe(result));
  }
  sessions_.erase(id);
  --active_;
  finished(result, *conn);
  slot_signal_.cancel();
}

void Server::Impl::finished(const SyncResult& result, const FrameConnection& conn) {
  ++(result.status.is_ok() ? completed_ : failed_);
  bytes_sent_ += result.wire_bytes_sent;
  bytes_received_ += result.wire_bytes_received;
  store_max(high_water_, result.send_queue_high_water);
  pauses_ += conn.backpressure_pauses();
  if (options_.on_session) options_.on_session(result);
}

void Server::Impl::do_stop() {
  if (stopping_) return;
  stopping_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  signals_.cancel(ec);
  slot_signal_.cancel();
  retry_timer_.cancel();
  if (beacon_) beacon_->stop();
  // Copy: closing wakes the sessions, which erase themselves from the map later.
  auto sessions = sessions_;
  for (auto& [id, conn] : sessions) conn->close(Status::unavailable("server stopping"));
}

ServerStats Server::Impl::stats() const {
  ServerStats s;
  s.accepted = accepted_;
  s.active = active_;
  s.peak_active = peak_active_;
  s.completed = completed_;
  s.failed = failed_;
  s.wire_bytes_sent = bytes_sent_;
  s.wire_bytes_received = bytes_received_;
  s.send_queue_high_water = high_water_;
  s.backpressure_pauses = pauses_;
  return s;
}

Server::Server(Replica& replica, ServerOptions options)
    : impl_(std::make_unique<Impl>(replica, std::move(options))) {}
Server::~Server() = default;
Status Server::listen() {
  return impl_->listen();
}
uint16_t Server::port() const {
  return impl_->port();
}
void Server::run() {
  impl_->run();
}
void Server::stop() {
  impl_->stop();
}
void Server::post(std::function<void()> fn) {
  impl_->post(std::move(fn));
}
ServerStats Server::stats() const {
  return impl_->stats();
}

}  // namespace birga::transport
