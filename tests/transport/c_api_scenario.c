/* A device app written in plain C99 against birga.h: it writes a case and a visit, reads them
 * back, has bad writes refused, syncs with a hub, sees a concurrent guardian change as a
 * conflict, resolves it and deletes a record; and two devices that carry their changes by file
 * where no network reaches. Compiled as C, it also proves the header is C.
 * Every check that fails records its line and the error's message and ends the step; every
 * handle is freed on every path (the sanitizer build checks for leaks). */
#include "c_api_scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* `out` is a result struct with a `failure` buffer (either scenario's). */
#define CHECK(cond)                                                  \
  do {                                                               \
    if (!(cond)) {                                                   \
      fail(out->failure, sizeof out->failure, __LINE__, #cond, err); \
      goto done;                                                     \
    }                                                                \
  } while (0)

typedef struct {
  birga_replica_t* replica;
  c_api_scenario_result* out;
  uint64_t feed; /* changed_since position */
} run_t;

static void fail(char* failure, size_t size, int line, const char* check,
                 const birga_error_t* err) {
  if (failure[0]) return; /* keep the first */
  snprintf(failure, size, "line %d: %s [%s]", line, check,
           err ? birga_error_message(err) : "no error");
}

static int str_eq(const char* a, const char* b) {
  return a && b && strcmp(a, b) == 0;
}

static int list_has(char** list, const char* s) {
  for (; list && *list; ++list) {
    if (strcmp(*list, s) == 0) return 1;
  }
  return 0;
}

static int field_index(const birga_record_t* rec, const char* name) {
  size_t i;
  for (i = 0; i < birga_record_field_count(rec); ++i) {
    if (str_eq(birga_record_field_name(rec, i), name)) return (int)i;
  }
  return -1;
}

static size_t count_of(const birga_record_t* rec, const char* name) {
  const int i = field_index(rec, name);
  return i < 0 ? 0 : birga_record_value_count(rec, (size_t)i);
}

static const char* value_of(const birga_record_t* rec, const char* name, size_t j) {
  const int i = field_index(rec, name);
  return i < 0 ? NULL : birga_record_value_text(rec, (size_t)i, j);
}

static const char* kind_of(const birga_record_t* rec, const char* name) {
  const int i = field_index(rec, name);
  return i < 0 ? NULL : birga_record_field_kind(rec, (size_t)i);
}

static void ref(char* buf, size_t n, const char* collection, const char* id) {
  snprintf(buf, n, "%s/%s", collection, id);
}

/* One transaction creating a case and a visit to it. */
static int write_records(run_t* run) {
  c_api_scenario_result* out = run->out;
  birga_error_t* err = NULL;
  birga_txn_t* t = birga_txn_begin(run->replica);
  char *case_id = NULL, *visit_id = NULL;
  int ok = 0;
  CHECK(t != NULL);
  case_id = birga_txn_create(t, "case", NULL, &err); /* the device's only writable scope */
  CHECK(case_id != NULL && strlen(case_id) == 32);
  birga_txn_set_text(t, "case", case_id, "title", "Karimova household");
  birga_txn_set_text(t, "case", case_id, "guardian", "Aziza");
  birga_txn_add(t, "case", case_id, "members", "p1:child");
  birga_txn_add(t, "case", case_id, "members", "p2:mother");
  birga_txn_increment(t, "case", case_id, "visits", 3);
  birga_txn_append(t, "case", case_id, "notes", "first visit");
  visit_id = birga_txn_create(t, "visit", NULL, &err);
  CHECK(visit_id != NULL);
  birga_txn_set_text(t, "visit", visit_id, "household", case_id);
  birga_txn_set_int(t, "visit", visit_id, "date", 20000);
  birga_txn_set_bool(t, "visit", visit_id, "consent", 1);
  CHECK(birga_txn_commit(t, &err) == BIRGA_OK && err == NULL);
  memcpy(out->case_id, case_id, 33);
  memcpy(out->visit_id, visit_id, 33);
  ok = 1;
done:
  birga_free(case_id);
  birga_free(visit_id);
  birga_txn_free(t);
  birga_error_free(err);
  return ok;
}

/* A second transaction on the case: remove a member, subtract a visit, append a note. */
static int edit_case(run_t* run) {
  c_api_scenario_result* out = run->out;
  birga_error_t* err = NULL;
  birga_txn_t* t = birga_txn_begin(run->replica);
  int ok = 0;
  CHECK(t != NULL);
  birga_txn_remove(t, "case", out->case_id, "members", "p2:mother");
  birga_txn_increment(t, "case", out->case_id, "visits", -1);
  birga_txn_append(t, "case", out->case_id, "notes", "second visit");
  CHECK(birga_txn_commit(t, &err) == BIRGA_OK);
  ok = 1;
done:
  birga_txn_free(t);
  birga_error_free(err);
  return ok;
}

static int read_back(run_t* run) {
  c_api_scenario_result* out = run->out;
  birga_error_t* err = NULL;
  birga_record_t *kase = NULL, *visit = NULL;
  int ok = 0;
  /* Reads after the store's pages left RSS map them again. */
  CHECK(birga_replica_release_memory(run->replica, &err) == BIRGA_OK && err == NULL);
  CHECK(birga_replica_release_memory(NULL, &err) == BIRGA_INVALID_ARGUMENT && err != NULL);
  birga_error_free(err);
  err = NULL;
  kase = birga_replica_get(run->replica, "case", out->case_id, &err);
  CHECK(kase != NULL && err == NULL);
  CHECK(strlen(birga_record_scope(kase)) > 0);
  CHECK(!birga_record_in_conflict(kase) && !birga_record_deleted(kase));
  CHECK(count_of(kase, "title") == 1 && str_eq(value_of(kase, "title", 0), "Karimova household"));
  CHECK(str_eq(kind_of(kase, "title"), "lww") && str_eq(kind_of(kase, "guardian"), "mv"));
  CHECK(count_of(kase, "guardian") == 1 && str_eq(value_of(kase, "guardian", 0), "Aziza"));
  CHECK(str_eq(kind_of(kase, "members"), "set") && count_of(kase, "members") == 1);
  CHECK(str_eq(value_of(kase, "members", 0), "p1:child"));
  CHECK(str_eq(kind_of(kase, "visits"), "counter") && str_eq(value_of(kase, "visits", 0), "2"));
  CHECK(str_eq(kind_of(kase, "notes"), "log") && count_of(kase, "notes") == 2);
  CHECK(str_eq(value_of(kase, "notes", 0), "first visit"));
  CHECK(str_eq(value_of(kase, "notes", 1), "second visit"));
  CHECK(value_of(kase, "notes", 2) == NULL && birga_record_field_name(kase, 99) == NULL);
  visit = birga_replica_get(run->replica, "visit", out->visit_id, &err);
  CHECK(visit != NULL);
  CHECK(str_eq(value_of(visit, "household", 0), out->case_id));
  CHECK(str_eq(value_of(visit, "date", 0), "20000") &&
        str_eq(value_of(visit, "consent", 0), "true"));
  ok = 1;
done:
  birga_record_free(kase);
  birga_record_free(visit);
  birga_error_free(err);
  return ok;
}

/* Absent records, malformed ids, lists and the change feed. */
static int lookups(run_t* run) {
  c_api_scenario_result* out = run->out;
  birga_error_t* err = NULL;
  birga_record_t* absent =
      birga_replica_get(run->replica, "case", "00000000000000000000000000000000", &err);
  birga_record_t* bad = NULL;
  char **ids = NULL, **changed = NULL;
  char want[64];
  int ok = 0;
  CHECK(absent == NULL && err == NULL);
  bad = birga_replica_get(run->replica, "case", "not-an-id", &err);
  CHECK(bad == NULL && err != NULL && birga_error_code(err) == BIRGA_INVALID_ARGUMENT);
  CHECK(birga_error_kind(err) == BIRGA_KIND_PERMANENT &&
        strstr(birga_error_message(err), "not-an-id"));
  birga_error_free(err);
  err = NULL;
  ids = birga_replica_list(run->replica, "case", &err);
  CHECK(ids != NULL && list_has(ids, out->case_id) && ids[1] == NULL);
  changed = birga_replica_changed_since(run->replica, 0, &run->feed, &err);
  CHECK(changed != NULL && run->feed > 0);
  ref(want, sizeof want, "case", out->case_id);
  CHECK(list_has(changed, want));
  ref(want, sizeof want, "visit", out->visit_id);
  CHECK(list_has(changed, want));
  ok = 1;
done:
  birga_record_free(absent);
  birga_record_free(bad);
  birga_strings_free(ids);
  birga_strings_free(changed);
  birga_error_free(err);
  return ok;
}

/* Bad writes fail at commit with the first invalid op's error, and write nothing. */
static int refusals(run_t* run) {
  c_api_scenario_result* out = run->out;
  birga_error_t* err = NULL;
  birga_txn_t* t = birga_txn_begin(run->replica);
  birga_record_t* kase = NULL;
  char* id = NULL;
  int ok = 0;
  CHECK(t != NULL);
  birga_txn_set_text(t, "case", out->case_id, "title", "never written");
  birga_txn_set_text(t, "case", out->case_id, "colour", "blue");
  birga_txn_set_int(t, "case", out->case_id, "title", 7); /* also wrong, but not first */
  CHECK(birga_txn_commit(t, &err) == BIRGA_INVALID_ARGUMENT);
  CHECK(strstr(birga_error_message(err), "colour") != NULL);
  birga_txn_free(t);
  t = birga_txn_begin(run->replica);
  birga_txn_set_int(t, "case", out->case_id, "title", 7);
  CHECK(birga_txn_commit(t, &err) == BIRGA_INVALID_ARGUMENT &&
        strstr(birga_error_message(err), "title"));
  birga_txn_free(t);
  t = birga_txn_begin(run->replica);
  birga_txn_set_text(t, "case", "xyz", "title", "x");
  CHECK(birga_txn_commit(t, &err) == BIRGA_INVALID_ARGUMENT &&
        strstr(birga_error_message(err), "xyz"));
  birga_txn_free(t);
  t = birga_txn_begin(run->replica);
  birga_error_free(err);
  err = NULL;
  id = birga_txn_create(t, "no_such_collection", NULL, &err);
  CHECK(id == NULL && birga_error_code(err) == BIRGA_INVALID_ARGUMENT);
  CHECK(birga_txn_commit(t, NULL) == BIRGA_INVALID_ARGUMENT); /* the create failed the txn */
  kase = birga_replica_get(run->replica, "case", out->case_id, &err);
  CHECK(kase != NULL && str_eq(value_of(kase, "title", 0), "Karimova household"));
  ok = 1;
done:
  birga_free(id);
  birga_record_free(kase);
  birga_txn_free(t);
  birga_error_free(err);
  return ok;
}

static int set_guardian(run_t* run, const char* guardian) {
  c_api_scenario_result* out = run->out;
  birga_error_t* err = NULL;
  birga_txn_t* t = birga_txn_begin(run->replica);
  int ok = 0;
  birga_txn_set_text(t, "case", out->case_id, "guardian", guardian);
  CHECK(birga_txn_commit(t, &err) == BIRGA_OK);
  ok = 1;
done:
  birga_txn_free(t);
  birga_error_free(err);
  return ok;
}

/* The first sync sends the case and brings the hub's visit. */
static int first_sync(run_t* run, const char* host, uint16_t port) {
  c_api_scenario_result* out = run->out;
  birga_error_t* err = NULL;
  char** changed = NULL;
  char** p;
  int ok = 0;
  CHECK(birga_replica_sync(run->replica, host, port, &out->first_sync, &err) == BIRGA_OK);
  CHECK(err == NULL && out->first_sync.changes_sent >= 1 && out->first_sync.changes_received >= 1);
  CHECK(out->first_sync.bytes_sent > 0 && out->first_sync.bytes_received > 0);
  changed = birga_replica_changed_since(run->replica, run->feed, &run->feed, &err);
  CHECK(changed != NULL);
  for (p = changed; *p; ++p) {
    if (strncmp(*p, "visit/", 6) == 0 && strcmp(*p + 6, out->visit_id) != 0) ++out->hub_visits;
  }
  CHECK(out->hub_visits >= 1);
  ok = 1;
done:
  birga_strings_free(changed);
  birga_error_free(err);
  return ok;
}

/* The device and the hub set the guardian concurrently: after the second sync the case is in
 * conflict with both values; setting it again here resolves it. */
static int conflict(run_t* run, const char* host, uint16_t port, c_api_scenario_hook hook,
                    void* ctx) {
  c_api_scenario_result* out = run->out;
  birga_error_t* err = NULL;
  birga_record_t* kase = NULL;
  char** conflicts = NULL;
  char want[64];
  int ok = 0;
  ref(want, sizeof want, "case", out->case_id);
  CHECK(set_guardian(run, "Bobur"));
  hook(ctx, out->case_id);
  CHECK(birga_replica_sync(run->replica, host, port, &out->second_sync, &err) == BIRGA_OK);
  kase = birga_replica_get(run->replica, "case", out->case_id, &err);
  CHECK(kase != NULL && birga_record_in_conflict(kase));
  out->guardians = count_of(kase, "guardian");
  CHECK(out->guardians == 2);
  CHECK(str_eq(value_of(kase, "guardian", 0), "Bobur") ||
        str_eq(value_of(kase, "guardian", 1), "Bobur"));
  CHECK(str_eq(value_of(kase, "guardian", 0), "Karim") ||
        str_eq(value_of(kase, "guardian", 1), "Karim"));
  conflicts = birga_replica_conflicts(run->replica, &err);
  CHECK(conflicts != NULL && list_has(conflicts, want));
  birga_strings_free(conflicts);
  birga_record_free(kase);
  conflicts = NULL;
  kase = NULL;
  CHECK(set_guardian(run, "Bobur")); /* observes both values: resolves */
  kase = birga_replica_get(run->replica, "case", out->case_id, &err);
  CHECK(kase != NULL && !birga_record_in_conflict(kase) && count_of(kase, "guardian") == 1);
  conflicts = birga_replica_conflicts(run->replica, &err);
  CHECK(conflicts != NULL && !list_has(conflicts, want));
  ok = 1;
done:
  birga_strings_free(conflicts);
  birga_record_free(kase);
  birga_error_free(err);
  return ok;
}

static int delete_visit(run_t* run) {
  c_api_scenario_result* out = run->out;
  birga_error_t* err = NULL;
  birga_txn_t* t = birga_txn_begin(run->replica);
  birga_record_t* visit = NULL;
  char** ids = NULL;
  int ok = 0;
  birga_txn_delete_record(t, "visit", out->visit_id);
  CHECK(birga_txn_commit(t, &err) == BIRGA_OK);
  visit = birga_replica_get(run->replica, "visit", out->visit_id, &err);
  CHECK(visit != NULL && birga_record_deleted(visit));
  ids = birga_replica_list(run->replica, "visit", &err);
  CHECK(ids != NULL && !list_has(ids, out->visit_id));
  ok = 1;
done:
  birga_strings_free(ids);
  birga_record_free(visit);
  birga_txn_free(t);
  birga_error_free(err);
  return ok;
}

int c_api_scenario_run(const char* dir, const char* passphrase, const char* host, uint16_t port,
                       c_api_scenario_hook hook, void* ctx, c_api_scenario_result* out) {
  birga_error_t* err = NULL;
  char* key = NULL;
  run_t run;
  memset(out, 0, sizeof *out);
  run.out = out;
  run.feed = 0;
  run.replica = birga_replica_open(dir, passphrase, &err);
  CHECK(run.replica != NULL && err == NULL);
  CHECK(birga_version() != NULL && strlen(birga_version()) >= 5);
  key = birga_replica_device_key(run.replica);
  CHECK(key != NULL && strlen(key) == 64 && strspn(key, "0123456789abcdef") == 64);
  if (write_records(&run) && edit_case(&run) && read_back(&run) && lookups(&run) &&
      refusals(&run) && first_sync(&run, host, port) && conflict(&run, host, port, hook, ctx)) {
    delete_visit(&run);
  }
done:
  birga_free(key);
  birga_replica_close(run.replica);
  birga_error_free(err);
  return out->failure[0] ? 1 : 0;
}

/* ---- Carrying changes by file ---------------------------------------------------------- */

typedef struct {
  run_t from;                   /* writes (the scenario's steps above), and exports */
  c_api_scenario_result writes; /* what `from` wrote: the case's and the visit's ids */
  birga_replica_t* to;          /* imports */
  const char* scope;
  const char* work_dir;
  c_api_carry_result* out;
} carry_t;

/* DIR/name, in buf. */
static const char* in_dir(char* buf, size_t n, const char* dir, const char* name) {
  snprintf(buf, n, "%s/%s", dir, name);
  return buf;
}

/* The bytes of the file at `path` (free with free()), their number in *size; NULL when it
 * cannot be read. */
static char* slurp(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  char* bytes = NULL;
  long n;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
    bytes = (char*)malloc((size_t)n);
    if (bytes && fread(bytes, 1, (size_t)n, f) != (size_t)n) {
      free(bytes);
      bytes = NULL;
    }
    *size = (size_t)n;
  }
  fclose(f);
  return bytes;
}

