#include "birga/change_list.h"

#include <algorithm>

#include "birga/crdt/codec.h"
#include "birga/file.h"
#include "birga/trust.h"
#include "sealed_change.h"

namespace birga {

// Varints and length-prefixed bytes as the record codec writes and reads them (LEB128, at most
// 64 bits).
std::string encode_change_list(const std::vector<std::string>& changes) {
  crdt::ByteWriter w;
  w.raw(kChangeListMagic.data(), kChangeListMagic.size());
  w.u8(kChangeListVersion);
  w.varint(changes.size());
  for (const std::string& c : changes) w.bytes(c);
  return w.take();
}

Result<std::vector<std::string>> decode_change_list(std::string_view bytes, Status* damage) {
  if (bytes.size() < 5 || bytes.substr(0, 4) != kChangeListMagic) {
    return Status::corrupt_input("not a change list (it does not start with \"BGCL\")");
  }
  if (static_cast<uint8_t>(bytes[4]) != kChangeListVersion) {
    return Status::corrupt_input("change list version " +
                                 std::to_string(static_cast<uint8_t>(bytes[4])) +
                                 " is not supported (this build reads version 1)");
  }
  crdt::ByteReader r(bytes.substr(5), "change list");
  // Each change takes at least one byte (its length), which bounds a forged count; a file cut
  // short may hold fewer bytes than its count says, so the bound is only checked when whole.
  const uint64_t count = r.varint();
  if (!r.ok() || (!damage && count > r.remaining())) {
    return Status::corrupt_input("change list: bad count");
  }
  std::vector<std::string> out;
  out.reserve(std::min<uint64_t>(count, r.remaining()));
  // The damage: the complete changes before it are returned when the caller takes them.
  auto damaged = [&](Status why) -> Result<std::vector<std::string>> {
    if (!damage) return why;
    *damage = std::move(why);
    return out;
  };
  for (uint64_t i = 0; i < count; ++i) {
    const std::string_view change = r.bytes();
    if (!r.ok()) {
      return damaged(Status::corrupt_input("change list: change " + std::to_string(i + 1) + " of " +
                                           std::to_string(count) + " is truncated"));
    }
    out.emplace_back(change);
  }
  if (!r.at_end()) {
    return damaged(Status::corrupt_input("change list: " + std::to_string(r.remaining()) +
                                         " unexpected bytes after the last change"));
  }
  return out;
}

Result<std::vector<std::string>> held_changes(const Replica& replica,
                                              const std::optional<std::string>& scope) {
  auto held = replica.scopes();
  if (!held.is_ok()) return held.status();
  if (scope && std::find(held->begin(), held->end(), *scope) == held->end()) {
    return Status::not_found("this replica holds no changes of scope '" + *scope + "'");
  }
  const std::vector<std::string> scopes = scope ? std::vector<std::string>{*scope} : *held;
  std::vector<std::string> changes;
  for (const std::string& s : scopes) {
    // Against an empty vector: everything, as for a peer that holds nothing yet.
    auto part = replica.export_missing(s, crdt::VersionVector());
    if (!part.is_ok()) return part.status();
    changes.insert(changes.end(), std::make_move_iterator(part->begin()),
                   std::make_move_iterator(part->end()));
  }
  return changes;
}

Status write_change_list(const std::string& path, const std::vector<std::string>& changes) {
  return write_file(path, encode_change_list(changes));
}

Result<ChangeListFile> read_change_list(const std::string& path) {
  auto bytes = read_file(path);
  if (!bytes.is_ok()) return bytes.status();
  // A file cut short (a USB stick pulled out during the copy) still gives the changes before
  // the cut: each is verified on its own, and the missing ones come with the next copy.
  ChangeListFile file{path, {}, Status::ok()};
  auto changes = decode_change_list(*bytes, &file.damage);
  if (!changes.is_ok()) return changes.status().with_context(path);
  file.changes = std::move(*changes);
  return file;
}

Result<ChangeListImport> import_change_list(Replica& replica, const ChangeListFile& file) {
  // A node keeps only the scopes it may receive, by file as by sync (sync_session.cpp): a
  // tablet of one mahalla does not store another's changes and offer them at every sync. The
  // certificate is this replica's own, checked against its authority when it was installed.
  std::optional<Certificate> own;
  if (auto bytes = replica.certificate()) {
    auto parsed = Certificate::parse_self_signed_claim(*bytes);
    if (!parsed.is_ok()) return parsed.status().with_context("this replica's certificate");
    own = std::move(*parsed);
  }
  std::vector<Status> not_entitled;
  std::vector<bool> refused(file.changes.size(), false);
  for (size_t i = 0; i < file.changes.size(); ++i) {
    // A malformed header is left to ingest, which refuses it and says why.
    auto h = engine::read_header(file.changes[i]);
    if (!h.is_ok() ||
        (own ? own->may_receive(h->header.scope) : h->header.scope == kControlScope)) {
      continue;
    }
    const std::string why =
        own ? "this replica's certificate grants neither read nor relay on it"
            : "this replica is not enrolled (install its certificate with birga cert install "
              "first)";
    not_entitled.push_back(
        Status::permission_denied("change of scope '" + h->header.scope + "' refused: " + why));
    refused[i] = true;
  }
  // The file's changes are copied only when some are left out.
  std::vector<std::string> accepted;
  if (!not_entitled.empty()) {
    for (size_t i = 0; i < file.changes.size(); ++i) {
      if (!refused[i]) accepted.push_back(file.changes[i]);
    }
  }
  auto report = replica.ingest(not_entitled.empty() ? file.changes : accepted);
  if (!report.is_ok()) return report.status();
  for (Status& s : not_entitled) report->refused.push_back(std::move(s));
  ChangeListImport out{std::move(*report), Status::ok()};
  const std::string count = std::to_string(file.changes.size());
  if (!file.damage.is_ok()) {
    out.status = Status::corrupt_input(file.path + ": " + file.damage.message() + "; the " + count +
                                       " complete changes before it were imported (copy the "
                                       "file again for the rest)");
  } else if (!out.report.refused.empty()) {
    out.status = Status::invalid_argument(std::to_string(out.report.refused.size()) + " of " +
                                          count + " changes in " + file.path +
                                          " were refused (the others are kept)");
  }
  return out;
}

}  // namespace birga
