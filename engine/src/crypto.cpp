#include "crypto.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace birga::engine {
namespace {

// Calls sodium_init() once. Returns its result (0 first time, 1 later, -1 on failure).
int sodium_init_once() {
  static const int rc = sodium_init();  // magic static: thread-safe, runs once
  return rc;
}

// Every wrapper starts here. Without working randomness no key may be made; aborting is the
// only safe answer for functions that cannot return an error.
void ensure_init() {
  if (sodium_init_once() < 0) {
    std::fputs("birga: libsodium initialisation failed (no usable randomness)\n", stderr);
    std::abort();
  }
}

const unsigned char* u8(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* u8(std::string& s) {
  return reinterpret_cast<unsigned char*>(s.data());
}

void put_u32le(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
uint32_t get_u32le(std::string_view in, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(in[at + i])} << (8 * i);
  return v;
}

// Decrypts `sealed` (nonce || ciphertext || tag) into `out`, which must be sized
// sealed.size() - kAeadOverhead. Returns false on authentication failure.
bool aead_open_into(const unsigned char* key, std::string_view sealed, std::string_view ad,
                    unsigned char* out) {
  unsigned long long out_len = 0;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(
             out, &out_len, nullptr, u8(sealed) + kAeadNonceBytes, sealed.size() - kAeadNonceBytes,
             u8(ad), ad.size(), u8(sealed), key) == 0;
}

std::string aead_seal_raw(const unsigned char* key, std::string_view plaintext,
                          std::string_view ad) {
  std::string out(kAeadNonceBytes + plaintext.size() + kAeadTagBytes, '\0');
  randombytes_buf(out.data(), kAeadNonceBytes);
  unsigned long long ct_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(u8(out) + kAeadNonceBytes, &ct_len, u8(plaintext),
                                             plaintext.size(), u8(ad), ad.size(), nullptr, u8(out),
                                             key);
  return out;
}

constexpr char kPassphraseMagic[4] = {'B', 'G', 'P', 'K'};
constexpr uint8_t kPassphraseVersion = 1;
constexpr size_t kSaltBytes = crypto_pwhash_SALTBYTES;
static_assert(kSaltBytes == 16, "blob format assumes a 16-byte salt");
static_assert(kPassphraseHeaderBytes == 4 + 1 + 4 + 4 + 16 + 24, "blob header layout");
static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == kAeadNonceBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kAeadTagBytes);
static_assert(crypto_box_SEALBYTES == kBoxSealOverhead);

// Derives the 32-byte blob key. False when libsodium refuses (out of memory).
bool derive_passphrase_key(std::string_view passphrase, const unsigned char* salt,
                           uint32_t opslimit, uint32_t memlimit_kib, SecretBytes* key) {
  *key = SecretBytes(32);
  return crypto_pwhash(key->data(), key->size(), passphrase.data(), passphrase.size(), salt,
                       opslimit, size_t{memlimit_kib} * 1024, crypto_pwhash_ALG_ARGON2ID13) == 0;
}

}  // namespace

Status crypto_init() {
  if (sodium_init_once() < 0) return Status::internal("libsodium initialisation failed");
  return Status::ok();
}

// ---- SecretBytes ---------------------------------------------------------------------------

// Always allocates at least one byte, so data() is never null for a constructed buffer (some
// libsodium calls want a writable pointer even for empty output).
SecretBytes::SecretBytes(size_t size) : data_(new uint8_t[size ? size : 1]()), size_(size) {}

SecretBytes SecretBytes::copy_of(std::string_view bytes) {
  SecretBytes s(bytes.size());
  if (!bytes.empty()) std::memcpy(s.data(), bytes.data(), bytes.size());
  return s;
}

SecretBytes::~SecretBytes() {
  wipe();
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::move(other.data_)), size_(other.size_), locked_(other.locked_) {
  other.size_ = 0;
  other.locked_ = false;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    wipe();
    data_ = std::move(other.data_);
    size_ = other.size_;
    locked_ = other.locked_;
    other.size_ = 0;
    other.locked_ = false;
  }
  return *this;
}

void SecretBytes::wipe() {
  if (data_) {
    if (locked_ && size_) {
      sodium_munlock(data_.get(), size_);  // zeroes, then unlocks
    } else {
      sodium_memzero(data_.get(), size_ ? size_ : 1);
    }
  }
  data_.reset();
  size_ = 0;
  locked_ = false;
}

SecretBytes SecretBytes::clone() const {
  return copy_of(view());
}

