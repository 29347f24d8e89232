// Test helpers for sync: a deployment (authority + enrolled replicas on disk) and an
// in-memory driver that runs the real handshake, channel and sync session between two
// replicas, optionally cutting the connection after a number of messages.
#pragma once

#include <deque>
#include <limits>

#include "birga/authority.h"
#include "birga/session.h"
#include "replica_fixture.h"

namespace birga::test {

// The district and two of its mahallas that the deployment tests enrol devices in.
inline const std::string kDistrict = "tashkent/yunusobod";
inline const std::string kMahallaA = "tashkent/yunusobod/m0421";
inline const std::string kMahallaB = "tashkent/yunusobod/m0977";

class Deployment {
 public:
  Deployment() {
    setenv("BIRGA_FAST_KDF", "1", 1);
    auto a = Authority::create(tmp_.sub("authority"), "admin passphrase");
    if (a.is_ok()) authority = std::move(*a);
  }

  // A new replica enrolled with `grants`; nullptr on failure.
  std::unique_ptr<Replica> add(const std::string& name, Role role, std::vector<ScopeGrant> grants,
                               uint64_t expires_ms = 0) {
    auto r = Replica::create(tmp_.sub(name), test_options());
    if (!r.is_ok()) return nullptr;
    auto bundle = authority->enrol((*r)->device_key(), name, role, grants, expires_ms);
    if (!bundle.is_ok()) return nullptr;
    if (!(*r)->install_certificate(bundle->encode()).is_ok()) return nullptr;
    return std::move(*r);
  }

  std::string dir(const std::string& name) const { return tmp_.sub(name); }
  std::unique_ptr<Authority> authority;

 private:
  TempDir tmp_;
};

struct SyncOutcome {
  SyncOutcome() = default;
  SyncOutcome(Status s) : status(std::move(s)) {}  // NOLINT: a failure
  Status status;                                   // ok, or why the handshake or session failed
  SyncStats a, b;                                  // each side's stats
  uint64_t wire_a_to_b = 0;  // sealed frame bytes each way (what a network would carry)
  uint64_t wire_b_to_a = 0;
  bool completed = false;           // both sessions done
  std::vector<std::string> frames;  // every frame, in order (for plaintext checks)
};

// Runs a full sync between `a` (initiator) and `b` in memory. Stops after
// `cut_after_frames` sync frames have been delivered (a cut connection).
inline SyncOutcome memory_sync(Replica& a, Replica& b, SyncOptions options = {},
                               size_t cut_after_frames = std::numeric_limits<size_t>::max()) {
  SyncOutcome out;
  auto ha = Handshake::begin(a, true);
  auto hb = Handshake::begin(b, false);
  if (!ha.is_ok()) return {ha.status()};
  if (!hb.is_ok()) return {hb.status()};
  out.frames = {(*ha)->hello(), (*hb)->hello()};
  auto pa = (*ha)->receive_hello((*hb)->hello());
  auto pb = (*hb)->receive_hello((*ha)->hello());
  if (!pa.is_ok()) return {pa.status()};
  if (!pb.is_ok()) return {pb.status()};
  if (Status s = (*ha)->receive_proof(*pb); !s.is_ok()) return {s};
  if (Status s = (*hb)->receive_proof(*pa); !s.is_ok()) return {s};
  SecureChannel ca = (*ha)->channel(), cb = (*hb)->channel();
  SyncSession sa(a, (*ha)->peer(), options), sb(b, (*hb)->peer(), options);

  std::deque<std::string> to_b, to_a;
  for (auto& m : sa.start()) to_b.push_back(ca.seal(m));
  for (auto& m : sb.start()) to_a.push_back(cb.seal(m));
  size_t delivered = 0;
  for (int guard = 0; guard < 100000 && (!to_a.empty() || !to_b.empty()); ++guard) {
    // Alternate: one frame each way per turn.
    for (int dir = 0; dir < 2; ++dir) {
      auto& q = dir == 0 ? to_b : to_a;
      if (q.empty()) continue;
      if (delivered >= cut_after_frames) {
        out.a = sa.stats();
        out.b = sb.stats();
        return out;
      }
      std::string frame = std::move(q.front());
      q.pop_front();
      ++delivered;
      out.frames.push_back(frame);
      (dir == 0 ? out.wire_a_to_b : out.wire_b_to_a) += frame.size();
      SecureChannel& rx = dir == 0 ? cb : ca;
      SecureChannel& tx = dir == 0 ? cb : ca;
      SyncSession& session = dir == 0 ? sb : sa;
      auto plain = rx.open(frame);
      if (!plain.is_ok()) return {plain.status()};
      auto replies = session.receive(*plain);
      if (!replies.is_ok()) return {replies.status()};
      for (auto& m : *replies) (dir == 0 ? to_a : to_b).push_back(tx.seal(m));
    }
  }
  out.a = sa.stats();
  out.b = sb.stats();
  out.completed = sa.done() && sb.done();
  if (!out.completed) out.status = Status::internal("sync did not complete");
  return out;
}

}  // namespace birga::test
