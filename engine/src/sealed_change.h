// Sealed changes: the signed, encrypted unit in which one author's ops in one scope travel and
// are stored. Any node can verify, store and relay a sealed change; only holders of the
// scope's data key (for the change's key epoch) can read its ops.
//
// Life of a change:
//   author:   encode_ops(ops) -> body;  seal_change(header, body, scope key, device key) -> sealed
//   anyone:   verify_change(sealed) -> VerifiedChange (signature and structure checked)
//   readers:  open_change_body(verified, scope key) -> body;  decode_ops(body, header) -> ops
// The change id is BLAKE2b-256 of the sealed bytes (change_id()).
//
// ---- Wire format, version 1 (copied into docs/protocol.md) ---------------------------------
// All integers are little-endian. Every Cap'n Proto message below is in canonical form (one
// segment, objects in pre-order, struct sections truncated, all padding zero) preceded by the
// standard 8-byte segment table (u32 segment count - 1 = 0, u32 segment size in words); a
// reader refuses a message whose bytes differ from the canonical re-encoding of the values it
// parsed, so every byte of a sealed change is either checked or covered by the signature.
//
// Sealed change (schema SealedChange in change.capnp), H = header length, C = ciphertext length,
// pad(n) = n rounded up to a multiple of 8, w(n) = pad(n) / 8:
//   offset            size   content
//   0                 4      0x00000000 (segment count - 1)
//   4                 4      segment size in words = 5 + w(H) + w(C) + 8
//   8                 8      root struct pointer: 00 00 00 00 01 00 03 00 (1 data word, 3 ptrs)
//   16                4      magic 0x42524743 ("BRGC" as a big-endian number; bytes 43 47 52 42)
//   20                2      version = 1
//   22                2      zero
//   24                8      list pointer to header:     offset 2 words, byte list of H
//   32                8      list pointer to ciphertext: offset 1 + w(H), byte list of C
//   40                8      list pointer to signature:  offset w(H) + w(C), byte list of 64
//                            (list pointer: u32 (offset << 2 | 1), u32 (count << 3 | 2))
//   48                pad(H) header bytes, zero padded
//   48+pad(H)         pad(C) ciphertext, zero padded
//   48+pad(H)+pad(C)  64     Ed25519 signature (detached, by header.author) over
//                            "birga-change-v1" (15 ASCII bytes) || u32 H || header || ciphertext
//
// Header (schema ChangeHeader, H bytes, a message of its own: segment table, root pointer
// (offset 0, D data words, 3 pointers), the data section, then the author, scope and prevHash
// lists). Data section by byte: 0-1 formatVersion (=1), 2 compression (0 none, 1 zstd),
// 3 zero, 4-7 keyEpoch, 8-15 seq, 16-23 hlc (packed crdt::Timestamp), 24-27 bodyLength,
// 28-31 schemaVersion; canonical form drops trailing all-zero words, so 2 <= D <= 4.
// Pointers: author (32-byte Ed25519 public key), scope (Text, 1..255 bytes + NUL), prevHash
// (32 bytes). Rules: seq in [1, 2^44); prevHash is 32 zero bytes exactly when seq = 1 (else
// the change id of the author's previous change in this scope). A header carrying fields this
// version does not know re-encodes differently and is refused: new fields need formatVersion 2.
//
// Ciphertext: 24-byte random nonce || XChaCha20-Poly1305-IETF(key = the scope data key of
// keyEpoch, associated data = the H header bytes, plaintext = the body, zstd-compressed
// (level 3, one frame with its content size) when compression = 1) || 16-byte tag.
// With compression = 0, C = bodyLength + 40; with compression = 1, C - 40 < bodyLength.
//
// Body (schema OpBody): a canonical Cap'n Proto message holding the ops (at most 2^20 - 1) in
// columns: tables of the distinct collection names, field names, record ids and observed-dot
// actors (first-use order); per op its kind, table indexes and value type; the integer and
// text values grouped by field (all of field 0's in op order, then field 1's, ...); the
// observed dots as (op index, actor index, counter) in op order; the counter totals. Op i
// (0-based, its position in the columns) gets dot (actor_of(author), (seq << 20) | (i + 1))
// and time hlc: neither is carried. Byte layout and reader checks: docs/protocol.md section 8.
//
// Limits: sealed change <= 16 MiB, header <= 4 KiB, bodyLength <= 64 MiB (ChangeLimits).
// ---------------------------------------------------------------------------------------------
//
// Errors: hostile bytes give Status::corrupt_input naming the failed check ("bad magic",
// "change signature invalid", ...); a caller's bad argument gives invalid_argument.
// Thread rule: pure functions over values; safe from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "birga/crdt/dot.h"
#include "birga/crdt/hlc.h"
#include "birga/crdt/op.h"
#include "birga/status.h"
#include "crypto.h"

