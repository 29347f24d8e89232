// `birga serve` and `birga sync`: the network, through birga_transport.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>

#include "birga/crdt/codec.h"
#include "birga/transport/client.h"
#include "birga/transport/discovery.h"
#include "birga/transport/server.h"
#include "command.h"
#include "context.h"
#include "endpoint.h"
#include "json.h"

namespace birga::cli {
namespace {

using Type = FlagSpec::Type;

std::string short_hex(const PublicKey& k) {
  return key_hex(k).substr(0, 16);
}

// A whole number flag within [lo, hi]; the error names the flag.
Status number_flag(const Args& args, const char* flag, uint64_t lo, uint64_t hi, uint64_t* out) {
  const auto text = args.get(flag);
  if (!text) return Status::ok();
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text->c_str(), &end, 10);
  if (text->empty() || (*text)[0] == '-' || *end != '\0' || errno != 0 || v < lo || v > hi) {
    return Status::invalid_argument("--" + std::string(flag) + " must be a whole number from " +
                                    std::to_string(lo) + " to " + std::to_string(hi) + ", not '" +
                                    *text + "'");
  }
  *out = v;
  return Status::ok();
}

// A duration flag in seconds (decimals allowed), as milliseconds.
Status seconds_flag(const Args& args, const char* flag, std::chrono::milliseconds* out) {
  const auto text = args.get(flag);
  if (!text) return Status::ok();
  char* end = nullptr;
  const double v = std::strtod(text->c_str(), &end);
  if (text->empty() || *end != '\0' || !(v > 0) || v > 86400) {
    return Status::invalid_argument("--" + std::string(flag) +
                                    " must be a number of seconds (more than 0, at most 86400), "
                                    "not '" +
                                    *text + "'");
  }
  *out = std::chrono::milliseconds(static_cast<int64_t>(v * 1000));
  return Status::ok();
}

const char* outcome_name(PeerNotKept::Outcome o) {
  switch (o) {
    case PeerNotKept::Outcome::kQuarantined:
      return "quarantined";
    case PeerNotKept::Outcome::kWaiting:
      return "waiting";
    case PeerNotKept::Outcome::kRefused:
      break;
  }
  return "refused";
}

// `failure`: the session's status, or why it is a failure all the same (own changes not kept).
void write_result_json(JsonWriter& w, const transport::SyncResult& r, const Status& failure) {
  w.begin_object().key("ok").value(failure.is_ok());
  // A peer the handshake did not authenticate has no name or key: null, not zeros.
  if (r.peer.device == PublicKey{}) {
    w.key("peer").null().key("peer_key").null();
  } else {
    w.key("peer").value(r.peer.name).key("peer_key").value(key_hex(r.peer.device));
  }
  w.key("remote")
      .value(r.remote)
      .key("changes_sent")
      .value(r.stats.changes_sent)
      .key("changes_received")
      .value(r.stats.changes_received)
      .key("bytes_sent")
      .value(r.wire_bytes_sent)
      .key("bytes_received")
      .value(r.wire_bytes_received)
      .key("round_trips")
      .value(r.stats.round_trips)
      .key("ms")
      .value(static_cast<int64_t>(r.seconds * 1000));
  w.key("clock_offset_ms");  // how far the peer's clock is ahead of this device's
  if (r.peer_clock_offset_ms) {
    w.value(*r.peer_clock_offset_ms);
  } else {
    w.null();
  }
  w.key("refused").begin_array();
  for (const Status& s : r.stats.refused) w.value(s.message());
  w.end_array();
  // What of ours the peer did not keep (the first kMaxPeerNotKeptKept; the rest counted).
  w.key("peer_refused").begin_array();
  for (const PeerNotKept& n : r.stats.peer_not_kept) {
    w.begin_object().key("change").value(crdt::to_hex(n.change)).key("outcome");
    w.value(outcome_name(n.outcome)).key("reason").value(n.reason).key("own").value(n.own);
    if (!n.scope.empty()) w.key("scope").value(n.scope).key("seq").value(n.seq);
    w.end_object();
  }
  w.end_array();
  w.key("peer_refused_unlisted").value(r.stats.peer_not_kept_unlisted);
  if (!failure.is_ok()) write_error_json(w, failure.code(), failure.message());
  w.end_object();
}

std::string result_line(const transport::SyncResult& r) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "sent %llu change(s), received %llu; %llu bytes out, %llu bytes in; %llu round "
                "trip(s); %.2f s",
                (unsigned long long)r.stats.changes_sent,
                (unsigned long long)r.stats.changes_received, (unsigned long long)r.wire_bytes_sent,
                (unsigned long long)r.wire_bytes_received, (unsigned long long)r.stats.round_trips,
                r.seconds);
  const std::string who = r.peer.name.empty() ? r.remote
                                              : "'" + r.peer.name + "' (" +
                                                    short_hex(r.peer.device) + ") at " + r.remote;
  return who + ": " + buf;
}

