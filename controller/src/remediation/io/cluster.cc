#include "remediation/io/cluster.h"

#include <charconv>

#include "chaos/types.h"
#include "core/io/cluster_reader.h"
#include "core/text.h"
#include "poolguard/kube/errors.h"
#include "remediation/workload.h"

namespace poolguard::controller {
namespace {

const kube::GroupVersionResource kDeployments{"apps", "v1", "deployments"};
const kube::GroupVersionResource kStatefulSets{"apps", "v1", "statefulsets"};
const kube::GroupVersionResource kPods{"", "v1", "pods"};
const kube::GroupVersionResource kChaos{"poolguard.dev", "v1alpha1", "chaosexperiments"};

bool PodReady(const Json& pod, std::string* reason) {
  const Json* conds = json::Find(pod, {"status", "conditions"});
  bool ready = false;
  if (conds != nullptr && conds->is_array()) {
    for (const auto& c : conds->as_array()) {
      if (StringField(c, "type") == "Ready") ready = StringField(c, "status") == "True";
    }
  }
  if (!ready) {
    *reason = json::StringAt(pod, {"status", "phase"});
    const Json* cs = json::Find(pod, {"status", "containerStatuses"});
    if (cs != nullptr && cs->is_array()) {
      for (const auto& c : cs->as_array()) {
        const std::string waiting = json::StringAt(c, {"state", "waiting", "reason"});
        if (!waiting.empty()) *reason = waiting;
      }
    }
    if (json::Find(pod, {"metadata", "deletionTimestamp"}) != nullptr) *reason = "Terminating";
  }
  return ready;
}

// The selector's matchLabels as a label selector string.
std::string Selector(const Json& workload) {
  const Json* labels = json::Find(workload, {"spec", "selector", "matchLabels"});
  std::string out;
  if (labels == nullptr || !labels->is_object()) return out;
  for (const auto& [k, v] : labels->as_object()) {
    if (!v.is_string()) continue;
    if (!out.empty()) out += ",";
    out += k + "=" + v.as_string();
  }
  return out;
}

class KubeRemediationCluster final : public RemediationCluster {
 public:
  KubeRemediationCluster(std::shared_ptr<kube::Client> client, ObjectStore* experiments,
                         ReadCaches caches)
      : client_(std::move(client)), experiments_(experiments), caches_(caches) {}

  std::vector<PodEndpoint> TargetEndpoints(const std::string& ns, const std::string& service,
                                           int port) override {
    return ServiceEndpoints(*client_, ns, service, port, caches_);
  }

  std::optional<DeploymentView> Deployment(const std::string& ns, const std::string& name,
                                           const std::string& container,
                                           const std::string& env) override {
    // From the cache: a copy older than a patch of ours shows the patch's key missing
    // (RolloutProgress: not applied yet), never a rollout done too early.
    auto obj = GetObject(*client_, caches_.deployments, kDeployments, ns, name);
    if (!obj) return std::nullopt;
    DeploymentView v;
    v.rollout = ReadRollout(*obj);
    v.replicas = v.rollout.replicas;
    v.pool_size = ReadEnvInt(*obj, container, env);
    return v;
  }

  std::optional<RolloutObservation> StatefulSet(const std::string& ns,
                                                const std::string& name) override {
    auto obj = GetObject(*client_, caches_.statefulsets, kStatefulSets, ns, name);
    if (!obj) return std::nullopt;
    return ReadRollout(*obj);
  }

  std::vector<PodState> StatefulSetPods(const std::string& ns, const std::string& name) override {
    auto obj = GetObject(*client_, caches_.statefulsets, kStatefulSets, ns, name);
    if (!obj) return {};
    kube::ListOptions opts;
    opts.label_selector = Selector(*obj);
    if (opts.label_selector.empty()) return {};
    std::vector<PodState> out;
    for (const auto& pod : client_->Resource(kPods, ns).List(opts).items) {
      PodState s;
      s.name = kube::NameOf(pod);
      s.ready = PodReady(pod, &s.reason);
      out.push_back(std::move(s));
    }
    return out;
  }

  std::string PodLogs(const std::string& ns, const std::string& pod, int since_seconds) override {
    const auto r = client_->Raw("GET", client_->Resource(kPods, ns).Path(ns, pod, "log"),
                                {{"sinceSeconds", std::to_string(since_seconds)},
                                 {"limitBytes", std::to_string(kMaxLogBytes)},
                                 {"timestamps", "true"}});
    if (r.status / 100 != 2) {
      throw std::runtime_error("logs of pod " + ns + "/" + pod + ": HTTP " +
                               std::to_string(r.status) + " " + r.body.substr(0, 200));
    }
    return r.body;
  }

