#pragma once

// The Kubernetes reads and writes of the Remediation reconciler, behind one small
// interface: the target's pods (through its Service's EndpointSlices), the workloads'
// rollout state, the database's pods, pod logs, the active ChaosExperiment on the target,
// and the two patches the actions make.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/cluster_reader.h"  // PodEndpoint
#include "core/json.h"
#include "remediation/observations.h"

namespace poolguard::controller {

/// The target's Deployment as the actions need it.
struct DeploymentView {
  RolloutObservation rollout;
  std::optional<int> pool_size;  // the env value on the pool container, when numeric
  int replicas = 1;
};

/// The experiment holding a fault on the target right now.
struct ChaosLink {
  std::string key;  // ns/name
  std::optional<WallTime> started_at;
  std::string report;  // its poolguard.dev/report annotation: where a report of it will be
};

/// The most of a pod's log one tick reads.
inline constexpr int kMaxLogBytes = 1 << 20;

class RemediationCluster {
 public:
  virtual ~RemediationCluster() = default;
  /// Endpoints of `service`'s port `port` with the pods behind them. Throws kube::ApiError,
  /// ResolveError (no such Service or port).
  virtual std::vector<PodEndpoint> TargetEndpoints(const std::string& ns,
                                                   const std::string& service, int port) = 0;
  /// nullopt when the Deployment does not exist.
  virtual std::optional<DeploymentView> Deployment(const std::string& ns, const std::string& name,
                                                   const std::string& container,
                                                   const std::string& env) = 0;
  /// nullopt when the StatefulSet does not exist.
  virtual std::optional<RolloutObservation> StatefulSet(const std::string& ns,
                                                        const std::string& name) = 0;
  /// The StatefulSet's pods (by its selector) with readiness; empty when it has none.
  virtual std::vector<PodState> StatefulSetPods(const std::string& ns, const std::string& name) = 0;
  /// The pod's log lines of the last `since_seconds`, with Kubernetes timestamps, at most
  /// kMaxLogBytes of them (a pod that logs a flood is not read whole every tick).
  virtual std::string PodLogs(const std::string& ns, const std::string& pod, int since_seconds) = 0;
  /// The ChaosExperiment in `ns` whose target is `deployment` and which holds its fault.
  virtual std::optional<ChaosLink> ActiveChaos(const std::string& ns,
                                               const std::string& deployment) = 0;
  /// Sets the pod template's kubectl.kubernetes.io/restartedAt to `key` (kind: Deployment or
  /// StatefulSet), as `kubectl rollout restart` does.
  virtual void Restart(const std::string& ns, const std::string& kind, const std::string& name,
                       const std::string& key) = 0;
  /// Sets env `env` of `container` (empty: the first) of the Deployment's pod template.
  virtual void SetEnv(const std::string& ns, const std::string& deployment,
                      const std::string& container, const std::string& env, int value) = 0;
};

}  // namespace poolguard::controller