// ---- serve ----------------------------------------------------------------------------------

Status run_serve(const Args& args) {
  const auto listen = args.get("listen");
  if (!listen) return Status::invalid_argument("--listen ADDRESS:PORT is required");
  auto endpoint = parse_endpoint(*listen);
  if (!endpoint.is_ok()) return endpoint.status();
  auto address = listen_address(endpoint->host);
  if (!address.is_ok()) return address.status();
  transport::ServerOptions options;
  options.address = *address;
  options.port = endpoint->port;
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  if (!(*replica)->certificate()) {
    return Status::permission_denied(
        "this replica is not enrolled: install a certificate "
        "with `birga cert install FILE` first");
  }
  options.stop_on_signals = true;
  uint64_t max_sessions = options.max_sessions, beacon_port = options.beacon.udp_port;
  BIRGA_RETURN_IF_ERROR(number_flag(args, "max-sessions", 1, 100000, &max_sessions));
  BIRGA_RETURN_IF_ERROR(number_flag(args, "beacon-port", 1, 65535, &beacon_port));
  options.max_sessions = max_sessions;
  if (args.has("beacon")) {
    options.beacon.enabled = true;
    if (auto a = args.get("beacon-address")) options.beacon.address = *a;
    options.beacon.udp_port = static_cast<uint16_t>(beacon_port);
  }
  // The transport logs each session on stderr; --json adds a machine-readable line on stdout.
  if (args.has("json")) {
    options.on_session = [](const transport::SyncResult& r) {
      JsonWriter w;
      write_result_json(w, r, r.status);
      std::cout << w.str() << std::endl;
    };
  }
  const bool json = args.has("json");
  transport::Server server(**replica, std::move(options));
  if (Status s = server.listen(); !s.is_ok()) {
    // The address is what was asked for: a usage problem (taken, or not this machine's), not
    // an unreachable peer (exit 5 is sync's).
    return Status::invalid_argument(s.message());
  }
  // With --json, stdout carries JSON lines only: this one, one per session, one at the end.
  const std::string bound = endpoint_text({*address, server.port()});
  if (json) {
    JsonWriter w;
    w.begin_object().key("listening").value(bound).key("port").value(uint64_t{server.port()});
    std::cout << w.end_object().str() << std::endl;
  } else {
    std::cout << "listening on " << bound << " (port " << server.port()
              << "); stop with Ctrl-C or SIGTERM" << std::endl;
  }
  server.run();
  const transport::ServerStats st = server.stats();
  if (json) {
    JsonWriter w;
    w.begin_object().key("stopped").value(true).key("completed").value(uint64_t{st.completed});
    w.key("failed").value(uint64_t{st.failed});
    std::cout << w.end_object().str() << std::endl;
  } else {
    std::cout << "stopped: " << st.completed << " session(s) completed, " << st.failed << " failed"
              << std::endl;
  }
  return Status::ok();
}

// ---- sync -----------------------------------------------------------------------------------

