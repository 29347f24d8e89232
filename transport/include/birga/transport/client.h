// The client side of a sync: connect to a node, run one session, return what happened.
//
// sync_once() blocks the calling thread (it runs its own io_context there), so every engine
// call happens on the caller's thread; async_sync() is the same as a coroutine for callers
// that run their own io_context (many sessions on one thread, as a test or a hub syncing
// with its parent and peers).
//
// Thread rule: the Replica is used only from the thread running the session, and must not
// be used by another thread meanwhile. It must outlive the call.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "birga/replica.h"
#include "birga/transport/sync_result.h"

namespace birga::transport {

struct ClientOptions {
  // Resolving and connecting; past it the result is unavailable ("timed out").
  std::chrono::milliseconds connect_timeout{10'000};
  // When above 0: resolving, connecting and the handshake together, from the call on, in place
  // of connect_timeout and session.handshake_timeout (which bound each step alone, so a peer
  // that accepts the connection and says nothing gets a handshake_timeout of its own). Past
  // it the result is unavailable ("timed out" while connecting, "handshake timeout" after).
  std::chrono::milliseconds setup_timeout{0};
  SessionOptions session;
  LogSink log;  // empty (the default): no log lines; the caller prints the result
  // Called on the session's thread when the stats changed, at most every 250 ms (not called
  // for the final stats: they are in the result). May be empty.
  std::function<void(const SyncStats&)> progress;
};

// Connects to host:port (a name or an IPv4/IPv6 literal), runs one session as the initiator
// and returns its result. status: ok; unavailable (connection refused, unreachable, timed
// out, connection lost); permission_denied (the handshake refused the peer or the peer
// refused this device); corrupt_input (protocol error); engine codes otherwise.
SyncResult sync_once(Replica& replica, const std::string& host, uint16_t port,
                     const ClientOptions& options = {});

// The same, as a coroutine on the caller's executor.
boost::asio::awaitable<SyncResult> async_sync(Replica& replica, std::string host, uint16_t port,
                                              ClientOptions options = {});

}  // namespace birga::transport
