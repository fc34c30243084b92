#include "remediation/signals.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;

const WallTime kT0 = std::chrono::system_clock::from_time_t(1'800'000'000);

Signal S(const std::string& name, Outcome outcome) {
  return {name, outcome, std::nullopt, kT0, ""};
}

const Signal kHealthOk = S("health/api-1", Outcome::kPass);
const Signal kHealthBad = S("health/api-1", Outcome::kFail);
const Signal kHealthError = S("health/api-1", Outcome::kError);
const Signal kPromError = S("errorRatio", Outcome::kError);
const Signal kSaturated = S("poolSaturation/api-1", Outcome::kFail);

// One tick: signals seen `at` after kT0.
struct Tick {
  std::chrono::milliseconds at;
  std::vector<Signal> signals;
};

struct DetectCase {
  std::string name;
  std::vector<Tick> ticks;
  Health health;  // after the last tick
  std::optional<std::chrono::milliseconds> failing_since;
};
void PrintTo(const DetectCase& c, std::ostream* os) { *os << c.name; }
class DetectTable : public ::testing::TestWithParam<DetectCase> {};

TEST_P(DetectTable, AppliesTheForWindow) {
  const auto& c = GetParam();
  DetectionSpec spec;  // for: 3s
  DetectionState state;
  for (const auto& t : c.ticks) state = Detect(spec, state, t.signals, kT0 + t.at);
  EXPECT_EQ(HealthName(state.health), HealthName(c.health)) << state.reason;
  if (c.failing_since) {
    ASSERT_TRUE(state.failing_since);
    EXPECT_EQ(*state.failing_since, kT0 + *c.failing_since);
  } else {
    EXPECT_FALSE(state.failing_since);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, DetectTable,
    ::testing::Values(
        DetectCase{"NoTicksUnknown", {}, Health::kUnknown, std::nullopt},
        DetectCase{"FirstPassIsHealthy", {{0ms, {kHealthOk}}}, Health::kHealthy, std::nullopt},
        DetectCase{"OnlyErrorsStayUnknown",
                   {{0ms, {kHealthError, kPromError}}},
                   Health::kUnknown,
                   std::nullopt},
        DetectCase{"FailShorterThanForIsNotDegraded",
                   {{0ms, {kHealthOk}}, {1s, {kHealthBad}}, {3s, {kHealthBad}}},
                   Health::kHealthy,
                   1s},
        DetectCase{"FailForTheWholeWindowDegrades",
                   {{0ms, {kHealthOk}}, {1s, {kHealthBad}}, {2s, {kHealthBad}}, {4s, {kHealthBad}}},
                   Health::kDegraded,
                   1s},
        DetectCase{"APassRestartsTheWindow",
                   {{0ms, {kHealthOk}},
                    {1s, {kHealthBad}},
                    {2s, {kHealthOk}},
                    {3s, {kHealthBad}},
                    {4s, {kHealthBad}}},
                   Health::kHealthy,
                   3s},
        DetectCase{"ErrorsAreNotEvidenceEitherWay",
                   {{0ms, {kHealthOk}},
                    {1s, {kHealthBad}},
                    {2s, {kHealthError}},
                    {3s, {kHealthError}},
                    {4s, {kHealthBad}}},
                   Health::kDegraded,
                   1s},
        // A failing PromQL signal counts when no pod could be probed; while every probe
        // passes it alone is the past (LaggingSignalsAlone... below).
        DetectCase{"AnyFailMakesTheTickBad",
                   {{0ms, {kHealthOk}},
                    {1s, {kHealthError, S("errorRatio", Outcome::kFail)}},
                    {4s, {kHealthError, S("errorRatio", Outcome::kFail)}}},
                   Health::kDegraded,
                   1s},
        // Saturation starts the clock while /health still answers 200: the outage is seen
        // 3 s before the first pool timeout would have made /health fail.
        DetectCase{
            "SaturationCountsAsFailing",
            {{0ms, {kHealthOk}}, {1s, {kHealthOk, kSaturated}}, {4s, {kHealthBad, kSaturated}}},
            Health::kDegraded,
            1s},
        DetectCase{"RecoveryNeedsTheWindowToo",
                   {{0ms, {kHealthBad}}, {3s, {kHealthBad}}, {4s, {kHealthOk}}, {6s, {kHealthOk}}},
                   Health::kDegraded,
                   std::nullopt},
        DetectCase{"RecoveredAfterTheWindow",
                   {{0ms, {kHealthBad}}, {3s, {kHealthBad}}, {4s, {kHealthOk}}, {7s, {kHealthOk}}},
                   Health::kHealthy,
                   std::nullopt},
        DetectCase{"PrometheusDownHealthAndLogsStillDetect",
                   {{0ms, {kHealthOk, kPromError, S("dbErrorLogs", Outcome::kPass)}},
                    {1s, {kHealthBad, kPromError, S("dbErrorLogs", Outcome::kFail)}},
                    {4s, {kHealthBad, kPromError, S("dbErrorLogs", Outcome::kFail)}}},
                   Health::kDegraded,
                   1s}));

TEST(Detect, ForZeroDegradesOnTheFirstBadTick) {
  DetectionSpec spec;
  spec.for_window = 0ms;
  const auto s = Detect(spec, {}, {kHealthBad}, kT0);
  EXPECT_EQ(s.health, Health::kDegraded);
  EXPECT_EQ(s.failing, std::vector<std::string>{"health/api-1"});
}

TEST(Detect, NoEvidenceLeavesTheStateUntouched) {
  DetectionState before{Health::kHealthy, kT0, std::nullopt, {"x"}, "r"};
  EXPECT_EQ(
      Detect({}, before, {kHealthError, S("p99LatencySeconds", Outcome::kInconclusive)}, kT0 + 10s),
      before);
}

TEST(Detect, LaggingSignalsAloneWhileEveryProbePassesAreNoEvidence) {
  // The tail of an outage just fixed: DB_ERROR lines and pool-timeout counts still in their
  // look-back windows while both pods answer /health and no pool is saturated.
  const DetectionState healthy{Health::kHealthy, std::nullopt, kT0, {}, "signals passing"};
  const std::vector<Signal> tail = {kHealthOk,
                                    S("health/api-2", Outcome::kPass),
                                    S("poolSaturation/api-1", Outcome::kPass),
                                    S("dbErrorLogs", Outcome::kFail),
                                    S("poolTimeouts", Outcome::kFail),
                                    S("errorRatio", Outcome::kFail),
                                    S("p99LatencySeconds", Outcome::kFail)};
  EXPECT_EQ(Detect({}, healthy, tail, kT0 + 10s), healthy);
  // ... but with a saturated pool, or with no pod probed, they count.
  auto saturated = tail;
  saturated[2] = kSaturated;
  EXPECT_EQ(Detect({}, healthy, saturated, kT0 + 10s).failing_since, kT0 + 10s);
  EXPECT_EQ(Detect({}, healthy, {kHealthError, S("dbErrorLogs", Outcome::kFail)}, kT0 + 10s)
                .failing_since,
            kT0 + 10s);
  // A pod starting in a rollout (no answer yet) beside one answering healthy: still the
  // past. (A rollout right after an outage opened a second incident on the old logs.)
  EXPECT_EQ(
      Detect({}, healthy,
             {kHealthOk, S("health/api-2", Outcome::kError), S("dbErrorLogs", Outcome::kFail)},
             kT0 + 10s),
      healthy);
}

struct SignalCase {
  std::string name;
  Signal got;
  Outcome outcome;
  std::string detail;
};
void PrintTo(const SignalCase& c, std::ostream* os) { *os << c.name; }
class SignalTable : public ::testing::TestWithParam<SignalCase> {};
TEST_P(SignalTable, Classifies) {
  const auto& c = GetParam();
  EXPECT_EQ(OutcomeName(c.got.outcome), OutcomeName(c.outcome)) << c.got.detail;
  EXPECT_NE(c.got.detail.find(c.detail), std::string::npos) << c.got.detail;
}

PoolGauges Gauges(double size, double out, double waiters) {
  PoolGauges g;
  g.size = size;
  g.max_overflow = 0;
  g.checked_out = out;
  g.waiters = waiters;
  return g;
}

DbErrorCounts Counts(std::map<std::string, int> m) {
  DbErrorCounts c;
  c.by_kind = std::move(m);
  return c;
}

INSTANTIATE_TEST_SUITE_P(
    Table, SignalTable,
    ::testing::Values(
        SignalCase{"Health200", HealthSignal({"api-1", 200, false, true, "", "", true}, kT0),
                   Outcome::kPass, "HTTP 200"},
        SignalCase{"Health503", HealthSignal({"api-1", 503, false, true, "", "", true}, kT0),
                   Outcome::kFail, "HTTP 503"},
        SignalCase{"HealthStuckWhileAlive",
                   HealthSignal({"api-1", {}, true, true, "", "", true}, kT0), Outcome::kFail,
                   "stuck"},
        // A pod not Ready yet answers its first checks slowly: no evidence. (A rollout's new
        // pod opened an incident in its first second.) An answer still counts.
        SignalCase{"HealthSlowOnAPodNotReady",
                   HealthSignal({"api-1", {}, true, true, "", "", true, false}, kT0),
                   Outcome::kInconclusive, "not Ready"},
        SignalCase{"Health503OnAPodNotReady",
                   HealthSignal({"api-1", 503, false, true, "", "", true, false}, kT0),
                   Outcome::kFail, "HTTP 503"},
        // The reference design's /health: 200 with the database check's failure in the body.
        SignalCase{"Health200DegradedBody",
                   HealthSignal({"api-1", 200, false, true, "",
                                 R"({"status": "degraded", "database": "unhealthy"})", true},
                                kT0),
                   Outcome::kFail, R"(HTTP 200, body: status "degraded", database "unhealthy")"},
        SignalCase{"Health200DegradedBodyIgnored",
                   HealthSignal({"api-1", 200, false, true, "",
                                 R"({"status": "degraded", "database": "unhealthy"})", false},
                                kT0),
                   Outcome::kPass, "HTTP 200"},
        // Spring Boot Actuator: the aggregate and the db component.
        SignalCase{"Health200ActuatorUp",
                   HealthSignal({"api-1", 200, false, true, "",
                                 R"({"status":"UP","components":{"db":{"status":"UP",)"
                                 R"("details":{"database":"PostgreSQL"}},"ping":{"status":"UP"}}})",
                                 true},
                                kT0),
                   Outcome::kPass, R"(HTTP 200, body: status "UP", components.db "UP")"},
        SignalCase{
            "Health503ActuatorOutOfService",
            HealthSignal({"api-1", 503, false, true, "", R"({"status":"OUT_OF_SERVICE"})", true},
                         kT0),
            Outcome::kFail, R"(HTTP 503, body: status "OUT_OF_SERVICE")"},
        SignalCase{"Health200DbComponentDown",
                   HealthSignal({"api-1", 200, false, true, "",
                                 R"({"status":"UP","components":{"db":{"status":"DOWN"}}})", true},
                                kT0),
                   Outcome::kFail, R"(components.db "DOWN")"},
        SignalCase{
            "Health200DbFalse",
            HealthSignal({"api-1", 200, false, true, "", R"({"ok": true, "db": false})", true},
                         kT0),
            Outcome::kFail, "HTTP 200, body: db false"},
        SignalCase{"Health200PlainText",
                   HealthSignal({"api-1", 200, false, true, "", "OK", true}, kT0), Outcome::kPass,
                   "HTTP 200"},
        // Issue 16's slow-target bench found it: a listener that accepts and never answers
        // (a wedged process) on a Ready pod is an outage, not "no evidence".
        SignalCase{"HealthHungAfterConnect",
                   HealthSignal({"api-1", {}, true, false, "timed out", "", true, true, true}, kT0),
                   Outcome::kFail, "the process is hung"},
        SignalCase{
            "HealthConnectTimedOut",
            HealthSignal({"api-1", {}, true, false, "connect timed out", "", true, true, false},
                         kT0),
            Outcome::kError, "timed out"},
        SignalCase{
            "HealthHungButNotReady",
            HealthSignal({"api-1", {}, true, false, "timed out", "", true, false, true}, kT0),
            Outcome::kError, "timed out"},
        SignalCase{"HealthNoAnswer",
                   HealthSignal({"api-1", {}, false, false, "connection refused", "", true}, kT0),
                   Outcome::kError, "connection refused"},
        SignalCase{"RatioAbove", ThresholdSignal("errorRatio", 0.93, 0.2, "", kT0), Outcome::kFail,
                   "0.93 > 0.2"},
        SignalCase{"RatioBelow", ThresholdSignal("errorRatio", 0.0, 0.2, "", kT0), Outcome::kPass,
                   "0 <= 0.2"},
        SignalCase{"RatioNaNNoTraffic", ThresholdSignal("errorRatio", std::nan(""), 0.2, "", kT0),
                   Outcome::kInconclusive, "no data"},
        SignalCase{"PrometheusDown",
                   ThresholdSignal("errorRatio", std::nullopt, 0.2, "connection refused", kT0),
                   Outcome::kError, "connection refused"},
        SignalCase{"Saturated", PoolSaturationSignal("api-1", Gauges(5, 5, 12), "", kT0),
                   Outcome::kFail, "5 of 5 checked out, 12 waiting"},
        SignalCase{"FullButNoWaiters", PoolSaturationSignal("api-1", Gauges(5, 5, 0), "", kT0),
                   Outcome::kPass, "0 waiting"},
        SignalCase{"ScrapeFailed", PoolSaturationSignal("api-1", std::nullopt, "timeout", kT0),
                   Outcome::kError, "timeout"},
        SignalCase{"LogsWithPoolTimeouts",
                   LogSignal(Counts({{"pool_timeout", 57}, {"query", 2}}), "", kT0), Outcome::kFail,
                   "57 database errors in logs: pool_timeout 57"},
        SignalCase{"LogsOnlyQueryErrors", LogSignal(Counts({{"query", 2}}), "", kT0),
                   Outcome::kPass, "no database errors in logs"},
        SignalCase{"LogsUnreadable", LogSignal(std::nullopt, "pods/log forbidden", kT0),
                   Outcome::kError, "forbidden"}));

TEST(PoolSaturated, CountsOverflow) {
  PoolGauges g = Gauges(5, 5, 3);
  g.max_overflow = 2;
  EXPECT_FALSE(PoolSaturated(g));
  g.checked_out = 7;
  EXPECT_TRUE(PoolSaturated(g));
}

const char kMetrics[] = R"(# HELP db_pool_size Connections the pool keeps.
# TYPE db_pool_size gauge
db_pool_size 5
db_pool_max_overflow 0
db_pool_checked_out 5
db_pool_idle 0
db_pool_waiters 12
# TYPE db_pool_timeouts_total counter
db_pool_timeouts_total 57
db_errors_total{kind="pool_timeout"} 57
db_errors_total{kind="authentication"} 0
http_requests_total{method="GET",route="/items/{id}",code="503"} 40 1800000000000
http_request_duration_seconds_bucket{route="/health",le="+Inf"} 9
weird{msg="a \"quoted\" \\ value\nnext",x="y"} NaN
)";

TEST(PrometheusText, ParsesTheTargetsMetrics) {
  const auto parsed = ParsePrometheusText(kMetrics);
  EXPECT_EQ(parsed.error, "");
  ASSERT_EQ(parsed.samples.size(), 11u);
  const PoolGauges g = ReadPoolGauges(parsed.samples, PresetOf(MetricPreset::kPoolGuardTarget).pod);
  EXPECT_EQ(g.size, 5);
  EXPECT_EQ(g.checked_out, 5);
  EXPECT_EQ(g.waiters, 12);
  EXPECT_EQ(g.timeouts_total, 57);
  EXPECT_TRUE(PoolSaturated(g));
  EXPECT_EQ(SumSamples(parsed.samples, "db_errors_total", {{"kind", "pool_timeout"}}), 57);
  EXPECT_EQ(SumSamples(parsed.samples, "db_errors_total"), 57);
  EXPECT_FALSE(SumSamples(parsed.samples, "absent"));
  EXPECT_EQ(parsed.samples[8].labels.at("route"), "/items/{id}");
  EXPECT_EQ(parsed.samples[9].labels.at("le"), "+Inf");
  EXPECT_EQ(parsed.samples[9].value, 9);
  EXPECT_TRUE(std::isinf(ParsePrometheusText("up +Inf").samples.at(0).value));
  EXPECT_EQ(parsed.samples[10].labels.at("msg"), "a \"quoted\" \\ value\nnext");
  EXPECT_TRUE(std::isnan(parsed.samples[10].value));
}

TEST(PrometheusText, ReportsTheFirstBadLine) {
  const auto parsed = ParsePrometheusText("db_pool_size 5\r\ndb_pool_idle{kind=\"x} 1\n");
  EXPECT_EQ(parsed.samples.size(), 1u);
  EXPECT_NE(parsed.error.find("line 2: unterminated value for label kind"), std::string::npos)
      << parsed.error;
  EXPECT_NE(ParsePrometheusText("db_pool_size five\n").error.find("invalid value"),
            std::string::npos);
}

struct QueryCase {
  std::string name;
  std::string body;
  bool ok;
  std::optional<double> value;
  std::string error;
};
void PrintTo(const QueryCase& c, std::ostream* os) { *os << c.name; }
class PromQueryTable : public ::testing::TestWithParam<QueryCase> {};
TEST_P(PromQueryTable, Reads) {
  const auto& c = GetParam();
  const auto r = ParsePromQueryResponse(c.body);
  EXPECT_EQ(r.ok, c.ok) << r.error;
  EXPECT_EQ(SingleValue(r), c.value);
  EXPECT_NE(r.error.find(c.error), std::string::npos) << r.error;
}
INSTANTIATE_TEST_SUITE_P(
    Table, PromQueryTable,
    ::testing::Values(
        QueryCase{
            "Vector",
            R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1800000000.5,"0.93"]}]}})",
            true, 0.93, ""},
        QueryCase{
            "WorstOfSeveral",
            R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1,"0.1"]},{"metric":{"pod":"b"},"value":[1,"0.7"]}]}})",
            true, 0.7, ""},
        QueryCase{"EmptyVector",
                  R"({"status":"success","data":{"resultType":"vector","result":[]}})", true,
                  std::nullopt, ""},
        QueryCase{
            "NaNIsNoData",
            R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}})",
            true, std::nullopt, ""},
        QueryCase{"Scalar",
                  R"({"status":"success","data":{"resultType":"scalar","result":[1,"3"]}})", true,
                  3, ""},
        QueryCase{"PrometheusError",
                  R"({"status":"error","errorType":"bad_data","error":"parse error at char 4"})",
                  false, std::nullopt, "bad_data: parse error at char 4"},
        QueryCase{"Matrix", R"({"status":"success","data":{"resultType":"matrix","result":[]}})",
                  false, std::nullopt, "resultType matrix"},
        QueryCase{"NotJson", "<html>502 Bad Gateway</html>", false, std::nullopt, "not JSON"}));

