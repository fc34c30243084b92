#include "poolguard/kube/config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "file_util.h"

namespace poolguard::kube {
namespace {

namespace fs = std::filesystem;

// One named entry (cluster, user or context) and where it was defined, for messages and
// for resolving relative paths.
struct Entry {
  YAML::Node body;       // the "cluster:"/"user:"/"context:" map
  std::string file;      // source name
  std::string base_dir;  // directory relative paths are resolved against
  std::string where;     // "users[2].user"
};

struct Merged {
  std::map<std::string, Entry> clusters, users, contexts;
  std::string current_context;
  std::string current_context_file;
  std::vector<std::string> sources;
};

[[noreturn]] void Fail(const std::string& file, const std::string& field, const std::string& what) {
  throw ConfigError(file + ": " + field + ": " + what);
}

std::string ScalarOr(const YAML::Node& node, const char* key, const Entry& e,
                     const std::string& fallback = "") {
  YAML::Node v = node[key];
  if (!v) return fallback;
  if (v.IsNull()) return fallback;
  if (!v.IsScalar()) Fail(e.file, e.where + "." + key, "must be a string");
  return v.Scalar();
}

bool BoolOr(const YAML::Node& node, const char* key, const Entry& e) {
  YAML::Node v = node[key];
  if (!v || v.IsNull()) return false;
  try {
    return v.as<bool>();
  } catch (const YAML::Exception&) {
    Fail(e.file, e.where + "." + key,
         "must be true or false, not '" + (v.IsScalar() ? v.Scalar() : std::string("a map")) + "'");
  }
}

std::string Resolve(const std::string& path, const std::string& base_dir) {
  if (path.empty() || fs::path(path).is_absolute() || base_dir.empty()) return path;
  return (fs::path(base_dir) / path).lexically_normal().string();
}

// "<key>-data" (base64) or "<key>" (a file path), whichever is set; "" if neither.
std::string DataOrFile(const YAML::Node& node, const std::string& key, const Entry& e) {
  std::string data = ScalarOr(node, (key + "-data").c_str(), e);
  if (!data.empty()) {
    std::string decoded;
    if (!file_util::Base64Decode(data, &decoded)) {
      Fail(e.file, e.where + "." + key + "-data", "is not valid base64");
    }
    return decoded;
  }
  std::string path = ScalarOr(node, key.c_str(), e);
  if (path.empty()) return "";
  std::string resolved = Resolve(path, e.base_dir);
  std::string contents;
  std::string err;
  if (!file_util::ReadFile(resolved, &contents, &err)) {
    Fail(e.file, e.where + "." + key, "cannot read '" + resolved + "': " + err);
  }
  return contents;
}

void CollectList(const YAML::Node& root, const char* list_key, const char* body_key,
                 const std::string& file, const std::string& base_dir,
                 std::map<std::string, Entry>* out) {
  YAML::Node list = root[list_key];
  if (!list || list.IsNull()) return;
  if (!list.IsSequence()) Fail(file, list_key, "must be a list");
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node item = list[i];
    std::string where = std::string(list_key) + "[" + std::to_string(i) + "]";
    if (!item.IsMap()) Fail(file, where, "must be a map with name and " + std::string(body_key));
    YAML::Node name = item["name"];
    if (!name || !name.IsScalar() || name.Scalar().empty()) {
      Fail(file, where + ".name", "is missing");
    }
    YAML::Node body = item[body_key];
    if (body && !body.IsNull() && !body.IsMap()) {
      Fail(file, where + "." + body_key, "must be a map");
    }
    // kubectl's merge: the first file to define a name wins.
    out->emplace(name.Scalar(), Entry{body ? body : YAML::Node(YAML::NodeType::Map), file, base_dir,
                                      where + "." + body_key});
  }
}

void MergeText(const std::string& text, const std::string& file, const std::string& base_dir,
               Merged* m) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(file + ": not valid YAML (line " + std::to_string(e.mark.line + 1) +
                      ", column " + std::to_string(e.mark.column + 1) + "): " + e.msg);
  }
  m->sources.push_back(file);
  if (!root || root.IsNull()) return;  // an empty file contributes nothing, like kubectl
  if (!root.IsMap()) Fail(file, "(top level)", "must be a map (apiVersion, kind, clusters, ...)");
  YAML::Node kind = root["kind"];
  if (kind && kind.IsScalar() && !kind.Scalar().empty() && kind.Scalar() != "Config") {
    Fail(file, "kind", "is '" + kind.Scalar() + "', expected 'Config'");
  }
  CollectList(root, "clusters", "cluster", file, base_dir, &m->clusters);
  CollectList(root, "users", "user", file, base_dir, &m->users);
  CollectList(root, "contexts", "context", file, base_dir, &m->contexts);
  YAML::Node cc = root["current-context"];
  if (cc && cc.IsScalar() && !cc.Scalar().empty() && m->current_context.empty()) {
    m->current_context = cc.Scalar();
    m->current_context_file = file;
  }
}

