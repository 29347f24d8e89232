// The CRDT convergence property lifted to real stores: replicas on disk write random
// transactions, exchange sealed changes in random orders, with duplicates and gaps (changes
// that wait for a missing predecessor), and end with identical state hashes.
//
// BIRGA_STORE_PROPTEST_RUNS sets the number of schedules (default 30); BIRGA_PROPTEST_SEED
// replays one schedule; the seed of every schedule is printed when it fails.
#include <algorithm>
#include <catch2/catch.hpp>
#include <random>

#include "replica_fixture.h"

using namespace birga;
using birga::test::env_u64;
using birga::test::make_replica;
using birga::test::TempDir;
using crdt::text;

namespace {

const std::string kScope = "fergana/quva/m0107";

// One random transaction on `r`: creates a record or edits one it can see.
void random_write(Replica& r, std::mt19937_64& rng) {
  auto cases = r.list("case");
  REQUIRE(cases.is_ok());
  Transaction t = r.begin();
  crdt::RecordId id;
  if (cases->empty() || rng() % 5 == 0) {
    id = t.create("case", kScope);
  } else {
    id = (*cases)[rng() % cases->size()].id;
  }
  const int ops = 1 + static_cast<int>(rng() % 3);
  static const char* kNames[] = {"malika", "bekzod", "aziza", "rustam"};
  for (int i = 0; i < ops; ++i) {
    const std::string name = kNames[rng() % 4];
    switch (rng() % 8) {
      case 0:
        t.set("case", id, "title", text("title-" + name));
        break;
      case 1:
        t.set("case", id, "guardian", text(name));
        break;
      case 2:
        t.add("case", id, "members", text(name));
        break;
      case 3:
        t.remove("case", id, "members", text(name));
        break;
      case 4:
        t.increment("case", id, "visits", static_cast<int64_t>(rng() % 7) - 3);
        break;
      case 5:
        t.append("case", id, "notes", text("note by " + name));
        break;
      case 6:
        t.remove_record("case", id);
        break;
      default:
        t.restore_record("case", id);
        break;
    }
  }
  REQUIRE(t.commit().is_ok());
}

// Delivers a random, shuffled, partly duplicated subset of everything `from` holds to `to`,
// in one to three ingest batches.
void random_delivery(Replica& from, Replica& to, std::mt19937_64& rng) {
  auto all = from.export_missing(kScope, crdt::VersionVector());
  REQUIRE(all.is_ok());
  std::vector<std::string> picked;
  for (const std::string& c : *all) {
    if (rng() % 3 != 0) picked.push_back(c);
    if (rng() % 6 == 0) picked.push_back(c);  // duplicate
  }
  std::shuffle(picked.begin(), picked.end(), rng);
  const size_t batches = 1 + rng() % 3;
  for (size_t b = 0; b < batches; ++b) {
    const size_t lo = picked.size() * b / batches, hi = picked.size() * (b + 1) / batches;
    auto rep = to.ingest(std::vector<std::string>(picked.begin() + lo, picked.begin() + hi));
    REQUIRE(rep.is_ok());
    REQUIRE(rep->refused.empty());
    REQUIRE(rep->quarantined == 0);
  }
}

void run_schedule(uint64_t seed) {
  std::mt19937_64 rng(seed);
  TempDir tmp;
  std::vector<std::unique_ptr<Replica>> replicas;
  const size_t n = 3 + rng() % 3;  // 3..5 replicas
  for (size_t i = 0; i < n; ++i) {
    replicas.push_back(make_replica(tmp.sub("r" + std::to_string(i)), {kScope}));
    REQUIRE(replicas.back());
  }
  const int steps = 20 + static_cast<int>(rng() % 20);
  for (int s = 0; s < steps; ++s) {
    Replica& a = *replicas[rng() % n];
    if (rng() % 3 == 0) {
      Replica& b = *replicas[rng() % n];
      if (&a != &b) random_delivery(a, b, rng);
    } else {
      random_write(a, rng);
    }
  }
  // Full exchange in a random pair order until every version vector is equal.
  for (int round = 0; round < 3; ++round) {
    std::vector<std::pair<size_t, size_t>> pairs;
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < n; ++j) {
        if (i != j) pairs.emplace_back(i, j);
      }
    }
    std::shuffle(pairs.begin(), pairs.end(), rng);
    for (auto [i, j] : pairs) {
      auto missing = replicas[i]->export_missing(kScope, *replicas[j]->version_vector(kScope));
      REQUIRE(missing.is_ok());
      std::shuffle(missing->begin(), missing->end(), rng);
      REQUIRE(replicas[j]->ingest(*missing).is_ok());
    }
  }
  const std::string expected = replicas[0]->state_hash(kScope).value();
  for (size_t i = 0; i < n; ++i) {
    INFO("replica " << i);
    CHECK(replicas[i]->version_vector(kScope).value() ==
          replicas[0]->version_vector(kScope).value());
    CHECK(replicas[i]->state_hash(kScope).value() == expected);
    CHECK(replicas[i]->verify().is_ok());
  }
}

}  // namespace

TEST_CASE("Replicas on disk: random orders, duplicates and gaps converge", "[engine][property]") {
  const uint64_t replay = env_u64("BIRGA_PROPTEST_SEED", 0);
  const uint64_t runs = replay ? 1 : env_u64("BIRGA_STORE_PROPTEST_RUNS", 30);
  const uint64_t base = replay ? replay : env_u64("BIRGA_PROPTEST_BASE_SEED", 1000);
  std::printf("store convergence: %llu schedule(s) from seed %llu\n",
              static_cast<unsigned long long>(runs), static_cast<unsigned long long>(base));
  for (uint64_t i = 0; i < runs; ++i) {
    const uint64_t seed = base + i;
    INFO("seed=" << seed << " (replay: BIRGA_PROPTEST_SEED=" << seed
                 << " engine_tests \"[property]\")");
    run_schedule(seed);
  }
}