TEST(PromQuery, KeepsLabelsAndName) {
  const auto r = ParsePromQueryResponse(
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"db_pool_waiters","pod":"api-1"},"value":[1,"12"]}]}})");
  ASSERT_EQ(r.samples.size(), 1u);
  EXPECT_EQ(r.samples[0].name, "db_pool_waiters");
  EXPECT_EQ(r.samples[0].labels.at("pod"), "api-1");
}

TEST(DbErrorLines, CountsTextAndJsonFormats) {
  const std::string logs =
      "2027-01-15T08:00:00.100Z info  target: GET /items 200\n"
      "2027-01-15T08:00:01.100Z error target: DB_ERROR: pool_timeout: QueuePool limit of size 5 "
      "overflow 0 reached, connection timed out, timeout 3.00\n"
      R"({"ts":"2027-01-15T08:00:02.000Z","level":"error","logger":"target","msg":"DB_ERROR: too_many_clients: FATAL:  sorry, too many clients already"})"
      "\n"
      R"(2027-01-15T08:00:03.000000001Z {"ts":"2027-01-15T08:00:03.000Z","level":"error","logger":"target","msg":"DB_ERROR: pool_timeout: QueuePool limit \"x\"\nsecond line"})"
      "\n"
      "DB_ERROR: not a kind\n"
      "2027-01-15T08:00:04.100Z error target: DB_ERROR: authentication: password authentication "
      "failed for user \"app\"\r\n"
      "no newline at the end: DB_ERROR: pool_timeout: last";
  const DbErrorCounts c = ParseDbErrorLines(logs);
  EXPECT_EQ(c.Count("pool_timeout"), 3);
  EXPECT_EQ(c.Count("too_many_clients"), 1);
  EXPECT_EQ(c.Count("authentication"), 1);
  EXPECT_EQ(c.Total(), 5);
  EXPECT_EQ(c.sample, "DB_ERROR: pool_timeout: last");
  const DbErrorCounts j = ParseDbErrorLines(
      R"({"ts":"t","level":"error","logger":"target","msg":"DB_ERROR: pool_timeout: QueuePool \"x\"\nsecond"})");
  EXPECT_EQ(j.sample, "DB_ERROR: pool_timeout: QueuePool \"x\"");
  EXPECT_EQ(ParseDbErrorLines("").Total(), 0);
}

}  // namespace
// A stack trace is part of the record it follows: one error, counted once, whether the
// logger prefixed every line with the Kubernetes timestamp or not.
TEST(DbErrorLines, AStackTraceCountsOnceWithItsMessage) {
  const std::string python =
      "2027-01-15 08:00:01,100 ERROR app: DB_ERROR: QueuePool limit of size 5 overflow 0 "
      "reached, connection timed out, timeout 3.00\n"
      "Traceback (most recent call last):\n"
      "  File \"/app/main.py\", line 40, in list_items\n"
      "    with engine.connect() as conn:\n"
      "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 0 reached, connection "
      "timed out, timeout 3.00\n"
      "2027-01-15 08:00:01,200 INFO app: GET /items 200\n";
  const DbErrorCounts p = ParseDbErrorLines(python);
  EXPECT_EQ(p.Count("pool_timeout"), 1);
  EXPECT_EQ(p.Total(), 1);
  EXPECT_EQ(p.sample,
            "2027-01-15 08:00:01,100 ERROR app: DB_ERROR: QueuePool limit of size 5 overflow 0 "
            "reached, connection timed out, timeout 3.00");

  std::string stamped;  // the same, as pods/log?timestamps=true returns it, twice
  for (int i = 0; i < 2; ++i) {
    size_t pos = 0;
    while (pos < python.size()) {
      const size_t eol = python.find('\n', pos);
      stamped += "2027-01-15T08:00:01.123456789Z " + python.substr(pos, eol - pos + 1);
      pos = eol + 1;
    }
  }
  EXPECT_EQ(ParseDbErrorLines(stamped).Count("pool_timeout"), 2);

  const std::string java =
      "2027-01-15 08:00:02.000 ERROR 1 --- [nio-8080-exec-1] c.e.ItemController : DB_ERROR: "
      "request failed\n"
      "java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, "
      "request timed out after 3001ms.\n"
      "\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)\n"
      "\t... 12 common frames omitted\n"
      "Caused by: org.postgresql.util.PSQLException: ERROR: canceling statement\n"
      "\tat org.postgresql.Driver.connect(Driver.java:1)\n"
      // The same exception logged bare, twice: each is a record of its own.
      "java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, "
      "request timed out after 3001ms.\n"
      "\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)\n"
      "java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, "
      "request timed out after 3001ms.\n";
  EXPECT_EQ(ParseDbErrorLines(java).Count("pool_timeout"), 3);
}

