#include "birga/change_list.h"

#include <algorithm>
#include <cstdint>

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

}  // namespace birga
