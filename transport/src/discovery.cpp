#include "birga/transport/discovery.h"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

namespace birga::transport {

namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {
constexpr char kMagic[4] = {'B', 'R', 'G', 'B'};
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
}  // namespace

std::string encode_beacon(const Beacon& b) {
  std::string out(kMagic, sizeof kMagic);
  out += static_cast<char>(kBeaconVersion);
  out.append(reinterpret_cast<const char*>(b.authority.data()), b.authority.size());
  out.append(reinterpret_cast<const char*>(b.device.data()), b.device.size());
  out += static_cast<char>(b.tcp_port >> 8);
  out += static_cast<char>(b.tcp_port & 0xff);
  return out;
}

std::optional<Beacon> decode_beacon(std::string_view d) {
  if (d.size() != kBeaconBytes) return std::nullopt;
  if (std::memcmp(d.data(), kMagic, sizeof kMagic) != 0) return std::nullopt;
  if (static_cast<uint8_t>(d[4]) != kBeaconVersion) return std::nullopt;
  Beacon b;
  std::memcpy(b.authority.data(), d.data() + 5, 32);
  std::memcpy(b.device.data(), d.data() + 37, 32);
  b.tcp_port =
      static_cast<uint16_t>((static_cast<uint8_t>(d[69]) << 8) | static_cast<uint8_t>(d[70]));
  if (b.tcp_port == 0) return std::nullopt;
  return b;
}

// --- discover ------------------------------------------------------------------------------

namespace {

struct Listener {
  udp::socket socket;
  asio::steady_timer deadline;
  PublicKey authority;
  size_t max_results;
  std::vector<DiscoveredNode> found;
};

asio::awaitable<void> listen_loop(Listener& l) {
  std::array<char, 512> buf;  // larger than a beacon, so an oversized datagram is seen whole
  // Bounded: one iteration per datagram, and the deadline closes the socket.
  for (int i = 0; i < 100'000 && l.found.size() < l.max_results; ++i) {
    udp::endpoint from;
    auto [ec, n] = co_await l.socket.async_receive_from(asio::buffer(buf), from, kAwait);
    if (ec) break;  // closed by the deadline, or a socket error
    auto b = decode_beacon(std::string_view(buf.data(), n));
    if (!b || b->authority != l.authority) continue;
    const bool seen = std::any_of(l.found.begin(), l.found.end(),
                                  [&](const DiscoveredNode& f) { return f.device == b->device; });
    if (seen) continue;
    l.found.push_back({from.address().to_string(), b->tcp_port, b->device});
  }
  l.deadline.cancel();
  boost::system::error_code ig;
  l.socket.close(ig);
}

}  // namespace

Result<std::vector<DiscoveredNode>> discover(const PublicKey& authority,
                                             const DiscoverOptions& options) {
  asio::io_context io;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options.listen_address, ec);
  if (ec) return Status::invalid_argument("discover: bad address '" + options.listen_address + "'");
  const udp::endpoint ep(address, options.udp_port);
  Listener l{udp::socket(io),
             asio::steady_timer(io),
             authority,
             std::max<size_t>(options.max_results, 1),
             {}};
  if (l.socket.open(ep.protocol(), ec) ||
      l.socket.set_option(udp::socket::reuse_address(true), ec) || l.socket.bind(ep, ec)) {
    return Status::unavailable("discover: cannot listen on UDP " + options.listen_address + ":" +
                               std::to_string(options.udp_port) + ": " + ec.message());
  }
  l.deadline.expires_after(options.timeout);
  l.deadline.async_wait([&l](const boost::system::error_code& e) {
    if (e) return;  // cancelled: the listener finished first
    boost::system::error_code ig;
    l.socket.close(ig);
  });
  asio::co_spawn(io, listen_loop(l), asio::detached);
  io.run();
  return std::move(l.found);
}

// --- BeaconSender --------------------------------------------------------------------------

struct BeaconSender::State {
  State(asio::io_context& io, BeaconOptions o, Beacon b, LogSink sink)
      : socket(io),
        timer(io),
        options(std::move(o)),
        payload(encode_beacon(b)),
        log(std::move(sink)) {}
  udp::socket socket;
  asio::steady_timer timer;
  BeaconOptions options;
  std::string payload;
  LogSink log;
  udp::endpoint target;
  bool stopped = false;
  uint64_t sent = 0;
};

namespace {

asio::awaitable<void> send_loop(std::shared_ptr<BeaconSender::State> s) {
  bool warned = false;
  while (!s->stopped) {
    auto [ec, n] = co_await s->socket.async_send_to(asio::buffer(s->payload), s->target, kAwait);
    if (s->stopped) break;
    if (!ec) {
      ++s->sent;
    } else if (!warned && s->log) {  // e.g. no route for broadcast: keep trying, log once
      s->log("beacon: sending to " + s->options.address + " failed: " + ec.message());
      warned = true;
    }
    s->timer.expires_after(s->options.interval);
    co_await s->timer.async_wait(kAwait);
  }
}

}  // namespace

BeaconSender::BeaconSender(asio::io_context& io, BeaconOptions options, Beacon beacon, LogSink log)
    : state_(std::make_shared<State>(io, std::move(options), beacon, std::move(log))) {}

BeaconSender::~BeaconSender() {
  stop();
}

Status BeaconSender::start() {
  State& s = *state_;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(s.options.address, ec);
  if (ec) return Status::invalid_argument("beacon: bad address '" + s.options.address + "'");
  s.target = udp::endpoint(address, s.options.udp_port);
  if (s.socket.open(s.target.protocol(), ec)) {
    return Status::unavailable("beacon: cannot open a UDP socket: " + ec.message());
  }
  if (address.is_v4()) s.socket.set_option(udp::socket::broadcast(true), ec);
  asio::co_spawn(s.socket.get_executor(), send_loop(state_), asio::detached);
  return Status::ok();
}

void BeaconSender::stop() {
  State& s = *state_;
  if (s.stopped) return;
  s.stopped = true;
  s.timer.cancel();
  boost::system::error_code ig;
  s.socket.close(ig);
}

uint64_t BeaconSender::sent() const {
  return state_->sent;
}

}  // namespace birga::transport
