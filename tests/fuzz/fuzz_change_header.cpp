// Fuzz target: the header of a sealed change (engine::decode_header). The signature covers
// the header, so this decoder runs on bytes that verify; it is fuzzed alone to reach every
// rule. Contract checked: a header that decodes is its own canonical encoding.
#include <cstdio>
#include <cstdlib>

#include "fuzz_entry.h"
#include "fuzz_world.h"

extern "C" int BIRGA_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace birga;
  const std::string_view in = fuzz::as_view(data, size);
  auto h = engine::decode_header(in);
  fuzz::report("decode_header", h);
  if (h.is_ok() && engine::encode_header(*h) != in) {
    std::fprintf(stderr, "decode_header accepted a non-canonical header\n");
    std::abort();
  }
  return 0;
}
