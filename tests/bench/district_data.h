// The "district" workload's expected data (WORKLOAD.md sections 6 and 8): which records each
// side touches in phase 3, the values they write, and the canonical dumps and hashes that a
// correct engine must reproduce. Computed from the generator alone, with no engine involved.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "workload.h"

namespace birga::bench {

struct DistrictParams {
  uint64_t records = 100000;   // R
  uint64_t pct_bp = 100;       // d in basis points (d = 1%)
  uint64_t new_records = 500;  // N_new
  uint64_t conflicts = 100;    // C
  uint64_t batch = 1000;
  uint64_t seed = 42;

  uint64_t per_side() const { return records * pct_bp / 10000; }  // n
};

// One phase-3 operation, in list order.
struct DivergeOp {
  enum Kind { kSetStatus, kSetNotes, kCreate } kind;
  uint64_t index = 0;  // record index (a<index>) or new record index (b<index>)
  std::string value;   // status or notes
  VisitRecord record;  // kCreate
};

struct DistrictData {
  DistrictParams params;
  std::vector<VisitRecord> created;  // A's R records of phase 1
  std::vector<uint64_t> a_set, b_set, c_set;
  std::vector<DivergeOp> a_ops, b_ops;

  // Expected dumps: the dataset after phase 1; the final one with conflicts masked as '*';
  // the final ones where B (or A) wins every conflict.
  std::string dataset_dump() const;
  std::string final_dump(char conflict_rule) const;  // 'b', 'a' or '*' (masked)
};

DistrictData generate_district(const DistrictParams& p);

// SHA-256 of `data` as 64 hex digits.
std::string sha256_hex(const std::string& data);

}  // namespace birga::bench