static int spill(const char* path, const char* bytes, size_t size) {
  FILE* f = fopen(path, "wb");
  int ok;
  if (!f) return 0;
  ok = fwrite(bytes, 1, size, f) == size;
  return fclose(f) == 0 && ok;
}

/* The number of values of the case's `field` on `r`; 0 when the case is absent. */
static size_t case_count(birga_replica_t* r, const char* case_id, const char* field) {
  birga_record_t* kase = birga_replica_get(r, "case", case_id, NULL);
  const size_t n = kase ? count_of(kase, field) : 0;
  birga_record_free(kase);
  return n;
}

/* Whether the case's mv `field` on `r` holds `value` alone. */
static int case_holds(birga_replica_t* r, const char* case_id, const char* field,
                      const char* value) {
  birga_record_t* kase = birga_replica_get(r, "case", case_id, NULL);
  const int holds = kase && count_of(kase, field) == 1 && str_eq(value_of(kase, field, 0), value);
  birga_record_free(kase);
  return holds;
}

/* Exports refused (no path, a scope not held), then every scope and the one scope. */
static int carry_export(carry_t* c) {
  c_api_carry_result* out = c->out;
  birga_error_t* err = NULL;
  char path[1024];
  uint64_t written = 99;
  int ok = 0;
  CHECK(birga_replica_export_changes(c->from.replica, NULL, NULL, &written, &err) ==
        BIRGA_INVALID_ARGUMENT);
  CHECK(written == 0 && strstr(birga_error_message(err), "path is NULL"));
  in_dir(path, sizeof path, c->work_dir, "none.bgcl");
  CHECK(birga_replica_export_changes(c->from.replica, path, "tashkent/nowhere", &written, &err) ==
        BIRGA_NOT_FOUND);
  CHECK(birga_error_kind(err) == BIRGA_KIND_PERMANENT);
  CHECK(strstr(birga_error_message(err),
               "this replica holds no changes of scope 'tashkent/nowhere'") != NULL);
  birga_error_free(err);
  err = NULL;
  in_dir(path, sizeof path, c->work_dir, "all.bgcl");
  CHECK(birga_replica_export_changes(c->from.replica, path, NULL, &out->exported, &err) ==
        BIRGA_OK);
  CHECK(err == NULL);
  in_dir(path, sizeof path, c->work_dir, "scope.bgcl");
  CHECK(birga_replica_export_changes(c->from.replica, path, c->scope, &out->exported_scope, &err) ==
        BIRGA_OK);
  /* Every scope is the control scope's changes too (certificates, key envelopes). */
  CHECK(out->exported_scope == 2 && out->exported > out->exported_scope);
  ok = 1;
done:
  birga_error_free(err);
  return ok;
}

