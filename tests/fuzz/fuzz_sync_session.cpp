// Fuzz target: SyncSession::receive, the messages of a sync session after the handshake.
// Each input is a fresh session of the fuzz world's hub with the tablet as its authenticated
// peer: start(), then every message of the input (a message list, see fuzz_world.h; at most 8)
// in turn until one is refused. Batches that pass the checks are ingested into the hub.
#include "fuzz_entry.h"
#include "fuzz_world.h"

extern "C" int BIRGA_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace birga;
  fuzz::World& w = fuzz::world();
  SyncSession session(*w.hub, w.tablet_cert);
  (void)session.start();
  for (std::string_view message : fuzz::split_messages(fuzz::as_view(data, size), 8)) {
    auto replies = session.receive(message);
    fuzz::report("SyncSession::receive", replies);
    if (!replies.is_ok()) break;
  }
  for (const Status& s : session.stats().refused) fuzz::report("sync refused", s);
  (void)session.done();
  return 0;
}
