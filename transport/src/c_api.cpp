// The C API (birga/birga.h): a noexcept skin over the C++ API. Each function converts its
// arguments, calls the C++ API, and turns every failure (a Status, or an exception such as
// std::bad_alloc) into a birga_error_t; nothing thrown ever reaches the host.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "birga/birga.h"
#include "birga/change_list.h"
#include "birga/file.h"
#include "birga/replica.h"
#include "birga/transport/client.h"
#include "birga/trust.h"

using birga::Code;
using birga::Status;

struct birga_error_t {
  Code code;
  std::string message;
};

struct birga_replica_t {
  std::unique_ptr<birga::Replica> replica;
};

struct birga_txn_t {
  explicit birga_txn_t(birga::Replica* r) : replica(r), txn(r->begin()) {}
  birga::Replica* replica;
  birga::Transaction txn;
  Status error;  // the first failure the C layer saw (bad id, NULL text)
  // An exception caught in an op: its code and static text (nullptr: none).
  std::pair<Code, const char*> exception{Code::kOk, nullptr};
};

struct birga_alerts_t {
  std::vector<birga::Alert> alerts;
  std::vector<birga_alert_t> views;  // pointing into `alerts`
};

struct birga_record_t {
  struct Field {
    std::string name;
    const char* kind;
    std::vector<std::string> values;
  };
  std::string scope;
  bool conflict = false;
  bool deleted = false;
  std::vector<Field> fields;
};

namespace {

static_assert(BIRGA_OK == static_cast<int>(Code::kOk) &&
              BIRGA_INVALID_ARGUMENT == static_cast<int>(Code::kInvalidArgument) &&
              BIRGA_NOT_FOUND == static_cast<int>(Code::kNotFound) &&
              BIRGA_ALREADY_EXISTS == static_cast<int>(Code::kAlreadyExists) &&
              BIRGA_PERMISSION_DENIED == static_cast<int>(Code::kPermissionDenied) &&
              BIRGA_CORRUPT_INPUT == static_cast<int>(Code::kCorruptInput) &&
              BIRGA_UNAVAILABLE == static_cast<int>(Code::kUnavailable) &&
              BIRGA_RESOURCE_EXHAUSTED == static_cast<int>(Code::kResourceExhausted) &&
              BIRGA_DATA_LOSS == static_cast<int>(Code::kDataLoss) &&
              BIRGA_INTERNAL == static_cast<int>(Code::kInternal));
static_assert(BIRGA_KIND_TRANSIENT == static_cast<int>(birga::Kind::kTransient) &&
              BIRGA_KIND_PERMANENT == static_cast<int>(birga::Kind::kPermanent) &&
              BIRGA_KIND_DATA_LOSS == static_cast<int>(birga::Kind::kDataLoss));

// Handed out when even an error cannot be allocated; never freed. (The message fits the
// small-string buffer, so constructing it allocates nothing.)
birga_error_t g_out_of_memory{Code::kResourceExhausted, "out of memory"};

void set_error(birga_error_t** err, Code code, const char* message) noexcept {
  if (!err) return;
  birga_error_free(*err);
  try {
    *err = new birga_error_t{code, message};
  } catch (...) {
    *err = &g_out_of_memory;
  }
}

void set_error(birga_error_t** err, const Status& s) noexcept {
  set_error(err, s.code(), s.message().c_str());
}

// Sets *err and returns nullptr, for the functions that return a pointer.
std::nullptr_t failed(birga_error_t** err, const Status& s) noexcept {
  set_error(err, s);
  return nullptr;
}

std::nullptr_t failed(birga_error_t** err, Code code, const char* message) noexcept {
  set_error(err, code, message);
  return nullptr;
}

// Sets *err when `s` failed; returns its code (BIRGA_OK when it did not).
int failed_code(birga_error_t** err, const Status& s) noexcept {
  if (!s.is_ok()) set_error(err, s);
  return static_cast<int>(s.code());
}

// The code and static text for the exception being handled.
std::pair<Code, const char*> current_exception() noexcept {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return {Code::kResourceExhausted, "out of memory"};
  } catch (...) {
    return {Code::kInternal, "internal error: an exception inside Birga's C API"};
  }
}

