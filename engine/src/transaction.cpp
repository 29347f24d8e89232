// Transaction: local writes. Ops are checked against the schema as they are queued; commit()
// gives them dots, the HLC time and their observed dots from the current state, seals one
// change per scope and stores and applies it, all in one LMDB write transaction.
#include <algorithm>
#include <map>
#include <new>
#include <set>
#include <system_error>
#include <thread>

#include "parallel.h"
#include "record_batch.h"
#include "replica_impl.h"
#include "store_keys.h"

namespace birga {

using engine::Table;
using engine::Txn;

Transaction::~Transaction() = default;

namespace {

// The refusal of a record created with no op on it: a record exists only through its ops, so
// committing it would report success and store nothing, and the next write to the id would
// find no record.
Status nothing_written(const crdt::RecordId& id, const crdt::CollectionSpec* spec,
                       const std::string& collection) {
  std::string required;
  if (spec) {
    for (const auto& [name, f] : spec->fields) {
      if (f.required) required += (required.empty() ? "'" : ", '") + name + "'";
    }
  }
  return Status::invalid_argument(
      "record " + id.to_hex() + " of '" + collection +
      "' is created but nothing is written to it, so there would be no record to store: set at "
      "least one field of it" +
      (required.empty() ? std::string() : " (and its required fields: " + required + ")") +
      " in the same transaction");
}

}  // namespace

crdt::RecordId Transaction::create(const std::string& collection, const std::string& scope) {
  std::array<uint8_t, 10> random{};
  const std::string r = engine::random_bytes(random.size());
  std::copy(r.begin(), r.end(), random.begin());
  return create(collection, scope, crdt::RecordId::make(crdt::system_wall_clock_ms(), random));
}

crdt::RecordId Transaction::create(const std::string& collection, const std::string& scope,
                                   const crdt::RecordId& id) {
  if (!status_.is_ok()) return id;
  if (Status s = engine::check_name("scope", scope); !s.is_ok()) {
    status_ = s;
  } else if (scope[0] == '_') {
    status_ = Status::invalid_argument("scope names starting with '_' are reserved");
  } else if (!replica_->schema().collection(collection)) {
    status_ = Status::invalid_argument("unknown collection '" + collection + "'");
  } else {
    Created& created = created_scopes_[id];  // an id created again keeps its ops
    created.scope = scope;
    created.collection = collection;
  }
  return id;
}

Transaction& Transaction::queue(crdt::OpKind kind, const std::string& collection,
                                const crdt::RecordId& id, const std::string& field,
                                crdt::Value value, int64_t delta,
                                std::optional<const crdt::FieldSpec*> field_spec) {
  if (!status_.is_ok()) return *this;
  if (committed_) {
    status_ = Status::invalid_argument("transaction already committed");
    return *this;
  }
  // Built in place: a Pending is a few hundred bytes, and a transaction queues thousands.
  Pending& p = ops_.emplace_back();
  p.op.collection = collection;
  p.op.record = id;
  p.op.kind = kind;
  p.op.field = field;
  p.op.value = std::move(value);
  p.op.dot = crdt::Dot{replica_->actor(), 1};  // placeholder until commit
  p.delta = delta;
  // Ops come grouped by record: the record looked up last is usually the one.
  if (!last_created_ || last_created_->first != id) {
    auto created = created_scopes_.find(id);
    last_created_ = created == created_scopes_.end() ? nullptr : &*created;
  }
  if (last_created_) {
    p.scope = &last_created_->second.scope;
    p.creates = true;
  }
  const crdt::CollectionSpec* spec = spec_of(collection);
  Status checked;
  if (spec && spec->immutable && !p.creates) {
    checked = Status::invalid_argument("records of '" + collection +
                                       "' are immutable facts: record a correcting one instead");
  } else {
    checked = !spec        ? replica_->schema().check(p.op)
              : field_spec ? crdt::Schema::check(p.op, *spec, *field_spec)
                           : crdt::Schema::check(p.op, *spec);
  }
  if (!checked.is_ok()) {
    ops_.pop_back();
    status_ = checked;
  } else if (last_created_ && last_created_->second.collection == collection) {
    last_created_->second.touched = true;
  }
  return *this;
}

Transaction& Transaction::set(const std::string& collection, const crdt::RecordId& id,
                              const std::string& field, crdt::Value value) {
  const crdt::FieldSpec* f = nullptr;
  const crdt::CollectionSpec* spec = spec_of(collection);
  if (spec) {
    if (auto it = spec->fields.find(field); it != spec->fields.end()) f = &it->second;
  }
  const auto kind = f && f->storage_kind() == crdt::FieldKind::kMv ? crdt::OpKind::kMvWrite
                                                                   : crdt::OpKind::kLwwWrite;
  return queue(kind, collection, id, field, std::move(value), 0,
               spec ? std::optional(f) : std::nullopt);
}

// Ops usually come many to one collection: the spec looked up last is usually the one.
const crdt::CollectionSpec* Transaction::spec_of(const std::string& collection) {
  if (!last_spec_ || last_spec_->name != collection) {
    last_spec_ = replica_->schema().collection(collection);
  }
  return last_spec_;
}

Transaction& Transaction::add(const std::string& collection, const crdt::RecordId& id,
                              const std::string& field, crdt::Value element) {
  return queue(crdt::OpKind::kSetAdd, collection, id, field, std::move(element));
}

Transaction& Transaction::remove(const std::string& collection, const crdt::RecordId& id,
                                 const std::string& field, crdt::Value element) {
  return queue(crdt::OpKind::kSetRemove, collection, id, field, std::move(element));
}

Transaction& Transaction::increment(const std::string& collection, const crdt::RecordId& id,
                                    const std::string& field, int64_t delta) {
  return queue(crdt::OpKind::kCounterUpdate, collection, id, field, crdt::Value(), delta);
}

Transaction& Transaction::append(const std::string& collection, const crdt::RecordId& id,
                                 const std::string& field, crdt::Value payload) {
  return queue(crdt::OpKind::kLogAppend, collection, id, field, std::move(payload));
}

Transaction& Transaction::remove_record(const std::string& collection, const crdt::RecordId& id) {
  return queue(crdt::OpKind::kRecordDelete, collection, id, "", crdt::Value());
}

Transaction& Transaction::restore_record(const std::string& collection, const crdt::RecordId& id) {
  return queue(crdt::OpKind::kRecordRestore, collection, id, "", crdt::Value());
}

Status Transaction::commit() {
  BIRGA_RETURN_IF_ERROR(status_);
  if (committed_) return Status::invalid_argument("transaction already committed");
  BIRGA_RETURN_IF_ERROR(check_required());
  committed_ = true;
  replica_->impl_->last_commit_ops = ops_.size();
  if (ops_.empty()) return Status::ok();
  return replica_->impl_->commit_local(ops_);
}

// Every record created here must be written, and set its collection's required fields.
Status Transaction::check_required() const {
  for (const auto& [id, created] : created_scopes_) {
    if (!created.touched) {
      return nothing_written(id, replica_->schema().collection(created.collection),
                             created.collection);
    }
  }
  std::map<crdt::RecordId, std::set<std::string>> written;
  std::map<crdt::RecordId, std::string> collection_of;
  auto has_required = [&](const std::string& collection) {
    const crdt::CollectionSpec* spec = replica_->schema().collection(collection);
    return spec && std::any_of(spec->fields.begin(), spec->fields.end(),
                               [](const auto& f) { return f.second.required; });
  };
  const std::string* last_checked = nullptr;  // the collection last found to need no check
  for (const Pending& p : ops_) {
    if (!p.creates) continue;
    if (last_checked && *last_checked == p.op.collection) continue;
    if (!has_required(p.op.collection)) {
      last_checked = &p.op.collection;
      continue;
    }
    written[p.op.record].insert(p.op.field);
    collection_of[p.op.record] = p.op.collection;
  }
  for (const auto& [id, fields] : written) {
    const crdt::CollectionSpec* spec = replica_->schema().collection(collection_of[id]);
    if (!spec) continue;
    for (const auto& [name, f] : spec->fields) {
      if (f.required && !fields.count(name)) {
        return Status::invalid_argument("field '" + name + "' of '" + spec->name +
                                        "' is required when a record is created");
      }
    }
  }
  return Status::ok();
}

namespace {

// True when some lww write in `ops` may be overwritten by a later one. Ops usually come
// grouped by record and write each field once: then no record's ops are split into two runs
// and no run writes one lww field twice, which is checked in one pass.
bool may_overwrite_lww(const std::vector<Transaction::Pending>& ops) {
  constexpr size_t kMaxRunWrites = 32;  // past this, a run is not compared pair by pair
  std::vector<std::pair<const crdt::RecordId*, const std::string*>> runs;
  std::vector<const std::string*> fields;  // the current run's lww fields
  for (size_t i = 0; i < ops.size(); ++i) {
    const crdt::Op& op = ops[i].op;
    if (i == 0 || op.record != ops[i - 1].op.record || op.collection != ops[i - 1].op.collection) {
      runs.emplace_back(&op.record, &op.collection);
      fields.clear();
    }
    if (op.kind != crdt::OpKind::kLwwWrite) continue;
    if (fields.size() == kMaxRunWrites) return true;
    for (const std::string* f : fields) {
      if (*f == op.field) return true;
    }
    fields.push_back(&op.field);
  }
  auto key = [](const auto& run) { return std::tie(*run.first, *run.second); };
  std::sort(runs.begin(), runs.end(),
            [&](const auto& x, const auto& y) { return key(x) < key(y); });
  return std::adjacent_find(runs.begin(), runs.end(), [&](const auto& x, const auto& y) {
           return key(x) == key(y);
         }) != runs.end();
}

// All ops of one change carry the change's time, so two lww writes of one field in one
// transaction would tie: only the last is kept, as the app meant.
void drop_overwritten_lww(std::vector<Transaction::Pending>& ops) {
  if (!may_overwrite_lww(ops)) return;

  // The lww writes in (record, collection, field, position) order: within each run of one
  // field, all but the last position are overwritten.
  std::vector<size_t> lww;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].op.kind == crdt::OpKind::kLwwWrite) lww.push_back(i);
  }
  auto key = [&](size_t i) {
    const crdt::Op& op = ops[i].op;
    return std::tie(op.record.bytes, op.collection, op.field);
  };
  std::sort(lww.begin(), lww.end(),
            [&](size_t a, size_t b) { return std::pair(key(a), a) < std::pair(key(b), b); });
  std::vector<bool> dropped(ops.size(), false);
  size_t n_dropped = 0;
  for (size_t k = 0; k + 1 < lww.size(); ++k) {
    if (key(lww[k]) == key(lww[k + 1])) dropped[lww[k]] = true, ++n_dropped;
  }
  if (n_dropped == 0) return;
  std::vector<Transaction::Pending> kept;
  kept.reserve(ops.size() - n_dropped);
  for (size_t i = 0; i < ops.size(); ++i) {
    if (!dropped[i]) kept.push_back(std::move(ops[i]));
  }
  ops.swap(kept);
}

