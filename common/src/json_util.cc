#include "poolguard/common/json_util.h"

#include <cmath>
#include <cstdint>
#include <limits>

namespace poolguard::json {
namespace {

// Length of the valid UTF-8 sequence starting at text[i], or 0 when invalid.
std::size_t Utf8Length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  std::size_t len = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  // Reject overlong 3/4-byte forms, surrogates and code points past U+10FFFF.
  if (c == 0xE0 && byte(i + 1) < 0xA0) return 0;
  if (c == 0xED && byte(i + 1) >= 0xA0) return 0;
  if (c == 0xF0 && byte(i + 1) < 0x90) return 0;
  if (c == 0xF4 && byte(i + 1) >= 0x90) return 0;
  return len;
}

}  // namespace

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const std::size_t len = Utf8Length(text, i);
      if (len == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD
        ++i;
      } else {
        out.append(text.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          static const char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  return out;
}

web::json::value ErrorBody(std::string_view code, std::string_view message) {
  web::json::value error = web::json::value::object();
  error["code"] = web::json::value::string(std::string(code));
  error["message"] = web::json::value::string(std::string(message));
  web::json::value body = web::json::value::object();
  body["error"] = error;
  return body;
}

const Json* Field(const Json& object, const std::string& name) {
  if (!object.is_object() || !object.has_field(name)) return nullptr;
  const Json& v = object.at(name);
  return v.is_null() ? nullptr : &v;
}

const Json& At(const Json& object, const std::string& name) {
  static const Json kNull = Json::null();
  if (!object.is_object() || !object.has_field(name)) return kNull;
  return object.at(name);
}

const Json* Find(const Json& object, std::initializer_list<const char*> path) {
  const Json* current = &object;
  for (const char* name : path) {
    current = Field(*current, name);
    if (current == nullptr) return nullptr;
  }
  return current;
}

std::string StringField(const Json& object, const std::string& name) {
  const Json* v = Field(object, name);
  return v != nullptr && v->is_string() ? v->as_string() : "";
}

std::string StringAt(const Json& object, std::initializer_list<const char*> path) {
  const Json* v = Find(object, path);
  return v != nullptr && v->is_string() ? v->as_string() : "";
}

namespace {

// Whether a double converts to int64 without overflow (2^63 is exact as a double).
bool FitsInt64(double d) { return d >= -9223372036854775808.0 && d < 9223372036854775808.0; }

}  // namespace

std::optional<int64_t> AsInt64(const Json& v) {
  if (!v.is_number()) return std::nullopt;
  const auto& number = v.as_number();
  if (number.is_int64()) return number.to_int64();
  if (v.is_integer()) return std::nullopt;  // an unsigned value above INT64_MAX
  const double d = v.as_double();
  if (!FitsInt64(d)) return std::nullopt;
  return static_cast<int64_t>(d);
}

std::optional<int64_t> IntField(const Json& object, const std::string& name) {
  const Json* v = Field(object, name);
  return v == nullptr ? std::nullopt : AsInt64(*v);
}

std::optional<int64_t> RoundedIntField(const Json& object, const std::string& name) {
  const Json* v = Field(object, name);
  if (v == nullptr || !v->is_number() || v->is_integer()) {
    return v == nullptr ? std::nullopt : AsInt64(*v);
  }
  const double rounded = std::round(v->as_double());
  if (!FitsInt64(rounded)) return std::nullopt;
  return static_cast<int64_t>(rounded);
}

std::optional<double> NumberField(const Json& object, const std::string& name) {
  const Json* v = Field(object, name);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  return v->as_double();
}

bool BoolField(const Json& object, const std::string& name) {
  const Json* v = Field(object, name);
  return v != nullptr && v->is_boolean() && v->as_bool();
}

int IntOr(const Json& object, const std::string& name, int fallback) {
  const auto v = IntField(object, name);
  if (!v || *v < std::numeric_limits<int>::min() || *v > std::numeric_limits<int>::max()) {
    return fallback;
  }
  return static_cast<int>(*v);
}

}  // namespace poolguard::json
