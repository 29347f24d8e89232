// The CLI's JSON writer: escaping and structure.
#include "json.h"

#include <catch2/catch.hpp>

#include "mini_json.h"

namespace birga::cli {

TEST_CASE("JsonWriter: escapes quotes, backslashes and control characters", "[cli][json]") {
  CHECK(json_quote("plain") == "\"plain\"");
  CHECK(json_quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(json_quote("l1\nl2\r\t") == "\"l1\\nl2\\r\\t\"");
  CHECK(json_quote(std::string("\x01\x1f\x7f", 3)) == "\"\\u0001\\u001f\\u007f\"");
  CHECK(json_quote(std::string("a\0b", 3)) == "\"a\\u0000b\"");
}

TEST_CASE("JsonWriter: keeps UTF-8, escapes bytes that are not UTF-8", "[cli][json]") {
  CHECK(json_quote("Навои ko'chasi") == "\"Навои ko'chasi\"");
  CHECK(json_quote("\xF0\x9F\x98\x80") == "\"\xF0\x9F\x98\x80\"");  // U+1F600
  CHECK(json_quote("\xff") == "\"\\u00ff\"");
  CHECK(json_quote("\xC3") == "\"\\u00c3\"");                        // truncated sequence
  CHECK(json_quote("\xC0\xAF") == "\"\\u00c0\\u00af\"");             // overlong '/'
  CHECK(json_quote("\xED\xA0\x80") == "\"\\u00ed\\u00a0\\u0080\"");  // a surrogate
}

TEST_CASE("JsonWriter: nests objects and arrays with commas in place", "[cli][json]") {
  JsonWriter w;
  w.begin_object().key("id").value("x").key("n").value(int64_t{-3}).key("ok").value(true);
  w.key("none").null().key("list").begin_array().value(crdt::text("a")).value(crdt::Value());
  w.begin_object().end_object().end_array().key("empty").begin_array().end_array().end_object();
  CHECK(w.str() == R"({"id":"x","n":-3,"ok":true,"none":null,"list":["a",null,{}],"empty":[]})");
  const test::Json parsed = test::Json::parse(w.str());
  CHECK(parsed["list"].size() == 3);
}

}  // namespace birga::cli
