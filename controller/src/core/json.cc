#include "core/json.h"

#include <cmath>
#include <cstdio>
#include <ctime>

namespace poolguard::controller {
namespace {

// Reads "YYYY-MM-DDTHH:MM:SS" at the start of `s` as UTC; `*end` points past it. Years
// outside 1970-2261 are unreadable: system_clock counts nanoseconds in 64 bits, and a
// far year (which anyone can write into an object) must not overflow it.
std::optional<WallTime> ParseUtcSeconds(const std::string& s, const char** end) {
  std::tm tm{};
  *end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (*end == nullptr || tm.tm_year < 70 || tm.tm_year > 2261 - 1900) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

std::string FormatUtc(WallTime t, const char* format) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(TruncateToSeconds(t));
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

WallTime TruncateToSeconds(WallTime t) {
  return std::chrono::time_point_cast<std::chrono::seconds>(t);
}

std::string FormatTime(WallTime t) { return FormatUtc(t, "%Y-%m-%dT%H:%M:%SZ"); }

std::optional<WallTime> ParseTime(std::string_view text) {
  const std::string s(text);
  const char* end = nullptr;
  return ParseUtcSeconds(s, &end);
}

WallTime TruncateToMillis(WallTime t) {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(t);
}

std::string FormatTimeMs(WallTime t) {
  const auto ms = std::chrono::time_point_cast<std::chrono::milliseconds>(t);
  auto secs = std::chrono::floor<std::chrono::seconds>(ms);
  const int millis = static_cast<int>((ms - secs).count());
  std::string out = FormatUtc(secs, "%Y-%m-%dT%H:%M:%S");
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%03dZ", millis);
  return out + frac;
}

std::optional<WallTime> ParseTimeMs(std::string_view text) {
  const std::string s(text);
  const char* end = nullptr;
  std::optional<WallTime> t = ParseUtcSeconds(s, &end);
  if (!t) return std::nullopt;
  if (*end == '.') {
    ++end;
    int digits = 0;
    int64_t frac_ms = 0;
    while (*end >= '0' && *end <= '9') {
      if (digits < 3) frac_ms = frac_ms * 10 + (*end - '0');
      ++digits;
      ++end;
    }
    if (digits == 0) return std::nullopt;
    for (int i = digits; i < 3; ++i) frac_ms *= 10;
    *t += std::chrono::milliseconds(frac_ms);
  }
  if (*end != 'Z' && *end != '\0') return std::nullopt;  // offsets other than Z: not ours
  return t;
}

std::optional<WallTime> TimeField(const Json& object, const std::string& name) {
  const std::string s = StringField(object, name);
  if (s.empty()) return std::nullopt;
  return ParseTime(s);
}

std::optional<WallTime> TimeMsField(const Json& object, const std::string& name) {
  const std::string s = StringField(object, name);
  if (s.empty()) return std::nullopt;
  return ParseTimeMs(s);
}

}  // namespace poolguard::controller
