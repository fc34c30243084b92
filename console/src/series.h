// The target chart's data: error ratio and pool saturation over the last minutes, read
// from the Prometheus a Remediation names, with the PromQL its metrics preset (or its own
// queries) gives. Pure parts here; the route does the one GET per series.
#pragma once

#include <cpprest/json.h>

#include <string>
#include <utility>
#include <vector>

namespace poolguard::console {

struct SeriesQueries {
  std::string prometheus_url;   // "" : the Remediation names no Prometheus
  std::string error_ratio;      // PromQL, placeholders expanded ("" : none)
  std::string pool_saturation;  // PromQL ("" : the preset has no pool metrics)
  std::string error;            // the spec cannot be read
};
/// From a Remediation as the API server holds it.
SeriesQueries QueriesFor(const web::json::value& remediation);

/// The query_range URL for `query` over the `seconds` before `end` (Unix seconds).
std::string RangeUrl(const std::string& prometheus_url, const std::string& query, long end,
                     int seconds, int step);

/// [[t, v], ...] from a Prometheus query_range answer (its first series; NaN and ±Inf
/// left out); `error` when the answer is not one.
std::vector<std::pair<double, double>> ParseRange(const std::string& body, std::string* error);

}  // namespace poolguard::console
