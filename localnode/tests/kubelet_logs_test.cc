#include <gtest/gtest.h>

#include "kubelet_server.h"

namespace poolguard::localnode {
namespace {

const char kLog[] =
    "2027-01-15T08:00:00.100000000Z first\n"
    "2027-01-15T08:00:01.500000000Z second\n"
    "2027-01-15T08:00:03.000000000Z DB_ERROR: pool_timeout: x\n";

TEST(LogLines, TimestampsAreStrippedUnlessAskedFor) {
  EXPECT_EQ(SelectLogLines(kLog, std::nullopt, false),
            "first\nsecond\nDB_ERROR: pool_timeout: x\n");
  EXPECT_EQ(SelectLogLines(kLog, std::nullopt, true), kLog);
}

TEST(LogLines, SinceSelectsByTheLinesTime) {
  EXPECT_EQ(SelectLogLines(kLog, "2027-01-15T08:00:01.5Z", false),
            "second\nDB_ERROR: pool_timeout: x\n");
  EXPECT_EQ(SelectLogLines(kLog, "2027-01-15T08:00:02Z", true),
            "2027-01-15T08:00:03.000000000Z DB_ERROR: pool_timeout: x\n");
  EXPECT_EQ(SelectLogLines(kLog, "2027-01-15T08:00:04Z", false), "");
  // A whole-second sinceTime includes every line of that second.
  EXPECT_EQ(SelectLogLines(kLog, "2027-01-15T08:00:01Z", false),
            "second\nDB_ERROR: pool_timeout: x\n");
}

TEST(LogLines, LinesWithoutATimestampAreKeptAsTheyAre) {
  // Files written before the agent stamped lines.
  EXPECT_EQ(SelectLogLines("plain line\n", "2027-01-15T08:00:00Z", false), "plain line\n");
}

TEST(LogLines, TimeAgoIsInTheCopiersFormat) {
  const std::string t = LogTimeAgo(2);
  ASSERT_EQ(t.size(), 30u) << t;
  EXPECT_EQ(t[10], 'T');
  EXPECT_EQ(t.back(), 'Z');
}

}  // namespace
}  // namespace poolguard::localnode
