/* birga.h: Birga's C API, the embedding surface for Android (JNI) and other hosts.
 *
 * A thin skin over the C++ API (birga/replica.h, birga/transport/client.h): open a replica,
 * write records in transactions, read record snapshots and lists, sync with a node. Plain C99;
 * every object is an opaque handle and every function is named birga_<object>_<verb>. No C++
 * exception ever crosses it: every failure becomes a birga_error_t.
 *
 * Thread rule: a replica handle, and the transactions begun on it, are used by one thread at a
 * time (the host serialises calls; sync blocks the calling thread until the session ends).
 * Different replica handles (of different directories) may be used from different threads.
 * Record snapshots, string lists and errors are plain values, usable from any thread.
 *
 * Ownership: the caller owns everything returned and frees it with the matching function:
 * char* with birga_free, char** with birga_strings_free, and each handle with its own
 * _close/_free function. Every free function accepts NULL. A const char* returned by an
 * accessor is borrowed: it lives as long as the object it came from. A transaction must be
 * freed before its replica is closed.
 *
 * Errors: every call that can fail takes `birga_error_t** err` as its last parameter. It may be
 * NULL (the error is dropped); otherwise *err must be NULL or hold an earlier error, which a
 * failure frees and replaces. *err is set only on failure; free it with birga_error_free.
 * birga_error_code() says what failed (BIRGA_INVALID_ARGUMENT, ...) and birga_error_kind()
 * whether to retry: TRANSIENT (later may succeed), PERMANENT (the same call fails again) or
 * DATA_LOSS (the store is damaged: stop writing). Calls without an err parameter can fail only
 * by running out of memory, which they report by returning NULL.
 *
 * Ids: a record id is 32 lower-case hex digits; a device key is 64. Text is UTF-8.
 */
#ifndef BIRGA_BIRGA_H_
#define BIRGA_BIRGA_H_

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define BIRGA_API __attribute__((visibility("default")))
#else
#define BIRGA_API
#endif

/* To C++ callers every function is noexcept: no exception ever leaves the library. */
#ifdef __cplusplus
#define BIRGA_NOEXCEPT noexcept
#else
#define BIRGA_NOEXCEPT
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct birga_replica_t birga_replica_t;
typedef struct birga_txn_t birga_txn_t;
typedef struct birga_record_t birga_record_t;
typedef struct birga_error_t birga_error_t;

/* ---- Errors ---------------------------------------------------------------------------- */

/* Error codes: the values of birga::Code (birga/status.h). */
enum {
  BIRGA_OK = 0,
  BIRGA_INVALID_ARGUMENT = 1,   /* malformed input or a schema violation (names the field) */
  BIRGA_NOT_FOUND = 2,          /* a named thing that must exist does not (the schema file) */
  BIRGA_ALREADY_EXISTS = 3,     /* creating something that is there already */
  BIRGA_PERMISSION_DENIED = 4,  /* wrong passphrase, missing right, refused certificate */
  BIRGA_CORRUPT_INPUT = 5,      /* bytes from outside failed a check (protocol error) */
  BIRGA_UNAVAILABLE = 6,        /* peer unreachable, timed out, connection lost */
  BIRGA_RESOURCE_EXHAUSTED = 7, /* disk or map full, out of memory */
  BIRGA_DATA_LOSS = 8,          /* the local store is damaged */
  BIRGA_INTERNAL = 9            /* a broken invariant inside Birga */
};

/* Error kinds: what the caller should do about an error. */
enum {
  BIRGA_KIND_TRANSIENT = 1, /* retry later */
  BIRGA_KIND_PERMANENT = 2, /* do not retry the same call */
  BIRGA_KIND_DATA_LOSS = 3  /* stop writing; the store needs checking (`birga verify`) */
};

/* The error's code (a BIRGA_* constant above). */
BIRGA_API int birga_error_code(const birga_error_t* error) BIRGA_NOEXCEPT;
/* The error's kind (a BIRGA_KIND_* constant): whether to retry. */
BIRGA_API int birga_error_kind(const birga_error_t* error) BIRGA_NOEXCEPT;
/* What went wrong, naming the field, file or peer ("field 'colour' of 'case' is unknown"). */
BIRGA_API const char* birga_error_message(const birga_error_t* error) BIRGA_NOEXCEPT;
/* Frees an error. */
BIRGA_API void birga_error_free(birga_error_t* error) BIRGA_NOEXCEPT;

