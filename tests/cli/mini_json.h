// A small JSON parser for the CLI tests: enough to read what `birga --json` prints (objects,
// arrays, strings with escapes, integers, true/false/null). Throws std::runtime_error on
// malformed input, which fails the test that parsed it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace birga::test {

struct Json {
  enum class Type { kNull, kBool, kInt, kString, kArray, kObject };
  Type type = Type::kNull;
  bool b = false;
  int64_t i = 0;
  std::string s;
  std::vector<Json> a;
  std::map<std::string, Json> o;

  bool is_null() const { return type == Type::kNull; }
  bool has(const std::string& k) const { return type == Type::kObject && o.count(k) > 0; }
  const Json& operator[](const std::string& k) const {
    auto it = o.find(k);
    if (type != Type::kObject || it == o.end()) throw std::runtime_error("no key " + k);
    return it->second;
  }
  const Json& operator[](size_t n) const {
    if (type != Type::kArray || n >= a.size()) throw std::runtime_error("no index");
    return a[n];
  }
  size_t size() const { return type == Type::kArray ? a.size() : o.size(); }

  static Json parse(std::string_view text) {
    size_t pos = 0;
    Json v = parse_value(text, pos);
    skip_ws(text, pos);
    if (pos != text.size()) throw std::runtime_error("trailing bytes after JSON");
    return v;
  }

 private:
  static void skip_ws(std::string_view t, size_t& p) {
    while (p < t.size() && (t[p] == ' ' || t[p] == '\n' || t[p] == '\r' || t[p] == '\t')) ++p;
  }
  static void expect(std::string_view t, size_t& p, std::string_view word) {
    if (t.substr(p, word.size()) != word)
      throw std::runtime_error("bad JSON at " + std::to_string(p));
    p += word.size();
  }
  static void put_utf8(std::string& out, uint32_t c) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  static std::string parse_string(std::string_view t, size_t& p) {
    expect(t, p, "\"");
    std::string out;
    while (p < t.size() && t[p] != '"') {
      const auto c = static_cast<unsigned char>(t[p]);
      if (c < 0x20) throw std::runtime_error("raw control character in a JSON string");
      if (c != '\\') {
        out += t[p++];
        continue;
      }
      if (++p >= t.size()) break;
      const char e = t[p++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          if (p + 4 > t.size()) throw std::runtime_error("short \\u escape");
          put_utf8(out,
                   static_cast<uint32_t>(std::stoul(std::string(t.substr(p, 4)), nullptr, 16)));
          p += 4;
          break;
        }
        default:
          out += e;
      }
    }
    expect(t, p, "\"");
    return out;
  }
  static Json parse_value(std::string_view t, size_t& p) {
    skip_ws(t, p);
    if (p >= t.size()) throw std::runtime_error("unexpected end of JSON");
    Json v;
    const char c = t[p];
    if (c == '{') {
      v.type = Type::kObject;
      ++p;
      skip_ws(t, p);
      if (p < t.size() && t[p] == '}') {
        ++p;
        return v;
      }
      for (;;) {
        skip_ws(t, p);
        std::string k = parse_string(t, p);
        skip_ws(t, p);
        expect(t, p, ":");
        v.o[k] = parse_value(t, p);
        skip_ws(t, p);
        if (p < t.size() && t[p] == ',') {
          ++p;
          continue;
        }
        expect(t, p, "}");
        return v;
      }
    }
    if (c == '[') {
      v.type = Type::kArray;
      ++p;
      skip_ws(t, p);
      if (p < t.size() && t[p] == ']') {
        ++p;
        return v;
      }
      for (;;) {
        v.a.push_back(parse_value(t, p));
        skip_ws(t, p);
        if (p < t.size() && t[p] == ',') {
          ++p;
          continue;
        }
        expect(t, p, "]");
        return v;
      }
    }
    if (c == '"') {
      v.type = Type::kString;
      v.s = parse_string(t, p);
      return v;
    }
    if (c == 't') {
      expect(t, p, "true");
      v.type = Type::kBool;
      v.b = true;
      return v;
    }
    if (c == 'f') {
      expect(t, p, "false");
      v.type = Type::kBool;
      return v;
    }
    if (c == 'n') {
      expect(t, p, "null");
      return v;
    }
    size_t end = p;
    if (end < t.size() && t[end] == '-') ++end;
    while (end < t.size() && t[end] >= '0' && t[end] <= '9') ++end;
    if (end == p) throw std::runtime_error("bad JSON value at " + std::to_string(p));
    v.type = Type::kInt;
    v.i = std::stoll(std::string(t.substr(p, end - p)));
    p = end;
    return v;
  }
};

}  // namespace birga::test
