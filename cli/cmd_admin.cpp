// Administration: version, status, verify, alerts, export (CSV/JSON), import and `changes
// export` of sealed-change files.
#include <algorithm>
#include <iostream>

#include "birga/change_list.h"
#include "birga/session.h"
#include "command.h"
#include "context.h"
#include "records.h"
#include "validate.h"

namespace birga::cli {

namespace {

using Type = FlagSpec::Type;

// The formats this build reads and writes (tests/cli compares them with the bytes of a new
// store and of a hello).
constexpr int kStoreFormat = kStoreFormatVersion;

Status run_version(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({}));
  if (args.has("json")) {
    JsonWriter w;
    w.begin_object().key("version").value(BIRGA_VERSION_STRING);
    w.key("store_format").value(kStoreFormat).key("protocol").value(kProtocolVersion);
    w.key("change_list_format").value(int{kChangeListVersion}).end_object();
    print_line(w.str());
  } else {
    print_line(std::string("birga ") + BIRGA_VERSION_STRING + " (store format " +
               std::to_string(kStoreFormat) + ", wire protocol " +
               std::to_string(kProtocolVersion) + ", change files " +
               std::to_string(kChangeListVersion) + ")");
  }
  return Status::ok();
}

Status run_verify(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({}));
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  const Status s = (*replica)->verify();
  if (!s.is_ok()) {
    return Status::data_loss("verify failed: " + s.message() + " (stop writing; keep a copy of " +
                             data_dir(args) + ")");
  }
  // Consistent, but a sync found it behind this device's own chain: as unsafe to write on as
  // a damaged store (status shows the same, acknowledged or not).
  auto alerts = (*replica)->alerts();
  if (!alerts.is_ok()) return alerts.status();
  for (const Alert& a : *alerts) {
    if (a.kind != "restored_store") continue;
    return Status::data_loss("the store in " + data_dir(args) +
                             " is consistent, but must not be written on: " + a.detail);
  }
  if (args.has("json")) {
    print_line("{\"ok\":true}");
  } else {
    print_line("ok: the store in " + data_dir(args) + " is consistent");
  }
  return Status::ok();
}

void write_alert_json(JsonWriter& w, const Alert& a) {
  w.begin_object().key("position").value(a.position).key("kind").value(a.kind);
  w.key("detail").value(a.detail).key("acknowledged_ms");
  if (a.open()) {
    w.null().key("acknowledgement").null();
  } else {
    w.value(a.acknowledged_ms).key("acknowledgement").value(a.acknowledgement);
  }
  w.end_object();
}

// The open alerts, or with --all every alert, acknowledged ones marked.
Status run_alerts(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({}));
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  auto alerts = (*replica)->alerts();
  if (!alerts.is_ok()) return alerts.status();
  const bool all = args.has("all");
  const auto acknowledged = static_cast<size_t>(
      std::count_if(alerts->begin(), alerts->end(), [](const Alert& a) { return !a.open(); }));
  if (args.has("json")) {
    JsonWriter w;
    w.begin_array();
    for (const Alert& a : *alerts) {
      if (all || a.open()) write_alert_json(w, a);
    }
    w.end_array();
    print_line(w.str());
    return Status::ok();
  }
  for (const Alert& a : *alerts) {
    if (!all && !a.open()) continue;
    std::string line = std::to_string(a.position) + "  " + a.kind + "  " + a.detail;
    if (!a.open()) {
      line += "  [acknowledged " + date_of_ms(a.acknowledged_ms) + ": " + a.acknowledgement + "]";
    }
    print_line(line);
  }
  if (alerts->size() == (all ? 0 : acknowledged)) print_line(all ? "no alerts" : "no open alerts");
  if (!all && acknowledged > 0) {
    print_line("(" + std::to_string(acknowledged) + " acknowledged not shown: birga alerts --all)");
  }
  return Status::ok();
}

