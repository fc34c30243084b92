#include "core/io/cluster_reader.h"

#include "chaos/types.h"  // the opt-in label
#include "core/json.h"
#include "poolguard/kube/errors.h"

namespace poolguard::controller {
namespace {

class KubeClusterReader final : public ClusterReader {
 public:
  KubeClusterReader(std::shared_ptr<kube::Client> client, ReadCaches caches)
      : client_(std::move(client)), caches_(caches) {}

  bool NamespaceOptedIn(const std::string& ns) override {
    const kube::Json obj = client_->Resource({"", "v1", "namespaces", false}).Get(ns);
    const auto& meta = obj.at("metadata");
    if (!meta.has_field("labels")) return false;
    return StringField(meta.at("labels"), kChaosOptInLabel) == kChaosOptInValue;
  }

  bool DeploymentExists(const std::string& ns, const std::string& name) override {
    try {
      client_->Resource({"apps", "v1", "deployments"}, ns).Get(name);
      return true;
    } catch (const kube::ApiError& e) {
      if (kube::IsNotFound(e)) return false;
      throw;
    }
  }

  std::vector<Endpoint> ResolveService(const std::string& ns, const std::string& service,
                                       int port) override {
    std::vector<Endpoint> out;
    for (const auto& ep : ServiceEndpoints(*client_, ns, service, port, caches_)) {
      if (ep.ready) out.push_back({ep.ip, ep.port});
    }
    if (out.empty()) {
      throw ResolveError("Service " + ns + "/" + service + " port " + std::to_string(port) +
                         " has no ready endpoints in its EndpointSlices");
    }
    return out;
  }

  DbTarget ReadCredentials(const std::string& ns, const std::string& secret) override {
    kube::Json obj;
    try {
      obj = client_->Resource({"", "v1", "secrets"}, ns).Get(secret);
    } catch (const kube::ApiError& e) {
      if (kube::IsNotFound(e)) throw ResolveError("Secret " + ns + "/" + secret + " not found");
      throw;
    }
    auto key = [&](const std::string& k, bool required) -> std::string {
      if (obj.has_field("data") && obj.at("data").has_field(k)) {
        return DecodeBase64(obj.at("data").at(k).as_string());
      }
      if (required) {
        throw ResolveError("Secret " + ns + "/" + secret + " has no key \"" + k +
                           "\" (expected username, password, optional database)");
      }
      return "";
    };
    DbTarget t;
    t.user = key("username", true);
    t.password = key("password", true);
    t.database = key("database", false);
    if (t.database.empty()) t.database = "postgres";
    return t;
  }

  std::optional<int> StatefulSetReplicas(const std::string& ns, const std::string& name) override {
    try {
      const kube::Json sts = client_->Resource({"apps", "v1", "statefulsets"}, ns).Get(name);
      const kube::Json* spec = Field(sts, "spec");
      // As the API server defaults it: no replicas means 1.
      return static_cast<int>(spec != nullptr ? IntField(*spec, "replicas").value_or(1) : 1);
    } catch (const kube::ApiError& e) {
      if (kube::IsNotFound(e)) return std::nullopt;
      throw;
    }
  }

  void ScaleStatefulSet(const std::string& ns, const std::string& name, int replicas) override {
    kube::Json patch = kube::Json::object();
    patch["spec"] = kube::Json::object();
    patch["spec"]["replicas"] = kube::Json::number(replicas);
    client_->Resource({"apps", "v1", "statefulsets"}, ns)
        .Patch(name, kube::PatchType::kMerge, patch);
  }

  std::optional<std::map<std::string, std::string>> ServiceSelector(
      const std::string& ns, const std::string& name) override {
    kube::Json svc;
    try {
      svc = client_->Resource({"", "v1", "services"}, ns).Get(name);
    } catch (const kube::ApiError& e) {
      if (kube::IsNotFound(e)) return std::nullopt;
      throw;
    }
    std::map<std::string, std::string> selector;
    const kube::Json* spec = Field(svc, "spec");
    const kube::Json* sel = spec != nullptr ? Field(*spec, "selector") : nullptr;
    if (sel != nullptr && sel->is_object()) {
      for (const auto& [k, v] : sel->as_object()) {
        if (v.is_string()) selector[k] = v.as_string();
      }
    }
    return selector;
  }

  void SetServiceSelectorKey(const std::string& ns, const std::string& name, const std::string& key,
                             const std::optional<std::string>& value) override {
    kube::Json patch = kube::Json::object();
    patch["spec"] = kube::Json::object();
    patch["spec"]["selector"] = kube::Json::object();
    patch["spec"]["selector"][key] = value ? kube::Json::string(*value) : kube::Json::null();
    client_->Resource({"", "v1", "services"}, ns).Patch(name, kube::PatchType::kMerge, patch);
  }