TEST(DbErrorLines, TheMarkedKindOutranksPatternsAndTheSpecsPatternsComeFirst) {
  // poolguard-target's own form: its kind, even where a driver text says otherwise.
  EXPECT_EQ(ParseDbErrorLines("DB_ERROR: connection_lost: server closed the connection "
                              "unexpectedly; too many clients already")
                .Count("connection_lost"),
            1);
  const std::string logs = "ERROR pool exhausted: no lease within 3s (too many clients already)\n";
  EXPECT_EQ(ParseDbErrorLines(logs).Count("too_many_clients"), 1);
  const DbErrorCounts own = ParseDbErrorLines(logs, {{"pool exhausted", "pool_timeout"}});
  EXPECT_EQ(own.Count("pool_timeout"), 1);
  EXPECT_EQ(own.Total(), 1);
  // JSON lines: the message field, whichever of msg, message or event.
  EXPECT_EQ(ParseDbErrorLines(R"({"level":"error","message":"Connection terminated unexpectedly"})")
                .Count("connection_lost"),
            1);
  EXPECT_EQ(ParseDbErrorLines("INFO GET /items 200\nWARN slow request\n").Total(), 0);
  // A pattern with a quote still finds its text in a JSON line, where the quote is escaped.
  EXPECT_EQ(ParseDbErrorLines(R"({"msg":"lease failed for \"app\""})",
                              {{"lease failed for \"app\"", "pool_timeout"}})
                .Count("pool_timeout"),
            1);
}