// alerts ack POSITION --note TEXT
Status run_alerts_ack(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({"POSITION"}));
  auto position = parse_int(args.positional()[0], "POSITION");
  if (!position.is_ok()) return position.status();
  if (*position <= 0) return Status::invalid_argument("POSITION: must be greater than 0");
  auto note = args.require("note", "TEXT (what was found or done)");
  if (!note.is_ok()) return note.status();
  BIRGA_RETURN_IF_ERROR(check_line(*note, "--note"));
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  const std::string signed_note = signed_text(*note, **replica);
  auto alert = (*replica)->acknowledge_alert(static_cast<uint64_t>(*position), signed_note);
  if (!alert.is_ok()) return alert.status();
  if (args.has("json")) {
    JsonWriter w;
    write_alert_json(w, *alert);
    print_line(w.str());
  } else {
    print_line("acknowledged alert " + std::to_string(alert->position) + " (" + alert->kind + ")");
  }
  return Status::ok();
}

// RFC 4180: a cell with a comma, quote, CR or LF is quoted, its quotes doubled.
std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string csv_of(const std::vector<RecordView>& records, const crdt::CollectionSpec& spec) {
  std::string out = "id,scope";
  for (const auto& [name, field] : spec.fields) out += "," + csv_cell(name);
  out += "\r\n";
  for (const RecordView& r : records) {
    if (r.deleted()) continue;
    out += r.id.to_hex() + "," + csv_cell(r.scope);
    for (const auto& [name, field] : spec.fields) out += "," + csv_cell(field_text(r, field));
    out += "\r\n";
  }
  return out;
}

Status run_export(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({"KIND"}));
  const std::string format = args.has("json") ? "json" : args.get("format").value_or("csv");
  if (format != "csv" && format != "json") {
    return Status::invalid_argument("--format: '" + format + "' is not csv or json");
  }
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  const crdt::Schema& schema = (*replica)->schema();
  auto collection = collection_named(schema, args.positional()[0]);
  if (!collection.is_ok()) return collection.status();
  auto records = (*replica)->list(*collection);
  if (!records.is_ok()) return records.status();
  std::string text;
  if (format == "csv") {
    text = csv_of(*records, *schema.collection(*collection));
  } else {
    JsonWriter w;
    w.begin_array();
    for (const RecordView& r : *records) {
      if (!r.deleted()) write_record_json(w, r, schema);
    }
    w.end_array();
    text = w.str() + "\n";
  }
  if (auto out = args.get("out")) return write_file(*out, text);
  std::cout << text;
  return Status::ok();
}

// With --json, `failure` (some changes refused) goes in the same object as the counts.
void print_ingest(const Args& args, const IngestReport& r, size_t total, const Status& failure) {
  if (args.has("json")) {
    JsonWriter w;
    w.begin_object().key("changes").value(total).key("applied").value(r.applied);
    w.key("duplicates").value(r.duplicates).key("pending").value(r.pending);
    w.key("deferred").value(r.deferred);
    w.key("sealed_only").value(r.sealed_only).key("quarantined").value(r.quarantined);
    w.key("refused").begin_array();
    for (const Status& s : r.refused) w.value(s.message());
    w.end_array().key("released").value(r.released).key("waiting").begin_array();
    for (const std::string& s : r.waiting) w.value(s);
    w.end_array();
    if (!failure.is_ok()) write_error_json(w, failure.code(), failure.message());
    print_line(w.end_object().str());
    if (!failure.is_ok()) note_json_error_printed();
    return;
  }
  print_line("imported " + std::to_string(total) + " changes: " + std::to_string(r.applied) +
             " applied, " + std::to_string(r.duplicates) + " already held, " +
             std::to_string(r.pending) + " waiting for earlier changes, " +
             (r.deferred ? std::to_string(r.deferred) +
                               " not held (too many of their author's already wait: import "
                               "again once the earlier changes are in), "
                         : std::string()) +
             std::to_string(r.sealed_only) + " kept sealed (no key), " +
             std::to_string(r.quarantined) + " quarantined, " + std::to_string(r.refused.size()) +
             " refused");
  if (r.released) {
    print_line("also let in " + std::to_string(r.released) +
               " change(s) an earlier import left waiting");
  }
}

// A change left waiting is not in force, and the usual one to wait is a revocation imported
// at a hub that has not seen the control changes before it: the device stays able to sync
// until it is applied. The import itself succeeded, so this is a warning, not an exit code.
void warn_waiting(const IngestReport& r) {
  if (r.waiting.empty()) return;
  std::cerr << "warning: " << r.waiting.size()
            << " change(s) are waiting for earlier changes and are NOT in force yet (a "
               "revocation or a new grant among them has not taken effect):\n";
  for (const std::string& w : r.waiting) std::cerr << "  " << w << "\n";
  std::cerr << "import the earlier changes they wait for; for control changes ('_control'), "
               "the authority's whole control log: `birga authority export --dir ADIR --out "
               "FILE` on the authority, then `birga import FILE` here\n";
}

