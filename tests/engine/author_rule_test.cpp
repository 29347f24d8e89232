// The rule a change's author is judged by (Replica::Impl::judge_author): the certificate in
// force when the change was made, its expiry, and the revocation time.
#include <catch2/catch.hpp>

#include "replica_impl.h"

namespace birga {
namespace {

// A certificate as judge_author reads it (signatures are checked where certificates are read).
Certificate cert(uint64_t serial, uint64_t issued_ms, const std::string& scope,
                 uint64_t expires_ms = 0) {
  Certificate c;
  c.name = "tablet-7";
  c.serial = serial;
  c.issued_ms = issued_ms;
  c.expires_ms = expires_ms;
  c.scopes = {{scope, kRead | kWrite}};
  return c;
}

// The serial of the certificate a change of `scope` made at `ms` is accepted under, or the
// reason it is refused.
std::string judge(const std::vector<Certificate>& certs, const std::string& scope, uint64_t ms,
                  std::optional<uint64_t> revoked_ms = std::nullopt) {
  engine::ChangeHeader h;
  h.scope = scope;
  h.seq = 1;
  h.hlc = crdt::Timestamp::make(ms, 0);
  auto under = Replica::Impl::judge_author(h, certs, revoked_ms, "the change");
  if (!under.is_ok()) return under.status().message();
  return "serial " + std::to_string((*under)->serial);
}

TEST_CASE("Author rule: a change is judged by the certificate in force when it was made",
          "[trust]") {
  CHECK_THAT(judge({}, "m/a", 100), Catch::Contains("unknown author"));

  // Enrolled in mahalla a at 100, moved to mahalla b at 200.
  const std::vector<Certificate> moved = {cert(3, 100, "m/a"), cert(9, 200, "m/b")};
  CHECK(judge(moved, "m/a", 150) == "serial 3");  // made before the move: kept
  CHECK(judge(moved, "m/a", 200) ==
        "the change: 'tablet-7' has no write right on this scope (certificate serial 9, in force "
        "when the change was made)");
  CHECK_THAT(judge(moved, "m/a", 250), Catch::Contains("certificate serial 9"));
  CHECK(judge(moved, "m/b", 250) == "serial 9");
  // A clock behind the authority's: written under the new certificate, which it held.
  CHECK(judge(moved, "m/b", 150) == "serial 9");
  CHECK_THAT(judge(moved, "m/c", 150), Catch::Contains("certificate serial 3"));
  // Before any certificate was issued (a clock behind): any of them may have been held.
  CHECK(judge(moved, "m/a", 50) == "serial 3");
  CHECK(judge(moved, "m/b", 50) == "serial 9");
  CHECK_THAT(judge(moved, "m/c", 50), Catch::Contains("certificate serial 9"));
}

TEST_CASE("Author rule: a later serial replaces the earlier ones whatever the issue times",
          "[trust]") {
  // The authority's clock went back between the two: serial 9 carries the earlier time.
  const std::vector<Certificate> stepped = {cert(3, 1000, "m/a"), cert(9, 900, "m/b")};
  CHECK_THAT(judge(stepped, "m/a", 5000), Catch::Contains("certificate serial 9"));
  CHECK_THAT(judge(stepped, "m/a", 950), Catch::Contains("certificate serial 9"));
  CHECK(judge(stepped, "m/b", 5000) == "serial 9");
  // Before either was issued: a clock behind, either may have been held.
  CHECK(judge(stepped, "m/a", 800) == "serial 3");
}

TEST_CASE("Author rule: expiry and renewal", "[trust]") {
  const std::vector<Certificate> first = {cert(1, 100, "m/a", 300)};
  CHECK(judge(first, "m/a", 299) == "serial 1");
  CHECK_THAT(judge(first, "m/a", 300), Catch::Contains("had expired when this change was made"));
  // Renewed before it expired: the new one is in force from its issue.
  const std::vector<Certificate> renewed = {cert(1, 100, "m/a", 300), cert(2, 290, "m/a", 1000)};
  CHECK(judge(renewed, "m/a", 350) == "serial 2");
  CHECK(judge(renewed, "m/a", 200) == "serial 1");
  CHECK_THAT(judge(renewed, "m/a", 1000), Catch::Contains("had expired"));
  // A grant narrowed before the first expired: the old one no longer counts from the new issue.
  const std::vector<Certificate> narrowed = {cert(1, 100, "m/a", 300), cert(2, 250, "m/b", 1000)};
  CHECK(judge(narrowed, "m/a", 240) == "serial 1");
  CHECK_THAT(judge(narrowed, "m/a", 260), Catch::Contains("no write right"));
}

TEST_CASE("Author rule: a change made at or after the revocation is refused", "[trust]") {
  const std::vector<Certificate> certs = {cert(1, 100, "m/a")};
  CHECK(judge(certs, "m/a", 399, 400) == "serial 1");
  CHECK(judge(certs, "m/a", 400, 400) ==
        "the change: 'tablet-7' was revoked before this change was made");
  // The certificate it had no right under says so first.
  CHECK_THAT(judge(certs, "m/b", 500, 400), Catch::Contains("no write right"));
}

}  // namespace
}  // namespace birga
