// The materialised-record codec (kRecords values) and the record dictionaries.
//
// A stored record is sealed as AEAD(record_key, plaintext, AD = table key), where plaintext is
// one codec byte, then
//   0: the payload as is;
//   1: the 8-byte id of a record dictionary (big-endian), then the payload as one zstd frame
//      compressed with that dictionary.
// The payload is varint feed position, length-prefixed scope, Record::encode().
//
// A record dictionary is raw zstd content: the payloads of the first large batch of records
// of a collection. Records of one collection repeat their field names, vocabulary and
// metadata, which one record alone is too short to compress well; the dictionary gives them
// that context. It never changes once made (its id is a hash of its content), so a record
// compressed with it can always be read again.
#include <zstd.h>

#include <memory>

#include "replica_impl.h"
#include "store_keys.h"

namespace birga {

using engine::Table;
using engine::Txn;

namespace {

constexpr uint8_t kRecordPlain = 0;
constexpr uint8_t kRecordZstdDict = 1;
constexpr int kRecordZstdLevel = 3;
constexpr size_t kMaxRecordPlaintext = size_t{64} << 20;
// A dictionary is made from a batch holding at least this many records of one collection, of
// at most this many bytes of their payloads.
constexpr size_t kDictMinRecords = 32;
constexpr size_t kDictMaxBytes = 64 << 10;

const std::string kDictForPrefix = "dict/";  // + collection -> 8-byte dictionary id
const std::string kDictPrefix = "dictid/";   // + 8-byte id -> the content, sealed

ZSTD_CCtx* compress_context() {
  thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> c(ZSTD_createCCtx(),
                                                                    ZSTD_freeCCtx);
  return c.get();
}
ZSTD_DCtx* decompress_context() {
  thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> d(ZSTD_createDCtx(),
                                                                    ZSTD_freeDCtx);
  return d.get();
}

uint64_t dict_id_of(std::string_view content) {
  const engine::Hash32 h = engine::blake2b_256(content);
  return engine::get_be64(std::string_view(reinterpret_cast<const char*>(h.data()), 8));
}

std::string dict_key(uint64_t id) {
  std::string k = kDictPrefix;
  engine::put_be64(k, id);
  return k;
}

}  // namespace

struct Replica::Impl::RecordDict {
  uint64_t id = 0;
  ZSTD_CDict* compress = nullptr;
  ZSTD_DDict* decompress = nullptr;
  RecordDict(uint64_t dict_id, std::string_view content)
      : id(dict_id),
        compress(ZSTD_createCDict(content.data(), content.size(), kRecordZstdLevel)),
        decompress(ZSTD_createDDict(content.data(), content.size())) {}
  ~RecordDict() {
    ZSTD_freeCDict(compress);
    ZSTD_freeDDict(decompress);
  }
  RecordDict(const RecordDict&) = delete;
  RecordDict& operator=(const RecordDict&) = delete;
};

Result<std::shared_ptr<const Replica::Impl::RecordDict>> Replica::Impl::record_dict(
    const Txn& txn, uint64_t id) const {
  if (auto it = record_dicts.find(id); it != record_dicts.end()) return it->second;
  const std::string key = dict_key(id);
  auto stored = txn.get(Table::kMeta, key);
  if (!stored.is_ok()) return stored.status();
  if (!*stored) {
    return Status::data_loss("a stored record names record dictionary " + std::to_string(id) +
                             ", which the store does not hold");
  }
  auto content = engine::aead_open(record_key, **stored, key);
  if (!content.is_ok() || dict_id_of(*content) != id) {
    return Status::data_loss("record dictionary " + std::to_string(id) +
                             " cannot be decrypted or does not match its id");
  }
  return cache_dict(id, *content);
}

Result<std::shared_ptr<const Replica::Impl::RecordDict>> Replica::Impl::cache_dict(
    uint64_t id, std::string_view content) const {
  auto dict = std::make_shared<const RecordDict>(id, content);
  if (!dict->compress || !dict->decompress) {
    return Status::resource_exhausted("zstd could not load a record dictionary");
  }
  record_dicts[id] = dict;
  return std::shared_ptr<const RecordDict>(dict);
}

Result<std::shared_ptr<const Replica::Impl::RecordDict>> Replica::Impl::collection_dict(
    const Txn& txn, std::string_view collection) const {
  auto id = txn.get(Table::kMeta, kDictForPrefix + std::string(collection));
  if (!id.is_ok()) return id.status();
  if (!*id) return std::shared_ptr<const RecordDict>();
  if ((*id)->size() != 8) return Status::data_loss("malformed record dictionary entry");
  return record_dict(txn, engine::get_be64(**id));
}

Result<std::shared_ptr<const Replica::Impl::RecordDict>> Replica::Impl::make_collection_dict(
    Txn& txn, std::string_view collection, const std::vector<const std::string*>& payloads) {
  if (payloads.size() < kDictMinRecords) return std::shared_ptr<const RecordDict>();
  std::string content;
  for (const std::string* p : payloads) {
    if (content.size() + p->size() > kDictMaxBytes) break;
    content += *p;
  }
  const uint64_t id = dict_id_of(content);
  const std::string key = dict_key(id);
  BIRGA_RETURN_IF_ERROR(txn.put(Table::kMeta, key, engine::aead_seal(record_key, content, key)));
  std::string id_bytes;
  engine::put_be64(id_bytes, id);
  BIRGA_RETURN_IF_ERROR(txn.put(Table::kMeta, kDictForPrefix + std::string(collection), id_bytes));
  // Cached at once: the id names this content, so the entry stays right even if the
  // transaction is then aborted (the dictionary is simply made again).
  return cache_dict(id, content);
}

std::string Replica::Impl::record_payload(uint64_t feed_pos, std::string_view scope,
                                          const crdt::Record& state) {
  crdt::ByteWriter w;
  w.varint(feed_pos);
  w.bytes(scope);
  state.encode(w);
  return w.take();
}

std::string Replica::Impl::seal_record(std::string_view rkey, std::string_view payload,
                                       const RecordDict* dict) const {
  std::string plain;
  if (dict) {
    plain.resize(1 + 8 + ZSTD_compressBound(payload.size()));
    plain[0] = static_cast<char>(kRecordZstdDict);
    std::string id;
    engine::put_be64(id, dict->id);
    std::copy(id.begin(), id.end(), plain.begin() + 1);
    const size_t n =
        ZSTD_compress_usingCDict(compress_context(), plain.data() + 9, plain.size() - 9,
                                 payload.data(), payload.size(), dict->compress);
    if (!ZSTD_isError(n) && n < payload.size()) {
      plain.resize(9 + n);
      return engine::aead_seal(record_key, plain, rkey);
    }
  }
  plain.assign(1, static_cast<char>(kRecordPlain));
  plain.append(payload);
  return engine::aead_seal(record_key, plain, rkey);
}

Status Replica::Impl::open_record(const Txn& txn, std::string_view rkey, std::string_view sealed,
                                  StoredRecord* out) const {
  auto plain = engine::aead_open(record_key, sealed, rkey);
  if (!plain.is_ok()) {
    return Status::data_loss("stored record cannot be decrypted: " + plain.status().message());
  }
  std::string_view payload = *plain;
  std::string inflated;
  if (payload.empty()) return Status::data_loss("stored record: empty");
  const uint8_t codec = static_cast<uint8_t>(payload[0]);
  payload.remove_prefix(1);
  if (codec == kRecordZstdDict) {
    if (payload.size() < 8) return Status::data_loss("stored record: truncated dictionary id");
    auto dict = record_dict(txn, engine::get_be64(payload.substr(0, 8)));
    if (!dict.is_ok()) return dict.status();
    payload.remove_prefix(8);
    const unsigned long long size = ZSTD_getFrameContentSize(payload.data(), payload.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
        size > kMaxRecordPlaintext) {
      return Status::data_loss("stored record: bad zstd frame");
    }
    inflated.resize(size);
    const size_t n =
        ZSTD_decompress_usingDDict(decompress_context(), inflated.data(), inflated.size(),
                                   payload.data(), payload.size(), (*dict)->decompress);
    if (ZSTD_isError(n) || n != size) {
      return Status::data_loss(std::string("stored record: zstd: ") +
                               (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short frame"));
    }
    payload = inflated;
  } else if (codec != kRecordPlain) {
    return Status::data_loss("stored record: unknown codec " + std::to_string(codec));
  }
  crdt::ByteReader r(payload, "stored record");
  out->feed_pos = r.varint();
  out->scope = std::string(r.bytes());
  out->state = crdt::Record::decode(r);
  Status s = r.finish();
  if (!s.is_ok()) return Status::data_loss(s.message());
  return Status::ok();
}

}  // namespace birga
