// run_session: the one session coroutine both sides use.
//
//   handshake: send hello, read the peer's hello, send our proof, read the peer's proof
//              (hellos in clear, proofs sealed, under the handshake deadline);
//   sync:      send start(), then feed each opened frame to receive() and send what it
//              returns, sealed, until done() (under the idle deadline);
//   close:     flush, half-close, wait (briefly) for the peer's end of stream.
//
// Every failure closes this connection only and is returned (and logged) with the peer's
// name. Thread rule: runs on the connection's executor; every engine call (Handshake,
// SecureChannel, SyncSession, so the Replica) happens on that thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "birga/replica.h"
#include "birga/transport/sync_result.h"
#include "frame_connection.h"

namespace birga::transport {

struct SessionHooks {
  LogSink log;                                     // empty: no log lines
  std::function<void(const SyncStats&)> progress;  // at most every 250 ms; may be empty
  std::chrono::milliseconds progress_interval{250};
  // When set, the handshake must be done by then (a client's setup_timeout, counted from
  // before it connected) instead of within SessionOptions::handshake_timeout of the session's
  // start; past it the session ends with unavailable(handshake_deadline_reason).
  std::optional<Clock::time_point> handshake_deadline;
  std::string handshake_deadline_reason;
};

// REQUIRES: `conn` was created with connection_limits(options) and not yet started;
// `replica` outlives the coroutine.
asio::awaitable<SyncResult> run_session(Replica& replica, std::shared_ptr<FrameConnection> conn,
                                        bool initiator, SessionOptions options, SessionHooks hooks);

FrameConnection::Limits connection_limits(const SessionOptions& options);

}  // namespace birga::transport
