// Frame headers and UDP beacons: encoding, decoding, and refusal of malformed input.
#include "birga/transport/frame.h"

#include <catch2/catch.hpp>

#include "birga/transport/discovery.h"

using namespace birga;
using namespace birga::transport;

TEST_CASE("Frame: the length prefix is 4 bytes big-endian", "[transport][frame]") {
  const auto h = frame_header(0x01020304);
  CHECK(h == std::array<uint8_t, 4>{1, 2, 3, 4});
  CHECK(frame_length(h) == 0x01020304u);
  CHECK(frame_length(frame_header(0)) == 0u);
  CHECK(frame_length(frame_header(kMaxFrameBytes)) == kMaxFrameBytes);
  const std::string f = encode_frame("abc");
  REQUIRE(f.size() == 7);
  CHECK(f.substr(0, 4) == std::string("\0\0\0\3", 4));
  CHECK(f.substr(4) == "abc");
}

namespace {
Beacon sample_beacon() {
  Beacon b;
  for (size_t i = 0; i < 32; ++i) {
    b.authority[i] = static_cast<uint8_t>(i);
    b.device[i] = static_cast<uint8_t>(200 - i);
  }
  b.tcp_port = 47001;
  return b;
}
}  // namespace

TEST_CASE("Beacon: round trip and exact layout", "[transport][discovery]") {
  const Beacon b = sample_beacon();
  const std::string d = encode_beacon(b);
  REQUIRE(d.size() == kBeaconBytes);
  CHECK(d.substr(0, 4) == "BRGB");
  CHECK(static_cast<uint8_t>(d[4]) == 1);
  CHECK(static_cast<uint8_t>(d[69]) == (47001 >> 8));
  CHECK(static_cast<uint8_t>(d[70]) == (47001 & 0xff));
  auto back = decode_beacon(d);
  REQUIRE(back);
  CHECK(back->authority == b.authority);
  CHECK(back->device == b.device);
  CHECK(back->tcp_port == 47001);
}

TEST_CASE("Beacon: malformed datagrams are ignored", "[transport][discovery]") {
  const std::string good = encode_beacon(sample_beacon());
  CHECK_FALSE(decode_beacon(""));
  CHECK_FALSE(decode_beacon(good.substr(0, good.size() - 1)));  // short
  CHECK_FALSE(decode_beacon(good + "x"));                       // long
  std::string bad_magic = good;
  bad_magic[0] = 'X';
  CHECK_FALSE(decode_beacon(bad_magic));
  std::string bad_version = good;
  bad_version[4] = 2;
  CHECK_FALSE(decode_beacon(bad_version));
  Beacon zero_port = sample_beacon();
  zero_port.tcp_port = 0;
  CHECK_FALSE(decode_beacon(encode_beacon(zero_port)));
}
