// FrameConnection over real loopback TCP, without the engine: frames in order, limits,
// deadlines, end of stream, and backpressure against a peer that does not read.
#include "frame_connection.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <optional>

#include "birga/transport/frame.h"

using namespace birga;
using namespace birga::transport;
using namespace std::chrono_literals;

namespace {

// Two connected sockets on one io_context: `client` connected to `server` (accepted).
struct Loopback {
  asio::io_context io{1};
  tcp::socket client{io};
  tcp::socket server{io};
  Loopback() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client.connect(acceptor.local_endpoint());
    server = acceptor.accept();
  }
  std::shared_ptr<FrameConnection> wrap(tcp::socket& s, FrameConnection::Limits limits = {}) {
    auto c = std::make_shared<FrameConnection>(std::move(s), limits);
    c->start();
    return c;
  }
};

// Reads one frame from `c` into `out` (when the io_context runs), notes when, and closes.
void read_one(asio::io_context& io, std::shared_ptr<FrameConnection> c,
              std::optional<Result<std::string>>& out, Clock::time_point& when) {
  asio::co_spawn(
      io,
      [c, &out, &when]() -> asio::awaitable<void> {
        out.emplace(co_await c->read_frame());
        when = Clock::now();
        c->close(Status::ok());
      },
      asio::detached);
}

}  // namespace

TEST_CASE("FrameConnection: frames arrive whole and in order", "[transport][frame]") {
  Loopback lb;
  auto a = lb.wrap(lb.client);
  auto b = lb.wrap(lb.server);
  const std::string big(size_t{1} << 20, 'x');
  REQUIRE(a->send("one"));
  REQUIRE(a->send(""));
  REQUIRE(a->send(big));
  std::vector<std::string> got;
  asio::co_spawn(
      lb.io,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 3; ++i) {
          auto f = co_await b->read_frame();
          if (!f.is_ok()) break;
          got.push_back(*f);
        }
        co_await a->flush();
        a->close(Status::ok());
        b->close(Status::ok());
      },
      asio::detached);
  lb.io.run_for(5s);
  REQUIRE(got.size() == 3);
  CHECK(got[0] == "one");
  CHECK(got[1].empty());
  CHECK(got[2] == big);
  CHECK(a->bytes_sent() == 3 * kFrameHeaderBytes + 3 + big.size());
  CHECK(b->bytes_received() == a->bytes_sent());
}

TEST_CASE("FrameConnection: a length above the limit is refused before the payload",
          "[transport][frame]") {
  Loopback lb;
  auto b = lb.wrap(lb.server);
  // Only a header announcing 4 GiB - 1: the reader must answer without waiting for the rest.
  const uint8_t header[4] = {0xff, 0xff, 0xff, 0xff};
  asio::write(lb.client, asio::buffer(header));
  std::optional<Result<std::string>> r;
  Clock::time_point done;
  read_one(lb.io, b, r, done);
  const auto t0 = Clock::now();
  lb.io.run_for(5s);
  REQUIRE(r);
  REQUIRE_FALSE(r->is_ok());
  CHECK(r->status().code() == Code::kCorruptInput);
  CHECK_THAT(r->status().message(), Catch::Contains("exceeds the limit"));
  CHECK(done - t0 < 2s);
}

TEST_CASE("FrameConnection: the idle deadline closes a silent connection", "[transport][frame]") {
  Loopback lb;
  FrameConnection::Limits limits;
  limits.idle_timeout = 200ms;
  auto b = lb.wrap(lb.server, limits);
  std::optional<Result<std::string>> r;
  Clock::time_point done;
  read_one(lb.io, b, r, done);
  const auto t0 = Clock::now();
  lb.io.run_for(5s);
  const auto waited = done - t0;
  REQUIRE(r);
  REQUIRE_FALSE(r->is_ok());
  CHECK(r->status().code() == Code::kUnavailable);
  CHECK_THAT(r->status().message(), Catch::Contains("idle timeout"));
  CHECK(b->closed());
  CHECK(waited >= 190ms);
  CHECK(waited < 2s);
}

TEST_CASE("FrameConnection: a fixed deadline (the handshake's) is not extended by traffic",
          "[transport][frame]") {
  Loopback lb;
  auto a = lb.wrap(lb.client);
  auto b = lb.wrap(lb.server);
  b->set_deadline(Clock::now() + 300ms, "handshake timeout");
  int frames = 0;
  Status last;
  asio::co_spawn(
      lb.io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer t(lb.io);
        for (int i = 0; i < 50; ++i) {  // a frame every 20 ms, for up to a second
          a->send("keepalive");
          auto f = co_await b->read_frame();
          if (!f.is_ok()) {
            last = f.status();
            break;
          }
          ++frames;
          t.expires_after(20ms);
          co_await t.async_wait(asio::use_awaitable);
        }
        a->close(Status::ok());
      },
      asio::detached);
  lb.io.run_for(5s);
  CHECK(frames > 3);
  CHECK(frames < 50);
  CHECK(last.code() == Code::kUnavailable);
  CHECK(last.message() == "handshake timeout");
}

TEST_CASE("FrameConnection: end of stream is reported, after the frames before it",
          "[transport][frame]") {
  Loopback lb;
  auto a = lb.wrap(lb.client);
  auto b = lb.wrap(lb.server);
  std::vector<std::string> got;
  Status end;
  asio::co_spawn(
      lb.io,
      [&]() -> asio::awaitable<void> {
        a->send("last words");
        Status st = co_await a->flush();
        if (st.is_ok()) a->shutdown_send();
        for (int i = 0; i < 3; ++i) {
          auto f = co_await b->read_frame();
          if (!f.is_ok()) {
            end = f.status();
            break;
          }
          got.push_back(*f);
        }
        a->close(Status::ok());
        b->close(Status::ok());
      },
      asio::detached);
  lb.io.run_for(5s);
  REQUIRE(got == std::vector<std::string>{"last words"});
  CHECK(end.code() == Code::kUnavailable);
  CHECK(b->peer_closed());
}

TEST_CASE("FrameConnection: a peer that does not read stops being read (backpressure)",
          "[transport][frame][backpressure]") {
  Loopback lb;
  FrameConnection::Limits limits;
  limits.max_send_queue_bytes = 64 << 10;
  limits.socket_buffer_bytes = 16 << 10;
  limits.idle_timeout = 10s;
  auto server = lb.wrap(lb.server, limits);
  // The raw client sends 200 small requests and never reads. Each request makes the server
  // queue four 16 KiB answers: without backpressure it would queue 12.5 MiB.
  std::string requests;
  for (int i = 0; i < 200; ++i) requests += encode_frame("request");
  asio::write(lb.client, asio::buffer(requests));
  const std::string answer(16 << 10, 'a');
  int handled = 0;
  asio::co_spawn(
      lb.io,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 200; ++i) {
          auto f = co_await server->read_frame();
          if (!f.is_ok()) break;
          ++handled;
          for (int k = 0; k < 4; ++k) server->send(answer);
        }
      },
      asio::detached);
  lb.io.run_for(1s);
  const size_t high_water = server->queue_high_water();
  INFO("handled " << handled << " requests; queue high-water " << high_water << " bytes");
  CHECK(handled < 200);
  CHECK(server->backpressure_pauses() >= 1);
  CHECK(high_water <= limits.max_send_queue_bytes + 4 * (answer.size() + kFrameHeaderBytes));
  server->close(Status::unavailable("test over"));
  lb.io.run_for(1s);
}
