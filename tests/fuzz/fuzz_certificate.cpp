// Fuzz target: birga::Certificate::parse (a certificate in a handshake proof, a bundle or a
// control record) and parse_self_signed_claim (`birga cert show` on a file).
#include "fuzz_entry.h"
#include "fuzz_world.h"

extern "C" int BIRGA_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace birga;
  const std::string_view in = fuzz::as_view(data, size);
  auto cert = Certificate::parse(in, fuzz::world().authority_key);
  fuzz::report("Certificate::parse", cert);
  if (cert.is_ok()) {
    (void)cert->rights_on(fuzz::kMahalla);
    (void)cert->expired_at(0);
  }
  fuzz::report("parse_self_signed_claim", Certificate::parse_self_signed_claim(in));
  return 0;
}
