#include "birga/change_list.h"

#include <algorithm>
#include <cstdint>

#include "birga/file.h"

namespace birga {

namespace {

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

// Reads a varint at `pos`; false when it runs past the end or past 10 bytes.
bool get_varint(std::string_view in, size_t& pos, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 70 && pos < in.size(); shift += 7) {
    const auto b = static_cast<uint8_t>(in[pos++]);
    *v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return shift < 63 || (b >> 1) == 0;
  }
  return false;
}

}  // namespace

std::string encode_change_list(const std::vector<std::string>& changes) {
  std::string out(kChangeListMagic);
  out += static_cast<char>(kChangeListVersion);
  put_varint(out, changes.size());
  for (const std::string& c : changes) {
    put_varint(out, c.size());
    out += c;
  }
  return out;
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
  size_t pos = 5;
  uint64_t count = 0;
  // Each change takes at least one byte (its length), which bounds a forged count; a file cut
  // short may hold fewer bytes than its count says, so the bound is only checked when whole.
  if (!get_varint(bytes, pos, &count) || (!damage && count > bytes.size() - pos)) {
    return Status::corrupt_input("change list: bad count");
  }
  std::vector<std::string> out;
  out.reserve(std::min<uint64_t>(count, bytes.size() - pos));
  // The damage: the complete changes before it are returned when the caller takes them.
  auto damaged = [&](Status why) -> Result<std::vector<std::string>> {
    if (!damage) return why;
    *damage = std::move(why);
    return out;
  };
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t len = 0;
    if (!get_varint(bytes, pos, &len) || len > bytes.size() - pos) {
      return damaged(Status::corrupt_input("change list: change " + std::to_string(i + 1) + " of " +
                                           std::to_string(count) + " is truncated"));
    }
    out.emplace_back(bytes.substr(pos, len));
    pos += len;
  }
  if (pos != bytes.size()) {
    return damaged(Status::corrupt_input("change list: " + std::to_string(bytes.size() - pos) +
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
  auto report = replica.ingest(file.changes);
  if (!report.is_ok()) return report.status();
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
