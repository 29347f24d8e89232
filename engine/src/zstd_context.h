// zstd contexts lent for one compression or decompression and kept for the next. The threads
// that compress (a commit's sealer, parallel_for's helpers) live for one call, so a context
// per thread would be made and freed on every commit; a level 3 context for a change of a
// few hundred kilobytes is a megabyte of tables to allocate and clear each time.
//
// Thread-safe: any thread may lease and give back. The pool is never destroyed (an app's
// worker thread may still compress while the process exits); release_idle() frees what it
// keeps (Replica::release_memory calls it).
#pragma once

#include <zstd.h>

#include <mutex>
#include <vector>

namespace birga::engine {

// A context is lent with its parameters and dictionary at their defaults (it is reset when
// given back), so a borrower sets what it needs and finds nothing left by the one before.
template <typename Ctx, Ctx* (*Create)(), size_t (*Free)(Ctx*),
          size_t (*Reset)(Ctx*, ZSTD_ResetDirective)>
class ZstdLease {
 public:
  // get() is null when zstd could not allocate a context.
  ZstdLease() : ctx_(take()) {}
  ~ZstdLease() { give_back(ctx_); }
  ZstdLease(const ZstdLease&) = delete;
  ZstdLease& operator=(const ZstdLease&) = delete;
  Ctx* get() const { return ctx_; }
  // Frees the idle contexts (those in use are kept by their borrowers).
  static void release_idle() {
    std::vector<Ctx*> idle;
    {
      Pool& p = pool();
      std::lock_guard<std::mutex> lock(p.mu);
      idle.swap(p.free);
    }
    for (Ctx* c : idle) Free(c);
  }

 private:
  // At most this many idle contexts are kept; one given back past it is freed. More can be in
  // use at once (a commit's sealers beside flush's compressors, several replicas).
  static constexpr size_t kKept = 8;
  struct Pool {
    std::mutex mu;
    std::vector<Ctx*> free;
  };
  static Pool& pool() {
    static Pool& p = *new Pool;  // never destroyed: see the top of the file
    return p;
  }
  static Ctx* take() {
    {
      Pool& p = pool();
      std::lock_guard<std::mutex> lock(p.mu);
      if (!p.free.empty()) {
        Ctx* c = p.free.back();
        p.free.pop_back();
        return c;
      }
    }
    return Create();
  }
  static void give_back(Ctx* c) {
    if (!c) return;
    Pool& p = pool();
    if (!ZSTD_isError(Reset(c, ZSTD_reset_session_and_parameters))) {
      std::lock_guard<std::mutex> lock(p.mu);
      if (p.free.size() < kKept) {
        p.free.push_back(c);
        return;
      }
    }
    Free(c);
  }

  Ctx* ctx_;
};

using CompressContext = ZstdLease<ZSTD_CCtx, ZSTD_createCCtx, ZSTD_freeCCtx, ZSTD_CCtx_reset>;
using DecompressContext = ZstdLease<ZSTD_DCtx, ZSTD_createDCtx, ZSTD_freeDCtx, ZSTD_DCtx_reset>;

}  // namespace birga::engine
