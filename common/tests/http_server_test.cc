#include "poolguard/common/http_server.h"

#include <cpprest/http_client.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <thread>
#include <utility>
#include <vector>

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
    router.Add("GET", "/auth",
               [](const Request& r) { return Response::Text(200, r.authorization); });
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
  EXPECT_EQ(Call(server_->port(), "GET", "/auth").body, "");
  {
    web::http::client::http_client client("http://127.0.0.1:" + std::to_string(server_->port()));
    web::http::http_request request("GET");
    request.set_request_uri("/auth");
    request.headers().add("Authorization", "Bearer abc.def");
    EXPECT_EQ(client.request(request).get().extract_utf8string(true).get(), "Bearer abc.def");
  }
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

// ---- hostile clients --------------------------------------------------------------------

// A raw TCP client: sends exactly what a test says and reads whatever comes back.
class Raw {
 public:
  explicit Raw(std::uint16_t port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Raw() { close(fd_); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;
  bool connected() const { return connected_; }
  bool Send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // What one read returns within `limit` (empty if nothing came); `closed` if the peer closed.
  std::string ReadSome(std::chrono::milliseconds limit, bool* closed) {
    *closed = false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(limit.count())) <= 0) return {};
    char buf[4096];
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      *closed = true;
      return {};
    }
    return std::string(buf, static_cast<size_t>(n));
  }
  // Everything until the peer closes or `limit` passes; `closed` says which.
  std::string ReadAll(std::chrono::milliseconds limit, bool* closed = nullptr) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        if (closed) *closed = true;
        return out;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    if (closed) *closed = false;
    return out;
  }

 private:
  int fd_;
  bool connected_ = false;
};

int ThreadCount() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

