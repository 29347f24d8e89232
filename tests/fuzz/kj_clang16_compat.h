// Fuzz build only (BIRGA_FUZZ=ON with clang >= 16 and Cap'n Proto < 0.10; force-included by
// CMakeLists.txt): lets Cap'n Proto 0.9's headers compile under clang 16+ in C++20.
//
// Why: when the compiler has operator<=>, kj 0.9 leaves out operator==(const char*,
// StringPtr) and relies on C++20's reversed candidates of StringPtr's member operator==.
// Clang 16 implements P2468R2, which drops those reversed candidates for a type that also
// declares operator!=, so capnp/blob.h's `a == b.asString()` has no candidate left. This puts
// the free functions back (what kj declares before C++20). g++ 12, the normal build, does not
// implement P2468R2 and needs none of this; clang 14 and 15 lack the C++20 lambda captures of
// structured bindings that Birga uses, so clang 16+ it is.
#pragma once

#include <kj/string.h>

#if __cpp_impl_three_way_comparison
namespace kj {
inline bool operator==(const char* a, const StringPtr& b) {
  return b == StringPtr(a);
}
inline bool operator!=(const char* a, const StringPtr& b) {
  return !(b == StringPtr(a));
}
}  // namespace kj
#endif