Key32 SecretBytes::key32() const {
  Key32 k{};
  if (size_ == k.size()) std::memcpy(k.data(), data_.get(), k.size());
  return k;
}

bool SecretBytes::lock() {
  if (locked_ || !data_) return locked_;
  locked_ = sodium_mlock(data_.get(), size_) == 0;
  return locked_;
}

bool SecretBytes::equals(const SecretBytes& other) const {
  if (size_ != other.size_) return false;
  if (size_ == 0) return true;
  return sodium_memcmp(data_.get(), other.data_.get(), size_) == 0;
}

// ---- Random and hashing --------------------------------------------------------------------

std::string random_bytes(size_t n) {
  ensure_init();
  std::string out(n, '\0');
  if (n) randombytes_buf(out.data(), n);
  return out;
}

Hash32 blake2b_256(std::string_view data) {
  ensure_init();
  Hash32 h{};
  crypto_generichash(h.data(), h.size(), u8(data), data.size(), nullptr, 0);
  return h;
}

Hash32 blake2b_256_keyed(const Key32& key, std::string_view data) {
  ensure_init();
  Hash32 h{};
  crypto_generichash(h.data(), h.size(), u8(data), data.size(), key.data(), key.size());
  return h;
}

// ---- Ed25519 -------------------------------------------------------------------------------

static_assert(crypto_sign_PUBLICKEYBYTES == 32 && crypto_sign_SECRETKEYBYTES == 64 &&
              crypto_sign_BYTES == 64 && crypto_sign_SEEDBYTES == 32);

SigningKey SigningKey::generate() {
  ensure_init();
  SigningKey k;
  k.secret_key = SecretBytes(kSecretKeyBytes);
  crypto_sign_keypair(k.public_key.data(), k.secret_key.data());
  return k;
}

SigningKey SigningKey::from_seed(const Key32& seed) {
  ensure_init();
  SigningKey k;
  k.secret_key = SecretBytes(kSecretKeyBytes);
  crypto_sign_seed_keypair(k.public_key.data(), k.secret_key.data(), seed.data());
  return k;
}

Result<SigningKey> SigningKey::from_secret_key(std::string_view secret_key) {
  if (secret_key.size() != kSecretKeyBytes) {
    return Status::corrupt_input("ed25519 secret key: " + std::to_string(secret_key.size()) +
                                 " bytes, expected 64");
  }
  Key32 seed{};
  std::memcpy(seed.data(), secret_key.data(), seed.size());
  SigningKey k = from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  if (sodium_memcmp(k.secret_key.data(), secret_key.data(), kSecretKeyBytes) != 0) {
    return Status::corrupt_input("ed25519 secret key: public half does not match the seed");
  }
  return k;
}

std::string SigningKey::sign(std::string_view msg) const {
  ensure_init();
  std::string sig(kSignatureBytes, '\0');
  if (secret_key.size() != kSecretKeyBytes) return std::string();  // an empty key signs nothing
  crypto_sign_detached(u8(sig), nullptr, u8(msg), msg.size(), secret_key.data());
  return sig;
}

bool verify_signature(const PublicKey& pk, std::string_view msg, std::string_view sig) {
  ensure_init();
  if (sig.size() != crypto_sign_BYTES) return false;
  return crypto_sign_verify_detached(u8(sig), u8(msg), msg.size(), pk.data()) == 0;
}

// ---- AEAD ----------------------------------------------------------------------------------

std::string aead_seal(const Key32& key, std::string_view plaintext, std::string_view ad) {
  ensure_init();
  return aead_seal_raw(key.data(), plaintext, ad);
}

Result<std::string> aead_open(const Key32& key, std::string_view sealed, std::string_view ad) {
  ensure_init();
  if (sealed.size() < kAeadOverhead) {
    return Status::corrupt_input("aead: authentication failed (sealed data truncated to " +
                                 std::to_string(sealed.size()) + " bytes)");
  }
  std::string out(sealed.size() - kAeadOverhead, '\0');
  if (!aead_open_into(key.data(), sealed, ad, u8(out))) {
    sodium_memzero(out.data(), out.size());
    return Status::corrupt_input("aead: authentication failed");
  }
  return out;
}

// ---- Passphrase protection -----------------------------------------------------------------

PwhashCost default_pwhash_cost() {
  const char* fast = std::getenv("BIRGA_FAST_KDF");
  return (fast && std::string_view(fast) == "1") ? PwhashCost::kTest : PwhashCost::kInteractive;
}

