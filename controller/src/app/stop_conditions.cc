#include "app/stop_conditions.h"

#include <cpprest/base_uri.h>

#include "core/condition.h"
#include "poolguard/common/json_util.h"
#include "poolguard/kube/object.h"
#include "remediation/signals.h"
#include "remediation/status.h"

namespace poolguard::controller {

std::string RemediationNeedsHuman(ObjectStore& remediations, const std::string& ns,
                                  const std::string& deployment) {
  for (const auto& r : remediations.List()) {
    if (kube::NamespaceOf(r) != ns) continue;
    if (json::StringAt(r, {"spec", "target", "deployment"}) != deployment) continue;
    const RemediationStatus status = ParseRemediationStatus(r);
    const Condition* c = FindCondition(status.conditions, rem::kNeedsHuman);
    if (c == nullptr || c->status != "True") continue;
    return "Remediation " + kube::KeyOf(r) + " needs a person (" + c->reason + ": " +
           c->message.substr(0, 300) + ")";
  }
  return "";
}

ChaosReconcilerOptions::PromAnswer QueryPrometheus(Probes& probes, const std::string& url,
                                                   const std::string& query) {
  std::string base = url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const HttpResult r =
      probes.Get(base + "/api/v1/query?query=" + web::uri::encode_data_string(query),
                 std::chrono::milliseconds(1000), kMaxPrometheusBytes);
  if (r.status == 0) {
    return {std::nullopt, "Prometheus at " + base + ": " + (r.timed_out ? "timed out" : r.error)};
  }
  const PromQueryResult parsed = ParsePromQueryResponse(r.body);
  if (!parsed.ok) {
    return {std::nullopt,
            "Prometheus at " + base + ": HTTP " + std::to_string(r.status) + ": " + parsed.error};
  }
  return {SingleValue(parsed), ""};
}

}  // namespace poolguard::controller
