#include "remediation/metric_presets.h"

namespace poolguard::controller {
namespace {

// Pods of a Deployment are named <deployment>-<template hash>-<suffix>.
constexpr char kPods[] = R"(namespace="$namespace",pod=~"$deployment-[a-z0-9]+-[a-z0-9]+")";

MetricPresetDef PoolGuardTarget() {
  const std::string sel = kPods;
  const std::string served = sel + R"(,route!="/metrics",route!="/livez")";
  MetricPresetDef d{MetricPreset::kPoolGuardTarget, "PoolGuardTarget", {}, {}};
  d.pod.path = "/metrics";
  d.pod.requests = "http_requests_total";
  d.pod.status_label = "code";
  d.pod.route_label = "route";
  d.pod.probe_routes = {"/metrics", "/livez"};
  d.pod.duration_bucket = "http_request_duration_seconds_bucket";
  d.pod.pool_timeouts = "db_pool_timeouts_total";
  d.pod.auth_errors = "db_errors_total";
  d.pod.auth_errors_labels = {{"kind", "authentication"}};
  d.pod.pool_size = "db_pool_size";
  d.pod.pool_max_overflow = "db_pool_max_overflow";
  d.pod.pool_checked_out = "db_pool_checked_out";
  d.pod.pool_idle = "db_pool_idle";
  d.pod.pool_waiters = "db_pool_waiters";
  d.queries.error_ratio = "sum(rate(http_requests_total{" + served +
                          R"(,code=~"5.."}[$range])) / sum(rate(http_requests_total{)" + served +
                          "}[$range]))";
  d.queries.p99_latency =
      "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{" + served +
      "}[$range])))";
  d.queries.pool_timeouts = "sum(increase(db_pool_timeouts_total{" + sel + "}[$range]))";
  d.queries.request_rate = "sum(rate(http_requests_total{" + served + "}[$range]))";
  d.queries.auth_errors =
      "sum(increase(db_errors_total{" + sel + R"(,kind="authentication"}[$range])))";
  d.queries.pool_saturation =
      "sum(db_pool_checked_out{" + sel + "}) / sum(db_pool_size{" + sel + "})";
  return d;
}

// Micrometer's names for Spring Boot's HTTP server metrics and HikariCP's pool metrics, as
// Actuator's /actuator/prometheus exposes them. The latency histogram exists when the app
// enables management.metrics.distribution.percentiles-histogram.http.server.requests.
// HikariCP counts no authentication errors: those come from the logs.
MetricPresetDef HikariCP() {
  const std::string sel = kPods;
  const std::string served = sel + R"(,uri!~"/actuator.*")";
  MetricPresetDef d{MetricPreset::kHikariCP, "HikariCP", {}, {}};
  d.pod.path = "/actuator/prometheus";
  d.pod.requests = "http_server_requests_seconds_count";
  d.pod.status_label = "status";
  d.pod.route_label = "uri";
  d.pod.probe_routes = {"/actuator"};
  d.pod.duration_bucket = "http_server_requests_seconds_bucket";
  d.pod.pool_timeouts = "hikaricp_connections_timeout_total";
  d.pod.pool_size = "hikaricp_connections_max";
  d.pod.pool_checked_out = "hikaricp_connections_active";
  d.pod.pool_idle = "hikaricp_connections_idle";
  d.pod.pool_waiters = "hikaricp_connections_pending";
  d.queries.error_ratio =
      "sum(rate(http_server_requests_seconds_count{" + served +
      R"(,status=~"5.."}[$range])) / sum(rate(http_server_requests_seconds_count{)" + served +
      "}[$range]))";
  d.queries.p99_latency =
      "histogram_quantile(0.99, sum by (le) (rate(http_server_requests_seconds_bucket{" + served +
      "}[$range])))";
  d.queries.pool_timeouts =
      "sum(increase(hikaricp_connections_timeout_total{" + sel + "}[$range]))";
  d.queries.request_rate = "sum(rate(http_server_requests_seconds_count{" + served + "}[$range]))";
  d.queries.pool_saturation =
      "sum(hikaricp_connections_active{" + sel + "}) / sum(hikaricp_connections_max{" + sel + "})";
  return d;
}

}  // namespace

const MetricPresetDef& PresetOf(MetricPreset preset) {
  static const MetricPresetDef kTarget = PoolGuardTarget();
  static const MetricPresetDef kHikari = HikariCP();
  static const MetricPresetDef kNone{MetricPreset::kNone, "None", {}, {}};
  switch (preset) {
    case MetricPreset::kPoolGuardTarget:
      return kTarget;
    case MetricPreset::kHikariCP:
      return kHikari;
    case MetricPreset::kNone:
      break;
  }
  return kNone;
}

}  // namespace poolguard::controller
