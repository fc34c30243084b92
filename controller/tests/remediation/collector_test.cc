#include "remediation/collector.h"

#include <gtest/gtest.h>

namespace poolguard::controller {
namespace {

// The defaults, written out: a change to them shows here and must show in the docs.
TEST(CollectorQueries, DefaultsForTheTargetsMetrics) {
  const PromQueries q = DefaultQueries("shop", "api", "30s");
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

TEST(CollectorQueries, NothingGivenKeepsTheDefaults) {
  EXPECT_EQ(QueriesFor(DetectionSpec{}, "shop", "api", "30s"),
            DefaultQueries("shop", "api", "30s"));
}

TEST(CollectorQueries, AGivenQueryReplacesOnlyItsDefault) {
  DetectionSpec d;
  d.queries.p99_latency_seconds =
      R"(max(app_latency_p99_seconds{ns="$namespace",app="${deployment}"}))";
  d.queries.pool_timeouts =
      R"(sum(increase(hikaricp_connections_timeout_total{app=~"$deployment|$$x"}[$range])))";
  const PromQueries q = QueriesFor(d, "shop", "api", "30s");
  const PromQueries def = DefaultQueries("shop", "api", "30s");
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

}  // namespace
}  // namespace poolguard::controller
