#include "remediation/spec.h"

#include <gtest/gtest.h>

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;

const WallTime kNow = std::chrono::system_clock::from_time_t(1'800'000'000);

Json J(const std::string& s) { return Json::parse(s); }

const std::string kMinimal =
    R"("target":{"deployment":"api"},"database":{"service":"db","credentialsSecret":"c"})";

// The CRD's own defaults are compared with the controller's by crd_defaults_test.cc; these
// are the ones no schema can write: taken from other fields.
TEST(RemediationSpec, DefaultsTakenFromOtherFields) {
  const auto r = ParseRemediationSpec(J("{\"spec\":{" + kMinimal + "}}"));
  ASSERT_TRUE(r.spec) << r.error;
  EXPECT_EQ(r.spec->target_service, "api");  // the Deployment's name
  EXPECT_EQ(r.spec->db_statefulset, "db");   // the database Service's name
}

TEST(RemediationSpec, ItsOwnWebhook) {
  auto r = ParseRemediationSpec(J("{\"spec\":{" + kMinimal +
                                  R"(,"notifications":{"webhook":{"url":"http://am:9093/hook",)"
                                  R"("format":"Alertmanager"}}}})"));
  ASSERT_TRUE(r.spec) << r.error;
  ASSERT_TRUE(r.spec->webhook);
  EXPECT_EQ(r.spec->webhook->url, "http://am:9093/hook");
  EXPECT_EQ(r.spec->webhook->format, WebhookFormat::kAlertmanager);
  r = ParseRemediationSpec(J("{\"spec\":{" + kMinimal + "}}"));
  ASSERT_TRUE(r.spec) << r.error;
  EXPECT_FALSE(r.spec->webhook);  // the cluster-wide webhook only
}

TEST(RemediationSpec, ReadsEveryField) {
  const auto r = ParseRemediationSpec(J(R"json({"spec":{
    "target":{"deployment":"api","service":"api-svc","port":9000,"healthPath":"/healthz",
              "healthBody":"Ignore","sessions":{"role":"shop","applicationName":"api"}},
    "database":{"service":"db","port":5433,"credentialsSecret":"c","statefulSet":"pg"},
    "detection":{"interval":"500ms","for":"2s",
                 "database":{"lockWait":"300ms","idleInTransaction":"30s",
                              "idleSlotHolder":"45s"},
                 "metrics":{"preset":"HikariCP","path":"/manage/prometheus"},
                 "prometheus":{"url":"http://prom:9090/",
                               "queries":{"errorRatio":"max(err{ns=\"$namespace\"})",
                                          "p99LatencySeconds":"p99{d=\"${deployment}\"}",
                                          "poolTimeouts":"sum(increase(t[$range]))",
                                          "requestRate":"sum(rate(r[$range]))",
                                          "authErrors":"vector(0)"}},
                 "thresholds":{"errorRatio":0.5,"p99LatencySeconds":1.5},
                 "logPatterns":[{"contains":"pool exhausted","kind":"pool_timeout"}]},
    "strategy":"DiagnosisDriven",
    "actions":["TerminateBlockingSessions","RestartDatabase"],
    "increasePoolSize":{"env":"POOL","container":"app","step":2,"max":8},
    "verification":{"consecutiveHealthy":5,"window":"20s","timeout":"2m","maxErrorRatio":0.05,
                    "latencyFactor":3,"testPath":"/orders?limit=1"},
    "safety":{"maxActionsPerHour":1,"cooldown":"10s","dryRun":true,
              "requireApproval":["RestartDatabase"],
              "loopBreaker":{"relapseWindow":"90s","maxRelapses":4}}}})json"));
  ASSERT_TRUE(r.spec) << r.error;
  const RemediationSpec& s = *r.spec;
  EXPECT_EQ(s.target_service, "api-svc");
  EXPECT_EQ(s.target_port, 9000);
  EXPECT_EQ(s.health_path, "/healthz");
  EXPECT_EQ(s.health_body, HealthBody::kIgnore);
  EXPECT_EQ(s.session_role, "shop");
  EXPECT_EQ(s.session_application_name, "api");
  EXPECT_EQ(s.detection.lock_wait, 300ms);
  EXPECT_EQ(s.detection.idle_in_transaction, 30s);
  EXPECT_EQ(s.detection.idle_slot_holder, 45s);
  EXPECT_EQ(s.detection.metrics_preset, MetricPreset::kHikariCP);
  EXPECT_EQ(s.detection.metrics_path, "/manage/prometheus");
  EXPECT_EQ(s.db_statefulset, "pg");
  EXPECT_EQ(s.detection.interval, 500ms);
  EXPECT_EQ(s.detection.prometheus_url, "http://prom:9090");
  // Kept as written: the collector substitutes the placeholders.
  EXPECT_EQ(s.detection.queries.error_ratio, R"(max(err{ns="$namespace"}))");
  EXPECT_EQ(s.detection.queries.p99_latency_seconds, R"(p99{d="${deployment}"})");
  EXPECT_EQ(s.detection.queries.pool_timeouts, "sum(increase(t[$range]))");
  EXPECT_EQ(s.detection.queries.request_rate, "sum(rate(r[$range]))");
  EXPECT_EQ(s.detection.queries.auth_errors, "vector(0)");
  EXPECT_EQ(s.detection.log_patterns,
            (std::vector<LogPattern>{{"pool exhausted", "pool_timeout"}}));
  EXPECT_EQ(s.strategy, Strategy::kDiagnosisDriven);
  EXPECT_TRUE(s.Allows(RemediationAction::kTerminateBlockingSessions));
  EXPECT_FALSE(s.Allows(RemediationAction::kRestartDeployment));
  EXPECT_TRUE(s.NeedsApproval(RemediationAction::kRestartDatabase));
  EXPECT_EQ(s.increase_pool_size, (PoolSizeSpec{"POOL", "app", 2, 8}));
  EXPECT_EQ(s.verification.timeout, 120s);
  EXPECT_DOUBLE_EQ(s.verification.latency_factor, 3);
  EXPECT_EQ(s.verification.test_path, "/orders?limit=1");
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
        SpecCase{"PrometheusHttps",
                 kMinimal + R"(,"detection":{"prometheus":{"url":"https://prom:9090"}})",
                 "https:// is not supported"},
        SpecCase{"EnvNotAPoolSize", kMinimal + R"(,"increasePoolSize":{"env":"DATABASE_URL"})",
                 "spec.increasePoolSize.env: Invalid value \"DATABASE_URL\""},
        SpecCase{"EnvLowerCase", kMinimal + R"(,"increasePoolSize":{"env":"db_pool_size"})",
                 "spec.increasePoolSize.env"},
        SpecCase{"ContainerNotADnsLabel", kMinimal + R"(,"increasePoolSize":{"container":"App_1"})",
                 "spec.increasePoolSize.container"},
        SpecCase{
            "DeploymentNotADnsName",
            R"("target":{"deployment":"a/b"},"database":{"service":"db","credentialsSecret":"c"})",
            "spec.target.deployment: Invalid value \"a/b\""},
        SpecCase{
            "StatefulSetNotADnsName",
            R"("target":{"deployment":"a"},"database":{"service":"db","credentialsSecret":"c","statefulSet":"DB"})",
            "spec.database.statefulSet"},
        SpecCase{"LogPatternOfAnUnknownKind",
                 kMinimal +
                     R"(,"detection":{"logPatterns":[{"contains":"x","kind":"pool_timeout"},)"
                     R"({"contains":"boom","kind":"oops"}]})",
                 "spec.detection.logPatterns[1].kind: Unsupported value \"oops\""},
        SpecCase{"LogPatternWithoutText",
                 kMinimal + R"(,"detection":{"logPatterns":[{"kind":"pool_timeout"}]})",
                 "spec.detection.logPatterns[0].contains: Required value"},
        SpecCase{"LogPatternsNotAnArray",
                 kMinimal + R"(,"detection":{"logPatterns":{"contains":"x"}})",
                 "spec.detection.logPatterns: Invalid value: expected an array"},
        SpecCase{"UnknownHealthBody",
                 R"("target":{"deployment":"api","healthBody":"Strict"},)"
                 R"("database":{"service":"db","credentialsSecret":"c"})",
                 "spec.target.healthBody: Unsupported value \"Strict\": supported values: Auto, "
                 "Ignore"},
        SpecCase{"SessionRoleTooLong",
                 R"("target":{"deployment":"api","sessions":{"role":")" + std::string(64, 'r') +
                     R"("}},"database":{"service":"db","credentialsSecret":"c"})",
                 "spec.target.sessions.role: Too long: may not be more than 63 bytes "
                 "(PostgreSQL's limit for names)"},
        SpecCase{"SessionsNotAnObject",
                 R"("target":{"deployment":"api","sessions":"api"},)"
                 R"("database":{"service":"db","credentialsSecret":"c"})",
                 "spec.target.sessions: Invalid value: expected an object"},
        SpecCase{"LockWaitTooShort", kMinimal + R"(,"detection":{"database":{"lockWait":"50ms"}})",
                 "spec.detection.database.lockWait: Invalid value \"50ms\": must be at least "
                 "100ms"},
        SpecCase{"IdleSlotHolderTooShort",
                 kMinimal + R"(,"detection":{"database":{"idleSlotHolder":"500ms"}})",
                 "spec.detection.database.idleSlotHolder: Invalid value \"500ms\": must be at "
                 "least 1s"},
        SpecCase{"WebhookNotHttp",
                 kMinimal + R"(,"notifications":{"webhook":{"url":"ftp://hooks"}})",
                 "spec.notifications.webhook.url: Invalid value \"ftp://hooks\": must start with "
                 "http:// or https://"},
        SpecCase{"WebhookUnknownFormat",
                 kMinimal + R"(,"notifications":{"webhook":{"url":"http://h/x","format":"Teams"}})",
                 "spec.notifications.webhook.format: Unsupported value \"Teams\": supported "
                 "values: Slack, Alertmanager"},
        SpecCase{"UnknownMetricsPreset",
                 kMinimal + R"(,"detection":{"metrics":{"preset":"Dropwizard"}})",
                 "spec.detection.metrics.preset: Unsupported value \"Dropwizard\": supported "
                 "values: PoolGuardTarget, HikariCP, None"},
        SpecCase{"MetricsPathNotAPath", kMinimal + R"(,"detection":{"metrics":{"path":"metrics"}})",
                 "spec.detection.metrics.path: Invalid value \"metrics\": must be a URL path"},
        SpecCase{
            "NoneWithPrometheusAndNoQueries",
            kMinimal +
                R"(,"detection":{"metrics":{"preset":"None"},"prometheus":{"url":"http://p"}})",
            "spec.detection.prometheus.queries: Required value: metrics preset None has no "
            "default PromQL"},
        SpecCase{"TestPathNotAPath", kMinimal + R"(,"verification":{"testPath":"items"})",
                 "spec.verification.testPath: Invalid value \"items\": must be a URL path"},
        SpecCase{"UnknownScope", kMinimal + R"(,"terminateBlockingSessions":{"scope":"Planet"})",
                 "spec.terminateBlockingSessions.scope: Unsupported value \"Planet\""},
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

}  // namespace
}  // namespace poolguard::controller
