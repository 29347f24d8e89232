// LAN discovery over loopback UDP: a node's beacons are found by the same deployment and
// ignored by another; malformed datagrams are ignored.
#include "birga/transport/discovery.h"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <thread>

using namespace birga;
using namespace birga::transport;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

uint16_t free_udp_port() {
  asio::io_context io;
  udp::socket s(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return s.local_endpoint().port();
}

PublicKey key(uint8_t fill) {
  PublicKey k;
  k.fill(fill);
  return k;
}

// Senders on their own thread, for as long as the object lives.
struct Beacons {
  asio::io_context io{1};
  std::vector<std::unique_ptr<BeaconSender>> senders;
  std::unique_ptr<udp::socket> garbage;
  std::thread thread;

  void add(uint16_t udp_port, Beacon b) {
    BeaconOptions o;
    o.enabled = true;
    o.address = "127.0.0.1";
    o.udp_port = udp_port;
    o.interval = 50ms;
    o.authority = b.authority;
    senders.push_back(std::make_unique<BeaconSender>(io, o, b, nullptr));
    REQUIRE(senders.back()->start().is_ok());
  }
  void start() {
    thread = std::thread([this] { io.run_for(10s); });
  }
  ~Beacons() {
    asio::post(io, [this] {
      for (auto& s : senders) s->stop();
    });
    if (thread.joinable()) thread.join();
  }
};

}  // namespace

TEST_CASE("Discovery: beacons of the same deployment are found, others ignored",
          "[transport][discovery]") {
  const uint16_t port = free_udp_port();
  const PublicKey ours = key(0xaa), theirs = key(0xbb);
  Beacons beacons;
  beacons.add(port, Beacon{theirs, key(1), 4001});  // another deployment
  beacons.add(port, Beacon{ours, key(2), 4002});
  beacons.start();
  // Garbage on the same port while discover() listens: wrong magic, truncated, oversized.
  std::atomic<bool> stop{false};
  std::thread garbage([&] {
    asio::io_context io;
    udp::socket s(io, udp::v4());
    const udp::endpoint to(asio::ip::make_address("127.0.0.1"), port);
    std::string bad = encode_beacon(Beacon{ours, key(3), 4003});
    bad[0] = 'X';
    for (int i = 0; i < 200 && !stop; ++i) {  // at most 4 s
      for (const std::string& d : {bad, bad.substr(0, 10), std::string(400, 'B')}) {
        boost::system::error_code ec;
        s.send_to(asio::buffer(d), to, 0, ec);
      }
      std::this_thread::sleep_for(20ms);
    }
  });

  DiscoverOptions o;
  o.udp_port = port;
  o.listen_address = "127.0.0.1";
  o.timeout = 600ms;
  o.max_results = 5;  // wait the whole timeout: only one node may be found
  auto found = discover(ours, o);
  stop = true;
  garbage.join();
  REQUIRE(found.is_ok());
  REQUIRE(found->size() == 1);
  CHECK(found->front().device == key(2));
  CHECK(found->front().tcp_port == 4002);
  CHECK(found->front().address == "127.0.0.1");
}

TEST_CASE("Discovery: returns as soon as enough nodes were heard, and empty when none",
          "[transport][discovery]") {
  const uint16_t port = free_udp_port();
  const PublicKey ours = key(0xaa);
  {
    Beacons beacons;
    beacons.add(port, Beacon{ours, key(7), 5007});
    beacons.start();
    DiscoverOptions o;
    o.udp_port = port;
    o.listen_address = "127.0.0.1";
    o.timeout = 5s;
    const auto t0 = std::chrono::steady_clock::now();
    auto found = discover(ours, o);
    REQUIRE(found.is_ok());
    REQUIRE(found->size() == 1);
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  }
  DiscoverOptions o;
  o.udp_port = port;
  o.listen_address = "127.0.0.1";
  o.timeout = 150ms;
  auto none = discover(ours, o);
  REQUIRE(none.is_ok());
  CHECK(none->empty());
}
