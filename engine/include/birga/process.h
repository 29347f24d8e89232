// Process-wide settings for a process whose main work is Birga: the command-line tool, a hub,
// the benchmark. A library does not change them on its own; an app embedding the engine may
// call keep_freed_heap() too, or tune its allocator as it sees fit.
#pragma once

#include <cstddef>

namespace birga {

// Keeps up to `bytes` of freed heap memory for reuse instead of handing it back to the kernel
// after each transaction, and serves allocations below 4 MiB from the heap rather than from
// fresh mappings. A commit of 1,000 records allocates and frees several megabytes (ops,
// records, payloads); handed back every time, each page is faulted in again on the next commit,
// which cost about a tenth of the commit's time (birga-bench --mode district). The process
// may then hold up to `bytes` more than it uses per glibc heap (the main one, and one arena
// per thread that allocates, up to glibc's own limit). With glibc (Debian's C library); elsewhere
// it does nothing. Call once, early, from one thread.
void keep_freed_heap(size_t bytes = size_t{64} << 20);

}  // namespace birga
