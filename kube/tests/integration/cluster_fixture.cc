#include "cluster_fixture.h"

#include <cstdlib>
#include <random>
#include <thread>

namespace poolguard::kube::testing {

std::string KubeconfigPath() {
  const char* p = std::getenv("POOLGUARD_TEST_KUBECONFIG");
  return p ? p : "";
}

std::shared_ptr<Client> NewTestClient(const Config& config) {
  ClientOptions o;
  o.user_agent = "poolguard-kube-integration-tests";
  return Client::Create(config, o);
}

Json J(const std::string& text) { return Json::parse(text); }

std::string ClusterTest::UniqueName(const std::string& prefix) {
  static std::mt19937_64 rng{std::random_device{}()};
  static std::mutex mu;
  std::lock_guard<std::mutex> g(mu);
  const char* alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s = prefix + "-";
  for (int i = 0; i < 6; ++i) s += alphabet[rng() % 36];
  return s;
}

bool ClusterTest::Eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cond();
}

void ClusterTest::SetUp() {
  std::string path = KubeconfigPath();
  ASSERT_FALSE(path.empty())
      << "POOLGUARD_TEST_KUBECONFIG is not set: these tests need a real API server. Start one "
         "with `localcluster/up` and export POOLGUARD_TEST_KUBECONFIG=<the kubeconfig it "
         "prints>.";
  ASSERT_NO_THROW(config_ = LoadKubeconfigFile(path)) << "kubeconfig " << path;
  client_ = NewTestClient(config_);
  ns_ = UniqueName("kubetest");
  try {
    client_->Resource({"", "v1", "namespaces", false})
        .Create(J(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + ns_ +
                  R"(","labels":{"poolguard.dev/test":"kube"}}})"));
  } catch (const std::exception& e) {
    FAIL() << "cannot create test namespace on " << config_.server << ": " << e.what();
  }
}

void ClusterTest::TearDown() {
  if (!client_ || ns_.empty()) return;
  try {
    DeleteOptions o;
    o.propagation = PropagationPolicy::kBackground;
    client_->Resource({"", "v1", "namespaces", false}).Delete(ns_, o);
  } catch (const std::exception&) {
    // Best effort: a leftover namespace does not affect other tests (each has its own).
  }
}

}  // namespace poolguard::kube::testing
