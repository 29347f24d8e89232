#include "district_data.h"

#include <algorithm>
#include <numeric>
#include <set>

#include "birga/crdt/sha256.h"

namespace birga::bench {

namespace {

int status_index(const std::string& s) {
  for (int i = 0; i < 5; ++i) {
    if (s == kStatus[i]) return i;
  }
  return 0;
}

}  // namespace

DistrictData generate_district(const DistrictParams& p) {
  DistrictData d;
  d.params = p;
  SplitMix64 create = stream(p.seed, kCreate);
  d.created.reserve(p.records);
  for (uint64_t i = 0; i < p.records; ++i) d.created.push_back(make_record(create));

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
    const int st = status_index(d.created[i].status);
    d.a_ops.push_back({DivergeOp::kSetStatus, i, kStatus[(st + 1 + a_status.below(4)) % 5], {}});
  }
  for (uint64_t i : d.c_set) {
    d.a_ops.push_back(
        {DivergeOp::kSetStatus, i, kStatus[(status_index(d.created[i].status) + 1) % 5], {}});
  }
  SplitMix64 b_notes = stream(p.seed, kBNotes);
  for (uint64_t i : d.b_set) d.b_ops.push_back({DivergeOp::kSetNotes, i, make_notes(b_notes), {}});
  SplitMix64 b_new = stream(p.seed, kBNew);
  for (uint64_t j = 0; j < p.new_records; ++j) {
    d.b_ops.push_back({DivergeOp::kCreate, j, "", make_record(b_new)});
  }
  for (uint64_t i : d.c_set) {
    d.b_ops.push_back(
        {DivergeOp::kSetStatus, i, kStatus[(status_index(d.created[i].status) + 2) % 5], {}});
  }
  return d;
}

std::string DistrictData::dataset_dump() const {
  std::string out;
  for (uint64_t i = 0; i < created.size(); ++i) out += dump_line(record_key('a', i), created[i]);
  return out;
}

std::string DistrictData::final_dump(char conflict_rule) const {
  std::vector<VisitRecord> a = created;
  std::vector<VisitRecord> b_new;
  std::map<uint64_t, std::string> a_conflict, b_conflict;
  const std::set<uint64_t> conflicted(c_set.begin(), c_set.end());
  for (const DivergeOp& op : a_ops) {
    if (conflicted.count(op.index))
      a_conflict[op.index] = op.value;
    else
      a[op.index].status = op.value;
  }
  for (const DivergeOp& op : b_ops) {
    if (op.kind == DivergeOp::kSetNotes)
      a[op.index].notes = op.value;
    else if (op.kind == DivergeOp::kCreate)
      b_new.push_back(op.record);
    else
      b_conflict[op.index] = op.value;
  }
  for (uint64_t i : c_set) {
    a[i].status = conflict_rule == 'a' ? a_conflict[i] : conflict_rule == 'b' ? b_conflict[i] : "*";
  }
  std::string out;
  for (uint64_t i = 0; i < a.size(); ++i) out += dump_line(record_key('a', i), a[i]);
  for (uint64_t j = 0; j < b_new.size(); ++j) out += dump_line(record_key('b', j), b_new[j]);
  return out;
}

std::string sha256_hex(const std::string& data) {
  return crdt::Sha256::hex(crdt::Sha256::digest(data));
}

}  // namespace birga::bench