TEST_F(ServerTest, MalformedPercentEncodingIsA400NotACrash) {
  for (const char* target : {"/echo/%", "/echo/%zz", "/echo/%0", "/echo/a%2", "/echo/x?q=%",
                             "/echo/x?q=%g1", "/echo/x?%zz=1"}) {
    Raw raw(server_->port());
    ASSERT_TRUE(raw.Send(std::string("GET ") + target +
                         " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    const std::string reply = raw.ReadAll(5s);
    EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << target << ": " << reply;
    EXPECT_NE(reply.find("\"code\":\"Bad"), std::string::npos) << target << ": " << reply;
  }
  EXPECT_EQ(Call(server_->port(), "GET", "/fast").status, 200);  // still serving
}

TEST_F(ServerTest, GarbageGetsA400AndTheServerGoesOn) {
  for (const std::string& garbage :
       {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n",
        std::string("GET / HTTP/9.9\r\n\r\n"), std::string("GET\r\n\r\n"),
        std::string("POST /echo/w HTTP/1.1\r\nContent-Length: zz\r\n\r\n")}) {
    Raw raw(server_->port());
    raw.Send(garbage);
    const std::string reply = raw.ReadAll(5s);
    EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  }
  EXPECT_EQ(Call(server_->port(), "GET", "/fast").status, 200);
}

// Reads from `raw` until `n` whole responses (each with a Content-Length) have come, and
// returns their status lines' codes and bodies in order; fewer if the peer stops first.
std::vector<std::pair<int, std::string>> ReadResponses(Raw& raw, std::size_t n) {
  std::vector<std::pair<int, std::string>> out;
  std::string buffer;
  bool closed = false;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    const auto head_end = buffer.find("\r\n\r\n");
    const auto length_at = buffer.find("Content-Length: ");
    if (head_end != std::string::npos && length_at != std::string::npos && length_at < head_end) {
      const std::size_t length = std::stoul(buffer.substr(length_at + 16));
      if (buffer.size() >= head_end + 4 + length) {
        out.emplace_back(std::stoi(buffer.substr(9, 3)), buffer.substr(head_end + 4, length));
        buffer.erase(0, head_end + 4 + length);
        continue;
      }
    }
    if (closed) break;  // and what came before the close is parsed
    buffer += raw.ReadSome(100ms, &closed);
  }
  return out;
}

// A keep-alive client is served in order whatever its pacing: requests pipelined in one
// write, a head or a body split across writes with pauses longer than the worker waits,
// worker and inline routes mixed, hundreds in a row on one socket, then garbage.
TEST_F(ServerTest, AKeepAliveConnectionIsServedInOrderWhateverItsPacing) {
  Raw raw(server_->port());
  ASSERT_TRUE(raw.connected());
  const std::string host = " HTTP/1.1\r\nHost: x\r\n";
  ASSERT_TRUE(raw.Send("GET /echo/a" + host + "\r\nGET /fast" + host + "\r\nPOST /echo/b" + host +
                       "Content-Length: 4\r\n\r\nbodyGET /echo/c?q=1" + host + "\r\n"));
  const std::vector<std::pair<int, std::string>> pipelined{
      {200, "a|"}, {200, "fast"}, {200, "body"}, {200, "c|1"}};
  EXPECT_EQ(ReadResponses(raw, 4), pipelined);

  ASSERT_TRUE(raw.Send("GET /echo/sp"));
  std::this_thread::sleep_for(30ms);
  ASSERT_TRUE(raw.Send("lit" + host + "\r\n"));
  const std::vector<std::pair<int, std::string>> split_head{{200, "split|"}};
  EXPECT_EQ(ReadResponses(raw, 1), split_head);

  ASSERT_TRUE(raw.Send("POST /echo/x" + host + "Content-Length: 6\r\n\r\nhal"));
  std::this_thread::sleep_for(30ms);
  ASSERT_TRUE(raw.Send("ves"));
  const std::vector<std::pair<int, std::string>> split_body{{200, "halves"}};
  EXPECT_EQ(ReadResponses(raw, 1), split_body);

  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(raw.Send("GET /echo/n" + std::to_string(i) + host + "\r\n"));
    const auto answer = ReadResponses(raw, 1);
    ASSERT_EQ(answer.size(), 1u) << "request " << i;
    EXPECT_EQ(answer[0].second, "n" + std::to_string(i) + "|");
  }

  ASSERT_TRUE(raw.Send("GET /echo/%zz" + host + "\r\nNOT HTTP\r\n\r\n"));
  const auto bad = ReadResponses(raw, 2);
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(bad[0].first, 400);
  EXPECT_EQ(bad[1].first, 400);
  bool closed = false;
  raw.ReadAll(5s, &closed);
  EXPECT_TRUE(closed) << "a malformed request ends the connection";
  EXPECT_EQ(server_->in_flight(), 0u);
}

// Shutdown closes a keep-alive connection a worker has just served and may still hold.
TEST_F(ServerTest, ShutdownClosesAConnectionAWorkerJustServed) {
  Raw raw(server_->port());
  ASSERT_TRUE(raw.Send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(ReadResponses(raw, 1).size(), 1u);
  server_->Shutdown(5s);
  bool closed = false;
  raw.ReadAll(5s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(server_->in_flight(), 0u);
}

// A server with short deadlines, one worker and few connections, for the tests below.
class TightServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Router router;
    router.Add("GET", "/work", [](const Request&) { return Response::Text(200, "worked"); });
    router.Add("GET", "/block", [this](const Request&) {
      release_.wait();
      return Response::Text(200, "released");
    });
    router.Add(
        "GET", "/livez", [](const Request&) { return Response::Text(200, "ok"); },
        Dispatch::kInline);
    router.Add("POST", "/body", [](const Request& r) { return Response::Text(200, r.body); });
    ServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    options.max_connections = 20;
    options.header_timeout = 300ms;
    options.body_timeout = 300ms;
    options.idle_timeout = 500ms;
    options.workers = 1;
    options.max_queued = 1;
    server_ = std::make_unique<Server>(options, std::move(router), nullptr);
    server_->Start();
  }
  void TearDown() override {
    released_.set_value();
    server_->Shutdown(5s);
  }

  std::promise<void> released_;
  std::shared_future<void> release_ = released_.get_future().share();
  std::unique_ptr<Server> server_;
};