// What the libraries themselves printed (driver_logs/record ran them against PostgreSQL):
// each scenario's errors are found, of the right kind, once per log statement.
std::map<std::string, std::string> Scenarios(const std::string& file) {
  std::ifstream in(std::string(POOLGUARD_SOURCE_DIR) +
                   "/controller/tests/remediation/driver_logs/" + file);
  std::map<std::string, std::string> out;
  std::string line, name;
  while (std::getline(in, line)) {
    if (line.rfind("### scenario: ", 0) == 0) {
      name = line.substr(14);
    } else if (!name.empty()) {
      out[name] += line + "\n";
    }
  }
  return out;
}

TEST(DbErrorLines, ReadsWhatRealDriversPrint) {
  using Counts = std::map<std::string, int>;
  const std::map<std::string, std::map<std::string, Counts>> expected = {
      {"python.log",  // SQLAlchemy + psycopg2, Python's logging
       {{"pool_timeout", {{"pool_timeout", 1}}},
        {"pool_timeout_error", {{"pool_timeout", 1}}},
        {"pool_timeout_unmarked", {{"pool_timeout", 1}}},
        {"reserved_slots", {{"too_many_clients", 1}}},
        {"too_many_clients", {{"too_many_clients", 1}}},
        {"auth_failed", {{"authentication", 1}}},
        {"connection_refused", {{"connection_refused", 1}}},
        {"unknown_host", {{"connection_refused", 1}}},
        {"connection_lost", {{"connection_lost", 1}}}}},
      {"node.log",  // node-postgres, console.error
       {{"pool_timeout", {{"pool_timeout", 1}}},
        {"pool_timeout_marked", {{"pool_timeout", 1}}},
        {"reserved_slots", {{"too_many_clients", 1}}},
        {"too_many_clients", {{"too_many_clients", 1}}},
        {"auth_failed", {{"authentication", 1}}},
        {"connection_refused", {{"connection_refused", 1}}},
        {"unknown_host", {{"connection_refused", 1}}},
        // the termination, the socket's end (both to the error handler) and the query
        {"connection_lost", {{"connection_lost", 3}}}}},
      {"java.log",  // HikariCP + PgJDBC, SLF4J (message, then stack trace) or printStackTrace
       {{"pool_timeout", {{"pool_timeout", 1}}},
        {"pool_timeout_bare", {{"pool_timeout", 1}}},
        {"reserved_slots", {{"too_many_clients", 1}}},
        {"too_many_clients", {{"too_many_clients", 1}}},
        {"auth_failed", {{"authentication", 1}}},
        {"connection_refused", {{"connection_refused", 1}}},
        {"unknown_host", {{"connection_refused", 1}}},
        {"connection_lost", {{"connection_lost", 1}}}}},
  };
  for (const auto& [file, scenarios] : expected) {
    const auto recorded = Scenarios(file);
    ASSERT_EQ(recorded.size(), scenarios.size()) << file << ": run driver_logs/record";
    for (const auto& [name, counts] : scenarios) {
      ASSERT_EQ(recorded.count(name), 1u) << file << " has no scenario " << name;
      const DbErrorCounts c = ParseDbErrorLines(recorded.at(name));
      EXPECT_EQ(c.by_kind, counts) << file << ", " << name << ":\n" << recorded.at(name);
      EXPECT_FALSE(c.sample.empty()) << file << ", " << name;
    }
  }
}