PwhashCost pwhash_cost_of(std::string_view blob) {
  if (blob.size() < kPassphraseHeaderBytes) return PwhashCost::kInteractive;
  const uint32_t opslimit = get_u32le(blob, 5);
  const uint32_t memlimit_kib = get_u32le(blob, 9);
  return opslimit == crypto_pwhash_OPSLIMIT_MIN && memlimit_kib == crypto_pwhash_MEMLIMIT_MIN / 1024
             ? PwhashCost::kTest
             : PwhashCost::kInteractive;
}

Result<std::string> seal_with_passphrase(std::string_view secret, std::string_view passphrase,
                                         PwhashCost cost) {
  ensure_init();
  const bool test = cost == PwhashCost::kTest;
  const uint32_t opslimit = test ? crypto_pwhash_OPSLIMIT_MIN : crypto_pwhash_OPSLIMIT_INTERACTIVE;
  const uint32_t memlimit_kib =
      (test ? crypto_pwhash_MEMLIMIT_MIN : crypto_pwhash_MEMLIMIT_INTERACTIVE) / 1024;

  std::string blob(kPassphraseMagic, sizeof kPassphraseMagic);
  blob.push_back(static_cast<char>(kPassphraseVersion));
  put_u32le(blob, opslimit);
  put_u32le(blob, memlimit_kib);
  blob += random_bytes(kSaltBytes);
  blob += random_bytes(kAeadNonceBytes);

  SecretBytes key;
  if (!derive_passphrase_key(passphrase, u8(blob) + 13, opslimit, memlimit_kib, &key)) {
    return Status::resource_exhausted("argon2id: key derivation failed (out of memory?)");
  }
  blob.resize(kPassphraseHeaderBytes + secret.size() + kAeadTagBytes);
  unsigned long long ct_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      u8(blob) + kPassphraseHeaderBytes, &ct_len, u8(secret), secret.size(), u8(blob),
      kPassphraseHeaderBytes, nullptr, u8(blob) + kPassphraseHeaderBytes - kAeadNonceBytes,
      key.data());
  return blob;
}

Result<SecretBytes> open_with_passphrase(std::string_view blob, std::string_view passphrase) {
  ensure_init();
  constexpr size_t kMin = kPassphraseHeaderBytes + kAeadTagBytes;
  if (blob.size() < kMin) {
    return Status::corrupt_input("passphrase blob: truncated (" + std::to_string(blob.size()) +
                                 " bytes, at least " + std::to_string(kMin) + " needed)");
  }
  if (blob.substr(0, 4) != std::string_view(kPassphraseMagic, 4)) {
    return Status::corrupt_input("passphrase blob: bad magic (not a BGPK key file)");
  }
  if (static_cast<uint8_t>(blob[4]) != kPassphraseVersion) {
    return Status::corrupt_input("passphrase blob: unsupported version " +
                                 std::to_string(static_cast<uint8_t>(blob[4])));
  }
  const uint32_t opslimit = get_u32le(blob, 5);
  const uint32_t memlimit_kib = get_u32le(blob, 9);
  if (opslimit < crypto_pwhash_OPSLIMIT_MIN || opslimit > kMaxPwhashOpsLimit) {
    return Status::corrupt_input("passphrase blob: opslimit " + std::to_string(opslimit) +
                                 " outside [1, " + std::to_string(kMaxPwhashOpsLimit) + "]");
  }
  if (memlimit_kib < crypto_pwhash_MEMLIMIT_MIN / 1024 || memlimit_kib > kMaxPwhashMemLimitKib) {
    return Status::corrupt_input("passphrase blob: memlimit " + std::to_string(memlimit_kib) +
                                 " KiB outside [8 KiB, 1 GiB]");
  }
  SecretBytes key;
  if (!derive_passphrase_key(passphrase, u8(blob) + 13, opslimit, memlimit_kib, &key)) {
    return Status::resource_exhausted("argon2id: key derivation failed (out of memory?)");
  }
  // aead_open_into expects nonce || ciphertext; the nonce ends the header.
  const std::string_view sealed = blob.substr(kPassphraseHeaderBytes - kAeadNonceBytes);
  SecretBytes out(sealed.size() - kAeadOverhead);
  std::string_view ad = blob.substr(0, kPassphraseHeaderBytes);
  unsigned long long out_len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          out.data(), &out_len, nullptr, u8(sealed) + kAeadNonceBytes,
          sealed.size() - kAeadNonceBytes, u8(ad), ad.size(), u8(sealed), key.data()) != 0) {
    return Status::permission_denied("wrong passphrase (or the key file is damaged)");
  }
  return out;
}

