// Seeds: real, valid inputs for each fuzz target, made in this process (with the fuzz world's
// keys, so the engine targets' seeds verify, chain and apply here): a sealed change, a
// certificate, an enrolment bundle, hello/proof/summary/batch messages, a record encoding, the
// default schema, a change-list file, a beacon.
//
// Thread rule: single-threaded (it builds the fuzz world on first use).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace birga::fuzz {

// The seeds of `target` (its name without the fuzz_ prefix); empty for an unknown name.
std::vector<std::string> fuzz_seeds(std::string_view target);

}  // namespace birga::fuzz
