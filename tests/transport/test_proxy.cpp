#include "test_proxy.h"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <mutex>
#include <set>
#include <thread>

namespace birga::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

// Follows the frame boundaries of one direction's byte stream.
struct FrameParser {
  std::array<uint8_t, 4> header{};
  size_t header_have = 0;
  uint64_t body_left = 0;

  // Scans `n` bytes; counts each frame completed into `frames`. Returns how many bytes were
  // scanned: all `n`, or fewer when `frames` reached `limit` (0: no limit) at that byte.
  size_t scan(const uint8_t* p, size_t n, uint64_t& frames, uint64_t limit) {
    size_t i = 0;
    while (i < n) {
      bool completed = false;
      if (header_have < 4) {
        header[header_have++] = p[i++];
        if (header_have == 4) {
          body_left = (uint64_t{header[0]} << 24) | (uint64_t{header[1]} << 16) |
                      (uint64_t{header[2]} << 8) | uint64_t{header[3]};
          completed = body_left == 0;
        }
      } else {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(body_left, n - i));
        i += take;
        body_left -= take;
        completed = body_left == 0;
      }
      if (completed) {
        header_have = 0;
        ++frames;
        if (limit != 0 && frames >= limit) return i;
      }
    }
    return n;
  }
};

}  // namespace

class TestProxy::Impl {
 public:
  explicit Impl(Options o) : options_(std::move(o)), acceptor_(io_) {
    const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }

  ~Impl() {
    asio::post(io_, [this] {
      boost::system::error_code ec;
      acceptor_.close(ec);
      close_all();
      io_.stop();
    });
    thread_.join();
  }

  struct Link {
    Link(asio::io_context& io, tcp::socket c, Options o, bool rule)
        : client(std::move(c)), server(io), options(std::move(o)), rule_applies(rule) {}
    tcp::socket client, server;
    Options options;
    bool rule_applies;
    FrameParser parser[2];
    uint64_t bytes[2] = {0, 0};
    uint64_t frames[2] = {0, 0};
    uint64_t frames_both = 0;
    int pumps_done = 0;
    bool closed = false;
    bool cut_fired = false;  // a rule cut this link: nothing more is forwarded either way
  };

  void close_link(Link& l, bool reset) {
    if (l.closed) return;
    l.closed = true;
    boost::system::error_code ec;
    for (tcp::socket* s : {&l.client, &l.server}) {
      if (reset) s->set_option(asio::socket_base::linger(true, 0), ec);
      s->close(ec);
    }
  }

