// The "district" workload's data generator (../shared/bench/WORKLOAD.md, sections 2-3):
// splitmix64 streams and the visit records they produce, byte for byte.
#pragma once

#include <cstdint>
#include <string>

namespace birga::bench {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t state) : s_(state) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t k) { return next() % k; }

 private:
  uint64_t s_;
};

enum Stream : uint64_t { kCreate = 0, kPick = 1, kAStatus = 2, kBNotes = 3, kBNew = 4 };

inline SplitMix64 stream(uint64_t seed, Stream k) {
  return SplitMix64(seed + (k << 32));
}

extern const char* const kStatus[5];

struct VisitRecord {
  std::string household_id;
  std::string visitor_id;
  int64_t date = 0;
  std::string status;
  std::string needs;
  std::string notes;
  int64_t aid_amount = 0;
  std::string geo;
};

// NOTES(g) of section 3.
std::string make_notes(SplitMix64& g);
// One record, drawing from `g` in the order section 3 gives.
VisitRecord make_record(SplitMix64& g);
// "a00000042" / "b00000007".
std::string record_key(char prefix, uint64_t i);
// The canonical dump line of section 8 (key, 8 fields, TAB separated, LF ended).
std::string dump_line(const std::string& key, const VisitRecord& r);

}  // namespace birga::bench