// The file is read before the replica is opened: a file that is not a change list fails
// without asking for a passphrase.
Status run_import(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({"FILE"}));
  auto file = read_change_list(args.positional()[0]);
  if (!file.is_ok()) return file.status();
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  auto imported = import_change_list(**replica, *file);
  if (!imported.is_ok()) return imported.status();
  print_ingest(args, imported->report, file->changes.size(), imported->status);
  for (const Status& s : imported->report.refused) {
    std::cerr << "refused: " << s.to_string() << "\n";
  }
  warn_waiting(imported->report);
  return imported->status;
}

Status run_changes_export(const Args& args) {
  BIRGA_RETURN_IF_ERROR(args.expect_positional({}));
  auto out = args.require("out", "FILE");
  if (!out.is_ok()) return out.status();
  auto replica = open_replica(args);
  if (!replica.is_ok()) return replica.status();
  auto changes = held_changes(**replica, args.get("scope"));
  if (!changes.is_ok()) return changes.status();
  return write_changes(*out, *changes, args);
}

}  // namespace

Status run_status(const Args& args);  // cmd_status.cpp

std::vector<Command> admin_commands() {
  return {
      {"version",
       "",
       "print birga's version and the store, protocol and change-file formats it uses",
       "The same as `birga --version`. A replica made by another version opens only if its "
       "store format is the same (a format-4 replica opens, and is marked format 5); two nodes "
       "sync only if they speak the same protocol.",
       {kJsonFlag},
       run_version},
      {"status",
       "",
       "this device, its certificate, scopes, record counts and alerts",
       "",
       {kDirFlag, kJsonFlag},
       run_status},
      {"verify",
       "",
       "check the store's consistency (exit 4 when it fails)",
       "",
       {kDirFlag, kJsonFlag},
       run_verify},
      {"alerts",
       "[--all]",
       "list the open alerts (over-issuance, removed members, clock skew, ...)",
       "Alerts are raised on this device as it writes and syncs; each waits for a person. "
       "Acknowledge one once reviewed with `birga alerts ack`.",
       {kDirFlag, {"all", Type::kSwitch, "       also the acknowledged alerts"}, kJsonFlag},
       run_alerts},
      {"alerts ack",
       "POSITION --note TEXT",
       "acknowledge an alert once reviewed, with what was found or done",
       "The alert stays in `birga alerts --all` with the note, the date and this device. "
       "Acknowledgements are kept on this device only, like the alerts.",
       {kDirFlag, {"note", Type::kValue, "TEXT   what was found or done (required)"}, kJsonFlag},
       run_alerts_ack},
      {"export",
       "KIND [--format csv|json] [--out FILE]",
       "write every record of a kind as CSV (default) or JSON",
       "CSV has a header row (id, scope, then the schema's fields); sets are joined with "
       "\"; \", concurrent values with \" | \", log entries with newlines.",
       {kDirFlag,
        {"format", Type::kValue, "csv|json  (default csv)"},
        {"out", Type::kValue, "FILE   write to FILE instead of stdout"},
        {"json", Type::kSwitch, "       the same as --format json"}},
       run_export},
      {"import",
       "FILE",
       "ingest a file of sealed changes (a control log, a revocation, ...)",
       "Every change is verified (signature, hash chain, author's rights); a refused change "
       "is reported and the others are kept. Each change is counted once, where it ended up. "
       "A change that waits for an earlier one is kept but not in force: a warning names it "
       "and what it waits for (import the earlier changes, for control changes the "
       "authority's whole control log).",
       {kDirFlag, kJsonFlag},
       run_import},
      {"changes export",
       "[--scope PATH] --out FILE",
       "write the sealed changes held to a file for `birga import`",
       "",
       {kDirFlag,
        {"scope", Type::kValue, "PATH   only this scope"},
        {"out", Type::kValue, "FILE   where to write"},
        kJsonFlag},
       run_changes_export},
  };
}

}  // namespace birga::cli
