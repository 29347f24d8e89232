// The secrets of a replica or an authority (its private keys) are kept in the kMeta entry
// "secrets", sealed under the owner's passphrase (crypto.h, seal_with_passphrase).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "birga/status.h"

namespace birga::engine {

// Seals the secrets of the store in `dir` again, under `next` in place of `current`, then
// clears from the file the stale copies of the entry sealed under the old passphrase
// (LmdbEnv::scrub_stale_bytes). The store must not be open: this opens it afresh (so that no
// buffer of this process holds an old copy) and refuses with unavailable while another process
// has it open. permission_denied when `current` does not open the secrets; invalid_argument
// when `next` is shorter than 8 bytes. `next` may be `current`: that reseals and clears again,
// which finishes a change whose clearing failed. The new blob's cost is never lower than the
// old one's. The keys do not change: what they encrypt and sign stays as it is. Returns the
// number of pages written while clearing.
Result<uint64_t> change_passphrase(const std::string& dir, std::string_view current,
                                   std::string_view next);

}  // namespace birga::engine
