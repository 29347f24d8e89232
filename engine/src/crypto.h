// Crypto: thin wrappers over libsodium, the only place in Birga that calls it directly.
//
// What is here and what it is for:
//   - random_bytes, blake2b_256[_keyed]: ids, change ids (BLAKE2b-256 of sealed bytes), index keys;
//   - Ed25519 (SigningKey, verify_signature): device identities, change and certificate signatures;
//   - XChaCha20-Poly1305-IETF (aead_seal/aead_open): change bodies, records at rest;
//   - Argon2id (seal_with_passphrase/open_with_passphrase): the device key file;
//   - X25519 sealed boxes (box_seal/box_seal_open): scope data keys sealed to a device.
//
// Secrets live in SecretBytes, which wipes its memory when destroyed or moved from. Public
// values (keys, hashes, ciphertexts) are plain std::array / std::string.
//
// Errors are values: bytes from outside that fail a check give Status::corrupt_input naming
// the check; a wrong passphrase gives Status::permission_denied. Nothing here throws.
//
// Thread rule: every function is safe to call from any thread. A SecretBytes or SigningKey has
// one owner; const methods may be used concurrently.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "birga/status.h"

namespace birga::engine {

using Key32 = std::array<uint8_t, 32>;
using PublicKey = std::array<uint8_t, 32>;  // Ed25519 or X25519, by context
using Hash32 = std::array<uint8_t, 32>;

// Initialises libsodium once (thread-safe; later calls are cheap). Every wrapper below calls it
// itself, so calling it first is only needed to learn about a failure early (a failure means
// the system has no usable randomness; the wrappers then abort rather than make weak keys).
Status crypto_init();

// An owning buffer for secret bytes (private keys, data keys, passphrase-derived keys).
// Wiped with sodium_memzero on destruction and when moved from; not copyable (use clone()).
class SecretBytes {
 public:
  SecretBytes() = default;
  // `size` zero bytes.
  explicit SecretBytes(size_t size);
  static SecretBytes copy_of(std::string_view bytes);
  template <size_t N>
  static SecretBytes copy_of(const std::array<uint8_t, N>& bytes) {
    return copy_of(std::string_view(reinterpret_cast<const char*>(bytes.data()), N));
  }
  ~SecretBytes();

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  SecretBytes clone() const;

  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // A view that dies with this object (or its next move).
  std::string_view view() const {
    return std::string_view(reinterpret_cast<const char*>(data_.get()), size_);
  }
  // The first 32 bytes as a Key32 (a copy the caller should keep short-lived).
  // REQUIRES: size() == 32.
  Key32 key32() const;

  // Tries to keep the bytes out of swap (sodium_mlock). Best effort: returns false when the
  // memlock limit refuses; the bytes are wiped either way.
  bool lock();

  // Constant-time comparison.
  bool equals(const SecretBytes& other) const;

 private:
  void wipe();

  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
  bool locked_ = false;
};

// `n` bytes from the system CSPRNG.
std::string random_bytes(size_t n);

// BLAKE2b with a 32-byte output (crypto_generichash), unkeyed and keyed.
Hash32 blake2b_256(std::string_view data);
Hash32 blake2b_256_keyed(const Key32& key, std::string_view data);

// ---- Ed25519 -----------------------------------------------------------------------------

struct SigningKey {
  static constexpr size_t kSecretKeyBytes = 64;  // libsodium's seed || public key
  static constexpr size_t kSignatureBytes = 64;

  PublicKey public_key{};
  SecretBytes secret_key;  // 64 bytes

  static SigningKey generate();
  // Deterministic key from a 32-byte seed (tests, key derivation).
  static SigningKey from_seed(const Key32& seed);
  // Rebuilds a key from its 64-byte secret key (e.g. read from the key file); refuses a
  // secret key whose embedded public key does not match its seed.
  static Result<SigningKey> from_secret_key(std::string_view secret_key);

