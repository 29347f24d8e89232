// Trust commands: the authority (init, revoke, export, devices), a new replica (init),
// enrolment (enrol, cert install).
#include <filesystem>

#include "birga/change_list.h"
#include "command.h"
#include "context.h"
#include "default_schema.h"
#include "json.h"
#include "validate.h"

namespace birga::cli {

namespace {

namespace fs = std::filesystem;
using Type = FlagSpec::Type;

Status refuse_existing_store(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "data.mdb", ec)) {
    return Status::already_exists(dir + " already holds a store (a replica or an authority); " +
                                  "choose another --dir");
  }
  return Status::ok();
}

void print_key(const Args& args, std::string_view name, const PublicKey& key,
               const std::string& dir) {
  if (args.has("json")) {
    JsonWriter w;
    w.begin_object().key(name).value(key_hex(key)).key("dir").value(dir).end_object();
    print_line(w.str());
  } else {
    print_line(key_hex(key));
  }
}

Status run_authority_init(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({}));
  const std::string dir = data_dir(args);
  BIRGA_RETURN_IF_ERROR(refuse_existing_store(dir));
  auto pass = read_passphrase(authority_passphrase(dir, true));
  if (!pass.is_ok()) return pass.status();
  auto authority = Authority::create(dir, *pass);
  if (!authority.is_ok()) return authority.status();
  print_key(args, "authority_key", (*authority)->public_key(), dir);
  return Status::ok();
}

Result<PublicKey> device_key_arg(const Args& args) {
  auto text = args.require("device-key", "KEY (the device's public key, 64 hex digits)");
  if (!text.is_ok()) return text.status();
  auto key = parse_key_hex(*text);
  if (!key) return Status::invalid_argument("--device-key: '" + *text + "' is not 64 hex digits");
  return *key;
}

Status run_authority_revoke(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({}));
  auto key = device_key_arg(args);
  if (!key.is_ok()) return key.status();
  auto reason = args.require("reason", "TEXT");
  if (!reason.is_ok()) return reason.status();
  BIRGA_RETURN_IF_ERROR(check_text(*reason, "--reason"));
  auto out = args.require("out", "FILE");
  if (!out.is_ok()) return out.status();
  auto authority = open_authority(args);
  if (!authority.is_ok()) return authority.status();
  auto changes = (*authority)->revoke(*key, *reason);
  if (!changes.is_ok()) return changes.status();
  return write_changes(*out, *changes, args);
}

Status run_authority_export(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({}));
  auto out = args.require("out", "FILE");
  if (!out.is_ok()) return out.status();
  auto authority = open_authority(args);
  if (!authority.is_ok()) return authority.status();
  auto log = (*authority)->control_log();
  if (!log.is_ok()) return log.status();
  return write_changes(*out, *log, args);
}

// The file is read before the authority is opened: a file that is not a change list fails
// without asking for a passphrase.
Status run_authority_catch_up(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({"FILE"}));
  auto file = read_change_list(args.positional()[0]);
  if (!file.is_ok()) return file.status();
  if (!file->damage.is_ok()) {
    // Adopting the changes before the damage would leave the authority behind still.
    return Status::corrupt_input(file->path + ": " + file->damage.message() +
                                 "; nothing adopted: export the control log at the hub again");
  }
  auto authority = open_authority(args);
  if (!authority.is_ok()) return authority.status();
  auto done = (*authority)->catch_up(file->changes);
  if (!done.is_ok()) return done.status();
  if (args.has("json")) {
    JsonWriter w;
    w.begin_object().key("adopted").value(done->adopted).key("held").value(done->held);
    w.key("skipped").value(done->skipped).key("certificates").value(done->certificates);
    w.key("revocations").value(done->revocations).key("keys").value(done->keys).end_object();
    print_line(w.str());
    return Status::ok();
  }
  print_line("adopted " + std::to_string(done->adopted) + " control changes (" +
             std::to_string(done->held) + " already held, " + std::to_string(done->skipped) +
             " of other scopes or authors skipped): " + std::to_string(done->certificates) +
             " certificates, " + std::to_string(done->revocations) + " revocations, " +
             std::to_string(done->keys) + " keys");
  return Status::ok();
}

