#include "birga/crdt/value.h"

#include <charconv>

namespace birga::crdt {

ValueType type_of(const Value& v) {
  switch (v.index()) {
    case 1:
      return ValueType::kBool;
    case 2:
      return ValueType::kInt;
    case 3:
      return ValueType::kText;
    default:
      return ValueType::kNull;
  }
}

const char* type_name(ValueType t) {
  switch (t) {
    case ValueType::kNull:
      return "null";
    case ValueType::kBool:
      return "bool";
    case ValueType::kInt:
      return "int";
    case ValueType::kText:
      return "text";
    case ValueType::kAny:
      return "any";
  }
  return "unknown";
}

bool parse_type_name(std::string_view name, ValueType* out) {
  for (ValueType t :
       {ValueType::kNull, ValueType::kBool, ValueType::kInt, ValueType::kText, ValueType::kAny}) {
    if (name == type_name(t)) {
      *out = t;
      return true;
    }
  }
  return false;
}

std::optional<Value> parse_value(ValueType type, std::string_view s) {
  switch (type) {
    case ValueType::kInt: {
      int64_t i = 0;
      const char* end = s.data() + s.size();
      const auto [p, ec] = std::from_chars(s.data(), end, i);
      if (s.empty() || ec != std::errc() || p != end) return std::nullopt;
      return Value(i);
    }
    case ValueType::kBool:
      if (s != "true" && s != "false") return std::nullopt;
      return Value(s == "true");
    default:
      return text(s);
  }
}

std::string to_display(const Value& v) {
  switch (v.index()) {
    case 1:
      return std::get<bool>(v) ? "true" : "false";
    case 2:
      return std::to_string(std::get<int64_t>(v));
    case 3:
      return std::get<std::string>(v);
    default:
      return "null";
  }
}

}  // namespace birga::crdt