/* Frees a string returned by this API (char*). */
BIRGA_API void birga_free(void* p) BIRGA_NOEXCEPT;
/* Frees a NULL-terminated string list returned by this API, and every string in it. */
BIRGA_API void birga_strings_free(char** list) BIRGA_NOEXCEPT;
/* The library's version, "major.minor.patch" (static; do not free). */
BIRGA_API const char* birga_version(void) BIRGA_NOEXCEPT;

/* ---- Replica --------------------------------------------------------------------------- */

/* Creates a replica in `dir` (created if absent) with a new device key sealed under
 * `passphrase`, and writes `schema_text` (the schema file format, see docs/data-model.md) to
 * DIR/schema, whole or not at all, as `birga init` does. Its public key
 * (birga_replica_device_key) goes to the authority for enrolment. NULL on failure:
 * BIRGA_INVALID_ARGUMENT when `passphrase` is shorter than 8 bytes (as birga_change_passphrase
 * and `birga init` refuse it; nothing is made); BIRGA_ALREADY_EXISTS when `dir` holds a
 * replica; when the schema file cannot be written,
 * the error of the write (BIRGA_RESOURCE_EXHAUSTED on a full disk), and the store just made
 * is removed again, so that a retry can succeed. */
BIRGA_API birga_replica_t* birga_replica_create(const char* dir, const char* passphrase,
                                                const char* schema_text,
                                                birga_error_t** err) BIRGA_NOEXCEPT;

/* Installs an enrolment bundle (the bytes `birga enrol --out FILE` wrote): the certificate,
 * and the control log with this device's scope keys. Returns BIRGA_OK or the error code. */
BIRGA_API int birga_replica_install_certificate(birga_replica_t* replica, const void* bundle,
                                                size_t size, birga_error_t** err) BIRGA_NOEXCEPT;

/* Opens the replica in `dir` (made by `birga init`, enrolled with `birga cert install`),
 * checking local writes against the schema in the file DIR/schema. NULL on failure: a wrong
 * passphrase is BIRGA_PERMISSION_DENIED, a missing schema file BIRGA_NOT_FOUND. */
BIRGA_API birga_replica_t* birga_replica_open(const char* dir, const char* passphrase,
                                              birga_error_t** err) BIRGA_NOEXCEPT;
/* Closes the replica (every write committed so far is durable). */
BIRGA_API void birga_replica_close(birga_replica_t* replica) BIRGA_NOEXCEPT;
/* Drops the store's pages that this process has read from its resident memory (RSS); they
 * stay in the kernel's page cache, nothing is lost, and the next read maps them again. Call it
 * when the app goes to the background (Android's low-memory killer counts RSS). Returns
 * BIRGA_OK or the error code. */
BIRGA_API int birga_replica_release_memory(const birga_replica_t* replica,
                                           birga_error_t** err) BIRGA_NOEXCEPT;
/* This device's public key as 64 hex digits (free with birga_free). */
BIRGA_API char* birga_replica_device_key(const birga_replica_t* replica) BIRGA_NOEXCEPT;
/* Changes the passphrase of the replica in `dir` from `current` to `next` (a tablet handed to
 * another worker, a passphrase someone saw), and clears from its file the stale copies of the
 * keys sealed under `current`. The replica must be closed: BIRGA_UNAVAILABLE while this
 * process (close it first) or another has it open. BIRGA_PERMISSION_DENIED when `current` is
 * wrong, BIRGA_INVALID_ARGUMENT when `next` is shorter than 8 bytes; `next` equal to `current`
 * seals and clears again (to finish a change whose clearing failed). The keys do not change,
 * so the records stay as they are and peers see no difference; a copy of the directory made
 * before still opens with `current`. Returns BIRGA_OK or the error code. */
BIRGA_API int birga_change_passphrase(const char* dir, const char* current, const char* next,
                                      birga_error_t** err) BIRGA_NOEXCEPT;

