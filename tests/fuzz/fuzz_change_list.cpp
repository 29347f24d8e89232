// Fuzz target: the change-list file decoder (birga/change_list.h), what `birga import` and
// birga_replica_import_changes read from a file carried by hand.
#include "birga/change_list.h"
#include "fuzz_entry.h"
#include "fuzz_world.h"

extern "C" int BIRGA_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  birga::fuzz::report("decode_change_list",
                      birga::decode_change_list(birga::fuzz::as_view(data, size)));
  return 0;
}