Status run_authority_devices(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({}));
  auto authority = open_authority(args);
  if (!authority.is_ok()) return authority.status();
  auto devices = (*authority)->devices();
  if (!devices.is_ok()) return devices.status();
  JsonWriter w;
  w.begin_array();
  for (const Authority::DeviceEntry& d : *devices) {
    if (args.has("json")) {
      w.begin_object();
      write_certificate_fields(w, d.certificate);
      w.key("revoked").value(d.revoked).end_object();
      continue;
    }
    const Certificate& c = d.certificate;
    const std::string expires = c.expires_ms == 0 ? "never expires"
                                : c.expired_at(crdt::system_wall_clock_ms())
                                    ? "EXPIRED on " + date_of_ms(c.expires_ms - 1)
                                    : "expires " + date_of_ms(c.expires_ms - 1);
    print_line(key_hex(c.device) + "  " + c.name + "  " + role_name(c.role) + "  " +
               grants_text(c.scopes) + "  " + expires + (d.revoked ? "  REVOKED" : ""));
  }
  w.end_array();
  if (args.has("json")) print_line(w.str());
  return Status::ok();
}

Status run_init(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({}));
  const std::string dir = data_dir(args);
  std::string text(kDefaultSchema);
  if (auto path = args.get("schema")) {
    auto read = read_file(*path);
    if (!read.is_ok()) return read.status();
    text = *read;
  }
  auto schema = crdt::Schema::parse(text);
  if (!schema.is_ok()) {
    return Status::invalid_argument("--schema: " + schema.status().message());
  }
  BIRGA_RETURN_IF_ERROR(refuse_existing_store(dir));
  auto pass = read_passphrase(device_passphrase(dir, true));
  if (!pass.is_ok()) return pass.status();
  ReplicaOptions options;
  options.passphrase = *pass;
  options.schema = *schema;
  auto replica = Replica::create(dir, std::move(options));
  if (!replica.is_ok()) return replica.status();
  if (Status s = write_file((fs::path(dir) / kSchemaFile).string(), text); !s.is_ok()) {
    replica->reset();  // without its schema the store is unusable: gone, so init can run again
    remove_new_store(dir);
    return s;
  }
  print_key(args, "device_key", (*replica)->device_key(), dir);
  return Status::ok();
}

// "PATH:RIGHTS", e.g. "tashkent/yunusobod/m0421:rw".
Result<ScopeGrant> parse_grant(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return Status::invalid_argument("--scope: '" + text + "' is not PATH:RIGHTS (e.g. " +
                                    "tashkent/yunusobod/m0421:rw)");
  }
  ScopeGrant grant;
  grant.path = text.substr(0, colon);
  BIRGA_RETURN_IF_ERROR(check_scope_path(grant.path, "--scope"));
  auto rights = parse_rights(std::string_view(text).substr(colon + 1));
  if (!rights) {
    return Status::invalid_argument("--scope: rights '" + text.substr(colon + 1) +
                                    "' are not r, w, relay or a combination (rw, r+relay)");
  }
  grant.rights = *rights;
  return grant;
}

struct EnrolRequest {
  std::string name;
  Role role = Role::kField;
  std::vector<ScopeGrant> grants;
  uint64_t expires_ms = 0;
};

Result<EnrolRequest> enrol_request(const Args& args) {
  EnrolRequest req;
  auto name = args.require("name", "NAME");
  if (!name.is_ok()) return name.status();
  BIRGA_RETURN_IF_ERROR(check_text(*name, "--name"));
  req.name = *name;
  auto role_text = args.require("role", "ROLE (field, supervisor, hub or relay)");
  if (!role_text.is_ok()) return role_text.status();
  auto role = parse_role(*role_text);
  if (!role) {
    return Status::invalid_argument("--role: '" + *role_text +
                                    "' is not one of field|supervisor|hub|relay");
  }
  req.role = *role;
  for (const std::string& s : args.all("scope")) {
    auto grant = parse_grant(s);
    if (!grant.is_ok()) return grant.status();
    req.grants.push_back(*grant);
  }
  if (req.grants.empty()) return Status::invalid_argument("missing --scope PATH:RIGHTS");
  if (auto expires = args.get("expires")) {
    auto ms = end_of_day_ms(*expires, "--expires");
    if (!ms.is_ok()) return ms.status();
    if (*ms <= crdt::system_wall_clock_ms()) {
      return Status::invalid_argument("--expires: " + *expires + " is in the past");
    }
    req.expires_ms = *ms;
  }
  return req;
}