/* ---- Writes ------------------------------------------------------------------------------
 * A transaction collects ops and writes them all or none at commit. The ops below report no
 * error themselves: the first invalid one (unknown collection or field, a value of the wrong
 * type or kind, a malformed id, NULL text) makes the transaction fail at commit with an error
 * naming it, and nothing is written. `id` is a record id in hex; `collection` and `field`
 * are names from the schema. */

/* Begins a transaction on `replica`; free it with birga_txn_free (NULL: out of memory). */
BIRGA_API birga_txn_t* birga_txn_begin(birga_replica_t* replica) BIRGA_NOEXCEPT;
/* Creates a record in `collection` and `scope` (NULL: the only scope this device's
 * certificate lets it write); returns its new id, 32 hex (free with birga_free). A failure
 * returns NULL and also makes the commit fail. A record exists only through what is written
 * to it: set at least one field (all its required ones) in the same transaction, or the commit
 * fails with BIRGA_INVALID_ARGUMENT naming the record, and nothing is written. */
BIRGA_API char* birga_txn_create(birga_txn_t* txn, const char* collection, const char* scope,
                                 birga_error_t** err) BIRGA_NOEXCEPT;
/* Sets a text field (an lww or mv field; an mv write replaces the values this replica holds). */
BIRGA_API void birga_txn_set_text(birga_txn_t* txn, const char* collection, const char* id,
                                  const char* field, const char* value) BIRGA_NOEXCEPT;
/* Sets an integer field (money in whole soums, counts). */
BIRGA_API void birga_txn_set_int(birga_txn_t* txn, const char* collection, const char* id,
                                 const char* field, int64_t value) BIRGA_NOEXCEPT;
/* Sets a boolean field (0: false, anything else: true). */
BIRGA_API void birga_txn_set_bool(birga_txn_t* txn, const char* collection, const char* id,
                                  const char* field, int value) BIRGA_NOEXCEPT;
/* Adds a text element to a set field (add wins over a concurrent remove). */
BIRGA_API void birga_txn_add(birga_txn_t* txn, const char* collection, const char* id,
                             const char* field, const char* element) BIRGA_NOEXCEPT;
/* Removes a text element from a set field (the additions this replica has seen). */
BIRGA_API void birga_txn_remove(birga_txn_t* txn, const char* collection, const char* id,
                                const char* field, const char* element) BIRGA_NOEXCEPT;
/* Appends a text entry to a log field (append-only: never edited or removed). */
BIRGA_API void birga_txn_append(birga_txn_t* txn, const char* collection, const char* id,
                                const char* field, const char* payload) BIRGA_NOEXCEPT;
/* Adds `delta` (negative to subtract) to a counter field. */
BIRGA_API void birga_txn_increment(birga_txn_t* txn, const char* collection, const char* id,
                                   const char* field, int64_t delta) BIRGA_NOEXCEPT;
/* Deletes a record (a tombstone; an edit concurrent with it keeps the record visible). */
BIRGA_API void birga_txn_delete_record(birga_txn_t* txn, const char* collection,
                                       const char* id) BIRGA_NOEXCEPT;
/* Undoes the deletes of a record that this replica has seen. */
BIRGA_API void birga_txn_restore_record(birga_txn_t* txn, const char* collection,
                                        const char* id) BIRGA_NOEXCEPT;
/* Writes the ops durably: BIRGA_OK (0), or the code of the first invalid op's error (in *err,
 * naming the field) and nothing written. Commit at most once; then free the transaction. */
BIRGA_API int birga_txn_commit(birga_txn_t* txn, birga_error_t** err) BIRGA_NOEXCEPT;
/* Frees a transaction; an uncommitted one writes nothing. */
BIRGA_API void birga_txn_free(birga_txn_t* txn) BIRGA_NOEXCEPT;

/* ---- Reads ----------------------------------------------------------------------------- */

/* A snapshot of one record (free with birga_record_free); NULL and no error when absent. A
 * deleted record is returned, with birga_record_deleted() true. A malformed id is an error, and
 * so is a `collection` neither in the schema nor held in the store (a misspelt name):
 * BIRGA_INVALID_ARGUMENT "unknown collection '<name>' (not in the schema, and this store holds
 * none of its records)". A collection of a newer schema whose records came by sync is read. */
BIRGA_API birga_record_t* birga_replica_get(birga_replica_t* replica, const char* collection,
                                            const char* id, birga_error_t** err) BIRGA_NOEXCEPT;
