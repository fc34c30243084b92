#pragma once

// The metric names a Remediation reads, as presets: each names what it reads from every
// pod's own metrics endpoint and the PromQL it sends by default. The collector reads only
// through a preset (or the user's own queries): no metric name is wired into it.
//   PoolGuardTarget  poolguard-target's metrics (docs/target.md): http_requests_total,
//                    http_request_duration_seconds, db_pool_* gauges and counters
//   HikariCP         a JVM service with HikariCP and Micrometer (Spring Boot Actuator's
//                    /actuator/prometheus): http_server_requests_seconds, hikaricp_connections_*
//   None             no metrics: health, logs and what the database shows

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "remediation/spec.h"  // MetricPreset

namespace poolguard::controller {

/// The PromQL of each look-back signal (empty: not sent).
struct PromQueries {
  std::string error_ratio, p99_latency, pool_timeouts, request_rate, auth_errors;
  std::string pool_saturation;  // connections checked out / pool size (the console's chart)
  bool operator==(const PromQueries&) const = default;
};

/// What a preset reads from a pod's own metrics endpoint ("" : not read).
struct PodMetricNames {
  std::string path;                       // e.g. /metrics; "" : the pods are not scraped
  std::string requests;                   // counter of requests served
  std::string status_label;               // its HTTP status label (code, status)
  std::string route_label;                // its route label (route, uri)
  std::vector<std::string> probe_routes;  // route prefixes left out: probes, not traffic
  std::string duration_bucket;            // the request-duration histogram's _bucket series
  std::string pool_timeouts;              // counter of pool checkout timeouts
  std::string auth_errors;                // counter of authentication errors ...
  std::map<std::string, std::string> auth_errors_labels;  // ... with these labels
  // Pool gauges (summed over the pod's pools): capacity, overflow, in use, idle, waiting.
  std::string pool_size, pool_max_overflow, pool_checked_out, pool_idle, pool_waiters;
};

struct MetricPresetDef {
  MetricPreset preset;
  std::string_view name;
  PodMetricNames pod;
  /// PromQL with $namespace, $deployment and $range (spec.h's ExpandQuery).
  PromQueries queries;
};

const MetricPresetDef& PresetOf(MetricPreset preset);

}  // namespace poolguard::controller
