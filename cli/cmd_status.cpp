// `birga status`: the device, its certificate, the scopes held (key, version vector), record
// counts per kind, conflicts, alerts, the changes held but not in force (pending, quarantined)
// and the store's size on disk.
#include <filesystem>

#include "command.h"
#include "context.h"
#include "records.h"
#include "validate.h"

namespace birga::cli {

namespace {

namespace fs = std::filesystem;

struct ScopeState {
  std::string scope;
  bool key_held = false;
  crdt::VersionVector vv;
};

struct StatusReport {
  std::optional<Certificate> certificate;
  std::optional<uint64_t> revoked_ms;  // when this device's revocation took effect
  std::vector<ScopeState> scopes;
  std::vector<std::pair<std::string, size_t>> counts;  // per collection, live records
  size_t conflicts = 0;
  size_t alerts = 0;  // open: not yet acknowledged
  size_t alerts_acknowledged = 0;
  Replica::Withheld withheld;  // held, not in force: pending and quarantined changes
  // A sync found this store behind this device's own chain (the "restored_store" alert): an
  // acknowledgement does not make it safe to write here again, so it shows until re-enrolment.
  std::optional<std::string> restored;
  uint64_t store_bytes = 0;
};

uint64_t dir_bytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec)) total += entry.file_size(ec);
  }
  return total;
}

Status gather_scopes(const Replica& replica, StatusReport& report) {
  auto scopes = replica.scopes();
  if (!scopes.is_ok()) return scopes.status();
  for (const std::string& scope : *scopes) {
    auto vv = replica.version_vector(scope);
    if (!vv.is_ok()) return vv.status();
    report.scopes.push_back({scope, replica.has_scope_key(scope), *vv});
  }
  return Status::ok();
}

Result<StatusReport> gather(const Replica& replica) {
  StatusReport report;
  if (auto cert = device_certificate(replica); cert.is_ok()) report.certificate = *cert;
  auto revoked = replica.revoked_at(replica.device_key());
  if (!revoked.is_ok()) return revoked.status();
  report.revoked_ms = *revoked;
  BIRGA_RETURN_IF_ERROR(gather_scopes(replica, report));
  for (const auto& [name, spec] : replica.schema().collections()) {
    auto records = replica.list(name);
    if (!records.is_ok()) return records.status();
    size_t live = 0;
    for (const RecordView& r : *records) live += r.deleted() ? 0 : 1;
    report.counts.emplace_back(name, live);
  }
  auto conflicts = replica.conflicts();
  if (!conflicts.is_ok()) return conflicts.status();
  report.conflicts = conflicts->size();
  auto alerts = replica.alerts();
  if (!alerts.is_ok()) return alerts.status();
  for (const Alert& a : *alerts) {
    ++(a.open() ? report.alerts : report.alerts_acknowledged);
    if (a.kind == "restored_store") report.restored = a.detail;
  }
  auto withheld = replica.withheld();
  if (!withheld.is_ok()) return withheld.status();
  report.withheld = *withheld;
  report.store_bytes = dir_bytes(replica.dir());
  return report;
}

void write_json(const Replica& replica, const StatusReport& r) {
  JsonWriter w;
  w.begin_object().key("device_key").value(key_hex(replica.device_key()));
  w.key("dir").value(replica.dir()).key("schema_version");
  w.value(static_cast<uint64_t>(replica.schema().version()));
  w.key("certificate");
  if (r.certificate) {
    w.begin_object();
    write_certificate_fields(w, *r.certificate);
    w.end_object();
  } else {
    w.null();
  }
  w.key("revoked_ms");
  if (r.revoked_ms) {
    w.value(*r.revoked_ms);
  } else {
    w.null();
  }
  w.key("authority");
  if (auto a = replica.authority()) {
    w.value(key_hex(*a));
  } else {
    w.null();
  }
  w.key("scopes").begin_array();
  for (const ScopeState& s : r.scopes) {
    w.begin_object().key("scope").value(s.scope).key("key_held").value(s.key_held);
    w.key("version_vector").begin_object();
    for (const auto& [actor, seq] : s.vv.entries()) w.key(actor.to_hex()).value(seq);
    w.end_object().end_object();
  }
  w.end_array().key("records").begin_object();
  for (const auto& [name, count] : r.counts) w.key(name).value(count);
  w.end_object().key("conflicts").value(r.conflicts).key("alerts").value(r.alerts);
  w.key("alerts_acknowledged").value(r.alerts_acknowledged);
  w.key("pending").value(r.withheld.pending).key("quarantined").value(r.withheld.quarantined);
  w.key("restored_store");
  if (r.restored) {
    w.value(*r.restored);
  } else {
    w.null();
  }
  w.key("store_bytes").value(r.store_bytes).end_object();
  print_line(w.str());
}