Config Build(const Merged& m, const std::string& wanted_context) {
  std::string all_sources;
  for (const auto& s : m.sources) all_sources += (all_sources.empty() ? "" : ", ") + s;
  std::string ctx_name = wanted_context.empty() ? m.current_context : wanted_context;
  if (ctx_name.empty()) {
    Fail(all_sources, "current-context", "is not set and no context was requested");
  }
  auto cit = m.contexts.find(ctx_name);
  if (cit == m.contexts.end()) {
    Fail(wanted_context.empty() ? m.current_context_file : all_sources, "current-context",
         "names context '" + ctx_name + "', which is not in contexts");
  }
  const Entry& ctx = cit->second;
  std::string cluster_name = ScalarOr(ctx.body, "cluster", ctx);
  std::string user_name = ScalarOr(ctx.body, "user", ctx);
  if (cluster_name.empty()) Fail(ctx.file, ctx.where + ".cluster", "is missing");

  Config c;
  c.context_name = ctx_name;
  c.source = all_sources;
  std::string ns = ScalarOr(ctx.body, "namespace", ctx);
  if (!ns.empty()) c.default_namespace = ns;

  auto clit = m.clusters.find(cluster_name);
  if (clit == m.clusters.end()) {
    Fail(ctx.file, ctx.where + ".cluster",
         "names cluster '" + cluster_name + "', which is not in clusters");
  }
  const Entry& cl = clit->second;
  c.server = ScalarOr(cl.body, "server", cl);
  if (c.server.empty()) Fail(cl.file, cl.where + ".server", "is missing");
  if (c.server.rfind("https://", 0) != 0 && c.server.rfind("http://", 0) != 0) {
    Fail(cl.file, cl.where + ".server", "'" + c.server + "' is not an http(s) URL");
  }
  while (c.server.size() > 8 && c.server.back() == '/') c.server.pop_back();
  c.insecure_skip_tls_verify = BoolOr(cl.body, "insecure-skip-tls-verify", cl);
  c.ca_pem = DataOrFile(cl.body, "certificate-authority", cl);
  c.tls_server_name = ScalarOr(cl.body, "tls-server-name", cl);
  if (!ScalarOr(cl.body, "proxy-url", cl).empty()) {
    Fail(cl.file, cl.where + ".proxy-url", "proxies are not supported by poolguard's client");
  }

  if (!user_name.empty()) {
    auto uit = m.users.find(user_name);
    if (uit == m.users.end()) {
      Fail(ctx.file, ctx.where + ".user", "names user '" + user_name + "', which is not in users");
    }
    const Entry& u = uit->second;
    if (u.body["exec"] && !u.body["exec"].IsNull()) {
      std::string cmd;
      if (u.body["exec"].IsMap() && u.body["exec"]["command"]) {
        cmd = " (command '" + u.body["exec"]["command"].as<std::string>("") + "')";
      }
      Fail(u.file, u.where + ".exec",
           "exec credential plugins" + cmd +
               " are not supported by poolguard's client; use a token, tokenFile or client "
               "certificate");
    }
    if (u.body["auth-provider"] && !u.body["auth-provider"].IsNull()) {
      Fail(u.file, u.where + ".auth-provider",
           "auth-provider plugins are not supported by poolguard's client; use a token, "
           "tokenFile or client certificate");
    }
    c.client_cert_pem = DataOrFile(u.body, "client-certificate", u);
    c.client_key_pem = DataOrFile(u.body, "client-key", u);
    if (c.client_cert_pem.empty() != c.client_key_pem.empty()) {
      Fail(u.file, u.where + (c.client_cert_pem.empty() ? ".client-certificate" : ".client-key"),
           "is missing (a client certificate needs both certificate and key)");
    }
    c.token = ScalarOr(u.body, "token", u);
    std::string token_file = ScalarOr(u.body, "tokenFile", u);
    if (!token_file.empty()) {
      c.token_file = Resolve(token_file, u.base_dir);
      std::string ignored, err;
      if (!file_util::ReadFile(c.token_file, &ignored, &err)) {
        Fail(u.file, u.where + ".tokenFile", "cannot read '" + c.token_file + "': " + err);
      }
    }
    c.username = ScalarOr(u.body, "username", u);
    c.password = ScalarOr(u.body, "password", u);
    c.impersonate_user = ScalarOr(u.body, "as", u);
    YAML::Node groups = u.body["as-groups"];
    if (groups && groups.IsSequence()) {
      for (const auto& g : groups) c.impersonate_groups.push_back(g.as<std::string>(""));
    }
  }
  return c;
}

}  // namespace

