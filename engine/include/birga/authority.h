// Authority: the deployment's root of trust, kept offline by the administrator.
//
// The authority lives in its own directory (an LMDB store), its Ed25519 key sealed under the
// administrator's passphrase. It signs device certificates, creates the scope data keys (one
// per scope and epoch) and hands them out sealed to each entitled device's own key. What it
// issues travels as control changes: changes in the "_control" scope authored by the
// authority, which every node verifies and relays like any change. So the authority's machine
// never needs to be online: its output is a file carried to a device (the enrolment bundle)
// or imported at a hub, and sync spreads it.
//
// Scope keys: a grant with write on a path makes that path a data scope, and its key is
// created at enrolment if new. A device gets envelopes for every epoch of every known scope
// its certificate grants read on; when a new scope appears, every existing device with read on
// it gets an envelope too. Revoking a device rotates every scope key it could read: a new
// epoch, sealed to every remaining entitled device.
//
// Thread rule: one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "birga/replica.h"
#include "birga/status.h"
#include "birga/trust.h"

namespace birga {

// What a device installs to join: its certificate and the control changes (the authority's
// whole control log, so the chain is complete) holding its key envelopes.
struct EnrolmentBundle {
  PublicKey authority{};
  std::string certificate;
  // Every epoch of the control scope's key, each sealed (crypto_box_seal) to the device.
  std::vector<std::pair<uint32_t, std::string>> control_keys;
  std::vector<std::string> control_changes;

  // "BGEB" || u8 version 1 || authority(32) || varint len || certificate ||
  // varint count || (varint epoch || varint len || sealed key)* ||
  // varint count || (varint len || sealed change)*
  std::string encode() const;
  static Result<EnrolmentBundle> decode(std::string_view bytes);
};

class Authority {
 public:
  // invalid_argument, and nothing made, when `passphrase` is shorter than kMinPassphraseBytes
  // (check_new_passphrase): it is all that protects the deployment's signing key.
  static Result<std::unique_ptr<Authority>> create(const std::string& dir,
                                                   const std::string& passphrase);
  static Result<std::unique_ptr<Authority>> open(const std::string& dir,
                                                 const std::string& passphrase);
  // Seals the keys of the (closed) authority in `dir` under `next` instead of `current`, as
  // Replica::change_passphrase does for a device.
  static Result<uint64_t> change_passphrase(const std::string& dir, std::string_view current,
                                            std::string_view next);
  ~Authority();
  Authority(const Authority&) = delete;
  Authority& operator=(const Authority&) = delete;

  const PublicKey& public_key() const;

  // Issues a certificate and returns the bundle for the device.
  Result<EnrolmentBundle> enrol(const PublicKey& device, const std::string& name, Role role,
                                const std::vector<ScopeGrant>& scopes, uint64_t expires_ms);
  // Revokes a device: a control change with the revocation and the rotated scope keys.
  // Returns the new control changes (import them at a hub).
  Result<std::vector<std::string>> revoke(const PublicKey& device, const std::string& reason);
  // Every control change issued so far, in order.
  Result<std::vector<std::string>> control_log() const;

  // Brings an authority restored from an older copy up to date from its own control log as a
  // hub holds it (`birga changes export --scope _control` there). The control changes after
  // this authority's last one are adopted in order, after the same checks as at ingest
  // (signature, author, hash chain), and with them the certificates issued, the revocations
  // and the keys made since: every change that makes a key also seals it to the authority's
  // own key. Changes of other scopes or authors are skipped. All or nothing: nothing changes
  // when the log contradicts this authority (a change it holds differs from the file's: this
  // copy issued after it was made), misses a change, or hands out a key this copy cannot open
  // (a change made before keys were sealed to the authority too).
  struct CatchUp {
    size_t adopted = 0;       // control changes this authority did not hold
    size_t held = 0;          // already held, identical
    size_t skipped = 0;       // of another scope or author
    size_t certificates = 0;  // certificates learned (a device's later one counts again)
    size_t revocations = 0;
    size_t keys = 0;  // scope and control keys learned
  };
  Result<CatchUp> catch_up(const std::vector<std::string>& changes);
  // Every certificate issued, and whether it is revoked.
  struct DeviceEntry {
    Certificate certificate;
    bool revoked = false;
  };
  Result<std::vector<DeviceEntry>> devices() const;

  class Impl;

 private:
  explicit Authority(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace birga
