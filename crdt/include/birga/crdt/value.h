// Value: the atomic content of a field, an element of a set or the payload of a log entry.
//
// Null, a boolean, a signed 64-bit integer (money is whole soums, dates are days since
// 1970-01-01), or UTF-8 text. Values compare first by type, then by content, which gives a
// deterministic order for tiebreaks and canonical encodings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace birga::crdt {

using Value = std::variant<std::monostate, bool, int64_t, std::string>;

enum class ValueType : uint8_t { kNull = 0, kBool = 1, kInt = 2, kText = 3, kAny = 255 };

ValueType type_of(const Value& v);
const char* type_name(ValueType t);  // "null", "bool", "int", "text", "any"
// Parses "int", "text", ...; kNull's name is accepted too. Returns false on an unknown name.
bool parse_type_name(std::string_view name, ValueType* out);

// Reads `text` as a value of `type`: kInt a whole decimal number (an optional '-', no spaces,
// in range), kBool "true" or "false", any other type the text itself. nullopt when it is not.
std::optional<Value> parse_value(ValueType type, std::string_view text);

// Human-readable form: text as is, integers in decimal, "true"/"false", "null".
std::string to_display(const Value& v);

inline Value text(std::string_view s) {
  return Value(std::string(s));
}
inline Value integer(int64_t i) {
  return Value(i);
}

}  // namespace birga::crdt