// The peer named on the command line; nullopt with --discover (found once the replica is
// open: the beacons are checked against its authority).
Result<std::optional<Endpoint>> peer_argument(const Args& args) {
  if (args.has("discover")) {
    BIRGA_RETURN_IF_ERROR(args.expect_positional({}));
    return std::optional<Endpoint>();
  }
  if (args.positional().size() != 1) {
    return Status::invalid_argument("give the peer as ADDRESS:PORT, or --discover");
  }
  auto peer = parse_endpoint(args.positional()[0]);
  if (!peer.is_ok()) return peer.status();
  if (peer->port == 0) {
    return Status::invalid_argument("'" + args.positional()[0] +
                                    "': port 0 is for serve --listen (any free port); give the "
                                    "port the peer listens on");
  }
  return std::optional<Endpoint>(*peer);
}

Result<Endpoint> discover_peer(const Replica& replica, const Args& args) {
  const auto authority = replica.authority();
  if (!authority) return Status::permission_denied("this replica is not enrolled");
  transport::DiscoverOptions options;
  uint64_t udp_port = options.udp_port;
  BIRGA_RETURN_IF_ERROR(number_flag(args, "discover-port", 1, 65535, &udp_port));
  options.udp_port = static_cast<uint16_t>(udp_port);
  BIRGA_RETURN_IF_ERROR(seconds_flag(args, "timeout", &options.timeout));
  auto found = transport::discover(*authority, options);
  if (!found.is_ok()) return found.status();
  if (found->empty()) {
    return Status::unavailable("no node of this deployment announced itself on UDP port " +
                               std::to_string(options.udp_port) +
                               "; give the hub's address instead");
  }
  return Endpoint{found->front().address, found->front().tcp_port};
}

// How long connecting and the handshake may take together without --timeout.
constexpr std::chrono::milliseconds kDefaultSyncTimeout{10'000};

// Whether the last failure of run_sync came from the network session (exit 5/6/7) rather than
// from this device (wrong passphrase, not enrolled: the usual codes).
bool g_network_failure = false;

Status run_sync(const Args& args) {
  g_network_failure = false;
  // The address is checked before the passphrase is asked for, as serve's is.
  auto argument = peer_argument(args);
  if (!argument.is_ok()) return argument.status();
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  if (!(*replica)->certificate()) {
    return Status::permission_denied(
        "this replica is not enrolled: install a certificate with `birga cert install FILE` "
        "before syncing");
  }
  auto peer = *argument ? Result<Endpoint>(**argument) : discover_peer(**replica, args);
  if (!peer.is_ok()) return peer.status();
  transport::ClientOptions options;
  // One bound from the first connection attempt to an authenticated peer: a peer that
  // accepts the connection and then says nothing is given up on at --timeout too.
  options.setup_timeout = kDefaultSyncTimeout;
  BIRGA_RETURN_IF_ERROR(seconds_flag(args, "timeout", &options.setup_timeout));
  const bool terminal = isatty(STDERR_FILENO) && !args.has("json");
  const auto started = std::chrono::steady_clock::now();
  bool progress_shown = false;
  options.progress = [&](const SyncStats& s) {
    if (!terminal || std::chrono::steady_clock::now() - started < std::chrono::seconds(1)) return;
    progress_shown = true;
    std::fprintf(stderr, "\rsyncing with %s: %llu change(s) sent, %llu received, %llu KiB   ",
                 endpoint_text(*peer).c_str(), (unsigned long long)s.changes_sent,
                 (unsigned long long)s.changes_received,
                 (unsigned long long)((s.bytes_sent + s.bytes_received) >> 10));
  };
  const transport::SyncResult r = transport::sync_once(**replica, peer->host, peer->port, options);
  if (progress_shown) std::fprintf(stderr, "\n");
  if (const std::string warning = transport::clock_warning(r); !warning.empty()) {
    std::cerr << "warning: " << warning << "\n";
  }
  // A completed session whose peer did not keep changes this device wrote failed all the
  // same: the worker's records are not at the hub.
  const Status not_kept = transport::own_changes_not_kept(r);
  const Status failure = r.status.is_ok() ? not_kept : r.status;
  if (args.has("json")) {
    // The result, and the failure if any, as one object.
    JsonWriter w;
    write_result_json(w, r, failure);
    std::cout << w.str() << "\n";
    if (!failure.is_ok()) note_json_error_printed();
  } else if (r.status.is_ok()) {
    std::cout << "synced with " << result_line(r) << "\n";
    for (const Status& s : r.stats.refused) std::cout << "  refused: " << s.message() << "\n";
    for (const PeerNotKept& n : r.stats.peer_not_kept) {
      std::cout << "  not kept by the peer: " << transport::describe(n) << "\n";
    }
    if (r.stats.peer_not_kept_unlisted > 0) {
      std::cout << "  not kept by the peer: " << r.stats.peer_not_kept_unlisted
                << " more change(s)\n";
    }
  }
  if (failure.is_ok()) return Status::ok();
  g_network_failure = true;
  return failure.with_context("sync with " + endpoint_text(*peer));
}

int sync_exit_code(const Status& s) {
  if (!g_network_failure) return exit_code_for(s);
  switch (s.code()) {
    case Code::kUnavailable:
      return kExitUnreachable;
    case Code::kPermissionDenied:
      return kExitRefused;
    case Code::kCorruptInput:
      return kExitProtocol;
    default:
      return exit_code_for(s);
  }
}

}  // namespace

