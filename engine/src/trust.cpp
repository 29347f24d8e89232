#include "birga/trust.h"

#include <capnp/message.h>

#include "birga/crdt/codec.h"
#include "capnp_util.h"
#include "sync.capnp.h"
#include "trust_internal.h"

namespace birga {

namespace {

constexpr uint32_t kCertMagic = 0x42524354;  // "BRCT"
constexpr uint16_t kCertVersion = 1;
constexpr std::string_view kCertDomain = "birga-cert-v1";
constexpr engine::MessageLimits kCertLimits{64 * 1024, 8};

std::string cert_signing_input(std::string_view body) {
  std::string m(kCertDomain);
  m.append(body);
  return m;
}

bool copy_key(capnp::Data::Reader d, PublicKey* out) {
  if (d.size() != out->size()) return false;
  std::memcpy(out->data(), d.begin(), out->size());
  return true;
}

Result<Certificate> parse_body(std::string_view body) {
  Certificate c;
  Status s = engine::read_message(body, kCertLimits, "certificate", [&](capnp::MessageReader& m) {
    auto b = m.getRoot<engine::wire::CertificateBody>();
    if (engine::canonical_message(b) != body) {
      return Status::corrupt_input("certificate: body is not in canonical form");
    }
    if (b.getMagic() != kCertMagic) return Status::corrupt_input("certificate: bad magic");
    if (b.getVersion() != kCertVersion) {
      return Status::corrupt_input("certificate: unsupported version " +
                                   std::to_string(b.getVersion()));
    }
    if (!copy_key(b.getAuthority(), &c.authority) || !copy_key(b.getDevice(), &c.device)) {
      return Status::corrupt_input("certificate: a key is not 32 bytes");
    }
    c.name = b.getName().cStr();
    const auto role = static_cast<Role>(b.getRole());
    if (b.getRole() < 1 || b.getRole() > 4) {
      return Status::corrupt_input("certificate: unknown role " + std::to_string(b.getRole()));
    }
    c.role = role;
    for (auto g : b.getScopes()) {
      c.scopes.push_back(ScopeGrant{g.getPath().cStr(), g.getRights()});
    }
    c.serial = b.getSerial();
    c.issued_ms = b.getIssuedMs();
    c.expires_ms = b.getExpiresMs();
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  return c;
}

Result<Certificate> parse_signed(std::string_view bytes, const PublicKey* expected_authority) {
  std::string body, signature;
  Status s = engine::read_message(bytes, kCertLimits, "certificate", [&](capnp::MessageReader& m) {
    auto c = m.getRoot<engine::wire::Certificate>();
    if (engine::canonical_message(c) != bytes) {
      return Status::corrupt_input("certificate: not in canonical form");
    }
    body = std::string(engine::view_of(c.getBody()));
    signature = std::string(engine::view_of(c.getSignature()));
    return Status::ok();
  });
  if (!s.is_ok()) return s;
  auto cert = parse_body(body);
  if (!cert.is_ok()) return cert.status();
  if (expected_authority && cert->authority != *expected_authority) {
    return Status::permission_denied("certificate of '" + cert->name +
                                     "' is signed by another authority (" +
                                     key_hex(cert->authority).substr(0, 16) + ")");
  }
  if (!engine::verify_signature(cert->authority, cert_signing_input(body), signature)) {
    return Status::permission_denied("certificate of '" + cert->name +
                                     "' has an invalid authority signature");
  }
  cert->bytes = std::string(bytes);
  return cert;
}

}  // namespace

const char* role_name(Role r) {
  switch (r) {
    case Role::kField:
      return "field";
    case Role::kSupervisor:
      return "supervisor";
    case Role::kHub:
      return "hub";
    case Role::kRelay:
      return "relay";
  }
  return "unknown";
}

std::optional<Role> parse_role(std::string_view name) {
  for (Role r : {Role::kField, Role::kSupervisor, Role::kHub, Role::kRelay}) {
    if (name == role_name(r)) return r;
  }
  return std::nullopt;
}

std::string rights_name(uint8_t rights) {
  std::string out;
  if (rights & kRead) out += "r";
  if (rights & kWrite) out += "w";
  if (rights & kRelay) out += out.empty() ? "relay" : "+relay";
  return out.empty() ? "none" : out;
}

std::optional<uint8_t> parse_rights(std::string_view text) {
  uint8_t rights = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find_first_of("+,", pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view part = text.substr(pos, end - pos);
    if (part == "relay") {
      rights |= kRelay;
    } else if (!part.empty() && part.find_first_not_of("rw") == std::string_view::npos) {
      for (char c : part) rights |= c == 'r' ? kRead : kWrite;
    } else {
      return std::nullopt;
    }
    pos = end + 1;
  }
  return rights ? std::optional<uint8_t>(rights) : std::nullopt;
}

bool scope_covers(std::string_view path, std::string_view scope) {
  if (path.empty()) return false;
  if (scope == path) return true;
  return scope.size() > path.size() && scope.substr(0, path.size()) == path &&
         scope[path.size()] == '/';
}

uint8_t Certificate::rights_on(std::string_view scope) const {
  uint8_t r = 0;
  for (const ScopeGrant& g : scopes) {
    if (scope_covers(g.path, scope)) r |= g.rights;
  }
  return r;
}

Result<Certificate> Certificate::parse(std::string_view bytes, const PublicKey& authority) {
  return parse_signed(bytes, &authority);
}

Result<Certificate> Certificate::parse_self_signed_claim(std::string_view bytes) {
  return parse_signed(bytes, nullptr);
}

std::string key_hex(const PublicKey& key) {
  return crdt::to_hex(key);
}

std::optional<PublicKey> parse_key_hex(std::string_view hex) {
  const std::optional<std::string> raw = crdt::from_hex(hex);
  if (!raw || raw->size() != 32) return std::nullopt;
  PublicKey k;
  std::copy(raw->begin(), raw->end(), k.begin());
  return k;
}

namespace engine {

Status sign_certificate(Certificate& cert, const SigningKey& authority) {
  if (authority.public_key != cert.authority) {
    return Status::invalid_argument("certificate names another authority");
  }
  capnp::MallocMessageBuilder mb;
  auto b = mb.initRoot<wire::CertificateBody>();
  b.setMagic(kCertMagic);
  b.setVersion(kCertVersion);
  b.setAuthority(engine::data_of(key_bytes(cert.authority)));
  b.setDevice(engine::data_of(key_bytes(cert.device)));
  b.setName(cert.name);
  b.setRole(static_cast<uint8_t>(cert.role));
  auto scopes = b.initScopes(static_cast<unsigned>(cert.scopes.size()));
  for (size_t i = 0; i < cert.scopes.size(); ++i) {
    scopes[i].setPath(cert.scopes[i].path);
    scopes[i].setRights(cert.scopes[i].rights);
  }
  b.setSerial(cert.serial);
  b.setIssuedMs(cert.issued_ms);
  b.setExpiresMs(cert.expires_ms);
  const std::string body = canonical_message(b.asReader());

  capnp::MallocMessageBuilder sb;
  auto c = sb.initRoot<wire::Certificate>();
  c.setBody(engine::data_of(body));
  const std::string sig = authority.sign(cert_signing_input(body));
  c.setSignature(engine::data_of(sig));
  cert.bytes = canonical_message(c.asReader());
  return Status::ok();
}

crdt::RecordId control_record_id(std::string_view kind, std::string_view key) {
  std::string m(kind);
  m.push_back('\0');
  m.append(key);
  const Hash32 h = blake2b_256(m);
  crdt::RecordId id;
  std::copy_n(h.begin(), id.bytes.size(), id.bytes.begin());
  return id;
}

std::string cert_history_field(uint64_t serial) {
  std::string digits = std::to_string(serial);
  return std::string(kCertHistoryPrefix) + std::string(20 - digits.size(), '0') + digits;
}

std::string key_bytes(const PublicKey& key) {
  return std::string(reinterpret_cast<const char*>(key.data()), key.size());
}

}  // namespace engine
}  // namespace birga
