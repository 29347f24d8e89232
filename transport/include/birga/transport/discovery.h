// LAN discovery: a node announces itself with a UDP beacon; a device looks for the nodes of
// its own deployment on the local network.
//
// Beacon datagram (71 bytes, version 1):
//   "BRGB" | version u8 = 1 | authority public key (32) | device public key (32) |
//   TCP port u16 big-endian
// The deployment is identified by the authority key. A beacon is only a hint of where to
// connect: it is not authenticated, and the handshake authenticates the node for real.
// Datagrams of another length, magic or version, or of another deployment, are ignored.
//
// Thread rule: encode/decode are pure; discover() blocks the calling thread (its own
// io_context); BeaconSender is used from the thread that runs its io_context.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "birga/replica.h"
#include "birga/status.h"
#include "birga/transport/sync_result.h"

namespace boost::asio {
class io_context;
}

namespace birga::transport {

constexpr uint16_t kDefaultBeaconPort = 47100;
constexpr uint8_t kBeaconVersion = 1;
constexpr size_t kBeaconBytes = 4 + 1 + 32 + 32 + 2;

struct Beacon {
  PublicKey authority{};
  PublicKey device{};
  uint16_t tcp_port = 0;
};

std::string encode_beacon(const Beacon& beacon);
// nullopt for anything that is not a well-formed version-1 beacon.
std::optional<Beacon> decode_beacon(std::string_view datagram);

// A node found on the network: where to connect and who claims to be there.
struct DiscoveredNode {
  std::string address;  // the datagram's source address ("192.168.1.20", "::1")
  uint16_t tcp_port = 0;
  PublicKey device{};
};

struct DiscoverOptions {
  uint16_t udp_port = kDefaultBeaconPort;
  std::string listen_address = "0.0.0.0";  // "::" for IPv6
  std::chrono::milliseconds timeout{3'000};
  size_t max_results = 1;  // return as soon as this many distinct devices were heard
};

// Listens for beacons of the deployment `authority`; returns the distinct nodes heard (at
// most max_results, first heard first) when max_results is reached or the timeout passes.
// An empty list means none was heard. Errors: unavailable when the UDP port cannot be bound.
Result<std::vector<DiscoveredNode>> discover(const PublicKey& authority,
                                             const DiscoverOptions& options = {});
// The same, with the defaults but for the port and the timeout.
inline Result<std::vector<DiscoveredNode>> discover(const PublicKey& authority, uint16_t udp_port,
                                                    std::chrono::milliseconds timeout) {
  DiscoverOptions options;
  options.udp_port = udp_port;
  options.timeout = timeout;
  return discover(authority, options);
}

struct BeaconOptions {
  bool enabled = false;
  std::string address = "255.255.255.255";  // broadcast; tests use 127.0.0.1
  uint16_t udp_port = kDefaultBeaconPort;
  std::chrono::milliseconds interval{2'000};
  // The deployment's authority key. A Server uses its replica's (Replica::authority())
  // when this is empty; a BeaconSender needs it.
  std::optional<PublicKey> authority;
};

// Sends `beacon` to the configured address every interval until stop().
class BeaconSender {
 public:
  BeaconSender(boost::asio::io_context& io, BeaconOptions options, Beacon beacon, LogSink log);
  ~BeaconSender();
  BeaconSender(const BeaconSender&) = delete;
  BeaconSender& operator=(const BeaconSender&) = delete;

  // Opens the UDP socket and starts sending; invalid_argument for a bad address.
  Status start();
  void stop();
  uint64_t sent() const;

  struct State;  // internal; shared with the sending coroutine

 private:
  std::shared_ptr<State> state_;
};

}  // namespace birga::transport