void print_enrolled(const Args& args, const Certificate& cert, const std::string& detail) {
  if (args.has("json")) {
    JsonWriter w;
    w.begin_object();
    write_certificate_fields(w, cert);
    w.end_object();
    print_line(w.str());
    return;
  }
  print_line("enrolled " + cert.name + " (" + role_name(cert.role) + ") " + key_hex(cert.device));
  print_line("  scopes: " + grants_text(cert.scopes));
  print_line("  expires: " + (cert.expires_ms ? date_of_ms(cert.expires_ms - 1) : "never"));
  if (!detail.empty()) print_line("  " + detail);
}

// Installs a bundle's certificate and control changes in `replica`.
Status install_bundle(Replica& replica, const std::string& bytes, const Args& args,
                      const std::string& detail) {
  auto bundle = EnrolmentBundle::decode(bytes);
  if (!bundle.is_ok()) {
    return Status::invalid_argument(bundle.status().message() +
                                    ": give the file `birga enrol --out FILE` wrote");
  }
  if (auto mine = replica.authority(); mine && *mine != bundle->authority) {
    return Status::permission_denied("this bundle is from another deployment (authority " +
                                     key_hex(bundle->authority).substr(0, 16) +
                                     "..., this replica's is " + key_hex(*mine).substr(0, 16) +
                                     "...): nothing was installed");
  }
  if (Status s = replica.install_certificate(bytes); !s.is_ok()) {
    return s.with_context("cannot install the certificate");
  }
  auto cert = device_certificate(replica);
  if (!cert.is_ok()) return cert.status();
  print_enrolled(args, *cert, detail);
  return Status::ok();
}

// With --device DEVICE_DIR: the device's key, after checking it may join this authority.
Result<std::unique_ptr<Replica>> open_device(const std::string& dir, const Authority& authority) {
  auto replica = open_replica(dir, device_passphrase(dir));
  if (!replica.is_ok()) return replica.status();
  if (auto mine = (*replica)->authority(); mine && *mine != authority.public_key()) {
    return Status::permission_denied("the replica in " + dir +
                                     " belongs to another deployment; nothing was issued");
  }
  return replica;
}

Status run_enrol(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({}));
  const auto device_dir = args.get("device");
  if (device_dir.has_value() == args.has("device-key")) {
    return Status::invalid_argument("give either --device-key KEY or --device DEVICE_DIR");
  }
  if (!device_dir && !args.has("out")) return Status::invalid_argument("missing --out FILE");
  if (device_dir) BIRGA_RETURN_IF_ERROR(check_directory_path(*device_dir, "--device"));
  auto req = enrol_request(args);
  if (!req.is_ok()) return req.status();
  auto authority = open_authority(args);
  if (!authority.is_ok()) return authority.status();
  std::unique_ptr<Replica> device;
  PublicKey key{};
  if (device_dir) {
    auto opened = open_device(*device_dir, **authority);
    if (!opened.is_ok()) return opened.status();
    device = std::move(*opened);
    key = device->device_key();
  } else {
    auto parsed = device_key_arg(args);
    if (!parsed.is_ok()) return parsed.status();
    key = *parsed;
  }
  auto bundle = (*authority)->enrol(key, req->name, req->role, req->grants, req->expires_ms);
  if (!bundle.is_ok()) return bundle.status();
  const std::string bytes = bundle->encode();
  if (auto out = args.get("out")) BIRGA_RETURN_IF_ERROR(write_file(*out, bytes));
  if (device) return install_bundle(*device, bytes, args, "installed in " + *device_dir);
  auto cert = Certificate::parse(bundle->certificate, (*authority)->public_key());
  if (!cert.is_ok()) return cert.status();
  print_enrolled(args, *cert, "bundle written to " + *args.get("out"));
  return Status::ok();
}

