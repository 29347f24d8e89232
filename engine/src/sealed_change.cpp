// Sealing, verifying and opening changes. The format is specified in sealed_change.h.
#include "sealed_change.h"

#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <cstring>

#include "capnp_util.h"
#include "change.capnp.h"
#include "zstd_context.h"

namespace birga::engine {
namespace {

constexpr int kZstdLevel = 3;

bool all_zero(const std::array<uint8_t, 32>& a) {
  return std::all_of(a.begin(), a.end(), [](uint8_t b) { return b == 0; });
}

// Empty when `h` follows the header rules; otherwise what is wrong.
std::string header_problem(const ChangeHeader& h, const ChangeLimits& limits) {
  if (h.format_version != kChangeFormatVersion) {
    return "unsupported format version " + std::to_string(h.format_version);
  }
  if (h.scope.empty() || h.scope.size() > kMaxScopeBytes) {
    return "scope name is " + std::to_string(h.scope.size()) + " bytes, must be 1.." +
           std::to_string(kMaxScopeBytes);
  }
  if (h.seq == 0 || h.seq > kMaxChangeSeq) {
    return "seq " + std::to_string(h.seq) + " out of range [1, 2^44)";
  }
  if (h.seq == 1 && !all_zero(h.prev_hash)) return "seq 1 with a non-zero prevHash";
  if (h.seq > 1 && all_zero(h.prev_hash))
    return "seq " + std::to_string(h.seq) + " with a zero prevHash";
  if (h.compression > kCompressionZstd) {
    return "unknown compression " + std::to_string(h.compression);
  }
  if (h.body_length > limits.max_body_bytes) {
    return "body length " + std::to_string(h.body_length) + " over the limit of " +
           std::to_string(limits.max_body_bytes);
  }
  return {};
}

// What the author signs: domain || u32 LE header length || header || ciphertext.
std::string signing_message(std::string_view header, std::string_view ciphertext) {
  std::string m(kChangeSignatureDomain, sizeof kChangeSignatureDomain - 1);
  m.reserve(m.size() + 4 + header.size() + ciphertext.size());
  const uint32_t n = static_cast<uint32_t>(header.size());
  for (int i = 0; i < 4; ++i) m.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  m.append(header);
  m.append(ciphertext);
  return m;
}

struct SealedParts {
  uint32_t magic = 0;
  uint16_t version = 0;
  std::string header;
  std::string ciphertext;
  std::string signature;
};

std::string encode_sealed(const SealedParts& p) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<wire::SealedChange>();
  root.setMagic(p.magic);
  root.setVersion(p.version);
  root.setHeader(data_of(p.header));
  root.setCiphertext(data_of(p.ciphertext));
  root.setSignature(data_of(p.signature));
  return canonical_message(root.asReader());
}

// Ciphertext length must agree with the header (see the format comment).
std::string ciphertext_problem(const ChangeHeader& h, size_t c) {
  if (c < kAeadOverhead) return "ciphertext of " + std::to_string(c) + " bytes is truncated";
  const size_t payload = c - kAeadOverhead;
  if (h.compression == kCompressionNone && payload != h.body_length) {
    return "ciphertext holds " + std::to_string(payload) + " bytes, header says " +
           std::to_string(h.body_length);
  }
  if (h.compression == kCompressionZstd && payload >= h.body_length) {
    return "compressed body of " + std::to_string(payload) + " bytes is not smaller than " +
           std::to_string(h.body_length);
  }
  return {};
}

// Everything verify_change checks except the signature.
Status parse_sealed(std::string_view sealed, const ChangeLimits& limits, SealedParts* parts,
                    ChangeHeader* header) {
  if (sealed.size() > limits.max_sealed_bytes) {
    return Status::corrupt_input("sealed change: " + std::to_string(sealed.size()) +
                                 " bytes, over the limit of " +
                                 std::to_string(limits.max_sealed_bytes));
  }
  const MessageLimits msg_limits{sealed.size() / 8 + 64, 4};
  BIRGA_RETURN_IF_ERROR(
      read_message(sealed, msg_limits, "sealed change", [&](capnp::MessageReader& reader) {
        auto root = reader.getRoot<wire::SealedChange>();
        parts->magic = root.getMagic();
        parts->version = root.getVersion();
        parts->header = std::string(view_of(root.getHeader()));
        parts->ciphertext = std::string(view_of(root.getCiphertext()));
        parts->signature = std::string(view_of(root.getSignature()));
        return Status::ok();
      }));
  if (parts->magic != kSealedChangeMagic) return Status::corrupt_input("sealed change: bad magic");
  if (parts->version != kSealedChangeVersion) {
    return Status::corrupt_input("sealed change: unsupported version " +
                                 std::to_string(parts->version));
  }
  // Canonical form: every byte either carries a value checked here or is covered by the
  // signature; padding, unused bits and alternative layouts are refused.
  if (encode_sealed(*parts) != sealed) {
    return Status::corrupt_input("sealed change: not in canonical form");
  }
  if (parts->signature.size() != SigningKey::kSignatureBytes) {
    return Status::corrupt_input("sealed change: signature is " +
                                 std::to_string(parts->signature.size()) + " bytes, expected 64");
  }
  Result<ChangeHeader> h = decode_header(parts->header, limits);
  if (!h.is_ok()) return h.status();
  const std::string problem = ciphertext_problem(*h, parts->ciphertext.size());
  if (!problem.empty()) return Status::corrupt_input("sealed change: " + problem);
  *header = std::move(h).value();
  return Status::ok();
}

Result<std::string> decompress(std::string_view src, size_t expected) {
  const unsigned long long content = ZSTD_getFrameContentSize(src.data(), src.size());
  if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN ||
      content != expected) {
    return Status::corrupt_input(
        "change body: zstd frame does not declare the header's body "
        "length " +
        std::to_string(expected));
  }
  const size_t frame = ZSTD_findFrameCompressedSize(src.data(), src.size());
  if (ZSTD_isError(frame) || frame != src.size()) {
    return Status::corrupt_input("change body: not exactly one zstd frame");
  }
  const DecompressContext lease;
  if (!lease.get())
    return Status::resource_exhausted("change body: zstd could not allocate a context");
  std::string out(expected, '\0');
  const size_t n = ZSTD_decompressDCtx(lease.get(), out.data(), out.size(), src.data(), src.size());
  if (ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation) {  // about this process, not the change
    return Status::resource_exhausted("change body: zstd: out of memory");
  }
  if (ZSTD_isError(n)) {
    return Status::corrupt_input(std::string("change body: zstd: ") + ZSTD_getErrorName(n));
  }
  if (n != expected) {
    return Status::corrupt_input("change body: decompressed to " + std::to_string(n) +
                                 " bytes, header says " + std::to_string(expected));
  }
  return out;
}

}  // namespace

