// The district workload's generator reproduces WORKLOAD.md section 9's reference values.
#include <catch2/catch.hpp>

#include "district_data.h"

using namespace birga::bench;

TEST_CASE("District workload: splitmix64 check values", "[bench][workload]") {
  SplitMix64 zero(0), fortytwo(42);
  CHECK(zero.next() == 0xe220a8397b1dcdafull);
  CHECK(zero.next() == 0x6e789e6aa1b965f4ull);
  CHECK(zero.next() == 0x06c45d188009454full);
  CHECK(fortytwo.next() == 0xbdd732262feb6e95ull);
  CHECK(fortytwo.next() == 0x28efe333b266f103ull);
  CHECK(fortytwo.next() == 0x47526757130f9f52ull);
}

TEST_CASE("District workload: R=10000 reference records and hashes", "[bench][workload]") {
  DistrictParams p;
  p.records = 10000;
  const DistrictData d = generate_district(p);
  VisitRecord r0;
  d.for_each_created(0, 1, [&](uint64_t, const VisitRecord& r) { r0 = r; });
  CHECK(d.statuses.size() == 10000);
  CHECK(r0.household_id == "bdd732262feb6e95");
  CHECK(r0.visitor_id == "w0000291");
  CHECK(r0.date == 19729);
  CHECK(r0.status == "closed");
  CHECK(r0.needs == "cash,mobility,hygiene,blankets");
  CHECK(r0.aid_amount == 81553);
  CHECK(r0.geo == "-75.11272,+134.95719");
  REQUIRE(d.a_set.size() == 100);
  CHECK(record_key('a', d.a_set[0]) == "a00000147");
  CHECK(record_key('a', d.a_set[1]) == "a00002853");
  CHECK(record_key('a', d.a_set[2]) == "a00005578");
  CHECK(d.a_ops[0].value == "closed");
  CHECK(d.a_ops[1].value == "visited");
  CHECK(d.a_ops[2].value == "closed");
  CHECK(record_key('a', d.b_set[0]) == "a00009956");
  CHECK(record_key('a', d.c_set[0]) == "a00000421");
  CHECK(d.b_ops[d.b_set.size()].record.household_id == "928fa5eb64d5b15d");

  const std::string dataset = d.dataset_dump();
  CHECK(dataset.size() == 3103364);
  CHECK(sha256_hex(dataset) == "909f322550cc54e40bb6f295b128098b0c304c458763539b09fd5dfad003ab0b");
  CHECK(sha256_hex(d.final_dump('*')) ==
        "be1e9f07dd5152b2733e8b2080d3f38c251faf1eea032e9054cf9b3e32f1600a");
  CHECK(sha256_hex(d.final_dump('b')) ==
        "a01e68c069cae1a9a4b5b7647de14c819b832398ede56d28e201f584645af59b");
  CHECK(sha256_hex(d.final_dump('a')) ==
        "ce879c72c56666c37a9cf73879900f4b133f5934658fe379bfdae8871c386f6e");
  // The streamed hashes are the hashes of the whole dumps.
  CHECK(d.dataset_hash() == sha256_hex(dataset));
  CHECK(d.final_hash('b') == sha256_hex(d.final_dump('b')));
}
