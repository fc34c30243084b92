#include "env.h"

#include <cpprest/asyncrt_utils.h>

#include <map>
#include <regex>

#include "poolguard/common/json_util.h"

namespace poolguard::localnode {

void EnvList::Set(const std::string& name, const std::string& value) {
  for (auto& [k, v] : items_) {
    if (k == name) {
      v = value;
      return;
    }
  }
  items_.emplace_back(name, value);
}

std::optional<std::string> EnvList::Get(const std::string& name) const {
  for (const auto& [k, v] : items_) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::vector<std::string> EnvList::ToStrings() const {
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& [k, v] : items_) out.push_back(k + "=" + v);
  return out;
}

std::string ExpandVars(
    const std::string& input,
    const std::function<std::optional<std::string>(const std::string&)>& lookup) {
  std::string out;
  size_t i = 0;
  while (i < input.size()) {
    char c = input[i];
    if (c != '$' || i + 1 >= input.size()) {
      out += c;
      ++i;
      continue;
    }
    char next = input[i + 1];
    if (next == '$') {  // escaped
      out += '$';
      i += 2;
      continue;
    }
    if (next == '(') {
      size_t close = input.find(')', i + 2);
      if (close == std::string::npos) {  // unterminated: literal
        out += input.substr(i);
        break;
      }
      std::string name = input.substr(i + 2, close - i - 2);
      auto value = lookup(name);
      if (value) {
        out += *value;
      } else {
        out += input.substr(i, close - i + 1);
      }
      i = close + 1;
      continue;
    }
    out += c;
    ++i;
  }
  return out;
}

std::vector<std::string> StringArray(const Json& value) {
  std::vector<std::string> out;
  if (!value.is_array()) return out;
  for (const auto& v : value.as_array()) {
    if (v.is_string()) out.push_back(v.as_string());
  }
  return out;
}

namespace {

// C_IDENTIFIER-ish check the kubelet applies to envFrom keys.
bool ValidEnvName(const std::string& name) {
  static const std::regex re("^[-._a-zA-Z][-._a-zA-Z0-9]*$");
  return std::regex_match(name, re);
}

std::string MapValue(const Json& map_json, const std::string& key) {
  return json::StringField(map_json, key);
}

}  // namespace

std::string PodField(const Json& pod, const std::string& field_path, const std::string& pod_ip,
                     const std::string& host_ip) {
  const Json& meta = json::At(pod, "metadata");
  const Json& spec = json::At(pod, "spec");
  if (field_path == "metadata.name") return json::StringField(meta, "name");
  if (field_path == "metadata.namespace") return json::StringField(meta, "namespace");
  if (field_path == "metadata.uid") return json::StringField(meta, "uid");
  if (field_path == "spec.nodeName") return json::StringField(spec, "nodeName");
  if (field_path == "spec.serviceAccountName") return json::StringField(spec, "serviceAccountName");
  if (field_path == "status.podIP" || field_path == "status.podIPs") return pod_ip;
  if (field_path == "status.hostIP" || field_path == "status.hostIPs") return host_ip;
  static const std::regex keyed(R"(^metadata\.(labels|annotations)\['([^']*)'\]$)");
  std::smatch m;
  if (std::regex_match(field_path, m, keyed)) {
    return MapValue(json::At(meta, m[1].str()), m[2].str());
  }
  throw ContainerConfigError("unsupported fieldRef fieldPath " + field_path);
}

EnvList BuildEnv(const Json& pod, const Json& container, const std::string& pod_ip,
                 const std::string& host_ip, const EnvList& base, const EnvSources& sources) {
  std::string ns = json::StringField(json::At(pod, "metadata"), "namespace");
  EnvList env = base;

  auto load = [&](bool secret, const std::string& name,
                  bool optional) -> std::optional<std::map<std::string, std::string>> {
    auto data = secret ? sources.secret(ns, name) : sources.config_map(ns, name);
    if (!data && !optional) {
      throw ContainerConfigError(std::string(secret ? "secret" : "configmap") + " \"" + name +
                                 "\" not found");
    }
    return data;
  };

  const Json& env_from = json::At(container, "envFrom");
  if (env_from.is_array()) {
    for (const auto& src : env_from.as_array()) {
      std::string prefix = json::StringField(src, "prefix");
      bool secret = src.has_field("secretRef");
      const Json& ref = secret ? src.at("secretRef") : json::At(src, "configMapRef");
      if (!ref.is_object()) continue;
      auto data = load(secret, json::StringField(ref, "name"), json::BoolField(ref, "optional"));
      if (!data) continue;
      for (const auto& [k, v] : *data) {
        if (ValidEnvName(prefix + k)) env.Set(prefix + k, v);
      }
    }
  }

  const Json& env_json = json::At(container, "env");
  if (env_json.is_array()) {
    for (const auto& e : env_json.as_array()) {
      std::string name = json::StringField(e, "name");
      if (name.empty()) continue;
      if (e.has_field("valueFrom")) {
        const Json& vf = e.at("valueFrom");
        if (vf.has_field("fieldRef")) {
          env.Set(name, PodField(pod, json::StringField(vf.at("fieldRef"), "fieldPath"), pod_ip,
                                 host_ip));
        } else if (vf.has_field("configMapKeyRef") || vf.has_field("secretKeyRef")) {
          bool secret = vf.has_field("secretKeyRef");
          const Json& ref = secret ? vf.at("secretKeyRef") : vf.at("configMapKeyRef");
          std::string obj = json::StringField(ref, "name"), key = json::StringField(ref, "key");
          bool optional = json::BoolField(ref, "optional");
          auto data = load(secret, obj, optional);
          if (!data) continue;
          auto it = data->find(key);
          if (it == data->end()) {
            if (optional) continue;
            throw ContainerConfigError("couldn't find key " + key + " in " +
                                       (secret ? "Secret " : "ConfigMap ") + ns + "/" + obj);
          }
          env.Set(name, it->second);
        } else if (vf.has_field("resourceFieldRef")) {
          env.Set(name, "0");  // no resource accounting on localnode
        }
      } else {
        auto lookup = [&env](const std::string& n) { return env.Get(n); };
        env.Set(name, ExpandVars(json::StringField(e, "value"), lookup));
      }
    }
  }
  return env;
}

std::vector<std::string> ExpandAll(const std::vector<std::string>& in, const EnvList& env) {
  std::vector<std::string> out;
  auto lookup = [&env](const std::string& n) { return env.Get(n); };
  for (const auto& s : in) out.push_back(ExpandVars(s, lookup));
  return out;
}

}  // namespace poolguard::localnode
