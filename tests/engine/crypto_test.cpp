#include "crypto.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <random>
#include <string>

namespace birga::engine {
namespace {

std::string hex(const uint8_t* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 15]);
  }
  return out;
}
template <size_t N>
std::string hex(const std::array<uint8_t, N>& a) {
  return hex(a.data(), N);
}
std::string hex(std::string_view s) {
  return hex(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

std::string unhex(std::string_view h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

Key32 key_of(std::string_view bytes) {
  Key32 k{};
  std::copy(bytes.begin(), bytes.begin() + 32, k.begin());
  return k;
}

// Sets BIRGA_FAST_KDF for one scope and restores the previous value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

}  // namespace

TEST_CASE("Crypto: init succeeds and is idempotent", "[crypto]") {
  REQUIRE(crypto_init().is_ok());
  REQUIRE(crypto_init().is_ok());
}

TEST_CASE("SecretBytes: owns, clones, compares and empties its source on move", "[crypto]") {
  SecretBytes a = SecretBytes::copy_of(std::string_view("top secret"));
  CHECK(a.size() == 10);
  CHECK(a.view() == "top secret");
  SecretBytes b = a.clone();
  CHECK(b.equals(a));
  SecretBytes c = std::move(a);
  CHECK(c.view() == "top secret");
  CHECK(a.empty());  // NOLINT: moved-from state is specified
  CHECK(a.view().empty());
  b = SecretBytes(3);
  CHECK(b.view() == std::string(3, '\0'));
  CHECK_FALSE(b.equals(c));
  (void)c.lock();  // best effort; either answer is fine
  CHECK(c.view() == "top secret");
  CHECK(SecretBytes(0).equals(SecretBytes()));
}

TEST_CASE("Crypto: random_bytes gives the size asked and fresh bytes", "[crypto]") {
  CHECK(random_bytes(0).empty());
  CHECK(random_bytes(1).size() == 1);
  CHECK(random_bytes(32).size() == 32);
  CHECK(random_bytes(32) != random_bytes(32));
}

TEST_CASE("Crypto: blake2b_256 matches the reference vectors", "[crypto]") {
  CHECK(hex(blake2b_256("")) == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  CHECK(hex(blake2b_256("abc")) ==
        "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
  Key32 k1{}, k2{};
  k2[0] = 1;
  CHECK(blake2b_256_keyed(k1, "abc") != blake2b_256("abc"));
  CHECK(blake2b_256_keyed(k1, "abc") != blake2b_256_keyed(k2, "abc"));
  CHECK(blake2b_256_keyed(k2, "abc") == blake2b_256_keyed(k2, "abc"));
}

TEST_CASE("Ed25519: signs and verifies, matching RFC 8032 test 1", "[crypto][ed25519]") {
  const Key32 seed =
      key_of(unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  const SigningKey key = SigningKey::from_seed(seed);
  CHECK(hex(key.public_key) == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  const std::string sig = key.sign("");
  CHECK(hex(sig) ==
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e"
        "39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  CHECK(verify_signature(key.public_key, "", sig));
}

TEST_CASE("Ed25519: a signature fails for another message, key or any changed byte",
          "[crypto][ed25519]") {
  const SigningKey a = SigningKey::generate();
  const SigningKey b = SigningKey::generate();
  CHECK(a.public_key != b.public_key);
  const std::string sig = a.sign("visit 42 delivered");
  REQUIRE(sig.size() == 64);
  CHECK(verify_signature(a.public_key, "visit 42 delivered", sig));
  CHECK_FALSE(verify_signature(a.public_key, "visit 43 delivered", sig));
  CHECK_FALSE(verify_signature(b.public_key, "visit 42 delivered", sig));
  CHECK_FALSE(verify_signature(a.public_key, "visit 42 delivered", sig.substr(0, 63)));
  CHECK_FALSE(verify_signature(a.public_key, "visit 42 delivered", ""));
  for (size_t i = 0; i < sig.size(); ++i) {
    std::string bad = sig;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    CHECK_FALSE(verify_signature(a.public_key, "visit 42 delivered", bad));
  }
}

TEST_CASE("Ed25519: a key rebuilt from its secret key is the same key", "[crypto][ed25519]") {
  const SigningKey a = SigningKey::generate();
  Result<SigningKey> back = SigningKey::from_secret_key(a.secret_key.view());
  REQUIRE(back.is_ok());
  CHECK(back->public_key == a.public_key);
  CHECK(back->secret_key.equals(a.secret_key));
  CHECK(SigningKey::from_secret_key("short").status().code() == Code::kCorruptInput);
  std::string mismatched(a.secret_key.view());
  mismatched[40] = static_cast<char>(mismatched[40] ^ 1);  // public half no longer matches
  CHECK(SigningKey::from_secret_key(mismatched).status().code() == Code::kCorruptInput);
}

TEST_CASE("AEAD: seals and opens with the same key and associated data", "[crypto][aead]") {
  const Key32 key = key_of(random_bytes(32));
  const std::string sealed = aead_seal(key, "household 7: 3 children", "header");
  CHECK(sealed.size() == kAeadOverhead + 23);
  Result<std::string> opened = aead_open(key, sealed, "header");
  REQUIRE(opened.is_ok());
  CHECK(*opened == "household 7: 3 children");
  // A fresh nonce each time.
  CHECK(aead_seal(key, "x", "") != aead_seal(key, "x", ""));
  // Empty plaintext works.
  Result<std::string> empty = aead_open(key, aead_seal(key, "", "ad"), "ad");
  REQUIRE(empty.is_ok());
  CHECK(empty->empty());
}

TEST_CASE("AEAD: wrong key, wrong ad, any changed byte or truncation fail", "[crypto][aead]") {
  const Key32 key = key_of(random_bytes(32));
  const Key32 other = key_of(random_bytes(32));
  const std::string sealed = aead_seal(key, "aid delivery: 500000 soum", "ad");
  CHECK(aead_open(other, sealed, "ad").status().code() == Code::kCorruptInput);
  CHECK(aead_open(key, sealed, "ad2").status().code() == Code::kCorruptInput);
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] = static_cast<char>(bad[i] ^ 0x80);
    Result<std::string> r = aead_open(key, bad, "ad");
    CHECK(r.status().code() == Code::kCorruptInput);
    CHECK(r.status().message().find("authentication failed") != std::string::npos);
  }
  for (size_t n = 0; n < sealed.size(); ++n) {
    CHECK(aead_open(key, sealed.substr(0, n), "ad").status().code() == Code::kCorruptInput);
  }
}

TEST_CASE("Passphrase: seals and opens a secret (fast KDF)", "[crypto][passphrase]") {
  const std::string secret = random_bytes(64);
  Result<std::string> blob = seal_with_passphrase(secret, "correct horse", PwhashCost::kTest);
  REQUIRE(blob.is_ok());
  CHECK(blob->size() == kPassphraseHeaderBytes + secret.size() + kAeadTagBytes);
  CHECK(blob->substr(0, 5) == std::string("BGPK\x01", 5));
  Result<SecretBytes> back = open_with_passphrase(*blob, "correct horse");
  REQUIRE(back.is_ok());
  CHECK(back->view() == secret);
  // Same secret and passphrase, fresh salt and nonce.
  CHECK(*seal_with_passphrase(secret, "correct horse", PwhashCost::kTest) != *blob);
}

TEST_CASE("Passphrase: a wrong passphrase is permission_denied", "[crypto][passphrase]") {
  Result<std::string> blob = seal_with_passphrase("secret", "right", PwhashCost::kTest);
  REQUIRE(blob.is_ok());
  Result<SecretBytes> r = open_with_passphrase(*blob, "wrong");
  CHECK(r.status().code() == Code::kPermissionDenied);
  CHECK(r.status().message().find("wrong passphrase") != std::string::npos);
  CHECK(open_with_passphrase(*blob, "").status().code() == Code::kPermissionDenied);
}

TEST_CASE("Passphrase: a truncated or garbled blob is corrupt_input", "[crypto][passphrase]") {
  Result<std::string> blob = seal_with_passphrase("secret", "pw", PwhashCost::kTest);
  REQUIRE(blob.is_ok());
  // Too short to hold a header and a tag: corrupt_input naming the truncation.
  for (size_t n = 0; n < kPassphraseHeaderBytes + kAeadTagBytes; ++n) {
    Result<SecretBytes> r = open_with_passphrase(blob->substr(0, n), "pw");
    CHECK(r.status().code() == Code::kCorruptInput);
    CHECK(r.status().message().find("truncated") != std::string::npos);
  }
  // A cut inside the ciphertext cannot be told from a wrong passphrase: refused either way.
  CHECK_FALSE(open_with_passphrase(blob->substr(0, blob->size() - 1), "pw").is_ok());

  std::string bad_magic = *blob;
  bad_magic[0] = 'X';
  CHECK(open_with_passphrase(bad_magic, "pw").status().message().find("bad magic") !=
        std::string::npos);
  std::string bad_version = *blob;
  bad_version[4] = 2;
  CHECK(open_with_passphrase(bad_version, "pw").status().code() == Code::kCorruptInput);
}

TEST_CASE("Passphrase: limits over the sane maxima are refused before any work",
          "[crypto][passphrase]") {
  Result<std::string> blob = seal_with_passphrase("secret", "pw", PwhashCost::kTest);
  REQUIRE(blob.is_ok());
  auto with_u32 = [&](size_t at, uint32_t v) {
    std::string b = *blob;
    for (int i = 0; i < 4; ++i) b[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
    return b;
  };
  // memlimit 2 GiB (in KiB), opslimit 1000, opslimit 0, memlimit 1 KiB.
  for (const std::string& b :
       {with_u32(9, 2u * 1024 * 1024), with_u32(5, 1000), with_u32(5, 0), with_u32(9, 1)}) {
    Result<SecretBytes> r = open_with_passphrase(b, "pw");
    CHECK(r.status().code() == Code::kCorruptInput);
    CHECK(r.status().message().find("outside") != std::string::npos);
  }
}

TEST_CASE("Passphrase: BIRGA_FAST_KDF=1 selects the test cost", "[crypto][passphrase]") {
  {
    ScopedEnv env("BIRGA_FAST_KDF", "1");
    CHECK(default_pwhash_cost() == PwhashCost::kTest);
    Result<std::string> blob = seal_with_passphrase("s", "pw");
    REQUIRE(blob.is_ok());
    CHECK(static_cast<uint8_t>((*blob)[5]) == 1);  // OPSLIMIT_MIN
    CHECK(static_cast<uint8_t>((*blob)[9]) == 8);  // MEMLIMIT_MIN = 8 KiB
  }
  {
    ScopedEnv env("BIRGA_FAST_KDF", nullptr);
    CHECK(default_pwhash_cost() == PwhashCost::kInteractive);
  }
  {
    ScopedEnv env("BIRGA_FAST_KDF", "0");
    CHECK(default_pwhash_cost() == PwhashCost::kInteractive);
  }
}

TEST_CASE("Passphrase: the interactive cost round trips", "[crypto][passphrase][slow]") {
  Result<std::string> blob = seal_with_passphrase("device key", "pw", PwhashCost::kInteractive);
  REQUIRE(blob.is_ok());
  CHECK(static_cast<uint8_t>((*blob)[5]) == 2);  // OPSLIMIT_INTERACTIVE
  Result<SecretBytes> back = open_with_passphrase(*blob, "pw");
  REQUIRE(back.is_ok());
  CHECK(back->view() == "device key");
}

TEST_CASE("X25519: box_seal to a device's converted Ed25519 key opens", "[crypto][box]") {
  const SigningKey device = SigningKey::generate();
  Result<PublicKey> xpk = ed25519_pk_to_x25519(device.public_key);
  REQUIRE(xpk.is_ok());
  Result<SecretBytes> xsk = ed25519_sk_to_x25519(device.secret_key);
  REQUIRE(xsk.is_ok());
  CHECK(xsk->size() == 32);

  const std::string data_key = random_bytes(32);
  const std::string sealed = box_seal(*xpk, data_key);
  CHECK(sealed.size() == data_key.size() + kBoxSealOverhead);
  Result<SecretBytes> opened = box_seal_open(*xpk, *xsk, sealed);
  REQUIRE(opened.is_ok());
  CHECK(opened->view() == data_key);

  // Another device cannot open it; a changed byte or a cut is refused.
  const SigningKey other = SigningKey::generate();
  Result<SecretBytes> other_sk = ed25519_sk_to_x25519(other.secret_key);
  Result<PublicKey> other_pk = ed25519_pk_to_x25519(other.public_key);
  CHECK(box_seal_open(*other_pk, *other_sk, sealed).status().code() == Code::kCorruptInput);
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] = static_cast<char>(bad[i] ^ 0x04);
    CHECK_FALSE(box_seal_open(*xpk, *xsk, bad).is_ok());
  }
  for (size_t n = 0; n < sealed.size(); ++n) {
    CHECK_FALSE(box_seal_open(*xpk, *xsk, sealed.substr(0, n)).is_ok());
  }
  // Empty messages work too.
  Result<SecretBytes> empty = box_seal_open(*xpk, *xsk, box_seal(*xpk, ""));
  REQUIRE(empty.is_ok());
  CHECK(empty->empty());
}

TEST_CASE("X25519: invalid Ed25519 public keys and wrong-size secrets are refused",
          "[crypto][box]") {
  PublicKey identity{};
  identity[0] = 1;  // the neutral point: small order
  CHECK(ed25519_pk_to_x25519(identity).status().code() == Code::kCorruptInput);
  CHECK_FALSE(ed25519_sk_to_x25519(SecretBytes(32)).is_ok());
  PublicKey pk{};
  CHECK_FALSE(box_seal_open(pk, SecretBytes(31), std::string(60, 'x')).is_ok());
}

TEST_CASE("Crypto: decoders survive random garbage", "[crypto][fuzz]") {
  std::mt19937_64 rng(20240611);
  const Key32 key = key_of(random_bytes(32));
  const SigningKey device = SigningKey::from_seed(key);
  const PublicKey xpk = *ed25519_pk_to_x25519(device.public_key);
  const SecretBytes xsk = ed25519_sk_to_x25519(device.secret_key).value();
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 200, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (i % 2 == 0 && junk.size() >= 5) junk.replace(0, 5, std::string("BGPK\x01", 5));
    CHECK_FALSE(aead_open(key, junk, "").is_ok());
    CHECK_FALSE(box_seal_open(xpk, xsk, junk).is_ok());
    CHECK_FALSE(open_with_passphrase(junk, "pw").is_ok());
  }
}

}  // namespace birga::engine
