// The change-list file: a list of sealed changes carried between machines by hand (the
// authority's control log, a revocation, a scope's changes for another replica).
//
//   "BGCL" || u8 version (1) || varint count || (varint length || sealed change bytes)*
//
// Varints are unsigned LEB128 (7 bits a byte, low first, at most 10 bytes). The decoder
// refuses a wrong magic or version, a count or length larger than the bytes that follow,
// an overlong varint and trailing bytes. Given `damage`, a file whose header is sound but
// whose end is cut short or followed by stray bytes (a copy pulled out half-way) gives the
// complete changes before the damage, and `*damage` says what was wrong; without it, that is
// an error too. What the changes say is checked by Replica::ingest, not here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "birga/status.h"

namespace birga {

inline constexpr std::string_view kChangeListMagic = "BGCL";
inline constexpr uint8_t kChangeListVersion = 1;

std::string encode_change_list(const std::vector<std::string>& changes);
Result<std::vector<std::string>> decode_change_list(std::string_view bytes,
                                                    Status* damage = nullptr);

}  // namespace birga
