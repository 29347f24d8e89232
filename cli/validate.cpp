#include "validate.h"

#include <charconv>
#include <ctime>

namespace birga::cli {

namespace {

std::string quoted(std::string_view s) {
  return "'" + std::string(s) + "'";
}

std::string join(const std::vector<std::string_view>& options) {
  std::string out;
  for (std::string_view o : options) out += (out.empty() ? "" : "|") + std::string(o);
  return out;
}

bool digits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

int to_int(std::string_view s) {
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

int days_in_month(int y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// The date and enumeration rules the CLI applies on top of the schema's types.
Status check_known_rule(std::string_view collection, std::string_view field,
                        std::string_view text) {
  const std::string key = std::string(collection) + "." + std::string(field);
  if (key == "person.birth_date" || key == "visit.date" || key == "aid_delivery.delivered_at") {
    return check_date(text, field);  // a query or a resolution: past or not
  }
  if (key == "guardianship_case.status") return check_one_of(text, kCaseStatuses, field);
  if (key == "guardianship_case.case_type") return check_one_of(text, kCaseTypes, field);
  if (key == "visit.visit_type") return check_one_of(text, kVisitTypes, field);
  return Status::ok();
}

}  // namespace

Result<crdt::RecordId> parse_id(std::string_view text, std::string_view field) {
  auto id = crdt::RecordId::from_hex(text);
  if (!id) {
    return Status::invalid_argument(std::string(field) + ": " + quoted(text) +
                                    " is not a record id (32 hex digits)");
  }
  return *id;
}

Status check_date(std::string_view text, std::string_view field) {
  const auto bad = [&] {
    return Status::invalid_argument(std::string(field) + ": " + quoted(text) +
                                    " is not a date (YYYY-MM-DD)");
  };
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return bad();
  const std::string_view y = text.substr(0, 4), m = text.substr(5, 2), d = text.substr(8, 2);
  if (!digits(y) || !digits(m) || !digits(d)) return bad();
  const int year = to_int(y), month = to_int(m), day = to_int(d);
  if (year < 1900 || month < 1 || month > 12) return bad();
  if (day < 1 || day > days_in_month(year, month)) return bad();
  return Status::ok();
}

namespace {

// The local date `days` days from now, YYYY-MM-DD.
std::string local_date(int days) {
  const std::time_t t = std::time(nullptr) + std::time_t{days} * 86400;
  std::tm local{};
  localtime_r(&t, &local);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &local);
  return buf;
}

}  // namespace

std::string today() {
  return local_date(0);
}

Status check_past_date(std::string_view text, std::string_view field) {
  BIRGA_RETURN_IF_ERROR(check_date(text, field));
  // Tomorrow still passes: a worker a time zone ahead of the tablet's clock.
  if (text > local_date(1)) {
    return Status::invalid_argument(std::string(field) + ": " + quoted(text) +
                                    " is in the future (today is " + today() +
                                    "); record what has happened, with its date");
  }
  return Status::ok();
}

Result<int64_t> parse_int(std::string_view text, std::string_view field) {
  const auto v = crdt::parse_value(crdt::ValueType::kInt, text);
  if (!v) {
    return Status::invalid_argument(std::string(field) + ": " + quoted(text) +
                                    " is not a whole number");
  }
  return std::get<int64_t>(*v);
}

Result<bool> parse_yes_no(std::string_view text, std::string_view field) {
  if (text == "yes" || text == "true") return true;
  if (text == "no" || text == "false") return false;
  return Status::invalid_argument(std::string(field) + ": " + quoted(text) + " is not yes or no");
}

Status check_one_of(std::string_view text, const std::vector<std::string_view>& options,
                    std::string_view field) {
  for (std::string_view o : options) {
    if (o == text) return Status::ok();
  }
  return Status::invalid_argument(std::string(field) + ": " + quoted(text) + " is not one of " +
                                  join(options));
}

Status check_text(std::string_view text, std::string_view field) {
  if (text.empty()) return Status::invalid_argument(std::string(field) + " must not be empty");
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t' && c != '\n') || u == 0x7F) {
      return Status::invalid_argument(std::string(field) + " holds a control character");
    }
  }
  return Status::ok();
}

