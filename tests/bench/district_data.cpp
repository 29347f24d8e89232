#include "district_data.h"

#include <algorithm>
#include <numeric>

#include "birga/crdt/sha256.h"

namespace birga::bench {

namespace {

uint8_t status_index(const std::string& s) {
  for (uint8_t i = 0; i < 5; ++i) {
    if (s == kStatus[i]) return i;
  }
  return 0;
}

}  // namespace

DistrictData generate_district(const DistrictParams& p) {
  DistrictData d;
  d.params = p;
  d.statuses.reserve(p.records);
  d.for_each_created(0, p.records, [&](uint64_t, const VisitRecord& r) {
    d.statuses.push_back(status_index(r.status));
  });

  const uint64_t n = p.per_side(), m = 2 * n + p.conflicts;
  SplitMix64 pick = stream(p.seed, kPick);
  std::vector<uint64_t> perm(p.records);
  std::iota(perm.begin(), perm.end(), 0);
  for (uint64_t j = 0; j < m && j < p.records; ++j) {
    const uint64_t r = j + pick.below(p.records - j);
    std::swap(perm[j], perm[r]);
  }
  d.a_set.assign(perm.begin(), perm.begin() + n);
  d.b_set.assign(perm.begin() + n, perm.begin() + 2 * n);
  d.c_set.assign(perm.begin() + 2 * n, perm.begin() + m);

  SplitMix64 a_status = stream(p.seed, kAStatus);
  for (uint64_t i : d.a_set) {
    const int st = d.statuses[i];
    d.a_ops.push_back({DivergeOp::kSetStatus, i, kStatus[(st + 1 + a_status.below(4)) % 5], {}});
  }
  for (uint64_t i : d.c_set) {
    d.a_ops.push_back({DivergeOp::kSetStatus, i, kStatus[(d.statuses[i] + 1) % 5], {}});
  }
  SplitMix64 b_notes = stream(p.seed, kBNotes);
  for (uint64_t i : d.b_set) d.b_ops.push_back({DivergeOp::kSetNotes, i, make_notes(b_notes), {}});
  SplitMix64 b_new = stream(p.seed, kBNew);
  for (uint64_t j = 0; j < p.new_records; ++j) {
    d.b_ops.push_back({DivergeOp::kCreate, j, "", make_record(b_new)});
  }
  for (uint64_t i : d.c_set) {
    d.b_ops.push_back({DivergeOp::kSetStatus, i, kStatus[(d.statuses[i] + 2) % 5], {}});
  }
  return d;
}

void DistrictData::for_each_created(
    uint64_t first, uint64_t end,
    const std::function<void(uint64_t, const VisitRecord&)>& fn) const {
  // Stream CREATE is sequential: records before `first` are drawn and dropped.
  SplitMix64 create = stream(params.seed, kCreate);
  for (uint64_t i = 0; i < end; ++i) {
    const VisitRecord r = make_record(create);
    if (i >= first) fn(i, r);
  }
}

void DistrictData::dataset_dump(const Sink& sink) const {
  for_each_created(0, params.records, [&](uint64_t i, const VisitRecord& r) {
    sink(dump_line(record_key('a', i), r));
  });
}

void DistrictData::final_dump(char conflict_rule, const Sink& sink) const {
  std::map<uint64_t, std::string> a_status, b_notes, a_conflict, b_conflict;
  std::vector<const VisitRecord*> b_new;
  const size_t na = a_set.size();
  for (size_t k = 0; k < a_ops.size(); ++k) {
    (k < na ? a_status : a_conflict)[a_ops[k].index] = a_ops[k].value;
  }
  for (const DivergeOp& op : b_ops) {
    if (op.kind == DivergeOp::kSetNotes)
      b_notes[op.index] = op.value;
    else if (op.kind == DivergeOp::kCreate)
      b_new.push_back(&op.record);
    else
      b_conflict[op.index] = op.value;
  }
  for_each_created(0, params.records, [&](uint64_t i, const VisitRecord& created) {
    VisitRecord r = created;
    if (auto it = a_status.find(i); it != a_status.end()) r.status = it->second;
    if (auto it = b_notes.find(i); it != b_notes.end()) r.notes = it->second;
    if (a_conflict.count(i)) {
      r.status = conflict_rule == 'a' ? a_conflict[i] : conflict_rule == 'b' ? b_conflict[i] : "*";
    }
    sink(dump_line(record_key('a', i), r));
  });
  for (size_t j = 0; j < b_new.size(); ++j) sink(dump_line(record_key('b', j), *b_new[j]));
}

namespace {
std::string collect(const std::function<void(const DistrictData::Sink&)>& dump) {
  std::string out;
  dump([&](std::string_view line) { out += line; });
  return out;
}
std::string hash_of(const std::function<void(const DistrictData::Sink&)>& dump) {
  crdt::Sha256 h;
  dump([&](std::string_view line) { h.update(line); });
  return crdt::Sha256::hex(h.finish());
}
}  // namespace

std::string DistrictData::dataset_dump() const {
  return collect([&](const Sink& s) { dataset_dump(s); });
}
std::string DistrictData::final_dump(char rule) const {
  return collect([&](const Sink& s) { final_dump(rule, s); });
}
std::string DistrictData::dataset_hash() const {
  return hash_of([&](const Sink& s) { dataset_dump(s); });
}
std::string DistrictData::final_hash(char rule) const {
  return hash_of([&](const Sink& s) { final_dump(rule, s); });
}

std::string sha256_hex(const std::string& data) {
  return crdt::Sha256::hex(crdt::Sha256::digest(data));
}

}  // namespace birga::bench