/* A copy pulled out half-way: the complete first change (the case and the visit) is imported,
 * not the edit after it, and the error says so. */
static int carry_cut(carry_t* c) {
  c_api_carry_result* out = c->out;
  const char* case_id = c->writes.case_id;
  birga_error_t* err = NULL;
  birga_record_t* visit = NULL;
  char path[1024];
  size_t size = 0;
  char* bytes = slurp(in_dir(path, sizeof path, c->work_dir, "scope.bgcl"), &size);
  int ok = 0;
  CHECK(bytes != NULL && size > 7);
  CHECK(spill(in_dir(path, sizeof path, c->work_dir, "cut.bgcl"), bytes, size - 7));
  CHECK(birga_replica_import_changes(c->to, path, &out->cut, &err) == BIRGA_CORRUPT_INPUT);
  CHECK(strstr(birga_error_message(err),
               "change list: change 2 of 2 is truncated; the 1 complete changes before it "
               "were imported") != NULL);
  CHECK(out->cut.changes_read == 1 && out->cut.applied == 1 && out->cut.refused == 0);
  birga_error_free(err);
  err = NULL;
  CHECK(case_count(c->to, case_id, "notes") == 1 && case_count(c->to, case_id, "members") == 2);
  visit = birga_replica_get(c->to, "visit", c->writes.visit_id, &err);
  CHECK(visit != NULL && str_eq(value_of(visit, "household", 0), case_id));
  ok = 1;
done:
  free(bytes);
  birga_record_free(visit);
  birga_error_free(err);
  return ok;
}