Status check_line(std::string_view text, std::string_view field) {
  BIRGA_RETURN_IF_ERROR(check_text(text, field));
  if (text.find('\n') != std::string_view::npos) {
    return Status::invalid_argument(std::string(field) + " must be one line");
  }
  return Status::ok();
}

Status check_member(std::string_view text, std::string_view field) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) {
    return Status::invalid_argument(std::string(field) + ": " + quoted(text) +
                                    " is not PERSON_ID:RELATION");
  }
  auto id = parse_id(text.substr(0, colon), field);
  if (!id.is_ok()) return id.status();
  return check_text(text.substr(colon + 1), std::string(field) + " relation");
}

Status check_scope_path(std::string_view path, std::string_view field) {
  const auto bad = [&](std::string_view why) {
    return Status::invalid_argument(std::string(field) + ": scope " + quoted(path) + " " +
                                    std::string(why));
  };
  if (path.empty() || path.size() > crdt::kMaxNameBytes) return bad("must be 1..255 bytes");
  if (path[0] == '_') return bad("must not start with '_' (reserved)");
  if (path.front() == '/' || path.back() == '/' || path.find("//") != std::string_view::npos) {
    return bad("has an empty segment");
  }
  bool capitals = false;
  for (char c : path) {
    capitals = capitals || (c >= 'A' && c <= 'Z');
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '/';
    if (!ok) return bad("may hold only lowercase letters, digits, '-', '_', '.' and '/'");
  }
  // Scopes are matched byte for byte: "Tashkent/..." would be another scope than
  // "tashkent/...", with other keys and other records, and nothing would say so.
  if (capitals) {
    std::string lower(path);
    for (char& c : lower) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return bad("has capital letters: scopes are lowercase and matched exactly (did you mean " +
               quoted(lower) + "?)");
  }
  return Status::ok();
}

Result<uint64_t> end_of_day_ms(std::string_view date, std::string_view field) {
  BIRGA_RETURN_IF_ERROR(check_date(date, field));
  const int64_t days =
      days_from_civil(to_int(date.substr(0, 4)), static_cast<unsigned>(to_int(date.substr(5, 2))),
                      static_cast<unsigned>(to_int(date.substr(8, 2))));
  return static_cast<uint64_t>(days + 1) * 86400000ULL;
}

std::string utc_text(uint64_t ms, const char* format) {
  const auto secs = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&secs, &utc);
  char buf[64];
  return std::string(buf, std::strftime(buf, sizeof buf, format, &utc));
}

std::string date_of_ms(uint64_t ms) {
  return utc_text(ms, "%Y-%m-%d");
}

Result<crdt::Value> parse_field_value(const crdt::Schema& schema, std::string_view collection,
                                      std::string_view field, std::string_view text) {
  const crdt::FieldSpec* f = schema.field(collection, field);
  if (!f) {
    return Status::invalid_argument("'" + std::string(collection) + "' has no field " +
                                    quoted(field));
  }
  switch (f->value_type) {
    case crdt::ValueType::kInt: {
      auto i = parse_int(text, field);
      if (!i.is_ok()) return i.status();
      return crdt::Value(*i);
    }
    case crdt::ValueType::kBool: {
      auto b = parse_yes_no(text, field);
      if (!b.is_ok()) return b.status();
      return crdt::Value(*b);
    }
    default:
      BIRGA_RETURN_IF_ERROR(check_known_rule(collection, field, text));
      return crdt::text(text);
  }
}

Result<std::string> collection_named(const crdt::Schema& schema, std::string_view kind) {
  if (schema.collection(kind)) return std::string(kind);
  if (kind == "aid" && schema.collection("aid_delivery")) return std::string("aid_delivery");
  if (kind == "case" && schema.collection("guardianship_case")) {
    return std::string("guardianship_case");
  }
  std::string names;
  for (const auto& [name, spec] : schema.collections()) names += (names.empty() ? "" : ", ") + name;
  return Status::invalid_argument("no kind " + quoted(kind) + " in the schema (kinds: " + names +
                                  ")");
}

}  // namespace birga::cli
