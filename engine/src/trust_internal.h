// Internal parts of trust shared by the authority, the replica, the handshake and sync:
// certificate signing, the control scope's key and record layout.
//
// Control records (scope "_control", authored only by the authority, applied like any change):
//   collection "_certificate"   id = control_record_id("cert", device key)
//     field "certificate" (lww text: the certificate bytes, the newest issued)
//     field "issued/<serial, 20 decimal digits>" (lww text: each certificate ever issued to the
//            device, so that a change is judged by the one in force when it was made)
//   collection "_revocation"    id = control_record_id("revoke", device key)
//     fields "device" (hex), "revoked_ms" (int), "reason" (text)
//   collection "_key_envelope"  id = control_record_id("envelope", scope|epoch|recipient)
//     fields "scope" (text), "epoch" (int), "recipient" (hex device key; or the authority's
//            own, so that a copy restored from a backup can learn the key: Authority::catch_up),
//            "sealed" (text: crypto_box_seal of the 32-byte key to the recipient's X25519 key)
#pragma once

#include <string>
#include <string_view>

#include "birga/trust.h"
#include "crypto.h"

namespace birga::engine {

constexpr std::string_view kCertCollection = "_certificate";
constexpr std::string_view kRevocationCollection = "_revocation";
constexpr std::string_view kEnvelopeCollection = "_key_envelope";
constexpr uint32_t kControlEpoch = 1;

// The field of a `_certificate` record that keeps the certificate of `serial`.
constexpr std::string_view kCertHistoryPrefix = "issued/";
std::string cert_history_field(uint64_t serial);

// Serializes and signs `cert` (its `bytes` are set). `authority` must be cert.authority's key.
Status sign_certificate(Certificate& cert, const SigningKey& authority);

crdt::RecordId control_record_id(std::string_view kind, std::string_view key);

std::string key_bytes(const PublicKey& key);

}  // namespace birga::engine
