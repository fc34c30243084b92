#pragma once

// RemediationCluster on the Kubernetes API.

#include <memory>

#include "poolguard/kube/client.h"
#include "remediation/cluster.h"

namespace poolguard::controller {

std::unique_ptr<RemediationCluster> NewRemediationCluster(std::shared_ptr<kube::Client> client);

}  // namespace poolguard::controller