TEST_F(TightServerTest, ASocketThatSendsNothingIsClosedAtTheHeaderDeadline) {
  Raw idle(server_->port());
  bool closed = false;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(idle.ReadAll(5s, &closed), "");
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(TightServerTest, AHeadTrickledByteByByteIsCutAtTheDeadline) {
  Raw slow(server_->port());
  const std::string head = "GET /work HTTP/1.1\r\nHost: x\r\nX-Padding: ";
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  for (char c : head + std::string(200, 'a')) {
    if (!slow.Send(std::string(1, c))) break;
    if (!slow.ReadAll(20ms, &closed).empty() || closed) break;
  }
  EXPECT_TRUE(closed) << "still open after trickling for "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - start)
                             .count()
                      << " ms";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(TightServerTest, ABodyThatNeverArrivesIsCutAtTheBodyDeadline) {
  Raw raw(server_->port());
  raw.Send("POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b");
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  EXPECT_EQ(raw.ReadAll(5s, &closed), "");
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  // The stream closes the socket at the deadline; the read's completion, which ends the
  // request, runs just after, so the client can see the close first.
  EXPECT_TRUE(InFlightBecomes(*server_, 0u)) << server_->in_flight();
}

TEST_F(TightServerTest, AtTheBoundTheLongestIdleConnectionMakesRoom) {
  std::vector<std::unique_ptr<Raw>> idle;
  for (int i = 0; i < 20; ++i) {
    idle.push_back(std::make_unique<Raw>(server_->port()));
    ASSERT_TRUE(idle.back()->connected());
  }
  // The 21st connection is served: the oldest idle socket is shed for it.
  Raw fresh(server_->port());
  fresh.Send("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(fresh.ReadAll(2s).rfind("HTTP/1.1 200", 0), 0u);
  bool closed = false;
  idle.front()->ReadAll(200ms, &closed);
  EXPECT_TRUE(closed) << "the longest-idle connection was not the one shed";
  EXPECT_LE(server_->connections(), 20u);
}

TEST_F(TightServerTest, InlineRoutesAnswerWhenEveryWorkerIsBusy) {
  auto blocked =
      std::async(std::launch::async, [this] { return Call(server_->port(), "GET", "/block"); });
  for (int i = 0; i < 500 && server_->in_flight() == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(server_->in_flight(), 1u);
  // The one worker is stuck; /livez still answers at once.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Call(server_->port(), "GET", "/livez").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  // One request may wait for the worker; one more is refused at once, not queued forever.
  auto queued =
      std::async(std::launch::async, [this] { return Call(server_->port(), "GET", "/work"); });
  for (int i = 0; i < 500 && server_->in_flight() < 2; ++i) std::this_thread::sleep_for(10ms);
  const Answer refused = Call(server_->port(), "GET", "/work");
  EXPECT_EQ(refused.status, 503);
  EXPECT_NE(refused.body.find("\"code\":\"Overloaded\""), std::string::npos) << refused.body;
  released_.set_value();
  released_ = std::promise<void>();  // TearDown's set_value goes to a fresh promise
  EXPECT_EQ(blocked.get().body, "released");
  EXPECT_EQ(queued.get().body, "worked");
}

TEST_F(ServerTest, ConnectionsDoNotCostAThreadEach) {
  EXPECT_EQ(Call(server_->port(), "GET", "/fast").status, 200);  // the client's own threads
  const int before = ThreadCount();
  std::vector<std::unique_ptr<Raw>> idle;
  for (int i = 0; i < 300; ++i) idle.push_back(std::make_unique<Raw>(server_->port()));
  EXPECT_EQ(Call(server_->port(), "GET", "/fast").status, 200);
  EXPECT_LT(ThreadCount() - before, 20) << "threads grew with connections";
}

}  // namespace
}  // namespace poolguard::http
