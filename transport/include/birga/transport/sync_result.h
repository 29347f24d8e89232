// What every transport session shares: its options, its result and where its log lines go.
//
// A session (client or server side) is: the handshake (hellos in clear, proofs sealed), then the
// SyncSession's messages sealed by the SecureChannel, until both sides are done; then a clean
// close. Any failure (bad frame, refused certificate, timeout, engine error) ends that one
// session with a Status that names the peer and the reason.
//
// Thread rule: plain values. A LogSink is called on the thread that runs the session.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "birga/session.h"
#include "birga/status.h"
#include "birga/trust.h"

namespace birga::transport {

// Receives one line of log text (no trailing newline).
using LogSink = std::function<void(const std::string&)>;

// Prints each line to stderr, prefixed with a UTC timestamp ("2024-05-01T10:00:00.123Z").
LogSink stderr_log_sink();

struct SessionOptions {
  // From the TCP connection to the authenticated peer; covers both hellos and both proofs.
  std::chrono::milliseconds handshake_timeout{10'000};
  // After the handshake: the longest time without a complete frame in either direction.
  std::chrono::milliseconds idle_timeout{30'000};
  // After this side is done: how long to wait for the peer to close its half.
  std::chrono::milliseconds close_timeout{2'000};
  // While more than this many bytes wait to be written to the peer, nothing more is read
  // from it (backpressure: a peer that does not read cannot make the node buffer without
  // bound). The queue can exceed it by the output of one message.
  size_t max_send_queue_bytes = size_t{8} << 20;
  // SO_SNDBUF and SO_RCVBUF of the session's socket; 0 keeps the system's (auto-tuned)
  // sizes. A hub with many peers may lower it to bound kernel memory per connection.
  int socket_buffer_bytes = 0;
  SyncOptions sync;
};

// The outcome of one session, as the server reports it and sync_once returns it.
struct SyncResult {
  // ok; kUnavailable (unreachable, timed out, connection lost, server stopping);
  // kPermissionDenied (this side refused the peer; or the peer closed the connection during
  // the handshake or before its first sync frame, which is how a refusal looks from the
  // refused side); kCorruptInput (bad frame, a frame that fails to open, a protocol
  // violation); other engine codes as the engine returns them.
  Status status;
  SyncStats stats;
  Certificate peer;  // as authenticated by the handshake; empty (name "") before it
  double seconds = 0;

  std::string remote;            // "address:port" of the peer
  uint64_t wire_bytes_sent = 0;  // bytes on the TCP stream, frame headers included
  uint64_t wire_bytes_received = 0;
  size_t send_queue_high_water = 0;  // the most bytes ever queued for this peer
  // How far the peer's clock is ahead of this node's (negative: behind), from the handshake
  // (Handshake::peer_clock_offset_ms); nullopt before the handshake or from a peer that gave
  // no time.
  std::optional<int64_t> peer_clock_offset_ms;
};

// When the two clocks of a session are more than Handshake::kClockWarningMs apart, a warning
// for the person syncing; otherwise "". With a hub (which keeps its clock set): "this device's
// clock is 2 h 5 min ahead of the clock of hub 'NAME': set this device's date, time and time
// zone (writes carry the device's time)"; with another peer: "the clock of 'NAME' is 2 h 5 min
// behind this device's: check the date, time and time zone of the one that is wrong (writes
// carry the device's time)".
std::string clock_warning(const SyncResult& result);

// "127.0.0.1:5555" before the handshake; "127.0.0.1:5555 tablet-7 [a1b2c3d4e5f60718]" after
// (the certificate name and the first 16 hex digits of the device key).
std::string peer_label(const std::string& remote, const Certificate* peer);

// One line describing a finished session, for logs and the CLI; with the changes the peer
// did not keep, if any, on lines of their own ("  not kept by the peer: ...").
std::string describe(const SyncResult& result);

// The words for one change the peer did not keep: "your change 3 in scope 'S' (id 1a2b3c4d):
// refused by the peer: REASON".
std::string describe(const PeerNotKept& not_kept);

// permission_denied when the session completed but the peer did not keep some of the changes
// this device wrote (SyncStats::own_not_kept): they did not reach it, and will be sent, and
// not kept, again at every sync. The message says how many, the first one and what to do.
// ok otherwise (also when the session itself failed: that is result.status).
Status own_changes_not_kept(const SyncResult& result);

}  // namespace birga::transport
