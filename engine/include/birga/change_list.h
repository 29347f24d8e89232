// The change-list file: a list of sealed changes carried between machines by hand (the
// authority's control log, a revocation, a scope's changes for another replica).
//
//   "BGCL" || u8 version (1) || varint count || (varint length || sealed change bytes)*
//
// Varints are unsigned LEB128 (7 bits a byte, low first, at most 10 bytes). The decoder
// refuses a wrong magic or version, a count or length larger than the bytes that follow,
// an overlong varint and trailing bytes. Given `damage`, a file whose header is sound but
// whose end is cut short or followed by stray bytes (a copy pulled out half-way) gives the
// complete changes before the damage, and `*damage` says what was wrong; without it, that is
// an error too. What the changes say is checked by Replica::ingest, not here.
//
// Below the codec, the two ends of a carried file, shared by `birga changes export` / `birga
// import` and the C API (birga_replica_export_changes / birga_replica_import_changes): what a
// replica holds, written to a file, and a file read and ingested.
//
// Thread rule: the codec is pure; the rest uses a Replica, under its thread rule.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "birga/replica.h"
#include "birga/status.h"

namespace birga {

inline constexpr std::string_view kChangeListMagic = "BGCL";
inline constexpr uint8_t kChangeListVersion = 1;

std::string encode_change_list(const std::vector<std::string>& changes);
Result<std::vector<std::string>> decode_change_list(std::string_view bytes,
                                                    Status* damage = nullptr);

// Every sealed change `replica` holds of `scope` or, with nullopt, of every scope it holds (the
// control scope included), in chain order per author: a whole copy for a replica that may hold
// none of it. not_found "this replica holds no changes of scope 'S'" for a scope it does not
// hold.
Result<std::vector<std::string>> held_changes(const Replica& replica,
                                              const std::optional<std::string>& scope);

// Writes `changes` as a change-list file at `path`, all or nothing (write_file, birga/file.h).
Status write_change_list(const std::string& path, const std::vector<std::string>& changes);

// A change-list file as read from disk.
struct ChangeListFile {
  std::string path;
  std::vector<std::string> changes;  // the complete changes, in file order
  Status damage;                     // ok, or what cut its end short (decode_change_list)
};
// Reads the change-list file at `path`, keeping the complete changes before a damaged end.
// not_found when it cannot be read; corrupt_input (prefixed with `path`) when it is not a change
// list at all (wrong magic or version, a count that does not parse).
Result<ChangeListFile> read_change_list(const std::string& path);

// What importing a change-list file did.
struct ChangeListImport {
  IngestReport report;
  // Ok when the whole file was read and no change refused. Else what to tell the person:
  // corrupt_input "PATH: <damage>; the N complete changes before it were imported (copy the
  // file again for the rest)", or invalid_argument "K of N changes in PATH were refused (the
  // others are kept)", the reasons being in report.refused.
  Status status;
};
// Ingests the file's complete changes into `replica` in one transaction (Replica::ingest: each
// verified on its own, a refused one does not stop the others). An error is the store's, and
// then nothing was imported.
Result<ChangeListImport> import_change_list(Replica& replica, const ChangeListFile& file);

}  // namespace birga