crdt::ActorId actor_of(const std::array<uint8_t, 32>& public_key) {
  crdt::ActorId a;
  std::memcpy(a.bytes.data(), public_key.data(), a.bytes.size());
  return a;
}

ChangeId change_id(std::string_view sealed) {
  return blake2b_256(sealed);
}

std::string encode_header(const ChangeHeader& h) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<wire::ChangeHeader>();
  root.setFormatVersion(h.format_version);
  root.setAuthor(data_of(h.author));
  root.setScope(capnp::Text::Reader(h.scope.data(), h.scope.size()));
  root.setSeq(h.seq);
  root.setPrevHash(data_of(h.prev_hash));
  root.setHlc(h.hlc.packed());
  root.setKeyEpoch(h.key_epoch);
  root.setBodyLength(h.body_length);
  root.setCompression(h.compression);
  root.setSchemaVersion(h.schema_version);
  return canonical_message(root.asReader());
}

Result<ChangeHeader> decode_header(std::string_view header_bytes, const ChangeLimits& limits) {
  if (header_bytes.size() > kMaxHeaderBytes) {
    return Status::corrupt_input("change header: " + std::to_string(header_bytes.size()) +
                                 " bytes, over the limit of " + std::to_string(kMaxHeaderBytes));
  }
  ChangeHeader h;
  const MessageLimits msg_limits{header_bytes.size() / 8 + 64, 4};
  BIRGA_RETURN_IF_ERROR(
      read_message(header_bytes, msg_limits, "change header", [&](capnp::MessageReader& reader) {
        auto r = reader.getRoot<wire::ChangeHeader>();
        const capnp::Data::Reader author = r.getAuthor();
        const capnp::Data::Reader prev = r.getPrevHash();
        if (author.size() != h.author.size()) {
          return Status::corrupt_input("change header: author key is " +
                                       std::to_string(author.size()) + " bytes, expected 32");
        }
        if (prev.size() != h.prev_hash.size()) {
          return Status::corrupt_input("change header: prevHash is " + std::to_string(prev.size()) +
                                       " bytes, expected 32");
        }
        std::copy(author.begin(), author.end(), h.author.begin());
        std::copy(prev.begin(), prev.end(), h.prev_hash.begin());
        const capnp::Text::Reader scope = r.getScope();
        h.scope.assign(scope.begin(), scope.size());
        h.format_version = r.getFormatVersion();
        h.seq = r.getSeq();
        h.hlc = crdt::Timestamp::from_packed(r.getHlc());
        h.key_epoch = r.getKeyEpoch();
        h.body_length = r.getBodyLength();
        h.compression = r.getCompression();
        h.schema_version = r.getSchemaVersion();
        return Status::ok();
      }));
  if (encode_header(h) != header_bytes) {
    return Status::corrupt_input("change header: not in canonical form");
  }
  const std::string problem = header_problem(h, limits);
  if (!problem.empty()) return Status::corrupt_input("change header: " + problem);
  return h;
}

