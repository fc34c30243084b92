#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "poolguard/kube/client.h"

namespace poolguard::kube::testing {

/// The kubeconfig named by POOLGUARD_TEST_KUBECONFIG; empty if unset.
std::string KubeconfigPath();

/// A client for the test cluster. Call only after ClusterTest::SetUp succeeded.
std::shared_ptr<Client> NewTestClient(const Config& config);

/// A fresh namespace per test, deleted afterwards. SetUp fails the test (never skips) when
/// POOLGUARD_TEST_KUBECONFIG is unset or the cluster cannot be reached.
class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  /// "<prefix>-<random>" valid as a DNS label.
  static std::string UniqueName(const std::string& prefix);

  /// Polls `cond` every 50ms until it is true or `timeout` passes; returns its last value.
  static bool Eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

  Config config_;
  std::shared_ptr<Client> client_;
  std::string ns_;
};

/// Parses JSON text (test fixtures).
Json J(const std::string& text);

}  // namespace poolguard::kube::testing
