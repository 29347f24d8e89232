// SHA-256 (FIPS 180-4) over bytes: the canonical hash used to compare replicas byte for byte.
// Self-contained so that birga_crdt needs no third-party library; it is a digest, not a key
// or signature primitive (those live in engine/, on libsodium).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace birga::crdt {

class Sha256 {
 public:
  Sha256();
  void update(std::string_view data);
  std::array<uint8_t, 32> finish();

  static std::array<uint8_t, 32> digest(std::string_view data);
  static std::string hex(const std::array<uint8_t, 32>& digest);

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

}  // namespace birga::crdt
