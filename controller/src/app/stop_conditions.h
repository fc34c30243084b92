#pragma once

// What a ChaosExperiment's stop conditions read (chaos/reconciler.h, ChaosReconcilerOptions):
// the Remediations in the cache, and a Prometheus instant query through the bounded probes.

#include <string>

#include "chaos/reconciler.h"
#include "core/object_store.h"
#include "remediation/probes.h"

namespace poolguard::controller {

/// "" when no Remediation of Deployment `ns`/`deployment` in `remediations` has
/// NeedsHuman=True; else "Remediation ns/name needs a person (reason: message)".
std::string RemediationNeedsHuman(ObjectStore& remediations, const std::string& ns,
                                  const std::string& deployment);

/// One instant query (1 s, at most kMaxPrometheusBytes) and its single value.
ChaosReconcilerOptions::PromAnswer QueryPrometheus(Probes& probes, const std::string& url,
                                                   const std::string& query);

}  // namespace poolguard::controller
