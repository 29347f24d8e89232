// The transport-free side of a sync between two nodes: the handshake, the encrypted channel
// and the sync session. Bytes in, bytes out: transport/ moves them over TCP (or a test moves
// them in memory); nothing here does I/O.
//
//   1. Handshake. Each side sends hello() at once: a fresh X25519 key, nothing else. On the
//      peer's hello, receive_hello() derives the session keys (crypto_kx, initiator = client)
//      and returns the proof, the first sealed frame: this device's certificate and an
//      Ed25519 signature by the device key over the transcript (both hellos), which binds the
//      ephemeral keys to the identity. receive_proof() opens the peer's proof and checks its
//      certificate (signed by this deployment's authority, not expired, not revoked) and
//      signature; then peer() and channel() are available. Certificates never cross in clear,
//      so a passive observer learns no identity; but each side sends its proof before it has
//      checked the peer's, so an active peer that completes the key exchange learns this
//      side's certificate even when it is then refused (docs/security.md).
//   2. Channel. Every frame after the handshake is sealed with XChaCha20-Poly1305 under the
//      direction's key with a counter nonce: a replayed, reordered or altered frame fails to
//      open, which ends the session.
//   3. Sync. Both sides send start() at once (a summary of each shared scope: author -> seq
//      and head hash), then feed every message from the peer to receive() and send what it
//      returns, until done(). Changes stream in bounded batches; each received batch is
//      ingested in one transaction and acknowledged. The receiver's summary is built from
//      what it durably holds, so a cut session, started again, resends nothing acknowledged.
//      With each acknowledgement the receiver lists the changes of that batch it did not
//      keep (refused, quarantined, waiting), so the sender learns what did not arrive
//      (SyncStats::peer_not_kept).
//   4. A store restored from a backup or copied: when the peer's summary says it holds more
//      of this device's own chain than this store (or a different change at one of its seqs),
//      nothing is sent, and once the peer sends such a change, signed with this device's key,
//      receive() fails with kDataLoss and a "restored_store" alert is raised; its next writes
//      would fork the chain, and every peer would quarantine them. A peer whose last batch
//      shows no such change is not believed: kPermissionDenied and an "unproven_claim" alert.
//      A different change below this store's last seq, which an honest peer cannot show in
//      this protocol, is taken on the peer's word at its summary.
//      The peer, seeing the same from its end, raises a "restored_peer" alert and goes on.
//
// Thread rule: one session object per connection, used from one thread; the Replica it
// works on must not be used concurrently from another thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "birga/replica.h"
#include "birga/status.h"
#include "birga/trust.h"

namespace birga {

// Wire limits a node enforces on everything it reads.
// The sync protocol's version, in every hello: peers of different versions do not sync.
constexpr uint16_t kProtocolVersion = 1;
constexpr size_t kMaxFrameBytes = size_t{4} << 20;  // one frame, after the 4-byte length
// A handshake frame (hello, proof): read before the peer is authenticated, so a stranger can
// make a node hold at most this much per connection. A proof is a certificate and a
// signature, a few kilobytes even with many scope grants.
constexpr size_t kMaxHandshakeFrameBytes = size_t{64} << 10;

class SecureChannel {
 public:
  SecureChannel() = default;
  // Seals one frame payload (plaintext at most kMaxFrameBytes - 16 bytes).
  std::string seal(std::string_view plaintext);
  // Opens the next frame from the peer; corrupt_input when it was altered, replayed or
  // reordered.
  Result<std::string> open(std::string_view frame);

 private:
  friend class Handshake;
  std::array<uint8_t, 32> tx_key_{}, rx_key_{};
  uint64_t tx_counter_ = 0, rx_counter_ = 0;
};

class Handshake {
 public:
  // REQUIRES: `replica` holds a certificate (Replica::install_certificate). `initiator` is
  // the side that connected.
  static Result<std::unique_ptr<Handshake>> begin(Replica& replica, bool initiator);
  ~Handshake();

  // The first message, sent by both sides at once.
  const std::string& hello() const { return hello_; }
  // Takes the peer's hello; returns the proof frame to send (corrupt_input on a malformed
  // hello).
  Result<std::string> receive_hello(std::string_view peer_hello);
  // Checks the peer's proof frame. permission_denied names why the peer is refused (another
  // authority, expired, revoked, not its key). After ok, peer() and channel() are available.
  Status receive_proof(std::string_view peer_proof);