  void close_all() {
    for (const auto& l : links_) close_link(*l, false);
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(kAwait);
      if (ec) co_return;
      Options o;
      bool rule;
      {
        std::lock_guard<std::mutex> g(mu_);
        o = options_;
        rule = connections_ < o.cut_connections;
        ++connections_;
      }
      auto link = std::make_shared<Link>(io_, std::move(socket), o, rule);
      links_.insert(link);
      asio::co_spawn(io_, run_link(link), asio::detached);
    }
  }

  asio::awaitable<void> run_link(std::shared_ptr<Link> l) {
    tcp::resolver resolver(io_);
    auto [rec, eps] = co_await resolver.async_resolve(
        l->options.target_host, std::to_string(l->options.target_port), kAwait);
    if (!rec) {
      if (l->options.socket_buffer_bytes > 0) {
        boost::system::error_code ig;
        l->server.open(eps.begin()->endpoint().protocol(), ig);
        set_buffers(l->server, l->options.socket_buffer_bytes);
        set_buffers(l->client, l->options.socket_buffer_bytes);
      }
      auto [cec, ep] = co_await asio::async_connect(l->server, eps, kAwait);
      rec = cec;
    }
    if (rec) {
      close_link(*l, false);
      links_.erase(l);
      co_return;
    }
    asio::co_spawn(io_, pump(l, 0), asio::detached);
    co_await pump(l, 1);
  }

  static void set_buffers(tcp::socket& s, int bytes) {
    boost::system::error_code ig;
    s.set_option(asio::socket_base::receive_buffer_size(bytes), ig);
    s.set_option(asio::socket_base::send_buffer_size(bytes), ig);
  }

  // Forwards one direction: 0 client -> server, 1 server -> client.
  asio::awaitable<void> pump(std::shared_ptr<Link> l, int dir) {
    tcp::socket& from = dir == 0 ? l->client : l->server;
    tcp::socket& to = dir == 0 ? l->server : l->client;
    const Options& o = l->options;
    const uint64_t rate = dir == 1 ? o.server_to_client_bytes_per_second : 0;
    asio::steady_timer timer(io_);
    if (dir == 1 && o.server_to_client_initial_pause.count() > 0) {
      timer.expires_after(o.server_to_client_initial_pause);
      co_await timer.async_wait(kAwait);
    }
    std::vector<uint8_t> buf(64 << 10);
    size_t chunk = buf.size();
    if (rate > 0) chunk = std::max<size_t>(1, std::min<size_t>(chunk, rate / 20));
    while (!l->closed) {
      auto [ec, n] = co_await from.async_read_some(asio::buffer(buf.data(), chunk), kAwait);
      if (l->cut_fired) break;
      if (ec) {
        if (ec == asio::error::eof && !l->closed) {
          boost::system::error_code ig;
          to.shutdown(tcp::socket::shutdown_send, ig);
          if (++l->pumps_done < 2) co_return;
        }
        break;
      }
      bool cut = false;
      const uint64_t frames_before = l->frames[dir];
      const size_t allowed = apply_rules(*l, dir, buf.data(), n, cut);
      if (cut) l->cut_fired = true;
      record(dir, buf.data(), allowed, l->frames[dir] - frames_before);
      if (allowed > 0) {
        auto [wec, wn] = co_await asio::async_write(to, asio::buffer(buf.data(), allowed), kAwait);
        if (wec || (l->cut_fired && !cut)) break;
      }
      if (cut) {
        {
          std::lock_guard<std::mutex> g(mu_);
          ++cuts_;
        }
        close_link(*l, o.reset_on_cut);
        break;
      }
      if (rate > 0) {
        timer.expires_after(std::chrono::microseconds(allowed * 1'000'000 / rate));
        co_await timer.async_wait(kAwait);
      }
    }
    close_link(*l, false);
    links_.erase(l);
  }

  // How many of the `n` bytes read may be forwarded before a cut rule fires (sets `cut`).
  size_t apply_rules(Link& l, int dir, const uint8_t* p, size_t n, bool& cut) {
    const Options& o = l.options;
    const bool counts = o.cut_direction == Direction::kBoth ||
                        (o.cut_direction == Direction::kClientToServer) == (dir == 0);
    size_t allowed = n;
    if (l.rule_applies && counts && o.cut_after_bytes > 0) {
      const uint64_t so_far =
          o.cut_direction == Direction::kBoth ? l.bytes[0] + l.bytes[1] : l.bytes[dir];
      const uint64_t left = o.cut_after_bytes > so_far ? o.cut_after_bytes - so_far : 0;
      if (left <= allowed) {
        allowed = static_cast<size_t>(left);
        cut = true;
      }
    }
    // Frames: count them in this direction (all of them, for the stats), and stop at the
    // limit when the rule applies here.
    uint64_t& counter = o.cut_direction == Direction::kBoth ? l.frames_both : l.frames[dir];
    const uint64_t before = l.frames[dir];
    if (l.rule_applies && counts && o.cut_after_frames > 0) {
      uint64_t c = counter;
      const size_t upto = l.parser[dir].scan(p, allowed, c, o.cut_after_frames);
      l.frames[dir] = before + (c - counter);
      counter = c;
      if (c >= o.cut_after_frames) {
        allowed = upto;
        cut = true;
      }
    } else {
      uint64_t c = 0;
      l.parser[dir].scan(p, allowed, c, 0);
      l.frames[dir] += c;
      if (o.cut_direction == Direction::kBoth) l.frames_both += c;
    }
    l.bytes[dir] += allowed;
    return allowed;
  }

  void record(int dir, const uint8_t* p, size_t n, uint64_t frames) {
    std::lock_guard<std::mutex> g(mu_);
    (dir == 0 ? c2s_ : s2c_).append(reinterpret_cast<const char*>(p), n);
    (dir == 0 ? bytes_c2s_ : bytes_s2c_) += n;
    (dir == 0 ? frames_c2s_ : frames_s2c_) += frames;
  }

  asio::io_context io_{1};
  mutable std::mutex mu_;
  Options options_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::set<std::shared_ptr<Link>> links_;  // io thread only
  std::string c2s_, s2c_;
  uint64_t bytes_c2s_ = 0, bytes_s2c_ = 0;
  uint64_t frames_c2s_ = 0, frames_s2c_ = 0;
  uint64_t connections_ = 0, cuts_ = 0;

  friend class TestProxy;
};

TestProxy::TestProxy(Options options) : impl_(std::make_shared<Impl>(std::move(options))) {}
TestProxy::~TestProxy() = default;

uint16_t TestProxy::port() const {
  return impl_->port_;
}

void TestProxy::set_options(const Options& options) {
  std::lock_guard<std::mutex> g(impl_->mu_);
  impl_->options_ = options;
}

uint64_t TestProxy::bytes_client_to_server() const {
  std::lock_guard<std::mutex> g(impl_->mu_);
  return impl_->bytes_c2s_;
}
uint64_t TestProxy::bytes_server_to_client() const {
  std::lock_guard<std::mutex> g(impl_->mu_);
  return impl_->bytes_s2c_;
}
uint64_t TestProxy::frames_client_to_server() const {
  std::lock_guard<std::mutex> g(impl_->mu_);
  return impl_->frames_c2s_;
}
uint64_t TestProxy::frames_server_to_client() const {
  std::lock_guard<std::mutex> g(impl_->mu_);
  return impl_->frames_s2c_;
}
std::string TestProxy::recorded_client_to_server() const {
  std::lock_guard<std::mutex> g(impl_->mu_);
  return impl_->c2s_;
}
std::string TestProxy::recorded_server_to_client() const {
  std::lock_guard<std::mutex> g(impl_->mu_);
  return impl_->s2c_;
}
uint64_t TestProxy::connections() const {
  std::lock_guard<std::mutex> g(impl_->mu_);
  return impl_->connections_;
}
uint64_t TestProxy::cuts() const {
  std::lock_guard<std::mutex> g(impl_->mu_);
  return impl_->cuts_;
}

void TestProxy::cut_all() {
  Impl* impl = impl_.get();
  asio::post(impl->io_, [impl] { impl->close_all(); });
}

}  // namespace birga::test
