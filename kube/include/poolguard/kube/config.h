#pragma once

#include <memory>
#include <string>
#include <vector>

#include "poolguard/kube/errors.h"

namespace poolguard::kube {

/// How to reach and authenticate to one API server: the result of reading a kubeconfig or
/// the in-cluster service-account files. A plain value; copy freely.
///
/// File references are resolved to their contents when the config is loaded, except
/// `token_file`, which the client re-reads (at most once a minute) so rotated
/// service-account tokens are picked up.
struct Config {
  std::string server;  // "https://127.0.0.1:6443"
  std::string ca_pem;  // CA bundle; empty = system trust store
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;     // name to verify in the server certificate, if not host
  std::string client_cert_pem;     // client certificate (chain), PEM
  std::string client_key_pem;      // its private key, PEM
  std::string token;               // static bearer token
  std::string token_file;          // bearer token file, re-read as it rotates
  std::string username, password;  // basic auth (rare; kept for completeness)
  std::string impersonate_user;    // Impersonate-User header (kubeconfig `as`)
  std::vector<std::string> impersonate_groups;  // Impersonate-Group (kubeconfig `as-groups`)
  std::string default_namespace = "default";    // from the context, or the in-cluster file
  std::string context_name;                     // the kubeconfig context used (empty in-cluster)
  std::string source;                           // where it came from, for messages
};

/// Reads one kubeconfig file and returns the configuration of `context` (its
/// current-context when empty). Throws ConfigError naming the file and field on any
/// problem, including unsupported auth (exec plugins, auth-provider).
Config LoadKubeconfigFile(const std::string& path, const std::string& context = "");

/// Merges several kubeconfig files as kubectl does with KUBECONFIG=a:b:c — for each map
/// entry (cluster, user, context) and for current-context the first file that sets it wins;
/// missing files are ignored, but not if all are missing.
Config LoadKubeconfigFiles(const std::vector<std::string>& paths, const std::string& context = "");

/// Parses kubeconfig text; `source_name` is used in messages and `base_dir` resolves
/// relative file paths. Throws ConfigError.
Config ParseKubeconfig(const std::string& yaml_text, const std::string& source_name,
                       const std::string& base_dir, const std::string& context = "");

/// In-cluster configuration: KUBERNETES_SERVICE_HOST/PORT and the files under `sa_dir`
/// (token, ca.crt, namespace). Throws ConfigError when not running in a pod.
Config InClusterConfig(const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

/// What a program should normally call: $KUBECONFIG (colon-separated, merged) if set, else
/// in-cluster if KUBERNETES_SERVICE_HOST is set, else ~/.kube/config.
Config LoadDefaultConfig();

}  // namespace poolguard::kube
