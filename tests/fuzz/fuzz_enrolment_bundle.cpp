// Fuzz target: birga::EnrolmentBundle::decode, and Replica::install_certificate (which decodes
// the bundle, checks its certificate, opens its control keys and ingests its control changes)
// on an enrolled replica of the fuzz world.
#include "fuzz_entry.h"
#include "fuzz_world.h"

extern "C" int BIRGA_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace birga;
  const std::string_view in = fuzz::as_view(data, size);
  fuzz::report("EnrolmentBundle::decode", EnrolmentBundle::decode(in));
  fuzz::report("install_certificate", fuzz::world().spare->install_certificate(in));
  return 0;
}
