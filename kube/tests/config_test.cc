#include "poolguard/kube/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "poolguard/kube/client.h"

namespace poolguard::kube {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("kubeconfig-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

  // Expects `f` to throw ConfigError whose message contains every one of `parts`.
  template <typename F>
  void ExpectConfigError(F f, std::vector<std::string> parts) {
    try {
      f();
      FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
      for (const auto& p : parts) {
        EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
            << "message '" << e.what() << "' lacks '" << p << "'";
      }
    }
  }

  fs::path dir_;
};

// "hello" / "world" in base64.
const char* kGood = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: aGVsbG8=
    tls-server-name: kubernetes
- name: other
  cluster:
    server: https://10.0.0.1:6443
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    client-certificate-data: aGVsbG8=
    client-key: keys/admin.key
- name: bot
  user:
    token: s3cret
    as: alice
    as-groups: [ops, dev]
contexts:
- name: dev
  context: {cluster: local, user: admin, namespace: team-a}
- name: prod
  context: {cluster: other, user: bot}
)";

TEST_F(ConfigTest, ParsesCurrentContextWithDataAndRelativeFiles) {
  Write("keys/admin.key", "KEY");
  std::string path = Write("config", kGood);
  Config c = LoadKubeconfigFile(path);
  EXPECT_EQ(c.server, "https://127.0.0.1:6443");  // trailing slash dropped
  EXPECT_EQ(c.ca_pem, "hello");
  EXPECT_EQ(c.tls_server_name, "kubernetes");
  EXPECT_FALSE(c.insecure_skip_tls_verify);
  EXPECT_EQ(c.client_cert_pem, "hello");
  EXPECT_EQ(c.client_key_pem, "KEY");  // relative to the kubeconfig's directory
  EXPECT_EQ(c.default_namespace, "team-a");
  EXPECT_EQ(c.context_name, "dev");
}

TEST_F(ConfigTest, SelectsAnotherContext) {
  Write("keys/admin.key", "KEY");
  Config c = LoadKubeconfigFile(Write("config", kGood), "prod");
  EXPECT_EQ(c.server, "https://10.0.0.1:6443");
  EXPECT_TRUE(c.insecure_skip_tls_verify);
  EXPECT_EQ(c.token, "s3cret");
  EXPECT_EQ(c.impersonate_user, "alice");
  EXPECT_EQ(c.impersonate_groups, (std::vector<std::string>{"ops", "dev"}));
  EXPECT_EQ(c.default_namespace, "default");
}

