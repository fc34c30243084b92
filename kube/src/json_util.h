#pragma once

#include <cpprest/json.h>

#include <string>

namespace poolguard::kube::json_util {

/// obj[key] as a string, or "" if missing or not a string.
inline std::string Str(const web::json::value& obj, const std::string& key) {
  if (!obj.is_object() || !obj.has_field(key)) return "";
  const auto& v = obj.at(key);
  return v.is_string() ? v.as_string() : "";
}

/// obj[a][b] as a string, or "".
inline std::string Str2(const web::json::value& obj, const std::string& a, const std::string& b) {
  if (!obj.is_object() || !obj.has_field(a)) return "";
  return Str(obj.at(a), b);
}

/// A deep-path lookup; nullptr when any step is missing.
inline const web::json::value* Find(const web::json::value& obj,
                                    std::initializer_list<const char*> path) {
  const web::json::value* cur = &obj;
  for (const char* key : path) {
    if (!cur->is_object() || !cur->has_field(key)) return nullptr;
    cur = &cur->at(key);
  }
  return cur;
}

}  // namespace poolguard::kube::json_util
