#include "series.h"

#include <cpprest/uri.h>

#include <cmath>
#include <cstdlib>
#include <system_error>

#include "remediation/collect.h"
#include "remediation/metric_presets.h"
#include "remediation/spec.h"

namespace poolguard::console {

SeriesQueries QueriesFor(const web::json::value& remediation) {
  using namespace poolguard::controller;
  SeriesQueries q;
  const auto parsed = ParseRemediationSpec(remediation);
  if (!parsed.spec) {
    q.error = parsed.error;
    return q;
  }
  const RemediationSpec& spec = *parsed.spec;
  q.prometheus_url = spec.detection.prometheus_url;
  std::string ns;
  if (remediation.has_field("metadata") && remediation.at("metadata").has_field("namespace") &&
      remediation.at("metadata").at("namespace").is_string()) {
    ns = remediation.at("metadata").at("namespace").as_string();
  }
  // The controller's own defaults, and the spec's error-ratio query when it sets one.
  const PromQueries defaults =
      DefaultQueries(spec.detection.metrics_preset, ns, spec.target_deployment, "1m");
  q.error_ratio = defaults.error_ratio;
  if (spec.detection.queries.error_ratio) {
    q.error_ratio =
        ExpandQuery(*spec.detection.queries.error_ratio, {ns, spec.target_deployment, "1m"}).text;
  }
  q.pool_saturation = defaults.pool_saturation;
  return q;
}

std::string RangeUrl(const std::string& prometheus_url, const std::string& query, long end,
                     int seconds, int step) {
  std::string base = prometheus_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/api/v1/query_range?query=" + web::uri::encode_data_string(query) +
         "&start=" + std::to_string(end - seconds) + "&end=" + std::to_string(end) +
         "&step=" + std::to_string(step);
}

std::vector<std::pair<double, double>> ParseRange(const std::string& body, std::string* error) {
  std::vector<std::pair<double, double>> points;
  std::error_code ec;
  const auto v = web::json::value::parse(body, ec);
  if (ec || !v.is_object() || !v.has_field("status") || !v.at("status").is_string()) {
    *error = "not a Prometheus answer";
    return points;
  }
  if (v.at("status").as_string() != "success") {
    *error = v.has_field("error") && v.at("error").is_string() ? v.at("error").as_string()
                                                               : "Prometheus answered an error";
    return points;
  }
  if (!v.has_field("data") || !v.at("data").has_field("result") ||
      !v.at("data").at("result").is_array()) {
    *error = "no data.result in the answer";
    return points;
  }
  const auto& result = v.at("data").at("result").as_array();
  if (result.size() == 0) return points;  // no series yet: an empty chart
  const auto& first = *result.begin();
  if (!first.has_field("values") || !first.at("values").is_array()) return points;
  for (const auto& pair : first.at("values").as_array()) {
    if (!pair.is_array() || pair.size() != 2 || !pair.at(0).is_number() ||
        !pair.at(1).is_string()) {
      continue;
    }
    const double value = std::strtod(pair.at(1).as_string().c_str(), nullptr);
    if (!std::isfinite(value)) continue;
    points.emplace_back(pair.at(0).as_double(), value);
    if (points.size() >= 2000) break;
  }
  return points;
}

}  // namespace poolguard::console