/* Nonzero while the record needs a person: an mv field holds concurrent values, or a delete
 * conflicts with an edit. */
BIRGA_API int birga_record_in_conflict(const birga_record_t* record) BIRGA_NOEXCEPT;
/* Nonzero when the record is deleted. */
BIRGA_API int birga_record_deleted(const birga_record_t* record) BIRGA_NOEXCEPT;
/* The scope the record lives in ("tashkent/yunusobod/m0421"). */
BIRGA_API const char* birga_record_scope(const birga_record_t* record) BIRGA_NOEXCEPT;
/* The number of fields written on the record (in name order). */
BIRGA_API size_t birga_record_field_count(const birga_record_t* record) BIRGA_NOEXCEPT;
/* Field i's name; NULL when i is out of range. */
BIRGA_API const char* birga_record_field_name(const birga_record_t* record,
                                              size_t i) BIRGA_NOEXCEPT;
/* Field i's CRDT kind: "lww", "mv", "set", "counter" or "log"; NULL when out of range. */
BIRGA_API const char* birga_record_field_kind(const birga_record_t* record,
                                              size_t i) BIRGA_NOEXCEPT;
/* The number of values of field i: 1 for lww and counter fields, every current value of an mv
 * field (more than 1 while in conflict), the elements of a set, the entries of a log. */
BIRGA_API size_t birga_record_value_count(const birga_record_t* record, size_t i) BIRGA_NOEXCEPT;
/* Value j of field i as text: text as is, integers in decimal, "true"/"false", "null"; set
 * elements in value order, log entries (their payloads) in time order. NULL when out of
 * range. */
BIRGA_API const char* birga_record_value_text(const birga_record_t* record, size_t i,
                                              size_t j) BIRGA_NOEXCEPT;
/* Frees a record snapshot. */
BIRGA_API void birga_record_free(birga_record_t* record) BIRGA_NOEXCEPT;

/* Lists return a NULL-terminated array (free with birga_strings_free); NULL on error. */

/* The ids of the live (not deleted) records of `collection`, in id order; a `collection`
 * neither in the schema nor held in the store is BIRGA_INVALID_ARGUMENT, as for
 * birga_replica_get, not an empty list. */
BIRGA_API char** birga_replica_list(birga_replica_t* replica, const char* collection,
                                    birga_error_t** err) BIRGA_NOEXCEPT;
/* The records in conflict, as "collection/id". */
BIRGA_API char** birga_replica_conflicts(birga_replica_t* replica,
                                         birga_error_t** err) BIRGA_NOEXCEPT;
/* The records changed (written here or received by sync) after feed position `since`, as
 * "collection/id", oldest first; *next (if not NULL) gets the position to ask from next time.
 * Start from 0. Internal records (collections starting with '_') are left out. */
BIRGA_API char** birga_replica_changed_since(birga_replica_t* replica, uint64_t since,
                                             uint64_t* next, birga_error_t** err) BIRGA_NOEXCEPT;

/* The ids of the live records of `collection` whose indexed `field` holds `value`, in id order
 * (an index lookup: a field the schema does not mark `indexed` is BIRGA_INVALID_ARGUMENT).
 * `value` is given as text and read as the field's type: an int field takes decimal digits, a
 * bool field "true" or "false". E.g. the persons with a PINFL, the aid deliveries of a
 * household. */
BIRGA_API char** birga_replica_find(birga_replica_t* replica, const char* collection,
                                    const char* field, const char* value,
                                    birga_error_t** err) BIRGA_NOEXCEPT;

/* ---- Alerts ---------------------------------------------------------------------------- */

/* An anomaly this replica noticed, waiting for a person: over-issuance (two deliveries against
 * one entitlement), a removed household member, a clock far ahead, an equivocating device, ...
 * The strings live as long as the list they came from. */
typedef struct {
  uint64_t position;           /* 1, 2, 3, ...: the alert's number on this replica */
  const char* kind;            /* "over_issuance", "removed_member", "clock_skew", ... */
  const char* detail;          /* human-readable, names the records, device and scope */
  uint64_t acknowledged_ms;    /* when a person acknowledged it (wall ms); 0 while open */
  const char* acknowledgement; /* the note left with the acknowledgement; NULL while open */
} birga_alert_t;
typedef struct birga_alerts_t birga_alerts_t;