Result<std::string> seal_change(ChangeHeader h, std::string_view op_body, const Key32& scope_key,
                                const SigningKey& author_key, const ChangeLimits& limits) {
  if (author_key.public_key != h.author) {
    return Status::invalid_argument("seal_change: the signing key is not the header's author");
  }
  if (op_body.size() > limits.max_body_bytes || op_body.size() > UINT32_MAX) {
    return Status::invalid_argument("seal_change: body of " + std::to_string(op_body.size()) +
                                    " bytes is over the limit; split the transaction");
  }
  std::string compressed(ZSTD_compressBound(op_body.size()), '\0');
  const CompressContext lease;  // no context to be had: stored uncompressed, as on an error
  const size_t n = lease.get()
                       ? ZSTD_compressCCtx(lease.get(), compressed.data(), compressed.size(),
                                           op_body.data(), op_body.size(), kZstdLevel)
                       : SIZE_MAX;
  const bool use_zstd = !ZSTD_isError(n) && n < op_body.size();
  compressed.resize(use_zstd ? n : 0);
  h.body_length = static_cast<uint32_t>(op_body.size());
  h.compression = use_zstd ? kCompressionZstd : kCompressionNone;
  const std::string problem = header_problem(h, limits);
  if (!problem.empty()) return Status::invalid_argument("seal_change: " + problem);

  SealedParts parts;
  parts.magic = kSealedChangeMagic;
  parts.version = kSealedChangeVersion;
  parts.header = encode_header(h);
  parts.ciphertext =
      aead_seal(scope_key, use_zstd ? std::string_view(compressed) : op_body, parts.header);
  parts.signature = author_key.sign(signing_message(parts.header, parts.ciphertext));
  std::string sealed = encode_sealed(parts);
  if (sealed.size() > limits.max_sealed_bytes) {
    return Status::invalid_argument("seal_change: sealed change of " +
                                    std::to_string(sealed.size()) + " bytes is over the limit of " +
                                    std::to_string(limits.max_sealed_bytes) +
                                    "; split the transaction");
  }
  return sealed;
}

Result<VerifiedChange> verify_change(std::string_view sealed, const ChangeLimits& limits) {
  SealedParts parts;
  VerifiedChange out;
  BIRGA_RETURN_IF_ERROR(parse_sealed(sealed, limits, &parts, &out.header));
  if (!verify_signature(out.header.author, signing_message(parts.header, parts.ciphertext),
                        parts.signature)) {
    return Status::corrupt_input("change signature invalid");
  }
  out.header_bytes = std::move(parts.header);
  out.ciphertext = std::move(parts.ciphertext);
  out.id = change_id(sealed);
  return out;
}

Result<OpenedHeader> read_header(std::string_view sealed, const ChangeLimits& limits) {
  SealedParts parts;
  OpenedHeader out;
  BIRGA_RETURN_IF_ERROR(parse_sealed(sealed, limits, &parts, &out.header));
  out.header_bytes = std::move(parts.header);
  return out;
}

Result<std::string> open_change_body(const VerifiedChange& change, const Key32& scope_key,
                                     const ChangeLimits& limits) {
  const ChangeHeader& h = change.header;
  if (h.body_length > limits.max_body_bytes) {
    return Status::corrupt_input("change body: length " + std::to_string(h.body_length) +
                                 " over the limit of " + std::to_string(limits.max_body_bytes));
  }
  Result<std::string> plain = aead_open(scope_key, change.ciphertext, change.header_bytes);
  if (!plain.is_ok()) {
    return Status::corrupt_input("change body: authentication failed (wrong scope key for epoch " +
                                 std::to_string(h.key_epoch) + ", or tampered)");
  }
  if (h.compression == kCompressionZstd) return decompress(*plain, h.body_length);
  if (h.compression != kCompressionNone) {
    return Status::corrupt_input("change body: unknown compression " +
                                 std::to_string(h.compression));
  }
  if (plain->size() != h.body_length) {
    return Status::corrupt_input("change body: " + std::to_string(plain->size()) +
                                 " bytes, header says " + std::to_string(h.body_length));
  }
  return plain;
}

}  // namespace birga::engine