 private:
  std::shared_ptr<kube::Client> client_;
  ReadCaches caches_;
};

}  // namespace

std::optional<kube::Json> GetObject(kube::Client& client, ObjectCache* cache,
                                    const kube::GroupVersionResource& gvr, const std::string& ns,
                                    const std::string& name) {
  if (cache != nullptr && cache->Synced()) return cache->Get(ns + "/" + name);
  try {
    return client.Resource(gvr, ns).Get(name);
  } catch (const kube::ApiError& e) {
    if (kube::IsNotFound(e)) return std::nullopt;
    throw;
  }
}

std::vector<std::string> ServiceIndexOf(const kube::Json& slice) {
  const kube::Json* md = Field(slice, "metadata");
  const kube::Json* labels = md != nullptr ? Field(*md, "labels") : nullptr;
  if (labels == nullptr) return {};
  const std::string service = StringField(*labels, "kubernetes.io/service-name");
  if (service.empty()) return {};
  return {StringField(*md, "namespace") + "/" + service};
}

std::vector<PodEndpoint> ServiceEndpoints(kube::Client& client, const std::string& ns,
                                          const std::string& service, int port,
                                          const ReadCaches& caches) {
  const auto found_svc = GetObject(client, caches.services, {"", "v1", "services"}, ns, service);
  if (!found_svc) throw ResolveError("Service " + ns + "/" + service + " not found");
  const kube::Json& svc = *found_svc;
  std::string port_name;
  bool found = false;
  const kube::Json* spec = Field(svc, "spec");
  if (const kube::Json* ports = spec ? Field(*spec, "ports") : nullptr;
      ports && ports->is_array()) {
    for (const auto& p : ports->as_array()) {
      if (IntField(p, "port") == port) {
        port_name = StringField(p, "name");
        found = true;
        break;
      }
    }
  }
  if (!found) {
    throw ResolveError("Service " + ns + "/" + service + " has no port " + std::to_string(port));
  }
  std::vector<kube::Json> slices;
  if (caches.endpoint_slices != nullptr && caches.endpoint_slices->Synced()) {
    slices = caches.endpoint_slices->ByIndex(kServiceIndex, ns + "/" + service);
  } else {
    kube::ListOptions opts;
    opts.label_selector = "kubernetes.io/service-name=" + service;
    slices = client.Resource({"discovery.k8s.io", "v1", "endpointslices"}, ns).List(opts).items;
  }
  std::vector<PodEndpoint> out;
  for (const auto& slice : slices) {
    const kube::Json* ports = Field(slice, "ports");
    const kube::Json* endpoints = Field(slice, "endpoints");
    if (ports == nullptr || endpoints == nullptr || !ports->is_array() || !endpoints->is_array()) {
      continue;
    }
    int target_port = 0;
    for (const auto& p : ports->as_array()) {
      if (StringField(p, "name") == port_name) target_port = IntField(p, "port").value_or(0);
    }
    if (target_port == 0) continue;
    for (const auto& ep : endpoints->as_array()) {
      const kube::Json* conds = Field(ep, "conditions");
      if (conds != nullptr && BoolField(*conds, "terminating")) continue;
      // As kube-proxy reads it: a missing `ready` means ready.
      const bool ready =
          conds == nullptr || Field(*conds, "ready") == nullptr || BoolField(*conds, "ready");
      const kube::Json* ref = Field(ep, "targetRef");
      const std::string pod = ref != nullptr ? StringField(*ref, "name") : "";
      const kube::Json* addrs = Field(ep, "addresses");
      if (addrs == nullptr || !addrs->is_array()) continue;
      for (const auto& a : addrs->as_array()) {
        if (a.is_string()) {
          out.push_back({pod.empty() ? a.as_string() : pod, a.as_string(), target_port, ready});
        }
      }
    }
  }
  return out;
}

std::string DecodeBase64(const std::string& text) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int bits = 0;
  unsigned value = 0;
  for (char ch : text) {
    if (ch == '=' || ch == '\n' || ch == '\r') continue;
    const auto pos = kAlphabet.find(ch);
    if (pos == std::string::npos) throw ResolveError("Secret value is not valid base64");
    value = (value << 6) | static_cast<unsigned>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((value >> bits) & 0xff));
    }
  }
  return out;
}

std::unique_ptr<ClusterReader> NewClusterReader(std::shared_ptr<kube::Client> client,
                                                ReadCaches caches) {
  return std::make_unique<KubeClusterReader>(std::move(client), caches);
}

}  // namespace poolguard::controller