std::vector<Command> sync_commands() {
  return {
      {"sync",
       "ADDRESS:PORT | --discover",
       "sync once with a hub or a colleague's device and print what moved",
       "Both sides send what the other lacks of the scopes both certificates allow. ADDRESS "
       "is an IPv4 address, a host name or an IPv6 address in brackets ([fd00::1]:7400). Exit "
       "codes: 0 synced, 4 this store was restored from a backup or copied (re-enrol the "
       "device with a new key), 5 unreachable, 6 refused (by either side, also when the "
       "peer did not keep changes this device wrote: each is listed), 7 protocol error. "
       "--timeout bounds the time from the first connection attempt until the peer is "
       "authenticated, so a peer that accepts the connection and then says nothing is "
       "unreachable (exit 5) once it passes. The sync after it has no overall bound: it ends "
       "after 30 s without a complete frame either way. With --discover, --timeout is also "
       "how long to listen for beacons (default 3). A sync longer than a second shows "
       "progress on a terminal.",
       {kDirFlag,
        kJsonFlag,
        {"discover", Type::kSwitch, "       find a node of this deployment on the LAN"},
        {"discover-port", Type::kValue, "N      UDP port of the beacons (default 47100)"},
        {"timeout", Type::kValue, "SECONDS  connecting + handshake, together (default 10)"}},
       run_sync,
       true,
       sync_exit_code},
      {"serve",
       "--listen ADDRESS:PORT",
       "run a node (a hub) that accepts syncs until SIGINT/SIGTERM",
       "Logs one line per session; with --json prints each session's result as a JSON line. "
       "ADDRESS is an IPv4 address, a host name (its first address) or an IPv6 address in "
       "brackets ([::]:7400); port 0 is any free port. "
       "--beacon announces the node on the LAN for `birga sync --discover`.",
       {kDirFlag,
        kJsonFlag,
        {"listen", Type::kValue, "ADDRESS:PORT  where to listen (0.0.0.0:7400, [::]:7400)"},
        {"max-sessions", Type::kValue, "N   concurrent sessions (default 1024)"},
        {"beacon", Type::kSwitch, "       send LAN discovery beacons"},
        {"beacon-address", Type::kValue, "ADDR   beacon destination (default broadcast)"},
        {"beacon-port", Type::kValue, "N      beacon UDP port (default 47100)"}},
       run_serve},
  };
}

}  // namespace birga::cli