// Found by the log_lines fuzzer: a marker with nothing after it made substr throw.
TEST(DbErrorLines, ABareMarkerCountsNothing) {
  EXPECT_EQ(ParseDbErrorLines("DB_ERROR: \n{\"msg\":\"DB_ERROR:  \"}\nDB_ERROR:").Total(), 0);
}

TEST(HealthBody, ReadsTheFieldsHealthEndpointsUse) {
  EXPECT_EQ(ReadHealthBody(R"({"status": "ok", "database": "healthy"})").healthy, true);
  EXPECT_EQ(ReadHealthBody(R"({"status": "ok", "database": {"status": "down"}})").healthy, false);
  EXPECT_EQ(ReadHealthBody(R"({"status": "pass"})").healthy, true);
  EXPECT_EQ(ReadHealthBody(R"({"status": "warn"})").healthy, true) << "the IETF draft's warn is up";
  EXPECT_EQ(ReadHealthBody(R"({"status": "fail"})").healthy, false);
  EXPECT_EQ(ReadHealthBody(R"(  {"Status": "ok", "status": "Down"})").healthy, false)
      << "field names are exact, words are not case-sensitive";
  const auto mixed = ReadHealthBody(R"({"status": "UP", "db": "Disconnected"})");
  EXPECT_EQ(mixed.healthy, false);
  EXPECT_EQ(mixed.detail, R"(status "UP", db "Disconnected")");
}

TEST(HealthBody, SaysNothingWhenItCannotTell) {
  for (const char* body :
       {"", "OK", "healthy", "[\"down\"]", "{\"status\": ", "{}", R"({"status": "starting"})",
        R"({"status": 1, "database": null})", R"({"uptime": "down"})"}) {
    const auto verdict = ReadHealthBody(body);
    EXPECT_EQ(verdict.healthy, std::nullopt) << body;
    EXPECT_EQ(verdict.detail, "") << body;
  }
  // A word not in the table beside one that is: the known one decides.
  EXPECT_EQ(ReadHealthBody(R"({"status": "starting", "db": "up"})").healthy, true);
}

}  // namespace poolguard::controller
