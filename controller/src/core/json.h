#pragma once

// Reading the Kubernetes objects the controller handles: optional fields of JSON objects
// (the shared readers of common/) and RFC 3339 times as status writes them.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "poolguard/common/json_util.h"
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

// The field readers every PoolGuard program shares (common/json_util.h).
using json::BoolField;
using json::Field;
using json::IntField;
using json::IntOr;
using json::NumberField;
using json::RoundedIntField;
using json::StringField;

/// The time at `name`, read with ParseTime; nullopt when absent, empty or unreadable.
std::optional<WallTime> TimeField(const Json& object, const std::string& name);
/// The time at `name`, read with ParseTimeMs; nullopt when absent, empty or unreadable.
std::optional<WallTime> TimeMsField(const Json& object, const std::string& name);

}  // namespace poolguard::controller