namespace birga::engine {

constexpr uint32_t kSealedChangeMagic = 0x42524743;  // "BRGC"
constexpr uint16_t kSealedChangeVersion = 1;
constexpr uint16_t kChangeFormatVersion = 1;
constexpr uint8_t kCompressionNone = 0;
constexpr uint8_t kCompressionZstd = 1;
constexpr size_t kMaxOpsPerChange = (size_t{1} << 20) - 1;
constexpr uint64_t kMaxChangeSeq = (uint64_t{1} << 44) - 1;  // seq << 20 must fit 64 bits
constexpr size_t kMaxScopeBytes = 255;  // the store keys scopes with one length byte
constexpr size_t kMaxHeaderBytes = 4096;
inline constexpr char kChangeSignatureDomain[] = "birga-change-v1";  // signed without its NUL

struct ChangeLimits {
  // A sealed change must fit in one sync frame (birga::kMaxFrameBytes, 4 MiB) with its batch
  // message around it: a transaction larger than this is refused and must be split.
  size_t max_sealed_bytes = size_t{3} << 20;  // 3 MiB
  size_t max_body_bytes = size_t{64} << 20;   // 64 MiB, plaintext before compression
};

struct ChangeHeader {
  uint16_t format_version = kChangeFormatVersion;
  std::array<uint8_t, 32> author{};  // Ed25519 public key of the authoring device
  std::string scope;
  uint64_t seq = 0;                     // 1-based, contiguous per (author, scope)
  std::array<uint8_t, 32> prev_hash{};  // zero for seq 1
  crdt::Timestamp hlc;
  uint32_t key_epoch = 0;
  uint32_t body_length = 0;  // set by seal_change
  uint8_t compression = 0;   // set by seal_change
  uint32_t schema_version = 0;

  friend bool operator==(const ChangeHeader&, const ChangeHeader&) = default;
};

using ChangeId = std::array<uint8_t, 32>;

// The CRDT actor of a device: the first 16 bytes of its Ed25519 public key.
crdt::ActorId actor_of(const std::array<uint8_t, 32>& public_key);

// BLAKE2b-256 of the sealed bytes.
ChangeId change_id(std::string_view sealed);

// The dot of op `index` (0-based) of change `seq` by `author`: (seq << 20) | (index + 1).
crdt::Dot op_dot(const crdt::ActorId& author, uint64_t seq, size_t index);

// ---- Op bodies ---------------------------------------------------------------------------

// The canonical body message for `ops`, in their order. The ops' dot and time are ignored
// (they are derived on decode). invalid_argument when there are more than kMaxOpsPerChange
// ops, an op fails crdt::Op::check_shape(), or the text values exceed 2^29 - 1 bytes in all.
Result<std::string> encode_ops(const std::vector<const crdt::Op*>& ops);
Result<std::string> encode_ops(const std::vector<crdt::Op>& ops);
// Pointers to `ops`, in their order (the form encode_ops and RecordBatch::apply_ops take),
// const when `ops` is.
template <typename Ops>  // std::vector<crdt::Op>, const or not
auto op_refs(Ops& ops) {
  std::vector<decltype(&ops.front())> refs;
  refs.reserve(ops.size());
  for (auto& op : ops) refs.push_back(&op);
  return refs;
}
// Decodes a body, giving each op its derived dot and time from `h`, in the order they were
// encoded. corrupt_input ("op body: ..." or "op <i>: ...") when the message is malformed or
// over its limits, a column's length disagrees with the op count or value counts, an index is
// out of its table, an id table is not whole 16-byte ids, the text lengths do not add up, an
// op has an unknown kind or value type, or an op fails check_shape(). Every check runs before
// any op is built.
Result<std::vector<crdt::Op>> decode_ops(std::string_view body, const ChangeHeader& h);

// ---- Headers -----------------------------------------------------------------------------

// The canonical header message (the bytes that are signed and used as associated data).
std::string encode_header(const ChangeHeader& h);
// Parses header bytes: corrupt_input unless they are the canonical encoding of a header that
// follows the rules above (lengths, seq range, prevHash/seq, compression, limits).
Result<ChangeHeader> decode_header(std::string_view header_bytes, const ChangeLimits& limits = {});

// ---- Sealing and verifying ---------------------------------------------------------------

// Compresses (zstd level 3, kept only when smaller), encrypts under `scope_key`, signs with
// `author_key` and serializes. Sets h.body_length and h.compression. invalid_argument when
// author_key is not h.author's key, the header breaks a rule or the result exceeds `limits`.
Result<std::string> seal_change(ChangeHeader h, std::string_view op_body, const Key32& scope_key,
                                const SigningKey& author_key, const ChangeLimits& limits = {});

struct OpenedHeader {
  ChangeHeader header;
  std::string header_bytes;  // exactly as signed
};

// A change whose structure and signature have been checked. Owns copies of its parts.
struct VerifiedChange {
  ChangeHeader header;
  std::string header_bytes;  // associated data of the body
  std::string ciphertext;    // nonce || ciphertext || tag
  ChangeId id{};             // change_id() of the sealed bytes
};

// Parses `sealed` and checks everything that can be checked without the scope key: size
// limits, canonical form, magic, version, header rules, ciphertext length against the header,
// the Ed25519 signature by header.author. corrupt_input naming the failed check otherwise.
Result<VerifiedChange> verify_change(std::string_view sealed, const ChangeLimits& limits = {});

// Parses `sealed` and its header with the same structural checks but WITHOUT checking the
// signature: only for bytes verified before (read back from our own store).
Result<OpenedHeader> read_header(std::string_view sealed, const ChangeLimits& limits = {});

// Decrypts and decompresses the body. corrupt_input when authentication fails (wrong key for
// header.key_epoch, or tampering) or the decompressed size is not header.body_length or is
// over limits.max_body_bytes.
Result<std::string> open_change_body(const VerifiedChange& change, const Key32& scope_key,
                                     const ChangeLimits& limits = {});

}  // namespace birga::engine
