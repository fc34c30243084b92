#include "poolguard/kube/errors.h"

#include <gtest/gtest.h>

#include "poolguard/kube/client.h"

namespace poolguard::kube {
namespace {

std::string Status(int code, const std::string& reason, const std::string& message,
                   const std::string& details = "") {
  return R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":")" +
         message + R"(","reason":")" + reason + R"(",)" +
         (details.empty() ? "" : R"("details":)" + details + ",") + R"("code":)" +
         std::to_string(code) + "}";
}

struct Case {
  int http;
  std::string reason;
  ErrorKind kind;
};

TEST(ResponseTest, HeaderIgnoresTheNamesCase) {
  Client::Response r;
  r.headers = {{"retry-after", "7"}, {"Content-Type", "application/json"}};
  EXPECT_EQ(r.Header("Retry-After"), "7");
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.Header("Content-Length"), "");
  EXPECT_EQ(r.Header("Retry-Afte"), "") << "a prefix is not the name";
}

TEST(ErrorFromResponseTest, MapsReasonsAndCodes) {
  const std::vector<Case> cases = {
      {404, "NotFound", ErrorKind::kNotFound},
      {409, "AlreadyExists", ErrorKind::kAlreadyExists},
      {409, "Conflict", ErrorKind::kConflict},
      {403, "Forbidden", ErrorKind::kForbidden},
      {401, "Unauthorized", ErrorKind::kUnauthorized},
      {410, "Expired", ErrorKind::kGone},
      {410, "Gone", ErrorKind::kGone},
      {422, "Invalid", ErrorKind::kInvalid},
      {429, "TooManyRequests", ErrorKind::kTooManyRequests},
      {504, "Timeout", ErrorKind::kTimeout},
      {500, "ServerTimeout", ErrorKind::kTimeout},
      {500, "InternalError", ErrorKind::kInternalError},
      {503, "ServiceUnavailable", ErrorKind::kServiceUnavailable},
      {400, "BadRequest", ErrorKind::kBadRequest},
      {405, "MethodNotAllowed", ErrorKind::kMethodNotAllowed},
      {418, "", ErrorKind::kUnknown},
      // Without a reason, the code decides.
      {409, "", ErrorKind::kConflict},
      {404, "", ErrorKind::kNotFound},
      {410, "", ErrorKind::kGone},
  };
  for (const auto& c : cases) {
    ApiError e = ErrorFromResponse(c.http, Status(c.http, c.reason, "msg"));
    EXPECT_EQ(e.kind(), c.kind) << c.http << " " << c.reason << " -> " << ErrorKindName(e.kind());
    EXPECT_EQ(e.http_status(), c.http);
    EXPECT_EQ(e.reason(), c.reason);
  }
}

TEST(ErrorFromResponseTest, KeepsServerMessageIntact) {
  const std::string msg =
      "Operation cannot be fulfilled on deployments.apps \\\"api\\\": the object has been "
      "modified; please apply your changes to the latest version and try again";
  ApiError e = ErrorFromResponse(409, Status(409, "Conflict", msg));
  EXPECT_EQ(e.message(),
            "Operation cannot be fulfilled on deployments.apps \"api\": the object has been "
            "modified; please apply your changes to the latest version and try again");
  EXPECT_NE(std::string(e.what()).find(e.message()), std::string::npos);
  EXPECT_TRUE(IsConflict(e));
}

TEST(ErrorFromResponseTest, InvalidCarriesFieldCauses) {
  ApiError e = ErrorFromResponse(
      422,
      Status(
          422, "Invalid", "Deployment.apps \\\"x\\\" is invalid",
          R"({"name":"x","group":"apps","kind":"Deployment","causes":[)"
          R"({"reason":"FieldValueRequired","message":"Required value","field":"spec.selector"},)"
          R"({"reason":"FieldValueInvalid","message":"Invalid value: -1","field":"spec.replicas"}]})"));
  ASSERT_TRUE(IsInvalid(e));
  ASSERT_EQ(e.causes().size(), 2u);
  EXPECT_EQ(e.causes()[0].field, "spec.selector");
  EXPECT_EQ(e.causes()[0].type, "FieldValueRequired");
  EXPECT_EQ(e.causes()[1].message, "Invalid value: -1");
}

TEST(ErrorFromResponseTest, RetryAfterFromHeaderOrDetails) {
  ApiError h = ErrorFromResponse(429, Status(429, "TooManyRequests", "slow down"), "7");
  ASSERT_TRUE(h.retry_after().has_value());
  EXPECT_EQ(*h.retry_after(), std::chrono::seconds(7));

  ApiError d = ErrorFromResponse(
      429, Status(429, "TooManyRequests", "slow down", R"({"retryAfterSeconds":3})"));
  ASSERT_TRUE(d.retry_after().has_value());
  EXPECT_EQ(*d.retry_after(), std::chrono::seconds(3));

  ApiError none = ErrorFromResponse(429, Status(429, "TooManyRequests", "slow down"), "soon");
  EXPECT_FALSE(none.retry_after().has_value());
}

TEST(ErrorFromResponseTest, NonStatusBodyBecomesMessage) {
  ApiError e = ErrorFromResponse(502, "<html>bad gateway</html>");
  EXPECT_EQ(e.kind(), ErrorKind::kUnknown);
  EXPECT_EQ(e.message(), "<html>bad gateway</html>");
  ApiError empty = ErrorFromResponse(503, "");
  EXPECT_EQ(empty.kind(), ErrorKind::kServiceUnavailable);
  EXPECT_EQ(empty.message(), "the server answered HTTP 503");
}

TEST(ErrorFromStatusTest, WatchErrorEventGoneIsGone) {
  Json status = Json::parse(
      R"j({"kind":"Status","apiVersion":"v1","status":"Failure",)j"
      R"j("message":"too old resource version: 1 (5000)","reason":"Expired","code":410})j");
  ApiError e = ErrorFromStatus(status);
  EXPECT_TRUE(IsGone(e));
  EXPECT_EQ(e.http_status(), 410);
  EXPECT_EQ(e.message(), "too old resource version: 1 (5000)");
}

}  // namespace
}  // namespace poolguard::kube
