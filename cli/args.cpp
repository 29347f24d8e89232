#include "args.h"

#include <algorithm>

namespace birga::cli {

namespace {

const FlagSpec* find_flag(const std::vector<FlagSpec>& flags, std::string_view name) {
  for (const FlagSpec& f : flags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string join(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::string_view n : names) out += (out.empty() ? "" : " ") + std::string(n);
  return out;
}

}  // namespace

Result<Args> Args::parse(const std::vector<std::string>& words,
                         const std::vector<FlagSpec>& flags) {
  static const FlagSpec kHelp{"help", FlagSpec::Type::kSwitch, ""};
  Args args;
  bool only_positional = false;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (only_positional || w.size() < 3 || w.compare(0, 2, "--") != 0) {
      if (w == "--") {
        only_positional = true;
      } else {
        args.positional_.push_back(w);
      }
      continue;
    }
    const size_t eq = w.find('=');
    const std::string name = w.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const FlagSpec* spec = name == "help" ? &kHelp : find_flag(flags, name);
    if (!spec) return Status::invalid_argument("unknown option --" + name + " (see --help)");
    std::vector<std::string>& slot = args.values_[name];
    if (spec->type == FlagSpec::Type::kSwitch) {
      if (eq != std::string::npos) {
        return Status::invalid_argument("option --" + name + " takes no value");
      }
      slot.push_back("");
      continue;
    }
    if (spec->type == FlagSpec::Type::kValue && !slot.empty()) {
      return Status::invalid_argument("option --" + name + " given more than once");
    }
    if (eq != std::string::npos) {
      slot.push_back(w.substr(eq + 1));
    } else if (i + 1 < words.size()) {
      slot.push_back(words[++i]);
    } else {
      return Status::invalid_argument("option --" + name + " needs a value");
    }
  }
  return args;
}

std::optional<std::string> Args::get(std::string_view flag) const {
  auto it = values_.find(std::string(flag));
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Args::all(std::string_view flag) const {
  auto it = values_.find(std::string(flag));
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

Result<std::string> Args::require(std::string_view flag, std::string_view what) const {
  std::optional<std::string> v = get(flag);
  if (!v) {
    return Status::invalid_argument("missing --" + std::string(flag) + " " + std::string(what));
  }
  return *v;
}

Status Args::expect_positional(const std::vector<std::string_view>& names) const {
  if (positional_.size() < names.size()) {
    return Status::invalid_argument("missing " + std::string(names[positional_.size()]) +
                                    " (expected: " + join(names) + ")");
  }
  if (positional_.size() > names.size()) {
    return Status::invalid_argument("unexpected argument '" + positional_[names.size()] + "'" +
                                    (names.empty() ? "" : " (expected: " + join(names) + ")"));
  }
  return Status::ok();
}

}  // namespace birga::cli
