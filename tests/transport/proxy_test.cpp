// TestProxy itself (against a plain echo server), then through a real Server: no plaintext
// on the wire, and a cut connection followed by a sync that completes.
#include <catch2/catch.hpp>

#include "birga/transport/frame.h"
#include "test_proxy.h"
#include "transport_fixture.h"

using namespace birga;
using namespace birga::test;

namespace {

// Echoes everything on one accepted connection until end of stream; counts what it got.
class EchoServer {
 public:
  EchoServer() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] {
      tcp::socket s(io_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      char buf[4096];
      for (int i = 0; i < 100'000 && !ec; ++i) {
        const size_t n = s.read_some(asio::buffer(buf), ec);
        if (ec) break;
        received_ += n;
        asio::write(s, asio::buffer(buf, n), ec);
      }
    });
  }
  ~EchoServer() { thread_.join(); }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  size_t received() const { return received_; }

 private:
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<size_t> received_{0};
};

std::string read_exactly(tcp::socket& s, size_t n) {
  std::string out(n, '\0');
  asio::read(s, asio::buffer(out));
  return out;
}

}  // namespace

TEST_CASE("TestProxy: forwards both ways, counts and records", "[transport][proxy]") {
  EchoServer echo;
  TestProxy::Options o;
  o.target_port = echo.port();
  TestProxy proxy(o);
  {
    asio::io_context io;
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), proxy.port()));
    const std::string frames = transport::encode_frame("hello") + transport::encode_frame("world");
    asio::write(s, asio::buffer(frames));
    CHECK(read_exactly(s, frames.size()) == frames);
    s.shutdown(tcp::socket::shutdown_send);
    char c;
    boost::system::error_code ec;
    s.read_some(asio::buffer(&c, 1), ec);
    CHECK(ec == asio::error::eof);
  }
  CHECK(proxy.connections() == 1);
  CHECK(proxy.bytes_client_to_server() == 18);
  CHECK(proxy.bytes_server_to_client() == 18);
  CHECK(proxy.frames_client_to_server() == 2);
  CHECK(proxy.frames_server_to_client() == 2);
  CHECK(proxy.recorded_client_to_server().find("world") != std::string::npos);
  CHECK(proxy.cuts() == 0);
}

TEST_CASE("TestProxy: cuts after N frames, exactly at the frame boundary", "[transport][proxy]") {
  EchoServer echo;
  TestProxy::Options o;
  o.target_port = echo.port();
  o.cut_after_frames = 2;
  o.cut_direction = TestProxy::Direction::kClientToServer;
  TestProxy proxy(o);
  asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), proxy.port()));
  const std::string three = transport::encode_frame("one") + transport::encode_frame("two") +
                            transport::encode_frame("three");
  asio::write(s, asio::buffer(three));
  std::string back;
  char buf[256];
  boost::system::error_code ec;
  for (int i = 0; i < 100 && !ec; ++i) {
    const size_t n = s.read_some(asio::buffer(buf), ec);
    back.append(buf, n);
  }
  CHECK(ec);                 // closed by the cut
  CHECK(back.size() <= 14);  // at most the two frames forwarded came back
  CHECK(proxy.bytes_client_to_server() == 14);
  CHECK(proxy.frames_client_to_server() == 2);
  CHECK(proxy.cuts() == 1);
}

TEST_CASE("TestProxy: cuts after N bytes, on the first connection only", "[transport][proxy]") {
  EchoServer echo;
  TestProxy::Options o;
  o.target_port = echo.port();
  o.cut_after_bytes = 5;
  o.cut_direction = TestProxy::Direction::kClientToServer;
  o.cut_connections = 1;
  TestProxy proxy(o);
  asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), proxy.port()));
  asio::write(s, asio::buffer(std::string("0123456789")));
  boost::system::error_code ec;
  char buf[64];
  for (int i = 0; i < 100 && !ec; ++i) s.read_some(asio::buffer(buf), ec);
  CHECK(ec);
  CHECK(proxy.bytes_client_to_server() == 5);
  CHECK(proxy.cuts() == 1);
}

TEST_CASE("Transport: a sync through the proxy carries none of the plaintext written",
          "[transport][proxy][server]") {
  Deployment d;
  auto tablet = d.add("tablet-a1", Role::kField, {{kMahalla, kRead | kWrite}});
  auto hub = d.add("hub", Role::kHub, {{kDistrict, kRead | kWrite | kRelay}});
  REQUIRE((hub && tablet));
  write_visit(*tablet, "household 5521", "violence reported by neighbour 8812");
  write_visit(*hub, "household 7310", "guardian changed to aunt 4471");
  RunningServer server(*hub);
  REQUIRE(server.listen_status().is_ok());
  TestProxy::Options o;
  o.target_port = server.port();
  TestProxy proxy(o);
  auto r = transport::sync_once(*tablet, "127.0.0.1", proxy.port());
  INFO(r.status.to_string());
  REQUIRE(r.status.is_ok());
  CHECK(r.stats.changes_sent >= 1);
  CHECK(r.stats.changes_received >= 1);
  const std::string all = proxy.recorded_client_to_server() + proxy.recorded_server_to_client();
  CHECK(all.size() > 1000);
  for (const char* secret :
       {"violence reported", "8812", "household 5521", "aunt 4471", "household 7310"}) {
    CHECK(all.find(secret) == std::string::npos);
  }
}

TEST_CASE("Transport: a connection cut mid-sync fails, and the next sync completes",
          "[transport][proxy][server]") {
  Deployment d;
  auto hub = d.add("hub", Role::kHub, {{kDistrict, kRead | kWrite | kRelay}});
  auto tablet = d.add("tablet-a1", Role::kField, {{kMahalla, kRead | kWrite}});
  REQUIRE((hub && tablet));
  for (int i = 0; i < 20; ++i) write_visit(*tablet, "hh-" + std::to_string(i));
  RunningServer server(*hub);
  REQUIRE(server.listen_status().is_ok());
  TestProxy::Options o;
  o.target_port = server.port();
  // Cut right after the server's hello, proof and first sync frame reached the client.
  // (Before the first sync frame a closed connection looks like a refusal: that is
  // permission_denied; after it, unavailable.)
  o.cut_after_frames = 3;
  o.cut_direction = TestProxy::Direction::kServerToClient;
  o.cut_connections = 1;
  TestProxy proxy(o);
  transport::ClientOptions co;
  co.connect_timeout = 5s;
  co.session.idle_timeout = 5s;
  auto cut = transport::sync_once(*tablet, "127.0.0.1", proxy.port(), co);
  INFO(cut.status.to_string());
  CHECK(cut.status.code() == Code::kUnavailable);
  CHECK(proxy.cuts() == 1);
  auto again = transport::sync_once(*tablet, "127.0.0.1", proxy.port(), co);
  INFO(again.status.to_string());
  REQUIRE(again.status.is_ok());
  REQUIRE(server.wait_sessions(2));
  server.stop();
  CHECK(hub->state_hash(kMahalla).value() == tablet->state_hash(kMahalla).value());
}
