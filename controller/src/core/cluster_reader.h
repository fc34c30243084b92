#pragma once

// The Kubernetes reads both kinds need besides their own resource: namespaces, Services
// through their EndpointSlices, Secrets, StatefulSets' replicas; and the one write a
// DatabaseDown experiment makes (a StatefulSet's replicas) and a NetworkPartition's (a
// Service's selector).

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/database.h"

namespace poolguard::controller {

/// A Service, EndpointSlice or Secret that cannot be used; the message names the object and
/// what is wrong, never a secret value.
class ResolveError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One endpoint of a Service: a pod, ready or not (terminating ones are left out).
struct PodEndpoint {
  std::string pod;  // the targetRef's name, else the address
  std::string ip;
  int port = 0;  // the target port
  bool ready = false;
};

/// The Kubernetes reads the reconciler needs besides its own resource. Thread-safe.
class ClusterReader {
 public:
  virtual ~ClusterReader() = default;
  /// True when the namespace carries poolguard.dev/chaos=enabled.
  virtual bool NamespaceOptedIn(const std::string& ns) = 0;
  /// Whether the Deployment exists. Throws kube::ApiError on anything but NotFound.
  virtual bool DeploymentExists(const std::string& ns, const std::string& name) = 0;
  /// Ready endpoints of `service`'s port `port` (a Service port), through its EndpointSlices.
  /// Throws ResolveError (no such Service/port, no ready endpoints), kube::ApiError.
  virtual std::vector<Endpoint> ResolveService(const std::string& ns, const std::string& service,
                                               int port) = 0;
  /// Keys username, password, database (optional, default "postgres") of a Secret.
  virtual DbTarget ReadCredentials(const std::string& ns, const std::string& secret) = 0;
  /// A StatefulSet's spec.replicas; nullopt when it does not exist. Throws kube::ApiError.
  virtual std::optional<int> StatefulSetReplicas(const std::string& ns,
                                                 const std::string& name) = 0;
  /// Sets a StatefulSet's spec.replicas (a merge patch). Throws kube::ApiError.
  virtual void ScaleStatefulSet(const std::string& ns, const std::string& name, int replicas) = 0;
  /// A Service's spec.selector, read fresh (empty: it has none); nullopt when the Service
  /// does not exist. Throws kube::ApiError.
  virtual std::optional<std::map<std::string, std::string>> ServiceSelector(
      const std::string& ns, const std::string& name) = 0;
  /// Sets one key of a Service's spec.selector, or removes it (nullopt): a merge patch
  /// that leaves the other keys as they are. Throws kube::ApiError.
  virtual void SetServiceSelectorKey(const std::string& ns, const std::string& name,
                                     const std::string& key,
                                     const std::optional<std::string>& value) = 0;
};

}  // namespace poolguard::controller
