// The benchmarks' record kind in Birga: the WORKLOAD.md visit (8 lww fields) in collection
// "visits", and how a VisitRecord is written in a transaction.
#pragma once

#include <optional>
#include <string>

#include "birga/replica.h"
#include "workload.h"

namespace birga::bench {

inline const std::string kVisits = "visits";
// The fields in WORKLOAD.md's canonical order.
extern const char* const kVisitFields[8];

crdt::Schema visits_schema();

// Creates the record (with `id`, or a fresh one) and sets its 8 fields; returns its id.
crdt::RecordId write_visit(Transaction& t, const std::string& scope, const VisitRecord& r,
                           const std::optional<crdt::RecordId>& id = std::nullopt);

}  // namespace birga::bench
