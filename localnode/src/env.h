#pragma once

#include <cpprest/json.h>

#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace poolguard::localnode {

using Json = web::json::value;

/// Ordered environment: later entries with the same name replace earlier ones (see Set).
class EnvList {
 public:
  void Set(const std::string& name, const std::string& value);
  std::optional<std::string> Get(const std::string& name) const;
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }
  /// "NAME=value" strings for execve.
  std::vector<std::string> ToStrings() const;

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

/// The kubelet's $(VAR) expansion (k8s.io/kubernetes third_party/forked/golang/expansion):
/// `$(NAME)` becomes the value when `lookup` knows NAME and stays as written otherwise;
/// `$$` is an escaped `$`; any other `$` is literal.
std::string ExpandVars(const std::string& input,
                       const std::function<std::optional<std::string>(const std::string&)>& lookup);

/// Why a container cannot be created (kubelet: CreateContainerConfigError).
class ContainerConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Where env values come from: the `data` (ConfigMap) or decoded `data` (Secret) of an
/// object, or nullopt when it does not exist.
struct EnvSources {
  std::function<std::optional<std::map<std::string, std::string>>(const std::string& ns,
                                                                  const std::string& name)>
      config_map;
  std::function<std::optional<std::map<std::string, std::string>>(const std::string& ns,
                                                                  const std::string& name)>
      secret;
};

/// The downward API's fieldRef: metadata.name/namespace/uid, metadata.labels['k'],
/// metadata.annotations['k'], spec.nodeName, spec.serviceAccountName, status.podIP(s),
/// status.hostIP. Throws ContainerConfigError for anything else.
std::string PodField(const Json& pod, const std::string& field_path, const std::string& pod_ip,
                     const std::string& host_ip);

/// Builds a container's environment as the kubelet does: `base` first (KUBERNETES_SERVICE_*
/// and the like), then envFrom (in order; prefix; invalid names skipped), then env (values
/// expanded with $(VAR) against what is defined so far; valueFrom configMapKeyRef,
/// secretKeyRef, fieldRef). Missing non-optional sources throw ContainerConfigError with
/// the kubelet's wording (`configmap "x" not found`, `couldn't find key k in Secret ns/x`).
EnvList BuildEnv(const Json& pod, const Json& container, const std::string& pod_ip,
                 const std::string& host_ip, const EnvList& base, const EnvSources& sources);

/// Expands $(VAR) in command and args against `env`.
std::vector<std::string> ExpandAll(const std::vector<std::string>& in, const EnvList& env);

/// Strings of a JSON array (missing → empty).
std::vector<std::string> StringArray(const Json& value);

}  // namespace poolguard::localnode
