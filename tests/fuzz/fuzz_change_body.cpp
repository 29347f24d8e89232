// Fuzz target: engine::open_change_body past its authentication, i.e. the zstd decompression
// and length checks of a change body. The input is
//   u8 compression || u32 LE body_length || payload
// and the target seals the payload itself (fixed fuzz key, the header as associated data), so
// every payload reaches the decompressor; a body that opens is decoded (decode_ops). The body
// limit is 1 MiB instead of 64 MiB to keep each input fast (the same checks run).
#include "fuzz_entry.h"
#include "fuzz_world.h"

extern "C" int BIRGA_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace birga;
  if (size < 5) return 0;
  engine::VerifiedChange change;
  change.header = fuzz::fuzz_header(1);
  change.header.compression = data[0];
  change.header.body_length = static_cast<uint32_t>(data[1]) | static_cast<uint32_t>(data[2]) << 8 |
                              static_cast<uint32_t>(data[3]) << 16 |
                              static_cast<uint32_t>(data[4]) << 24;
  change.header_bytes = engine::encode_header(change.header);
  change.ciphertext = engine::aead_seal(fuzz::fuzz_scope_key(), fuzz::as_view(data + 5, size - 5),
                                        change.header_bytes);
  engine::ChangeLimits limits;
  limits.max_body_bytes = size_t{1} << 20;
  auto body = engine::open_change_body(change, fuzz::fuzz_scope_key(), limits);
  fuzz::report("open_change_body", body);
  if (body.is_ok()) fuzz::report("decode_ops", engine::decode_ops(*body, change.header));
  return 0;
}
