#include "remediation/types.h"

#include <gtest/gtest.h>

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;

const WallTime kNow = std::chrono::system_clock::from_time_t(1'800'000'000);

Json J(const std::string& s) { return Json::parse(s); }

const std::string kMinimal =
    R"("target":{"deployment":"api"},"database":{"service":"db","credentialsSecret":"c"})";

TEST(RemediationSpec, DefaultsMatchTheCrd) {
  const auto r = ParseRemediationSpec(J("{\"spec\":{" + kMinimal + "}}"));
  ASSERT_TRUE(r.spec) << r.error;
  const RemediationSpec& s = *r.spec;
  EXPECT_EQ(s.target_service, "api");
  EXPECT_EQ(s.target_port, 8000);
  EXPECT_EQ(s.health_path, "/health");
  EXPECT_EQ(s.db_port, 5432);
  EXPECT_EQ(s.db_statefulset, "db");
  EXPECT_EQ(s.detection.interval, 1s);
  EXPECT_EQ(s.detection.for_window, 3s);
  EXPECT_EQ(s.detection.prometheus_url, "");
  EXPECT_EQ(s.detection.queries, PromQueryOverrides{});
  EXPECT_DOUBLE_EQ(s.detection.error_ratio, 0.2);
  EXPECT_DOUBLE_EQ(s.detection.p99_latency_seconds, 2);
  EXPECT_EQ(s.strategy, Strategy::kLadder);
  EXPECT_EQ(s.actions, (std::vector<RemediationAction>{RemediationAction::kRestartDeployment,
                                                       RemediationAction::kRestartDatabase,
                                                       RemediationAction::kIncreasePoolSize}));
  EXPECT_EQ(s.increase_pool_size, (PoolSizeSpec{"DB_POOL_SIZE", "", 5, 20}));
  EXPECT_EQ(s.verification.consecutive_healthy, 3);
  EXPECT_EQ(s.verification.window, 10s);
  EXPECT_EQ(s.verification.timeout, 60s);
  EXPECT_DOUBLE_EQ(s.verification.max_error_ratio, 0.01);
  EXPECT_DOUBLE_EQ(s.verification.latency_factor, 2.0);
  EXPECT_EQ(s.safety.max_actions_per_hour, 3);
  EXPECT_EQ(s.safety.cooldown, 60s);
  EXPECT_FALSE(s.safety.dry_run);
  EXPECT_TRUE(s.safety.require_approval.empty());
  EXPECT_EQ(s.safety.relapse_window, 5min);
  EXPECT_EQ(s.safety.max_relapses, 2);
}

TEST(RemediationSpec, ReadsEveryField) {
  const auto r = ParseRemediationSpec(J(R"json({"spec":{
    "target":{"deployment":"api","service":"api-svc","port":9000,"healthPath":"/healthz"},
    "database":{"service":"db","port":5433,"credentialsSecret":"c","statefulSet":"pg"},
    "detection":{"interval":"500ms","for":"2s",
                 "prometheus":{"url":"http://prom:9090/",
                               "queries":{"errorRatio":"max(err{ns=\"$namespace\"})",
                                          "p99LatencySeconds":"p99{d=\"${deployment}\"}",
                                          "poolTimeouts":"sum(increase(t[$range]))",
                                          "requestRate":"sum(rate(r[$range]))",
                                          "authErrors":"vector(0)"}},
                 "thresholds":{"errorRatio":0.5,"p99LatencySeconds":1.5}},
    "strategy":"DiagnosisDriven",
    "actions":["TerminateBlockingSessions","RestartDatabase"],
    "increasePoolSize":{"env":"POOL","container":"app","step":2,"max":8},
    "verification":{"consecutiveHealthy":5,"window":"20s","timeout":"2m","maxErrorRatio":0.05,
                    "latencyFactor":3},
    "safety":{"maxActionsPerHour":1,"cooldown":"10s","dryRun":true,
              "requireApproval":["RestartDatabase"],
              "loopBreaker":{"relapseWindow":"90s","maxRelapses":4}}}})json"));
  ASSERT_TRUE(r.spec) << r.error;
  const RemediationSpec& s = *r.spec;
  EXPECT_EQ(s.target_service, "api-svc");
  EXPECT_EQ(s.target_port, 9000);
  EXPECT_EQ(s.health_path, "/healthz");
  EXPECT_EQ(s.db_statefulset, "pg");
  EXPECT_EQ(s.detection.interval, 500ms);
  EXPECT_EQ(s.detection.prometheus_url, "http://prom:9090");
  // Kept as written: the collector substitutes the placeholders.
  EXPECT_EQ(s.detection.queries.error_ratio, R"(max(err{ns="$namespace"}))");
  EXPECT_EQ(s.detection.queries.p99_latency_seconds, R"(p99{d="${deployment}"})");
  EXPECT_EQ(s.detection.queries.pool_timeouts, "sum(increase(t[$range]))");
  EXPECT_EQ(s.detection.queries.request_rate, "sum(rate(r[$range]))");
  EXPECT_EQ(s.detection.queries.auth_errors, "vector(0)");
  EXPECT_EQ(s.strategy, Strategy::kDiagnosisDriven);
  EXPECT_TRUE(s.Allows(RemediationAction::kTerminateBlockingSessions));
  EXPECT_FALSE(s.Allows(RemediationAction::kRestartDeployment));
  EXPECT_TRUE(s.NeedsApproval(RemediationAction::kRestartDatabase));
  EXPECT_EQ(s.increase_pool_size, (PoolSizeSpec{"POOL", "app", 2, 8}));
  EXPECT_EQ(s.verification.timeout, 120s);
  EXPECT_DOUBLE_EQ(s.verification.latency_factor, 3);
  EXPECT_TRUE(s.safety.dry_run);
  EXPECT_EQ(s.safety.cooldown, 10s);
  EXPECT_EQ(s.safety.relapse_window, 90s);
  EXPECT_EQ(s.safety.max_relapses, 4);
}

