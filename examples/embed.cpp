// Embedding Birga: open a replica, record a visit, sync with a hub, show what changed.
// Uses only the public API. The replica is one made by `birga init` and enrolled with
// `birga cert install` (its directory holds the schema file that `birga init` wrote).
//
//   usage: birga-embed DIR HOST:PORT        (passphrase in $BIRGA_PASSPHRASE)
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "birga/replica.h"
#include "birga/transport/client.h"
#include "birga/trust.h"

using namespace birga;

static int fail(const std::string& what, const Status& s) {
  std::fprintf(stderr, "embed: %s: %s\n", what.c_str(), s.to_string().c_str());
  return 1;
}

int main(int argc, char** argv) {
  const char* passphrase = std::getenv("BIRGA_PASSPHRASE");
  if (argc != 3 || !passphrase) {
    std::fprintf(stderr, "usage: BIRGA_PASSPHRASE=... %s DIR HOST:PORT\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1], peer = argv[2];
  const size_t colon = peer.rfind(':');
  const int port = colon == std::string::npos ? 0 : std::atoi(peer.c_str() + colon + 1);
  if (port <= 0 || port > 65535) {
    std::fprintf(stderr, "the peer must be HOST:PORT, not '%s'\n", peer.c_str());
    return 2;
  }
  std::ifstream file(dir + "/schema");
  if (!file) {
    std::fprintf(stderr, "no replica in %s: it has no schema file (run `birga init`)\n",
                 dir.c_str());
    return 1;
  }
  std::stringstream text;
  text << file.rdbuf();
  auto schema = crdt::Schema::parse(text.str());
  if (!schema.is_ok()) return fail("schema", schema.status());

  ReplicaOptions options;
  options.passphrase = passphrase;
  options.schema = *schema;
  auto replica = Replica::open(dir, options);
  if (!replica.is_ok()) return fail("open " + dir, replica.status());
  Replica& r = **replica;

  // Write where this device's certificate allows it.
  auto cert = Certificate::parse(r.certificate().value_or(""), r.authority().value_or(PublicKey{}));
  if (!cert.is_ok()) return fail("certificate", cert.status());
  std::string scope;
  for (const ScopeGrant& g : cert->scopes) {
    if (g.rights & kWrite) scope = g.path;
  }

  // One transaction: a household and a visit to it, committed durably as one signed change.
  Transaction t = r.begin();
  const crdt::RecordId household = t.create("household", scope);
  t.set("household", household, "address", crdt::text("Chilonzor 7-41"));
  const crdt::RecordId visit = t.create("visit", scope);
  t.set("visit", visit, "household", crdt::text(household.to_hex()))
      .set("visit", visit, "visit_type", crdt::text("monitoring"))
      .set("visit", visit, "date", crdt::text("2026-11-22"))
      .append("visit", visit, "notes", crdt::text("recorded by an embedding app"));
  if (Status s = t.commit(); !s.is_ok()) return fail("write", s);
  std::printf("recorded visit %s\n", visit.to_hex().c_str());

  // Sync, then list every record that changed here because of it.
  auto now = r.changed_since(0);
  if (!now.is_ok()) return fail("changes", now.status());
  const uint64_t before = now->position;
  const transport::SyncResult result =
      transport::sync_once(r, peer.substr(0, colon), static_cast<uint16_t>(port));
  if (!result.status.is_ok()) return fail("sync with " + peer, result.status);
  std::printf("synced with %s: sent %llu change(s), received %llu\n", result.peer.name.c_str(),
              (unsigned long long)result.stats.changes_sent,
              (unsigned long long)result.stats.changes_received);
  auto changed = r.changed_since(before);
  if (!changed.is_ok()) return fail("changes", changed.status());
  for (const ChangedRecords::Ref& ref : changed->records) {
    auto rec = r.get(ref.collection, ref.id);
    if (!rec.is_ok() || !*rec || ref.collection[0] == '_') continue;
    std::printf("changed: %s %s in %s%s\n", ref.collection.c_str(), ref.id.to_hex().c_str(),
                (*rec)->scope.c_str(), (*rec)->in_conflict() ? " (in conflict)" : "");
  }
  return 0;
}
