#include "app/options.h"

#include <functional>

#include "chaos/types.h"
#include "poolguard/common/logging.h"

namespace poolguard::controller {
namespace {

struct Flag {
  const char* name;
  const char* env;
  const char* help;
  bool boolean;
  std::function<std::string(Options&, const std::string&)> set;  // returns an error
};

std::string SetInt(int* out, const std::string& v, int min, int max) {
  try {
    size_t used = 0;
    const long n = std::stol(v, &used);
    if (used != v.size() || n < min || n > max) throw std::out_of_range("");
    *out = static_cast<int>(n);
    return "";
  } catch (...) {
    return "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  }
}

std::string SetBool(bool* out, const std::string& v) {
  if (v == "true" || v == "1" || v.empty()) {
    *out = true;
  } else if (v == "false" || v == "0") {
    *out = false;
  } else {
    return "expected true or false";
  }
  return "";
}

std::string SetAddress(std::string* out, const std::string& v) {
  if (v != "0" && !ParseBindAddress(v)) return "expected host:port, :port or 0 (off)";
  *out = v;
  return "";
}

const std::vector<Flag>& Flags() {
  static const std::vector<Flag> flags = {
      {"kubeconfig", "KUBECONFIG",
       "Path to a kubeconfig. Default: $KUBECONFIG, else the in-cluster service account, "
       "else ~/.kube/config.",
       false,
       [](Options& o, const std::string& v) {
         o.kubeconfig = v;
         return std::string();
       }},
      {"namespaces", "POOLGUARD_NAMESPACES",
       "Comma-separated namespaces to watch. Default: all namespaces.", false,
       [](Options& o, const std::string& v) {
         o.namespaces.clear();
         size_t start = 0;
         while (start <= v.size()) {
           const size_t comma = v.find(',', start);
           std::string ns = v.substr(start, comma == std::string::npos ? comma : comma - start);
           if (!ns.empty()) o.namespaces.push_back(ns);
           if (comma == std::string::npos) break;
           start = comma + 1;
         }
         return std::string();
       }},
      {"metrics-bind-address", "POOLGUARD_METRICS_BIND_ADDRESS",
       "Address of /metrics (Prometheus). \"0\" turns it off. Default :8080.", false,
       [](Options& o, const std::string& v) { return SetAddress(&o.metrics_bind_address, v); }},
      {"health-probe-bind-address", "POOLGUARD_HEALTH_PROBE_BIND_ADDRESS",
       "Address of /healthz and /readyz. \"0\" turns it off. Default :8081.", false,
       [](Options& o, const std::string& v) {
         return SetAddress(&o.health_probe_bind_address, v);
       }},
      {"cache-reads", "POOLGUARD_CACHE_READS",
       "Read Deployments, StatefulSets, Services and EndpointSlices of the served namespaces "
       "from informers (watches) instead of a GET or LIST each tick. Default true.",
       true, [](Options& o, const std::string& v) { return SetBool(&o.cache_reads, v); }},
      {"leader-elect", "POOLGUARD_LEADER_ELECT",
       "Elect a leader through a Lease; only the leader reconciles. Default false.", true,
       [](Options& o, const std::string& v) { return SetBool(&o.leader_elect, v); }},
      {"leader-election-namespace", "POOLGUARD_LEADER_ELECTION_NAMESPACE",
       "Namespace of the Lease. Default: the pod's namespace in-cluster, else \"default\".", false,
       [](Options& o, const std::string& v) {
         o.leader_election_namespace = v;
         return std::string();
       }},
      {"chaos-kill-switch-namespace", "POOLGUARD_CHAOS_KILL_SWITCH_NAMESPACE",
       "Namespace whose annotation poolguard.dev/chaos-kill-switch stops every experiment and "
       "refuses new ones while present. Default: the pod's namespace in-cluster, else "
       "\"default\".",
       false,
       [](Options& o, const std::string& v) {
         if (!v.empty() && v.size() > 63) return std::string("expected a namespace name");
         o.kill_switch_namespace = v;
         return std::string();
       }},
      {"leader-election-id", "POOLGUARD_LEADER_ELECTION_ID",
       "Name of the Lease. Default poolguard-controller.", false,
       [](Options& o, const std::string& v) {
         if (v.empty()) return std::string("must not be empty");
         o.leader_election_id = v;
         return std::string();
       }},
      {"log-level", "POOLGUARD_LOG_LEVEL",
       "trace, debug, info, warning, error or critical. Default info.", false,
       [](Options& o, const std::string& v) {
         if (!logging::ParseLevel(v)) {
           return std::string("expected trace, debug, info, warning, error or critical");
         }
         o.log_level = v;
         return std::string();
       }},
      {"log-format", "POOLGUARD_LOG_FORMAT", "text or json. Default text.", false,
       [](Options& o, const std::string& v) {
         if (!logging::ParseFormat(v)) return std::string("expected text or json");
         o.log_format = v;
         return std::string();
       }},
      {"max-connections-per-experiment", "POOLGUARD_MAX_CONNECTIONS_PER_EXPERIMENT",
       "Experiments asking for more leak connections are Rejected. Default 200.", false,
       [](Options& o, const std::string& v) {
         return SetInt(&o.max_connections_per_experiment, v, 1, 10000);
       }},
      {"max-surge-clients", "POOLGUARD_MAX_SURGE_CLIENTS",
       "TrafficSurge clients this controller runs at most, over every experiment; one that "
       "would exceed it is Rejected. Default 2000.",
       false,
       [](Options& o, const std::string& v) { return SetInt(&o.max_surge_clients, v, 1, 100000); }},
      {"db-capacity-margin", "POOLGUARD_DB_CAPACITY_MARGIN",
       "Connection slots always left free for others when sizing a leak. Default 5.", false,
       [](Options& o, const std::string& v) { return SetInt(&o.db_capacity_margin, v, 0, 10000); }},
      {"session-grace", "POOLGUARD_SESSION_GRACE",
       "Added to the remaining duration for the server-side idle timeouts of leak sessions. "
       "Default 30s.",
       false,
       [](Options& o, const std::string& v) {
         auto d = ParseDuration(v);
         if (!d || *d < std::chrono::seconds(1)) return std::string("expected a duration >= 1s");
         o.session_grace = *d;
         return std::string();
       }},
      {"notify-webhook-url", "POOLGUARD_NOTIFY_WEBHOOK_URL",
       "A webhook told of every AwaitingApproval, NeedsHuman, Resolved and experiment "
       "Rejected/Failed (besides a Remediation's own spec.notifications.webhook). Default none.",
       false,
       [](Options& o, const std::string& v) {
         if (v.empty()) {
           o.notify_webhook_url.clear();
           return std::string();
         }
         const std::string why = CheckWebhookUrl(v);
         if (!why.empty()) return why;
         o.notify_webhook_url = v;
         return std::string();
       }},
      {"notify-webhook-format", "POOLGUARD_NOTIFY_WEBHOOK_FORMAT",
       "The payload of --notify-webhook-url: slack or alertmanager. Default slack.", false,
       [](Options& o, const std::string& v) {
         const auto f = ParseWebhookFormat(v);
         if (!f) return std::string("expected slack or alertmanager");
         o.notify_webhook_format = *f;
         return std::string();
       }},
      {"console-url", "POOLGUARD_CONSOLE_URL",
       "The console's address as people reach it, for the links in notifications. Default "
       "none.",
       false,
       [](Options& o, const std::string& v) {
         if (!v.empty() && !CheckWebhookUrl(v).empty()) {
           return std::string("expected an http:// or https:// URL");
         }
         o.console_url = v;
         return std::string();
       }},
      {"workers", "POOLGUARD_WORKERS",
       "Concurrent reconciles of each kind (ChaosExperiment, Remediation). Default 16.", false,
       [](Options& o, const std::string& v) { return SetInt(&o.workers, v, 1, 64); }},
  };
  return flags;
}

}  // namespace

std::optional<std::pair<std::string, int>> ParseBindAddress(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = text.substr(0, colon);
  if (host.empty()) host = "0.0.0.0";
  int port = 0;
  if (!SetInt(&port, text.substr(colon + 1), 0, 65535).empty()) return std::nullopt;
  return std::make_pair(host, port);
}

std::string Usage() {
  std::string out =
      "Usage: poolguard-controller [flags]\n\n"
      "Reconciles poolguard.dev ChaosExperiments (injects connection-pool faults into a\n"
      "target and always rolls them back) and Remediations (detects, diagnoses and heals a\n"
      "target's outage). Each flag can also be set through the environment variable shown\n"
      "(the flag wins; an empty variable counts as unset).\n\nFlags:\n";
  for (const auto& f : Flags()) {
    out += "  --" + std::string(f.name) + (f.boolean ? "[=true|false]" : "=VALUE") + "  (" + f.env +
           ")\n      " + f.help + "\n";
  }
  out += "  --help\n      Print this help and exit.\n";
  return out;
}

OptionsParse ParseOptions(const std::vector<std::string>& args,
                          const std::map<std::string, std::string>& env) {
  OptionsParse result;
  for (const auto& f : Flags()) {
    if (std::string(f.env) == "KUBECONFIG") continue;  // LoadDefaultConfig reads it
    auto it = env.find(f.env);
    // Empty is unset, as for a manifest's `value: ""`: POOLGUARD_LEADER_ELECT= must not
    // turn leader election on the way a bare --leader-elect does.
    if (it == env.end() || it->second.empty()) continue;
    const std::string error = f.set(result.options, it->second);
    if (!error.empty()) {
      result.error = "invalid " + std::string(f.env) + "=\"" + it->second + "\": " + error;
      return result;
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      result.options.help = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      result.error = "unexpected argument \"" + arg + "\" (see --help)";
      return result;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const Flag* flag = nullptr;
    for (const auto& f : Flags()) {
      if (name == f.name) flag = &f;
    }
    if (flag == nullptr) {
      result.error = "unknown flag --" + name + " (see --help)";
      return result;
    }
    if (!value) {
      if (flag->boolean) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        result.error = "flag --" + name + " needs a value";
        return result;
      }
    }
    const std::string error = flag->set(result.options, *value);
    if (!error.empty()) {
      result.error = "invalid --" + name + "=\"" + *value + "\": " + error;
      return result;
    }
  }
  return result;
}

}  // namespace poolguard::controller