  // The 64-byte detached signature of `msg`. REQUIRES: secret_key holds 64 bytes (a
  // default-constructed key signs nothing and returns an empty string).
  std::string sign(std::string_view msg) const;
};

// True when `sig` is a valid 64-byte Ed25519 signature of `msg` by `pk`.
bool verify_signature(const PublicKey& pk, std::string_view msg, std::string_view sig);

// ---- AEAD: XChaCha20-Poly1305-IETF --------------------------------------------------------

constexpr size_t kAeadNonceBytes = 24;
constexpr size_t kAeadTagBytes = 16;
constexpr size_t kAeadOverhead = kAeadNonceBytes + kAeadTagBytes;

// Returns a fresh random 24-byte nonce || ciphertext || 16-byte tag; `ad` is authenticated
// but not included.
std::string aead_seal(const Key32& key, std::string_view plaintext, std::string_view ad);
// Inverse of aead_seal. corrupt_input when `sealed` is too short or fails authentication
// (wrong key, wrong `ad`, any changed byte).
Result<std::string> aead_open(const Key32& key, std::string_view sealed, std::string_view ad);

// ---- Passphrase protection: Argon2id ------------------------------------------------------
//
// Blob format (all integers little-endian), 53 header bytes then the ciphertext:
//   offset  size  field
//        0     4  magic "BGPK" (0x42 0x47 0x50 0x4B)
//        4     1  version = 1
//        5     4  opslimit (u32, Argon2id passes)
//        9     4  memlimit in KiB (u32; the byte limit is memlimit * 1024)
//       13    16  salt (random)
//       29    24  nonce (random)
//       53   n+16 XChaCha20-Poly1305-IETF ciphertext of the n secret bytes, then the tag;
//                 key = crypto_pwhash(ALG_ARGON2ID13, 32 bytes, passphrase, salt, opslimit,
//                 memlimit * 1024); associated data = the 53 header bytes (offsets 0..52).
// Readers refuse opslimit outside [1, 16] and memlimit outside [8 KiB, 1 GiB], so a hostile
// file cannot make them spend unbounded memory or time.

enum class PwhashCost {
  kInteractive,  // OPSLIMIT_INTERACTIVE / MEMLIMIT_INTERACTIVE (64 MiB): real key files
  kTest,         // OPSLIMIT_MIN / MEMLIMIT_MIN: fast, for tests only, no real protection
};
// kInteractive, unless the environment variable BIRGA_FAST_KDF is "1": then kTest. The
// variable exists for test suites only; never set it on a real device.
PwhashCost default_pwhash_cost();

constexpr size_t kPassphraseHeaderBytes = 53;
constexpr uint32_t kMaxPwhashOpsLimit = 16;
constexpr uint32_t kMaxPwhashMemLimitKib = 1024 * 1024;  // 1 GiB

Result<std::string> seal_with_passphrase(std::string_view secret, std::string_view passphrase,
                                         PwhashCost cost = default_pwhash_cost());
// permission_denied when the passphrase is wrong (or the ciphertext was damaged: the two
// cannot be told apart); corrupt_input when the blob is truncated or its header is garbled.
Result<SecretBytes> open_with_passphrase(std::string_view blob, std::string_view passphrase);
// The cost a blob was sealed at: kTest only for exactly the minimum limits, kInteractive for
// anything else (so that resealing never lowers it).
PwhashCost pwhash_cost_of(std::string_view blob);

// ---- X25519 sealed boxes ------------------------------------------------------------------

constexpr size_t kBoxSealOverhead = 48;  // crypto_box_SEALBYTES

// The X25519 public key of an Ed25519 public key; corrupt_input when `ed_pk` is not a valid
// curve point.
Result<PublicKey> ed25519_pk_to_x25519(const PublicKey& ed_pk);
// The X25519 secret key (32 bytes) of a 64-byte Ed25519 secret key.
Result<SecretBytes> ed25519_sk_to_x25519(const SecretBytes& ed_sk);

// Anonymous sealed box (crypto_box_seal) of `msg` to `x25519_pk`: 48 + msg.size() bytes.
std::string box_seal(const PublicKey& x25519_pk, std::string_view msg);
// Opens a sealed box addressed to (x25519_pk, x25519_sk); corrupt_input when it is too short
// or was not sealed to this key or was altered.
Result<SecretBytes> box_seal_open(const PublicKey& x25519_pk, const SecretBytes& x25519_sk,
                                  std::string_view sealed);

// ---- Channel primitives: counter-nonce AEAD and X25519 key exchange -----------------------

// XChaCha20-Poly1305 with the nonce made from `counter` (little-endian in the first 8 bytes,
// the rest zero) and not transmitted: both ends count frames, so a replayed, dropped or
// reordered frame fails to open. Output: ciphertext || 16-byte tag.
std::string aead_seal_counter(const Key32& key, uint64_t counter, std::string_view plaintext);
Result<std::string> aead_open_counter(const Key32& key, uint64_t counter, std::string_view sealed);

struct KxKeyPair {
  PublicKey public_key{};
  Key32 secret_key{};
};
KxKeyPair kx_keypair();
// crypto_kx session keys: rx (to open what the peer sends) and tx (to seal what we send).
// The client is the side that connected. permission_denied on an invalid peer key.
Status kx_session_keys(bool client, const KxKeyPair& mine, const PublicKey& peer, Key32* rx,
                       Key32* tx);

}  // namespace birga::engine