// Whether an op of this kind records something of the state it is applied to (observe()).
bool observes_state(crdt::OpKind kind) {
  using crdt::OpKind;
  return kind == OpKind::kMvWrite || kind == OpKind::kSetRemove || kind == OpKind::kRecordDelete ||
         kind == OpKind::kRecordRestore || kind == OpKind::kCounterUpdate;
}

// Fills in what an op observed of the record's current state (what it replaces or removes),
// or, for a counter, the author's new running totals.
void observe(crdt::Op& op, const crdt::Record& state, const crdt::ActorId& me, int64_t delta) {
  using crdt::OpKind;
  switch (op.kind) {
    case OpKind::kMvWrite:
      if (const auto* mv = state.get<crdt::MvRegister>(op.field)) op.observed = mv->dots();
      break;
    case OpKind::kSetRemove:
      if (const auto* set = state.get<crdt::AwSet>(op.field)) op.observed = set->dots_of(op.value);
      break;
    case OpKind::kRecordDelete:
      op.observed = state.field_dots();
      break;
    case OpKind::kRecordRestore:
      op.observed = state.delete_dots();
      break;
    case OpKind::kCounterUpdate: {
      const auto* c = state.get<crdt::Counter>(op.field);
      const crdt::CounterUpdate u = (c ? *c : crdt::Counter()).make_add(me, delta);
      op.inc_total = u.inc_total;
      op.dec_total = u.dec_total;
      break;
    }
    default:
      break;
  }
}

}  // namespace

