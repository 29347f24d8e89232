#include "bench_util.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace birga::bench {
namespace {

double status_field_mb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      std::istringstream s(line.substr(std::string(field).size()));
      double kb = 0;
      s >> kb;
      return kb / 1024.0;
    }
  }
  return 0;
}

}  // namespace

double rss_mb() {
  return status_field_mb("VmRSS:");
}
double rss_peak_mb() {
  return status_field_mb("VmHWM:");
}

void reset_rss_peak() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
}

uint64_t dir_bytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

Flags::Flags(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) continue;
    a = a.substr(2);
    if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
      values_[a] = argv[++i];
    } else {
      values_[a] = "";
    }
  }
}

std::string Flags::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

uint64_t Flags::get_u64(const std::string& name, uint64_t fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : std::stoull(it->second);
}

}  // namespace birga::bench
