// Helpers for transport tests: a Server running on its own thread, capturing its log lines
// and session results; raw loopback clients; small record writers.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "birga/transport/client.h"
#include "birga/transport/server.h"
#include "sync_fixture.h"

namespace birga::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

inline const std::string& kMahalla = kMahallaA;  // the one mahalla most tests use

inline crdt::RecordId write_visit(Replica& r, const std::string& household,
                                  const std::string& notes = "routine visit",
                                  const std::string& scope = kMahalla) {
  Transaction t = r.begin();
  const crdt::RecordId id = t.create("visit", scope);
  t.set("visit", id, "household", crdt::text(household))
      .set("visit", id, "notes", crdt::text(notes));
  Status st = t.commit();
  INFO(st.to_string());
  REQUIRE(st.is_ok());
  return id;
}

// A Server on its own thread. Log lines and results are captured (and log lines echoed to
// stderr when BIRGA_TEST_VERBOSE is set). Destruction stops it and joins.
class RunningServer {
 public:
  RunningServer(Replica& replica, transport::ServerOptions options = {}) {
    if (options.address != "::1") options.address = "127.0.0.1";  // loopback only
    const bool verbose = std::getenv("BIRGA_TEST_VERBOSE") != nullptr;
    options.log = [this, verbose](const std::string& line) {
      if (verbose) std::fprintf(stderr, "server: %s\n", line.c_str());
      std::lock_guard<std::mutex> g(mu_);
      log_.push_back(line);
    };
    options.on_session = [this](const transport::SyncResult& r) {
      std::lock_guard<std::mutex> g(mu_);
      results_.push_back(r);
      cv_.notify_all();
    };
    server_ = std::make_unique<transport::Server>(replica, std::move(options));
    listen_status_ = server_->listen();
    if (listen_status_.is_ok()) thread_ = std::thread([this] { server_->run(); });
  }
  ~RunningServer() { stop(); }

  void stop() {
    if (!thread_.joinable()) return;
    server_->stop();
    thread_.join();
  }

  const Status& listen_status() const { return listen_status_; }
  uint16_t port() const { return server_->port(); }
  transport::Server& server() { return *server_; }

  // Waits until `n` sessions have ended (at most `timeout`); returns whether they did.
  bool wait_sessions(size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> g(mu_);
    return cv_.wait_for(g, timeout, [&] { return results_.size() >= n; });
  }
  std::vector<transport::SyncResult> results() {
    std::lock_guard<std::mutex> g(mu_);
    return results_;
  }
  std::vector<std::string> log() {
    std::lock_guard<std::mutex> g(mu_);
    return log_;
  }
  // The first log line containing every one of `parts`, or "".
  std::string find_log(std::initializer_list<std::string> parts) {
    for (const std::string& line : log()) {
      bool all = true;
      for (const std::string& p : parts) all = all && line.find(p) != std::string::npos;
      if (all) return line;
    }
    return "";
  }

 private:
  std::unique_ptr<transport::Server> server_;
  Status listen_status_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> log_;
  std::vector<transport::SyncResult> results_;
};

// A raw TCP client on loopback, for sending what no real client would.
class RawClient {
 public:
  explicit RawClient(uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  void write(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }
  std::string local() const {
    return "127.0.0.1:" + std::to_string(socket_.local_endpoint().port());
  }
  // Reads until the server closes (or `timeout`); returns whether it closed, and what it
  // sent.
  bool wait_closed(std::chrono::milliseconds timeout, std::string* received = nullptr) {
    socket_.non_blocking(true);
    const auto end = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    bool closed = false;
    while (!closed && std::chrono::steady_clock::now() < end) {
      boost::system::error_code ec;
      const size_t n = socket_.read_some(asio::buffer(buf), ec);
      if (ec == asio::error::would_block) {
        std::this_thread::sleep_for(5ms);
      } else if (ec) {
        closed = true;  // end of stream or reset
      } else if (received) {
        received->append(buf, n);
      }
    }
    boost::system::error_code ig;
    socket_.non_blocking(false, ig);
    return closed;
  }

 private:
  asio::io_context io_;
  tcp::socket socket_;
};

// A raw TCP server on loopback for one connection: sends `bytes` once connected, then keeps
// the connection open until the client closes it or `hold` passes.
class RawServer {
 public:
  RawServer(std::string bytes, std::chrono::milliseconds hold = 5s)
      : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this, bytes = std::move(bytes), hold] {
      tcp::socket s(io_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec) return;
      asio::write(s, asio::buffer(bytes), ec);
      s.non_blocking(true, ec);
      const auto end = std::chrono::steady_clock::now() + hold;
      char buf[4096];
      while (std::chrono::steady_clock::now() < end) {
        s.read_some(asio::buffer(buf), ec);
        if (ec == asio::error::would_block) {
          std::this_thread::sleep_for(5ms);
        } else if (ec) {
          break;
        }
      }
    });
  }
  ~RawServer() {
    boost::system::error_code ec;
    // Unblocks accept() if no client came: connect to ourselves once.
    tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ec);
    poke.close(ec);
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

}  // namespace birga::test