  const Certificate& peer() const { return peer_; }
  SecureChannel channel() const { return channel_; }
  // How far the peer's wall clock was ahead of this replica's (negative: behind) when its
  // proof arrived, from the time the proof carries; nullopt when the peer gave none. Network
  // delay makes it a little low. A wrong clock on a tablet stamps its writes with that time,
  // which wins or loses last-writer-wins comparisons by it: see kClockWarningMs.
  std::optional<int64_t> peer_clock_offset_ms() const { return peer_clock_offset_ms_; }
  // Clocks further apart than this deserve a warning to the person syncing (the skew the
  // ingest guard allows, crdt::HybridClock::kDefaultMaxSkewMs).
  static constexpr int64_t kClockWarningMs = 10 * 60 * 1000;

 private:
  Handshake() = default;
  Replica* replica_ = nullptr;
  bool initiator_ = false;
  std::string hello_, peer_hello_;
  std::array<uint8_t, 32> eph_pk_{};
  std::array<uint8_t, 32> eph_sk_{};
  std::array<uint8_t, 32> peer_eph_{};
  Certificate peer_;
  SecureChannel channel_;
  std::optional<int64_t> peer_clock_offset_ms_;
  bool keys_ready_ = false;
};

struct SyncOptions {
  size_t max_batch_bytes = size_t{512} << 10;  // sealed bytes per batch message
  size_t window = 4;                           // batches in flight before acks are needed
};

// A change this side sent that the peer did not keep, as the peer reported it.
struct PeerNotKept {
  enum class Outcome { kRefused, kQuarantined, kWaiting };
  ChangeHash change{};
  Outcome outcome = Outcome::kRefused;
  std::string reason;  // the peer's words, cut to kMaxNotKeptReasonBytes
  // From what this side sent: whether this device wrote it, and where. `own` is false and
  // `scope` empty for an id this side did not send in the batches the report acknowledged.
  bool own = false;
  std::string scope;
  uint64_t seq = 0;
};

// Bounds on what a peer can make this side keep or send about changes not kept.
constexpr size_t kMaxNotKeptListed = 64;        // entries per message, each way
constexpr size_t kMaxNotKeptReasonBytes = 256;  // reason text per entry
constexpr size_t kMaxPeerNotKeptKept = 256;     // entries kept in SyncStats::peer_not_kept

struct SyncStats {
  uint64_t bytes_sent = 0;      // message bytes produced by this session
  uint64_t bytes_received = 0;  // message bytes given to receive()
  uint64_t messages_sent = 0;
  uint64_t messages_received = 0;
  uint64_t changes_sent = 0;
  uint64_t changes_received = 0;  // newly applied, pending or held (not duplicates)
  uint64_t batches_acked = 0;     // of ours, acknowledged by the peer
  uint64_t round_trips = 0;       // message exchanges on the critical path (see docs)
  std::vector<Status> refused;    // changes the peer sent that were refused
  // Changes this side sent that the peer did not keep: the first kMaxPeerNotKeptKept it
  // listed, then only counted in peer_not_kept_unlisted (with those the peer left unlisted).
  std::vector<PeerNotKept> peer_not_kept;
  uint64_t peer_not_kept_unlisted = 0;
  // What the peer's summary showed when its store is behind its own chain as held here (the
  // details of the "restored_peer" alerts): such a peer stops at this side's summary, so a
  // session that ends early with this set ended for that reason (point 4 above).
  std::vector<std::string> restored_peer;
  // Of peer_not_kept, those this device wrote.
  size_t own_not_kept() const;
};

class SyncSession {
 public:
  // `peer` is the certificate the handshake authenticated.
  SyncSession(Replica& replica, Certificate peer, SyncOptions options = {});
  ~SyncSession();

  // The opening messages (summaries), sent by both sides at once.
  std::vector<std::string> start();
  // Handles one message from the peer and returns what to send next. An error means the
  // peer broke the protocol: close the session (everything acknowledged so far is durable).
  Result<std::vector<std::string>> receive(std::string_view message);
  // Both directions complete: everything sent was acknowledged, the peer said it had no
  // more, and our acknowledgement of its last batch has been produced.
  bool done() const;

  const SyncStats& stats() const { return stats_; }
  const Certificate& peer() const { return peer_; }

  class State;

 private:
  Replica& replica_;
  Certificate peer_;
  SyncOptions options_;
  SyncStats stats_;
  std::unique_ptr<State> state_;
};

}  // namespace birga
