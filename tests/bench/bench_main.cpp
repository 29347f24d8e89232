// birga-bench: Birga's benchmarks. Prints one JSON object per line.
//
//   birga-bench --mode store [--records N] [--single N] [--min-range-records N]
//               [--dir DIR] [--keep]
//       local write throughput (transactions of 1 and of 1,000 records), ingest throughput,
//       bytes per record on disk, peak RSS.
//   birga-bench --mode district [--records R] [--pct D] [--new N] [--conflicts C]
//               [--batch B] [--seed S] [--dump-dir DIR] [--gen-only] [--dir DIR] [--keep]
//               [--transport memory|tcp] [--load]
//       the "district" workload of ../shared/bench/WORKLOAD.md, one JSON line per phase.
//       Between phases both replicas' pages leave RSS (Replica::release_memory), as the JS
//       peers force a GC; BIRGA_BENCH_DEBUG=1 prints RSS at each phase start and transaction.
//   birga-bench --mode hub [--clients N] [--mahallas M] [--changes K] [--records-per-change R]
//               [--in-process] [--timeout S] [--verify-mahallas V] [--seed S] [--dir DIR] [--keep]
//       a hub (its own process by default) under N clients syncing at once over loopback TCP,
//       two rounds, one JSON line per round.
//   birga-bench --mode opbody [--records R] [--rounds K] [--level L] [--seed S] [--dump FILE]
//       the op body of one change of R visit records (8 lww ops each): raw and zstd bytes per
//       record at a few compression levels, encode/decode/compress times; one line per level.
//       --dump writes the body to FILE.
#include <cstdio>
#include <string>

#include "bench_util.h"
#include "birga/process.h"

namespace birga::bench {
int run_store_bench(const Flags& flags);
int run_district_bench(const Flags& flags);
int run_hub_bench(const Flags& flags);
int run_opbody_bench(const Flags& flags);
}  // namespace birga::bench

int main(int argc, char** argv) {
  birga::keep_freed_heap();  // as the birga tool and a hub do (birga/process.h)
  birga::bench::Flags flags(argc, argv);
  const std::string mode = flags.get("mode", "store");
  if (mode == "store") return birga::bench::run_store_bench(flags);
  if (mode == "district") return birga::bench::run_district_bench(flags);
  if (mode == "hub") return birga::bench::run_hub_bench(flags);
  if (mode == "opbody") return birga::bench::run_opbody_bench(flags);
  std::fprintf(stderr, "birga-bench: unknown --mode '%s' (known: store, district, hub, opbody)\n",
               mode.c_str());
  return 2;
}
