#include "core/time_zone.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/json.h"

namespace poolguard::controller {
namespace {

int64_t At(const char* rfc3339) {
  auto t = ParseTime(rfc3339);
  EXPECT_TRUE(t) << rfc3339;
  return std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count();
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(TimeZone, UtcByDefaultAndByName) {
  EXPECT_EQ(TimeZone().OffsetAt(At("2026-07-01T00:00:00Z")), 0);
  EXPECT_EQ(TimeZone::Load("UTC").OffsetAt(At("2026-07-01T00:00:00Z")), 0);
  EXPECT_EQ(TimeZone::Load("").FirstInstantOf(At("2026-07-01T12:00:00Z")),
            At("2026-07-01T12:00:00Z"));
}

TEST(TimeZone, PosixRuleSwitchesAtTheRightInstants) {
  const auto z = TimeZone::FromPosix("CET-1CEST,M3.5.0,M10.5.0/3");
  // 2026: last Sunday of March is the 29th (01:00 UTC), of October the 25th (01:00 UTC).
  EXPECT_EQ(z.OffsetAt(At("2026-03-29T00:59:59Z")), 3600);
  EXPECT_EQ(z.OffsetAt(At("2026-03-29T01:00:00Z")), 7200);
  EXPECT_EQ(z.OffsetAt(At("2026-10-25T00:59:59Z")), 7200);
  EXPECT_EQ(z.OffsetAt(At("2026-10-25T01:00:00Z")), 3600);
  EXPECT_EQ(z.OffsetAt(At("2150-07-01T00:00:00Z")), 7200);
}

TEST(TimeZone, SouthernHemisphereRuleWrapsTheYear) {
  const auto z = TimeZone::FromPosix("AEST-10AEDT,M10.1.0,M4.1.0/3");
  EXPECT_EQ(z.OffsetAt(At("2026-01-15T00:00:00Z")), 11 * 3600);
  EXPECT_EQ(z.OffsetAt(At("2026-07-15T00:00:00Z")), 10 * 3600);
  EXPECT_EQ(z.OffsetAt(At("2026-12-15T00:00:00Z")), 11 * 3600);
}

TEST(TimeZone, QuotedNamesFractionalOffsetsAndJulianDays) {
  EXPECT_EQ(TimeZone::FromPosix("<+0530>-5:30").OffsetAt(0), 19800);
  EXPECT_EQ(TimeZone::FromPosix("<-03>3").OffsetAt(0), -3 * 3600);
  // J60 is 1 March every year; 60 (zero-based) is 1 March only in leap years.
  const auto j = TimeZone::FromPosix("XST0XDT,J60/0,J300/0");
  EXPECT_EQ(j.OffsetAt(At("2028-03-01T00:00:00Z")), 3600);
  EXPECT_EQ(j.OffsetAt(At("2028-02-29T23:59:59Z")), 0);
}

TEST(TimeZone, GapsFireWhenTheClocksJumpAndOverlapsTheFirstTime) {
  const auto z = TimeZone::FromPosix("CET-1CEST,M3.5.0,M10.5.0/3");
  // 02:30 on 29 March 2026 never happens in Berlin: the clocks jump from 02:00 to 03:00.
  EXPECT_EQ(z.FirstInstantOf(At("2026-03-29T02:30:00Z")), At("2026-03-29T01:00:00Z"));
  // 02:30 on 25 October 2026 happens twice; the first is 00:30 UTC (still CEST).
  EXPECT_EQ(z.FirstInstantOf(At("2026-10-25T02:30:00Z")), At("2026-10-25T00:30:00Z"));
  EXPECT_EQ(z.FirstInstantOf(At("2026-01-10T09:00:00Z")), At("2026-01-10T08:00:00Z"));
}

TEST(TimeZone, LoadsTheSystemsZoneinfoAndAgreesWithItsRule) {
  const auto berlin = TimeZone::Load("Europe/Berlin");
  const auto rule = TimeZone::FromPosix("CET-1CEST,M3.5.0,M10.5.0/3");
  for (const char* t : {"2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z",
                        "2031-06-01T00:00:00Z", "2045-12-01T00:00:00Z", "2099-07-01T00:00:00Z"}) {
    EXPECT_EQ(berlin.OffsetAt(At(t)), rule.OffsetAt(At(t))) << t;
  }
  EXPECT_EQ(berlin.OffsetAt(At("1990-07-01T00:00:00Z")), 7200);
  EXPECT_EQ(TimeZone::Load("Asia/Kolkata").OffsetAt(At("2026-07-01T00:00:00Z")), 19800);
  EXPECT_EQ(berlin.name(), "Europe/Berlin");
}

TEST(TimeZone, RefusesNamesThatAreNotZones) {
  for (const char* bad : {"../../etc/passwd", "/etc/passwd", "Europe/../../etc", "Europe//Berlin",
                          "Europe/Berlin ", ".hidden", "-rf"}) {
    EXPECT_FALSE(TimeZone::ValidName(bad)) << bad;
    EXPECT_THROW(TimeZone::Load(bad), std::invalid_argument) << bad;
  }
  try {
    TimeZone::Load("Mars/Olympus_Mons");
    FAIL() << "loaded a zone that does not exist";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown time zone \"Mars/Olympus_Mons\""),
              std::string::npos)
        << e.what();
  }
}

TEST(TimeZone, RejectsBadRulesWithWhereTheyGoWrong) {
  for (const char* bad :
       {"", "C", "CET", "CET-1CEST", "CET-1CEST,M3.5.0", "CET-1CEST,M13.1.0,M1.1.0",
        "CET-1CEST,M3.6.0,M10.5.0", "CET-99", "<+05", "CET-1CEST,J0,J5"}) {
    EXPECT_THROW(TimeZone::FromPosix(bad), std::invalid_argument) << bad;
  }
}

TEST(TimeZone, EveryPrefixOfARealFileParsesOrThrowsAndNeverCrashes) {
  const std::string bytes = Slurp("/usr/share/zoneinfo/Europe/Berlin");
  ASSERT_GT(bytes.size(), 100u);
  EXPECT_NO_THROW(TimeZone::FromTzif(bytes, "Europe/Berlin"));
  int threw = 0;
  for (size_t n = 0; n < bytes.size(); ++n) {
    try {
      TimeZone::FromTzif(std::string_view(bytes).substr(0, n), "cut");
    } catch (const std::invalid_argument&) {
      ++threw;
    }
  }
  EXPECT_EQ(threw, static_cast<int>(bytes.size()));  // the footer's newline ends it: all cut
  EXPECT_THROW(TimeZone::FromTzif("not a zone file at all", "x"), std::invalid_argument);
}

}  // namespace
}  // namespace poolguard::controller