TEST_F(ConfigTest, TokenFileIsResolvedNotInlined) {
  Write("token", "abc\n");
  std::string path = Write("config", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1"}}]
users: [{name: u, user: {tokenFile: token}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
)");
  Config c = LoadKubeconfigFile(path);
  EXPECT_EQ(c.token_file, (dir_ / "token").string());
  EXPECT_TRUE(c.token.empty());
}

TEST_F(ConfigTest, MergesLikeKubectlFirstFileWins) {
  std::string a = Write("a", R"(
current-context: from-a
clusters: [{name: shared, cluster: {server: "https://a:1"}}]
contexts: [{name: from-a, context: {cluster: shared, user: u}}]
)");
  std::string b = Write("b", R"(
current-context: from-b
clusters:
- {name: shared, cluster: {server: "https://b:1"}}
- {name: only-b, cluster: {server: "https://onlyb:1"}}
users: [{name: u, user: {token: from-b-token}}]
contexts:
- {name: from-b, context: {cluster: only-b, user: u}}
)");
  Config c = LoadKubeconfigFiles({a, (dir_ / "missing").string(), b});
  EXPECT_EQ(c.context_name, "from-a");  // a's current-context wins
  EXPECT_EQ(c.server, "https://a:1");   // a's "shared" cluster wins
  EXPECT_EQ(c.token, "from-b-token");   // user only defined in b
  Config cb = LoadKubeconfigFiles({a, b}, "from-b");
  EXPECT_EQ(cb.server, "https://onlyb:1");
}

TEST_F(ConfigTest, KubeconfigEnvironmentVariableIsSplitOnColons) {
  std::string a = Write("a", "current-context: x\n");
  std::string b = Write("b", R"(
clusters: [{name: k, cluster: {server: "https://envb:1"}}]
contexts: [{name: x, context: {cluster: k}}]
)");
  std::string env = a + ":" + b;
  ::setenv("KUBECONFIG", env.c_str(), 1);
  Config c = LoadDefaultConfig();
  ::unsetenv("KUBECONFIG");
  EXPECT_EQ(c.server, "https://envb:1");
}

TEST_F(ConfigTest, AllFilesMissingIsAnError) {
  ExpectConfigError([&] { LoadKubeconfigFiles({(dir_ / "nope").string()}); },
                    {"no kubeconfig found", "nope"});
}

TEST_F(ConfigTest, BrokenYamlNamesFileAndLine) {
  std::string p = Write("config", "clusters: [\n  - name: x\n   bad: : :\n");
  ExpectConfigError([&] { LoadKubeconfigFile(p); }, {p, "not valid YAML", "line"});
}

TEST_F(ConfigTest, MissingServerNamesField) {
  std::string p = Write("config", R"(
current-context: c
clusters: [{name: k, cluster: {certificate-authority-data: aGVsbG8=}}]
contexts: [{name: c, context: {cluster: k}}]
)");
  ExpectConfigError([&] { LoadKubeconfigFile(p); }, {p, "clusters[0].cluster.server", "missing"});
}

TEST_F(ConfigTest, UnknownContextNamesCurrentContext) {
  std::string p = Write("config", "current-context: ghost\ncontexts: []\n");
  ExpectConfigError([&] { LoadKubeconfigFile(p); }, {p, "current-context", "ghost"});
}

TEST_F(ConfigTest, UnknownUserNamesContextField) {
  std::string p = Write("config", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1"}}]
contexts: [{name: c, context: {cluster: k, user: nobody}}]
)");
  ExpectConfigError([&] { LoadKubeconfigFile(p); }, {p, "contexts[0].context.user", "nobody"});
}

TEST_F(ConfigTest, BadBase64NamesField) {
  std::string p = Write("config", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1", certificate-authority-data: "!!!"}}]
contexts: [{name: c, context: {cluster: k}}]
)");
  ExpectConfigError([&] { LoadKubeconfigFile(p); },
                    {p, "clusters[0].cluster.certificate-authority-data", "base64"});
}

TEST_F(ConfigTest, UnreadableKeyFileNamesFieldAndPath) {
  std::string p = Write("config", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1"}}]
users: [{name: u, user: {client-certificate-data: aGVsbG8=, client-key: /nonexistent/k.pem}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
)");
  ExpectConfigError([&] { LoadKubeconfigFile(p); },
                    {p, "users[0].user.client-key", "/nonexistent/k.pem"});
}

TEST_F(ConfigTest, CertificateWithoutKeyIsAnError) {
  std::string p = Write("config", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1"}}]
users: [{name: u, user: {client-certificate-data: aGVsbG8=}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
)");
  ExpectConfigError([&] { LoadKubeconfigFile(p); }, {p, "users[0].user.client-key", "missing"});
}

TEST_F(ConfigTest, ExecPluginIsClearlyUnsupported) {
  std::string p = Write("config", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1"}}]
users:
- name: eks
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [eks, get-token]
contexts: [{name: c, context: {cluster: k, user: eks}}]
)");
  ExpectConfigError([&] { LoadKubeconfigFile(p); },
                    {p, "users[0].user.exec", "'aws'", "not supported"});
}

TEST_F(ConfigTest, AuthProviderIsClearlyUnsupported) {
  std::string p = Write("config", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1"}}]
users: [{name: g, user: {auth-provider: {name: gcp}}}]
contexts: [{name: c, context: {cluster: k, user: g}}]
)");
  ExpectConfigError([&] { LoadKubeconfigFile(p); },
                    {"users[0].user.auth-provider", "not supported"});
}

TEST_F(ConfigTest, NonBooleanInsecureNamesField) {
  std::string p = Write("config", R"(
current-context: c
clusters: [{name: k, cluster: {server: "https://h:1", insecure-skip-tls-verify: maybe}}]
contexts: [{name: c, context: {cluster: k}}]
)");
  ExpectConfigError([&] { LoadKubeconfigFile(p); },
                    {"clusters[0].cluster.insecure-skip-tls-verify", "maybe"});
}

TEST_F(ConfigTest, WrongKindIsRejected) {
  std::string p = Write("config", "kind: Pod\napiVersion: v1\n");
  ExpectConfigError([&] { LoadKubeconfigFile(p); }, {p, "kind", "Pod"});
}

TEST_F(ConfigTest, InClusterReadsServiceAccountFiles) {
  Write("sa/token", "tok-1\n");
  Write("sa/ca.crt", "CA");
  Write("sa/namespace", "poolguard-system\n");
  ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  Config c = InClusterConfig((dir_ / "sa").string());
  EXPECT_EQ(c.server, "https://10.96.0.1:443");
  EXPECT_EQ(c.ca_pem, "CA");
  EXPECT_EQ(c.token_file, (dir_ / "sa" / "token").string());
  EXPECT_EQ(c.default_namespace, "poolguard-system");
  ::setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
  EXPECT_EQ(InClusterConfig((dir_ / "sa").string()).server, "https://[fd00::1]:443");
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
}

TEST_F(ConfigTest, InClusterOutsideAPodSaysSo) {
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ExpectConfigError([&] { InClusterConfig((dir_ / "sa").string()); }, {"KUBERNETES_SERVICE_HOST"});
}

TEST_F(ConfigTest, InClusterMissingTokenNamesFile) {
  Write("sa/ca.crt", "CA");
  ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  ExpectConfigError([&] { InClusterConfig((dir_ / "sa").string()); }, {"sa/token"});
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
}

TEST_F(ConfigTest, ClientRejectsUnusablePem) {
  Config c;
  c.server = "https://127.0.0.1:1";
  c.source = "test";
  c.ca_pem = "not a certificate";
  EXPECT_THROW(Client::Create(c), ConfigError);
}

}  // namespace
}  // namespace poolguard::kube
