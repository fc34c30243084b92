#include "core/cron.h"

#include <gtest/gtest.h>

#include "core/json.h"

namespace poolguard::controller {
namespace {

int64_t At(const char* rfc3339) {
  auto t = ParseTime(rfc3339);
  EXPECT_TRUE(t) << rfc3339;
  return std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count();
}

std::string Fmt(std::optional<int64_t> t) {
  return t ? FormatTime(WallTime(std::chrono::seconds(*t))) : "never";
}

CronSchedule Must(const char* expr) {
  std::string error;
  auto c = CronSchedule::Parse(expr, &error);
  EXPECT_TRUE(c) << expr << ": " << error;
  return c.value_or(CronSchedule());
}

std::string NextUtc(const char* expr, const char* after) {
  return Fmt(Must(expr).Next(At(after), TimeZone()));
}

TEST(Cron, FieldsListsRangesStepsAndNames) {
  EXPECT_EQ(NextUtc("*/15 * * * *", "2026-12-04T10:07:00Z"), "2026-12-04T10:15:00Z");
  EXPECT_EQ(NextUtc("*/15 * * * *", "2026-12-04T10:15:00Z"), "2026-12-04T10:30:00Z");
  EXPECT_EQ(NextUtc("5/20 * * * *", "2026-12-04T10:06:00Z"), "2026-12-04T10:25:00Z");
  EXPECT_EQ(NextUtc("0 9 * * 1-5", "2026-12-04T10:00:00Z"), "2026-12-07T09:00:00Z");  // Fri → Mon
  EXPECT_EQ(NextUtc("0 0 1 jan,JUL *", "2026-02-01T00:00:00Z"), "2026-07-01T00:00:00Z");
  EXPECT_EQ(NextUtc("0 12 * * SUN", "2026-12-04T00:00:00Z"), "2026-12-06T12:00:00Z");
  EXPECT_EQ(NextUtc("0 12 * * 7", "2026-12-04T00:00:00Z"), "2026-12-06T12:00:00Z");  // 7: Sunday
  EXPECT_EQ(NextUtc("30 23 31 * *", "2026-11-01T00:00:00Z"), "2026-12-31T23:30:00Z");
  EXPECT_EQ(NextUtc("0 0 29 2 *", "2026-03-01T00:00:00Z"), "2028-02-29T00:00:00Z");
  EXPECT_EQ(NextUtc("@hourly", "2026-12-04T10:00:00Z"), "2026-12-04T11:00:00Z");
  EXPECT_EQ(NextUtc("@weekly", "2026-12-04T10:00:00Z"), "2026-12-06T00:00:00Z");
  EXPECT_EQ(NextUtc("@yearly", "2026-12-04T10:00:00Z"), "2027-01-01T00:00:00Z");
  // Seconds in `after` are dropped: the next whole minute after it.
  EXPECT_EQ(NextUtc("* * * * *", "2026-12-04T10:00:30Z"), "2026-12-04T10:01:00Z");
}

TEST(Cron, DayOfMonthAndDayOfWeekBothRestrictedMeansEither) {
  // The 13th, or any Friday: Friday 4 December comes first, then Sunday 13 December.
  EXPECT_EQ(NextUtc("0 0 13 * FRI", "2026-12-01T00:00:00Z"), "2026-12-04T00:00:00Z");
  EXPECT_EQ(NextUtc("0 0 13 * FRI", "2026-12-11T00:00:00Z"), "2026-12-13T00:00:00Z");
  // "*/1" is "*" (robfig/cron): the day of month alone decides.
  EXPECT_EQ(NextUtc("0 0 13 * */1", "2026-12-01T00:00:00Z"), "2026-12-13T00:00:00Z");
  // With "*" in one of them, the other alone decides.
  EXPECT_EQ(NextUtc("0 0 * * FRI", "2026-12-05T00:00:00Z"), "2026-12-11T00:00:00Z");
  EXPECT_EQ(NextUtc("0 0 13 * *", "2026-12-01T00:00:00Z"), "2026-12-13T00:00:00Z");
}

TEST(Cron, DayOfWeekStepsStopAtSaturday) {
  // 1/2 is Mon, Wed, Fri: after Friday 4 December comes Monday 7, not Sunday 6.
  EXPECT_EQ(NextUtc("0 9 * * 1/2", "2026-12-04T10:00:00Z"), "2026-12-07T09:00:00Z");
  EXPECT_EQ(NextUtc("0 9 * * 5/2", "2026-12-04T10:00:00Z"), "2026-12-11T09:00:00Z");
  EXPECT_EQ(NextUtc("0 9 * * MON/2", "2026-12-04T10:00:00Z"), "2026-12-07T09:00:00Z");
}

TEST(Cron, EveryCountsFromTheTimeGiven) {
  const auto c = Must("@every 30s");
  EXPECT_EQ(c.every(), 30);
  EXPECT_EQ(c.Next(1000, TimeZone()), 1030);
  EXPECT_EQ(Must("@every 1h30m").every(), 5400);
}

TEST(Cron, WallTimesInAZone) {
  const auto berlin = TimeZone::FromPosix("CET-1CEST,M3.5.0,M10.5.0/3");
  const auto c = Must("30 2 * * *");
  // Spring forward: 02:30 does not happen on 29 March 2026; it fires as the clocks jump.
  EXPECT_EQ(Fmt(c.Next(At("2026-03-28T12:00:00Z"), berlin)), "2026-03-29T01:00:00Z");
  EXPECT_EQ(Fmt(c.Next(At("2026-03-29T01:00:00Z"), berlin)), "2026-03-30T00:30:00Z");
  // Fall back: 02:30 happens twice on 25 October; it fires once, the first time.
  EXPECT_EQ(Fmt(c.Next(At("2026-10-24T12:00:00Z"), berlin)), "2026-10-25T00:30:00Z");
  EXPECT_EQ(Fmt(c.Next(At("2026-10-25T00:30:00Z"), berlin)), "2026-10-26T01:30:00Z");
  EXPECT_EQ(Fmt(c.Next(At("2026-10-25T01:15:00Z"), berlin)), "2026-10-26T01:30:00Z");
  const auto kolkata = TimeZone::FromPosix("<+0530>-5:30");
  EXPECT_EQ(Fmt(Must("0 9 * * *").Next(At("2026-12-04T00:00:00Z"), kolkata)),
            "2026-12-04T03:30:00Z");
}

TEST(Cron, ErrorsSayWhatAndWhere) {
  struct Case {
    const char* expr;
    const char* says;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"", "empty"},
           {"* * * *", "expected 5 fields"},
           {"0 * * * * *", "seconds are not supported"},
           {"60 * * * *", "minute field \"60\""},
           {"* 24 * * *", "hour field"},
           {"* * 0 * *", "day of month field"},
           {"* * * 13 *", "month field"},
           {"* * * * 8", "day of week field"},
           {"5-1 * * * *", "upwards"},
           {"*/0 * * * *", "step must be 1 or more"},
           {"1,,2 * * * *", "empty list item"},
           {"* * * FOO *", "month field \"FOO\""},
           {"0 0 30 2 *", "never fires"},
           {"@fortnightly", "unknown macro"},
           {"@every 5s", "shorter than 10s"},
           {"@every soon", "@every needs a duration"},
           {"@every 9000h", "longer than a year"},
       }) {
    std::string error;
    EXPECT_FALSE(CronSchedule::Parse(c.expr, &error)) << c.expr;
    EXPECT_NE(error.find(c.says), std::string::npos) << c.expr << " → " << error;
  }
}

}  // namespace
}  // namespace poolguard::controller
