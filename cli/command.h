// Command: one `birga` command as the dispatcher sees it (name, help, flags, handler), and the
// exit codes every command shares.
//
// A handler parses nothing itself: main() parses the words after the command's name against
// its flags, answers `--help`, refuses a --dir that is not a directory (check_data_dir), and
// maps the Status a handler returns to an exit code and a message on stderr. A handler prints
// its result on stdout (as JSON with `--json`). With `--json`, a failure is also one JSON
// object on stdout, {"error":{"code":"...","message":"..."}} (write_error_json), which main()
// prints; a handler that printed a result object before it knew it failed (sync's session,
// import's counts) puts the error in that object and calls note_json_error_printed().
#pragma once

#include <string_view>
#include <vector>

#include "args.h"
#include "birga/status.h"

namespace birga::cli {

// Documented in `birga --help`.
enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 1,        // usage or invalid input
  kExitNotFound = 2,     // not available in this build, or a named thing does not exist
  kExitPermission = 3,   // wrong passphrase, not entitled, another deployment
  kExitData = 4,         // data problem: verify failed, damaged store, restored store (sync)
  kExitUnreachable = 5,  // sync: peer unreachable
  kExitRefused = 6,      // sync: the peer refused us, or did not keep changes we wrote
  kExitProtocol = 7,     // sync: the peer broke the protocol
};

// The exit code for a failed Status.
int exit_code_for(const Status& s);

// With --json: the handler printed its result object with the failure in it ("error", by
// write_error_json), so main() prints no second object.
void note_json_error_printed();

struct Command {
  std::string_view name;      // "household add"
  std::string_view synopsis;  // "--address TEXT [--phone TEXT]"
  std::string_view summary;   // one line, for `birga --help`
  std::string_view details;   // a paragraph for `birga NAME --help` (may be empty)
  std::vector<FlagSpec> flags;
  Status (*run)(const Args& args);
  // False for a command this build lists but cannot run: its flags are not checked, so it
  // always reports itself unavailable (exit 2).
  bool available = true;
  // The exit code for a failure, when the command has its own (sync); else exit_code_for.
  int (*exit_code)(const Status&) = nullptr;
};

// The commands of each aspect, in the order `birga --help` lists them.
std::vector<Command> trust_commands();  // cmd_trust.cpp
std::vector<Command> write_commands();  // cmd_write.cpp: household, person, visit, aid
std::vector<Command> case_commands();   // cmd_case.cpp: cases and resolve
std::vector<Command> read_commands();   // cmd_read.cpp
std::vector<Command> admin_commands();  // cmd_admin.cpp
std::vector<Command> sync_commands();   // cmd_sync.cpp: sync, serve

// Flags most commands share.
inline constexpr FlagSpec kDirFlag{"dir", FlagSpec::Type::kValue,
                                   "DIR    the replica's directory (default $BIRGA_DIR, else "
                                   "./birga-data)"};
inline constexpr FlagSpec kScopeFlag{"scope", FlagSpec::Type::kValue,
                                     "PATH   the scope (default: the certificate's writable "
                                     "mahalla, if only one)"};
inline constexpr FlagSpec kJsonFlag{"json", FlagSpec::Type::kSwitch,
                                    "       print the result, or the error, as JSON"};

}  // namespace birga::cli
