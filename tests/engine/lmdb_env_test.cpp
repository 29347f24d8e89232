// LmdbEnv (engine/src/lmdb_env.h) on a real LMDB file: what scrub_stale_bytes clears, seen in
// the bytes of data.mdb.
#include "lmdb_env.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "replica_fixture.h"

namespace birga::engine {

namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// `bytes` bytes of "<tag>-0000 <tag>-0001 ...", cut to length: text found nowhere else.
std::string pattern(const std::string& tag, size_t bytes) {
  std::string out;
  for (int i = 0; out.size() < bytes; ++i) {
    std::string n = std::to_string(i);
    out += tag + "-" + std::string(4 - std::min<size_t>(n.size(), 4), '0') + n + " ";
  }
  out.resize(bytes);
  return out;
}

}  // namespace

TEST_CASE("LmdbEnv: scrubbing clears the stale tail past a value on overflow pages",
          "[engine][store][at-rest]") {
  test::TempDir tmp;
  const std::string dir = tmp.sub("s");
  REQUIRE(std::filesystem::create_directory(dir));
  const std::string data = dir + "/data.mdb";
  // 10000 bytes take 3 overflow pages of 4 KiB; 6000 bytes take 2, so LMDB writes the shorter
  // value over the longer one in the same (dirty) pages when both are put in one transaction,
  // and writes all 3 pages at commit: the last 4000 bytes of the longer one stay past the end
  // of the value in the file.
  const std::string longer = pattern("longer-head", 6000) + pattern("stale-tail", 4000);
  const std::string shorter = pattern("shorter", 6000);
  {
    auto env = LmdbEnv::open(dir);
    REQUIRE(env.is_ok());
    REQUIRE((*env)
                ->write([&](Txn& txn) -> Status {
                  BIRGA_RETURN_IF_ERROR(txn.put(Table::kMeta, "big", longer));
                  return txn.put(Table::kMeta, "big", shorter);
                })
                .is_ok());
  }
  // What the test is about: the stale tail is in the file (else LMDB has changed, and this
  // test shows nothing).
  REQUIRE(file_bytes(data).find("stale-tail-") != std::string::npos);
  CHECK(file_bytes(data).find("longer-head-") == std::string::npos);

  auto env = LmdbEnv::open(dir);  // afresh, as scrub_stale_bytes requires
  REQUIRE(env.is_ok());
  REQUIRE((*env)->lock_exclusive().is_ok());
  auto scrubbed = (*env)->scrub_stale_bytes();
  INFO(scrubbed.status().to_string());
  REQUIRE(scrubbed.is_ok());
  CHECK(*scrubbed >= 1);
  const std::string after = file_bytes(data);
  CHECK(after.find("stale-tail-") == std::string::npos);
  CHECK(after.find(shorter) != std::string::npos);  // the value itself is untouched
  std::string read;
  REQUIRE((*env)
              ->read([&](const Txn& txn) -> Status {
                auto v = txn.get(Table::kMeta, "big");
                if (!v.is_ok()) return v.status();
                if (*v) read = std::string(**v);
                return Status::ok();
              })
              .is_ok());
  CHECK(read == shorter);
  // Scrubbed once, there is nothing left to clear.
  auto again = (*env)->scrub_stale_bytes();
  REQUIRE(again.is_ok());
  CHECK(*again == 0);
}

}  // namespace birga::engine
