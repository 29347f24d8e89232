// Whole files, read at once and written so that no reader ever finds half of one: the files
// people carry and keep by hand (change lists on a USB stick, enrolment bundles, exports, a
// replica's schema). The store itself is LMDB's business, not this.
//
// Thread rule: plain functions. Two writers of one path at the same time each write their own
// temporary; the file ends up whole, as one of them wrote it.
#pragma once

#include <string>
#include <string_view>

#include "birga/status.h"

namespace birga {

// The file's bytes; not_found "cannot read PATH: no such file or not readable".
Result<std::string> read_file(const std::string& path);

// Replaces (or creates) the file at `path` with `bytes`: writes them to a new temporary file in
// the same directory, flushes it to the device (fsync), renames it over `path` and flushes the
// directory. Once it returns ok the file survives a crash or a power cut; until then `path` is
// as it was, never half written (a crash may leave a `PATH.tmp-*` beside it). On failure the
// temporary is removed. invalid_argument: the file cannot be created there (no such directory,
// no permission); resource_exhausted: the disk is full; unavailable: the device failed (a USB
// stick pulled out), worth another try.
Status write_file(const std::string& path, std::string_view bytes);

}  // namespace birga
