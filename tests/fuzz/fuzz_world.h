// The shared setting of the fuzz targets: fixed keys for the pure decoders, and an enrolled
// deployment (authority, hub, tablet, spare, and a rogue device whose keys the fuzzer holds)
// for the targets that need a replica (handshake, sync session, ingest, enrolment bundle,
// authored change).
//
// The deployment is built once per process, on first use, in a fresh directory (under
// /dev/shm when it is writable, so LMDB's fsync per write costs nothing; else $TMPDIR or
// /tmp) that is removed at exit. It persists across fuzz inputs: what one input ingests, the
// next sees as a duplicate, exactly like a long-lived node. Keys are random per process, so an
// input that reaches deep into the engine (a batch of real changes) means the same thing only
// in the process that generated it (see README.md).
//
// Thread rule: single-threaded, like libFuzzer and fuzz_regression.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "birga/authority.h"
#include "birga/replica.h"
#include "birga/session.h"
#include "birga/trust.h"
#include "crypto.h"
#include "sealed_change.h"

namespace birga::fuzz {

// Scopes of the deployment: the hub holds read and relay on the district; the tablet writes in
// one mahalla of it.
inline constexpr std::string_view kDistrict = "tashkent/yunusobod";
inline constexpr std::string_view kMahalla = "tashkent/yunusobod/m0421";

// Cap'n Proto constants of the handshake (docs/protocol.md; private to handshake.cpp).
inline constexpr uint32_t kHelloMagic = 0x42524853;  // "BRHS"
inline constexpr uint16_t kHelloVersion = 1;

struct World {
  World();
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  std::string dir;
  std::unique_ptr<Authority> authority;
  PublicKey authority_key{};
  std::unique_ptr<Replica> hub;     // receives: handshake, sync, ingest, authored
  std::unique_ptr<Replica> tablet;  // the peer; author of the changes below
  std::unique_ptr<Replica> spare;   // enrolled; install_certificate() target
  std::string hub_bundle, tablet_bundle, spare_bundle;  // EnrolmentBundle::encode()
  // A device enrolled with write on kMahalla whose keys the fuzzer holds (no replica): it can
  // author validly signed, encrypted changes with any op body, as a stolen tablet could.
  engine::SigningKey rogue;
  engine::Key32 mahalla_key{};  // opened from the rogue's key envelope in the control log
  uint32_t mahalla_epoch = 0;
  Certificate hub_cert, tablet_cert;
  // The tablet's sealed changes of kMahalla (chain order) and the authority's control log.
  // The hub holds none of the tablet's changes when the world is built.
  std::vector<std::string> tablet_changes;
  std::vector<std::string> control_changes;
};

// The process's world, built on first call. A setup failure aborts with a message: it is a
// broken fixture, not a finding.
World& world();

// Fixed keys of the pure sealed-change targets: seeds sealed with them open and decode.
const engine::SigningKey& fuzz_author();
const engine::Key32& fuzz_scope_key();
// A valid header by fuzz_author() (seq 1 or, with seq > 1, a non-zero prev_hash).
engine::ChangeHeader fuzz_header(uint64_t seq = 1);
// One op of every kind, every value type (check_shape() ok; dots and times unset).
std::vector<crdt::Op> every_kind_ops();

// ---- Input framing shared by the multi-message targets ---------------------------------
//
// A message list is a sequence of (u32 little-endian length, that many bytes); a length past
// the end takes what is left, and bytes after `max` messages are ignored. Any byte string is a
// valid list, so mutations of the framing are fine.
std::vector<std::string_view> split_messages(std::string_view data, size_t max);
std::string join_messages(const std::vector<std::string>& messages);

// With BIRGA_FUZZ_VERBOSE=1 in the environment, prints what a decoder returned (to see how far
// an input gets: fuzz_regression --run NAME FILE); otherwise does nothing.
void report(const char* what, const Status& status);
template <typename T>
void report(const char* what, const Result<T>& result) {
  report(what, result.status());
}
// The same for an ingest: its counts and every refusal.
void report_ingest(const Result<IngestReport>& report);

inline std::string_view as_view(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace birga::fuzz
