// Args: the command line of one `birga` command, parsed against the flags it accepts.
//
// Accepted forms: `--flag VALUE`, `--flag=VALUE`, a repeated flag (`--scope a --scope b`, only
// when the flag is declared repeatable), switches without a value (`--json`), positional
// words in order, and `--` after which every word is positional. An unknown flag, a missing
// value or a non-repeatable flag given twice is an invalid_argument naming the flag, so a
// typo never silently changes what a command does.
//
// Thread rule: plain value.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "birga/status.h"

namespace birga::cli {

struct FlagSpec {
  enum class Type { kSwitch, kValue, kRepeated };
  std::string_view name;  // without the leading "--"
  Type type = Type::kValue;
  std::string_view help;  // one line for `--help`, e.g. "TEXT  the household's address"
};

class Args {
 public:
  // Parses `words` (everything after the command's name). `--help` is always accepted.
  static Result<Args> parse(const std::vector<std::string>& words,
                            const std::vector<FlagSpec>& flags);

  bool has(std::string_view flag) const { return values_.count(std::string(flag)) > 0; }
  // The value of a value flag, if given.
  std::optional<std::string> get(std::string_view flag) const;
  // Every value of a repeated flag, in order (empty when not given).
  std::vector<std::string> all(std::string_view flag) const;
  // The value of a flag the command cannot do without: "missing --address TEXT".
  Result<std::string> require(std::string_view flag, std::string_view what) const;

  const std::vector<std::string>& positional() const { return positional_; }
  // Checks that exactly the positional words `names` ("ID", "TEXT") were given.
  Status expect_positional(const std::vector<std::string_view>& names) const;

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

}  // namespace birga::cli
