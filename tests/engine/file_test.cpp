// Whole files (birga/file.h): a write replaces the file whole; one that fails leaves what was
// there and no temporary, and its error names the file.
#include "birga/file.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "replica_fixture.h"

namespace birga {

namespace {

size_t entries(const std::string& dir) {
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(dir),
                                           std::filesystem::directory_iterator()));
}

}  // namespace

TEST_CASE("File: a write replaces the file whole, its bytes as given", "[engine][file]") {
  test::TempDir tmp;
  const std::string path = tmp.sub("changes.bgcl");
  const std::string bytes("BGCL\x01\x00\xff", 7);
  REQUIRE(write_file(path, "an older content, longer than the new one").is_ok());
  REQUIRE(write_file(path, bytes).is_ok());
  auto read = read_file(path);
  REQUIRE(read.is_ok());
  CHECK(*read == bytes);
  CHECK(entries(tmp.path()) == 1);  // no temporary left beside it
  REQUIRE(write_file(path, "").is_ok());
  CHECK(read_file(path)->empty());
}

TEST_CASE("File: a write that fails leaves what was there and names the file", "[engine][file]") {
  test::TempDir tmp;
  // A directory (not empty) stands at the path: the rename over it fails.
  const std::string taken = tmp.sub("taken");
  REQUIRE(std::filesystem::create_directory(taken));
  std::ofstream(taken + "/inside") << "kept";
  Status s = write_file(taken, "new");
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().rfind("cannot write " + taken + ": ", 0) == 0);
  CHECK(read_file(taken + "/inside").value() == "kept");
  CHECK(entries(tmp.path()) == 1);
  const std::string nowhere = tmp.sub("missing/changes.bgcl");
  s = write_file(nowhere, "new");
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find(nowhere) != std::string::npos);
  auto missing = read_file(tmp.sub("nothing"));
  CHECK(missing.status().code() == Code::kNotFound);
  CHECK(missing.status().message() ==
        "cannot read " + tmp.sub("nothing") + ": no such file or not readable");
}

}  // namespace birga
