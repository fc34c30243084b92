// The console's HTTP surface without a cluster: sign-in is required before anything
// reaches the API server, bad bodies are refused before it is asked, and an API server
// that does not answer is a 502 naming it, never a crash.
#include "console_api.h"

#include <gtest/gtest.h>

#include "requests.h"
#include "user_clients.h"

namespace poolguard::console {
namespace {

http::Response Call(const http::Router& router, const std::string& method, const std::string& path,
                    const std::string& body = "", const std::string& auth = "",
                    std::map<std::string, std::string> query = {}) {
  auto match = router.Find(method, path);
  EXPECT_EQ(match.status, http::Router::MatchStatus::kFound) << method << " " << path;
  if (match.status != http::Router::MatchStatus::kFound) return {};
  http::Request r;
  r.method = method;
  r.path = path;
  r.body = body;
  r.authorization = auth;
  r.query = std::move(query);
  r.params = match.params;
  return match.route->handler(r);
}

Json Body(const http::Response& r) { return Json::parse(r.body); }

class ConsoleApiTest : public ::testing::Test {
 protected:
  // An address nothing listens on: any call that reaches "the API server" fails fast.
  ConsoleApiTest()
      : clients_(std::make_shared<UserClients>(ApiServer{"https://127.0.0.1:1", "", true, ""})),
        router_(ConsoleApi(clients_).MakeRouter()) {}
  std::shared_ptr<UserClients> clients_;
  http::Router router_;
};

TEST_F(ConsoleApiTest, ThePageAndItsAssetsNeedNoToken) {
  auto page = Call(router_, "GET", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.content_type.find("text/html"), std::string::npos);
  EXPECT_NE(page.body.find("/console.js"), std::string::npos);
  EXPECT_EQ(Call(router_, "GET", "/console.js").status, 200);
  EXPECT_EQ(Call(router_, "GET", "/console.css").status, 200);
  // Nothing on the page comes from elsewhere.
  EXPECT_EQ(page.body.find("http://"), std::string::npos);
  EXPECT_EQ(page.body.find("https://"), std::string::npos);
}

TEST_F(ConsoleApiTest, EveryClusterRouteWantsABearerToken) {
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/api/whoami"},
                                                        {"GET", "/api/remediations"},
                                                        {"GET", "/api/experiments"},
                                                        {"GET", "/api/watch"},
                                                        {"POST", "/break/db_pool"},
                                                        {"POST", "/break/abort"},
                                                        {"GET", "/break"},
                                                        {"POST", "/action/approve"},
                                                        {"POST", "/action/reject"},
                                                        {"POST", "/action/restart-api"},
                                                        {"POST", "/action/restart-db"},
                                                        {"POST", "/action/increase-pool"},
                                                        {"GET", "/action"}}) {
    SCOPED_TRACE(method + " " + path);
    for (const std::string& auth : {std::string(), std::string("Basic dXNlcjpwdw=="),
                                    std::string("Bearer "), std::string("Bearer a b")}) {
      auto r = Call(router_, method, path, R"({"namespace":"a"})", auth);
      EXPECT_EQ(r.status, 401);
      EXPECT_EQ(Body(r).at("error").at("code").as_string(), "Unauthorized");
    }
  }
  EXPECT_EQ(clients_->size(), 0u);  // no client was made for a request without a token
}

TEST_F(ConsoleApiTest, BadBodiesAre400NamingTheFieldBeforeTheApiServerIsAsked) {
  auto r = Call(router_, "POST", "/break/db_pool", R"({"namespace":"a","connections":-1})",
                "Bearer t0k3n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(r).at("error").at("field").as_string(), "connections");
  r = Call(router_, "POST", "/action/approve", R"({"namespace":"a"})", "Bearer t0k3n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(r).at("error").at("field").as_string(), "remediation");
  r = Call(router_, "GET", "/api/remediations", "", "Bearer t0k3n", {{"namespace", "A B"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(r).at("error").at("field").as_string(), "namespace");
  r = Call(router_, "GET", "/api/series", "", "Bearer t0k3n",
           {{"namespace", "a"}, {"name", "api"}, {"minutes", "5x"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(r).at("error").at("field").as_string(), "minutes");
  r = Call(router_, "GET", "/api/watch", "", "Bearer t0k3n", {{"resource", "pods"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(r).at("error").at("field").as_string(), "resource");
}

TEST_F(ConsoleApiTest, ManualActionsByNameAndApprovalStillItsOwnRoute) {
  auto r = Call(router_, "POST", "/action/reboot", R"({"namespace":"a","remediation":"api"})",
                "Bearer t0k3n");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(Body(r).at("error").at("message").as_string().find("restart-api"), std::string::npos);
  r = Call(router_, "POST", "/action/restart-api",
           R"({"namespace":"a","remediation":"api","incident":"x"})", "Bearer t0k3n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(r).at("error").at("field").as_string(), "incident");
  // /action/approve is not taken for a manual action named "approve".
  r = Call(router_, "POST", "/action/approve", R"({"namespace":"a"})", "Bearer t0k3n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(r).at("error").at("field").as_string(), "remediation");
}

TEST_F(ConsoleApiTest, AnApiServerThatDoesNotAnswerIs502) {
  auto r = Call(router_, "GET", "/api/remediations", "", "Bearer t0k3n", {{"namespace", "a"}});
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(Body(r).at("error").at("code").as_string(), "ApiServerUnreachable");
}

TEST(BearerToken, OnlyAWellFormedBearerHeader) {
  EXPECT_EQ(BearerToken("Bearer abc.def"), "abc.def");
  EXPECT_EQ(BearerToken("bearer   abc  "), "abc");
  EXPECT_EQ(BearerToken("Bearer"), "");
  EXPECT_EQ(BearerToken("Basic abc"), "");
  EXPECT_EQ(BearerToken("Bearer a\r\nX-Evil: 1"), "");
  EXPECT_EQ(BearerToken("Bearer " + std::string(20000, 'a')), "");
}

}  // namespace
}  // namespace poolguard::console
