// The materialised-record store: records in blocks, and the record dictionaries.
//
// A collection's records are stored in blocks of consecutive records (by record key). A block
// sits in the collection's record table under the key of its first record and is sealed as
// AEAD(record_key, plaintext, AD = that table key), where plaintext is one codec byte, then
//   0: the block body as is;
//   1: the 8-byte id of a record dictionary (big-endian), then the body as one zstd frame
//      compressed with that dictionary;
//   2: the body as one zstd frame (no dictionary).
// The body is varint count, then per record, in ascending id order: id(16), varint length,
// payload. A payload is varint feed position, length-prefixed scope, Record::encode().
// Every record of a block has a key >= the block's key and below the next block's key.
//
// Records of one collection repeat their field names, vocabulary and metadata: compressed
// together (a block) and with a record dictionary (the first large batch's payloads), they
// take a fraction of their size, and one AEAD tag, nonce and LMDB entry serves a whole block.
// A dictionary never changes once made (its id is a hash of its bytes), so a block
// compressed with it can always be read again.
//
// A dictionary is either raw content (payloads) or, when the batch that makes it holds more
// records than the content takes, a zstd dictionary: the content with entropy tables
// gathered by compressing those further records against it. With the tables a small block
// need not build and send its own Huffman and FSE tables: measured on the district
// workload's blocks (4.4 KB of payloads), 28% less time to compress and 6% fewer bytes.
#include <zdict.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <map>
#include <memory>

#include "replica_impl.h"
#include "store_keys.h"
#include "zstd_context.h"

