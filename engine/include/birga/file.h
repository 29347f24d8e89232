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

// The file's bytes. not_found "cannot read PATH: no such file or not readable", or "...: it is
// a directory, not a file"; permission_denied "cannot read PATH: Permission denied (run as the
// user that owns it, ...)" when this user may not open it; unavailable when reading fails
// part way (the device failed).
Result<std::string> read_file(const std::string& path);

// Replaces (or creates) the file at `path` with `bytes`: writes them to a new temporary file in
// the same directory, flushes it to the device (fsync), renames it over `path` and flushes the
// directory. Once it returns ok the file survives a crash or a power cut, and no reader ever
// finds it half written (a crash may leave a `PATH.tmp-*` beside it). The file is created
// with mode 0600 (owner read and write only) whatever the umask, and replacing a file does
// not keep its old mode: what is written here is personal data, changes or keys.
//
// A failure says, in its message, what is on disk now. Before the rename, "cannot write PATH:
// <reason> (...; PATH is as it was)": `path` is untouched and the temporary removed (when
// removing it fails too, the message names it). After the rename only the directory's flush
// can fail: "wrote PATH, but flushing its directory failed: <reason> (...; the new file is in
// place, but its directory entry may not be durable ...)": `path` holds the new bytes, but a
// crash or power cut may bring back what was there before; writing it again settles it.
//
// Codes: invalid_argument: the file cannot be created there (no such directory, no
// permission, a directory in its place); resource_exhausted: the disk or the quota is full
// ("disk full: free space and retry"), or the file is too large for the file system (EFBIG);
// unavailable: the device failed (an I/O error: a USB stick pulled out), it is read-only
// (EROFS: a stick remounted read-only after an error), or the directory could not be flushed;
// worth another try, on another device.
Status write_file(const std::string& path, std::string_view bytes);

}  // namespace birga
