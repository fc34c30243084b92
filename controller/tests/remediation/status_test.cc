#include "remediation/status.h"

#include <gtest/gtest.h>

#include "core/text.h"

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;

const WallTime kNow = std::chrono::system_clock::from_time_t(1'800'000'000);

Json J(const std::string& s) { return Json::parse(s); }

TEST(RemediationTime, MillisecondsRoundTrip) {
  const WallTime t = kNow + 250ms;
  EXPECT_EQ(FormatTimeMs(t), "2027-01-15T08:00:00.250Z");
  EXPECT_EQ(ParseTimeMs("2027-01-15T08:00:00.250Z"), t);
  EXPECT_EQ(ParseTimeMs("2027-01-15T08:00:00Z"), kNow);
  EXPECT_EQ(ParseTimeMs("2027-01-15T08:00:00.5Z"), kNow + 500ms);
  EXPECT_FALSE(ParseTimeMs("yesterday"));
  EXPECT_EQ(IncidentId(t), "20270115T080000Z");
}

RemediationStatus FullStatus() {
  RemediationStatus s;
  s.phase = RemediationPhase::kVerifying;
  s.observed_generation = 4;
  s.message = "rung 2: RestartDatabase: verifying";
  s.detection = {Health::kDegraded,
                 kNow - 5s,
                 std::nullopt,
                 {"errorRatio", "health/api-1"},
                 "failing for at least 3s: errorRatio, health/api-1"};
  Incident in;
  in.id = "20270115T075950Z";
  in.first_bad_at = kNow - 12s;
  in.detected_at = kNow - 10s + 125ms;
  in.diagnosed_at = kNow - 9s;
  in.detection_seconds = 2.125;
  in.chaos_experiment = "chaos/lock";
  in.signals = {"degraded: 2/2 pods failing /health",
                0.93,
                3.1,
                57,
                true,
                "DB_ERROR: pool_timeout: QueuePool limit of size 5 overflow 0 reached",
                {"errorRatio"}};
  in.baseline = {0.0, 0.012, 40};
  Diagnosis d;
  d.checks = {{"DatabaseRunning", Outcome::kPass, "db-0 Ready"},
              {"BlockingSessions", Outcome::kFail, "1 session idle in transaction 41s"},
              {"ServerSlots", Outcome::kInconclusive, "capacity not read"}};
  d.conclusion = Conclusion::kLockContention;
  d.confidence = Confidence::kHigh;
  d.summary = "LockContention: ...";
  d.blocking_pids = {4242};
  in.diagnosis = d;
  ActionRecord a1;
  a1.action = RemediationAction::kRestartDeployment;
  a1.rung = 1;
  a1.started_at = kNow - 9s;
  a1.applied_at = kNow - 7s;
  a1.finished_at = kNow - 3s;
  a1.result = ActionResult::kVerificationFailed;
  a1.key = FormatTimeMs(kNow - 9s);
  a1.verification = "/health failed 3 checks in a row";
  a1.approved_by = "system:serviceaccount:shop:alice";
  a1.failed_streak = 3;
  ActionRecord a2;
  a2.action = RemediationAction::kIncreasePoolSize;
  a2.rung = 2;
  a2.started_at = kNow - 2s;
  a2.result = ActionResult::kVerifying;
  a2.from_pool_size = 5;
  a2.to_pool_size = 10;
  a2.healthy_streak = 2;
  ActionRecord a3;
  a3.action = RemediationAction::kTerminateBlockingSessions;
  a3.result = ActionResult::kPlanned;
  a3.pids = {4242, 4243};
  in.actions = {a1, a2, a3};
  in.pool_revert = PoolSizeRevert{"DB_POOL_SIZE", 5, 10, kNow, std::nullopt, ""};
  s.incident = in;
  Incident old;
  old.id = "20270115T070000Z";
  old.detected_at = kNow - 1h;
  old.resolved_at = kNow - 59min;
  old.outcome = rem::kResolved;
  old.verdict = "detected in 1.0 s, healed at rung 1 (RestartDeployment) in 4.0 s";
  s.history = {old};
  s.sessions = SessionsStatus{R"(role "app" or a client address of 2 pods)", 10, 3, kNow};
  SetCondition(&s.conditions, {rem::kHealthy, "False", rem::kDegraded, "failing", {}, 4}, kNow);
  SetCondition(&s.conditions, {rem::kNeedsHuman, "False", rem::kNoIncident, "", {}, 4}, kNow);
  return s;
}

TEST(RemediationStatus, JsonRoundTrip) {
  const RemediationStatus s = FullStatus();
  Json object = Json::object();
  object["status"] = ToJson(s);
  const Json reparsed = Json::parse(object.serialize());
  EXPECT_EQ(ParseRemediationStatus(reparsed), s) << object.serialize();
  EXPECT_EQ(reparsed.at("status").at("phase").as_string(), "Verifying");
  EXPECT_EQ(reparsed.at("status").at("incident").at("diagnosis").at("conclusion").as_string(),
            "LockContention");
  EXPECT_EQ(reparsed.at("status").at("incident").at("actions").at(0).at("result").as_string(),
            "VerificationFailed");
  EXPECT_EQ(reparsed.at("status").at("sessions").at("target").as_integer(), 10);
}

TEST(RemediationStatus, EmptyAndForeignStatus) {
  EXPECT_EQ(ParseRemediationStatus(J("{}")), RemediationStatus{});
  const auto s = ParseRemediationStatus(J(
      R"({"status":{"phase":"Sleeping","incident":{"actions":[{"name":"Reboot"},{"name":"RestartDatabase","result":"???"}]}}})"));
  EXPECT_EQ(s.phase, RemediationPhase::kNone);
  ASSERT_TRUE(s.incident);
  ASSERT_EQ(s.incident->actions.size(), 1u);
  // An unreadable result is taken as still in progress: continued, never started again.
  EXPECT_EQ(s.incident->actions[0].result, ActionResult::kInProgress);
}

TEST(RemediationStatus, HistoryIsBounded) {
  RemediationStatus s;
  for (int i = 0; i < 15; ++i) {
    Incident in;
    in.id = std::to_string(i);
    s.history.push_back(in);
  }
  Json object = Json::object();
  object["status"] = ToJson(s);
  EXPECT_EQ(object.at("status").at("history").size(), kMaxHistory);
  EXPECT_EQ(ParseRemediationStatus(object).history.size(), kMaxHistory);
}

// Every enum value's name reads back as the value, and an unknown name as the safe value.
TEST(RemediationStatus, EnumNamesRoundTrip) {
  for (auto v : {Outcome::kPass, Outcome::kFail, Outcome::kError, Outcome::kInconclusive}) {
    EXPECT_EQ(ParseOutcome(OutcomeName(v)), v) << OutcomeName(v);
  }
  EXPECT_EQ(ParseOutcome("pass"), Outcome::kInconclusive);
  for (auto v : {Health::kUnknown, Health::kHealthy, Health::kDegraded}) {
    EXPECT_EQ(ParseHealth(HealthName(v)), v) << HealthName(v);
  }
  for (auto v :
       {Conclusion::kUnknown, Conclusion::kConnectionPoolExhausted, Conclusion::kLockContention,
        Conclusion::kServerSlotsExhausted, Conclusion::kDatabaseDown,
        Conclusion::kCredentialsRejected, Conclusion::kNetworkUnreachable}) {
    EXPECT_EQ(ParseConclusion(ConclusionName(v)), v) << ConclusionName(v);
  }
  for (auto v : {Confidence::kLow, Confidence::kMedium, Confidence::kHigh}) {
    EXPECT_EQ(ParseConfidence(ConfidenceName(v)), v) << ConfidenceName(v);
  }
  for (auto v :
       {ActionResult::kInProgress, ActionResult::kVerifying, ActionResult::kVerified,
        ActionResult::kVerificationFailed, ActionResult::kFailed, ActionResult::kPlanned}) {
    EXPECT_EQ(ParseActionResult(ActionResultName(v)), v) << ActionResultName(v);
  }
  EXPECT_EQ(ParseActionResult("Exploded"), ActionResult::kInProgress);
  for (auto v :
       {RemediationPhase::kNone, RemediationPhase::kWatching, RemediationPhase::kDetected,
        RemediationPhase::kDiagnosing, RemediationPhase::kRemediating, RemediationPhase::kVerifying,
        RemediationPhase::kResolved, RemediationPhase::kExhausted,
        RemediationPhase::kAwaitingApproval, RemediationPhase::kInvalid}) {
    EXPECT_EQ(ParseRemediationPhase(RemediationPhaseName(v)), v) << RemediationPhaseName(v);
  }
  for (auto v :
       {RemediationAction::kRestartDeployment, RemediationAction::kRestartDatabase,
        RemediationAction::kIncreasePoolSize, RemediationAction::kTerminateBlockingSessions}) {
    EXPECT_EQ(ParseAction(ActionName(v)), v) << ActionName(v);
  }
  EXPECT_EQ(ParseAction("Reboot"), std::nullopt);
  EXPECT_EQ(StrategyName(Strategy::kLadder), "Ladder");
  EXPECT_EQ(StrategyName(Strategy::kDiagnosisDriven), "DiagnosisDriven");
}

// Found by the specs fuzzer: a far year overflowed system_clock's nanoseconds (UB).
TEST(RemediationTime, FarYearsAreUnreadableNotAnOverflow) {
  EXPECT_EQ(ParseTimeMs("1013-01-15T08:00:00Z"), std::nullopt);
  EXPECT_EQ(ParseTimeMs("9999-12-31T23:59:59.999Z"), std::nullopt);
  EXPECT_EQ(ParseTime("2262-05-01T00:00:00Z"), std::nullopt);
  EXPECT_TRUE(ParseTime("2261-12-31T23:59:59Z"));
  EXPECT_TRUE(ParseTime("1970-01-01T00:00:00Z"));
}

TEST(Truncated, CutsAtACharacterBoundaryAndSaysSo) {
  EXPECT_EQ(Truncated("short", 10), "short");
  EXPECT_EQ(Truncated("0123456789abc", 10), "0123456\xE2\x80\xA6");
  // "é" is two bytes: the cut never splits it.
  const std::string accents = "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9";
  EXPECT_EQ(Truncated(accents, 6), "\xC3\xA9\xE2\x80\xA6");
  EXPECT_LE(Truncated(std::string(5000, 'x'), 1024).size(), 1024u);
}

// Whatever the database, the target's logs or an error said, a status stays far below
// etcd's object size limit, and what is written reads back the same.
TEST(RemediationStatus, TextsFromOutsideAreBounded) {
  RemediationStatus s = FullStatus();
  const std::string flood(200'000, 'e');
  s.message = flood;
  s.detection.reason = flood;
  s.incident->signals.log_sample = flood;
  s.incident->diagnosis->checks[0].evidence = flood;
  s.incident->actions[0].detail = flood;
  s.incident->actions[2].pids.assign(10'000, 42);
  for (int i = 0; i < 10; ++i) s.history.push_back(*s.incident);
  BoundTexts(&s);
  Json object = Json::object();
  object["status"] = ToJson(s);
  const std::string text = object.serialize();
  EXPECT_LT(text.size(), 200'000u);  // etcd takes 1.5 MiB
  EXPECT_LE(s.message.size(), kMaxStatusText);
  EXPECT_LE(s.incident->signals.log_sample.size(), kMaxLogSample);
  EXPECT_LE(s.incident->actions[2].pids.size(), kMaxStatusList);
  EXPECT_EQ(ParseRemediationStatus(Json::parse(text)), s);
}

}  // namespace
}  // namespace poolguard::controller
