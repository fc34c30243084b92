#pragma once

// RemediationCluster on the Kubernetes API.

#include <memory>

#include "core/object_cache.h"
#include "core/object_store.h"
#include "poolguard/kube/client.h"
#include "remediation/cluster.h"

namespace poolguard::controller {

/// `experiments`: the ChaosExperiments' cache the active experiment on a target is read
/// from (null: a LIST per call); `caches`: the Deployments, StatefulSets, Services and
/// EndpointSlices a tick reads (null or not synced: GETs and LISTs).
std::unique_ptr<RemediationCluster> NewRemediationCluster(std::shared_ptr<kube::Client> client,
                                                          ObjectStore* experiments = nullptr,
                                                          ReadCaches caches = {});

}  // namespace poolguard::controller