Config ParseKubeconfig(const std::string& yaml_text, const std::string& source_name,
                       const std::string& base_dir, const std::string& context) {
  Merged m;
  MergeText(yaml_text, source_name, base_dir, &m);
  return Build(m, context);
}

Config LoadKubeconfigFile(const std::string& path, const std::string& context) {
  return LoadKubeconfigFiles({path}, context);
}

Config LoadKubeconfigFiles(const std::vector<std::string>& paths, const std::string& context) {
  Merged m;
  std::string missing;
  for (const auto& p : paths) {
    if (p.empty()) continue;
    std::string text, err;
    if (!file_util::ReadFile(p, &text, &err)) {
      // kubectl skips KUBECONFIG entries that do not exist; a file that exists but cannot
      // be read is an error.
      if (!fs::exists(p)) {
        missing += (missing.empty() ? "" : ", ") + p;
        continue;
      }
      throw ConfigError(p + ": cannot read: " + err);
    }
    MergeText(text, p, fs::absolute(p).parent_path().string(), &m);
  }
  if (m.sources.empty()) {
    throw ConfigError("no kubeconfig found (looked for: " + missing + ")");
  }
  return Build(m, context);
}

Config InClusterConfig(const std::string& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port) {
    throw ConfigError(
        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set "
        "(not running in a pod?)");
  }
  Config c;
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6 literal
  c.server = "https://" + h + ":" + port;
  c.source = "in-cluster (" + sa_dir + ")";
  c.token_file = sa_dir + "/token";
  std::string contents, err;
  if (!file_util::ReadFile(c.token_file, &contents, &err)) {
    throw ConfigError("in-cluster config: " + c.token_file + ": cannot read token: " + err);
  }
  if (!file_util::ReadFile(sa_dir + "/ca.crt", &c.ca_pem, &err)) {
    throw ConfigError("in-cluster config: " + sa_dir + "/ca.crt: cannot read CA: " + err);
  }
  if (file_util::ReadFile(sa_dir + "/namespace", &contents, &err)) {
    std::string ns = file_util::Trim(contents);
    if (!ns.empty()) c.default_namespace = ns;
  }
  return c;
}

Config LoadDefaultConfig() {
  const char* env = std::getenv("KUBECONFIG");
  if (env && *env) {
    std::vector<std::string> paths;
    std::stringstream ss(env);
    std::string p;
    while (std::getline(ss, p, ':')) {
      if (!p.empty()) paths.push_back(p);
    }
    return LoadKubeconfigFiles(paths);
  }
  const char* svc = std::getenv("KUBERNETES_SERVICE_HOST");
  if (svc && *svc) return InClusterConfig();
  const char* home = std::getenv("HOME");
  if (!home || !*home) {
    throw ConfigError("no configuration: KUBECONFIG, KUBERNETES_SERVICE_HOST and HOME are unset");
  }
  return LoadKubeconfigFile(std::string(home) + "/.kube/config");
}

}  // namespace poolguard::kube
