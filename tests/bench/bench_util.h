// Small helpers shared by the birga-bench modes: timing, memory, flags, files.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace birga::bench {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double ms() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
        .count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// Resident set size now, and its high-water mark (VmHWM), in MiB (Linux /proc/self/status).
double rss_mb();
double rss_peak_mb();
// Resets the kernel's high-water mark (writes 5 to /proc/self/clear_refs).
void reset_rss_peak();

// Total size of the regular files under `dir`, in bytes.
uint64_t dir_bytes(const std::string& dir);

// "--name value" and "--flag" arguments.
class Flags {
 public:
  Flags(int argc, char** argv);
  std::string get(const std::string& name, const std::string& fallback) const;
  uint64_t get_u64(const std::string& name, uint64_t fallback) const;
  bool has(const std::string& name) const { return values_.count(name) > 0; }

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace birga::bench
