#include "poolguard/common/http_server.h"

#include <cpprest/http_client.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <future>
#include <thread>

namespace poolguard::http {
namespace {

using namespace std::chrono_literals;

struct Answer {
  int status = 0;
  std::string body;
  std::string allow;
};

Answer Call(std::uint16_t port, const std::string& method, const std::string& path,
            const std::string& body = "") {
  web::http::client::http_client_config config;
  config.set_timeout(10s);
  web::http::client::http_client client("http://127.0.0.1:" + std::to_string(port), config);
  web::http::http_request request(method);
  request.set_request_uri(path);
  if (!body.empty()) request.set_body(body, "application/json");
  auto response = client.request(request).get();
  Answer a;
  a.status = response.status_code();
  a.body = response.extract_utf8string(true).get();
  if (response.headers().has("Allow")) a.allow = response.headers()["Allow"];
  return a;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Router router;
    router.Add("GET", "/fast", [](const Request&) { return Response::Text(200, "fast"); });
    router.Add("GET", "/echo/{word}", [](const Request& r) {
      return Response::Text(
          200, r.params.at("word") + "|" + (r.query.count("q") ? r.query.at("q") : std::string()));
    });
    router.Add("POST", "/echo/{word}",
               [](const Request& r) { return Response::Text(200, r.body); });
    router.Add("GET", "/block", [this](const Request&) {
      release_.get_future().wait();
      return Response::Text(200, "released");
    });
    router.Add("GET", "/throw",
               [](const Request&) -> Response { throw std::runtime_error("boom"); });
    ServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.max_body_bytes = 1024;
    server_ = std::make_unique<Server>(options, std::move(router), &registry_);
    server_->Start();
  }
  void TearDown() override { server_->Shutdown(5s); }

  prometheus::Registry registry_;
  std::promise<void> release_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, RoutesDecodesAndAnswersErrorsAsJson) {
  EXPECT_EQ(Call(server_->port(), "GET", "/fast").body, "fast");
  EXPECT_EQ(Call(server_->port(), "GET", "/echo/a%20b?q=x%26y").body, "a b|x&y");
  EXPECT_EQ(Call(server_->port(), "POST", "/echo/w", R"({"k":1})").body, R"({"k":1})");
  auto missing = Call(server_->port(), "GET", "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("\"code\":\"NotFound\""), std::string::npos);
  auto wrong = Call(server_->port(), "DELETE", "/fast");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.allow, "GET");
  auto big = Call(server_->port(), "POST", "/echo/w", std::string(2048, 'x'));
  EXPECT_EQ(big.status, 413);
  auto failing = Call(server_->port(), "GET", "/throw");
  EXPECT_EQ(failing.status, 500);
  EXPECT_EQ(failing.body.find("boom"), std::string::npos) << "internals must not leak";
}

// Waits (bounded) until the server has exactly `n` requests in flight. A request is in
// flight from its parsed header until its reply is written, which may be just after the
// client has read the reply; and a client thread may take a while to connect.
bool InFlightBecomes(const Server& server, std::size_t n) {
  for (int i = 0; i < 500; ++i) {
    if (server.in_flight() == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return server.in_flight() == n;
}

TEST_F(ServerTest, ABlockedHandlerDoesNotDelayOtherConnections) {
  auto blocked =
      std::async(std::launch::async, [this] { return Call(server_->port(), "GET", "/block"); });
  EXPECT_TRUE(InFlightBecomes(*server_, 1u)) << "the blocked request never reached the server";
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Call(server_->port(), "GET", "/fast").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_TRUE(InFlightBecomes(*server_, 1u)) << server_->in_flight();
  release_.set_value();
  EXPECT_EQ(blocked.get().body, "released");
}

TEST_F(ServerTest, ShutdownWaitsForInFlightRequests) {
  auto blocked =
      std::async(std::launch::async, [this] { return Call(server_->port(), "GET", "/block"); });
  EXPECT_TRUE(InFlightBecomes(*server_, 1u)) << "the blocked request never reached the server";
  auto stopping = std::async(std::launch::async, [this] { server_->Shutdown(5s); });
  std::this_thread::sleep_for(100ms);
  release_.set_value();
  stopping.get();
  EXPECT_EQ(blocked.get().body, "released");
  EXPECT_EQ(server_->in_flight(), 0u);
}

TEST_F(ServerTest, CountsRequestsByRouteTemplate) {
  Call(server_->port(), "GET", "/echo/one");
  Call(server_->port(), "GET", "/echo/two");
  Call(server_->port(), "GET", "/nowhere/at/all");
  // A request is counted once its reply is written, which may be just after the client
  // has read it: wait (bounded) for the last one to show.
  std::string text;
  for (int i = 0; i < 200; ++i) {
    text = MetricsResponse(registry_).body;
    if (text.find(R"(route="unmatched"} 1)") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(text.find(R"(http_requests_total{code="200",method="GET",route="/echo/{word}"} 2)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(http_requests_total{code="404",method="GET",route="unmatched"} 1)"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace poolguard::http
