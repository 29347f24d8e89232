// libFuzzer binaries only (BIRGA_FUZZ=ON): seeds the corpus with this process's real messages.
//
// libFuzzer calls LLVMFuzzerInitialize before it reads its corpus directories, so the seeds
// written here are loaded with the rest. They go into the first corpus directory on the
// command line (the one libFuzzer also writes new inputs to) as seed-<n>, replacing those of
// an earlier run: the engine targets' seeds only mean something with this process's keys
// (see fuzz_world.h). Nothing is written when the first argument is not a directory (a
// single-input reproduction run).
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "fuzz_seeds.h"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  std::string dir;
  for (int i = 1; i < *argc; ++i) {
    if ((*argv)[i][0] != '-') {
      dir = (*argv)[i];
      break;
    }
  }
  struct stat st;
  if (dir.empty() || stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
  const auto seeds = birga::fuzz::fuzz_seeds(BIRGA_FUZZ_TARGET_NAME);
  for (size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream(dir + "/seed-" + std::to_string(i), std::ios::binary) << seeds[i];
  }
  std::fprintf(stderr, "birga: wrote %zu seeds of %s to %s\n", seeds.size(), BIRGA_FUZZ_TARGET_NAME,
               dir.c_str());
  return 0;
}
