// Fuzz target: the handshake of an enrolled replica (the hub of the fuzz world), playing the
// peer. Input: one flag byte, then the payload.
//   flag bit 0 clear: the payload is the peer's hello (Handshake::receive_hello).
//   flag bit 0 set:   the payload is the plaintext of the peer's proof. The target sends a
//                     valid hello, derives the session keys as a real peer would and seals the
//                     payload as frame 0, so the payload reaches the proof decoder and the
//                     certificate checks (Handshake::receive_proof) instead of stopping at the
//                     channel's authentication.
//   flag bit 1:       the hub is the initiator (else the responder).
#include <capnp/message.h>

#include "capnp_util.h"
#include "fuzz_entry.h"
#include "fuzz_world.h"
#include "sync.capnp.h"

namespace {

using namespace birga;

struct Peer {
  engine::KxKeyPair kx = engine::kx_keypair();
  std::string hello;
  Peer() {
    capnp::MallocMessageBuilder mb;
    auto h = mb.initRoot<engine::wire::Hello>();
    h.setMagic(fuzz::kHelloMagic);
    h.setVersion(fuzz::kHelloVersion);
    h.setEphemeral(kj::arrayPtr(kx.public_key.data(), kx.public_key.size()));
    hello = engine::canonical_message(h.asReader());
  }
};

// The ephemeral key in one of our own (well-formed) hellos.
bool ephemeral_of(const std::string& hello, PublicKey* out) {
  Status s = engine::read_message(hello, {1024, 4}, "hello", [&](capnp::MessageReader& m) {
    auto e = m.getRoot<engine::wire::Hello>().getEphemeral();
    if (e.size() != out->size()) return Status::corrupt_input("ephemeral size");
    std::copy(e.begin(), e.end(), out->begin());
    return Status::ok();
  });
  return s.is_ok();
}

}  // namespace

extern "C" int BIRGA_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool proof_mode = data[0] & 1;
  const bool initiator = data[0] & 2;
  const std::string_view payload = fuzz::as_view(data + 1, size - 1);
  auto hs = Handshake::begin(*fuzz::world().hub, initiator);
  if (!hs.is_ok()) return 0;
  if (!proof_mode) {
    fuzz::report("receive_hello", (*hs)->receive_hello(payload));
    return 0;
  }
  static const Peer peer;
  if (!(*hs)->receive_hello(peer.hello).is_ok()) return 0;
  PublicKey hub_ephemeral;
  if (!ephemeral_of((*hs)->hello(), &hub_ephemeral)) return 0;
  engine::Key32 rx, tx;
  if (!engine::kx_session_keys(!initiator, peer.kx, hub_ephemeral, &rx, &tx).is_ok()) return 0;
  fuzz::report("receive_proof", (*hs)->receive_proof(engine::aead_seal_counter(tx, 0, payload)));
  return 0;
}