// Runs `fn`; an exception becomes an error and `on_failure` is returned instead. Every exported
// function that can fail runs its whole body in it, the checks of its arguments included
// (`if (!x) return failed...(err, null_argument("x"))`), so that building even that error
// cannot throw past the C boundary.
template <typename R, typename F>
R guard(birga_error_t** err, R on_failure, F&& fn) noexcept {
  try {
    return fn();
  } catch (...) {
    const auto [code, message] = current_exception();
    set_error(err, code, message);
    return on_failure;
  }
}

// guard for the functions that return a BIRGA_* code.
template <typename F>
int guard_code(birga_error_t** err, F&& fn) noexcept {
  return guard(err, static_cast<int>(BIRGA_INTERNAL), std::forward<F>(fn));
}

// A malloc'd copy of `s`, for birga_free (throws std::bad_alloc on failure).
char* dup(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (!p) throw std::bad_alloc();
  std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

// A NULL-terminated malloc'd list, for birga_strings_free.
char** dup_list(const std::vector<std::string>& items) {
  char** list = static_cast<char**>(std::calloc(items.size() + 1, sizeof(char*)));
  if (!list) throw std::bad_alloc();
  for (size_t i = 0; i < items.size(); ++i) {
    list[i] = static_cast<char*>(std::malloc(items[i].size() + 1));
    if (!list[i]) {
      birga_strings_free(list);
      throw std::bad_alloc();
    }
    std::memcpy(list[i], items[i].c_str(), items[i].size() + 1);
  }
  return list;
}

Status null_argument(const char* what) {
  return Status::invalid_argument(std::string(what) + " is NULL");
}

birga::Result<birga::crdt::RecordId> parse_id(const char* id) {
  if (!id) return null_argument("record id");
  auto parsed = birga::crdt::RecordId::from_hex(id);
  if (!parsed) {
    return Status::invalid_argument("malformed record id '" + std::string(id) +
                                    "': expected 32 hex digits");
  }
  return *parsed;
}

birga::Result<birga::crdt::Schema> read_schema(const std::string& dir) {
  const std::string path = dir + "/schema";
  auto text = birga::read_file(path);
  if (!text.is_ok()) return text.status();
  auto schema = birga::crdt::Schema::parse(*text);
  if (!schema.is_ok()) return schema.status().with_context(path);
  return schema;
}

// The only scope the device's certificate lets it write.
birga::Result<std::string> writable_scope(const birga::Replica& r) {
  const auto cert_bytes = r.certificate();
  const auto authority = r.authority();
  if (!cert_bytes || !authority) {
    return Status::permission_denied("this replica is not enrolled: no certificate installed");
  }
  auto cert = birga::Certificate::parse(*cert_bytes, *authority);
  if (!cert.is_ok()) return cert.status();
  std::vector<std::string> writable;
  for (const birga::ScopeGrant& g : cert->scopes) {
    if (g.rights & birga::kWrite) writable.push_back(g.path);
  }
  if (writable.size() == 1) return writable[0];
  if (writable.empty()) {
    return Status::permission_denied("this device's certificate grants no writable scope");
  }
  return Status::invalid_argument("this device's certificate grants " +
                                  std::to_string(writable.size()) +
                                  " writable scopes: name the scope");
}

// Queues one op on `t` unless the transaction already failed; records the C layer's own
// failures (NULL text, a malformed id, an exception) for commit to report.
template <typename F>
void txn_op(birga_txn_t* t, const char* collection, const char* id, const char* field,
            const char* text, F&& queue) noexcept {
  if (!t || t->exception.second || !t->error.is_ok() || !t->txn.status().is_ok()) return;
  try {
    auto rid = parse_id(id);
    if (!collection || !field || !text) {
      t->error = null_argument(!collection ? "collection" : !field ? "field name" : "value");
    } else if (!rid.is_ok()) {
      t->error = rid.status();
    } else {
      queue(t->txn, std::string(collection), *rid, std::string(field));
    }
  } catch (...) {
    t->exception = current_exception();
  }
}

std::vector<std::string> render(const birga::crdt::Field& f) {
  namespace crdt = birga::crdt;
  std::vector<std::string> out;
  if (const auto* lww = std::get_if<crdt::LwwRegister>(&f)) {
    if (lww->is_set()) out.push_back(crdt::to_display(lww->value()));
  } else if (const auto* mv = std::get_if<crdt::MvRegister>(&f)) {
    for (const crdt::Value& v : mv->values()) out.push_back(crdt::to_display(v));
  } else if (const auto* set = std::get_if<crdt::AwSet>(&f)) {
    for (const crdt::Value& v : set->elements()) out.push_back(crdt::to_display(v));
  } else if (const auto* counter = std::get_if<crdt::Counter>(&f)) {
    out.push_back(std::to_string(counter->value()));
  } else if (const auto* log = std::get_if<crdt::AppendLog>(&f)) {
    for (const crdt::LogAppend& e : log->entries()) out.push_back(crdt::to_display(e.payload));
  }
  return out;
}

const birga_record_t::Field* field_at(const birga_record_t* r, size_t i) {
  return r && i < r->fields.size() ? &r->fields[i] : nullptr;
}

template <typename T>
std::vector<std::string> refs(const std::vector<T>& items) {
  std::vector<std::string> out;
  for (const T& item : items) {
    if (item.collection.empty() || item.collection[0] == '_') continue;
    out.push_back(item.collection + "/" + item.id.to_hex());
  }
  return out;
}

}  // namespace

