/* A test-only LD_PRELOAD shim that makes zstd run out of memory while decompressing anything
 * larger than $BIRGA_TEST_ZSTD_FAIL_ABOVE bytes: ZSTD_decompressDCtx then returns zstd's
 * memory allocation error, as zstd does when it cannot allocate what a frame needs. Smaller
 * frames (a store's control records) decompress as usual. The multi-process tests run
 * `birga import` under it to check that a change that cannot be opened for want of memory
 * fails the import and is taken on a retry, rather than being kept unapplied. Never used
 * outside tests. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

typedef struct ZSTD_DCtx_s ZSTD_DCtx;
typedef size_t (*decompress_fn)(ZSTD_DCtx*, void*, size_t, const void*, size_t);

size_t ZSTD_decompressDCtx(ZSTD_DCtx* dctx, void* dst, size_t capacity, const void* src,
                           size_t size) {
  const char* above = getenv("BIRGA_TEST_ZSTD_FAIL_ABOVE");
  if (above && capacity > (size_t)strtoull(above, NULL, 10)) {
    return (size_t)-64; /* ZSTD_error_memory_allocation */
  }
  static decompress_fn real = NULL;
  if (!real) real = (decompress_fn)dlsym(RTLD_NEXT, "ZSTD_decompressDCtx");
  return real(dctx, dst, capacity, src, size);
}
