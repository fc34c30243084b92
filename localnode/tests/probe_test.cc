#include "probe.h"

#include <gtest/gtest.h>

namespace poolguard::localnode {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Json Parse(const std::string& s) { return Json::parse(s); }

TEST(ParseProbe, DefaultsAndNamedPorts) {
  Json c = Parse(R"({"ports":[{"name":"http","containerPort":8000}]})");
  auto p = ParseProbe(Parse(R"({"httpGet":{"path":"/health","port":"http"}})"), c);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, ProbeSpec::Kind::kHttpGet);
  EXPECT_EQ(p->port, 8000);
  EXPECT_EQ(p->path, "/health");
  EXPECT_EQ(p->period_seconds, 10);
  EXPECT_EQ(p->timeout_seconds, 1);
  EXPECT_EQ(p->failure_threshold, 3);
  EXPECT_EQ(p->success_threshold, 1);
  auto t =
      ParseProbe(Parse(R"({"tcpSocket":{"port":5432},"periodSeconds":2,"failureThreshold":1})"), c);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->kind, ProbeSpec::Kind::kTcpSocket);
  EXPECT_EQ(t->port, 5432);
  EXPECT_EQ(t->period_seconds, 2);
  auto e = ParseProbe(Parse(R"({"exec":{"command":["pg_isready","-q"]}})"), c);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->command, (std::vector<std::string>{"pg_isready", "-q"}));
  EXPECT_FALSE(ParseProbe(Json::null(), c));
  EXPECT_THROW(ParseProbe(Parse(R"({"tcpSocket":{"port":"nope"}})"), c), std::invalid_argument);
}

ProbeSpec Spec(int delay, int period, int success, int failure) {
  ProbeSpec s;
  s.initial_delay_seconds = delay;
  s.period_seconds = period;
  s.success_threshold = success;
  s.failure_threshold = failure;
  return s;
}

TEST(ProbeState, InitialDelayThenPeriod) {
  ProbeState st(Spec(5, 10, 1, 3), false);
  EXPECT_FALSE(st.Due(seconds(4)));
  EXPECT_TRUE(st.Due(seconds(5)));
  st.Record(true, seconds(5));
  EXPECT_FALSE(st.Due(seconds(14)));
  EXPECT_TRUE(st.Due(seconds(15)));
}

TEST(ProbeState, ReadinessNeedsSuccessThresholdAndFailsAfterFailureThreshold) {
  ProbeState st(Spec(0, 1, 2, 3), false);
  st.Record(true, seconds(1));
  EXPECT_FALSE(st.result());  // one success of two
  st.Record(true, seconds(2));
  EXPECT_TRUE(st.result());
  st.Record(false, seconds(3));
  st.Record(false, seconds(4));
  EXPECT_TRUE(st.result());  // two failures of three
  st.Record(true, seconds(5));
  st.Record(false, seconds(6));
  st.Record(false, seconds(7));
  EXPECT_TRUE(st.result());  // the success reset the count
  st.Record(false, seconds(8));
  EXPECT_FALSE(st.result());
  EXPECT_EQ(st.consecutive_failures(), 3);
}

TEST(ProbeState, LivenessStartsHealthy) {
  ProbeState st(Spec(0, 1, 1, 1), true);
  EXPECT_TRUE(st.result());
  st.Record(false, milliseconds(10));
  EXPECT_FALSE(st.result());
}

TEST(HttpProbeSuccess, StatusRanges) {
  EXPECT_TRUE(HttpProbeSuccess(200));
  EXPECT_TRUE(HttpProbeSuccess(302));
  EXPECT_FALSE(HttpProbeSuccess(404));
  EXPECT_FALSE(HttpProbeSuccess(503));
}

TEST(RunProbe, TcpAndExec) {
  ProbeSpec tcp;
  tcp.kind = ProbeSpec::Kind::kTcpSocket;
  tcp.port = 1;  // nothing listens on port 1
  EXPECT_FALSE(RunProbe(tcp, "127.0.0.1", 0, {}).success);
  ProbeSpec ex;
  ex.kind = ProbeSpec::Kind::kExec;
  ex.command = {"sh", "-c", "test \"$X\" = yes"};
  EXPECT_TRUE(RunProbe(ex, "", 0, {"X=yes", "PATH=/usr/bin:/bin"}).success);
  EXPECT_FALSE(RunProbe(ex, "", 0, {"X=no", "PATH=/usr/bin:/bin"}).success);
}

}  // namespace
}  // namespace poolguard::localnode
