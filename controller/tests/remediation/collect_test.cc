#include "remediation/collect.h"

#include <gtest/gtest.h>

#include <cmath>

#include "remediation/collector.h"

namespace poolguard::controller {
namespace {

// The defaults, written out: a change to them shows here and must show in the docs.
TEST(CollectorQueries, DefaultsForTheTargetsMetrics) {
  const PromQueries q = DefaultQueries(MetricPreset::kPoolGuardTarget, "shop", "api", "30s");
  const std::string sel = R"(namespace="shop",pod=~"api-[a-z0-9]+-[a-z0-9]+")";
  const std::string served = sel + R"(,route!="/metrics",route!="/livez")";
  EXPECT_EQ(q.error_ratio, "sum(rate(http_requests_total{" + served +
                               R"(,code=~"5.."}[30s])) / sum(rate(http_requests_total{)" + served +
                               "}[30s]))");
  EXPECT_EQ(q.p99_latency,
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{" +
                served + "}[30s])))");
  EXPECT_EQ(q.pool_timeouts, "sum(increase(db_pool_timeouts_total{" + sel + "}[30s]))");
  EXPECT_EQ(q.request_rate, "sum(rate(http_requests_total{" + served + "}[30s]))");
  EXPECT_EQ(q.auth_errors,
            "sum(increase(db_errors_total{" + sel + R"q(,kind="authentication"}[30s])))q");
}

TEST(CollectorQueries, TheHikariCPPresetReadsMicrometersNames) {
  const PromQueries q = DefaultQueries(MetricPreset::kHikariCP, "shop", "orders", "30s");
  const std::string sel = R"(namespace="shop",pod=~"orders-[a-z0-9]+-[a-z0-9]+")";
  const std::string served = sel + R"(,uri!~"/actuator.*")";
  EXPECT_EQ(q.error_ratio, "sum(rate(http_server_requests_seconds_count{" + served +
                               R"(,status=~"5.."}[30s])) / )" +
                               "sum(rate(http_server_requests_seconds_count{" + served +
                               "}[30s]))");
  EXPECT_EQ(q.pool_timeouts, "sum(increase(hikaricp_connections_timeout_total{" + sel + "}[30s]))");
  EXPECT_EQ(q.auth_errors, "");  // HikariCP counts none: not sent
  EXPECT_EQ(DefaultQueries(MetricPreset::kNone, "shop", "orders", "30s"), PromQueries{});
}

TEST(CollectorQueries, NothingGivenKeepsTheDefaults) {
  EXPECT_EQ(QueriesFor(DetectionSpec{}, "shop", "api", "30s"),
            DefaultQueries(MetricPreset::kPoolGuardTarget, "shop", "api", "30s"));
}

TEST(CollectorQueries, AGivenQueryReplacesOnlyItsDefault) {
  DetectionSpec d;
  d.queries.p99_latency_seconds =
      R"(max(app_latency_p99_seconds{ns="$namespace",app="${deployment}"}))";
  d.queries.pool_timeouts =
      R"(sum(increase(hikaricp_connections_timeout_total{app=~"$deployment|$$x"}[$range])))";
  const PromQueries q = QueriesFor(d, "shop", "api", "30s");
  const PromQueries def = DefaultQueries(MetricPreset::kPoolGuardTarget, "shop", "api", "30s");
  EXPECT_EQ(q.p99_latency, R"(max(app_latency_p99_seconds{ns="shop",app="api"}))");
  EXPECT_EQ(q.pool_timeouts,
            R"(sum(increase(hikaricp_connections_timeout_total{app=~"api|$x"}[30s])))");
  EXPECT_EQ(q.error_ratio, def.error_ratio);
  EXPECT_EQ(q.request_rate, def.request_rate);
  EXPECT_EQ(q.auth_errors, def.auth_errors);
}

TEST(CollectorQueries, EveryFieldIsUsed) {
  DetectionSpec d;
  d.queries = {"e[$range]", "p[$range]", "t[$range]", "r[$range]", "a[$range]"};
  const PromQueries q = QueriesFor(d, "shop", "api", "1m");
  EXPECT_EQ(q.error_ratio, "e[1m]");
  EXPECT_EQ(q.p99_latency, "p[1m]");
  EXPECT_EQ(q.pool_timeouts, "t[1m]");
  EXPECT_EQ(q.request_rate, "r[1m]");
  EXPECT_EQ(q.auth_errors, "a[1m]");
}

// ---- counter windows ------------------------------------------------------------------

const WallTime kT0 = std::chrono::system_clock::from_time_t(1'800'000'000);
using namespace std::chrono_literals;

TEST(CounterWindow, IncreaseFromTheOldestOrFromSince) {
  CounterWindow w;
  EXPECT_EQ(w.Increase(), std::nullopt);
  w.Add(kT0, 10, 60s);
  EXPECT_EQ(w.Increase(), std::nullopt);  // one sample is no increase
  w.Add(kT0 + 1s, 12, 60s);
  w.Add(kT0 + 2s, 17, 60s);
  EXPECT_EQ(w.Increase(), 7);
  EXPECT_EQ(w.Increase(kT0 + 1s), 5);  // from the last sample at or before `since`
  EXPECT_EQ(w.Increase(kT0 + 1500ms), 5);
  EXPECT_EQ(w.Increase(kT0 + 2s), std::nullopt);  // nothing after it yet
}

TEST(CounterWindow, ACounterResetStartsAgainAndOldSamplesGo) {
  CounterWindow w;
  w.Add(kT0, 100, 5s);
  w.Add(kT0 + 1s, 110, 5s);
  w.Add(kT0 + 2s, 3, 5s);  // the pod restarted: its counter began again
  EXPECT_EQ(w.Increase(), std::nullopt);
  w.Add(kT0 + 3s, 8, 5s);
  EXPECT_EQ(w.Increase(), 5);
  for (int i = 4; i < 20; ++i) w.Add(kT0 + std::chrono::seconds(i), 8 + i, 5s);
  EXPECT_LE(w.size(), 7u);  // only the last `keep` (plus the first outside it)
}

TEST(CounterWindow, RecentRateSpansAtLeastTheAskedTime) {
  CounterWindow w;
  for (int i = 0; i <= 10; ++i) w.Add(kT0 + std::chrono::seconds(i), 10.0 * i, 60s);
  EXPECT_DOUBLE_EQ(*w.RecentRate(3s), 10.0);
  CounterWindow burst;
  burst.Add(kT0, 0, 60s);
  burst.Add(kT0 + 9s, 0, 60s);
  burst.Add(kT0 + 10s, 50, 60s);                 // 50 requests in the last second
  EXPECT_DOUBLE_EQ(*burst.RecentRate(3s), 5.0);  // over the 10 s it takes to span 3 s
  EXPECT_EQ(CounterWindow{}.RecentRate(3s), std::nullopt);
}

TEST(HistogramQuantile, InterpolatesInsideTheBucketAsPromQLDoes) {
  // 100 observations: 50 under 0.1, 40 more under 0.5, 10 more under 1.
  const std::vector<std::pair<double, double>> b = {
      {0.1, 50}, {0.5, 90}, {1.0, 100}, {INFINITY, 100}};
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.5, b), 0.1);
  EXPECT_NEAR(*HistogramQuantile(0.99, b), 0.95, 1e-9);
  EXPECT_NEAR(*HistogramQuantile(0.7, b), 0.3, 1e-9);
  // In the +Inf bucket: the highest finite bound.
  EXPECT_DOUBLE_EQ(*HistogramQuantile(0.99, {{0.1, 10}, {INFINITY, 100}}), 0.1);
  EXPECT_EQ(HistogramQuantile(0.99, {{0.1, 0}, {INFINITY, 0}}), std::nullopt);
  EXPECT_EQ(HistogramQuantile(0.99, {}), std::nullopt);
}

TEST(MoveBaseline, TheFirstSetsItThenItFollowsSlowly) {
  CollectState st;
  Observations o;
  o.error_ratio = 0.1;
  o.request_rate = 100;
  MoveBaseline(st, o, kT0);
  EXPECT_DOUBLE_EQ(*st.baseline.error_ratio, 0.1);
  EXPECT_DOUBLE_EQ(*st.baseline.request_rate, 100);
  EXPECT_FALSE(st.baseline.p99_latency_seconds);
  o.request_rate = 400;  // a surge the target handles
  MoveBaseline(st, o, kT0 + 3s);
  EXPECT_GT(*st.baseline.request_rate, 100);
  EXPECT_LT(*st.baseline.request_rate, 105);  // 3 s of a 5-minute time constant
  o.request_rate = NAN;                       // no traffic: not a level to follow
  MoveBaseline(st, o, kT0 + 6s);
  EXPECT_LT(*st.baseline.request_rate, 110);
}

// ---- Assemble -------------------------------------------------------------------------

// One pod's /metrics after `requests` requests of which `errors` were 5xx, with `slow`
// of them over 0.5 s, and `timeouts` pool timeouts.
std::string PodMetrics(int requests, int errors, int slow, int timeouts) {
  const int ok = requests - errors;
  return "http_requests_total{route=\"/items\",code=\"200\"} " + std::to_string(ok) +
         "\nhttp_requests_total{route=\"/items\",code=\"503\"} " + std::to_string(errors) +
         "\nhttp_requests_total{route=\"/metrics\",code=\"200\"} 999" +
         "\nhttp_request_duration_seconds_bucket{route=\"/items\",le=\"0.5\"} " +
         std::to_string(requests - slow) +
         "\nhttp_request_duration_seconds_bucket{route=\"/items\",le=\"5\"} " +
         std::to_string(requests) +
         "\nhttp_request_duration_seconds_bucket{route=\"/items\",le=\"+Inf\"} " +
         std::to_string(requests) + "\ndb_pool_timeouts_total " + std::to_string(timeouts) +
         "\ndb_pool_size 5\n";
}

Gathered OnePod(int health, const std::string& metrics) {
  Gathered g;
  PodEndpoint ep{"api-1", "10.0.0.7", 8000, true};
  g.endpoints = {ep};
  PodProbe p;
  p.endpoint = ep;
  p.health.status = health;
  p.metrics.status = 200;
  p.metrics.body = metrics;
  g.pods = {p};
  g.log_window = 2s;
  g.logs = DbErrorCounts{};
  return g;
}

const Signal* FindSignal(const Observations& o, const std::string& name) {
  for (const auto& s : o.signals) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

TEST(Assemble, RatesComeFromTheIncreaseOfThePodsCountersAcrossTicks) {
  RemediationSpec spec;
  CollectState st;
  CollectInput in;
  Observations first =
      Assemble(OnePod(200, PodMetrics(100, 0, 0, 0)), in, spec, CollectorOptions{}, st, kT0);
  EXPECT_FALSE(first.error_ratio);  // one sample: no increase yet
  EXPECT_FALSE(first.pool_timeouts);
  Observations second =
      Assemble(OnePod(503, PodMetrics(300, 50, 20, 7)), in, spec, CollectorOptions{}, st, kT0 + 1s);
  ASSERT_TRUE(second.error_ratio);
  EXPECT_DOUBLE_EQ(*second.error_ratio, 50.0 / 200.0);  // /metrics's own requests left out
  EXPECT_DOUBLE_EQ(*second.pool_timeouts, 7);
  ASSERT_TRUE(second.p99_latency_seconds);
  EXPECT_GT(*second.p99_latency_seconds, 0.5);  // 20 of 200 new requests were slow
  EXPECT_DOUBLE_EQ(*second.request_rate, 200);
  EXPECT_EQ(second.pool_size, 5);  // from the pod's gauge, the Deployment said nothing
  const Signal* health = FindSignal(second, "health/api-1");
  ASSERT_NE(health, nullptr);
  EXPECT_EQ(health->outcome, Outcome::kFail);
}

// The reference design's /health answers 200 and says in its body that the database is
// gone: the spec's healthBody decides whether that body counts.
// A Spring Boot pod's /actuator/prometheus, read through the HikariCP preset: Micrometer's
// request counter (status label, Actuator's own routes left out) and HikariCP's gauges.
// A pod not Ready whose /health hangs: a slow start is no evidence, unless the server has
// no slot left, when the check waits for a connection it cannot get (a scale-out's pod).
TEST(Assemble, AHangingPodNotReadyFailsOnlyWhenTheServerIsFull) {
  RemediationSpec spec;
  CollectState st;
  Gathered g = OnePod(0, PodMetrics(100, 0, 0, 0));
  g.pods[0].endpoint.ready = false;
  g.pods[0].health.timed_out = true;
  g.db.capacity = DbCapacity{100, 3, 40};
  Observations o = Assemble(g, {}, spec, CollectorOptions{}, st, kT0);
  ASSERT_NE(FindSignal(o, "health/api-1"), nullptr);
  EXPECT_EQ(FindSignal(o, "health/api-1")->outcome, Outcome::kInconclusive);
  g.db.capacity = DbCapacity{100, 3, 97};
  o = Assemble(g, {}, spec, CollectorOptions{}, st, kT0 + 1s);
  EXPECT_EQ(FindSignal(o, "health/api-1")->outcome, Outcome::kFail)
      << FindSignal(o, "health/api-1")->detail;
}

TEST(Assemble, TheHikariCPPresetReadsASpringBootPod) {
  auto actuator = [](int ok, int failed, int active, int pending, int timeouts) {
    return "http_server_requests_seconds_count{method=\"GET\",status=\"200\",uri=\"/orders\"} " +
           std::to_string(ok) +
           "\nhttp_server_requests_seconds_count{method=\"GET\",status=\"500\",uri=\"/orders\"} " +
           std::to_string(failed) +
           "\nhttp_server_requests_seconds_count{method=\"GET\",status=\"200\","
           "uri=\"/actuator/prometheus\"} 999" +
           "\nhikaricp_connections_max{pool=\"HikariPool-1\"} 10" +
           "\nhikaricp_connections_active{pool=\"HikariPool-1\"} " + std::to_string(active) +
           "\nhikaricp_connections_pending{pool=\"HikariPool-1\"} " + std::to_string(pending) +
           "\nhikaricp_connections_timeout_total{pool=\"HikariPool-1\"} " +
           std::to_string(timeouts) + "\n";
  };
  RemediationSpec spec;
  spec.detection.metrics_preset = MetricPreset::kHikariCP;
  CollectState st;
  Assemble(OnePod(200, actuator(100, 0, 2, 0, 0)), {}, spec, CollectorOptions{}, st, kT0);
  const Observations o = Assemble(OnePod(200, actuator(150, 50, 10, 4, 3)), {}, spec,
                                  CollectorOptions{}, st, kT0 + 1s);
  ASSERT_TRUE(o.error_ratio);
  EXPECT_DOUBLE_EQ(*o.error_ratio, 0.5);  // 50 of 100 new /orders requests; Actuator's not
  EXPECT_EQ(o.pool_timeouts, 3);
  EXPECT_EQ(o.pool_size, 10);
  const Signal* saturation = FindSignal(o, "poolSaturation/api-1");
  ASSERT_NE(saturation, nullptr);
  EXPECT_EQ(saturation->outcome, Outcome::kFail) << saturation->detail;
  // The same text read as poolguard-target's: none of its names, so no pool gauges.
  spec.detection.metrics_preset = MetricPreset::kPoolGuardTarget;
  CollectState other;
  const Observations wrong =
      Assemble(OnePod(200, actuator(150, 50, 10, 4, 3)), {}, spec, CollectorOptions{}, other, kT0);
  EXPECT_FALSE(wrong.pool_size);
}

// A metrics endpoint that is not there is named by its path, not poolguard-target's.
TEST(Assemble, AMissingMetricsEndpointIsNamedByItsPath) {
  RemediationSpec spec;
  spec.detection.metrics_preset = MetricPreset::kHikariCP;
  Gathered g = OnePod(200, "");
  g.pods[0].metrics.status = 404;
  g.pods[0].metrics_path = "/actuator/prometheus";
  CollectState st;
  const Observations o = Assemble(g, {}, spec, CollectorOptions{}, st, kT0);
  const Signal* saturation = FindSignal(o, "poolSaturation/api-1");
  ASSERT_NE(saturation, nullptr);
  EXPECT_EQ(saturation->outcome, Outcome::kError);
  EXPECT_EQ(saturation->detail, "/actuator/prometheus answered 404");
}

// Preset None: no metrics endpoint asked; a pod whose /health hangs while its port
// accepts connections is stuck (Fail), as with a metrics answer.
TEST(Assemble, WithoutMetricsTheOpenPortSaysThePodIsAlive) {
  RemediationSpec spec;
  spec.detection.metrics_preset = MetricPreset::kNone;
  Gathered g = OnePod(0, "");
  g.pods[0].metrics = {};
  g.pods[0].health.timed_out = true;
  g.pods[0].alive = true;
  CollectState st;
  const Observations o = Assemble(g, {}, spec, CollectorOptions{}, st, kT0);
  const Signal* health = FindSignal(o, "health/api-1");
  ASSERT_NE(health, nullptr);
  EXPECT_EQ(health->outcome, Outcome::kFail) << health->detail;
  EXPECT_EQ(FindSignal(o, "poolSaturation/api-1"), nullptr);  // nothing scraped, nothing said
}

TEST(Assemble, AHealthBodyThatSaysDegradedFailsUnlessTheSpecIgnoresIt) {
  Gathered g = OnePod(200, PodMetrics(100, 0, 0, 0));
  g.pods[0].health.body = R"({"status": "degraded", "database": "unhealthy"})";
  RemediationSpec spec;
  CollectState st;
  const Observations read = Assemble(g, {}, spec, CollectorOptions{}, st, kT0);
  const Signal* health = FindSignal(read, "health/api-1");
  ASSERT_NE(health, nullptr);
  EXPECT_EQ(health->outcome, Outcome::kFail);
  EXPECT_EQ(health->detail, R"(HTTP 200, body: status "degraded", database "unhealthy")");

  spec.health_body = HealthBody::kIgnore;
  const Observations ignored = Assemble(g, {}, spec, CollectorOptions{}, st, kT0 + 1s);
  health = FindSignal(ignored, "health/api-1");
  ASSERT_NE(health, nullptr);
  EXPECT_EQ(health->outcome, Outcome::kPass);
  EXPECT_EQ(health->detail, "HTTP 200");
}

TEST(Assemble, WhileVerifyingRatesAreTakenSinceTheAction) {
  RemediationSpec spec;
  CollectState st;
  CollectInput in;
  Assemble(OnePod(503, PodMetrics(100, 90, 0, 0)), in, spec, CollectorOptions{}, st, kT0);
  Assemble(OnePod(503, PodMetrics(200, 180, 0, 0)), in, spec, CollectorOptions{}, st, kT0 + 1s);
  in.since = kT0 + 1s;  // the fix was applied here
  in.verifying = true;
  const Observations o =
      Assemble(OnePod(200, PodMetrics(300, 180, 0, 0)), in, spec, CollectorOptions{}, st, kT0 + 2s);
  ASSERT_TRUE(o.error_ratio);
  EXPECT_DOUBLE_EQ(*o.error_ratio, 0);  // the outage's errors are before `since`
}

TEST(Assemble, SeriesAPodNoLongerExportsAreNotKept) {
  RemediationSpec spec;
  CollectState st;
  std::string metrics = PodMetrics(100, 0, 0, 0);
  for (int i = 0; i < 50; ++i) {  // a histogram whose bucket bounds change every scrape
    metrics += "http_request_duration_seconds_bucket{route=\"/items\",le=\"" +
               std::to_string(10 + i) + "\"} 1\n";
    Assemble(OnePod(200, metrics), {}, spec, CollectorOptions{}, st, kT0 + std::chrono::seconds(i));
    metrics = PodMetrics(100 + i, 0, 0, 0);
  }
  EXPECT_LE(st.counters["api-1"].size(), 8u);  // requests, errors, timeouts, 3 buckets, one le
}

TEST(Assemble, APodThatGoesTakesItsCountersWithIt) {
  RemediationSpec spec;
  CollectState st;
  Assemble(OnePod(200, PodMetrics(100, 0, 0, 0)), {}, spec, CollectorOptions{}, st, kT0);
  EXPECT_EQ(st.counters.count("api-1"), 1u);
  Gathered none;
  none.endpoints_error = "Service api has no endpoints";
  const Observations o = Assemble(none, {}, spec, CollectorOptions{}, st, kT0 + 1s);
  EXPECT_EQ(st.counters.count("api-1"), 0u);
  const Signal* health = FindSignal(o, "health");
  ASSERT_NE(health, nullptr);
  EXPECT_EQ(health->outcome, Outcome::kError);  // no pod is no evidence either way
  EXPECT_EQ(health->detail, "Service api has no endpoints");
}

TEST(Assemble, SignalsWhoseWindowReachesBeforeTheActionAreInconclusive) {
  RemediationSpec spec;
  spec.detection.prometheus_url = "http://prometheus:9090";
  CollectState st;
  CollectInput in;
  in.fresh_since = kT0 - 1s;
  Gathered g = OnePod(200, PodMetrics(10, 0, 0, 0));
  g.logs = DbErrorCounts{{{"pool_timeout", 3}}, "DB_ERROR: pool_timeout: ..."};
  g.prometheus.answered = true;
  g.prometheus.error_ratio = 0.9;
  const Observations o = Assemble(g, in, spec, CollectorOptions{}, st, kT0);
  EXPECT_EQ(FindSignal(o, signal::kDbErrorLogs)->outcome, Outcome::kInconclusive);
  EXPECT_EQ(FindSignal(o, signal::kErrorRatio)->outcome, Outcome::kInconclusive);
  // Once the windows have moved past the action, they count again.
  const Observations later = Assemble(g, in, spec, CollectorOptions{}, st, kT0 + 31s);
  EXPECT_EQ(FindSignal(later, signal::kDbErrorLogs)->outcome, Outcome::kFail);
  EXPECT_EQ(FindSignal(later, signal::kErrorRatio)->outcome, Outcome::kFail);
  EXPECT_DOUBLE_EQ(*later.error_ratio, 0.9);  // Prometheus's range wins outside verification
}

TEST(Assemble, PrometheusUnavailableIsAnErrorNotHealth) {
  RemediationSpec spec;
  spec.detection.prometheus_url = "http://prometheus:9090";
  CollectState st;
  Gathered g = OnePod(200, PodMetrics(10, 0, 0, 0));
  g.prometheus.error = "Prometheus at http://prometheus:9090: connection refused";
  const Observations o = Assemble(g, {}, spec, CollectorOptions{}, st, kT0);
  EXPECT_TRUE(o.prometheus_configured);
  EXPECT_EQ(o.prometheus.outcome, Outcome::kError);
  EXPECT_EQ(FindSignal(o, signal::kErrorRatio)->outcome, Outcome::kError);
  EXPECT_EQ(FindSignal(o, signal::kErrorRatio)->detail, g.prometheus.error);
}

TEST(Assemble, TheWorkloadsAndTheDatabasePassThrough) {
  RemediationSpec spec;
  CollectState st;
  Gathered g;
  g.pool_size = 10;
  g.target_replicas = 3;
  g.db.tcp = {Outcome::kFail, "10.0.0.5:5432: connection refused"};
  g.db.login = {LoginResult::kRefused, "connection refused"};
  g.chaos_experiment = "demo/lock-items";
  g.test_request = {Outcome::kPass, "GET /items on api-1: 200"};
  const Observations o = Assemble(g, {}, spec, CollectorOptions{}, st, kT0);
  EXPECT_EQ(o.pool_size, 10);
  EXPECT_EQ(o.target_replicas, 3);
  EXPECT_EQ(o.tcp.outcome, Outcome::kFail);
  EXPECT_EQ(o.login, LoginResult::kRefused);
  EXPECT_EQ(o.chaos_experiment, "demo/lock-items");
  EXPECT_EQ(o.test_request.outcome, Outcome::kPass);
}

// ---- the target's sessions --------------------------------------------------------------

TEST(TargetSessions, TheSecretsRoleAndThePodsAddressesUnlessTheSpecSays) {
  RemediationSpec spec;
  const std::vector<PodEndpoint> pods = {{"api-1", "10.0.0.7", 8000, true},
                                         {"api-2", "", 8000, false}};
  SessionFilter f = TargetSessions(spec, "app", pods);
  EXPECT_EQ(f.role, "app");
  EXPECT_EQ(f.application_name, "");
  EXPECT_EQ(f.addresses, std::vector<std::string>{"10.0.0.7"});  // no empty address
  EXPECT_EQ(f.Describe(), R"(role "app" or a client address of 1 pod)");
  spec.session_role = "shop";
  spec.session_application_name = "api";
  f = TargetSessions(spec, "app", {});
  EXPECT_EQ(f.Describe(), R"(role "shop" with application_name "api")");
  EXPECT_EQ(SessionFilter{}.Describe(), "nothing");
}

TEST(TargetSessions, RoleAddressAndNameDecideTheControllersOwnNever) {
  SessionFilter f;
  f.role = "app";
  f.addresses = {"10.0.0.7"};
  EXPECT_TRUE(IsTargetSession(f, "", "app", "10.0.0.9"));           // by role
  EXPECT_TRUE(IsTargetSession(f, "psql", "postgres", "10.0.0.7"));  // by address
  EXPECT_FALSE(IsTargetSession(f, "psql", "postgres", "10.0.0.9"));
  EXPECT_FALSE(IsTargetSession(f, "psql", "postgres", ""));
  // An experiment or the controller, with the target's role and from its address.
  EXPECT_FALSE(IsTargetSession(f, "poolguard-chaos/demo/lock-items", "app", "10.0.0.7"));
  EXPECT_FALSE(IsTargetSession(f, "poolguard-controller-diagnostics", "app", "10.0.0.7"));
  EXPECT_TRUE(IsTargetSession(f, "poolguard-target", "app", ""));  // just an app's name
  // A shared role, narrowed by the app's name.
  f.application_name = "api";
  EXPECT_TRUE(IsTargetSession(f, "api", "app", ""));
  EXPECT_FALSE(IsTargetSession(f, "cron", "app", ""));
  EXPECT_FALSE(IsTargetSession(SessionFilter{}, "api", "app", ""));
}

SessionRow Row(int pid, bool target, const std::string& state, double seconds,
               std::vector<int> blocked_by = {}, const std::string& app = "api") {
  SessionRow r;
  r.pid = pid;
  r.application_name = app;
  r.state = state;
  r.state_seconds = seconds;
  r.blocked_by = std::move(blocked_by);
  r.is_target = target;
  return r;
}

TEST(DbSessionsSignal, ATargetSessionWaitingOnALockLongerThanLockWaitFails) {
  DbSessionsInput in;
  in.matched_by = R"(role "app")";
  in.sessions = {Row(10, false, "idle in transaction", 30, {}, "poolguard-chaos/demo/lock"),
                 Row(11, true, "active", 0.4, {10}), Row(12, true, "active", 2.5, {10}),
                 Row(13, true, "idle", 9)};
  in.server = DbCapacity{100, 3, 20};
  Signal s = DbSessionsSignal(in, kT0);
  EXPECT_EQ(s.name, signal::kDbSessions);
  EXPECT_EQ(s.outcome, Outcome::kFail);
  EXPECT_DOUBLE_EQ(*s.value, 2.5);
  EXPECT_EQ(s.detail,
            "3 target sessions (2 active, 0 idle in transaction); server slots 20 of 97 in use: "
            "2 wait on a lock, the longest 2.5s (blocked by pid 10)");
  in.lock_wait = 3s;
  s = DbSessionsSignal(in, kT0);
  EXPECT_EQ(s.outcome, Outcome::kPass);
  EXPECT_EQ(s.detail,
            "3 target sessions (2 active, 0 idle in transaction); server slots 20 of 97 in use: "
            "2 wait on a lock, under 3s");
}

TEST(DbSessionsSignal, SessionsIdleInATransactionThatFillThePoolsFail) {
  DbSessionsInput in;
  in.sessions = {Row(1, true, "idle in transaction", 12), Row(2, true, "idle in transaction", 11),
                 Row(3, true, "idle in transaction", 2)};
  EXPECT_EQ(DbSessionsSignal(in, kT0).outcome, Outcome::kPass);  // pool size unknown
  in.pool_capacity = 3;
  EXPECT_EQ(DbSessionsSignal(in, kT0).outcome, Outcome::kPass);  // one is still young
  in.pool_capacity = 2;
  const Signal s = DbSessionsSignal(in, kT0);
  EXPECT_EQ(s.outcome, Outcome::kFail);
  EXPECT_EQ(s.detail,
            "3 target sessions (0 active, 3 idle in transaction, pools hold 2): 2 idle in a "
            "transaction for 10s or more fill the pools (2)");
}

TEST(DbSessionsSignal, NoTargetSessionIsNoEvidenceAndUnreadIsAnError) {
  DbSessionsInput in;
  in.matched_by = R"(role "app")";
  in.sessions = {Row(1, false, "active", 5, {2}), Row(2, false, "idle in transaction", 9)};
  Signal s = DbSessionsSignal(in, kT0);
  EXPECT_EQ(s.outcome, Outcome::kInconclusive);
  EXPECT_EQ(s.detail, R"(no session of the target (matched by role "app") among 2 sessions)");
  in.sessions.reset();
  in.error = "PostgreSQL at db:5432: timeout";
  s = DbSessionsSignal(in, kT0);
  EXPECT_EQ(s.outcome, Outcome::kError);
  EXPECT_EQ(s.detail, in.error);
}

TEST(ViewDbPool, StarvedWhenNoTargetSessionIsIdleAndOneWaitedLongEnough) {
  DbSessionsInput in;
  in.sessions = {Row(1, true, "active", 2, {9}), Row(2, true, "active", 0.2, {9}),
                 Row(3, true, "idle in transaction", 1)};
  DbPoolView v = ViewDbPool(in);
  EXPECT_TRUE(v.starved);
  EXPECT_EQ(v.detail, "2 of 3 target sessions wait on a lock, none idle");
  EXPECT_EQ(v.blockers, std::vector<int>{9});
  in.pool_capacity = 10;  // the pools could open 7 more
  EXPECT_FALSE(ViewDbPool(in).starved);
  in.pool_capacity = 3;
  EXPECT_TRUE(ViewDbPool(in).starved);
  in.sessions->push_back(Row(4, true, "idle", 0.1));  // a connection to spare
  EXPECT_FALSE(ViewDbPool(in).starved);
  in.pool_capacity.reset();
  in.sessions = {Row(1, true, "active", 0.5, {9})};  // not yet lockWait
  EXPECT_FALSE(ViewDbPool(in).starved);
}

// A surge of slow requests: every session the pools hold is running a query. Only with the
// pools' size known; one idle session, or one waiting on a lock, is another story.
TEST(ViewDbPool, StarvedByWorkWhenEverySessionThePoolsHoldRunsAQuery) {
  DbSessionsInput in;
  in.sessions = {Row(1, true, "active", 0.3), Row(2, true, "active", 0.1),
                 Row(3, true, "active", 0.4), Row(4, false, "idle", 30, {}, "psql")};
  EXPECT_FALSE(ViewDbPool(in).starved);  // pool size unknown: any busy moment looks like this
  in.pool_capacity = 4;
  EXPECT_FALSE(ViewDbPool(in).starved);  // the pools could open one more
  in.pool_capacity = 3;
  DbPoolView v = ViewDbPool(in);
  EXPECT_TRUE(v.starved);
  EXPECT_TRUE(v.all_active);
  EXPECT_EQ(v.detail, "all 3 target sessions running queries, none idle (pools hold 3)");
  in.sessions->push_back(Row(5, true, "idle", 0.01));
  EXPECT_FALSE(ViewDbPool(in).starved);
  in.sessions->back().state = "idle in transaction";  // a leak's mark, not load's
  EXPECT_FALSE(ViewDbPool(in).all_active);
}

// Issue 15's in-app leak: the pools full, every session idle (in a transaction) for a
// second or more, nothing running, nothing waiting. Not a starvation by itself (an idle
// app's open pool looks the same); beside pool timeouts, connections not given back.
TEST(ViewDbPool, HeldIdleWhenThePoolsAreFullOfSessionsDoingNothing) {
  DbSessionsInput in;
  in.sessions = {Row(1, true, "idle in transaction", 4), Row(2, true, "idle in transaction", 3),
                 Row(3, true, "idle", 2), Row(4, false, "active", 9, {}, "psql")};
  EXPECT_FALSE(ViewDbPool(in).held_idle);  // pool size unknown
  in.pool_capacity = 4;
  EXPECT_FALSE(ViewDbPool(in).held_idle);  // the pools could open one more
  in.pool_capacity = 3;
  DbPoolView v = ViewDbPool(in);
  EXPECT_TRUE(v.held_idle);
  EXPECT_FALSE(v.starved);
  EXPECT_EQ(v.detail,
            "all 3 target sessions idle (2 in a transaction) for 1s or more, none running a "
            "query, none blocked, the pools (3) full");
  in.sessions->at(2).state_seconds = 0.01;  // between two queries: busy, not held
  EXPECT_FALSE(ViewDbPool(in).held_idle);
  in.sessions->at(2) = Row(3, true, "active", 0.2);
  EXPECT_FALSE(ViewDbPool(in).held_idle);
}

TEST(SummarizeSessions, CountsTheTargetsAndTheOthersButNotTheControllers) {
  const SessionsStatus st = SummarizeSessions(
      {Row(1, true, "idle", 1), Row(2, true, "active", 1), Row(3, false, "idle", 1, {}, "psql"),
       Row(4, false, "idle in transaction", 1, {}, "poolguard-chaos/demo/x")},
      R"(role "app")");
  EXPECT_EQ(st, (SessionsStatus{R"(role "app")", 2, 1, std::nullopt}));
}

// An app with no metrics and logs PoolGuard cannot read is still detected: its sessions
// wait on a lock, the pool capacity comes from the Deployment's env times its replicas.
TEST(Assemble, TheTargetsSessionsAreASignalEveryTick) {
  RemediationSpec spec;
  spec.detection.lock_wait = 500ms;
  CollectState st;
  Gathered g;
  g.pool_size = 5;
  g.target_replicas = 2;
  g.db.tcp = {Outcome::kPass, "connected"};
  g.db.sessions = std::vector<SessionRow>{Row(7, true, "active", 0.8, {3})};
  g.db.sessions_matched_by = R"(role "app")";
  Observations o = Assemble(g, {}, spec, CollectorOptions{}, st, kT0);
  const Signal* s = FindSignal(o, signal::kDbSessions);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->outcome, Outcome::kFail);
  EXPECT_NE(s->detail.find("pools hold 10"), std::string::npos) << s->detail;
  EXPECT_EQ(o.sessions_matched_by, R"(role "app")");
  // The database unreachable: the TCP probe's reason, an error, not health.
  g.db = {};
  g.db.tcp = {Outcome::kFail, "10.0.0.5:5432: connection refused"};
  o = Assemble(g, {}, spec, CollectorOptions{}, st, kT0);
  s = FindSignal(o, signal::kDbSessions);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->outcome, Outcome::kError);
  EXPECT_EQ(s->detail, "10.0.0.5:5432: connection refused");
}

TEST(LogWindow, TheIntervalRoundedUpPlusASecondAtLeastTwo) {
  DetectionSpec d;
  d.interval = 100ms;
  EXPECT_EQ(LogWindow(d), 2s);
  d.interval = 1s;
  EXPECT_EQ(LogWindow(d), 2s);
  d.interval = 2500ms;
  EXPECT_EQ(LogWindow(d), 4s);
}

TEST(PromBatch, EachQueryKeepsItsOwnSeries) {
  EXPECT_EQ(BatchPromQL({"sum(a)", "b / c"}),
            R"(label_replace((sum(a)), "poolguard_query", "0", "", "") or )"
            R"(label_replace((b / c), "poolguard_query", "1", "", ""))");
  const PromQueryResult r = ParsePromQueryResponse(
      R"({"status":"success","data":{"resultType":"vector","result":[
        {"metric":{"poolguard_query":"2","pod":"a"},"value":[1,"3"]},
        {"metric":{"poolguard_query":"2","pod":"b"},"value":[1,"7"]},
        {"metric":{"poolguard_query":"0"},"value":[1,"NaN"]},
        {"metric":{"poolguard_query":"9"},"value":[1,"1"]},
        {"metric":{"poolguard_query":"1x"},"value":[1,"1"]},
        {"metric":{},"value":[1,"1"]}]}})");
  ASSERT_TRUE(r.ok) << r.error;
  // NaN (no traffic) and no series are "no value"; several series, the worst; labels out of
  // range or not ours are ignored.
  EXPECT_EQ(SplitPromBatch(r, 3),
            (std::vector<std::optional<double>>{std::nullopt, std::nullopt, 7.0}));
}

}  // namespace
}  // namespace poolguard::controller