struct SpecCase {
  std::string name;
  std::string spec;   // the body of spec
  std::string error;  // must appear in the message
};
void PrintTo(const SpecCase& c, std::ostream* os) { *os << c.name; }
class RemediationSpecErrors : public ::testing::TestWithParam<SpecCase> {};

TEST_P(RemediationSpecErrors, NameTheField) {
  const auto& c = GetParam();
  const auto r = ParseRemediationSpec(J("{\"spec\":{" + c.spec + "}}"));
  EXPECT_FALSE(r.spec);
  EXPECT_NE(r.error.find(c.error), std::string::npos) << r.error;
}

INSTANTIATE_TEST_SUITE_P(
    Table, RemediationSpecErrors,
    ::testing::Values(
        SpecCase{"NoTarget", R"("database":{"service":"db","credentialsSecret":"c"})",
                 "spec.target: Required value"},
        SpecCase{"NoDeployment",
                 R"("target":{},"database":{"service":"db","credentialsSecret":"c"})",
                 "spec.target.deployment: Required value"},
        SpecCase{
            "PortNotANumber",
            R"("target":{"deployment":"a","port":"x"},"database":{"service":"db","credentialsSecret":"c"})",
            "spec.target.port: Invalid value: expected an integer"},
        SpecCase{
            "PortRange",
            R"("target":{"deployment":"a","port":70000},"database":{"service":"db","credentialsSecret":"c"})",
            "spec.target.port: Invalid value 70000"},
        SpecCase{
            "HealthPath",
            R"("target":{"deployment":"a","healthPath":"health"},"database":{"service":"db","credentialsSecret":"c"})",
            "spec.target.healthPath"},
        SpecCase{"NoSecret", R"("target":{"deployment":"a"},"database":{"service":"db"})",
                 "spec.database.credentialsSecret: Required value"},
        SpecCase{"ForNotADuration", kMinimal + R"(,"detection":{"for":"3"})",
                 "spec.detection.for: Invalid value \"3\""},
        SpecCase{"PrometheusUrl", kMinimal + R"(,"detection":{"prometheus":{"url":"prom:9090"}})",
                 "spec.detection.prometheus.url"},
        SpecCase{
            "QueriesNotAnObject",
            kMinimal + R"json(,"detection":{"prometheus":{"url":"http://p","queries":"up"}})json",
            "spec.detection.prometheus.queries: Invalid value: expected an object"},
        SpecCase{
            "QueryNotAString",
            kMinimal +
                R"json(,"detection":{"prometheus":{"url":"http://p","queries":{"errorRatio":1}}})json",
            "spec.detection.prometheus.queries.errorRatio: Invalid value: expected a string"},
        SpecCase{
            "QueryEmpty",
            kMinimal +
                R"json(,"detection":{"prometheus":{"url":"http://p","queries":{"poolTimeouts":""}}})json",
            "spec.detection.prometheus.queries.poolTimeouts: Required value"},
        SpecCase{
            "QueryBlank",
            kMinimal +
                R"json(,"detection":{"prometheus":{"url":"http://p","queries":{"authErrors":" \n"}}})json",
            "spec.detection.prometheus.queries.authErrors: Required value"},
        SpecCase{
            "QueryUnknownPlaceholder",
            kMinimal +
                R"json(,"detection":{"prometheus":{"url":"http://p","queries":{"p99LatencySeconds":"q{pod=\"$pod\"}"}}})json",
            R"(spec.detection.prometheus.queries.p99LatencySeconds: Invalid value "q{pod="$pod"}": unknown placeholder $pod at offset 7)"},
        SpecCase{
            "QueryPlaceholderRunsOn",
            kMinimal +
                R"json(,"detection":{"prometheus":{"url":"http://p","queries":{"requestRate":"rate(r[$range_5m])"}}})json",
            R"json(spec.detection.prometheus.queries.requestRate: Invalid value "rate(r[$range_5m])": unknown placeholder $range_5m)json"},
        SpecCase{
            "QueryLoneDollar",
            kMinimal +
                R"json(,"detection":{"prometheus":{"url":"http://p","queries":{"errorRatio":"r{x=~\"a$\"}"}}})json",
            R"(spec.detection.prometheus.queries.errorRatio: Invalid value "r{x=~"a$"}": a lone $ at offset 7)"},
        SpecCase{"ErrorRatioAboveOne",
                 kMinimal + R"(,"detection":{"thresholds":{"errorRatio":1.5}})",
                 "spec.detection.thresholds.errorRatio"},
        SpecCase{"Strategy", kMinimal + R"(,"strategy":"Pray")",
                 "spec.strategy: Unsupported value \"Pray\""},
        SpecCase{"UnknownAction", kMinimal + R"(,"actions":["RestartDeployment","Reboot"])",
                 "spec.actions[1]: Unsupported value \"Reboot\""},
        SpecCase{"DuplicateAction",
                 kMinimal + R"(,"actions":["RestartDatabase","RestartDatabase"])",
                 "spec.actions[1]: Duplicate value"},
        SpecCase{"MaxBelowStep", kMinimal + R"(,"increasePoolSize":{"step":10,"max":5})",
                 "spec.increasePoolSize.max"},
        SpecCase{"LatencyFactorBelowOne", kMinimal + R"(,"verification":{"latencyFactor":0.5})",
                 "spec.verification.latencyFactor"},
        SpecCase{
            "ApprovalOfUnlistedAction",
            kMinimal +
                R"(,"actions":["RestartDeployment"],"safety":{"requireApproval":["RestartDatabase"]})",
            "spec.safety.requireApproval: Invalid value \"RestartDatabase\""},
        SpecCase{"DryRunNotBool", kMinimal + R"(,"safety":{"dryRun":"yes"})", "spec.safety.dryRun"},
        SpecCase{"RelapseWindowTooShort",
                 kMinimal + R"(,"safety":{"loopBreaker":{"relapseWindow":"10ms"}})",
                 "spec.safety.loopBreaker.relapseWindow"},
        SpecCase{"NoRelapsesAllowed", kMinimal + R"(,"safety":{"loopBreaker":{"maxRelapses":0}})",
                 "spec.safety.loopBreaker.maxRelapses"}));

