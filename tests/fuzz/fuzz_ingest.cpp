// Fuzz target: Replica::ingest of arbitrary "changes" on an enrolled replica (the fuzz
// world's hub). Input: one byte giving the count (byte % 3 + 1), then a message list (see
// fuzz_world.h) of that many sealed changes.
#include "fuzz_entry.h"
#include "fuzz_world.h"

extern "C" int BIRGA_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace birga;
  if (size < 1) return 0;
  const size_t count = data[0] % 3 + 1;
  std::vector<std::string> changes;
  for (std::string_view c : fuzz::split_messages(fuzz::as_view(data + 1, size - 1), count)) {
    changes.emplace_back(c);
  }
  fuzz::report_ingest(fuzz::world().hub->ingest(changes));
  return 0;
}
