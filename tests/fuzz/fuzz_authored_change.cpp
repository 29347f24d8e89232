// Fuzz target: hostile ops from an enrolled writer (a stolen or rogue tablet). The input is
// the op body (engine::decode_ops format) of the rogue device's next change in the mahalla;
// the target seals it with the rogue's real key and the scope's data key, chained after the
// rogue's head on the hub, and the hub ingests it. So every input passes the signature, chain
// and rights checks and reaches what no other target does: the body decrypted and decoded
// under a real author, and its ops applied to the hub's records (RecordBatch: fields of every
// kind, deletes and restores, indexes, conflicts, alerts).
#include "fuzz_entry.h"
#include "fuzz_world.h"

extern "C" int BIRGA_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace birga;
  fuzz::World& w = fuzz::world();
  const std::string scope(fuzz::kMahalla);
  auto heads = w.hub->heads(scope);
  if (!heads.is_ok()) return 0;
  engine::ChangeHeader h;
  h.author = w.rogue.public_key;
  h.scope = scope;
  h.seq = 1;
  if (auto it = heads->find(engine::actor_of(w.rogue.public_key)); it != heads->end()) {
    h.seq = it->second.seq + 1;
    h.prev_hash = it->second.hash;
  }
  h.hlc = crdt::Timestamp::make(1767225600000 + h.seq, 0);
  h.key_epoch = w.mahalla_epoch;
  h.schema_version = 1;
  auto sealed = engine::seal_change(h, fuzz::as_view(data, size), w.mahalla_key, w.rogue);
  fuzz::report("seal_change", sealed);
  if (!sealed.is_ok()) return 0;
  fuzz::report_ingest(w.hub->ingest({*sealed}));
  return 0;
}
