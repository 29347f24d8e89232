// Server and client over real loopback TCP with enrolled replicas on disk: convergence,
// hostile input that closes one session while others complete, deadlines, backpressure
// against a slow reader, 200 concurrent sessions, refusals, stop, discovery.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/udp.hpp>
#include <catch2/catch.hpp>
#include <cstdio>
#include <random>

#include "birga/transport/frame.h"
#include "test_proxy.h"
#include "transport_fixture.h"

using namespace birga;
using namespace birga::test;
using transport::ClientOptions;
using transport::ServerOptions;
using transport::sync_once;
using transport::SyncResult;

namespace {

struct Pair {
  Deployment d;
  std::unique_ptr<Replica> hub, tablet;
  Pair() {
    // The tablet first: its grant creates the mahalla's scope key, which the hub then gets
    // in its own enrolment bundle (so both can write there).
    tablet = d.add("tablet-1", Role::kField, {{kMahalla, kRead | kWrite}});
    hub = d.add("hub", Role::kHub, {{kDistrict, kRead | kWrite | kRelay}});
    REQUIRE((hub && tablet));
  }
};

ServerOptions quick_server() {
  ServerOptions o;
  o.session.handshake_timeout = 5s;
  o.session.idle_timeout = 5s;
  return o;
}

ClientOptions quick_client() {
  ClientOptions o;
  o.connect_timeout = 5s;
  o.session.handshake_timeout = 5s;
  o.session.idle_timeout = 5s;
  return o;
}

std::string hash_of(Replica& r, const std::string& scope = kMahalla) {
  auto h = r.state_hash(scope);
  REQUIRE(h.is_ok());
  return *h;
}

}  // namespace

TEST_CASE("Server: two replicas sync over TCP in both directions and converge",
          "[transport][server]") {
  Pair p;
  for (int i = 0; i < 3; ++i) write_visit(*p.tablet, "tablet-hh-" + std::to_string(i));
  for (int i = 0; i < 2; ++i) write_visit(*p.hub, "hub-hh-" + std::to_string(i));
  SyncResult first, second;
  {
    RunningServer server(*p.hub, quick_server());
    REQUIRE(server.listen_status().is_ok());
    first = sync_once(*p.tablet, "127.0.0.1", server.port(), quick_client());
    INFO(first.status.to_string());
    REQUIRE(first.status.is_ok());
    second = sync_once(*p.tablet, "127.0.0.1", server.port(), quick_client());
    REQUIRE(second.status.is_ok());
    REQUIRE(server.wait_sessions(2));
    const auto results = server.results();
    CHECK(results[0].status.is_ok());
    CHECK(results[0].peer.name == "tablet-1");
    CHECK(results[0].stats.changes_received >= 3);
    CHECK_FALSE(server.find_log({"completed", "tablet-1"}).empty());
  }
  CHECK(first.peer.name == "hub");
  CHECK(first.stats.changes_sent >= 3);
  CHECK(first.stats.changes_received >= 2);
  CHECK(first.stats.refused.empty());
  CHECK(first.wire_bytes_sent > 0);
  CHECK(first.seconds > 0);
  // Nothing new the second time, and no false alarm. (Both fail while the engine's fork
  // check in read_summary compares the peer's head with the first missing change of ANY
  // author of the scope: with two authors in one scope it reports an equivocation and
  // resends one change as "evidence" on every sync.)
  auto alerts = p.hub->alerts();
  REQUIRE(alerts.is_ok());
  for (const Alert& a : *alerts) CHECK(a.kind != "equivocation");
  CHECK(second.stats.changes_sent == 0);
  CHECK(second.stats.changes_received == 0);
  // The server has stopped: its replica may be read on this thread now.
  CHECK(hash_of(*p.tablet) == hash_of(*p.hub));
  auto listed = p.hub->list("visit");
  REQUIRE(listed.is_ok());
  CHECK(listed->size() == 5);
}

TEST_CASE("Server: IPv6 loopback works when the system has it", "[transport][server]") {
  Pair p;
  write_visit(*p.tablet, "v6-hh");
  ServerOptions o = quick_server();
  o.address = "::1";
  RunningServer server(*p.hub, o);
  if (!server.listen_status().is_ok()) {
    WARN("no IPv6 loopback here: " << server.listen_status().to_string());
    return;
  }
  auto r = sync_once(*p.tablet, "::1", server.port(), quick_client());
  INFO(r.status.to_string());
  CHECK(r.status.is_ok());
  CHECK(r.stats.changes_sent >= 1);
}

