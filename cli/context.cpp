#include "context.h"

#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "birga/change_list.h"
#include "validate.h"

namespace birga::cli {

namespace fs = std::filesystem;

namespace {

// The terminal settings to put back if the user interrupts a prompt with echo off.
struct termios saved_termios;

void restore_terminal_and_exit(int sig) {
  tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

// Reads one line from the terminal on stdin with echo off; the prompt goes to stderr.
Result<std::string> prompt_no_echo(const std::string& prompt) {
  std::cerr << prompt << std::flush;
  if (tcgetattr(STDIN_FILENO, &saved_termios) != 0) {
    return Status::unavailable("cannot read the terminal's settings");
  }
  struct termios quiet = saved_termios;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  auto old_int = std::signal(SIGINT, restore_terminal_and_exit);
  auto old_term = std::signal(SIGTERM, restore_terminal_and_exit);
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  std::string line;
  const bool got = static_cast<bool>(std::getline(std::cin, line));
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);
  std::cerr << "\n";
  if (!got) return Status::invalid_argument("no passphrase entered");
  return line;
}

std::string env_list(const std::vector<const char*>& env) {
  std::string out;
  for (size_t i = 0; i < env.size(); ++i) {
    out += (i == 0 ? "$" : (i + 1 == env.size() ? " or $" : ", $")) + std::string(env[i]);
  }
  return out;
}

}  // namespace

std::string data_dir(const Args& args) {
  if (auto d = args.get("dir")) return *d;
  const char* env = std::getenv("BIRGA_DIR");
  if (env && *env) return env;
  return "./birga-data";
}

Status check_directory_path(const std::string& path, std::string_view named_by) {
  // The nearest part of the path that exists: the path itself, or the parent a new store
  // would be created in. exists() is false, with ENOTDIR, for a path through a file.
  std::error_code ec;
  fs::path part = path;
  while (!part.empty() && !fs::exists(part, ec)) {
    const fs::path parent = part.parent_path();
    if (parent == part) break;
    part = parent;
  }
  if (part.empty() || fs::is_directory(part, ec)) return Status::ok();
  const std::string kind =
      fs::is_regular_file(part, ec) ? "a file, not a directory" : "not a directory";
  const std::string what = part == fs::path(path)
                               ? path + " is " + kind
                               : path + " is inside " + part.string() + ", which is " + kind;
  return Status::invalid_argument(std::string(named_by) + " " + what +
                                  ": pass the directory of the replica or authority (init and "
                                  "authority init create a new one)");
}

Status check_data_dir(const Args& args) {
  const char* env = std::getenv("BIRGA_DIR");
  const std::string named_by = args.has("dir") ? "--dir"
                               : env && *env   ? "$BIRGA_DIR"
                                               : "the default directory";
  return check_directory_path(data_dir(args), named_by);
}

namespace {
// A new passphrase is all that protects a lost tablet's data at rest: not a few letters.
Result<std::string> checked_new(const PassphraseSource& source, std::string pass) {
  if (source.confirm && pass.size() < kMinPassphraseBytes) {
    return Status::invalid_argument(
        "the passphrase is too short: at least " + std::to_string(kMinPassphraseBytes) +
        " characters protect the keys it seals (a lost device's data depends on it)");
  }
  return pass;
}
}  // namespace

Result<std::string> read_passphrase(const PassphraseSource& source) {
  for (const char* name : source.env) {
    const char* v = std::getenv(name);
    if (v && *v) return checked_new(source, v);
  }
  if (!isatty(STDIN_FILENO)) {
    return Status::permission_denied("no passphrase: set " + env_list(source.env) +
                                     " (stdin is not a terminal, so it cannot be asked for)");
  }
  auto first = prompt_no_echo(source.prompt);
  if (!first.is_ok()) return first;
  if (first->empty()) return Status::invalid_argument("the passphrase must not be empty");
  if (source.confirm) {
    auto again = prompt_no_echo("Repeat it: ");
    if (!again.is_ok()) return again;
    if (*again != *first) return Status::invalid_argument("the passphrases do not match");
  }
  return checked_new(source, *first);
}

std::string passphrase_origin(const PassphraseSource& source) {
  for (const char* name : source.env) {
    const char* v = std::getenv(name);
    if (v && *v) return "$" + std::string(name);
  }
  return "what you typed";
}

PassphraseSource device_passphrase(const std::string& dir, bool confirm) {
  return {{"BIRGA_DEVICE_PASSPHRASE", "BIRGA_PASSPHRASE"},
          "Passphrase for the replica in " + dir + ": ",
          confirm};
}

PassphraseSource authority_passphrase(const std::string& dir, bool confirm) {
  return {{"BIRGA_AUTHORITY_PASSPHRASE", "BIRGA_PASSPHRASE"},
          "Passphrase for the authority in " + dir + ": ",
          confirm};
}

Result<crdt::Schema> load_schema(const std::string& dir) {
  const std::string path = (fs::path(dir) / kSchemaFile).string();
  auto text = read_file(path);
  if (!text.is_ok()) return text.status();
  auto schema = crdt::Schema::parse(*text);
  if (!schema.is_ok()) {
    return Status::invalid_argument("the schema " + path +
                                    " is invalid: " + schema.status().message() + "; fix the file");
  }
  return schema;
}

namespace {
// Whether `dir` holds an LMDB store; an error when it cannot be looked into (another user's
// directory), rather than "no store there".
Result<bool> holds_store(const std::string& dir) {
  std::error_code ec;
  const bool found = fs::exists(fs::path(dir) / "data.mdb", ec);
  if (ec) {
    return Status::permission_denied("cannot look into " + dir + ": " + ec.message() +
                                     " (run as the user that owns it, or fix its permissions)");
  }
  return found;
}
}  // namespace

Status check_replica_dir(const std::string& dir) {
  std::error_code ec;
  auto has_store = holds_store(dir);
  if (!has_store.is_ok()) return has_store.status();
  if (!*has_store) {
    return Status::not_found("no replica in " + dir + ": run `birga init` first or pass --dir");
  }
  if (!fs::exists(fs::path(dir) / kSchemaFile, ec)) {
    return Status::not_found(dir + " holds no schema file, so it is not a replica made by " +
                             "`birga init` (an authority's directory?); pass --dir");
  }
  return Status::ok();
}

Status check_authority_dir(const std::string& dir) {
  std::error_code ec;
  auto has_store = holds_store(dir);
  if (!has_store.is_ok()) return has_store.status();
  if (!*has_store) {
    return Status::not_found("no authority in " + dir +
                             ": run `birga authority init --dir DIR` first or pass --dir");
  }
  if (fs::exists(fs::path(dir) / kSchemaFile, ec)) {
    return Status::invalid_argument(dir + " holds a replica, not an authority; pass the " +
                                    "authority's directory with --dir");
  }
  return Status::ok();
}

namespace {
// A refusal to open that the passphrase explains; not one of the files' permissions, whose
// message says so itself.
bool is_wrong_passphrase(const Status& s) {
  return s.code() == Code::kPermissionDenied &&
         s.message().find("wrong passphrase") != std::string::npos;
}
}  // namespace

Result<std::unique_ptr<Replica>> open_replica(const std::string& dir,
                                              const PassphraseSource& source) {
  BIRGA_RETURN_IF_ERROR(check_replica_dir(dir));
  auto schema = load_schema(dir);
  if (!schema.is_ok()) return schema.status();
  auto pass = read_passphrase(source);
  if (!pass.is_ok()) return pass.status();
  ReplicaOptions options;
  options.passphrase = *pass;
  options.schema = *schema;
  auto replica = Replica::open(dir, std::move(options));
  if (!replica.is_ok() && is_wrong_passphrase(replica.status())) {
    return Status::permission_denied("cannot open the replica in " + dir + ": " +
                                     replica.status().message() + " (check " +
                                     passphrase_origin(source) + ")");
  }
  return replica;
}

Result<std::unique_ptr<Replica>> open_replica(const Args& args) {
  const std::string dir = data_dir(args);
  return open_replica(dir, device_passphrase(dir));
}

Result<std::unique_ptr<Authority>> open_authority(const Args& args) {
  const std::string dir = data_dir(args);
  BIRGA_RETURN_IF_ERROR(check_authority_dir(dir));
  const PassphraseSource source = authority_passphrase(dir);
  auto pass = read_passphrase(source);
  if (!pass.is_ok()) return pass.status();
  auto authority = Authority::open(dir, *pass);
  if (!authority.is_ok() && is_wrong_passphrase(authority.status())) {
    return Status::permission_denied("cannot open the authority in " + dir + ": " +
                                     authority.status().message() + " (check " +
                                     passphrase_origin(source) + ")");
  }
  return authority;
}

Result<Certificate> device_certificate(const Replica& replica) {
  std::optional<std::string> cert = replica.certificate();
  std::optional<PublicKey> authority = replica.authority();
  if (!cert || !authority) {
    return Status::permission_denied("this device is not enrolled: get a bundle with " +
                                     std::string("`birga enrol` and install it with ") +
                                     "`birga cert install FILE`");
  }
  return Certificate::parse(*cert, *authority);
}

Result<Certificate> writer_certificate(const Replica& replica) {
  auto cert = device_certificate(replica);
  if (!cert.is_ok()) return cert;
  if (cert->expired_at(crdt::system_wall_clock_ms())) {
    return Status::permission_denied("this device's certificate expired on " +
                                     date_of_ms(cert->expires_ms - 1) +
                                     ": ask the administrator to enrol it again");
  }
  auto revoked = replica.revoked_at(replica.device_key());
  if (!revoked.is_ok()) return revoked.status();
  if (*revoked) {
    return Status::permission_denied("this device was revoked on " + date_of_ms(**revoked) +
                                     "; it can no longer write");
  }
  return cert;
}

Result<std::string> write_scope(const Replica& replica, const Args& args) {
  auto cert = writer_certificate(replica);
  if (!cert.is_ok()) return cert.status();
  if (auto scope = args.get("scope")) {
    // A malformed path ("m0421/") would pass the grant's prefix test and fail later for want of
    // a key, with advice that cannot be followed.
    BIRGA_RETURN_IF_ERROR(check_scope_path(*scope, "--scope"));
    if (!(cert->rights_on(*scope) & kWrite)) {
      return Status::permission_denied("this device's certificate grants no write on scope '" +
                                       *scope + "'");
    }
    return *scope;
  }
  std::vector<std::string> writable;
  for (const ScopeGrant& g : cert->scopes) {
    if (g.rights & kWrite) writable.push_back(g.path);
  }
  // Scopes are region/district/mahalla. A grant above a mahalla (a supervisor's district) is no
  // default: what is written there reaches none of its mahallas' tablets, so the writer says
  // which is meant.
  constexpr std::ptrdiff_t kMahallaDepth = 3;
  if (writable.size() == 1 &&
      std::count(writable[0].begin(), writable[0].end(), '/') + 1 >= kMahallaDepth) {
    return writable[0];
  }
  if (writable.size() == 1) {
    return Status::invalid_argument(
        "this device may write in '" + writable[0] + "' and every scope below it: choose one " +
        "with --scope (a mahalla, '" + writable[0] + "/<mahalla>', whose tablets receive it; " +
        "or '" + writable[0] + "' itself for a record its mahallas' tablets do not receive)");
  }
  if (writable.empty()) {
    return Status::permission_denied("this device's certificate grants write on no scope");
  }
  std::string list;
  for (const std::string& s : writable) list += (list.empty() ? "" : ", ") + s;
  return Status::invalid_argument("this device may write in several scopes (" + list +
                                  "): choose one with --scope");
}

std::string device_label(const Replica& replica) {
  auto cert = device_certificate(replica);
  if (cert.is_ok() && !cert->name.empty()) return cert->name;
  return "device " + key_hex(replica.device_key()).substr(0, 16);
}

std::string signed_text(std::string_view text, const Replica& replica) {
  return std::string(text) + " (by " + device_label(replica) + ")";
}

std::string grants_text(const std::vector<ScopeGrant>& grants) {
  std::string out;
  for (const ScopeGrant& g : grants) {
    out += (out.empty() ? "" : " ") + g.path + ":" + rights_name(g.rights);
  }
  return out;
}

void write_certificate_fields(JsonWriter& w, const Certificate& c) {
  w.key("device_key").value(key_hex(c.device)).key("name").value(c.name);
  w.key("role").value(role_name(c.role)).key("serial").value(c.serial);
  w.key("scopes").begin_array();
  for (const ScopeGrant& g : c.scopes) {
    w.begin_object().key("path").value(g.path).key("rights").value(rights_name(g.rights));
    w.end_object();
  }
  w.end_array();
  w.key("expires");
  if (c.expires_ms == 0) {
    w.null();
  } else {
    w.value(date_of_ms(c.expires_ms - 1));
  }
  w.key("authority").value(key_hex(c.authority));
}

Status write_changes(const std::string& path, const std::vector<std::string>& changes,
                     const Args& args) {
  BIRGA_RETURN_IF_ERROR(write_change_list(path, changes));
  if (args.has("json")) {
    JsonWriter w;
    w.begin_object().key("changes").value(changes.size()).key("out").value(path).end_object();
    print_line(w.str());
  } else {
    print_line("wrote " + std::to_string(changes.size()) + " changes to " + path);
  }
  return Status::ok();
}

void print_line(const std::string& text) {
  std::cout << text << "\n";
}

}  // namespace birga::cli
