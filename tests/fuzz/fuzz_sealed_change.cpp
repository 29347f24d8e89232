// Fuzz target: a sealed change as it arrives from a peer or a file (engine/src/sealed_change.h).
// Every input goes through verify_change() and read_header(); one that verifies (a seed,
// sealed with the fixed fuzz keys) is opened and its body decoded, as ingest does.
#include "fuzz_entry.h"
#include "fuzz_world.h"

extern "C" int BIRGA_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace birga;
  const std::string_view in = fuzz::as_view(data, size);
  fuzz::report("read_header", engine::read_header(in));
  (void)engine::change_id(in);
  auto verified = engine::verify_change(in);
  fuzz::report("verify_change", verified);
  if (verified.is_ok()) {
    auto body = engine::open_change_body(*verified, fuzz::fuzz_scope_key());
    fuzz::report("open_change_body", body);
    if (body.is_ok()) fuzz::report("decode_ops", engine::decode_ops(*body, verified->header));
  }
  return 0;
}
