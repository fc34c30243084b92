// Forbidden from RBAC, with the server's message, through impersonation of a service
// account that has only the permissions the test grants it.

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "cluster_fixture.h"

namespace poolguard::kube::testing {
namespace {

using namespace std::chrono_literals;

class RbacTest : public ClusterTest {};

TEST_F(RbacTest, ForbiddenCarriesTheServersMessage) {
  const std::string user = "system:serviceaccount:" + ns_ + ":limited";
  client_->Resource({"rbac.authorization.k8s.io", "v1", "roles", true}, ns_)
      .Create(J(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role",
        "metadata":{"name":"read-configmaps"},
        "rules":[{"apiGroups":[""],"resources":["configmaps"],"verbs":["get","list"]}]})"));
  client_->Resource({"rbac.authorization.k8s.io", "v1", "rolebindings", true}, ns_)
      .Create(J(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding",
        "metadata":{"name":"limited-reads"},
        "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"read-configmaps"},
        "subjects":[{"kind":"ServiceAccount","name":"limited","namespace":")" +
                ns_ + R"("}]})"));

  Config as_limited = config_;
  as_limited.impersonate_user = user;
  as_limited.impersonate_groups = {"system:serviceaccounts", "system:authenticated"};
  auto limited = NewTestClient(as_limited);

  // Allowed by the Role (RBAC caches refresh quickly, but not instantly).
  bool allowed = Eventually(
      [&] {
        try {
          limited->Resource({"", "v1", "configmaps", true}, ns_).List();
          return true;
        } catch (const ApiError&) {
          return false;
        }
      },
      30s);  // as the cluster tests allow RoleBindings on a loaded machine
  EXPECT_TRUE(allowed);

  // Not allowed: pods, and writing configmaps.
  try {
    limited->Resource({"", "v1", "pods", true}, ns_).List();
    FAIL() << "expected Forbidden";
  } catch (const ApiError& e) {
    EXPECT_TRUE(IsForbidden(e)) << e.what();
    EXPECT_EQ(e.http_status(), 403);
    EXPECT_NE(e.message().find("pods is forbidden: User \"" + user + "\""), std::string::npos)
        << e.message();
    EXPECT_NE(e.message().find("cannot list resource \"pods\""), std::string::npos) << e.message();
  }
  try {
    limited->Resource({"", "v1", "configmaps", true}, ns_)
        .Create(J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"nope"}})"));
    FAIL() << "expected Forbidden";
  } catch (const ApiError& e) {
    EXPECT_TRUE(IsForbidden(e)) << e.what();
    EXPECT_NE(e.message().find("cannot create resource \"configmaps\""), std::string::npos)
        << e.message();
  }
}

TEST_F(RbacTest, UnauthenticatedIsUnauthorizedOrForbidden) {
  Config anonymous = config_;
  anonymous.client_cert_pem.clear();
  anonymous.client_key_pem.clear();
  anonymous.token = "not-a-valid-token";
  anonymous.token_file.clear();
  try {
    NewTestClient(anonymous)->Resource({"", "v1", "configmaps", true}, ns_).List();
    FAIL() << "expected Unauthorized";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnauthorized) << e.what();
    EXPECT_EQ(e.http_status(), 401);
  }
}

// A tokenFile is re-read as it rotates: the client picks up a new token (here, of another
// service account) once its refresh interval has passed on the client's clock.
TEST_F(RbacTest, TokenFileIsReReadAfterRotation) {
  auto sas = client_->Resource({"", "v1", "serviceaccounts", true}, ns_);
  for (const char* name : {"reader", "nobody"}) {
    sas.Create(J(R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":")" +
                 std::string(name) + R"("}})"));
  }
  client_->Resource({"rbac.authorization.k8s.io", "v1", "roles", true}, ns_)
      .Create(J(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role",
        "metadata":{"name":"list-configmaps"},
        "rules":[{"apiGroups":[""],"resources":["configmaps"],"verbs":["list"]}]})"));
  client_->Resource({"rbac.authorization.k8s.io", "v1", "rolebindings", true}, ns_)
      .Create(J(R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding",
        "metadata":{"name":"reader"},
        "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"list-configmaps"},
        "subjects":[{"kind":"ServiceAccount","name":"reader","namespace":")" +
                ns_ + R"("}]})"));
  auto token_for = [&](const std::string& sa) {
    Json answer = client_->Do(
        "POST", "/api/v1/namespaces/" + ns_ + "/serviceaccounts/" + sa + "/token", {},
        R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":600}})");
    return answer.at("status").at("token").as_string();
  };
  std::string token_file = ::testing::TempDir() + "/token-" + ns_;
  auto write_token = [&](const std::string& t) { std::ofstream(token_file) << t << "\n"; };
  write_token(token_for("reader"));

  Config by_file = config_;
  by_file.client_cert_pem.clear();
  by_file.client_key_pem.clear();
  by_file.token.clear();
  by_file.token_file = token_file;
  auto clock = std::make_shared<FakeClock>();
  ClientOptions options;
  options.clock = clock;
  auto c = Client::Create(by_file, options);
  auto list = [&] { c->Resource({"", "v1", "configmaps", true}, ns_).List(); };
  ASSERT_TRUE(Eventually(
      [&] {
        try {
          list();
          return true;
        } catch (const ApiError&) {
          return false;
        }
      },
      30s));

  write_token(token_for("nobody"));
  EXPECT_NO_THROW(list());  // the old token is still cached
  clock->Advance(61s);
  try {
    list();
    FAIL() << "expected Forbidden with the rotated token";
  } catch (const ApiError& e) {
    EXPECT_TRUE(IsForbidden(e)) << e.what();
    EXPECT_NE(e.message().find("system:serviceaccount:" + ns_ + ":nobody"), std::string::npos)
        << e.message();
  }
  std::remove(token_file.c_str());
}

}  // namespace
}  // namespace poolguard::kube::testing
