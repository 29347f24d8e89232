// JsonWriter: builds one JSON document for `--json` output, compact, on one line.
//
// Strings may hold any bytes. Quotes, backslashes and control characters (U+0000-U+001F and
// DEL) are escaped (\" \\ \n \r \t, else \u00XX); valid UTF-8 is kept as is; a byte that is not
// part of valid UTF-8 is written as \u00XX (its Latin-1 reading), so the output is always valid
// JSON and valid UTF-8.
//
// Usage: w.begin_object().key("id").value(hex).end_object(); then w.str(). Commas are placed by
// the writer. REQUIRES: calls nest correctly (a key before every value inside an object).
//
// Thread rule: plain value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "birga/crdt/value.h"
#include "birga/status.h"

namespace birga::cli {

// `s` as a quoted JSON string.
std::string json_quote(std::string_view s);

class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(int64_t i);
  JsonWriter& value(uint64_t u);
  JsonWriter& value(int i) { return value(static_cast<int64_t>(i)); }
  JsonWriter& value(bool b);
  JsonWriter& null();
  // A record field value: null, bool, integer or string.
  JsonWriter& value(const crdt::Value& v);

  const std::string& str() const { return out_; }

 private:
  void before_value();

  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written in it yet
  bool after_key_ = false;
};

// The member a failure carries under --json, inside an object the caller opened:
// "error":{"code":"not_found","message":"no replica in ..."}, `code` by its code_name().
void write_error_json(JsonWriter& w, Code code, std::string_view message);

}  // namespace birga::cli
