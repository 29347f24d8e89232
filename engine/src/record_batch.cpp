#include "record_batch.h"

#include <algorithm>
#include <optional>

#include "birga/trust.h"
#include "parallel.h"
#include "store_keys.h"

namespace birga::engine {

namespace {
// A block holds at most this many records, and this many bytes of their payloads (a record
// larger than that has a block of its own). Compressed, such a block usually fits in a leaf
// page beside another.
constexpr size_t kBlockMaxRecords = 32;
constexpr size_t kBlockMaxBytes = 4608;
// LMDB keeps an entry in its leaf page while node header (8 bytes) + key + value fit in this
// many bytes (me_nodemax with 4096-byte pages); a larger value takes overflow pages of its
// own, rounded up to whole pages. A sealed block that would is cut in two and sealed again.
constexpr size_t kLeafNodeMax = 2038;
}  // namespace

Result<LoadedRecord*> RecordBatch::load(const std::string& collection, const crdt::RecordId& id) {
  // Ops come grouped by record: the one asked for last is usually asked for again.
  if (last_ != records_.end() && last_->second.id == id && last_->second.collection == collection) {
    return &last_->second;
  }
  const std::string rkey = record_key(collection, id);
  // Records are mostly loaded in key order: the place after the last one is tried first.
  auto it = records_.end();
  if (last_ == records_.end() || !(last_->first < rkey) ||
      ((it = std::next(last_)) != records_.end() && it->first < rkey)) {
    it = records_.lower_bound(rkey);
  }
  if (it != records_.end() && it->first == rkey) return &(last_ = it)->second;

  LoadedRecord rec;
  rec.collection = collection;
  rec.id = id;
  auto table = txn_.records_of(collection);
  if (!table.is_ok()) return table.status();
  const std::string_view prefix(rkey.data(), rkey.size() - id.bytes.size());
  // The block holding the record is the one with the greatest key <= the record's.
  if (!seek_ || !seek_->covers(table->dbi, prefix, rkey)) {
    std::optional<std::string_view> next;
    auto floor = txn_.floor(*table, prefix, rkey, &next);
    if (!floor.is_ok()) return floor.status();
    Seek s{table->dbi, std::string(prefix), rkey, std::nullopt, std::nullopt, nullptr};
    if (next) s.next = std::string(*next);
    if (*floor) {
      s.floor = std::string((*floor)->key);
      auto b = block(*table, *s.floor, (*floor)->value);  // opened once, for every record in it
      if (!b.is_ok()) return b.status();
      s.floor_block = *b;
    }
    seek_ = std::move(s);
  }
  LoadedBlock* floor_block = seek_->floor_block;
  if (seek_->floor && floor_block->content.range && floor_block->content.range->last < id) {
    // Past the end of a range: a new record. It starts a group of new records rather than
    // joining the range, which would take making and storing all of the range's records.
    rec.block = *seek_->floor + std::string(1, '\0');
  } else if (seek_->floor) {
    rec.block = *seek_->floor;
    BIRGA_RETURN_IF_ERROR(expanded(*seek_->floor, floor_block));
    if (const Replica::Impl::BlockItem* item = floor_block->content.find(id)) {
      Replica::Impl::StoredRecord s;
      BIRGA_RETURN_IF_ERROR(Replica::Impl::open_payload(item->payload, &s));
      rec.feed_pos = s.feed_pos;
      rec.scope = std::move(s.scope);
      rec.state = std::move(s.state);
      rec.existed = true;
      rec.was_conflicted = rec.state.is_conflicted();
      rec.index_before = index_entries(rec);
      rec.source = LoadedRecord::kMixedSource;
    }
  } else {
    // Before the collection's first block: a new record, to be stored with that block (or,
    // when the collection has none, in a block of its own). The keys from the prefix to the
    // record's all start with the prefix and none is in the table, so the first block, if
    // any, is the next key.
    const std::optional<std::string>& next = seek_->next;
    rec.block = next && next->starts_with(prefix) ? *next : std::string(prefix);
  }
  return &(last_ = records_.emplace_hint(it, rkey, std::move(rec)))->second;
}

Result<LoadedBlock*> RecordBatch::block(RecordTable table, const std::string& key,
                                        std::optional<std::string_view> sealed) {
  auto [it, fresh] = blocks_.try_emplace(key);
  if (!fresh) return &it->second;
  if (!sealed) {
    auto stored = txn_.get(table, key);
    if (!stored.is_ok()) {
      blocks_.erase(it);
      return stored.status();
    }
    sealed = *stored;
  }
  if (sealed) {
    if (Status s = replica_.open_block(txn_, key, *sealed, &it->second.content, false);
        !s.is_ok()) {
      blocks_.erase(it);
      return s;
    }
    it->second.stored = true;
  }
  return &it->second;
}

Status RecordBatch::expanded(const std::string& key, LoadedBlock* b) {
  if (b->content.expanded) return Status::ok();
  return replica_.expand_range(txn_, key, &b->content);
}

template <typename OpPtr>
Status RecordBatch::apply_ops(const std::vector<OpPtr>& ops, const std::string& scope,
                              const std::string& change, const Refused& refused,
                              const BeforeApply& before, unsigned threads) {
  uint32_t source = LoadedRecord::kMixedSource;
  if (!change.empty()) {
    if (sources_.empty() || sources_.back() != change) sources_.push_back(change);
    source = static_cast<uint32_t>(sources_.size() - 1);
  }
  std::vector<Status> results(ops.size());
  // Each op's record, loaded in op order; the records touched, in first-touch order; each
  // record's ops chained in order (next_op).
  std::vector<LoadedRecord*> touched;
  std::vector<size_t> next_op(ops.size(), LoadedRecord::kNoOp);
  // Control records (certificates, revocations, key envelopes: collections starting with '_')
  // live in the control scope, which holds nothing else: a writer of a data scope must not
  // make a record that a reader takes for one the authority issued.
  const bool control_scope = scope == kControlScope;
  for (size_t i = 0; i < ops.size(); ++i) {
    const crdt::Op& op = *ops[i];
    const bool control_collection = !op.collection.empty() && op.collection[0] == '_';
    if (control_collection != control_scope) {
      results[i] = Status::permission_denied(
          "op on record " + op.record.to_hex() + " of collection '" + op.collection +
          "' refused in a change of scope '" + scope + "': " +
          (control_scope ? "the control scope holds only the authority's control records"
                         : "collections starting with '_' belong to the control scope"));
      continue;
    }
    auto loaded = load(op.collection, op.record);
    if (!loaded.is_ok()) return loaded.status();
    LoadedRecord* rec = *loaded;
    if (rec->scope.empty()) {
      rec->scope = scope;
    } else if (rec->scope != scope) {
      results[i] =
          Status::permission_denied("op on record " + op.record.to_hex() + " of scope '" +
                                    rec->scope + "' arrived in a change of scope '" + scope + "'");
      continue;
    }
    if (rec->source == LoadedRecord::kNoSource) {
      rec->source = source;
    } else if (rec->source != source) {
      rec->source = LoadedRecord::kMixedSource;
    }
    if (rec->first_op == LoadedRecord::kNoOp) {
      touched.push_back(rec);
      rec->first_op = i;
    } else {
      next_op[rec->last_op] = i;
    }
    rec->last_op = i;
  }
  // Records are independent: each is changed by its own ops only, on one thread.
  std::vector<uint8_t> applied(ops.size(), 0);
  parallel_for(
      touched.size(),
      [&](size_t r) {
        LoadedRecord& rec = *touched[r];
        for (size_t i = rec.first_op; i != LoadedRecord::kNoOp; i = next_op[i]) {
          const crdt::Op& op = *ops[i];
          if (rec.state.has_applied(op.dot)) continue;
          if (before) before(i, rec.state);
          if constexpr (std::is_const_v<std::remove_pointer_t<OpPtr>>) {
            results[i] = rec.state.apply(op);
          } else {
            results[i] = rec.state.apply(std::move(*ops[i]));  // a set removal keeps its value
          }
          if (results[i].is_ok()) applied[i] = 1, rec.dirty = true, rec.removed = false;
        }
      },
      16, threads);
  for (LoadedRecord* rec : touched) rec->first_op = rec->last_op = LoadedRecord::kNoOp;

  for (size_t i = 0; i < ops.size(); ++i) {
    if (!results[i].is_ok()) {
      BIRGA_RETURN_IF_ERROR(refused(i, results[i]));
      continue;
    }
    // A removal from a field that flags them (a member of a household) is raised for review.
    const crdt::Op& op = *ops[i];
    if (!applied[i] || op.kind != crdt::OpKind::kSetRemove || op.observed.empty()) continue;
    const crdt::FieldSpec* f = replica_.options.schema.field(op.collection, op.field);
    if (f && f->flag_removals) {
      BIRGA_RETURN_IF_ERROR(replica_.add_alert(
          txn_, "removed_member",
          "'" + crdt::to_display(op.value) + "' was removed from " + op.field + " of " +
              op.collection + " " + op.record.to_hex() + " by device " +
              op.dot.actor.to_hex().substr(0, 16) + ": review that nobody (a child) was hidden"));
    }
  }
  return Status::ok();
}

template Status RecordBatch::apply_ops(const std::vector<const crdt::Op*>&, const std::string&,
                                       const std::string&, const Refused&, const BeforeApply&,
                                       unsigned);
template Status RecordBatch::apply_ops(const std::vector<crdt::Op*>&, const std::string&,
                                       const std::string&, const Refused&, const BeforeApply&,
                                       unsigned);

RecordBatch::Contents RecordBatch::release() {
  seek_.reset();
  Contents contents{std::move(records_), std::move(blocks_)};
  records_.clear();  // a moved-from map, emptied for certain
  blocks_.clear();
  last_ = records_.end();
  return contents;
}

std::vector<std::string> RecordBatch::index_entries(const LoadedRecord& r) const {
  std::vector<std::string> out;
  const crdt::CollectionSpec* spec = replica_.options.schema.collection(r.collection);
  if (!spec) return out;
  for (const auto& [name, field] : spec->fields) {
    if (!field.indexed) continue;
    if (const auto* lww = r.state.get<crdt::LwwRegister>(name); lww && lww->is_set()) {
      out.push_back(replica_.index_entry(r.collection, name, lww->value()));
    }
    if (const auto* mv = r.state.get<crdt::MvRegister>(name)) {
      for (const crdt::Value& v : mv->values()) {
        out.push_back(replica_.index_entry(r.collection, name, v));
      }
    }
  }
  return out;
}

Status RecordBatch::flush() {
  seek_.reset();  // blocks are written below
  auto next = txn_.get(Table::kMeta, "feed_next");
  if (!next.is_ok()) return next.status();
  uint64_t feed_next = *next && (*next)->size() == 8 ? get_be64(**next) : 1;

  // Each changed record moves to the end of the feed; its payload is encoded first, so that a
  // collection's first large batch can give it its record dictionary.
  // Encoding, compressing and encrypting a record, and working out its index entries, is
  // pure work on its own data, spread over the cores (parallel.h); the LMDB writes then
  // follow in key order on this thread.
  struct Out {
    const std::string* rkey;
    LoadedRecord* rec;
    std::string payload;
    std::vector<std::string> index_after;  // its index entries now
    bool conflicted = false;
    bool in_range = false;  // stored in a range, by reference to its change: no payload
    size_t run_end = 0;     // for the first record of a range: the index past its last
  };
  std::vector<Out> out;
  for (auto& [rkey, rec] : records_) {
    if (!rec.dirty) continue;
    if (rec.feed_pos != 0) {
      // A record of a range has no feed entry of its own (the range's covers it): nothing is
      // deleted then, and the range's entry goes when its block is written below.
      std::string old_pos;
      put_be64(old_pos, rec.feed_pos);
      BIRGA_RETURN_IF_ERROR(txn_.del(Table::kFeed, old_pos));
    }
    rec.feed_pos = rec.removed ? 0 : feed_next++;
    out.push_back({&rkey, &rec, {}, {}, false});
  }

  // The changed records by the block they go to (in record key order, as `out` is). A group of
  // new records with no stored block to join, or the new records past the last record of the
  // stored block they would join, is searched for runs made by one change: a run
  // of at least ReplicaOptions::min_range_records is stored as a range (no payloads to
  // encode, compress or encrypt: its change in the log holds them already). Fewer records cost
  // little to store again, and every read of a range opens its whole change.
  // The ranges write_out() names are groups with no changed record.
  struct Group {
    std::string_view key, collection;
    size_t begin = 0, end = 0;  // its records: out[begin, end)
    RecordTable table;
    LoadedBlock* block = nullptr;
  };
  std::vector<Group> groups;
  for (size_t i = 0; i < out.size(); ++i) {
    if (groups.empty() || groups.back().key != out[i].rec->block) {
      groups.push_back({out[i].rec->block, out[i].rec->collection, i, i, {}, nullptr});
    }
    groups.back().end = i + 1;
  }
  for (const auto& [collection, key] : write_out_) {
    if (std::none_of(groups.begin(), groups.end(), [&](const Group& g) { return g.key == key; })) {
      groups.push_back({key, collection, 0, 0, {}, nullptr});
    }
  }
  for (Group& g : groups) {
    auto table = txn_.records_of(g.collection, true);
    if (!table.is_ok()) return table.status();
    g.table = *table;
    auto b = block(g.table, std::string(g.key));
    if (!b.is_ok()) return b.status();
    g.block = *b;
    if (g.collection.starts_with('_')) continue;  // control records: few, read often
    size_t from = g.begin;
    if (g.block->stored) {
      // New records past a stored block's last record (a bulk sync into a collection that
      // already holds blocks) may still form a range, keyed by its first record; the records
      // up to the block's last one are merged into the block. Not past a range: those start
      // a group of their own when loaded.
      const Replica::Impl::OpenedBlock& c = g.block->content;
      if (c.range || c.items.empty()) continue;
      while (from < g.end && !(c.items.back().id < out[from].rec->id)) ++from;
    }
    for (size_t i = from; i < g.end;) {
      const uint32_t source = out[i].rec->source;
      size_t j = i + 1;
      while (j < g.end && out[j].rec->source == source) ++j;
      const uint64_t min = replica_.options.min_range_records;
      if (source < LoadedRecord::kMixedSource && min > 0 && j - i >= min) {
        out[i].run_end = j;
        for (size_t k = i; k < j; ++k) out[k].in_range = true;
      }
      i = j;
    }
  }

  parallel_for(out.size(), [&](size_t i) {
    const LoadedRecord& rec = *out[i].rec;
    if (rec.removed) return;  // no payload, no index entry, not conflicted
    if (!out[i].in_range) {
      out[i].payload = Replica::Impl::record_payload(rec.feed_pos, rec.scope, rec.state);
    }
    out[i].index_after = index_entries(rec);
    out[i].conflicted = rec.state.is_conflicted();
  });
  // Each collection's dictionary, looked up once; the payloads of a collection that has none
  // yet may make it (only those are gathered).
  std::map<std::string_view, std::shared_ptr<const Replica::Impl::RecordDict>> dicts;
  std::map<std::string_view, std::vector<std::string_view>> without_dict;
  auto dict_of = [&](std::string_view collection) -> Result<const Replica::Impl::RecordDict*> {
    auto [it, fresh] = dicts.try_emplace(collection);
    if (fresh) {
      auto dict = replica_.collection_dict(txn_, collection);
      if (!dict.is_ok()) return dict.status();
      it->second = *dict;
    }
    return it->second.get();
  };
  for (const Out& o : out) {
    if (o.in_range || o.rec->removed) continue;
    auto dict = dict_of(o.rec->collection);
    if (!dict.is_ok()) return dict.status();
    if (!*dict) without_dict[o.rec->collection].push_back(o.payload);
  }
  for (auto& [collection, payloads] : without_dict) {
    auto dict = replica_.make_collection_dict(txn_, collection, payloads);
    if (!dict.is_ok()) return dict.status();
    dicts[collection] = *dict;
  }

  // Each block with changed records is written again: its records merged with the changed
  // ones, cut into blocks of at most kBlockMaxRecords records and kBlockMaxBytes of payloads
  // (filled in order, so records appended at the end leave full blocks behind). A range is
  // one entry of its own, sealed here.
  struct Chunk {
    RecordTable table;
    std::string_view collection;  // the batch's record holds it
    std::string key;
    std::vector<Replica::Impl::BlockItem> items;
    const Replica::Impl::RecordDict* dict = nullptr;
    bool replaces = false;  // stored under the key of the block it rewrites
    std::string sealed;

    // An empty block of `collection` that will start with record `first`, by whose key a
    // block is stored.
    static Chunk starting(RecordTable table, std::string_view collection,
                          const Replica::Impl::RecordDict* dict, const crdt::RecordId& first) {
      Chunk c;
      c.table = table;
      c.collection = collection;
      c.key = record_key(collection, first);
      c.dict = dict;
      return c;
    }
  };
  std::vector<Chunk> chunks;
  std::vector<size_t> to_seal;
  size_t sealed_up_to = 0;
  // Seals the chunks to_seal names; a sealed block too large for a leaf page is cut in two
  // and both halves sealed again. Their items (views of payloads and of opened blocks) are not
  // needed after.
  auto seal_chunks = [&] {
    while (!to_seal.empty()) {
      parallel_for(
          to_seal.size(),
          [&](size_t i) {
            Chunk& c = chunks[to_seal[i]];
            c.sealed = replica_.seal_block(c.key, c.items, c.dict);
          },
          2);
      std::vector<size_t> again;
      for (size_t i : to_seal) {
        if (8 + chunks[i].key.size() + chunks[i].sealed.size() <= kLeafNodeMax ||
            chunks[i].items.size() < 2) {
          continue;
        }
        Chunk& cut = chunks[i];
        const size_t half = cut.items.size() / 2;
        Chunk tail = Chunk::starting(cut.table, cut.collection, cut.dict, cut.items[half].id);
        tail.items.assign(cut.items.begin() + half, cut.items.end());
        cut.items.resize(half);
        chunks.push_back(std::move(tail));
        again.push_back(i);
        again.push_back(chunks.size() - 1);
      }
      to_seal.swap(again);
    }
    for (size_t i = sealed_up_to; i < chunks.size(); ++i) {
      std::vector<Replica::Impl::BlockItem>().swap(chunks[i].items);
    }
    sealed_up_to = chunks.size();
  };
  for (const Group& g : groups) {
    BIRGA_RETURN_IF_ERROR(expanded(std::string(g.key), g.block));
    auto dict = dict_of(g.collection);
    if (!dict.is_ok()) return dict.status();
    const std::vector<Replica::Impl::BlockItem>& kept = g.block->content.items;
    // The records of a range written again as blocks keep their feed positions, each now
    // with an entry of its own in place of the range's.
    const std::optional<Replica::Impl::RangeRef>& was_range = g.block->content.range;
    if (was_range && !*dict) {
      // A collection whose records all came in ranges has no dictionary yet: the first range
      // written out makes it, so that its blocks and every later one are sealed with it.
      std::vector<std::string_view> payloads;
      payloads.reserve(kept.size());
      for (const Replica::Impl::BlockItem& item : kept) payloads.push_back(item.payload);
      auto made = replica_.make_collection_dict(txn_, g.collection, payloads);
      if (!made.is_ok()) return made.status();
      dicts[g.collection] = *made;
      dict = made->get();
    }
    if (was_range) {
      std::string pos;
      put_be64(pos, was_range->first_pos);
      BIRGA_RETURN_IF_ERROR(txn_.del(Table::kFeed, pos));
    }
    std::vector<Replica::Impl::BlockItem> merged;
    merged.reserve(kept.size() + (g.end - g.begin));
    // A stored block whose group is only new ranges past its last record is left as it is.
    const bool untouched = g.block->stored && !was_range && g.begin < g.end &&
                           std::all_of(out.begin() + g.begin, out.begin() + g.end,
                                       [](const Out& o) { return o.in_range; });
    size_t k = untouched ? kept.size() : 0;
    auto keep = [&](size_t until_k) -> Status {
      for (; k < until_k; ++k) {
        merged.push_back(kept[k]);
        if (was_range) {
          std::string pos;
          put_be64(pos, was_range->first_pos + k);
          BIRGA_RETURN_IF_ERROR(txn_.put(Table::kFeed, pos, record_key(g.collection, kept[k].id)));
        }
      }
      return Status::ok();
    };
    size_t next_chunk = chunks.size();  // the first chunk of the next run of blocks
    auto cut = [&] {
      size_t bytes = 0;
      for (const Replica::Impl::BlockItem& item : merged) {
        if (chunks.size() == next_chunk || chunks.back().items.size() >= kBlockMaxRecords ||
            bytes + item.payload.size() > kBlockMaxBytes) {
          chunks.push_back(Chunk::starting(g.table, g.collection, *dict, item.id));
          to_seal.push_back(chunks.size() - 1);
          bytes = 0;
        }
        chunks.back().items.push_back(item);
        bytes += item.payload.size();
      }
      merged.clear();
      next_chunk = chunks.size();
    };
    const size_t first_chunk = chunks.size();
    for (size_t i = g.begin; i < g.end;) {
      const Out& o = out[i];
      auto at = std::lower_bound(kept.begin(), kept.end(), o.rec->id,
                                 [](const Replica::Impl::BlockItem& item, const crdt::RecordId& x) {
                                   return item.id < x;
                                 });
      BIRGA_RETURN_IF_ERROR(keep(at - kept.begin()));
      if (o.in_range) {  // past every stored record of the group: all kept before it
        cut();
        const LoadedRecord& last = *out[o.run_end - 1].rec;
        Replica::Impl::RangeRef range{o.rec->feed_pos, o.run_end - i, last.id,
                                      sources_[o.rec->source]};
        chunks.push_back(Chunk::starting(g.table, g.collection, nullptr, o.rec->id));
        chunks.back().sealed = replica_.seal_range(chunks.back().key, range);
        std::string pos, fed = *o.rkey;
        put_be64(pos, range.first_pos);
        put_be64(fed, range.count);
        BIRGA_RETURN_IF_ERROR(txn_.put(Table::kFeed, pos, fed, Txn::PutHint::kLikelyLast));
        next_chunk = chunks.size();
        i = o.run_end;
        continue;
      }
      if (k < kept.size() && kept[k].id == o.rec->id) ++k;
      if (!o.rec->removed) merged.push_back({o.rec->id, o.payload});
      ++i;
    }
    BIRGA_RETURN_IF_ERROR(keep(kept.size()));
    cut();
    if (g.block->stored && !untouched) {
      if (chunks.size() > first_chunk && chunks[first_chunk].key == g.key) {
        chunks[first_chunk].replaces = true;
      } else {
        BIRGA_RETURN_IF_ERROR(txn_.del(g.table, g.key));
      }
    }
    // Sealed group by group, so that a range written out as blocks (its records made from
    // its change) is freed before the next one is opened.
    seal_chunks();
    if (was_range) {
      std::vector<Replica::Impl::BlockItem>().swap(g.block->content.items);
      std::string().swap(g.block->content.body);
    }
  }
  // In key order, so that blocks past the end of a table are appended.
  std::sort(chunks.begin(), chunks.end(), [](const Chunk& x, const Chunk& y) {
    return std::tie(x.table.dbi, x.key) < std::tie(y.table.dbi, y.key);
  });
  for (const Chunk& c : chunks) {
    BIRGA_RETURN_IF_ERROR(txn_.put(c.table, c.key, c.sealed,
                                   c.replaces ? Txn::PutHint::kNone : Txn::PutHint::kLikelyLast));
  }

  for (Out& o : out) {
    LoadedRecord& rec = *o.rec;
    const std::string& rkey = *o.rkey;

    for (const std::string& e : rec.index_before)
      BIRGA_RETURN_IF_ERROR(txn_.del(Table::kIndex, e, rkey));
    for (const std::string& e : o.index_after) {
      BIRGA_RETURN_IF_ERROR(txn_.put(Table::kIndex, e, rkey));
    }
    if (!rec.removed) BIRGA_RETURN_IF_ERROR(check_duplicates(rec));

    const bool conflicted = o.conflicted;
    if (conflicted && !rec.was_conflicted) {
      BIRGA_RETURN_IF_ERROR(txn_.put(Table::kConflicts, rkey, ""));
    } else if (!conflicted && rec.was_conflicted) {
      BIRGA_RETURN_IF_ERROR(txn_.del(Table::kConflicts, rkey));
    }

    if (o.in_range || rec.removed) continue;  // the range's feed entry covers it; or none
    std::string pos;
    put_be64(pos, rec.feed_pos);
    BIRGA_RETURN_IF_ERROR(txn_.put(Table::kFeed, pos, rkey, Txn::PutHint::kLikelyLast));
  }
  std::string next_bytes;
  put_be64(next_bytes, feed_next);
  BIRGA_RETURN_IF_ERROR(txn_.put(Table::kMeta, "feed_next", next_bytes));
  return replica_.save_clock(txn_);
}

// A value newly held by this record in an alert-duplicates field, that another record also
// holds: both are kept, and the alert names them (two deliveries for one entitlement).
Status RecordBatch::check_duplicates(const LoadedRecord& rec) {
  const crdt::CollectionSpec* spec = replica_.options.schema.collection(rec.collection);
  if (!spec || rec.state.is_deleted()) return Status::ok();
  for (const auto& [name, field] : spec->fields) {
    if (!field.alert_duplicates) continue;
    // The field's value as a reader sees it (a flagged lww field is stored as mv).
    std::optional<crdt::Value> value;
    if (const auto* reg = rec.state.get<crdt::LwwRegister>(name); reg && reg->is_set()) {
      value = reg->value();
    } else if (const auto* mv = rec.state.get<crdt::MvRegister>(name); mv && mv->is_set()) {
      value = mv->latest();
    }
    if (!value) continue;
    const std::string entry = replica_.index_entry(rec.collection, name, *value);
    if (std::find(rec.index_before.begin(), rec.index_before.end(), entry) !=
        rec.index_before.end()) {
      continue;  // held before this batch: already reported
    }
    std::vector<std::string> holders;
    BIRGA_RETURN_IF_ERROR(txn_.scan_dups(Table::kIndex, entry, [&](auto, std::string_view v) {
      std::string coll;
      crdt::RecordId id;
      if (parse_record_key(v, &coll, &id)) holders.push_back(id.to_hex());
      return true;
    }));
    if (holders.size() < 2) continue;
    std::string ids;
    for (const std::string& h : holders) ids += (ids.empty() ? "" : ", ") + h;
    BIRGA_RETURN_IF_ERROR(replica_.add_alert(
        txn_, "over_issuance",
        std::to_string(holders.size()) + " " + rec.collection + " records name " + name + " '" +
            crdt::to_display(*value) + "' (" + ids + "); all are kept, review them"));
  }
  return Status::ok();
}

}  // namespace birga::engine
