#include "birga/transport/client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <optional>

#include "frame_connection.h"
#include "session_runner.h"

namespace birga::transport {

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

// Connection attempt state shared with the deadline's handler, which may run after the
// coroutine has moved on.
struct Connecting {
  explicit Connecting(const asio::any_io_executor& ex) : socket(ex), resolver(ex), timer(ex) {}
  tcp::socket socket;
  tcp::resolver resolver;
  asio::steady_timer timer;
  bool timed_out = false;
};

asio::awaitable<Result<tcp::socket>> connect(const std::string& host, uint16_t port,
                                             std::chrono::milliseconds timeout) {
  auto c = std::make_shared<Connecting>(co_await asio::this_coro::executor);
  c->timer.expires_after(timeout);
  c->timer.async_wait([c](const boost::system::error_code& ec) {
    if (ec) return;
    c->timed_out = true;
    c->resolver.cancel();
    boost::system::error_code ig;
    c->socket.close(ig);
  });
  const std::string where = host + ":" + std::to_string(port);
  const std::string ms = std::to_string(timeout.count());
  auto [rec, endpoints] = co_await c->resolver.async_resolve(host, std::to_string(port), kAwait);
  if (rec) {
    c->timer.cancel();
    if (c->timed_out)
      co_return Status::unavailable("resolving " + host + " timed out after " + ms + " ms");
    co_return Status::unavailable("cannot resolve " + host + ": " + rec.message());
  }
  auto [cec, ep] = co_await asio::async_connect(c->socket, endpoints, kAwait);
  c->timer.cancel();
  if (c->timed_out)
    co_return Status::unavailable("connecting to " + where + " timed out after " + ms + " ms");
  if (cec) co_return Status::unavailable("cannot connect to " + where + ": " + cec.message());
  co_return std::move(c->socket);
}

// The session's hooks; with a setup_timeout, the handshake's deadline is what connecting left
// of it.
SessionHooks session_hooks(const ClientOptions& options, Clock::time_point started) {
  SessionHooks hooks;
  hooks.log = options.log;
  hooks.progress = options.progress;
  if (options.setup_timeout.count() > 0) {
    const std::string ms = std::to_string(options.setup_timeout.count());
    hooks.handshake_deadline = started + options.setup_timeout;
    hooks.handshake_deadline_reason = "handshake timeout: the peer accepted the connection but " +
                                      std::string("was not authenticated within the ") + ms +
                                      " ms allowed for connecting and the handshake";
  }
  return hooks;
}

}  // namespace

asio::awaitable<SyncResult> async_sync(Replica& replica, std::string host, uint16_t port,
                                       ClientOptions options) {
  const auto started = Clock::now();
  const bool setup_bounded = options.setup_timeout.count() > 0;
  auto socket =
      co_await connect(host, port, setup_bounded ? options.setup_timeout : options.connect_timeout);
  if (!socket.is_ok()) {
    SyncResult r;
    r.status = socket.status();
    r.remote = host + ":" + std::to_string(port);
    r.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    if (options.log) options.log(describe(r));
    co_return r;
  }
  auto conn =
      std::make_shared<FrameConnection>(std::move(*socket), connection_limits(options.session));
  SyncResult r = co_await run_session(replica, conn, /*initiator=*/true, options.session,
                                      session_hooks(options, started));
  r.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  co_return r;
}

SyncResult sync_once(Replica& replica, const std::string& host, uint16_t port,
                     const ClientOptions& options) {
  asio::io_context io{1};
  std::optional<SyncResult> out;
  asio::co_spawn(io, async_sync(replica, host, port, options),
                 [&out](std::exception_ptr e, SyncResult r) {
                   if (e) {
                     r = SyncResult{};
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       r.status = Status::internal(std::string("sync: ") + ex.what());
                     } catch (...) {
                       r.status = Status::internal("sync: unknown exception");
                     }
                   }
                   out = std::move(r);
                 });
  io.run();
  if (!out) {
    SyncResult r;
    r.status = Status::internal("sync: the session did not finish");
    return r;
  }
  return std::move(*out);
}

}  // namespace birga::transport
