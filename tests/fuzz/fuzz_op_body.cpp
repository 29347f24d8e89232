// Fuzz target: engine::decode_ops, the op body inside a change (after decryption: a peer
// holding the scope key can write any body it likes under a valid signature).
#include "fuzz_entry.h"
#include "fuzz_world.h"

extern "C" int BIRGA_FUZZ_ENTRY(const uint8_t* data, size_t size) {
  using namespace birga;
  static const engine::ChangeHeader header = fuzz::fuzz_header(3);
  auto ops = engine::decode_ops(fuzz::as_view(data, size), header);
  fuzz::report("decode_ops", ops);
  if (ops.is_ok()) {
    for (const crdt::Op& op : *ops) (void)op.check_shape();
  }
  return 0;
}