Status run_cert_install(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({"FILE"}));
  const std::string path = args.positional()[0];
  auto bytes = read_file(path);
  if (!bytes.is_ok()) return bytes.status();
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  return install_bundle(**replica, *bytes, args, "");
}

// `birga passphrase` and `birga authority passphrase`: the current passphrase from the usual
// sources, the new one from $BIRGA_NEW_PASSPHRASE or asked twice, then the store is resealed
// and scrubbed of old copies (Replica::change_passphrase).
Status change_passphrase(const Args& args, bool authority) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({}));
  const std::string dir = data_dir(args);
  const std::string what = authority ? "the authority" : "the replica";
  BIRGA_RETURN_IF_ERROR(authority ? check_authority_dir(dir) : check_replica_dir(dir));
  const PassphraseSource current_source =
      authority ? authority_passphrase(dir) : device_passphrase(dir);
  auto current = read_passphrase(current_source);
  if (!current.is_ok()) return current.status();
  auto next = read_passphrase(
      {{"BIRGA_NEW_PASSPHRASE"}, "New passphrase for " + what + " in " + dir + ": ", true});
  if (!next.is_ok()) return next.status();
  auto scrubbed = authority ? Authority::change_passphrase(dir, *current, *next)
                            : Replica::change_passphrase(dir, *current, *next);
  if (!scrubbed.is_ok()) {
    std::string why = scrubbed.status().message();
    if (scrubbed.status().code() == Code::kPermissionDenied) {
      why += " (check " + passphrase_origin(current_source) + ")";
    }
    return Status(scrubbed.status().code(), "passphrase of " + what + " in " + dir + ": " + why);
  }
  if (args.has("json")) {
    JsonWriter w;
    w.begin_object().key("dir").value(dir).key("pages_scrubbed").value(*scrubbed).end_object();
    print_line(w.str());
  } else {
    print_line("changed the passphrase of " + what + " in " + dir +
               ": only the new one opens it now (" + std::to_string(*scrubbed) + " pages cleared)");
  }
  return Status::ok();
}

Status run_passphrase(const Args& args) {
  return change_passphrase(args, false);
}
Status run_authority_passphrase(const Args& args) {
  return change_passphrase(args, true);
}

// The store being open elsewhere is not a missing peer (exit 5) but a thing to stop first.
int passphrase_exit_code(const Status& s) {
  return s.code() == Code::kUnavailable ? kExitNotFound : exit_code_for(s);
}

}  // namespace

