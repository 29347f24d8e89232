// The change-list file format: round trip and refusal of malformed files.
#include "birga/change_list.h"

#include <algorithm>
#include <catch2/catch.hpp>

namespace birga {

TEST_CASE("Change list: round trip", "[engine][change_list]") {
  const std::vector<std::string> changes = {"", "a", std::string(300, 'x'),
                                            std::string("\0\1\2", 3)};
  const std::string bytes = encode_change_list(changes);
  CHECK(bytes.substr(0, 5) == std::string("BGCL\x01"));
  auto decoded = decode_change_list(bytes);
  REQUIRE(decoded.is_ok());
  CHECK(*decoded == changes);
  CHECK(decode_change_list(encode_change_list({}))->empty());
}

TEST_CASE("Change list: malformed files are refused", "[engine][change_list]") {
  const std::string good = encode_change_list({"one", "two"});
  CHECK(decode_change_list("").status().code() == Code::kCorruptInput);
  CHECK(decode_change_list("BGEB\x01\x00").status().message().find("BGCL") != std::string::npos);
  CHECK(decode_change_list(std::string("BGCL\x02\x00", 6)).status().message().find("version") !=
        std::string::npos);
  for (size_t cut = 5; cut < good.size(); ++cut) {
    CHECK(!decode_change_list(good.substr(0, cut)).is_ok());
  }
  CHECK(!decode_change_list(good + "x").is_ok());  // trailing bytes
  // A forged count far beyond the bytes present, and an overlong varint.
  CHECK(!decode_change_list(std::string("BGCL\x01\xff\xff\xff\xff\x0f", 10)).is_ok());
  CHECK(!decode_change_list(std::string("BGCL\x01") + std::string(11, '\x80')).is_ok());
}

TEST_CASE("Change list: a damaged end gives the complete changes before it",
          "[engine][change_list]") {
  const std::vector<std::string> changes = {"one", "two", std::string(200, 'z')};
  const std::string good = encode_change_list(changes);
  // good: magic, version, count (1 byte), then each length (1 or 2 bytes) and its change.
  const size_t ends[] = {6 + 1 + 3, 6 + 1 + 3 + 1 + 3, good.size()};
  for (size_t cut = 6; cut < good.size(); ++cut) {
    Status damage;
    auto decoded = decode_change_list(good.substr(0, cut), &damage);
    INFO("cut at " << cut);
    REQUIRE(decoded.is_ok());
    CHECK(damage.code() == Code::kCorruptInput);
    CHECK(damage.message().find("is truncated") != std::string::npos);
    const size_t whole = static_cast<size_t>(
        std::count_if(std::begin(ends), std::end(ends), [&](size_t end) { return end <= cut; }));
    REQUIRE(decoded->size() == whole);
    CHECK(std::equal(decoded->begin(), decoded->end(), changes.begin()));
  }
  Status damage;
  auto trailing = decode_change_list(good + "xy", &damage);
  REQUIRE(trailing.is_ok());
  CHECK(*trailing == changes);
  CHECK(damage.message() == "change list: 2 unexpected bytes after the last change");
  // A sound file has no damage; a bad header is still refused whole.
  Status none;
  CHECK(decode_change_list(good, &none).is_ok());
  CHECK(none.is_ok());
  CHECK(!decode_change_list("BGEB\x01\x00", &none).is_ok());
  CHECK(!decode_change_list(std::string("BGCL\x01") + std::string(11, '\x80'), &none).is_ok());
}

}  // namespace birga