extern "C" {

// ---- Errors ----

int birga_error_code(const birga_error_t* e) noexcept {
  return e ? static_cast<int>(e->code) : BIRGA_OK;
}

int birga_error_kind(const birga_error_t* e) noexcept {
  return e ? static_cast<int>(birga::kind_of(e->code)) : 0;
}

const char* birga_error_message(const birga_error_t* e) noexcept {
  return e ? e->message.c_str() : "";
}

void birga_error_free(birga_error_t* e) noexcept {
  if (e != &g_out_of_memory) delete e;
}

void birga_free(void* p) noexcept {
  std::free(p);
}

void birga_strings_free(char** list) noexcept {
  if (!list) return;
  for (char** p = list; *p; ++p) std::free(*p);
  std::free(list);
}

const char* birga_version(void) noexcept {
  return BIRGA_VERSION_STRING;
}

// ---- Replica ----

birga_replica_t* birga_replica_open(const char* dir, const char* passphrase,
                                    birga_error_t** err) noexcept {
  return guard(err, static_cast<birga_replica_t*>(nullptr), [&]() -> birga_replica_t* {
    if (!dir || !passphrase) return failed(err, null_argument(!dir ? "dir" : "passphrase"));
    auto schema = read_schema(dir);
    if (!schema.is_ok()) return failed(err, schema.status());
    birga::ReplicaOptions options;
    options.passphrase = passphrase;
    options.schema = std::move(*schema);
    auto replica = birga::Replica::open(dir, std::move(options));
    if (!replica.is_ok()) return failed(err, replica.status());
    return new birga_replica_t{std::move(*replica)};
  });
}

birga_replica_t* birga_replica_create(const char* dir, const char* passphrase,
                                      const char* schema_text, birga_error_t** err) noexcept {
  return guard(err, static_cast<birga_replica_t*>(nullptr), [&]() -> birga_replica_t* {
    if (!dir || !passphrase || !schema_text) {
      return failed(err, null_argument(!dir ? "dir" : !passphrase ? "passphrase" : "schema_text"));
    }
    auto schema = birga::crdt::Schema::parse(schema_text);
    if (!schema.is_ok()) return failed(err, schema.status());
    birga::ReplicaOptions options;
    options.passphrase = passphrase;
    options.schema = std::move(*schema);
    auto replica = birga::Replica::create(dir, std::move(options));
    if (!replica.is_ok()) return failed(err, replica.status());
    // The schema file is what birga_replica_open (and the birga command) read at start;
    // written whole or not at all, as the birga command writes it.
    const Status written = birga::write_file(std::string(dir) + "/schema", schema_text);
    if (!written.is_ok()) {
      // Without its schema file the replica cannot be opened, and a second create would find
      // it and refuse: the store just made goes, so that the app can free space and retry.
      replica->reset();
      birga::remove_new_store(dir);
      return failed(err, written);
    }
    return new birga_replica_t{std::move(*replica)};
  });
}

int birga_replica_install_certificate(birga_replica_t* r, const void* bundle, size_t size,
                                      birga_error_t** err) noexcept {
  return guard_code(err, [&]() -> int {
    if (!r || !bundle) return failed_code(err, null_argument(!r ? "replica" : "bundle"));
    return failed_code(err, r->replica->install_certificate(
                                std::string_view(static_cast<const char*>(bundle), size)));
  });
}

int birga_replica_release_memory(const birga_replica_t* r, birga_error_t** err) noexcept {
  return guard_code(err, [&]() -> int {
    if (!r) return failed_code(err, null_argument("replica"));
    return failed_code(err, r->replica->release_memory());
  });
}

void birga_replica_close(birga_replica_t* r) noexcept {
  delete r;
}

int birga_change_passphrase(const char* dir, const char* current, const char* next,
                            birga_error_t** err) noexcept {
  return guard_code(err, [&]() -> int {
    if (!dir || !current || !next) {
      return failed_code(err, null_argument(!dir ? "dir" : !current ? "current" : "next"));
    }
    return failed_code(err, birga::Replica::change_passphrase(dir, current, next).status());
  });
}

char* birga_replica_device_key(const birga_replica_t* r) noexcept {
  return guard(nullptr, static_cast<char*>(nullptr), [&]() -> char* {
    if (!r) return nullptr;
    return dup(birga::key_hex(r->replica->device_key()));
  });
}

// ---- Writes ----

birga_txn_t* birga_txn_begin(birga_replica_t* r) noexcept {
  return guard(nullptr, static_cast<birga_txn_t*>(nullptr), [&]() -> birga_txn_t* {
    if (!r) return nullptr;
    return new birga_txn_t(r->replica.get());
  });
}

char* birga_txn_create(birga_txn_t* t, const char* collection, const char* scope,
                       birga_error_t** err) noexcept {
  return guard(err, static_cast<char*>(nullptr), [&]() -> char* {
    if (!t) return failed(err, null_argument("transaction"));
    if (t->exception.second) {
      return failed(err, t->exception.first, t->exception.second);
    }
    if (t->error.is_ok() && !collection) t->error = null_argument("collection");
    if (!t->error.is_ok()) return failed(err, t->error);
    auto where =
        scope ? birga::Result<std::string>(std::string(scope)) : writable_scope(*t->replica);
    if (!where.is_ok()) return failed(err, t->error = where.status());
    const birga::crdt::RecordId id = t->txn.create(collection, *where);
    if (!t->txn.status().is_ok()) return failed(err, t->txn.status());
    return dup(id.to_hex());
  });
}

void birga_txn_set_text(birga_txn_t* t, const char* collection, const char* id, const char* field,
                        const char* value) noexcept {
  txn_op(t, collection, id, field, value, [&](auto& txn, auto c, auto rid, auto f) {
    txn.set(c, rid, f, birga::crdt::text(value));
  });
}

void birga_txn_set_int(birga_txn_t* t, const char* collection, const char* id, const char* field,
                       int64_t value) noexcept {
  txn_op(t, collection, id, field, "", [&](auto& txn, auto c, auto rid, auto f) {
    txn.set(c, rid, f, birga::crdt::integer(value));
  });
}

void birga_txn_set_bool(birga_txn_t* t, const char* collection, const char* id, const char* field,
                        int value) noexcept {
  txn_op(t, collection, id, field, "", [&](auto& txn, auto c, auto rid, auto f) {
    txn.set(c, rid, f, birga::crdt::Value(value != 0));
  });
}

void birga_txn_add(birga_txn_t* t, const char* collection, const char* id, const char* field,
                   const char* element) noexcept {
  txn_op(t, collection, id, field, element, [&](auto& txn, auto c, auto rid, auto f) {
    txn.add(c, rid, f, birga::crdt::text(element));
  });
}

void birga_txn_remove(birga_txn_t* t, const char* collection, const char* id, const char* field,
                      const char* element) noexcept {
  txn_op(t, collection, id, field, element, [&](auto& txn, auto c, auto rid, auto f) {
    txn.remove(c, rid, f, birga::crdt::text(element));
  });
}

void birga_txn_append(birga_txn_t* t, const char* collection, const char* id, const char* field,
                      const char* payload) noexcept {
  txn_op(t, collection, id, field, payload, [&](auto& txn, auto c, auto rid, auto f) {
    txn.append(c, rid, f, birga::crdt::text(payload));
  });
}

void birga_txn_increment(birga_txn_t* t, const char* collection, const char* id, const char* field,
                         int64_t delta) noexcept {
  txn_op(t, collection, id, field, "",
         [&](auto& txn, auto c, auto rid, auto f) { txn.increment(c, rid, f, delta); });
}

void birga_txn_delete_record(birga_txn_t* t, const char* collection, const char* id) noexcept {
  txn_op(t, collection, id, "", "",
         [&](auto& txn, auto c, auto rid, auto) { txn.remove_record(c, rid); });
}

void birga_txn_restore_record(birga_txn_t* t, const char* collection, const char* id) noexcept {
  txn_op(t, collection, id, "", "",
         [&](auto& txn, auto c, auto rid, auto) { txn.restore_record(c, rid); });
}

int birga_txn_commit(birga_txn_t* t, birga_error_t** err) noexcept {
  return guard_code(err, [&]() -> int {
    if (!t) return failed_code(err, null_argument("transaction"));
    return failed_code(err, t->exception.second ? Status(t->exception.first, t->exception.second)
                            : !t->error.is_ok() ? t->error
                                                : t->txn.commit());
  });
}

void birga_txn_free(birga_txn_t* t) noexcept {
  delete t;
}

// ---- Reads ----

birga_record_t* birga_replica_get(birga_replica_t* r, const char* collection, const char* id,
                                  birga_error_t** err) noexcept {
  return guard(err, static_cast<birga_record_t*>(nullptr), [&]() -> birga_record_t* {
    if (!r || !collection) return failed(err, null_argument(!r ? "replica" : "collection"));
    auto rid = parse_id(id);
    if (!rid.is_ok()) return failed(err, rid.status());
    auto got = r->replica->get(collection, *rid);
    if (!got.is_ok()) return failed(err, got.status());
    if (!*got) return nullptr;
    const birga::RecordView& view = **got;
    auto rec = std::make_unique<birga_record_t>();
    rec->scope = view.scope;
    rec->conflict = view.in_conflict();
    rec->deleted = view.deleted();
    for (const auto& [key, field] : view.state.fields()) {
      rec->fields.push_back({key.name, birga::crdt::kind_name(key.kind), render(field)});
    }
    return rec.release();
  });
}

int birga_record_in_conflict(const birga_record_t* r) noexcept {
  return r && r->conflict;
}

int birga_record_deleted(const birga_record_t* r) noexcept {
  return r && r->deleted;
}

const char* birga_record_scope(const birga_record_t* r) noexcept {
  return r ? r->scope.c_str() : nullptr;
}

size_t birga_record_field_count(const birga_record_t* r) noexcept {
  return r ? r->fields.size() : 0;
}

const char* birga_record_field_name(const birga_record_t* r, size_t i) noexcept {
  const auto* f = field_at(r, i);
  return f ? f->name.c_str() : nullptr;
}

const char* birga_record_field_kind(const birga_record_t* r, size_t i) noexcept {
  const auto* f = field_at(r, i);
  return f ? f->kind : nullptr;
}

size_t birga_record_value_count(const birga_record_t* r, size_t i) noexcept {
  const auto* f = field_at(r, i);
  return f ? f->values.size() : 0;
}

const char* birga_record_value_text(const birga_record_t* r, size_t i, size_t j) noexcept {
  const auto* f = field_at(r, i);
  return f && j < f->values.size() ? f->values[j].c_str() : nullptr;
}

void birga_record_free(birga_record_t* r) noexcept {
  delete r;
}

char** birga_replica_list(birga_replica_t* r, const char* collection,
                          birga_error_t** err) noexcept {
  return guard(err, static_cast<char**>(nullptr), [&]() -> char** {
    if (!r || !collection) return failed(err, null_argument(!r ? "replica" : "collection"));
    auto records = r->replica->list(collection);
    if (!records.is_ok()) return failed(err, records.status());
    std::vector<std::string> ids;
    for (const birga::RecordView& v : *records) ids.push_back(v.id.to_hex());
    return dup_list(ids);
  });
}

char** birga_replica_conflicts(birga_replica_t* r, birga_error_t** err) noexcept {
  return guard(err, static_cast<char**>(nullptr), [&]() -> char** {
    if (!r) return failed(err, null_argument("replica"));
    auto records = r->replica->conflicts();
    if (!records.is_ok()) return failed(err, records.status());
    return dup_list(refs(*records));
  });
}

char** birga_replica_changed_since(birga_replica_t* r, uint64_t since, uint64_t* next,
                                   birga_error_t** err) noexcept {
  return guard(err, static_cast<char**>(nullptr), [&]() -> char** {
    if (!r) return failed(err, null_argument("replica"));
    auto changed = r->replica->changed_since(since);
    if (!changed.is_ok()) return failed(err, changed.status());
    char** list = dup_list(refs(changed->records));
    if (next) *next = changed->position;
    return list;
  });
}

char** birga_replica_find(birga_replica_t* r, const char* collection, const char* field,
                          const char* value, birga_error_t** err) noexcept {
  return guard(err, static_cast<char**>(nullptr), [&]() -> char** {
    if (!r || !collection || !field || !value) {
      return failed(err, null_argument(!r            ? "replica"
                                       : !collection ? "collection"
                                       : !field      ? "field"
                                                     : "value"));
    }
    const birga::crdt::FieldSpec* spec = r->replica->schema().field(collection, field);
    if (!spec) {
      return failed(err, Status::invalid_argument("the schema has no field '" + std::string(field) +
                                                  "' in '" + collection + "'"));
    }
    // The value as the field's type: the index holds typed values.
    const auto typed = birga::crdt::parse_value(spec->value_type, value);
    if (!typed) {
      return failed(
          err, Status::invalid_argument("'" + std::string(value) + "' is not a value of " + field +
                                        " (" + birga::crdt::type_name(spec->value_type) + ": " +
                                        (spec->value_type == birga::crdt::ValueType::kBool
                                             ? "true or false"
                                             : "a whole number") +
                                        ")"));
    }
    auto records = r->replica->find(collection, field, *typed);
    if (!records.is_ok()) return failed(err, records.status());
    std::vector<std::string> ids;
    for (const birga::RecordView& rv : *records) {
      if (!rv.deleted()) ids.push_back(rv.id.to_hex());
    }
    return dup_list(ids);
  });
}

// ---- Alerts ----

birga_alerts_t* birga_replica_alerts(birga_replica_t* r, birga_error_t** err) noexcept {
  return guard(err, static_cast<birga_alerts_t*>(nullptr), [&]() -> birga_alerts_t* {
    if (!r) return failed(err, null_argument("replica"));
    auto alerts = r->replica->alerts();
    if (!alerts.is_ok()) return failed(err, alerts.status());
    auto out = std::make_unique<birga_alerts_t>();
    out->alerts = std::move(*alerts);
    for (const birga::Alert& a : out->alerts) {
      out->views.push_back({a.position, a.kind.c_str(), a.detail.c_str(), a.acknowledged_ms,
                            a.open() ? nullptr : a.acknowledgement.c_str()});
    }
    return out.release();
  });
}

size_t birga_alerts_count(const birga_alerts_t* alerts) noexcept {
  return alerts ? alerts->views.size() : 0;
}

const birga_alert_t* birga_alerts_get(const birga_alerts_t* alerts, size_t i) noexcept {
  return alerts && i < alerts->views.size() ? &alerts->views[i] : nullptr;
}

void birga_alerts_free(birga_alerts_t* alerts) noexcept {
  delete alerts;
}

int birga_replica_acknowledge_alert(birga_replica_t* r, uint64_t position, const char* note,
                                    birga_error_t** err) noexcept {
  return guard_code(err, [&]() -> int {
    if (!r || !note) return failed_code(err, null_argument(!r ? "replica" : "note"));
    return failed_code(err, r->replica->acknowledge_alert(position, note).status());
  });
}

// ---- Sync ----

int birga_replica_sync(birga_replica_t* r, const char* host, uint16_t port,
                       birga_sync_stats_t* stats, birga_error_t** err) noexcept {
  return birga_replica_sync_with(r, host, port, nullptr, stats, err);
}

int birga_replica_sync_with(birga_replica_t* r, const char* host, uint16_t port,
                            const birga_sync_options_t* options, birga_sync_stats_t* stats,
                            birga_error_t** err) noexcept {
  if (stats) *stats = birga_sync_stats_t{};
  return guard_code(err, [&]() -> int {
    if (!r || !host) return failed_code(err, null_argument(!r ? "replica" : "host"));
    birga::transport::ClientOptions client;
    if (options) {
      constexpr uint32_t kMaxBoundMs = 3'600'000;
      for (const auto& [name, ms] : {std::pair("setup_timeout_ms", options->setup_timeout_ms),
                                     std::pair("idle_timeout_ms", options->idle_timeout_ms)}) {
        if (ms > kMaxBoundMs) {
          return failed_code(
              err, Status::invalid_argument(std::string(name) + " is " + std::to_string(ms) +
                                            " ms; at most 3600000 (one hour)"));
        }
      }
      if (options->setup_timeout_ms) {
        client.setup_timeout = std::chrono::milliseconds(options->setup_timeout_ms);
      }
      if (options->idle_timeout_ms) {
        client.session.idle_timeout = std::chrono::milliseconds(options->idle_timeout_ms);
      }
    }
    const auto result = birga::transport::sync_once(*r->replica, host, port, client);
    if (stats) {
      *stats = {result.stats.changes_sent,
                result.stats.changes_received,
                result.wire_bytes_sent,
                result.wire_bytes_received,
                result.stats.round_trips,
                result.peer_clock_offset_ms.value_or(0),
                result.peer_clock_offset_ms ? 1 : 0};
    }
    // A completed session whose peer did not keep this device's changes is a refusal too.
    return failed_code(err, result.status.is_ok() ? birga::transport::own_changes_not_kept(result)
                                                  : result.status);
  });
}

// ---- Changes by file ----

int birga_replica_export_changes(birga_replica_t* r, const char* path, const char* scope,
                                 uint64_t* changes_written, birga_error_t** err) noexcept {
  if (changes_written) *changes_written = 0;
  return guard_code(err, [&]() -> int {
    if (!r || !path) return failed_code(err, null_argument(!r ? "replica" : "path"));
    auto changes =
        birga::held_changes(*r->replica, scope ? std::optional<std::string>(scope) : std::nullopt);
    if (!changes.is_ok()) return failed_code(err, changes.status());
    const Status written = birga::write_change_list(path, *changes);
    if (written.is_ok() && changes_written) *changes_written = changes->size();
    return failed_code(err, written);
  });
}

int birga_replica_import_changes(birga_replica_t* r, const char* path, birga_import_stats_t* stats,
                                 birga_error_t** err) noexcept {
  if (stats) *stats = birga_import_stats_t{};
  return guard_code(err, [&]() -> int {
    if (!r || !path) return failed_code(err, null_argument(!r ? "replica" : "path"));
    auto file = birga::read_change_list(path);
    if (!file.is_ok()) return failed_code(err, file.status());
    // Counted before the store is touched: a store error below imports nothing, so the counts
    // of what became of the changes stay 0.
    if (stats) stats->changes_read = file->changes.size();
    auto imported = birga::import_change_list(*r->replica, *file);
    if (!imported.is_ok()) return failed_code(err, imported.status());
    const birga::IngestReport& report = imported->report;
    if (stats) {
      // A change not held because too many of its author's already wait (deferred) counts
      // as pending: it waits for the same earlier change, and is imported again later.
      *stats = {file->changes.size(), report.applied,
                report.duplicates,    report.pending + report.deferred,
                report.sealed_only,   report.quarantined,
                report.refused.size()};
    }
    Status status = imported->status;
    // The CLI prints every refusal; a host has only the message, so it names the first.
    if (!status.is_ok() && !report.refused.empty()) {
      status = Status(status.code(),
                      status.message() + "; the first refusal: " + report.refused[0].message());
    }
    return failed_code(err, status);
  });
}

}  // extern "C"
