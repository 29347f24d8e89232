#include "birga/transport/frame.h"

namespace birga::transport {

std::array<uint8_t, kFrameHeaderBytes> frame_header(size_t length) {
  const auto n = static_cast<uint32_t>(length);
  return {static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
          static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
}

uint32_t frame_length(const std::array<uint8_t, kFrameHeaderBytes>& h) {
  return (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | uint32_t{h[3]};
}

std::string encode_frame(std::string_view payload) {
  const auto header = frame_header(payload.size());
  std::string out;
  out.reserve(kFrameHeaderBytes + payload.size());
  out.append(reinterpret_cast<const char*>(header.data()), header.size());
  out.append(payload);
  return out;
}

}  // namespace birga::transport