/* The whole file brings the rest; the same file again brings nothing new. */
static int carry_whole(carry_t* c) {
  c_api_carry_result* out = c->out;
  const char* case_id = c->writes.case_id;
  birga_error_t* err = NULL;
  char path[1024];
  int ok = 0;
  in_dir(path, sizeof path, c->work_dir, "all.bgcl");
  CHECK(birga_replica_import_changes(c->to, path, &out->whole, &err) == BIRGA_OK && err == NULL);
  CHECK(out->whole.changes_read == out->exported && out->whole.applied == 1);
  CHECK(out->whole.duplicates == out->exported - 1 && out->whole.refused == 0);
  CHECK(case_count(c->to, case_id, "notes") == 2 && case_count(c->to, case_id, "members") == 1);
  CHECK(birga_replica_import_changes(c->to, path, &out->again, &err) == BIRGA_OK);
  CHECK(out->again.changes_read == out->exported && out->again.duplicates == out->exported);
  CHECK(out->again.applied == 0 && out->again.pending == 0);
  ok = 1;
done:
  birga_error_free(err);
  return ok;
}

/* Files that are no change list, and no file at all: clear errors, and nothing changes. */
static int carry_garbage(carry_t* c) {
  c_api_carry_result* out = c->out;
  birga_error_t* err = NULL;
  birga_import_stats_t stats;
  char path[1024];
  uint64_t before = 0, after = 1;
  char** changed = birga_replica_changed_since(c->to, 0, &before, &err);
  int ok = 0;
  CHECK(changed != NULL && before > 0);
  birga_strings_free(changed);
  changed = NULL;
  CHECK(spill(in_dir(path, sizeof path, c->work_dir, "junk.bgcl"), "not changes\n", 12));
  CHECK(birga_replica_import_changes(c->to, path, &out->garbage, &err) == BIRGA_CORRUPT_INPUT);
  CHECK(strstr(birga_error_message(err), "junk.bgcl: not a change list") != NULL);
  CHECK(out->garbage.changes_read == 0 && out->garbage.applied == 0);
  memset(&stats, 0xff, sizeof stats);
  CHECK(birga_replica_import_changes(c->to, NULL, &stats, &err) == BIRGA_INVALID_ARGUMENT);
  CHECK(strstr(birga_error_message(err), "path is NULL") && stats.changes_read == 0);
  in_dir(path, sizeof path, c->work_dir, "missing.bgcl");
  CHECK(birga_replica_import_changes(c->to, path, NULL, &err) == BIRGA_NOT_FOUND);
  CHECK(strstr(birga_error_message(err), "cannot read ") != NULL);
  birga_error_free(err);
  err = NULL;
  changed = birga_replica_changed_since(c->to, before, &after, &err);
  CHECK(changed != NULL && changed[0] == NULL && after == before);
  ok = 1;
done:
  birga_strings_free(changed);
  birga_error_free(err);
  return ok;
}

