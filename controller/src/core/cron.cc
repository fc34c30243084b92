#include "core/cron.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

#include "core/duration.h"

namespace poolguard::controller {
namespace {

constexpr int64_t kDay = 86400;
constexpr int64_t kMinEvery = 10;  // seconds: faster than this is not a schedule for faults
constexpr int64_t kMaxEvery = 366 * 86400;  // a year: longer is what a cron line says

struct Field {
  const char* name;
  int min, max;
  const char* const* names;  // indexed from `min`; null when the field has none
};

constexpr const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
constexpr Field kFields[] = {{"minute", 0, 59, nullptr},
                             {"hour", 0, 23, nullptr},
                             {"day of month", 1, 31, nullptr},
                             {"month", 1, 12, kMonthNames},
                             {"day of week", 0, 7, kDayNames}};

std::string Upper(std::string_view s) {
  std::string u(s);
  for (auto& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t from = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(from, i - from));
      from = i + 1;
    }
  }
  return out;
}

bool Value(std::string_view s, const Field& f, int* out) {
  if (s.empty() || s.size() > 3) return false;
  if (std::isdigit(static_cast<unsigned char>(s[0]))) {
    int n = 0;
    for (char c : s) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      n = n * 10 + (c - '0');
    }
    if (n < f.min || n > f.max) return false;
    *out = n;
    return true;
  }
  if (f.names == nullptr) return false;
  const std::string u = Upper(s);
  const int count = f.max - f.min + (f.names == kDayNames ? 0 : 1);
  for (int i = 0; i < count; ++i) {
    if (u == f.names[i]) {
      *out = f.min + i;
      return true;
    }
  }
  return false;
}

// One field into a bit set; `star` says whether it was "*" or "?" (no step).
bool ParseField(std::string_view text, const Field& f, uint64_t* bits, bool* star,
                std::string* error) {
  auto fail = [&](const std::string& what) {
    *error = std::string(f.name) + " field \"" + std::string(text.substr(0, 32)) + "\": " + what;
    return false;
  };
  *bits = 0;
  *star = false;
  for (std::string_view item : Split(text, ',')) {
    if (item.empty()) return fail("an empty list item");
    int step = 1;
    bool has_step = false;
    if (const auto slash = item.find('/'); slash != std::string_view::npos) {
      const std::string_view s = item.substr(slash + 1);
      int n = 0;
      if (s.empty() || s.size() > 2) return fail("a step must be a number from 1");
      for (char c : s) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return fail("a step must be a number");
        n = n * 10 + (c - '0');
      }
      if (n < 1) return fail("a step must be 1 or more");
      step = n;
      has_step = true;
      item = item.substr(0, slash);
    }
    int lo = 0, hi = 0;
    // Expansions stop at Saturday (6): 7 is only Sunday written out, as in robfig/cron.
    const int top = f.names == kDayNames ? 6 : f.max;
    if (item == "*" || item == "?") {
      lo = f.min;
      hi = top;
      if (step == 1) *star = true;  // "*/1" is "*"
    } else if (const auto dash = item.find('-'); dash != std::string_view::npos) {
      if (!Value(item.substr(0, dash), f, &lo) || !Value(item.substr(dash + 1), f, &hi))
        return fail("a range needs two values from " + std::to_string(f.min) + " to " +
                    std::to_string(f.max));
      if (lo > hi) return fail("a range must go upwards");
    } else {
      if (!Value(item, f, &lo))
        return fail("expected a value from " + std::to_string(f.min) + " to " +
                    std::to_string(f.max) + (f.names != nullptr ? " or a name" : "") +
                    ", a range, a list or \"*\"");
      hi = has_step ? std::max(lo, top) : lo;  // "5/15" is "5-max/15"
    }
    for (int v = lo; v <= hi; v += step) *bits |= uint64_t{1} << v;
  }
  return true;
}

struct Civil {
  int64_t y;
  int m, d, hour, minute, weekday;
};

Civil CivilOf(int64_t local) {
  int64_t days = (local >= 0 ? local : local - (kDay - 1)) / kDay;
  const int64_t secs = local - days * kDay;
  Civil c{};
  c.weekday = static_cast<int>(((days % 7) + 11) % 7);
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  c.d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  c.m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  c.y = yoe + era * 400 + (c.m <= 2);
  c.hour = static_cast<int>(secs / 3600);
  c.minute = static_cast<int>(secs % 3600 / 60);
  return c;
}

int64_t LocalOf(int64_t y, int m, int d) { return DaysFromCivil(y, m, d) * kDay; }

}  // namespace

