// Context: what every command needs before it can act - the directory, the passphrase, the
// opened replica (with the schema read from DIR/schema) or authority, the device's
// certificate. Whole files are read and written with birga/file.h.
//
// Directories: `--dir DIR`, else $BIRGA_DIR, else ./birga-data. Passphrases: from an
// environment variable, else a prompt on the terminal with echo off; with neither (a script
// whose stdin is not a terminal) the command fails and says which variable to set.
//
// Thread rule: single-threaded CLI helpers.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "args.h"
#include "birga/authority.h"
#include "birga/file.h"
#include "birga/replica.h"
#include "birga/trust.h"
#include "json.h"

namespace birga::cli {

// The file in a replica's directory that holds its schema text.
inline constexpr const char* kSchemaFile = "schema";

// The directory named by --dir, $BIRGA_DIR or ./birga-data.
std::string data_dir(const Args& args);

// invalid_argument, the same for every command, when `path` is not a directory though it
// exists, or lies inside a file: "--dir notes.txt is a file, not a directory: ...". `named_by`
// says where the path came from ("--dir", "--device"). ok when it is a directory or does not
// exist yet (init creates it; the other commands then say there is no store).
Status check_directory_path(const std::string& path, std::string_view named_by);
// check_directory_path() for data_dir(args), named by where it came from.
Status check_data_dir(const Args& args);

// Which environment variables supply a passphrase, in order of preference.
struct PassphraseSource {
  std::vector<const char*> env;  // e.g. {"BIRGA_DEVICE_PASSPHRASE", "BIRGA_PASSPHRASE"}
  std::string prompt;            // "Passphrase for the replica in ./birga-data: "
  bool confirm = false;          // ask twice (when a new key is protected)
};
Result<std::string> read_passphrase(const PassphraseSource& source);

PassphraseSource device_passphrase(const std::string& dir, bool confirm = false);
PassphraseSource authority_passphrase(const std::string& dir, bool confirm = false);
// Where the passphrase read_passphrase() took came from ("$BIRGA_PASSPHRASE", "what you
// typed"), for an error that asks to check it.
std::string passphrase_origin(const PassphraseSource& source);

// not_found unless `dir` holds a replica (data.mdb and its schema file); unless it holds an
// authority (data.mdb and no schema file).
Status check_replica_dir(const std::string& dir);
Status check_authority_dir(const std::string& dir);

// Reads and parses DIR/schema.
Result<crdt::Schema> load_schema(const std::string& dir);

// Opens the replica in `dir` with its schema; "no replica in DIR: run `birga init` first or
// pass --dir" when there is none.
Result<std::unique_ptr<Replica>> open_replica(const std::string& dir,
                                              const PassphraseSource& source);
// The replica named by the command's --dir, with the usual passphrase sources.
Result<std::unique_ptr<Replica>> open_replica(const Args& args);
Result<std::unique_ptr<Authority>> open_authority(const Args& args);

// This device's certificate, checked against the replica's authority; permission_denied
// ("not enrolled") when it has none.
Result<Certificate> device_certificate(const Replica& replica);
// The certificate of a device that may write: enrolled, not expired, not known revoked
// (permission_denied saying which, and what to do).
Result<Certificate> writer_certificate(const Replica& replica);
// The scope a new record is written in: --scope (which the certificate must grant write on),
// else the certificate's only writable scope.
Result<std::string> write_scope(const Replica& replica, const Args& args);
// Who a resolution or note is by: the certificate's name, else the device key's prefix.
std::string device_label(const Replica& replica);
// A note, amendment, decision, consent entry, resolution or acknowledgement as it is kept:
// "TEXT (by NAME)", NAME being device_label().
std::string signed_text(std::string_view text, const Replica& replica);

// "tashkent/yunusobod/m0421:rw tashkent/yunusobod:relay"
std::string grants_text(const std::vector<ScopeGrant>& grants);
// The members of a certificate's JSON object (the caller opens and closes it): "device_key",
// "name", "role", "serial", "scopes": [{"path", "rights"}], "expires": "YYYY-MM-DD" (the
// last valid day, UTC) or null, "authority".
void write_certificate_fields(JsonWriter& w, const Certificate& c);

// Writes `changes` as a change-list file (birga/change_list.h) and says so (as JSON with --json:
// {"changes": N, "out": PATH}).
Status write_changes(const std::string& path, const std::vector<std::string>& changes,
                     const Args& args);

// Prints `text` and a newline on stdout.
void print_line(const std::string& text);

}  // namespace birga::cli