/* A third change, and the scope's file with one byte of it flipped: that change is refused,
 * the two before it are held already, and the error names the refusal. */
static int carry_tampered(carry_t* c) {
  c_api_carry_result* out = c->out;
  birga_error_t* err = NULL;
  char path[1024];
  char* bytes = NULL;
  size_t size = 0;
  uint64_t written = 0;
  int ok = 0;
  CHECK(set_guardian(&c->from, "Bobur"));
  in_dir(path, sizeof path, c->work_dir, "scope3.bgcl");
  CHECK(birga_replica_export_changes(c->from.replica, path, c->scope, &written, &err) == BIRGA_OK);
  CHECK(written == 3);
  bytes = slurp(path, &size);
  CHECK(bytes != NULL);
  bytes[size - 1] ^= 1;
  CHECK(spill(in_dir(path, sizeof path, c->work_dir, "tampered.bgcl"), bytes, size));
  CHECK(birga_replica_import_changes(c->to, path, &out->tampered, &err) == BIRGA_INVALID_ARGUMENT);
  CHECK(strstr(birga_error_message(err), "1 of 3 changes in ") != NULL);
  CHECK(strstr(birga_error_message(err),
               "tampered.bgcl were refused (the others are kept); the first refusal: ") != NULL);
  CHECK(strstr(birga_error_message(err), "signature invalid") != NULL);
  CHECK(out->tampered.changes_read == 3 && out->tampered.refused == 1);
  CHECK(out->tampered.duplicates == 2 && out->tampered.applied == 0);
  CHECK(case_holds(c->to, c->writes.case_id, "guardian", "Aziza"));
  ok = 1;
done:
  free(bytes);
  birga_error_free(err);
  return ok;
}

int c_api_carry_run(const char* from_dir, const char* to_dir, const char* passphrase,
                    const char* scope, const char* work_dir, c_api_carry_result* out) {
  birga_error_t* err = NULL;
  carry_t c;
  memset(out, 0, sizeof *out);
  memset(&c, 0, sizeof c);
  c.from.out = &c.writes;
  c.out = out;
  c.scope = scope;
  c.work_dir = work_dir;
  c.from.replica = birga_replica_open(from_dir, passphrase, &err);
  c.to = birga_replica_open(to_dir, passphrase, &err);
  CHECK(c.from.replica != NULL && c.to != NULL && err == NULL);
  /* Two changes in the scope: the case and the visit, then an edit of the case. */
  CHECK(write_records(&c.from) && edit_case(&c.from));
  if (carry_export(&c) && carry_cut(&c) && carry_whole(&c) && carry_garbage(&c)) {
    carry_tampered(&c);
  }
done:
  if (!out->failure[0] && c.writes.failure[0]) {
    snprintf(out->failure, sizeof out->failure, "writing: %.500s", c.writes.failure);
  }
  birga_replica_close(c.from.replica);
  birga_replica_close(c.to);
  birga_error_free(err);
  return out->failure[0] ? 1 : 0;
}