// ---- X25519 sealed boxes -------------------------------------------------------------------

Result<PublicKey> ed25519_pk_to_x25519(const PublicKey& ed_pk) {
  ensure_init();
  PublicKey x{};
  if (crypto_sign_ed25519_pk_to_curve25519(x.data(), ed_pk.data()) != 0) {
    return Status::corrupt_input("ed25519 public key is not a valid curve point");
  }
  return x;
}

Result<SecretBytes> ed25519_sk_to_x25519(const SecretBytes& ed_sk) {
  ensure_init();
  if (ed_sk.size() != SigningKey::kSecretKeyBytes) {
    return Status::invalid_argument("ed25519 secret key must be 64 bytes");
  }
  SecretBytes x(crypto_scalarmult_curve25519_BYTES);
  if (crypto_sign_ed25519_sk_to_curve25519(x.data(), ed_sk.data()) != 0) {
    return Status::internal("ed25519 -> x25519 secret key conversion failed");
  }
  return x;
}

std::string box_seal(const PublicKey& x25519_pk, std::string_view msg) {
  ensure_init();
  std::string out(msg.size() + crypto_box_SEALBYTES, '\0');
  crypto_box_seal(u8(out), u8(msg), msg.size(), x25519_pk.data());
  return out;
}

Result<SecretBytes> box_seal_open(const PublicKey& x25519_pk, const SecretBytes& x25519_sk,
                                  std::string_view sealed) {
  ensure_init();
  if (x25519_sk.size() != crypto_box_SECRETKEYBYTES) {
    return Status::invalid_argument("x25519 secret key must be 32 bytes");
  }
  if (sealed.size() < crypto_box_SEALBYTES) {
    return Status::corrupt_input("sealed box: truncated (" + std::to_string(sealed.size()) +
                                 " bytes)");
  }
  SecretBytes out(sealed.size() - crypto_box_SEALBYTES);
  if (crypto_box_seal_open(out.data(), u8(sealed), sealed.size(), x25519_pk.data(),
                           x25519_sk.data()) != 0) {
    return Status::corrupt_input("sealed box: not addressed to this key, or altered");
  }
  return out;
}

// ---- Channel primitives ----------------------------------------------------------------------

namespace {
void counter_nonce(uint64_t counter, unsigned char nonce[kAeadNonceBytes]) {
  std::memset(nonce, 0, kAeadNonceBytes);
  for (int i = 0; i < 8; ++i) nonce[i] = static_cast<unsigned char>(counter >> (8 * i));
}
}  // namespace

std::string aead_seal_counter(const Key32& key, uint64_t counter, std::string_view plaintext) {
  ensure_init();
  unsigned char nonce[kAeadNonceBytes];
  counter_nonce(counter, nonce);
  std::string out(plaintext.size() + kAeadTagBytes, '\0');
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(u8(out), &len, u8(plaintext), plaintext.size(),
                                             nullptr, 0, nullptr, nonce, key.data());
  return out;
}

Result<std::string> aead_open_counter(const Key32& key, uint64_t counter, std::string_view sealed) {
  ensure_init();
  if (sealed.size() < kAeadTagBytes) {
    return Status::corrupt_input("frame shorter than its authentication tag");
  }
  unsigned char nonce[kAeadNonceBytes];
  counter_nonce(counter, nonce);
  std::string out(sealed.size() - kAeadTagBytes, '\0');
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(u8(out), &len, nullptr, u8(sealed), sealed.size(),
                                                 nullptr, 0, nonce, key.data()) != 0) {
    return Status::corrupt_input("frame " + std::to_string(counter) +
                                 " failed authentication (altered, replayed or out of order)");
  }
  return out;
}

KxKeyPair kx_keypair() {
  ensure_init();
  KxKeyPair kp;
  crypto_kx_keypair(kp.public_key.data(), kp.secret_key.data());
  return kp;
}

Status kx_session_keys(bool client, const KxKeyPair& mine, const PublicKey& peer, Key32* rx,
                       Key32* tx) {
  ensure_init();
  const int rc = client
                     ? crypto_kx_client_session_keys(rx->data(), tx->data(), mine.public_key.data(),
                                                     mine.secret_key.data(), peer.data())
                     : crypto_kx_server_session_keys(rx->data(), tx->data(), mine.public_key.data(),
                                                     mine.secret_key.data(), peer.data());
  if (rc != 0) return Status::permission_denied("peer's ephemeral key is not acceptable");
  return Status::ok();
}

}  // namespace birga::engine
