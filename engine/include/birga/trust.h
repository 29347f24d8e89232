// Trust: the deployment authority, device certificates, scopes and rights.
//
// A deployment is defined by its authority's Ed25519 key. The authority (kept offline by the
// administrator) signs a certificate for each device: its public key, a name, a role and
// scope grants. A scope is a path "region/district/mahalla"; a grant on a path covers every
// scope below it, so a hub granted "tashkent/yunusobod" serves every mahalla of that
// district. Rights: read (receive and decrypt), write (author changes), relay (receive,
// store and forward sealed changes without the key).
//
// Thread rule: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "birga/replica.h"
#include "birga/status.h"

namespace birga {

enum class Role : uint8_t { kField = 1, kSupervisor = 2, kHub = 3, kRelay = 4 };
const char* role_name(Role r);  // "field", "supervisor", "hub", "relay"
std::optional<Role> parse_role(std::string_view name);

// Rights, as bits.
constexpr uint8_t kRead = 1;
constexpr uint8_t kWrite = 2;
constexpr uint8_t kRelay = 4;
// "r", "rw", "relay", "rw+relay" <-> bits. parse_rights accepts r, w, rw, relay and
// combinations joined with '+' or ','; nullopt on anything else.
std::string rights_name(uint8_t rights);
std::optional<uint8_t> parse_rights(std::string_view text);

struct ScopeGrant {
  std::string path;
  uint8_t rights = 0;
  friend bool operator==(const ScopeGrant&, const ScopeGrant&) = default;
};

// True when a grant on `path` covers `scope`: equal, or `scope` is below it.
bool scope_covers(std::string_view path, std::string_view scope);

// The control scope: certificates, revocations and key envelopes travel in it as changes
// authored by the authority, readable by every device of the deployment.
constexpr std::string_view kControlScope = "_control";

struct Certificate {
  PublicKey authority{};  // the deployment
  PublicKey device{};
  std::string name;
  Role role = Role::kField;
  std::vector<ScopeGrant> scopes;
  uint64_t serial = 0;
  uint64_t issued_ms = 0;
  uint64_t expires_ms = 0;  // 0: never

  // The union of the rights of every grant covering `scope`.
  uint8_t rights_on(std::string_view scope) const;
  // Whether its device may receive changes of `scope` (by sync or by file): it reads or
  // relays the scope, or the scope is the control scope.
  bool may_receive(std::string_view scope) const {
    return scope == kControlScope || (rights_on(scope) & (kRead | kRelay));
  }
  bool expired_at(uint64_t now_ms) const { return expires_ms != 0 && now_ms >= expires_ms; }

  // The signed certificate bytes (Cap'n Proto, see docs/protocol.md).
  std::string bytes;
  // Parses and checks the signature against `authority`; corrupt_input or
  // permission_denied ("signed by another authority") naming what failed.
  static Result<Certificate> parse(std::string_view bytes, const PublicKey& authority);
  // Parses without knowing the authority (reads the authority from the certificate and
  // checks the signature against it). For inspection only: never trust it for access.
  static Result<Certificate> parse_self_signed_claim(std::string_view bytes);
};

std::string key_hex(const PublicKey& key);
std::optional<PublicKey> parse_key_hex(std::string_view hex);

}  // namespace birga
