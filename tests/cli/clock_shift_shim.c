/* A test-only LD_PRELOAD shim that moves one process's wall clock: CLOCK_REALTIME (and
 * gettimeofday, time) reads are shifted by $BIRGA_TEST_CLOCK_SHIFT_S seconds (may be
 * negative). The multi-process sync tests run `birga enrol` under it, with the clock moved
 * back, to issue a certificate that has already expired (`enrol --expires` refuses a date in
 * the past). Monotonic clocks are left alone. Never used outside tests. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long shift_seconds(void) {
  const char* s = getenv("BIRGA_TEST_CLOCK_SHIFT_S");
  return s ? atoll(s) : 0;
}

typedef int (*clock_gettime_fn)(clockid_t, struct timespec*);

int clock_gettime(clockid_t id, struct timespec* ts) {
  static clock_gettime_fn real = NULL;
  if (!real) real = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
  const int r = real(id, ts);
  if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
    ts->tv_sec += (time_t)shift_seconds();
  }
  return r;
}

int gettimeofday(struct timeval* tv, void* tz) {
  struct timespec ts;
  (void)tz;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return -1;
  if (tv) {
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = (suseconds_t)(ts.tv_nsec / 1000);
  }
  return 0;
}

time_t time(time_t* out) {
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return (time_t)-1;
  if (out) *out = ts.tv_sec;
  return ts.tv_sec;
}
