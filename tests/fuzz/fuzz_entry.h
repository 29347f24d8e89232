// The entry point of a fuzz target. Each fuzz_<name>.cpp defines BIRGA_FUZZ_ENTRY, which is
// LLVMFuzzerTestOneInput in a libFuzzer binary (BIRGA_FUZZ=ON) and fuzz_<name> in
// fuzz_regression, which links every target into one executable (CMakeLists.txt sets
// -DBIRGA_FUZZ_ENTRY=fuzz_<name> there so the names do not clash).
//
// A target feeds its input to a decoder and ignores the Status: every input is allowed to be
// refused; none may crash, throw, leak or hang. It returns 0 (libFuzzer's convention).
#pragma once

#include <cstddef>
#include <cstdint>

#ifndef BIRGA_FUZZ_ENTRY
#define BIRGA_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

extern "C" int BIRGA_FUZZ_ENTRY(const uint8_t* data, size_t size);