TEST_CASE("Server: hostile input closes that session only, with a logged reason",
          "[transport][server][hostile]") {
  Pair p;
  write_visit(*p.tablet, "legit-hh");
  RunningServer server(*p.hub, quick_server());
  REQUIRE(server.listen_status().is_ok());

  SECTION("an oversized length prefix") {
    RawClient raw(server.port());
    const auto h = transport::frame_header(kMaxFrameBytes + 1);
    raw.write(std::string(reinterpret_cast<const char*>(h.data()), h.size()));
    const auto legit = sync_once(*p.tablet, "127.0.0.1", server.port(), quick_client());
    CHECK(legit.status.is_ok());
    CHECK(raw.wait_closed(3s));
    REQUIRE(server.wait_sessions(2));
    const std::string line = server.find_log({raw.local(), "exceeds the limit"});
    INFO("log: " << line);
    CHECK_FALSE(line.empty());
  }
  SECTION("a hello longer than a handshake frame may be, before anyone is authenticated") {
    RawClient raw(server.port());
    const auto h = transport::frame_header(kMaxHandshakeFrameBytes + 1);
    raw.write(std::string(reinterpret_cast<const char*>(h.data()), h.size()));
    CHECK(raw.wait_closed(3s));
    REQUIRE(server.wait_sessions(1));
    const std::string line = server.find_log(
        {raw.local(), "exceeds the limit of " + std::to_string(kMaxHandshakeFrameBytes)});
    INFO("log: " << line);
    CHECK_FALSE(line.empty());
  }
  SECTION("garbage bytes instead of a hello") {
    RawClient raw(server.port());
    std::mt19937 rng(42);
    std::string junk(300, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    raw.write(transport::encode_frame(junk));
    const auto legit = sync_once(*p.tablet, "127.0.0.1", server.port(), quick_client());
    CHECK(legit.status.is_ok());
    CHECK(raw.wait_closed(3s));
    REQUIRE(server.wait_sessions(2));
    size_t failed = 0;
    for (const auto& r : server.results()) failed += !r.status.is_ok();
    CHECK(failed == 1);
    CHECK_FALSE(server.find_log({raw.local(), "handshake"}).empty());
  }
  SECTION("a frame that fails to open after a real handshake") {
    // The test plays the client with the engine's own handshake, then sends a bad frame.
    auto hs = Handshake::begin(*p.tablet, true);
    REQUIRE(hs.is_ok());
    RawClient raw(server.port());
    raw.write(transport::encode_frame((*hs)->hello()));
    // The server's hello, then its proof come back; the raw client reads the hello only.
    std::string got;
    raw.wait_closed(300ms, &got);
    REQUIRE(got.size() >= 4);
    const uint32_t n =
        transport::frame_length({static_cast<uint8_t>(got[0]), static_cast<uint8_t>(got[1]),
                                 static_cast<uint8_t>(got[2]), static_cast<uint8_t>(got[3])});
    REQUIRE(got.size() >= 4 + n);
    auto proof = (*hs)->receive_hello(got.substr(4, n));
    REQUIRE(proof.is_ok());
    raw.write(transport::encode_frame(*proof));
    raw.write(transport::encode_frame(std::string(100, 'z')));  // not sealed by the channel
    CHECK(raw.wait_closed(3s));
    REQUIRE(server.wait_sessions(1));
    const std::string line = server.find_log({"tablet-1", "failed to open"});
    INFO("log: " << line);
    CHECK_FALSE(line.empty());
    CHECK(server.results()[0].status.code() == Code::kCorruptInput);
    CHECK(sync_once(*p.tablet, "127.0.0.1", server.port(), quick_client()).status.is_ok());
  }
}

TEST_CASE("Server: a client that sends nothing is closed after the handshake timeout",
          "[transport][server][timeout]") {
  Pair p;
  ServerOptions o = quick_server();
  o.session.handshake_timeout = 300ms;
  RunningServer server(*p.hub, o);
  REQUIRE(server.listen_status().is_ok());
  const auto t0 = std::chrono::steady_clock::now();
  RawClient silent(server.port());
  CHECK(silent.wait_closed(3s));
  const auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(waited >= 250ms);
  CHECK(waited < 2s);
  REQUIRE(server.wait_sessions(1));
  const auto r = server.results()[0];
  CHECK(r.status.code() == Code::kUnavailable);
  CHECK_THAT(r.status.message(), Catch::Contains("handshake timeout"));
  CHECK_FALSE(server.find_log({silent.local(), "handshake timeout"}).empty());
}

TEST_CASE("Server: a peer silent after the handshake is closed after the idle timeout",
          "[transport][server][timeout]") {
  Pair p;
  ServerOptions o = quick_server();
  o.session.idle_timeout = 300ms;
  RunningServer server(*p.hub, o);
  REQUIRE(server.listen_status().is_ok());
  auto hs = Handshake::begin(*p.tablet, true);
  REQUIRE(hs.is_ok());
  RawClient raw(server.port());
  raw.write(transport::encode_frame((*hs)->hello()));
  std::string got;
  raw.wait_closed(200ms, &got);
  REQUIRE(got.size() >= 4);
  const uint32_t n =
      transport::frame_length({static_cast<uint8_t>(got[0]), static_cast<uint8_t>(got[1]),
                               static_cast<uint8_t>(got[2]), static_cast<uint8_t>(got[3])});
  auto proof = (*hs)->receive_hello(got.substr(4, n));
  REQUIRE(proof.is_ok());
  raw.write(transport::encode_frame(*proof));
  CHECK(raw.wait_closed(3s));  // after the server's summary, nothing: idle
  REQUIRE(server.wait_sessions(1));
  const auto r = server.results()[0];
  CHECK(r.status.code() == Code::kUnavailable);
  CHECK_THAT(r.status.message(), Catch::Contains("idle timeout"));
  CHECK_FALSE(server.find_log({"tablet-1", "idle timeout"}).empty());
}

TEST_CASE("Server: refusals and unreachable peers map to distinct codes",
          "[transport][server][trust]") {
  Pair p;
  RunningServer server(*p.hub, quick_server());
  REQUIRE(server.listen_status().is_ok());
  SECTION("a device of another deployment is refused") {
    Deployment other;
    auto stranger = other.add("stranger", Role::kField, {{kMahalla, kRead | kWrite}});
    REQUIRE(stranger);
    auto r = sync_once(*stranger, "127.0.0.1", server.port(), quick_client());
    INFO(r.status.to_string());
    CHECK(r.status.code() == Code::kPermissionDenied);
    REQUIRE(server.wait_sessions(1));
    CHECK(server.results()[0].status.code() == Code::kPermissionDenied);
    CHECK_FALSE(server.find_log({"refusing the peer"}).empty());
  }
  SECTION("a revoked device is refused; to it the refusal is the connection closing") {
    auto revocation = p.d.authority->revoke(p.tablet->device_key(), "tablet lost");
    REQUIRE(revocation.is_ok());
    // The hub learns of it; the tablet does not, so only the hub refuses.
    server.stop();
    auto log = p.d.authority->control_log();
    REQUIRE(log.is_ok());
    REQUIRE(p.hub->ingest(*log).is_ok());
    RunningServer again(*p.hub, quick_server());
    REQUIRE(again.listen_status().is_ok());
    auto r = sync_once(*p.tablet, "127.0.0.1", again.port(), quick_client());
    INFO(r.status.to_string());
    CHECK(r.status.code() == Code::kPermissionDenied);
    REQUIRE(again.wait_sessions(1));
    CHECK(again.results()[0].status.code() == Code::kPermissionDenied);
    CHECK_FALSE(again.find_log({"refusing the peer"}).empty());
  }
  SECTION("nobody listening") {
    const uint16_t port = server.port();
    server.stop();
    auto r = sync_once(*p.tablet, "127.0.0.1", port, quick_client());
    CHECK(r.status.code() == Code::kUnavailable);
    CHECK_THAT(r.status.message(), Catch::Contains("cannot connect"));
  }
}

TEST_CASE("Client: what a bad server does maps to the result's code", "[transport][client]") {
  Pair p;
  ClientOptions co = quick_client();
  co.session.handshake_timeout = 300ms;
  SECTION("an oversized length prefix is a protocol error") {
    const auto h = transport::frame_header(kMaxFrameBytes + 1);
    RawServer bad(std::string(reinterpret_cast<const char*>(h.data()), h.size()));
    auto r = sync_once(*p.tablet, "127.0.0.1", bad.port(), co);
    CHECK(r.status.code() == Code::kCorruptInput);
    CHECK_THAT(r.status.message(), Catch::Contains("exceeds the limit"));
    CHECK_THAT(r.status.message(), !Catch::Contains("not a Birga node"));
  }
  SECTION("a server speaking another protocol is named as not a Birga node") {
    RawServer web("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    auto r = sync_once(*p.tablet, "127.0.0.1", web.port(), co);
    CHECK(r.status.code() == Code::kCorruptInput);
    CHECK_THAT(r.status.message(),
               Catch::Contains("(the peer sent text, \"HTTP\": it is not a Birga node)"));
  }
  SECTION("garbage instead of a hello is refused") {
    RawServer bad(transport::encode_frame(std::string(200, '\x5a')));
    auto r = sync_once(*p.tablet, "127.0.0.1", bad.port(), co);
    INFO(r.status.to_string());
    CHECK_FALSE(r.status.is_ok());
    CHECK(r.status.code() != Code::kUnavailable);
    CHECK_THAT(r.status.message(), Catch::Contains("handshake"));
  }
  SECTION("a server that says nothing times out") {
    RawServer mute("");
    const auto t0 = std::chrono::steady_clock::now();
    auto r = sync_once(*p.tablet, "127.0.0.1", mute.port(), co);
    CHECK(r.status.code() == Code::kUnavailable);
    CHECK_THAT(r.status.message(), Catch::Contains("handshake timeout"));
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  }
  SECTION("a listener that never accepts: the connect timeout") {
    // A backlog of 0 holds one connection; two fill it, and the next SYN is dropped.
    asio::io_context io;
    tcp::acceptor full(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    full.listen(0);
    std::vector<tcp::socket> fillers;
    for (int i = 0; i < 3; ++i) {
      // Started (the SYN goes out at once) but never completed: `io` never runs.
      fillers.emplace_back(io);
      fillers.back().async_connect(full.local_endpoint(), [](const boost::system::error_code&) {});
    }
    std::this_thread::sleep_for(50ms);
    co.connect_timeout = 300ms;
    const auto t0 = std::chrono::steady_clock::now();
    auto r = sync_once(*p.tablet, "127.0.0.1", full.local_endpoint().port(), co);
    const auto waited = std::chrono::steady_clock::now() - t0;
    INFO(r.status.to_string());
    CHECK(r.status.code() == Code::kUnavailable);
    CHECK(waited < 3s);
  }
}

TEST_CASE("Server: past max_sessions it stops accepting until a session ends",
          "[transport][server]") {
  Pair p;
  ServerOptions o = quick_server();
  o.max_sessions = 1;
  o.session.handshake_timeout = 300ms;
  RunningServer server(*p.hub, o);
  REQUIRE(server.listen_status().is_ok());
  const auto t0 = std::chrono::steady_clock::now();
  RawClient first(server.port());
  RawClient second(server.port());  // waits in the listen backlog
  CHECK(first.wait_closed(3s));
  CHECK(second.wait_closed(3s));
  const auto waited = std::chrono::steady_clock::now() - t0;
  REQUIRE(server.wait_sessions(2));
  CHECK(server.server().stats().peak_active == 1);
  CHECK(waited >= 550ms);  // one handshake timeout after the other
  CHECK(waited < 3s);
}

TEST_CASE("Server: stop() ends sessions in progress and returns", "[transport][server]") {
  Pair p;
  RunningServer server(*p.hub, quick_server());
  REQUIRE(server.listen_status().is_ok());
  RawClient silent(server.port());
  std::this_thread::sleep_for(100ms);  // accepted, waiting in the handshake
  const auto t0 = std::chrono::steady_clock::now();
  server.stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  REQUIRE(server.results().size() == 1);
  CHECK_THAT(server.results()[0].status.message(), Catch::Contains("server stopping"));
  CHECK(silent.wait_closed(1s));
}

TEST_CASE("Server: a slow reader does not make the server buffer without bound",
          "[transport][server][backpressure]") {
  Pair p;
  // ~4 MiB of hard-to-compress notes at the hub, in 32 KiB changes.
  std::mt19937_64 rng(9);
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
  size_t total = 0;
  for (int c = 0; c < 128; ++c) {
    Transaction t = p.hub->begin();
    for (int r = 0; r < 8; ++r) {
      std::string notes(4096, ' ');
      for (char& ch : notes) ch = alphabet[rng() % alphabet.size()];
      const crdt::RecordId id = t.create("visit", kMahalla);
      t.set("visit", id, "household", crdt::text("bulk-" + std::to_string(c * 8 + r)))
          .set("visit", id, "notes", crdt::text(notes));
      total += notes.size();
    }
    REQUIRE(t.commit().is_ok());
  }
  ServerOptions o = quick_server();
  o.session.max_send_queue_bytes = 256 << 10;
  o.session.socket_buffer_bytes = 32 << 10;
  o.session.sync.max_batch_bytes = 64 << 10;
  o.session.sync.window = 4;
  RunningServer server(*p.hub, o);
  REQUIRE(server.listen_status().is_ok());
  TestProxy::Options po;
  po.target_port = server.port();
  po.server_to_client_initial_pause = 500ms;
  po.server_to_client_bytes_per_second = 4 << 20;
  po.socket_buffer_bytes = 32 << 10;
  TestProxy proxy(po);

  ClientOptions co = quick_client();
  std::vector<std::chrono::steady_clock::time_point> progress;
  co.progress = [&](const SyncStats&) { progress.push_back(std::chrono::steady_clock::now()); };
  const auto r = sync_once(*p.tablet, "127.0.0.1", proxy.port(), co);
  INFO(r.status.to_string());
  REQUIRE(r.status.is_ok());
  CHECK(r.stats.changes_received >= 128);
  REQUIRE(server.wait_sessions(1));
  const auto stats = server.server().stats();
  const size_t bound = o.session.max_send_queue_bytes + 4 * ((64 << 10) + (40 << 10));
  std::printf(
      "[measure] slow reader: %zu bytes of notes in %.2f s; server queue high-water %zu "
      "bytes (bound %zu); reading paused %llu times\n",
      total, r.seconds, stats.send_queue_high_water, bound,
      static_cast<unsigned long long>(stats.backpressure_pauses));
  CHECK(stats.send_queue_high_water <= bound);
  INFO("backpressure pauses: " << stats.backpressure_pauses);
  CHECK(stats.send_queue_high_water < total / 4);
  CHECK(r.seconds >= 0.5);
  // Progress: at least one report, never two within 250 ms.
  CHECK_FALSE(progress.empty());
  for (size_t i = 1; i < progress.size(); ++i) CHECK(progress[i] - progress[i - 1] >= 249ms);
}

TEST_CASE("Server: 200 concurrent client sessions all complete", "[transport][server][scale]") {
  Deployment d;
  auto hub = d.add("hub", Role::kHub, {{kDistrict, kRead | kWrite | kRelay}});
  REQUIRE(hub);
  constexpr int kTablets = 20, kSessionsEach = 10;
  std::vector<std::unique_ptr<Replica>> tablets;
  for (int i = 0; i < kTablets; ++i) {
    tablets.push_back(
        d.add("tablet-" + std::to_string(i), Role::kField, {{kMahalla, kRead | kWrite}}));
    REQUIRE(tablets.back());
    write_visit(*tablets.back(), "hh-" + std::to_string(i) + "-a");
    write_visit(*tablets.back(), "hh-" + std::to_string(i) + "-b");
  }
  ServerOptions so = quick_server();
  so.session.handshake_timeout = 20s;
  so.session.idle_timeout = 20s;
  RunningServer server(*hub, so);
  REQUIRE(server.listen_status().is_ok());

  // Every client session on one thread, all started at once.
  asio::io_context io{1};
  std::vector<SyncResult> results;
  ClientOptions co = quick_client();
  co.connect_timeout = 20s;
  co.session.handshake_timeout = 20s;
  co.session.idle_timeout = 20s;
  const auto t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < kSessionsEach; ++s) {
    for (auto& t : tablets) {
      asio::co_spawn(io, transport::async_sync(*t, "127.0.0.1", server.port(), co),
                     [&](std::exception_ptr e, SyncResult r) {
                       if (e) r.status = Status::internal("exception");
                       results.push_back(std::move(r));
                     });
    }
  }
  io.run_for(60s);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(server.wait_sessions(kTablets * kSessionsEach, 10s));
  size_t ok = 0;
  std::string first_error;
  for (const auto& r : results) {
    if (r.status.is_ok()) {
      ++ok;
    } else if (first_error.empty()) {
      first_error = r.status.to_string();
    }
  }
  const auto stats = server.server().stats();
  std::printf("[measure] %d concurrent sessions: %zu ok in %.2f s (at most %llu at once)\n",
              kTablets * kSessionsEach, ok, seconds,
              static_cast<unsigned long long>(stats.peak_active));
  INFO("first error: " << first_error);
  CHECK(results.size() == size_t{kTablets * kSessionsEach});
  CHECK(ok == size_t{kTablets * kSessionsEach});
  CHECK(stats.completed == uint64_t{kTablets * kSessionsEach});
  CHECK(stats.failed == 0);
  server.stop();
  auto listed = hub->list("visit");
  REQUIRE(listed.is_ok());
  CHECK(listed->size() == size_t{2 * kTablets});
}

TEST_CASE("Server: the beacon announces the node to its deployment", "[transport][discovery]") {
  Pair p;
  asio::io_context probe;
  asio::ip::udp::socket s(probe, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const uint16_t udp_port = s.local_endpoint().port();
  s.close();
  ServerOptions o = quick_server();
  o.beacon.enabled = true;
  o.beacon.address = "127.0.0.1";
  o.beacon.udp_port = udp_port;
  o.beacon.interval = 50ms;
  // o.beacon.authority left empty: the server takes its replica's.
  const PublicKey hub_key = p.hub->device_key();
  RunningServer server(*p.hub, o);
  REQUIRE(server.listen_status().is_ok());
  transport::DiscoverOptions dopt;
  dopt.udp_port = udp_port;
  dopt.listen_address = "127.0.0.1";
  dopt.timeout = 2s;
  auto found = transport::discover(*p.tablet->authority(), dopt);
  REQUIRE(found.is_ok());
  REQUIRE(found->size() == 1);
  CHECK(found->front().tcp_port == server.port());
  CHECK(found->front().device == hub_key);
  // And the node found is the one to sync with.
  auto r = sync_once(*p.tablet, found->front().address, found->front().tcp_port, quick_client());
  CHECK(r.status.is_ok());
}

TEST_CASE("Transport: clocks more than ten minutes apart are named in a warning",
          "[transport][clock]") {
  transport::SyncResult r;
  r.peer.name = "Yunusobod hub";
  CHECK(transport::clock_warning(r).empty());  // no time from the peer
  r.peer_clock_offset_ms = 10 * 60 * 1000;
  CHECK(transport::clock_warning(r).empty());  // at the limit
  r.peer_clock_offset_ms = 11 * 60 * 1000;
  CHECK(transport::clock_warning(r).rfind("the clock of 'Yunusobod hub' is 11 min ahead of this "
                                          "device's",
                                          0) == 0);
  r.peer_clock_offset_ms = -(2 * 3600 + 5 * 60) * int64_t{1000};
  CHECK(transport::clock_warning(r).find("is 2 h 5 min behind this device's") != std::string::npos);
  r.peer_clock_offset_ms = int64_t{3} * 86400 * 1000 + 1;
  CHECK(transport::clock_warning(r).find("is 3 days ahead") != std::string::npos);
  CHECK(transport::describe(r).find("; the clock of 'Yunusobod hub' is 3 days ahead") !=
        std::string::npos);
  // A hub keeps its clock set: the device syncing with it is told to fix its own.
  r.peer.role = Role::kHub;
  r.peer_clock_offset_ms = -(2 * 3600 + 5 * 60) * int64_t{1000};
  CHECK(transport::clock_warning(r) ==
        "this device's clock is 2 h 5 min ahead of the clock of hub 'Yunusobod hub': set this "
        "device's date, time and time zone (writes carry the device's time)");
  r.peer_clock_offset_ms = 11 * 60 * 1000;
  CHECK(transport::clock_warning(r).rfind("this device's clock is 11 min behind the clock of hub",
                                          0) == 0);
}
