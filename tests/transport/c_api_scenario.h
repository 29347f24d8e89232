/* The C API scenarios (c_api_scenario.c): a plain-C embedding of an enrolled device, driven by
 * c_api_test.cpp against a hub on loopback, and two devices carrying changes by file. */
#ifndef BIRGA_TESTS_C_API_SCENARIO_H_
#define BIRGA_TESTS_C_API_SCENARIO_H_

#include <stddef.h>
#include <stdint.h>

#include "birga/birga.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  char failure[512]; /* "" when every check passed, else "line N: check [error]" */
  char case_id[33];  /* the case the scenario created */
  char visit_id[33]; /* the visit it created (and deleted at the end) */
  size_t hub_visits; /* visits of other devices that arrived by the first sync */
  size_t guardians;  /* values of the case's guardian after the second sync */
  birga_sync_stats_t first_sync, second_sync;
} c_api_scenario_result;

/* Called between the two syncs with the case's id: the hub writes the guardian concurrently. */
typedef void (*c_api_scenario_hook)(void* ctx, const char* case_id);

/* Runs the scenario on the replica in `dir` (schema: the "case" and "visit" collections of
 * c_api_test.cpp) syncing with host:port. Returns 0 when every check passed. */
int c_api_scenario_run(const char* dir, const char* passphrase, const char* host, uint16_t port,
                       c_api_scenario_hook hook, void* ctx, c_api_scenario_result* out);

typedef struct {
  char failure[512];       /* "" when every check passed, else "line N: check [error]" */
  uint64_t exported;       /* changes in the export of every scope */
  uint64_t exported_scope; /* changes in the export of `scope` */
  /* The imports into the second device: the scope's file cut short, the whole file, the same
   * again, a file that is no change list, the scope's file with one change tampered with. */
  birga_import_stats_t cut, whole, again, garbage, tampered;
} c_api_carry_result;

/* Carries changes by file (written in `work_dir`, an empty directory) from the replica in
 * `from_dir` to the one in `to_dir`, both enrolled in one deployment with write on `scope` (the
 * only scope they may write), with the schema of c_api_test.cpp and the same passphrase; the
 * first writes as the scenario above does, and the second holds none of its records. Returns 0
 * when every check passed. */
int c_api_carry_run(const char* from_dir, const char* to_dir, const char* passphrase,
                    const char* scope, const char* work_dir, c_api_carry_result* out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BIRGA_TESTS_C_API_SCENARIO_H_ */