/* Every alert held here, oldest first (free with birga_alerts_free); NULL on error. */
BIRGA_API birga_alerts_t* birga_replica_alerts(birga_replica_t* replica,
                                               birga_error_t** err) BIRGA_NOEXCEPT;
BIRGA_API size_t birga_alerts_count(const birga_alerts_t* alerts) BIRGA_NOEXCEPT;
/* Alert i, or NULL when i is out of range. */
BIRGA_API const birga_alert_t* birga_alerts_get(const birga_alerts_t* alerts,
                                                size_t i) BIRGA_NOEXCEPT;
BIRGA_API void birga_alerts_free(birga_alerts_t* alerts) BIRGA_NOEXCEPT;
/* Marks alert `position` as reviewed on this replica, with a note (not empty) of what was found
 * or done, stored as given: name who reviewed it in the note (the CLI appends "(by NAME)").
 * BIRGA_NOT_FOUND: no such alert; BIRGA_ALREADY_EXISTS: already acknowledged (the first note is
 * kept). */
BIRGA_API int birga_replica_acknowledge_alert(birga_replica_t* replica, uint64_t position,
                                              const char* note, birga_error_t** err) BIRGA_NOEXCEPT;

/* ---- Sync ------------------------------------------------------------------------------ */

typedef struct {
  uint64_t changes_sent;     /* changes the peer lacked, sent to it */
  uint64_t changes_received; /* new changes received (not duplicates) */
  uint64_t bytes_sent;       /* bytes on the TCP stream, frame headers included */
  uint64_t bytes_received;
  uint64_t round_trips; /* message exchanges on the critical path */
  /* How far the peer's clock is ahead of this device's, in ms (negative: behind), when
   * clock_offset_known. More than 10 minutes either way: ask the worker to check the
   * tablet's date, time and time zone, since writes carry the device's time. */
  int64_t clock_offset_ms;
  int clock_offset_known;
} birga_sync_stats_t;

/* Connects to host:port (a name or an IPv4/IPv6 literal) and runs one sync session; blocks
 * until it ends. BIRGA_OK (0) or the error's code: BIRGA_UNAVAILABLE (refused, unreachable,
 * timed out, cut: retry later), BIRGA_PERMISSION_DENIED (either side refused the other; or
 * the session completed but the peer did not keep some changes this device wrote: refused,
 * quarantined or left waiting there, so those records did not reach it; the message counts
 * them and gives the first one's reason), BIRGA_DATA_LOSS (the peer holds more of this
 * device's own changes than this store, or different ones: the store was restored from a
 * backup or copied; nothing was sent, and the device must be re-enrolled with a new key),
 * BIRGA_CORRUPT_INPUT (protocol error). `stats` (may be NULL) gets what was exchanged, also
 * on failure: what was received and acknowledged before it is kept. */
BIRGA_API int birga_replica_sync(birga_replica_t* replica, const char* host, uint16_t port,
                                 birga_sync_stats_t* stats, birga_error_t** err) BIRGA_NOEXCEPT;

/* Bounds on a sync's waits. A field set to 0 keeps its default. */
typedef struct {
  /* Resolving, connecting and the handshake together, from the call on: a node that does not
   * answer fails the call with BIRGA_UNAVAILABLE ("timed out" while connecting, "handshake
   * timeout" after) within this many ms. Default: 10 s for connecting and 10 s more for the
   * handshake, each step bounded alone. */
  uint32_t setup_timeout_ms;
  /* After the handshake, the longest wait for a complete frame in either direction. Default
   * 30 s. */
  uint32_t idle_timeout_ms;
} birga_sync_options_t;

/* birga_replica_sync with `options` (NULL: the defaults). BIRGA_INVALID_ARGUMENT when a bound
 * is above one hour (3,600,000 ms). */
BIRGA_API int birga_replica_sync_with(birga_replica_t* replica, const char* host, uint16_t port,
                                      const birga_sync_options_t* options,
                                      birga_sync_stats_t* stats,
                                      birga_error_t** err) BIRGA_NOEXCEPT;

