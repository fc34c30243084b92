#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/notification.h"

namespace poolguard::controller {

/// Command-line flags of poolguard-controller; each has an environment variable
/// (POOLGUARD_<FLAG_IN_CAPS>) that the flag overrides.
struct Options {
  std::string kubeconfig;                      // "" = $KUBECONFIG, in-cluster, ~/.kube/config
  std::vector<std::string> namespaces;         // empty = all
  std::string metrics_bind_address = ":8080";  // "0" = off
  std::string health_probe_bind_address = ":8081";
  bool leader_elect = false;
  bool cache_reads = true;  // Deployments, StatefulSets, Services, EndpointSlices from informers
  std::string leader_election_namespace;  // "" = in-cluster namespace, else "default"
  std::string kill_switch_namespace;      // "" = in-cluster namespace, else "default"
  std::string leader_election_id = "poolguard-controller";
  std::string log_level = "info";
  std::string log_format = "text";
  int max_connections_per_experiment = 200;
  int max_surge_clients = 2000;
  int db_capacity_margin = 5;
  std::chrono::milliseconds session_grace{30000};
  int workers = 16;                // ticks wait on targets (probe deadlines ~1 s): I/O, not CPU
  std::string notify_webhook_url;  // "" = none
  WebhookFormat notify_webhook_format = WebhookFormat::kSlack;
  std::string console_url;  // for links in notifications
  bool help = false;
};

/// The --help text.
std::string Usage();

struct OptionsParse {
  Options options;
  std::string error;  // non-empty: print it and exit 2
};

/// Parses argv (without argv[0]) over defaults taken from `env`.
OptionsParse ParseOptions(const std::vector<std::string>& args,
                          const std::map<std::string, std::string>& env);

/// "host:port" or ":port" → (host, port); host defaults to 0.0.0.0. nullopt if invalid.
std::optional<std::pair<std::string, int>> ParseBindAddress(const std::string& text);

}  // namespace poolguard::controller