// A sync found this store behind what its device wrote (restored from a backup, or copied):
// every change it wrote from here would fork the device's chain and be quarantined by every
// peer, lost to everyone but this tablet. Such a write is refused, not acknowledged.
Status Replica::Impl::check_not_restored(const Txn& txn) const {
  auto restored = txn.get(Table::kMeta, "restored");
  if (!restored.is_ok()) return restored.status();
  if (!*restored) return Status::ok();
  const uint64_t position = (*restored)->size() == 8 ? engine::get_be64(**restored) : 0;
  return Status::data_loss(
      "this store was restored from a backup or copied from another device (a sync found it "
      "behind what this device itself wrote: alert " +
      std::to_string(position) +
      "), so it takes no new writes: every peer would quarantine them as a fork of this "
      "device's chain. Its records can still be read. Re-enrol the device with a new "
      "key (a new store, `birga init`) and revoke this one");
}

// A range (record_store.cpp) holds up to a whole change's records: changing one of them writes
// them all out as blocks, made from the change. Done in the commit itself for every range it
// touches, that would hold them all in memory at once (a transaction of random edits after a
// bulk import touches every range), so each is written out first, in a write of its own.
// Writing a range out changes no record and no feed position: a crash between these writes
// and the commit loses nothing.
Status Replica::Impl::write_out_ranges(const std::vector<Transaction::Pending>& pending) {
  // A range's sealed value is one record key, a change key and a few numbers; a block of
  // records is rarely this small, and only values this small are opened to tell.
  constexpr size_t kRangeValueMax = 40 + 64 + 2 * 256;
  std::vector<std::pair<std::string, std::string>> ranges;  // collection, key
  BIRGA_RETURN_IF_ERROR(env->read([&](const Txn& txn) -> Status {
    std::set<std::string, std::less<>> seen;  // block keys looked at
    for (const Transaction::Pending& p : pending) {
      if (p.scope) continue;  // a record this transaction creates
      const crdt::Op& op = p.op;
      auto table = txn.records_of(op.collection);
      if (!table.is_ok()) return table.status();
      const std::string rkey = engine::record_key(op.collection, op.record);
      auto floor = txn.floor(*table, engine::collection_prefix(op.collection), rkey);
      if (!floor.is_ok()) return floor.status();
      if (!*floor || (*floor)->value.size() > kRangeValueMax ||
          !seen.emplace((*floor)->key).second) {
        continue;
      }
      OpenedBlock b;
      BIRGA_RETURN_IF_ERROR(open_block(txn, (*floor)->key, (*floor)->value, &b, false));
      if (b.range && !(b.range->last < op.record)) {
        ranges.emplace_back(op.collection, std::string((*floor)->key));
      }
    }
    return Status::ok();
  }));
  for (const auto& [collection, key] : ranges) {
    BIRGA_RETURN_IF_ERROR(env->write([&](Txn& txn) -> Status {
      engine::RecordBatch batch(*this, txn);
      batch.write_out(collection, key);
      return batch.flush();
    }));
  }
  return Status::ok();
}

