// The "district" workload's expected data (WORKLOAD.md sections 6 and 8): which records each
// side touches in phase 3, the values they write, and the canonical dumps and hashes that a
// correct engine must reproduce. Computed from the generator alone, with no engine involved.
#pragma once

#include <cstdint>
#include <functional>
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

// What the workload needs beyond the CREATE stream itself. A's R records are not held: they
// are generated again from the stream when needed (for each create transaction, and for the
// expected dumps), so the data costs the process no memory while the engine is measured, as
// for the JavaScript peers that generate between transactions.
struct DistrictData {
  DistrictParams params;
  std::vector<uint8_t> statuses;  // index in kStatus of each record's phase-1 status
  std::vector<uint64_t> a_set, b_set, c_set;
  std::vector<DivergeOp> a_ops, b_ops;

  // Calls fn(i, record) for A's records first..end-1 (regenerated from stream CREATE).
  void for_each_created(uint64_t first, uint64_t end,
                        const std::function<void(uint64_t, const VisitRecord&)>& fn) const;

  // Expected dumps, line by line to `sink`: the dataset after phase 1; the final one with
  // conflicts masked as '*'; the final ones where B (or A) wins every conflict.
  using Sink = std::function<void(std::string_view line)>;
  void dataset_dump(const Sink& sink) const;
  void final_dump(char conflict_rule, const Sink& sink) const;  // 'b', 'a' or '*' (masked)
  // The same as whole strings, and as SHA-256 hex digests.
  std::string dataset_dump() const;
  std::string final_dump(char conflict_rule) const;
  std::string dataset_hash() const;
  std::string final_hash(char conflict_rule) const;
};

DistrictData generate_district(const DistrictParams& p);

// SHA-256 of `data` as 64 hex digits.
std::string sha256_hex(const std::string& data);

}  // namespace birga::bench
