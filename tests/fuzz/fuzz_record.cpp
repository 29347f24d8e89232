// Fuzz target: crdt::Record::decode, the ByteReader decoder of a record's state (every field
// kind, the DotStore of deletes, dot sets), as a replica reads it back from its store.
// Contract checked: a decoded record re-encodes to bytes that decode to the same record.
#include <cstdio>
#include <cstdlib>

#include "birga/crdt/codec.h"
#include "birga/crdt/record.h"
#include "fuzz_entry.h"
#include "fuzz_world.h"

extern "C" int BIRGA_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace birga::crdt;
  ByteReader r(birga::fuzz::as_view(data, size), "fuzz record");
  const Record rec = Record::decode(r);
  const birga::Status finished = r.finish();
  birga::fuzz::report("Record::decode", finished);
  if (!finished.is_ok()) return 0;
  (void)rec.is_deleted();
  (void)rec.is_conflicted();
  ByteWriter w;
  rec.encode(w);
  ByteReader again(w.data(), "re-encoded record");
  const Record back = Record::decode(again);
  if (!again.finish().is_ok() || !(back == rec)) {
    std::fprintf(stderr, "a decoded record does not survive encode + decode\n");
    std::abort();
  }
  return 0;
}
