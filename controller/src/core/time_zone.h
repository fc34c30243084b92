#pragma once

// IANA time zones for schedules, read from the system's compiled zoneinfo (TZif files, RFC
// 8536) because GCC 12's <chrono> has no tzdb. A zone is held as a sorted list of offset
// changes: the file's transitions, then its footer's POSIX TZ rule expanded year by year
// to 2200 (so "slim" files, which keep only the rule, work the same as "fat" ones).
// Leap seconds ("right/" zones) are ignored: schedules count civil time.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace poolguard::controller {

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t year, int month, int day);

class TimeZone {
 public:
  /// UTC (no transitions, offset 0).
  TimeZone() = default;

  /// Parses TZif bytes (versions 1-4); `name` is only for messages. Throws
  /// std::invalid_argument naming what is wrong.
  static TimeZone FromTzif(std::string_view bytes, const std::string& name);
  /// Parses a POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3", "<+0530>-5:30", "UTC0").
  /// Throws std::invalid_argument naming what is wrong.
  static TimeZone FromPosix(std::string_view rule);
  /// Loads zone `name` ("Europe/Berlin", "UTC") from `dir` (default: $TZDIR, else
  /// /usr/share/zoneinfo). "" and "UTC" need no file. Throws std::invalid_argument for a
  /// name that is not a zone ("unknown time zone ...") or a file that is not TZif.
  static TimeZone Load(const std::string& name, const std::string& dir = "");
  /// Whether `name` is shaped like an IANA name (letters, digits, "_+-" in "/"-separated
  /// parts, no "." parts): what may be joined to the zoneinfo directory.
  static bool ValidName(std::string_view name);

  const std::string& name() const { return name_; }
  /// Seconds east of UTC in effect at `utc` (seconds since the epoch).
  int OffsetAt(int64_t utc) const;
  /// The instant at which local wall time `local` (seconds since the epoch, as if local
  /// were UTC) happens: the earlier one when it happens twice (clocks turned back), and
  /// the instant the clocks jump past it when it never happens (clocks turned forward).
  int64_t FirstInstantOf(int64_t local) const;

 private:
  struct Change {
    int64_t at;  // UTC seconds
    int offset;  // seconds east of UTC from `at` on
  };
  std::string name_ = "UTC";
  int initial_offset_ = 0;
  std::vector<Change> changes_;  // sorted by `at`
};

}  // namespace poolguard::controller
