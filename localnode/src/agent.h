#pragma once

#include <atomic>
#include <memory>
#include <string>

namespace poolguard::localnode {

struct AgentOptions {
  std::string kubeconfig;  // the agent's credentials
  std::string node_name = "localnode";
  std::string state_dir;                     // pods/, data/, pvc/, procs, addrs
  std::string images_file;                   // localnode/images.yaml
  std::string source_dir;                    // ${REPO} in the image table
  std::string build_dir;                     // ${BUILD} in the image table
  std::string pod_network = "10.244.0";      // pods .2-253; gateway .1
  std::string service_network = "10.245.0";  // Service 10.0.0.k is proxied on <service_network>.k
  std::string netns;  // the pod network's namespace (and host veth) [poolguard-<pod_network's C>]
  int kubelet_port = 10250;
  std::string tls_cert_file, tls_key_file, client_ca_file;  // kubelet port (empty: no server)
  int backoff_base_seconds = 10;  // first crash restarts at once, then 10 s, 20 s, ... 300 s
  int backoff_max_seconds = 300;
  bool mount_namespaces = true;  // private mount namespace per container (needs root)
  // Preloaded into every container so its connections leave from its pod IP ("": none).
  std::string podsource_library;
};

/// The node agent. Run() blocks until `stop` becomes true, then stops every process it
/// started and removes the pod network (namespace and veth) it made.
class Agent {
 public:
  explicit Agent(AgentOptions options);
  ~Agent();
  void Run(const std::atomic<bool>& stop);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace poolguard::localnode
