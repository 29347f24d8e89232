// Fuzz target: the CLI's change-list file decoder (cli/change_list.h), what `birga import`
// reads from a file carried by hand.
#include "change_list.h"
#include "fuzz_entry.h"
#include "fuzz_world.h"

extern "C" int BIRGA_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  birga::fuzz::report("decode_change_list",
                      birga::cli::decode_change_list(birga::fuzz::as_view(data, size)));
  return 0;
}
