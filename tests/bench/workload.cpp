#include "workload.h"

#include <cstdio>

namespace birga::bench {

const char* const kStatus[5] = {"scheduled", "visited", "absent", "referred", "closed"};

namespace {

const char* const kNeeds[16] = {"food",      "water",    "shelter",   "medical",
                                "hygiene",   "blankets", "cash",      "transport",
                                "childcare", "legal",    "education", "fuel",
                                "clothing",  "mobility", "nutrition", "counselling"};

const char* const kWords[64] = {
    "family",      "reported",   "water",   "shortage",    "since",   "last",       "week",
    "children",    "attend",     "school",  "irregularly", "roof",    "damaged",    "during",
    "storm",       "requested",  "follow",  "up",          "visit",   "neighbours", "help",
    "with",        "food",       "elderly", "mother",      "needs",   "medication", "refill",
    "clinic",      "far",        "away",    "transport",   "costs",   "high",       "income",
    "reduced",     "after",      "harvest", "failed",      "latrine", "shared",     "by",
    "three",       "households", "kitchen", "garden",      "started", "seeds",      "provided",
    "debt",        "to",         "shop",    "owner",       "baby",    "born",       "recently",
    "vaccination", "card",       "missing", "documents",   "lost",    "in",         "flood",
    "again"};

std::string coordinate(int64_t v, int int_digits) {
  const uint64_t a = static_cast<uint64_t>(v < 0 ? -v : v);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%c%0*llu.%05llu", v < 0 ? '-' : '+', int_digits,
                static_cast<unsigned long long>(a / 100000),
                static_cast<unsigned long long>(a % 100000));
  return buf;
}

}  // namespace

std::string make_notes(SplitMix64& g) {
  const uint64_t len = 150 + g.below(101);
  std::string text;
  while (text.size() < len) {
    const char* w = kWords[g.below(64)];
    if (!text.empty()) text.push_back(' ');
    text.append(w);
  }
  text.resize(len);
  return text;
}

VisitRecord make_record(SplitMix64& g) {
  VisitRecord r;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(g.next()));
  r.household_id = buf;
  std::snprintf(buf, sizeof buf, "w%07llu", static_cast<unsigned long long>(g.below(500)));
  r.visitor_id = buf;
  r.date = 19723 + static_cast<int64_t>(g.below(366));
  r.status = kStatus[g.below(5)];
  const uint64_t t = 3 + g.below(3);
  for (uint64_t i = 0; i < t; ++i) {
    if (i) r.needs.push_back(',');
    r.needs.append(kNeeds[g.below(16)]);
  }
  r.notes = make_notes(g);
  r.aid_amount = static_cast<int64_t>(g.below(100000));
  const int64_t lat = static_cast<int64_t>(g.below(18000001)) - 9000000;
  const int64_t lon = static_cast<int64_t>(g.below(36000001)) - 18000000;
  r.geo = coordinate(lat, 2) + "," + coordinate(lon, 3);
  return r;
}

std::string record_key(char prefix, uint64_t i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%c%08llu", prefix, static_cast<unsigned long long>(i));
  return buf;
}

std::string dump_line(const std::string& key, const VisitRecord& r) {
  std::string line = key;
  for (const std::string* s : {&r.household_id, &r.visitor_id}) line += "\t" + *s;
  line += "\t" + std::to_string(r.date) + "\t" + r.status + "\t" + r.needs + "\t" + r.notes;
  line += "\t" + std::to_string(r.aid_amount) + "\t" + r.geo + "\n";
  return line;
}

}  // namespace birga::bench
