#include <gtest/gtest.h>

#include "poolguard/common/http_server.h"

namespace poolguard::http {
namespace {

Response Ok(const Request&) { return Response::Text(200, "ok"); }

TEST(Router, MatchesTemplatesAndDecodesParams) {
  Router router;
  router.Add("GET", "/items", Ok);
  router.Add("POST", "/items", Ok);
  router.Add("GET", "/items/{id}", Ok);
  auto m = router.Find("GET", "/items/42");
  ASSERT_EQ(m.status, Router::MatchStatus::kFound);
  EXPECT_EQ(m.route->path_template, "/items/{id}");
  EXPECT_EQ(m.params.at("id"), "42");
  EXPECT_EQ(router.Find("GET", "/items/a%20b").params.at("id"), "a b");
  EXPECT_EQ(router.Find("GET", "/items/").route->path_template, "/items");
}

TEST(Router, DistinguishesUnknownPathsFromWrongMethods) {
  Router router;
  router.Add("GET", "/items", Ok);
  router.Add("POST", "/items", Ok);
  EXPECT_EQ(router.Find("GET", "/nope").status, Router::MatchStatus::kNotFound);
  EXPECT_EQ(router.Find("GET", "/items/1/2").status, Router::MatchStatus::kNotFound);
  auto m = router.Find("DELETE", "/items");
  EXPECT_EQ(m.status, Router::MatchStatus::kMethodNotAllowed);
  EXPECT_EQ(m.allowed_methods, (std::vector<std::string>{"GET", "POST"}));
}

TEST(IntParam, ValidatesRangeAndSyntax) {
  Request r;
  r.query = {{"limit", "10"}, {"bad", "1x"}, {"huge", "99999999999999999999"}, {"neg", "-1"}};
  EXPECT_EQ(IntParam(r, "limit", 1, 100), 10);
  EXPECT_FALSE(IntParam(r, "absent", 1, 100).has_value());
  EXPECT_THROW(IntParam(r, "bad", 1, 100), std::invalid_argument);
  EXPECT_THROW(IntParam(r, "huge", 1, 100), std::invalid_argument);
  EXPECT_THROW(IntParam(r, "neg", 0, 100), std::invalid_argument);
}

}  // namespace
}  // namespace poolguard::http