/* ---- Changes by file ---------------------------------------------------------------------
 * Where no network reaches, changes travel on a file (a USB stick): the change-list file of
 * docs/protocol.md section 23, the one `birga changes export` writes and `birga import` reads.
 * The changes in it stay signed and encrypted as they were made; the importing replica
 * verifies each one (signature, hash chain, author's rights) as a sync would. */

/* Writes every sealed change this replica holds of `scope` or (NULL) of every scope it holds,
 * the control scope included, to the file `path`, replacing it whole: the bytes go to a
 * temporary file beside it, flushed to the device, which is then renamed to `path`, so a crash
 * or a stick pulled out never leaves half a file under that name. `*changes_written` (may be
 * NULL) gets how many changes the file holds (0 on failure). BIRGA_OK or the error's code:
 * BIRGA_NOT_FOUND (no changes of `scope` here), BIRGA_INVALID_ARGUMENT (path NULL, or the file
 * cannot be created there), BIRGA_RESOURCE_EXHAUSTED (disk full), BIRGA_UNAVAILABLE (the device
 * failed). A failed write says what is on disk: "... (<path> is as it was)", or, when only the
 * flush of the directory failed after the rename, that the new file is in place but may not
 * survive a crash (export again to be sure). */
BIRGA_API int birga_replica_export_changes(birga_replica_t* replica, const char* path,
                                           const char* scope, uint64_t* changes_written,
                                           birga_error_t** err) BIRGA_NOEXCEPT;

/* What an import did with the changes of a file (the counts of Replica::ingest's report). */
typedef struct {
  uint64_t changes_read; /* complete changes read from the file */
  uint64_t applied;      /* new, verified and applied: their records are readable */
  uint64_t duplicates;   /* already held: nothing to do */
  uint64_t pending;      /* kept, waiting for an earlier change of their author: not in
                            force yet (each change of the file is counted once, where it
                            ended up: one let in by a later change of the file is applied) */
  uint64_t sealed_only;  /* kept and relayable, not readable: no key for their scope here */
  uint64_t quarantined;  /* a second, different change for one position of an author's chain,
                            kept aside (an alert names the device) */
  uint64_t refused;      /* failed a check (forged, tampered, no right), or of a scope this
                            replica may not receive (its certificate grants neither read nor
                            relay on it; not enrolled: every scope but the control scope):
                            not kept */
} birga_import_stats_t;

/* Imports the change-list file at `path` into the replica, in one durable transaction; each
 * change is verified and kept or refused on its own. `stats` (may be NULL) is zeroed first.
 * Once the file is read, stats.changes_read is the number of complete changes in it, whatever
 * happens next. The other counts are filled when the import itself completed: on BIRGA_OK,
 * and on the two failures below that come after it (a damaged end, a refusal). On any other
 * failure, a store error included, they are 0: nothing was imported. BIRGA_OK when the whole
 * file was read and nothing refused; otherwise the error's code:
 *   BIRGA_NOT_FOUND: the file cannot be read (or is a directory). Nothing imported.
 *   BIRGA_UNAVAILABLE: reading the file failed part way (the device failed). Nothing imported.
 *   BIRGA_CORRUPT_INPUT: not a change list (the message says why): nothing imported. Or a file
 *     cut short or followed by stray bytes (a copy pulled out half-way): the complete changes
 *     before the damage were imported, and the message says the file is truncated and how many
 *     were imported; copy the file again for the rest.
 *   BIRGA_INVALID_ARGUMENT: `path` is NULL; or changes were refused and the others kept: the
 *     message says how many of how many and the first refusal's reason (stats.refused > 0).
 *   A store error (BIRGA_RESOURCE_EXHAUSTED: disk full; BIRGA_DATA_LOSS; ...): the transaction
 *     was rolled back and nothing imported; free space (or check the store) and import the
 *     file again. One exception: when the file held control changes, the scope keys they
 *     deliver to this device are stored in a write of their own after the changes; if that
 *     write fails, the changes are kept though the counts say 0, and importing the file
 *     again stores the keys. */
BIRGA_API int birga_replica_import_changes(birga_replica_t* replica, const char* path,
                                           birga_import_stats_t* stats,
                                           birga_error_t** err) BIRGA_NOEXCEPT;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BIRGA_BIRGA_H_ */
