// Runs the real `birga` binary (its path comes from the build: BIRGA_CLI_PATH) in a fresh
// temporary directory, with BIRGA_PASSPHRASE and BIRGA_FAST_KDF=1 (cheap Argon2id: tests
// only) set, stdin from /dev/null, and stdout/stderr captured.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "mini_json.h"

namespace birga::test {

inline constexpr const char* kMahalla = "tashkent/yunusobod/m0421";
inline constexpr const char* kPassphrase = "test passphrase";

// In a run's EnvChanges: not a variable but the user id to run the command as (only a test
// run as root can; exec fails with 122 when that user cannot reach the binary).
inline const std::string kRunAsUid = "@uid";

struct RunResult {
  int code = -1;
  std::string out, err;
  // stdout without its trailing newline.
  std::string line() const {
    std::string s = out;
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
  }
};

// Environment changes for one run: a value sets the variable, nullopt unsets it.
using EnvChanges = std::map<std::string, std::optional<std::string>>;

class Cli {
 public:
  Cli() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "birga-cli-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
  }
  ~Cli() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Cli(const Cli&) = delete;
  Cli& operator=(const Cli&) = delete;

  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  RunResult run(const std::vector<std::string>& args, const EnvChanges& env = {}) const {
    const std::string out_path = path(".stdout"), err_path = path(".stderr");
    const pid_t pid = fork();
    if (pid == 0) exec_child(args, env, out_path, err_path);
    RunResult r;
    int status = 0;
    waitpid(pid, &status, 0);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = slurp(out_path);
    r.err = slurp(err_path);
    return r;
  }

  // Runs a command that must succeed; returns its stdout's line.
  std::string ok(const std::vector<std::string>& args, const EnvChanges& env = {}) const {
    RunResult r = run(args, env);
    INFO("birga " << join(args) << "\nstderr: " << r.err);
    REQUIRE(r.code == 0);
    return r.line();
  }

  // Runs a command with --json that must succeed; returns the parsed output.
  Json json(std::vector<std::string> args, const EnvChanges& env = {}) const {
    args.push_back("--json");
    const std::string text = ok(args, env);
    INFO("output: " << text);
    return Json::parse(text);
  }

  // An authority in ADIR "auth" and a replica "a" enrolled on kMahalla (rw).
  void deploy() {
    ok({"authority", "init", "--dir", "auth"});
    add_device("a", "Dilnoza");
  }
  void add_device(const std::string& dir, const std::string& name) const {
    ok({"init", "--dir", dir});
    ok({"enrol", "--dir", "auth", "--device", dir, "--name", name, "--role", "field", "--scope",
        std::string(kMahalla) + ":rw"});
  }

  // Every command `birga --help` lists, as the words of its name ("household", "add"), in
  // the order listed.
  std::vector<std::vector<std::string>> commands() const {
    std::vector<std::vector<std::string>> out;
    std::istringstream overview(run({"--help"}).out);
    bool in_list = false;
    for (std::string line; std::getline(overview, line);) {
      if (line == "Commands:") in_list = true;
      if (line.empty()) in_list = false;  // the list ends at the first blank line
      if (!in_list || line.rfind("  ", 0) != 0) continue;
      // "  household add             record a household": the name ends at the padding.
      std::istringstream words(line.substr(2, line.find("  ", 2) - 2));
      out.emplace_back();
      for (std::string w; words >> w;) out.back().push_back(w);
    }
    return out;
  }

  static std::string join(const std::vector<std::string>& args) {
    std::string s;
    for (const std::string& a : args) s += (s.empty() ? "" : " ") + a;
    return s;
  }

  static std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream buf;
    buf << in.rdbuf();
    return buf.str();
  }

 private:
  [[noreturn]] void exec_child(const std::vector<std::string>& args, const EnvChanges& env,
                               const std::string& out_path, const std::string& err_path) const {
    if (chdir(dir_.c_str()) != 0) _exit(120);
    setenv("BIRGA_PASSPHRASE", kPassphrase, 1);
    setenv("BIRGA_FAST_KDF", "1", 1);
    for (const char* v : {"BIRGA_DIR", "BIRGA_DEVICE_PASSPHRASE", "BIRGA_AUTHORITY_PASSPHRASE"}) {
      unsetenv(v);
    }
    std::optional<uid_t> run_as;
    for (const auto& [name, value] : env) {
      if (name == kRunAsUid) {  // not a variable: the user to run as (a test run as root)
        if (value) run_as = static_cast<uid_t>(std::stoul(*value));
        continue;
      }
      if (value) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
    const int in = open("/dev/null", O_RDONLY);
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0) _exit(121);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    if (run_as) {
      if (setgroups(0, nullptr) != 0 || setgid(*run_as) != 0 || setuid(*run_as) != 0) _exit(123);
    }
    std::vector<char*> argv;
    std::string bin = BIRGA_CLI_PATH;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(122);
  }

  std::string dir_;
};

}  // namespace birga::test
