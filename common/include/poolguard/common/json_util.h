#pragma once

// The JSON helpers every PoolGuard program uses: writing (escaping, error bodies) and
// reading optional fields of objects that came from outside (Kubernetes objects, request
// bodies), where a missing field, a null and a value of the wrong type all read as absent.

#include <cpprest/json.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace poolguard::json {

using Json = web::json::value;

/// Escapes `text` for use inside a JSON string literal (without the quotes).
/// Invalid UTF-8 bytes are replaced by U+FFFD so the output is always valid JSON.
std::string Escape(std::string_view text);

/// {"error": {"code": code, "message": message}} — the body of every 4xx/5xx answer.
web::json::value ErrorBody(std::string_view code, std::string_view message);

/// `object[name]`, or nullptr when `object` is not an object, lacks `name` or holds null.
const Json* Field(const Json& object, const std::string& name);
/// `object[name]`, or a null value when `object` is not an object or lacks `name`: for
/// chains such as At(At(pod, "spec"), "containers") that need no checks between steps.
const Json& At(const Json& object, const std::string& name);
/// The value at a path of names (`{"metadata", "labels"}`), with Field's rules at each step.
const Json* Find(const Json& object, std::initializer_list<const char*> path);
/// The string at `name`; "" when absent or not a string.
std::string StringField(const Json& object, const std::string& name);
/// The string at a path; "" when any step is missing or the value is not a string.
std::string StringAt(const Json& object, std::initializer_list<const char*> path);
/// `v` as a 64-bit integer, a non-integer truncated toward zero; nullopt when `v` is not a
/// number or lies outside int64's range (1e30, NaN: whatever a peer sends, never UB).
std::optional<int64_t> AsInt64(const Json& v);
/// The number at `name`, as AsInt64 reads it; nullopt when absent.
std::optional<int64_t> IntField(const Json& object, const std::string& name);
/// The number at `name`, a non-integer rounded to the nearest integer; nullopt when absent,
/// not a number or outside int64's range.
std::optional<int64_t> RoundedIntField(const Json& object, const std::string& name);
/// The number at `name`; nullopt when absent or not a number.
std::optional<double> NumberField(const Json& object, const std::string& name);
/// True only when `name` holds the boolean true.
bool BoolField(const Json& object, const std::string& name);
/// The integer at `name`, else `fallback` (absent, not a number, or outside int's range).
int IntOr(const Json& object, const std::string& name, int fallback);

}  // namespace poolguard::json