  std::optional<ChaosLink> ActiveChaos(const std::string& ns,
                                       const std::string& deployment) override {
    // From the experiments' cache when there is one (the controller's: no request per
    // tick, and only this target's, by its index), else one LIST of the namespace.
    std::vector<Json> items;
    if (experiments_ != nullptr) {
      items = experiments_->ByIndex(kTargetIndex, ns + "/" + deployment);
    } else {
      try {
        items = client_->Resource(kChaos, ns).List().items;
      } catch (const kube::ApiError& e) {
        if (kube::IsNotFound(e)) return std::nullopt;  // CRD not installed
        throw;
      }
    }
    std::optional<ChaosLink> best;
    for (const auto& o : items) {
      if (kube::NamespaceOf(o) != ns) continue;
      if (json::StringAt(o, {"spec", "target", "deployment"}) != deployment) continue;
      const ChaosStatus st = ParseChaosStatus(o);
      if (st.phase != Phase::kActive && st.phase != Phase::kInjecting) continue;
      ChaosLink link{kube::KeyOf(o), st.started_at, ""};
      if (const Json* a = json::Field(o.at("metadata"), "annotations"); a != nullptr)
        link.report = Truncated(StringField(*a, kChaosReportAnnotation), kMaxReportLength);
      if (!best || (link.started_at && (!best->started_at || *link.started_at > *best->started_at)))
        best = link;
    }
    return best;
  }

  void Restart(const std::string& ns, const std::string& kind, const std::string& name,
               const std::string& key) override {
    const auto& gvr = kind == "StatefulSet" ? kStatefulSets : kDeployments;
    Json patch = Json::parse(R"({"spec":{"template":{"metadata":{"annotations":{}}}}})");
    patch["spec"]["template"]["metadata"]["annotations"][kRestartedAtAnnotation] =
        Json::string(key);
    client_->Resource(gvr, ns).Patch(name, kube::PatchType::kMerge, patch,
                                     {.field_manager = "poolguard-controller"});
  }

  void SetEnv(const std::string& ns, const std::string& deployment, const std::string& container,
              const std::string& env, int value) override {
    std::string name = container;
    if (name.empty()) {
      auto obj = GetOrNull(kDeployments, ns, deployment);
      if (!obj) throw ResolveError("Deployment " + ns + "/" + deployment + " not found");
      const Json* cs = json::Find(*obj, {"spec", "template", "spec", "containers"});
      if (cs == nullptr || !cs->is_array() || cs->as_array().size() == 0) {
        throw ResolveError("Deployment " + ns + "/" + deployment + " has no containers");
      }
      name = StringField(cs->as_array().at(0), "name");
    }
    // Strategic merge: containers merge by name and env entries by name, so this adds or
    // replaces one variable and leaves the rest of the template alone. An explicit env
    // entry wins over the same key from envFrom (the demo's ConfigMap).
    Json var = Json::object();
    var["name"] = Json::string(env);
    var["value"] = Json::string(std::to_string(value));
    Json c = Json::object();
    c["name"] = Json::string(name);
    c["env"] = Json::array({var});
    Json patch = Json::parse(R"({"spec":{"template":{"spec":{}}}})");
    patch["spec"]["template"]["spec"]["containers"] = Json::array({c});
    client_->Resource(kDeployments, ns)
        .Patch(deployment, kube::PatchType::kStrategicMerge, patch,
               {.field_manager = "poolguard-controller"});
  }

 private:
  std::optional<Json> GetOrNull(const kube::GroupVersionResource& gvr, const std::string& ns,
                                const std::string& name) {
    try {
      return client_->Resource(gvr, ns).Get(name);
    } catch (const kube::ApiError& e) {
      if (kube::IsNotFound(e)) return std::nullopt;
      throw;
    }
  }

  std::shared_ptr<kube::Client> client_;
  ObjectStore* experiments_;
  ReadCaches caches_;
};

}  // namespace

std::unique_ptr<RemediationCluster> NewRemediationCluster(std::shared_ptr<kube::Client> client,
                                                          ObjectStore* experiments,
                                                          ReadCaches caches) {
  return std::make_unique<KubeRemediationCluster>(std::move(client), experiments, caches);
}

}  // namespace poolguard::controller