void print_certificate(const Replica& replica, const StatusReport& r) {
  const std::optional<Certificate>& cert = r.certificate;
  if (!cert) {
    print_line("certificate: none (not enrolled: run `birga cert install FILE`)");
    return;
  }
  const bool expired = cert->expired_at(crdt::system_wall_clock_ms());
  print_line("certificate: " + cert->name + " (" + role_name(cert->role) + "), serial " +
             std::to_string(cert->serial) + ", expires " +
             (cert->expires_ms ? date_of_ms(cert->expires_ms - 1) : "never") +
             (expired ? " - EXPIRED" : ""));
  if (r.revoked_ms) {
    print_line("  REVOKED on " + date_of_ms(*r.revoked_ms) +
               ": this device can no longer write, sync, or read what is written after that; "
               "hand it to the administrator");
  }
  if (r.restored) {
    print_line(
        "  RESTORED OR COPIED: do not write on this store; re-enrol the device with a new "
        "key. " +
        *r.restored);
  }
  print_line("  grants:    " + grants_text(cert->scopes));
  print_line("authority:   " + key_hex(*replica.authority()));
}

void print_text(const Replica& replica, const StatusReport& r) {
  print_line("device:      " + key_hex(replica.device_key()));
  print_line("dir:         " + replica.dir() + " (" + std::to_string(r.store_bytes) + " bytes)");
  print_line("schema:      version " + std::to_string(replica.schema().version()));
  print_certificate(replica, r);
  print_line("scopes held:");
  for (const ScopeState& s : r.scopes) {
    std::string vv;
    for (const auto& [actor, seq] : s.vv.entries()) {
      vv += (vv.empty() ? "" : ", ") + actor.to_hex().substr(0, 8) + "=" + std::to_string(seq);
    }
    print_line("  " + s.scope + (s.key_held ? "  (key held)" : "  (sealed only: no key)") +
               "  changes: " + (vv.empty() ? "none" : vv));
  }
  print_line("records:");
  for (const auto& [name, count] : r.counts) print_line("  " + name + ": " + std::to_string(count));
  print_line("conflicts:   " + std::to_string(r.conflicts));
  print_line("alerts:      " + std::to_string(r.alerts) + " open" +
             (r.alerts_acknowledged ? ", " + std::to_string(r.alerts_acknowledged) + " acknowledged"
                                    : std::string()));
  // Shown even at zero: an operator checks here that a revocation took effect.
  print_line("pending:     " + std::to_string(r.withheld.pending) +
             " change(s) waiting for earlier changes, not in force" +
             (r.withheld.pending ? " (import the earlier changes: for control changes, the "
                                   "authority's whole control log)"
                                 : std::string()));
  print_line("quarantined: " + std::to_string(r.withheld.quarantined) + " change(s)" +
             (r.withheld.quarantined ? " (see `birga alerts`)" : std::string()));
}

}  // namespace

Status run_status(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({}));
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  auto report = gather(**replica);
  if (!report.is_ok()) return report.status();
  if (args.has("json")) {
    write_json(**replica, *report);
  } else {
    print_text(**replica, *report);
  }
  return Status::ok();
}

}  // namespace birga::cli