Status Replica::Impl::commit_local(std::vector<Transaction::Pending>& pending) {
  drop_overwritten_lww(pending);
  BIRGA_RETURN_IF_ERROR(write_out_ranges(pending));
  // The ops are completed in place. The write may run again (map growth): each run assigns
  // their dots, time and observed dots afresh.
  Status written = env->write([&](Txn& txn) -> Status {
    BIRGA_RETURN_IF_ERROR(check_not_restored(txn));
    engine::RecordBatch batch(*this, txn);
    // Group by scope (op indexes), keeping the order of ops within each.
    // The keys view scopes held by the transaction or by the batch's records, which outlive
    // the map.
    std::map<std::string_view, std::vector<size_t>> by_scope;
    std::vector<size_t>* last_group = nullptr;  // ops come many to one scope
    std::string_view last_scope;
    for (size_t i = 0; i < pending.size(); ++i) {
      const Transaction::Pending& p = pending[i];
      const crdt::Op& op = p.op;
      std::string_view scope = p.scope ? std::string_view(*p.scope) : std::string_view();
      if (scope.empty()) {
        auto rec = batch.load(op.collection, op.record);
        if (!rec.is_ok()) return rec.status();
        if (!(*rec)->existed) {
          return Status::not_found("record " + op.record.to_hex() + " of '" + op.collection +
                                   "' does not exist on this device");
        }
        scope = (*rec)->scope;
      }
      if (!last_group || scope != last_scope) last_group = &by_scope[scope], last_scope = scope;
      last_group->push_back(i);
    }
    // Each scope's change is sealed (encoded, compressed, encrypted, signed) on a thread of its
    // own while the records are written; the sealers are joined before anything returns.
    struct Sealing {
      engine::ChangeHeader h;
      std::vector<const crdt::Op*> ops;  // this scope's, in order
      const engine::Key32* key = nullptr;
      Result<std::string> sealed = Status::internal("change not sealed");
      engine::ChangeId id{};  // change_id() of the sealed bytes
    };
    std::vector<Sealing> seals;
    seals.reserve(by_scope.size());
    auto seal = [this](Sealing& s) noexcept {
      try {
        s.sealed = seal_own_change(s.h, s.ops, *s.key, device);
        if (s.sealed.is_ok()) s.id = engine::change_id(*s.sealed);
      } catch (const std::bad_alloc&) {
        s.sealed = Status::resource_exhausted("out of memory while sealing a change");
      } catch (const std::exception& e) {
        s.sealed = Status::internal(std::string("sealing a change: ") + e.what());
      }
    };
    struct Joiner {  // declared after `seal`, so joined before `seal` is destroyed
      std::vector<std::thread> threads;
      ~Joiner() {
        for (std::thread& t : threads) t.join();
      }
    } sealers;

    for (auto& [scope_view, ops] : by_scope) {
      const std::string scope(scope_view);
      BIRGA_RETURN_IF_ERROR(check_own_write(scope));
      const auto epoch = current_epoch(scope);
      if (!epoch) {
        // Where the key comes from is not guessable, and the usual case (a supervisor's first
        // write in a mahalla nobody was enrolled in yet) has a fix: say it.
        return Status::permission_denied(
            "this device holds no data key for scope '" + scope +
            "', so it cannot write there. The authority creates a scope's key when it first "
            "enrols a device with write on exactly '" +
            scope +
            "', and the key reaches each device that may read the scope in that enrolment's "
            "control change: by a sync with a hub that holds it, or by `birga import` of the "
            "authority's control log (`birga authority export`). If nobody has been enrolled "
            "with write on '" +
            scope + "' yet, enrol a device so (this one, with `--scope " + scope +
            ":rw` added to its grants) and install the new bundle");
      }
      auto next = next_change_header(txn, scope, device.public_key);
      if (!next.is_ok()) return next.status();
      engine::ChangeHeader h = std::move(*next);
      h.hlc = clock.now();
      h.key_epoch = *epoch;
      h.schema_version = options.schema.version();

      std::vector<const crdt::Op*> refs(ops.size());
      bool observes = false;
      for (size_t i = 0; i < ops.size(); ++i) {
        crdt::Op& op = pending[ops[i]].op;
        op.dot = engine::op_dot(actor, h.seq, i);
        op.time = h.hlc;
        observes = observes || observes_state(op.kind);
        refs[i] = &op;
      }
      seals.push_back({std::move(h), std::move(refs), find_scope_key(scope, *epoch)});
      Sealing& s = seals.back();
      auto start_sealing = [&] {
        try {
          sealers.threads.emplace_back([&seal, &s] { seal(s); });
        } catch (const std::system_error&) {
          seal(s);  // no thread to be had: seal here
        }
      };
      // Ops that observe nothing are final now: their change is sealed while they are
      // applied. The others are sealed once applying has filled in what they observed.
      if (!observes) start_sealing();
      // The schema was checked when the op was queued; observing changes no kind or type.
      // While the change is sealed on another core, the ops are applied on the others.
      BIRGA_RETURN_IF_ERROR(batch.apply_ops(
          s.ops, scope, engine::change_key(scope, actor, s.h.seq),
          [](size_t, const Status& why) { return why; },
          observes ? engine::RecordBatch::BeforeApply([&](size_t i, const crdt::Record& state) {
            crdt::Op& op = pending[ops[i]].op;
            op.observed = {};  // what an earlier run of this write observed
            observe(op, state, actor, pending[ops[i]].delta);
          })
                   : nullptr,
          observes ? engine::RecordBatch::kAllThreads : engine::threads_beside_helper()));
      if (observes) start_sealing();
    }
    BIRGA_RETURN_IF_ERROR(batch.flush());
    for (std::thread& t : sealers.threads) t.join();
    sealers.threads.clear();
    for (Sealing& s : seals) {
      if (!s.sealed.is_ok()) return s.sealed.status();
      BIRGA_RETURN_IF_ERROR(store_own_change(txn, s.h, *s.sealed, s.id));
    }
    // A large batch is freed while the commit writes and syncs the pages, and waited for
    // before returning: freeing it while the app builds its next transaction would contend
    // with that thread's allocations.
    if (batch.loaded() >= engine::kFreeAsideRecords) disposer.later(batch.release());
    return Status::ok();
  });
  disposer.wait();
  return written;
}

}  // namespace birga
