// Framing: how Birga's messages sit on a TCP stream.
//
// Every frame is a 4-byte big-endian payload length followed by the payload. A reader refuses
// a length above kMaxFrameBytes (birga/session.h) before allocating anything, so a hostile
// length prefix cannot make a node reserve memory. There is no frame type: the order is
// fixed (hello, proof, then frames sealed by the SecureChannel), see docs/protocol.md.
//
// Thread rule: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "birga/session.h"

namespace birga::transport {

constexpr size_t kFrameHeaderBytes = 4;

// The 4-byte big-endian length prefix for a payload of `length` bytes.
// REQUIRES: length <= UINT32_MAX.
std::array<uint8_t, kFrameHeaderBytes> frame_header(size_t length);

// The payload length a header announces.
uint32_t frame_length(const std::array<uint8_t, kFrameHeaderBytes>& header);

// Header and payload in one buffer (what goes on the wire).
std::string encode_frame(std::string_view payload);

}  // namespace birga::transport
