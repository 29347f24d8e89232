// Handshake and SecureChannel (see birga/session.h and docs/protocol.md).
#include <sodium.h>

#include "birga/session.h"
#include "capnp_util.h"
#include "replica_impl.h"
#include "sync.capnp.h"
#include "trust_internal.h"

namespace birga {

namespace {

constexpr uint32_t kHelloMagic = 0x42524853;  // "BRHS"
constexpr uint16_t kHelloVersion = kProtocolVersion;
constexpr std::string_view kHandshakeDomain = "birga-handshake-v1";
constexpr engine::MessageLimits kHandshakeLimits{16 * 1024, 8};

void put_u32le(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

// What a proof signs: the domain, who signs (initiator or not), and both hellos in
// initiator-then-responder order, so each side's proof covers both ephemeral keys.
std::string transcript(bool signer_is_initiator, std::string_view initiator_hello,
                       std::string_view responder_hello) {
  std::string t(kHandshakeDomain);
  t.push_back(signer_is_initiator ? 1 : 0);
  put_u32le(t, static_cast<uint32_t>(initiator_hello.size()));
  t.append(initiator_hello);
  put_u32le(t, static_cast<uint32_t>(responder_hello.size()));
  t.append(responder_hello);
  return t;
}

std::string date_of(uint64_t ms) {
  return crdt::Timestamp::make(ms, 0).to_string().substr(0, 10);
}

}  // namespace

std::string SecureChannel::seal(std::string_view plaintext) {
  return engine::aead_seal_counter(tx_key_, tx_counter_++, plaintext);
}

Result<std::string> SecureChannel::open(std::string_view frame) {
  auto plain = engine::aead_open_counter(rx_key_, rx_counter_, frame);
  if (plain.is_ok()) ++rx_counter_;
  return plain;
}

Handshake::~Handshake() {
  sodium_memzero(eph_sk_.data(), eph_sk_.size());
}

Result<std::unique_ptr<Handshake>> Handshake::begin(Replica& replica, bool initiator) {
  Replica::Impl& impl = *replica.impl_;
  if (!impl.authority || impl.certificate.empty()) {
    return Status::permission_denied(
        "this replica is not enrolled: install a certificate (birga cert install) first");
  }
  std::unique_ptr<Handshake> h(new Handshake());
  h->replica_ = &replica;
  h->initiator_ = initiator;
  const engine::KxKeyPair kx = engine::kx_keypair();
  h->eph_pk_ = kx.public_key;
  h->eph_sk_ = kx.secret_key;
  capnp::MallocMessageBuilder mb;
  auto hello = mb.initRoot<engine::wire::Hello>();
  hello.setMagic(kHelloMagic);
  hello.setVersion(kHelloVersion);
  hello.setEphemeral(engine::data_of(engine::key_bytes(kx.public_key)));
  h->hello_ = engine::canonical_message(hello.asReader());
  return h;
}

Result<std::string> Handshake::receive_hello(std::string_view peer_hello) {
  Replica::Impl& impl = *replica_->impl_;
  if (!peer_hello_.empty()) return Status::corrupt_input("second hello from the peer");
  std::string eph;
  Status s =
      engine::read_message(peer_hello, kHandshakeLimits, "hello", [&](capnp::MessageReader& m) {
        auto h = m.getRoot<engine::wire::Hello>();
        if (h.getMagic() != kHelloMagic) {
          return Status::corrupt_input("hello: not a Birga peer (bad magic)");
        }
        if (h.getVersion() != kHelloVersion) {
          return Status::corrupt_input("hello: unsupported protocol version " +
                                       std::to_string(h.getVersion()));
        }
        eph = std::string(engine::view_of(h.getEphemeral()));
        return Status::ok();
      });
  BIRGA_RETURN_IF_ERROR(s);
  if (eph.size() != 32) return Status::corrupt_input("hello: ephemeral key is not 32 bytes");
  peer_hello_ = std::string(peer_hello);
  std::copy(eph.begin(), eph.end(), peer_eph_.begin());
  engine::KxKeyPair mine{eph_pk_, eph_sk_};
  Status keys =
      engine::kx_session_keys(initiator_, mine, peer_eph_, &channel_.rx_key_, &channel_.tx_key_);
  sodium_memzero(mine.secret_key.data(), mine.secret_key.size());
  sodium_memzero(eph_sk_.data(), eph_sk_.size());
  BIRGA_RETURN_IF_ERROR(keys);

  const std::string& ih = initiator_ ? hello_ : peer_hello_;
  const std::string& rh = initiator_ ? peer_hello_ : hello_;
  capnp::MallocMessageBuilder mb;
  auto proof = mb.initRoot<engine::wire::Proof>();
  proof.setCertificate(engine::data_of(impl.certificate));
  proof.setSignature(engine::data_of(impl.device.sign(transcript(initiator_, ih, rh))));
  proof.setWallMs(impl.options.wall_clock());
  return channel_.seal(engine::canonical_message(proof.asReader()));
}

Status Handshake::receive_proof(std::string_view peer_proof) {
  if (peer_hello_.empty()) return Status::corrupt_input("proof before hello");
  Replica::Impl& impl = *replica_->impl_;
  auto plain = channel_.open(peer_proof);
  if (!plain.is_ok()) return plain.status().with_context("proof");
  std::string cert_bytes, sig;
  uint64_t peer_wall_ms = 0;
  BIRGA_RETURN_IF_ERROR(
      engine::read_message(*plain, kHandshakeLimits, "proof", [&](capnp::MessageReader& m) {
        auto p = m.getRoot<engine::wire::Proof>();
        cert_bytes = std::string(engine::view_of(p.getCertificate()));
        sig = std::string(engine::view_of(p.getSignature()));
        peer_wall_ms = p.getWallMs();
        return Status::ok();
      }));
  const uint64_t own_wall_ms = impl.options.wall_clock();
  auto cert = Certificate::parse(cert_bytes, *impl.authority);
  if (!cert.is_ok()) return cert.status();
  const std::string who = "'" + cert->name + "' (" + key_hex(cert->device).substr(0, 16) + ")";
  if (cert->device == impl.device.public_key) {
    return Status::permission_denied("peer presents this device's own certificate");
  }
  const uint64_t now = crdt::system_wall_clock_ms();
  if (cert->expired_at(now)) {
    return Status::permission_denied("certificate of " + who + " expired on " +
                                     date_of(cert->expires_ms - 1));
  }
  auto revoked = replica_->revoked_at(cert->device);
  if (!revoked.is_ok()) return revoked.status();
  if (*revoked) return Status::permission_denied(who + " was revoked on " + date_of(**revoked));
  // The newest certificate this node knows for the device decides what it may receive and
  // send: a device that missed its re-issued bundle (a narrowed grant, an earlier expiry)
  // still presents the older one.
  auto known = replica_->known_certificate(cert->device);
  if (!known.is_ok()) return known.status();
  if (*known) {
    auto newer = Certificate::parse(**known, *impl.authority);
    if (newer.is_ok() && newer->device == cert->device && newer->serial > cert->serial) {
      if (newer->expired_at(now)) {
        return Status::permission_denied("certificate of " + who + " (re-issued as serial " +
                                         std::to_string(newer->serial) + ") expired on " +
                                         date_of(newer->expires_ms - 1));
      }
      cert = std::move(newer);
    }
  }
  const std::string& ih = initiator_ ? hello_ : peer_hello_;
  const std::string& rh = initiator_ ? peer_hello_ : hello_;
  if (!engine::verify_signature(cert->device, transcript(!initiator_, ih, rh), sig)) {
    return Status::permission_denied("peer " + who +
                                     " failed to prove it holds its certified device key");
  }
  peer_ = std::move(*cert);
  if (peer_wall_ms != 0) {
    peer_clock_offset_ms_ = static_cast<int64_t>(peer_wall_ms - own_wall_ms);
  }
  keys_ready_ = true;
  return Status::ok();
}

}  // namespace birga