namespace birga {

using engine::Table;
using engine::Txn;

namespace {

constexpr uint8_t kRecordPlain = 0;
constexpr uint8_t kRecordZstdDict = 1;
constexpr uint8_t kRecordZstd = 2;
constexpr uint8_t kRecordRange = 3;
// Level 1 rather than 3: sealing a block of a few kilobytes with a record dictionary takes 11%
// less time (the district workload's create phase: 183.7 ms of sealing against 206.4 ms) for
// frames about 7% larger (storage.md section 10's store: 268,206 bytes of frames against
// 250,333); the district store's record table takes 2% more leaf pages (3,744 against 3,670),
// and its file after create is the same size (28,577,920 bytes against 28,586,112).
constexpr int kRecordZstdLevel = 1;
constexpr size_t kMaxBlockPlaintext = size_t{256} << 20;
// A dictionary is made from a batch holding at least this many records of one collection, of
// at most this many bytes of their payloads.
constexpr size_t kDictMinRecords = 32;
constexpr size_t kDictMaxBytes = 64 << 10;
// Entropy tables are gathered from at least this many records past the content (fewer give
// no reliable statistics), and from at most this many bytes of them.
constexpr size_t kDictMinSamples = 8;
constexpr size_t kDictMaxSampleBytes = 1 << 20;
// Room for the dictionary header and entropy tables beside the content.
constexpr size_t kDictTablesRoom = 8 << 10;

const std::string kDictForPrefix = "dict/";  // + collection -> 8-byte dictionary id
const std::string kDictPrefix = "dictid/";   // + 8-byte id -> the dictionary, sealed

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
    Txn& txn, std::string_view collection, const std::vector<std::string_view>& payloads) {
  if (payloads.size() < kDictMinRecords) return std::shared_ptr<const RecordDict>();
  std::string content;
  size_t used = 0;
  for (; used < payloads.size(); ++used) {
    if (content.size() + payloads[used].size() > kDictMaxBytes) break;
    content += payloads[used];
  }
  if (payloads.size() - used >= kDictMinSamples) {
    std::string samples;
    std::vector<size_t> sizes;
    for (size_t i = used; i < payloads.size(); ++i) {
      if (samples.size() + payloads[i].size() > kDictMaxSampleBytes) break;
      samples += payloads[i];
      sizes.push_back(payloads[i].size());
    }
    std::string dict(content.size() + kDictTablesRoom, '\0');
    ZDICT_params_t params{};
    params.compressionLevel = kRecordZstdLevel;
    const size_t n = ZDICT_finalizeDictionary(dict.data(), dict.size(), content.data(),
                                              content.size(), samples.data(), sizes.data(),
                                              static_cast<unsigned>(sizes.size()), params);
    // Should zstd find no usable statistics, the raw content serves as before.
    if (!ZDICT_isError(n)) {
      dict.resize(n);
      content = std::move(dict);
    }
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

Status Replica::Impl::open_payload(std::string_view payload, StoredRecord* out) {
  crdt::ByteReader r(payload, "stored record");
  out->feed_pos = r.varint();
  out->scope = std::string(r.bytes());
  out->state = crdt::Record::decode(r);
  Status s = r.finish();
  if (!s.is_ok()) return Status::data_loss(s.message());
  return Status::ok();
}

std::string Replica::Impl::seal_block(std::string_view block_key,
                                      const std::vector<BlockItem>& items,
                                      const RecordDict* dict) const {
  crdt::ByteWriter w;
  size_t size = 8;
  for (const BlockItem& item : items) size += 16 + 4 + item.payload.size();
  w.reserve(size);
  w.varint(items.size());
  for (const BlockItem& item : items) {
    w.raw(item.id.bytes.data(), item.id.bytes.size());
    w.bytes(item.payload);
  }
  const std::string& body = w.data();
  std::string plain(9 + ZSTD_compressBound(body.size()), '\0');
  size_t header = 1;
  const engine::CompressContext lease;
  ZSTD_CCtx* cctx = lease.get();
  // The codec byte names the dictionary; the frame does not repeat its id. A dictionary's
  // level and parameters supersede the context's.
  // No context to be had counts as a zstd error: (size_t)-1 is zstd's generic error code.
  size_t n = cctx ? ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters) : SIZE_MAX;
  if (!ZSTD_isError(n)) n = ZSTD_CCtx_setParameter(cctx, ZSTD_c_dictIDFlag, 0);
  if (dict) {
    plain[0] = static_cast<char>(kRecordZstdDict);
    std::string id;
    engine::put_be64(id, dict->id);
    std::copy(id.begin(), id.end(), plain.begin() + 1);
    header = 9;
    if (!ZSTD_isError(n)) n = ZSTD_CCtx_refCDict(cctx, dict->compress);
  } else {
    plain[0] = static_cast<char>(kRecordZstd);
    if (!ZSTD_isError(n))
      n = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, kRecordZstdLevel);
  }
  // On any zstd error the block is stored as is (below), never mislabelled.
  if (!ZSTD_isError(n)) {
    n = ZSTD_compress2(cctx, plain.data() + header, plain.size() - header, body.data(),
                       body.size());
  }
  if (!ZSTD_isError(n) && header + n < 1 + body.size()) {
    plain.resize(header + n);
  } else {
    plain.assign(1, static_cast<char>(kRecordPlain));
    plain.append(body);
  }
  return engine::aead_seal(record_key, plain, block_key);
}

std::string Replica::Impl::seal_range(std::string_view block_key, const RangeRef& range) const {
  crdt::ByteWriter w;
  w.u8(kRecordRange);
  w.varint(range.first_pos);
  w.varint(range.count);
  w.raw(range.last.bytes.data(), range.last.bytes.size());
  w.bytes(range.change);
  return engine::aead_seal(record_key, w.data(), block_key);
}

Status Replica::Impl::expand_range(const Txn& txn, std::string_view block_key,
                                   OpenedBlock* out) const {
  const RangeRef& range = *out->range;
  std::string collection;
  crdt::RecordId first;
  if (!engine::parse_record_key(block_key, &collection, &first)) {
    return Status::data_loss("malformed record key in the store");
  }
  auto sealed = txn.get(Table::kChanges, range.change);
  if (!sealed.is_ok()) return sealed.status();
  if (!*sealed) {
    return Status::data_loss("a stored record range names a change the log does not hold");
  }
  auto v = engine::verify_change(**sealed);
  if (!v.is_ok()) {
    return Status::data_loss("the change a stored record range names does not verify: " +
                             v.status().message());
  }
  const engine::Key32* key = find_scope_key(v->header.scope, v->header.key_epoch);
  if (!key) {
    return Status::data_loss("the change a stored record range names is of scope '" +
                             v->header.scope + "', whose data key this store does not hold");
  }
  auto body = engine::open_change_body(*v, *key);
  if (!body.is_ok()) {
    return Status::data_loss("the change a stored record range names cannot be opened: " +
                             body.status().message());
  }
  auto ops = engine::decode_ops(*body, v->header);
  if (!ops.is_ok()) {
    return Status::data_loss("the change a stored record range names does not decode: " +
                             ops.status().message());
  }
  // The records as RecordBatch::apply_ops made them: each one's ops in change order, a
  // duplicate or refused op skipped; a record no op changed was not stored.
  struct Made {
    crdt::Record state;
    bool changed = false;
  };
  std::map<crdt::RecordId, Made> records;
  for (crdt::Op& op : *ops) {
    if (op.collection != collection || op.record < first || range.last < op.record) continue;
    Made& made = records[op.record];
    if (made.state.has_applied(op.dot)) continue;
    if (made.state.apply(std::move(op)).is_ok()) made.changed = true;
  }
  crdt::ByteWriter w;
  std::vector<std::pair<crdt::RecordId, size_t>> ends;  // id, end of its payload in `w`
  uint64_t pos = range.first_pos;
  for (const auto& [id, made] : records) {
    if (!made.changed) continue;
    w.varint(pos++);
    w.bytes(v->header.scope);
    made.state.encode(w);
    ends.emplace_back(id, w.data().size());
  }
  if (ends.size() != range.count || ends.empty() || !(ends.front().first == first) ||
      !(ends.back().first == range.last)) {
    return Status::data_loss("a stored record range names " + std::to_string(range.count) +
                             " records, and its change makes " + std::to_string(ends.size()) +
                             " there");
  }
  out->body = w.take();
  out->items.clear();
  out->items.reserve(ends.size());
  size_t at = 0;
  for (const auto& [id, end] : ends) {
    out->items.push_back({id, std::string_view(out->body).substr(at, end - at)});
    at = end;
  }
  out->expanded = true;
  return Status::ok();
}

Status Replica::Impl::open_block(const Txn& txn, std::string_view block_key,
                                 std::string_view sealed, OpenedBlock* out, bool expand) const {
  auto plain = engine::aead_open(record_key, sealed, block_key);
  if (!plain.is_ok()) {
    return Status::data_loss("stored record block cannot be decrypted: " +
                             plain.status().message());
  }
  std::string_view data = *plain;
  if (data.empty()) return Status::data_loss("stored record block: empty");
  const uint8_t codec = static_cast<uint8_t>(data[0]);
  data.remove_prefix(1);
  out->range.reset();
  out->expanded = true;
  if (codec == kRecordRange) {
    crdt::ByteReader r(data, "stored record range");
    RangeRef range;
    range.first_pos = r.varint();
    range.count = r.varint();
    r.raw(range.last.bytes.data(), range.last.bytes.size());
    range.change = std::string(r.bytes());
    Status s = r.finish();
    if (!s.is_ok()) return Status::data_loss(s.message());
    if (range.first_pos == 0 || range.count == 0) {
      return Status::data_loss("stored record range: no feed position or no records");
    }
    out->range = std::move(range);
    out->expanded = false;
    out->items.clear();
    return expand ? expand_range(txn, block_key, out) : Status::ok();
  }
  if (codec == kRecordPlain) {
    out->body.assign(data);
  } else if (codec == kRecordZstdDict || codec == kRecordZstd) {
    std::shared_ptr<const RecordDict> dict;
    if (codec == kRecordZstdDict) {
      if (data.size() < 8) return Status::data_loss("stored record block: truncated dictionary id");
      auto found = record_dict(txn, engine::get_be64(data.substr(0, 8)));
      if (!found.is_ok()) return found.status();
      dict = *found;
      data.remove_prefix(8);
    }
    const unsigned long long size = ZSTD_getFrameContentSize(data.data(), data.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
        size > kMaxBlockPlaintext) {
      return Status::data_loss("stored record block: bad zstd frame");
    }
    out->body.resize(size);
    const engine::DecompressContext lease;
    if (!lease.get()) return Status::resource_exhausted("zstd could not allocate a context");
    const size_t n =
        dict ? ZSTD_decompress_usingDDict(lease.get(), out->body.data(), size, data.data(),
                                          data.size(), dict->decompress)
             : ZSTD_decompressDCtx(lease.get(), out->body.data(), size, data.data(), data.size());
    if (ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation) {
      return Status::resource_exhausted("stored record block: zstd: out of memory");
    }
    if (ZSTD_isError(n) || n != size) {
      return Status::data_loss(std::string("stored record block: zstd: ") +
                               (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short frame"));
    }
  } else {
    return Status::data_loss("stored record block: unknown codec " + std::to_string(codec));
  }
  crdt::ByteReader r(out->body, "stored record block");
  const uint64_t n = r.count(16 + 1);
  out->items.clear();
  out->items.reserve(n);
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    BlockItem item;
    r.raw(item.id.bytes.data(), item.id.bytes.size());
    item.payload = r.bytes();
    if (!out->items.empty() && !(out->items.back().id < item.id)) {
      r.fail("records out of order");
    }
    out->items.push_back(item);
  }
  Status s = r.finish();
  if (!s.is_ok()) return Status::data_loss(s.message());
  if (out->items.empty() || block_key.size() < 16 ||
      block_key.substr(block_key.size() - 16) !=
          std::string_view(reinterpret_cast<const char*>(out->items[0].id.bytes.data()), 16)) {
    return Status::data_loss(
        "stored record block does not start with the record it is stored under");
  }
  return Status::ok();
}

bool Replica::Impl::parse_feed_entry(std::string_view value, FeedEntry* out) {
  if (value.empty()) return false;
  const size_t key_size = 1 + static_cast<uint8_t>(value[0]) + 16;
  if (value.size() == key_size) {
    *out = FeedEntry{value, 1, false};
  } else if (value.size() == key_size + 8) {
    *out = FeedEntry{value.substr(0, key_size), engine::get_be64(value.substr(key_size)), true};
  } else {
    return false;
  }
  return out->count != 0;
}

Status Replica::Impl::visit_feed(
    const Txn& txn, uint64_t since,
    const std::function<Status(uint64_t pos, std::string_view rkey)>& fn) const {
  // Each record of a range at or past `from`, as the range's entry at `p0` names them.
  auto range = [&](uint64_t p0, const FeedEntry& e, uint64_t from) -> Status {
    crdt::RecordId id;
    auto table = home_table(txn, e.rkey, &id);
    if (!table.is_ok()) return table.status();
    auto sealed = txn.get(*table, e.rkey);
    if (!sealed.is_ok()) return sealed.status();
    OpenedBlock b;
    if (*sealed) BIRGA_RETURN_IF_ERROR(open_block(txn, e.rkey, **sealed, &b));
    if (!b.range || b.range->first_pos != p0 || b.items.size() != e.count) {
      return Status::data_loss("the change feed names a record range the store does not hold");
    }
    std::string rkey(e.rkey);
    for (size_t i = 0; i < b.items.size(); ++i) {
      if (p0 + i < from) continue;
      std::copy(b.items[i].id.bytes.begin(), b.items[i].id.bytes.end(), rkey.end() - 16);
      BIRGA_RETURN_IF_ERROR(fn(p0 + i, rkey));
    }
    return Status::ok();
  };
  // A range's entry covers the positions from its own on: the entry at or below `since` may
  // cover some past it.
  std::string from;
  engine::put_be64(from, since + 1);
  if (since > 0) {
    std::string at;
    engine::put_be64(at, since);
    auto floor = txn.floor(Table::kFeed, at);
    if (!floor.is_ok()) return floor.status();
    FeedEntry e;
    if (*floor && (*floor)->key.size() == 8 && parse_feed_entry((*floor)->value, &e) && e.range) {
      const uint64_t p0 = engine::get_be64((*floor)->key);
      if (p0 + e.count - 1 > since) BIRGA_RETURN_IF_ERROR(range(p0, e, since + 1));
    }
  }
  Status inner;
  BIRGA_RETURN_IF_ERROR(txn.scan(
      Table::kFeed, "",
      [&](std::string_view k, std::string_view v) {
        FeedEntry e;
        if (k.size() != 8 || !parse_feed_entry(v, &e)) {
          inner = Status::data_loss("malformed change feed entry");
        } else if (e.range) {
          inner = range(engine::get_be64(k), e, 0);
        } else {
          inner = fn(engine::get_be64(k), e.rkey);
        }
        return inner.is_ok();
      },
      from));
  return inner;
}

Result<engine::RecordTable> Replica::Impl::home_table(const Txn& txn, std::string_view rkey,
                                                      crdt::RecordId* id) {
  std::string collection;
  if (!engine::parse_record_key(rkey, &collection, id)) {
    return Status::data_loss("malformed record key in the store");
  }
  return txn.records_of(collection);
}

Result<std::optional<Replica::Impl::StoredRecord>> Replica::Impl::read_record(
    const Txn& txn, std::string_view rkey) const {
  crdt::RecordId id;
  auto table = home_table(txn, rkey, &id);
  if (!table.is_ok()) return table.status();
  auto block = txn.floor(*table, rkey.substr(0, rkey.size() - 16), rkey);
  if (!block.is_ok()) return block.status();
  if (!*block) return std::optional<StoredRecord>();
  OpenedBlock opened;
  BIRGA_RETURN_IF_ERROR(open_block(txn, (*block)->key, (*block)->value, &opened));
  const BlockItem* item = opened.find(id);
  if (!item) return std::optional<StoredRecord>();
  StoredRecord out;
  BIRGA_RETURN_IF_ERROR(open_payload(item->payload, &out));
  return std::optional<StoredRecord>(std::move(out));
}

const Replica::Impl::BlockItem* Replica::Impl::OpenedBlock::find(const crdt::RecordId& id) const {
  auto it =
      std::lower_bound(items.begin(), items.end(), id,
                       [](const BlockItem& item, const crdt::RecordId& x) { return item.id < x; });
  return it != items.end() && it->id == id ? &*it : nullptr;
}

Status Replica::Impl::visit_block(const Txn& txn, std::string_view block_key,
                                  std::string_view sealed, std::string* last_key,
                                  const RecordVisit& fn) const {
  if (block_key.size() < 17) return Status::data_loss("malformed record key in the store");
  if (last_key && !last_key->empty() && block_key <= *last_key) {
    return Status::data_loss("two stored record blocks overlap");
  }
  OpenedBlock opened;
  BIRGA_RETURN_IF_ERROR(open_block(txn, block_key, sealed, &opened));
  std::string rkey(block_key);
  const size_t id_at = rkey.size() - 16;
  for (const BlockItem& item : opened.items) {
    std::copy(item.id.bytes.begin(), item.id.bytes.end(), rkey.begin() + id_at);
    StoredRecord rec;
    BIRGA_RETURN_IF_ERROR(open_payload(item.payload, &rec));
    BIRGA_RETURN_IF_ERROR(fn(rkey, rec));
  }
  if (last_key) *last_key = rkey;
  return Status::ok();
}

Status Replica::Impl::scan_records(const Txn& txn, engine::RecordTable table,
                                   std::string_view prefix, const RecordVisit& fn) const {
  Status problem;
  std::string last_key;
  BIRGA_RETURN_IF_ERROR(txn.scan(table, prefix, [&](std::string_view k, std::string_view v) {
    problem = visit_block(txn, k, v, &last_key, fn);
    return problem.is_ok();
  }));
  return problem;
}

}  // namespace birga
