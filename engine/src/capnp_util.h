// Helpers for reading and writing Cap'n Proto messages from hostile bytes, shared by the
// engine's decoders (sealed changes, op bodies, later sync messages).
//
//   canonical_message(reader): the canonical single-segment encoding of a struct, with the
//     standard segment table, as bytes. Equal values always give equal bytes.
//   read_message(bytes, limits, what, fn): parses `bytes` with explicit traversal and nesting
//     limits, copying them first when they are not 8-byte aligned, and calls fn(reader). Any
//     kj::Exception thrown by Cap'n Proto while parsing or inside fn becomes
//     Status::corrupt_input("<what>: <description>"): no exception leaves this function.
//
// Thread rule: pure functions.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "birga/status.h"

namespace birga::engine {

// Bytes as Cap'n Proto Data (a view: the bytes must outlive it), and back.
inline capnp::Data::Reader data_of(std::string_view s) {
  return capnp::Data::Reader(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}
template <size_t N>
capnp::Data::Reader data_of(const std::array<uint8_t, N>& a) {
  return capnp::Data::Reader(a.data(), a.size());
}
inline std::string_view view_of(capnp::Data::Reader d) {
  return std::string_view(reinterpret_cast<const char*>(d.begin()), d.size());
}

// The segment table (u32 LE segment count - 1 = 0, u32 LE size in words), then the segment:
// what capnp::messageToFlatArray writes for one segment, with one copy fewer.
template <typename StructReader>
std::string canonical_message(StructReader reader) {
  kj::Array<capnp::word> segment = capnp::canonicalize(reader);
  const kj::ArrayPtr<const kj::byte> bytes = segment.asBytes();
  std::string out(8 + bytes.size(), '\0');
  const uint64_t words = segment.size();
  for (int i = 0; i < 4; ++i) out[4 + i] = static_cast<char>((words >> (8 * i)) & 0xFF);
  std::memcpy(out.data() + 8, bytes.begin(), bytes.size());
  return out;
}

struct MessageLimits {
  uint64_t traversal_words;  // total words the reader may visit
  int nesting;               // maximum pointer depth
};

// REQUIRES: fn(capnp::MessageReader&) returns Status.
template <typename Fn>
Status read_message(std::string_view bytes, MessageLimits limits, const std::string& what,
                    Fn&& fn) {
  constexpr size_t kWord = sizeof(capnp::word);
  if (bytes.empty() || bytes.size() % kWord != 0) {
    return Status::corrupt_input(what + ": length " + std::to_string(bytes.size()) +
                                 " is not a positive multiple of 8");
  }
  kj::Array<capnp::word> copy;
  kj::ArrayPtr<const capnp::word> words;
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(capnp::word) == 0) {
    words = kj::arrayPtr(reinterpret_cast<const capnp::word*>(bytes.data()), bytes.size() / kWord);
  } else {
    copy = kj::heapArray<capnp::word>(bytes.size() / kWord);
    std::memcpy(copy.begin(), bytes.data(), bytes.size());
    words = copy.asPtr();
  }
  capnp::ReaderOptions options;
  options.traversalLimitInWords = limits.traversal_words;
  options.nestingLimit = limits.nesting;
  try {
    capnp::FlatArrayMessageReader reader(words, options);
    if (reader.getEnd() != words.end()) {
      return Status::corrupt_input(what + ": trailing bytes after the message");
    }
    return fn(static_cast<capnp::MessageReader&>(reader));
  } catch (const kj::Exception& e) {
    // KJ descriptions read "expected <condition> [values]; <what was wrong>": keep the last part.
    std::string description = e.getDescription().cStr();
    const size_t semi = description.rfind("; ");
    if (semi != std::string::npos) description.erase(0, semi + 2);
    return Status::corrupt_input(what + ": " + description);
  }
}

}  // namespace birga::engine
