// Fuzz target: crdt::Schema::parse, the schema text a replica reads from its directory.
#include "birga/crdt/schema.h"
#include "fuzz_entry.h"
#include "fuzz_world.h"

extern "C" int BIRGA_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  birga::fuzz::report("Schema::parse",
                      birga::crdt::Schema::parse(birga::fuzz::as_view(data, size)));
  return 0;
}