struct ExpandCase {
  std::string name;
  std::string query;
  std::string text;   // expected, when error is empty
  std::string error;  // must appear in the message
};
void PrintTo(const ExpandCase& c, std::ostream* os) { *os << c.name; }
class ExpandQueryTable : public ::testing::TestWithParam<ExpandCase> {};

TEST_P(ExpandQueryTable, Substitutes) {
  const auto& c = GetParam();
  const ExpandedQuery e = ExpandQuery(c.query, {"shop", "api", "30s"});
  if (c.error.empty()) {
    EXPECT_EQ(e.error, "");
    EXPECT_EQ(e.text, c.text);
  } else {
    EXPECT_NE(e.error.find(c.error), std::string::npos) << e.error;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ExpandQueryTable,
    ::testing::Values(
        ExpandCase{"NoPlaceholder", "sum(up)", "sum(up)", ""},
        ExpandCase{"All", R"q(rate(x{namespace="$namespace",pod=~"$deployment-.*"}[$range]))q",
                   R"q(rate(x{namespace="shop",pod=~"api-.*"}[30s]))q", ""},
        ExpandCase{"Braces", "${deployment}_canary ${namespace}${range}", "api_canary shop30s", ""},
        ExpandCase{"Adjacent", "$namespace$deployment", "shopapi", ""},
        ExpandCase{"LiteralDollar", R"(x{pod=~"api.*$$"})", R"(x{pod=~"api.*$"})", ""},
        ExpandCase{"NotTwice", "$$namespace", "$namespace", ""},
        ExpandCase{"Unknown", "x[$interval]", "", "unknown placeholder $interval at offset 2"},
        ExpandCase{"CaseMatters", "$Namespace", "", "unknown placeholder $Namespace"},
        ExpandCase{"UnknownInBraces", "${job}", "", "unknown placeholder $job"},
        ExpandCase{"EmptyBraces", "${}", "", "an empty ${} at offset 0"},
        ExpandCase{"Unclosed", R"(x{a="${namespace"})", "", "unclosed ${ at offset 5"},
        ExpandCase{"LoneAtEnd", "sum(up) $", "", "a lone $ at offset 8"}));

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

}  // namespace
}  // namespace poolguard::controller
