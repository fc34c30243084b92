#pragma once

// Reading the Kubernetes objects the controller handles: optional fields of JSON objects,
// and RFC 3339 times. Shared by the ChaosExperiment and Remediation types.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "poolguard/kube/object.h"

namespace poolguard::controller {

using WallTime = std::chrono::system_clock::time_point;
using Json = kube::Json;

/// `t`'s whole seconds in UTC, formatted with strftime's `format` (at most 31 bytes).
std::string FormatUtc(WallTime t, const char* format);

/// RFC 3339 with seconds precision, as metav1.Time.
std::string FormatTime(WallTime t);
std::optional<WallTime> ParseTime(std::string_view text);
/// Truncated to whole seconds (what survives a round trip through status).
WallTime TruncateToSeconds(WallTime t);

/// RFC 3339 with milliseconds ("2027-01-15T08:00:00.250Z"): detection and recovery are
/// measured in fractions of a second, so status keeps them. Parses seconds-only too.
std::string FormatTimeMs(WallTime t);
std::optional<WallTime> ParseTimeMs(std::string_view text);
WallTime TruncateToMillis(WallTime t);

/// `object[name]`, or nullptr when `object` is not an object, lacks `name` or holds null.
const Json* Field(const Json& object, const std::string& name);
/// The string at `name`; "" when absent or not a string.
std::string StringField(const Json& object, const std::string& name);
/// The number at `name`, a non-integer truncated toward zero; nullopt when absent or not a
/// number.
std::optional<int64_t> IntField(const Json& object, const std::string& name);
/// The number at `name`, a non-integer rounded to the nearest integer; nullopt when absent
/// or not a number.
std::optional<int64_t> RoundedIntField(const Json& object, const std::string& name);
/// The number at `name`; nullopt when absent or not a number.
std::optional<double> NumberField(const Json& object, const std::string& name);
/// True only when `name` holds the boolean true.
bool BoolField(const Json& object, const std::string& name);
/// The time at `name`, read with ParseTime; nullopt when absent, empty or unreadable.
std::optional<WallTime> TimeField(const Json& object, const std::string& name);
/// The time at `name`, read with ParseTimeMs; nullopt when absent, empty or unreadable.
std::optional<WallTime> TimeMsField(const Json& object, const std::string& name);

}  // namespace poolguard::controller
