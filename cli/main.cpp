// birga: the command-line tool. Finds the command named by the first words, parses the rest
// against its flags, checks its --dir, runs it, and turns its Status into a message on stderr
// (with --json also a JSON object on stdout) and an exit code.
#include <algorithm>
#include <cctype>
#include <iostream>
#include <string>
#include <vector>

#include "birga/process.h"
#include "command.h"
#include "context.h"
#include "json.h"

namespace birga::cli {

namespace {

constexpr std::string_view kExitCodes =
    "Exit codes:\n"
    "  0  ok\n"
    "  1  usage or invalid input (a bad flag, id, date, value or file)\n"
    "  2  not available in this build, or not found (no replica, unknown id)\n"
    "  3  permission: wrong passphrase, not enrolled or not entitled, another deployment\n"
    "  4  data problem: `birga verify` failed, the store is damaged; sync: this store was\n"
    "     restored from a backup or copied (re-enrol the device with a new key)\n"
    "  5  sync: the peer is unreachable\n"
    "  6  sync: the peer refused this device, or did not keep changes it wrote\n"
    "  7  sync: protocol error\n";

constexpr std::string_view kEnvironment =
    "Environment:\n"
    "  BIRGA_DIR                   the default --dir (else ./birga-data)\n"
    "  BIRGA_PASSPHRASE            the passphrase (else a prompt on the terminal)\n"
    "  BIRGA_DEVICE_PASSPHRASE     a replica's passphrase, before BIRGA_PASSPHRASE\n"
    "  BIRGA_AUTHORITY_PASSPHRASE  the authority's passphrase, before BIRGA_PASSPHRASE\n";

std::vector<Command> all_commands() {
  std::vector<Command> all;
  for (auto group : {trust_commands, write_commands, case_commands, read_commands, admin_commands,
                     sync_commands}) {
    for (Command& c : group()) all.push_back(std::move(c));
  }
  return all;
}

void print_overview(std::ostream& out, const std::vector<Command>& commands) {
  out << "birga: offline-first records for mahalla social work (Birga sync engine)\n\n"
         "Usage: birga COMMAND [ARGS] [--dir DIR] [--json]\n"
         "       birga COMMAND --help\n"
         "       birga --version\n\nCommands:\n";
  for (const Command& c : commands) {
    std::string head = "  " + std::string(c.name);
    head.resize(std::max<size_t>(head.size() + 2, 28), ' ');
    out << head << c.summary << "\n";
  }
  out << "\n" << kExitCodes << "\n" << kEnvironment;
}

// `text` wrapped at 96 columns.
std::string wrap(std::string_view text) {
  std::string out, line;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(pos, end - pos);
    if (!line.empty() && line.size() + 1 + word.size() > 96) {
      out += line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + std::string(word);
    pos = end + 1;
  }
  return out + line + "\n";
}

// "  --scope PATH:RIGHTS        a scope grant": a flag's help is "VALUE  description".
std::string flag_line(const FlagSpec& f) {
  const size_t gap = f.help.find("  ");
  std::string value(f.help.substr(0, gap));
  std::string_view text = gap == std::string_view::npos ? "" : f.help.substr(gap);
  text.remove_prefix(std::min(text.find_first_not_of(' '), text.size()));
  std::string head = "  --" + std::string(f.name) + (value.empty() ? "" : " " + value);
  head.resize(std::max<size_t>(head.size() + 2, 30), ' ');
  return head + std::string(text) + "\n";
}

void print_command_help(const Command& c) {
  std::cout << wrap("Usage: birga " + std::string(c.name) + " " + std::string(c.synopsis)) << "\n"
            << static_cast<char>(std::toupper(static_cast<unsigned char>(c.summary[0])))
            << c.summary.substr(1) << ".\n";
  if (!c.details.empty()) std::cout << "\n" << wrap(c.details);
  std::cout << "\nOptions:\n";
  for (const FlagSpec& f : c.flags) std::cout << flag_line(f);
  std::cout << flag_line({"help", FlagSpec::Type::kSwitch, "  show this help"})
            << "\nExit codes: 0 ok, 1 usage or invalid input, 2 not found or not available, "
               "3 permission,\n4 data problem (see `birga --help`).\n";
}

// The command whose name is the longest run of leading words; nullptr when none.
const Command* find_command(const std::vector<Command>& commands,
                            const std::vector<std::string>& words, size_t* used) {
  const Command* best = nullptr;
  for (const Command& c : commands) {
    std::string name;
    for (size_t n = 1; n <= words.size() && n <= 2; ++n) {
      name += (n == 1 ? "" : " ") + words[n - 1];
      if (c.name == name && (!best || n > *used)) {
        best = &c;
        *used = n;
      }
    }
  }
  return best;
}

Status unknown_command(const std::vector<Command>& commands, const std::vector<std::string>& w) {
  std::string group_members;
  for (const Command& c : commands) {
    const std::string_view name = c.name;
    if (name.size() > w[0].size() && name.substr(0, w[0].size() + 1) == w[0] + " ") {
      group_members +=
          (group_members.empty() ? "" : ", ") + std::string(name.substr(w[0].size() + 1));
    }
  }
  if (!group_members.empty()) {
    return Status::invalid_argument((w.size() > 1 ? "unknown command '" + w[0] + " " + w[1] + "'"
                                                  : "'" + w[0] + "' needs a command") +
                                    "; " + w[0] + " commands: " + group_members);
  }
  return Status::invalid_argument("unknown command '" + w[0] + "' (see `birga --help`)");
}

bool takes_flag(const Command& c, std::string_view flag) {
  return std::any_of(c.flags.begin(), c.flags.end(),
                     [&](const FlagSpec& f) { return f.name == flag; });
}

// Whether `rest` asks a command that takes --json for it. Looked for before parsing, so that
// a usage error is reported as JSON too.
bool wants_json(const Command& c, const std::vector<std::string>& rest) {
  if (!takes_flag(c, "json")) return false;
  for (const std::string& w : rest) {
    if (w == "--") break;
    if (w == "--json") return true;
  }
  return false;
}

// Set by note_json_error_printed(): the handler's own object carried the error.
bool g_json_error_printed = false;

// Says why `command` failed, on stderr; with --json also as one object on stdout,
// {"error":{"code":"...","message":"..."}}, unless the handler printed its own with the error
// in it. Returns `exit_code`.
int fail(const Command& command, const Status& s, bool json, int exit_code) {
  // Lower layers name the operation they were asked for ("serve: cannot listen on ..."):
  // said once, not "birga serve: serve: ...".
  std::string_view message = s.message();
  const std::string own = std::string(command.name) + ": ";
  if (message.substr(0, own.size()) == own) message.remove_prefix(own.size());
  std::cerr << "birga " << command.name << ": " << message << "\n";
  if (json && !g_json_error_printed) {
    JsonWriter w;
    w.begin_object();
    write_error_json(w, s.code(), message);
    std::cout << w.end_object().str() << std::endl;
  }
  return exit_code;
}

int run(std::vector<std::string> words) {
  const std::vector<Command> commands = all_commands();
  if (!words.empty() && words[0] == "--version") words[0] = "version";
  if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    print_overview(words.empty() ? std::cerr : std::cout, commands);
    return words.empty() ? kExitUsage : kExitOk;
  }
  size_t used = 0;
  const Command* command = find_command(commands, words, &used);
  if (!command) {  // no command, so no --json either: text only
    std::cerr << "birga: " << unknown_command(commands, words).message() << "\n";
    return kExitUsage;
  }
  const std::vector<std::string> rest(words.begin() + static_cast<long>(used), words.end());
  if (!command->available && std::find(rest.begin(), rest.end(), "--help") == rest.end()) {
    return fail(*command, command->run(Args()), wants_json(*command, rest), kExitNotFound);
  }
  auto args = Args::parse(rest, command->flags);
  if (!args.is_ok()) return fail(*command, args.status(), wants_json(*command, rest), kExitUsage);
  if (args->has("help")) {
    print_command_help(*command);
    return kExitOk;
  }
  // A file given as --dir is refused the same way by every command, before it acts.
  Status s = takes_flag(*command, "dir") ? check_data_dir(*args) : Status::ok();
  if (s.is_ok()) s = command->run(*args);
  std::cout.flush();
  if (s.is_ok()) return kExitOk;
  return fail(*command, s, args->has("json"),
              command->exit_code ? command->exit_code(s) : exit_code_for(s));
}

}  // namespace

void note_json_error_printed() {
  g_json_error_printed = true;
}

int exit_code_for(const Status& s) {
  switch (s.code()) {
    case Code::kOk:
      return kExitOk;
    case Code::kInvalidArgument:
    case Code::kAlreadyExists:
    case Code::kCorruptInput:
      return kExitUsage;
    case Code::kNotFound:
      return kExitNotFound;
    case Code::kPermissionDenied:
      return kExitPermission;
    case Code::kUnavailable:
      return kExitUnreachable;
    case Code::kResourceExhausted:
    case Code::kDataLoss:
    case Code::kInternal:
      return kExitData;
  }
  return kExitData;
}

}  // namespace birga::cli

int main(int argc, char** argv) {
  birga::keep_freed_heap();  // a commit's freed memory is reused, not faulted in again
  std::vector<std::string> words(argv + 1, argv + argc);
  return birga::cli::run(words);
}