std::optional<CronSchedule> CronSchedule::Parse(std::string_view expr, std::string* error) {
  while (!expr.empty() && std::isspace(static_cast<unsigned char>(expr.front())))
    expr.remove_prefix(1);
  while (!expr.empty() && std::isspace(static_cast<unsigned char>(expr.back())))
    expr.remove_suffix(1);
  if (expr.empty()) {
    *error = "the schedule is empty";
    return std::nullopt;
  }
  if (expr.size() > 256) {
    *error = "the schedule is longer than 256 characters";
    return std::nullopt;
  }
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kMacros{{
      {"@yearly", "0 0 1 1 *"},
      {"@annually", "0 0 1 1 *"},
      {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"},
      {"@daily", "0 0 * * *"},
      {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"},
  }};
  for (const auto& [macro, fields] : kMacros)
    if (expr == macro) return Parse(fields, error);
  if (expr.rfind("@every ", 0) == 0) {
    std::string_view d = expr.substr(7);
    while (!d.empty() && d.front() == ' ') d.remove_prefix(1);
    const auto ms = ParseDuration(std::string(d));
    if (!ms) {
      *error = "@every needs a duration such as 30s, 5m or 1h30m, not \"" +
               std::string(d.substr(0, 32)) + "\"";
      return std::nullopt;
    }
    if (*ms < std::chrono::seconds(kMinEvery)) {
      *error = "@every " + std::string(d) + " is shorter than " + std::to_string(kMinEvery) + "s";
      return std::nullopt;
    }
    CronSchedule s;
    if (*ms > std::chrono::seconds(kMaxEvery)) {
      *error = "@every " + std::string(d) + " is longer than a year (8784h): use a cron expression";
      return std::nullopt;
    }
    s.every_ = std::chrono::duration_cast<std::chrono::seconds>(*ms).count();
    return s;
  }
  if (expr.front() == '@') {
    *error = "unknown macro \"" + std::string(expr.substr(0, 32)) +
             "\" (known: @yearly @annually @monthly @weekly @daily @midnight @hourly @every)";
    return std::nullopt;
  }
  std::vector<std::string_view> fields;
  for (std::string_view f : Split(expr, ' '))
    for (std::string_view g : Split(f, '\t'))
      if (!g.empty()) fields.push_back(g);
  if (fields.size() != 5) {
    *error = "expected 5 fields (minute hour day-of-month month day-of-week), found " +
             std::to_string(fields.size());
    if (fields.size() == 6) *error += " (seconds are not supported)";
    return std::nullopt;
  }
  CronSchedule s;
  uint64_t bits[5] = {};
  bool star[5] = {};
  for (int i = 0; i < 5; ++i)
    if (!ParseField(fields[i], kFields[i], &bits[i], &star[i], error)) return std::nullopt;
  s.minutes_ = bits[0];
  s.hours_ = static_cast<uint32_t>(bits[1]);
  s.days_ = static_cast<uint32_t>(bits[2]);
  s.months_ = static_cast<uint32_t>(bits[3]);
  s.weekdays_ = static_cast<uint32_t>((bits[4] | (bits[4] >> 7)) & 0x7f);  // 7 is Sunday
  s.day_star_ = star[2];
  s.weekday_star_ = star[4];
  // A schedule that can never fire ("0 0 30 2 *") is an error, not a silent no-op.
  if (!s.Next(0, TimeZone())) {
    *error = "the schedule never fires (no such day in any month it names)";
    return std::nullopt;
  }
  return s;
}

std::optional<int64_t> CronSchedule::Next(int64_t after, const TimeZone& tz) const {
  if (every_ > 0) return after + every_;
  int64_t local = after + tz.OffsetAt(after);
  local = local - (((local % 60) + 60) % 60) + 60;
  const int64_t limit = local + 5 * 366 * kDay;
  while (local < limit) {
    const Civil c = CivilOf(local);
    if (!(months_ >> c.m & 1)) {
      local = c.m == 12 ? LocalOf(c.y + 1, 1, 1) : LocalOf(c.y, c.m + 1, 1);
      continue;
    }
    const bool day_ok = day_star_ || weekday_star_
                            ? (days_ >> c.d & 1) && (weekdays_ >> c.weekday & 1)
                            : (days_ >> c.d & 1) || (weekdays_ >> c.weekday & 1);
    if (!day_ok) {
      local = LocalOf(c.y, c.m, c.d) + kDay;
      continue;
    }
    if (!(hours_ >> c.hour & 1)) {
      local = LocalOf(c.y, c.m, c.d) + (c.hour + 1) * 3600;
      continue;
    }
    if (!(minutes_ >> c.minute & 1)) {
      local += 60;
      continue;
    }
    const int64_t at = tz.FirstInstantOf(local);
    if (at > after) return at;
    local += 60;
  }
  return std::nullopt;
}

}  // namespace poolguard::controller