std::vector<Command> trust_commands() {
  const FlagSpec dir{"dir", Type::kValue, "ADIR   the authority's directory"};
  const FlagSpec out{"out", Type::kValue, "FILE   where to write the change list"};
  return {
      {"authority init",
       "--dir ADIR",
       "create the deployment authority; prints its public key",
       "The authority signs device certificates and creates the scope data keys. Keep its "
       "directory offline. Passphrase: $BIRGA_AUTHORITY_PASSPHRASE, else $BIRGA_PASSPHRASE, "
       "else a prompt.",
       {dir, kJsonFlag},
       run_authority_init},
      {"authority revoke",
       "--dir ADIR --device-key KEY --reason TEXT --out FILE",
       "revoke a device; writes the control changes to import at a hub",
       "Rotates every scope key the device could read. Carry FILE to a hub and run "
       "`birga import FILE` there.",
       {dir,
        {"device-key", Type::kValue, "KEY    the device's public key (hex)"},
        {"reason", Type::kValue, "TEXT   why (recorded in the revocation)"},
        out,
        kJsonFlag},
       run_authority_revoke},
      {"authority export",
       "--dir ADIR --out FILE",
       "write the whole control log to a file",
       "A hub imports it with `birga import FILE` to learn every certificate and key envelope.",
       {dir, out, kJsonFlag},
       run_authority_export},
      {"authority catch-up",
       "FILE --dir ADIR",
       "bring an authority restored from an older copy up to date from a hub's control log",
       "FILE: the control log as a hub holds it (`birga changes export --scope _control --out "
       "FILE` at the hub). The control changes this authority lacks are checked like any "
       "change and adopted, with the certificates, revocations and keys they carry, so that "
       "its next enrol or revoke follows them. Changes nothing, and fails, when the file "
       "contradicts this copy (it issued after the copy was made), lacks a change, or is "
       "damaged.",
       {dir, kJsonFlag},
       run_authority_catch_up},
      {"authority passphrase",
       "--dir ADIR",
       "change the authority's passphrase",
       "The current passphrase: $BIRGA_AUTHORITY_PASSPHRASE, else $BIRGA_PASSPHRASE, else a "
       "prompt; the new one: $BIRGA_NEW_PASSPHRASE, else asked twice. The keys stay the same. "
       "A copy of ADIR made before still opens with the old passphrase.",
       {dir, kJsonFlag},
       run_authority_passphrase,
       true,
       passphrase_exit_code},
      {"authority devices",
       "--dir ADIR",
       "list the certificates issued",
       "",
       {dir, kJsonFlag},
       run_authority_devices},
      {"init",
       "[--dir DIR] [--schema FILE]",
       "create a replica; prints the device's public key",
       "Copies the schema (FILE, else the built-in mahalla schema) to DIR/schema, which every "
       "later command reads. Passphrase: $BIRGA_DEVICE_PASSPHRASE, else $BIRGA_PASSPHRASE, "
       "else a prompt (asked twice).",
       {kDirFlag, {"schema", Type::kValue, "FILE   the schema to use"}, kJsonFlag},
       run_init},
      {"enrol",
       "--dir ADIR (--device-key KEY --out FILE | --device DEVICE_DIR) --name NAME --role ROLE "
       "--scope PATH:RIGHTS [--scope ...] [--expires YYYY-MM-DD]",
       "issue a device certificate (an enrolment bundle)",
       "With --device-key, writes the bundle to FILE for `birga cert install FILE` on the "
       "device. With --device, installs it at once in the replica in DEVICE_DIR on this "
       "machine (its passphrase: $BIRGA_DEVICE_PASSPHRASE, else $BIRGA_PASSPHRASE). The "
       "authority's passphrase: $BIRGA_AUTHORITY_PASSPHRASE, else $BIRGA_PASSPHRASE, else a "
       "prompt. ROLE: "
       "field, supervisor, hub, relay. RIGHTS: r, w, relay and combinations (rw, r+relay). "
       "The certificate is valid to the end of the --expires day (UTC); without it, it does "
       "not expire.",
       {dir,
        {"device-key", Type::kValue, "KEY    the device's public key (from `birga init`)"},
        {"device", Type::kValue, "DEVICE_DIR  a replica on this machine to enrol directly"},
        {"name", Type::kValue, "NAME   who holds the device"},
        {"role", Type::kValue, "ROLE   field|supervisor|hub|relay"},
        {"scope", Type::kRepeated, "PATH:RIGHTS  a scope grant (repeatable)"},
        {"expires", Type::kValue, "YYYY-MM-DD  the last day the certificate is valid"},
        {"out", Type::kValue, "FILE   where to write the bundle"},
        kJsonFlag},
       run_enrol},
      {"passphrase",
       "[--dir DIR]",
       "change this replica's passphrase (stop `birga serve` on it first)",
       "The current passphrase: $BIRGA_DEVICE_PASSPHRASE, else $BIRGA_PASSPHRASE, else a "
       "prompt; the new one (at least 8 characters): $BIRGA_NEW_PASSPHRASE, else asked twice. "
       "The device's keys stay the same, so nothing is re-encrypted and its peers see no "
       "difference. Old copies of the keys sealed under the old passphrase are cleared from "
       "the store's file; a copy of DIR made before (a backup) still opens with the old one. "
       "Refused while another process has the replica open.",
       {kDirFlag, kJsonFlag},
       run_passphrase,
       true,
       passphrase_exit_code},
      {"cert install",
       "FILE [--dir DIR]",
       "install an enrolment bundle on this device",
       "Checks the certificate names this device and the bundle's authority is this "
       "replica's (a bundle from another deployment is refused), then ingests its key "
       "envelopes. A certificate older than the installed one (a lower serial) is refused "
       "(exit 3): it would undo a narrowed grant or an earlier expiry.",
       {kDirFlag, kJsonFlag},
       run_cert_install},
  };
}

}  // namespace birga::cli
