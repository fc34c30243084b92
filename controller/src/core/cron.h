#pragma once

// Cron expressions as Kubernetes CronJobs read them (robfig/cron's standard parser): five
// fields "minute hour day-of-month month day-of-week" with lists, ranges, steps and
// month/day names; the macros @yearly @annually @monthly @weekly @daily @midnight @hourly;
// and @every <duration> (an interval counted from the previous run). Day-of-month and
// day-of-week both restricted: either may match (as in every cron).
//
// Times are evaluated as wall-clock times in a TimeZone: a time the clocks skip fires at
// the instant they jump past it; a time they pass twice fires once, the first time.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/time_zone.h"

namespace poolguard::controller {

class CronSchedule {
 public:
  /// Parses `expr`; on error returns nullopt and sets `error` to what is wrong and where.
  static std::optional<CronSchedule> Parse(std::string_view expr, std::string* error);

  /// The first time strictly after `after` (UTC seconds) that the schedule fires, wall
  /// times read in `tz`; nullopt if none within five years.
  std::optional<int64_t> Next(int64_t after, const TimeZone& tz) const;
  /// The interval of an @every schedule (0 for a cron expression).
  int64_t every() const { return every_; }

 private:
  uint64_t minutes_ = 0;  // bit i: minute i
  uint32_t hours_ = 0;
  uint32_t days_ = 0;      // bit 1..31
  uint32_t months_ = 0;    // bit 1..12
  uint32_t weekdays_ = 0;  // bit 0..6, 0 = Sunday
  bool day_star_ = false;
  bool weekday_star_ = false;
  int64_t every_ = 0;  // seconds, for @every
};

}  // namespace poolguard::controller
