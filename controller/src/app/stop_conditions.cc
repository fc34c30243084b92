#include "app/stop_conditions.h"

#include "core/condition.h"
#include "poolguard/common/json_util.h"
#include "poolguard/kube/object.h"
#include "remediation/collector.h"
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
  PromInstant a = QueryPrometheusInstant(probes, url, query);
  return {a.value, std::move(a.error)};
}

}  // namespace poolguard::controller
