// Fuzz target: transport::decode_beacon, a UDP datagram from anyone on the LAN. Contract
// checked: a beacon that decodes re-encodes to the same 71 bytes.
#include <cstdio>
#include <cstdlib>

#include "birga/transport/discovery.h"
#include "fuzz_entry.h"
#include "fuzz_world.h"

extern "C" int BIRGA_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace birga;
  const std::string_view in = fuzz::as_view(data, size);
  auto beacon = transport::decode_beacon(in);
  if (beacon && transport::encode_beacon(*beacon) != in) {
    std::fprintf(stderr, "decode_beacon accepted bytes that do not re-encode\n");
    std::abort();
  }
  return 0;
}
