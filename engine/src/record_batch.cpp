#include "record_batch.h"

#include <algorithm>
#include <optional>

#include "parallel.h"
#include "store_keys.h"

namespace birga::engine {

Result<LoadedRecord*> RecordBatch::load(const std::string& collection, const crdt::RecordId& id) {
  // Ops come grouped by record: the one asked for last is usually asked for again.
  if (last_ && last_->id == id && last_->collection == collection) return last_;
  const std::string rkey = record_key(collection, id);
  auto it = records_.find(rkey);
  if (it != records_.end()) return last_ = &it->second;

  LoadedRecord rec;
  rec.collection = collection;
  rec.id = id;
  auto table = txn_.records_of(collection);
  if (!table.is_ok()) return table.status();
  auto stored = txn_.get(*table, rkey);
  if (!stored.is_ok()) return stored.status();
  if (*stored) {
    Replica::Impl::StoredRecord s;
    BIRGA_RETURN_IF_ERROR(replica_.open_record(txn_, rkey, **stored, &s));
    rec.feed_pos = s.feed_pos;
    rec.scope = std::move(s.scope);
    rec.state = std::move(s.state);
    rec.existed = true;
    rec.was_conflicted = rec.state.is_conflicted();
    rec.index_before = index_entries(rec);
  }
  return last_ = &records_.emplace(rkey, std::move(rec)).first->second;
}

Status RecordBatch::apply(const crdt::Op& op, const std::string& scope) {
  auto loaded = load(op.collection, op.record);
  if (!loaded.is_ok()) return loaded.status();
  LoadedRecord* rec = *loaded;
  if (rec->scope.empty()) {
    rec->scope = scope;
  } else if (rec->scope != scope) {
    return Status::permission_denied("op on record " + op.record.to_hex() + " of scope '" +
                                     rec->scope + "' arrived in a change of scope '" + scope + "'");
  }
  if (rec->state.has_applied(op.dot)) return Status::ok();
  BIRGA_RETURN_IF_ERROR(rec->state.apply(op));
  rec->dirty = true;
  if (op.kind == crdt::OpKind::kSetRemove && !op.observed.empty()) {
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
  auto next = txn_.get(Table::kMeta, "feed_next");
  if (!next.is_ok()) return next.status();
  uint64_t feed_next = *next && (*next)->size() == 8 ? get_be64(**next) : 1;

  // Each changed record moves to the end of the feed; its payload is encoded first, so that a
  // collection's first large batch can give it its record dictionary.
  // Encoding, compressing and encrypting a record is pure work on its own data, spread over
  // the cores (parallel.h); the LMDB writes then follow in key order on this thread.
  struct Out {
    const std::string* rkey;
    LoadedRecord* rec;
    std::string payload;
    const Replica::Impl::RecordDict* dict = nullptr;
    std::string sealed;
  };
  std::vector<Out> out;
  for (auto& [rkey, rec] : records_) {
    if (!rec.dirty) continue;
    if (rec.feed_pos != 0) {
      std::string old_pos;
      put_be64(old_pos, rec.feed_pos);
      BIRGA_RETURN_IF_ERROR(txn_.del(Table::kFeed, old_pos));
    }
    rec.feed_pos = feed_next++;
    out.push_back({&rkey, &rec, {}, nullptr, {}});
  }
  parallel_for(out.size(), [&](size_t i) {
    const LoadedRecord& rec = *out[i].rec;
    out[i].payload = Replica::Impl::record_payload(rec.feed_pos, rec.scope, rec.state);
  });
  // Each collection's dictionary, looked up once; the payloads of a collection that has none
  // yet may make it (only those are gathered).
  std::map<std::string_view, std::shared_ptr<const Replica::Impl::RecordDict>> dicts;
  std::map<std::string_view, std::vector<const std::string*>> without_dict;
  for (const Out& o : out) {
    auto [it, fresh] = dicts.try_emplace(o.rec->collection);
    if (fresh) {
      auto dict = replica_.collection_dict(txn_, o.rec->collection);
      if (!dict.is_ok()) return dict.status();
      it->second = *dict;
    }
    if (!it->second) without_dict[it->first].push_back(&o.payload);
  }
  for (auto& [collection, payloads] : without_dict) {
    auto dict = replica_.make_collection_dict(txn_, collection, payloads);
    if (!dict.is_ok()) return dict.status();
    dicts[collection] = *dict;
  }
  for (Out& o : out) o.dict = dicts[o.rec->collection].get();
  parallel_for(out.size(), [&](size_t i) {
    out[i].sealed = replica_.seal_record(*out[i].rkey, out[i].payload, out[i].dict);
  });

  for (Out& o : out) {
    LoadedRecord& rec = *o.rec;
    const std::string& rkey = *o.rkey;
    auto table = txn_.records_of(rec.collection, true);
    if (!table.is_ok()) return table.status();
    BIRGA_RETURN_IF_ERROR(txn_.put(*table, rkey, o.sealed,
                                   rec.existed ? Txn::PutHint::kNone : Txn::PutHint::kLikelyLast));

    const std::vector<std::string> after = index_entries(rec);
    for (const std::string& e : rec.index_before)
      BIRGA_RETURN_IF_ERROR(txn_.del(Table::kIndex, e, rkey));
    for (const std::string& e : after) BIRGA_RETURN_IF_ERROR(txn_.put(Table::kIndex, e, rkey));
    BIRGA_RETURN_IF_ERROR(check_duplicates(rec));

    const bool conflicted = rec.state.is_conflicted();
    if (conflicted && !rec.was_conflicted) {
      BIRGA_RETURN_IF_ERROR(txn_.put(Table::kConflicts, rkey, ""));
    } else if (!conflicted && rec.was_conflicted) {
      BIRGA_RETURN_IF_ERROR(txn_.del(Table::kConflicts, rkey));
    }

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
