// The deadline-bounded HTTP client: ResponseParser fed byte by byte, and Get, TcpConnect
// and Connection against real sockets on loopback (the common server, and a raw server that
// sends exactly the bytes a test gives it).

#include "poolguard/common/http_client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "poolguard/common/http_server.h"

namespace poolguard::http {
namespace {

using namespace std::chrono_literals;

GetOptions In(std::chrono::milliseconds timeout) {
  GetOptions options;
  options.timeout = timeout;
  return options;
}

// A port nothing listens on: bound, never listened, closed (the kernel refuses connects).
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// ---- ResponseParser -------------------------------------------------------------------

// Feeds `bytes` one byte at a time: the parser must give the same answer as for one piece.
ResponseParser::State FeedBytewise(ResponseParser& parser, std::string_view bytes) {
  for (const char c : bytes) parser.Feed(std::string_view(&c, 1));
  return parser.state();
}

TEST(ResponseParser, ContentLengthWholeOrByteByByte) {
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  ResponseParser whole;
  EXPECT_EQ(whole.Feed(response), ResponseParser::State::kComplete);
  EXPECT_EQ(whole.status(), 200);
  EXPECT_EQ(whole.body(), "hello");
  EXPECT_TRUE(whole.keep_alive());

  ResponseParser bytewise;
  EXPECT_EQ(FeedBytewise(bytewise, response), ResponseParser::State::kComplete);
  EXPECT_EQ(bytewise.body(), "hello");
}

TEST(ResponseParser, ChunkedWithExtensionsAndTrailersByteByByte) {
  const std::string response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
      "5\r\nhello\r\n6;name=value\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
  ResponseParser parser;
  EXPECT_EQ(FeedBytewise(parser, response), ResponseParser::State::kComplete);
  EXPECT_EQ(parser.body(), "hello world");
}

TEST(ResponseParser, SkipsInterimResponses) {
  ResponseParser parser;
  EXPECT_EQ(parser.Feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
            ResponseParser::State::kComplete);
  EXPECT_EQ(parser.status(), 404);
  EXPECT_EQ(parser.body(), "");
}

TEST(ResponseParser, NoBodyStatusesAndZeroLengthCompleteAtTheHead) {
  for (const char* head : {"HTTP/1.1 204 No Content\r\n\r\n",
                           "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
                           "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"}) {
    ResponseParser parser;
    EXPECT_EQ(parser.Feed(head), ResponseParser::State::kComplete) << head;
  }
}

TEST(ResponseParser, BodyToTheCloseCompletesOnlyAtFinish) {
  ResponseParser parser;
  EXPECT_EQ(parser.Feed("HTTP/1.0 200 OK\r\n\r\nall "), ResponseParser::State::kIncomplete);
  EXPECT_EQ(parser.Feed("of it"), ResponseParser::State::kIncomplete);
  EXPECT_EQ(parser.Finish(), ResponseParser::State::kComplete);
  EXPECT_EQ(parser.body(), "all of it");
  EXPECT_FALSE(parser.keep_alive());
}

TEST(ResponseParser, KeepAliveFollowsTheVersionAndConnectionHeader) {
  auto keep = [](const std::string& head) {
    ResponseParser parser;
    parser.Feed(head + "Content-Length: 0\r\n\r\n");
    return parser.keep_alive();
  };
  EXPECT_TRUE(keep("HTTP/1.1 200 OK\r\n"));
  EXPECT_FALSE(keep("HTTP/1.1 200 OK\r\nConnection: Close\r\n"));
  EXPECT_FALSE(keep("HTTP/1.0 200 OK\r\n"));
  EXPECT_TRUE(keep("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"));
}

TEST(ResponseParser, BytesAfterTheResponseAreCountedNotKept) {
  ResponseParser parser;
  EXPECT_EQ(parser.Feed("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 3\r\n\r\nnot ready"),
            ResponseParser::State::kComplete);
  EXPECT_EQ(parser.body(), "not");
  EXPECT_EQ(parser.extra(), 6u);
  EXPECT_EQ(parser.Feed("more"), ResponseParser::State::kComplete);
  EXPECT_EQ(parser.body(), "not");
}

TEST(ResponseParser, MalformedInputs) {
  for (const std::string bytes :
       {"SSH-2.0-OpenSSH_9.2\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY"}) {
    ResponseParser parser;
    EXPECT_EQ(parser.Feed(bytes), ResponseParser::State::kMalformed) << bytes;
    EXPECT_FALSE(parser.error().empty()) << bytes;
  }
}

TEST(ResponseParser, AnUnfinishedResponseIsMalformedAtTheClose) {
  for (const std::string bytes :
       {"HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"}) {
    ResponseParser parser;
    EXPECT_EQ(parser.Feed(bytes), ResponseParser::State::kIncomplete) << bytes;
    EXPECT_EQ(parser.Finish(), ResponseParser::State::kMalformed) << bytes;
  }
}

TEST(ResponseParser, BoundsTheHeadTheChunkLinesAndTheBody) {
  ResponseParser head;
  EXPECT_EQ(head.Feed("HTTP/1.1 200 OK\r\nX: " + std::string(70 * 1024, 'a')),
            ResponseParser::State::kMalformed);

  ResponseParser line;
  EXPECT_EQ(
      line.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(5000, '0')),
      ResponseParser::State::kMalformed);

  ResponseParser length(10);
  EXPECT_EQ(length.Feed("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789X"),
            ResponseParser::State::kTooLarge);
  EXPECT_EQ(length.status(), 200);
  EXPECT_EQ(length.body(), "0123456789");  // what fits, for a caller that truncates

  ResponseParser chunk(10);
  EXPECT_EQ(chunk.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\n"),
            ResponseParser::State::kTooLarge);

  ResponseParser to_close(10);
  EXPECT_EQ(to_close.Feed("HTTP/1.0 200 OK\r\n\r\n" + std::string(11, 'x')),
            ResponseParser::State::kTooLarge);
}

TEST(ResponseParser, AHugeChunkSizeIsTooLargeNotAnOverflow) {
  ResponseParser parser;
  EXPECT_NE(parser.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "FFFFFFFFFFFFFFFFFFFF\r\n"),
            ResponseParser::State::kIncomplete);
}

// ---- against sockets ------------------------------------------------------------------

// A server on a loopback socket that answers one connection with raw bytes, sent in
// `pieces`, then keeps the connection open (keep_open) or closes it.
class RawServer {
 public:
  RawServer(std::vector<std::string> pieces, bool keep_open)
      : pieces_(std::move(pieces)), keep_open_(keep_open) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listen_fd_, 4) != 0) {
      throw std::runtime_error("cannot listen");
    }
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~RawServer() {
    stop_ = true;
    thread_.join();
    close(listen_fd_);
  }
  int port() const { return port_; }
  std::string request() {
    std::lock_guard lock(mutex_);
    return request_;
  }

 private:
  bool WaitReadable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) > 0) return true;
    }
    return false;
  }
  void Serve() {
    if (!WaitReadable(listen_fd_)) return;
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;
    std::string got;
    char buffer[4096];
    while (got.find("\r\n\r\n") == std::string::npos && WaitReadable(fd)) {
      const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      got.append(buffer, static_cast<size_t>(n));
    }
    {
      std::lock_guard lock(mutex_);
      request_ = got;
    }
    for (const auto& piece : pieces_) {
      if (send(fd, piece.data(), piece.size(), MSG_NOSIGNAL) < 0) break;
      std::this_thread::sleep_for(5ms);  // separate segments, so the client parses partial data
    }
    if (keep_open_) {
      while (!stop_) std::this_thread::sleep_for(20ms);
    }
    close(fd);
  }

  std::vector<std::string> pieces_;
  bool keep_open_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::string request_;
  std::thread thread_;
};

class HttpClient : public ::testing::Test {
 protected:
  void SetUp() override {
    Router router;
    router.Add("GET", "/ok", [](const Request& request) {
      auto it = request.query.find("x");
      return Response::Text(200, "hello " + (it == request.query.end() ? "" : it->second));
    });
    router.Add("GET", "/down", [](const Request&) { return Response::Text(503, "unavailable"); });
    router.Add("GET", "/slow", [](const Request&) {
      std::this_thread::sleep_for(1500ms);
      return Response::Text(200, "late");
    });
    router.Add("GET", "/big",
               [](const Request&) { return Response::Text(200, std::string(100 * 1024, 'b')); });
    ServerOptions options;
    options.address = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<Server>(options, std::move(router), nullptr);
    server_->Start();
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override { server_->Shutdown(5s); }

  std::unique_ptr<Server> server_;
  std::string base_;
};

TEST_F(HttpClient, TcpConnectSucceedsOnAListenerAndIsRefusedOnAClosedPort) {
  EXPECT_TRUE(TcpConnect("127.0.0.1", server_->port(), 5s).connected);

  const auto start = std::chrono::steady_clock::now();
  const ConnectOutcome closed = TcpConnect("127.0.0.1", ClosedPort(), 5s);
  EXPECT_FALSE(closed.connected);
  EXPECT_FALSE(closed.timed_out);
  EXPECT_NE(closed.error.find("connection refused"), std::string::npos) << closed.error;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // refused, not timed out

  EXPECT_FALSE(TcpConnect("", 80, 1s).connected);
}

TEST_F(HttpClient, GetReturnsStatusAndBody) {
  ClientResponse ok = Get(base_ + "/ok?x=world", In(10s));
  EXPECT_EQ(ok.status, 200) << ok.error;
  EXPECT_EQ(ok.body, "hello world");
  EXPECT_FALSE(ok.timed_out);
  EXPECT_TRUE(ok.error.empty()) << ok.error;

  ClientResponse down = Get(base_ + "/down", In(10s));
  EXPECT_EQ(down.status, 503) << down.error;
  EXPECT_EQ(down.body, "unavailable");

  ClientResponse missing = Get(base_ + "/nothing", In(10s));
  EXPECT_EQ(missing.status, 404) << missing.error;

  const std::string by_name = "http://localhost:" + std::to_string(server_->port()) + "/ok";
  ClientResponse named = Get(by_name, In(10s));
  EXPECT_EQ(named.status, 200) << named.error;
}

TEST_F(HttpClient, GetTimesOutOnAStuckHandler) {
  ClientResponse slow = Get(base_ + "/slow", In(200ms));
  EXPECT_EQ(slow.status, 0);
  EXPECT_TRUE(slow.timed_out);
  EXPECT_TRUE(slow.connected);  // accepted, then mute: a hung process, not a network
  EXPECT_FALSE(slow.error.empty());
}

TEST_F(HttpClient, GetReportsARefusedConnection) {
  ClientResponse refused =
      Get("http://127.0.0.1:" + std::to_string(ClosedPort()) + "/health", In(5s));
  EXPECT_EQ(refused.status, 0);
  EXPECT_FALSE(refused.timed_out);
  EXPECT_FALSE(refused.connected);
  EXPECT_NE(refused.error.find("connection refused"), std::string::npos) << refused.error;
}

TEST_F(HttpClient, GetRejectsMalformedUrls) {
  for (const std::string url :
       {"", "https://127.0.0.1/", "ftp://x/", "http://", "http:///path", "http://host:0/",
        "http://host:99999/", "http://host:port/", "http://user:pw@host/", "http://[::1/",
        "http://host/a b", "http://host/a\r\nX: y"}) {
    ClientResponse r = Get(url, In(1s));
    EXPECT_EQ(r.status, 0) << url;
    EXPECT_FALSE(r.timed_out) << url;
    EXPECT_NE(r.error.find("malformed URL"), std::string::npos) << url << ": " << r.error;
  }
}

TEST_F(HttpClient, GetSendsAnHttp10RequestWithTheHost) {
  RawServer raw({"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}, false);
  const std::string host = "127.0.0.1:" + std::to_string(raw.port());
  ClientResponse r = Get("http://" + host + "?a=1&b=2#fragment", In(10s));
  EXPECT_EQ(r.status, 200) << r.error;
  const std::string request = raw.request();
  EXPECT_EQ(request.rfind("GET /?a=1&b=2 HTTP/1.0\r\n", 0), 0u) << request;
  EXPECT_NE(request.find("\r\nHost: " + host + "\r\n"), std::string::npos) << request;
  EXPECT_NE(request.find("\r\nConnection: close\r\n"), std::string::npos) << request;
}

TEST_F(HttpClient, GetDecodesAChunkedBodyWithoutWaitingForTheClose) {
  RawServer raw({"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n",
                 "\r\n5\r\nhel", "lo\r\n6;name=value\r\n world\r\n", "A\r\n0123456789\r\n0\r\n",
                 "X-Trailer: 1\r\n\r\n"},
                true);
  ClientResponse r = Get("http://127.0.0.1:" + std::to_string(raw.port()) + "/", In(30s));
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, "hello world0123456789");
  EXPECT_FALSE(r.timed_out);
}

TEST_F(HttpClient, GetUsesContentLengthWithoutWaitingForTheClose) {
  RawServer raw({"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 11\r\n\r\nnot ", "ready",
                 "!!extra bytes"},
                true);
  ClientResponse r = Get("http://127.0.0.1:" + std::to_string(raw.port()) + "/", In(30s));
  EXPECT_EQ(r.status, 503) << r.error;
  EXPECT_EQ(r.body, "not ready!!");
}

TEST_F(HttpClient, GetReadsABodyDelimitedByTheClose) {
  RawServer raw({"HTTP/1.0 200 OK\r\n\r\nall ", "of it"}, false);
  ClientResponse r = Get("http://127.0.0.1:" + std::to_string(raw.port()) + "/", In(30s));
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, "all of it");
}

TEST_F(HttpClient, GetTimesOutOnAnIncompleteResponse) {
  RawServer raw({"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"}, true);
  ClientResponse r = Get("http://127.0.0.1:" + std::to_string(raw.port()) + "/", In(300ms));
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(r.timed_out);
}

TEST_F(HttpClient, GetReportsMalformedResponses) {
  for (const std::vector<std::string>& pieces : std::vector<std::vector<std::string>>{
           {"SSH-2.0-OpenSSH_9.2\r\n\r\n"},
           {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
           {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"},  // then closed
           {"HTTP/1.1 200 OK\r\n"}}) {
    RawServer raw(pieces, false);
    ClientResponse r = Get("http://127.0.0.1:" + std::to_string(raw.port()) + "/", In(30s));
    EXPECT_EQ(r.status, 0) << pieces.front();
    EXPECT_FALSE(r.timed_out) << pieces.front();
    EXPECT_NE(r.error.find("response"), std::string::npos) << r.error;
  }
}

TEST_F(HttpClient, GetSendsTheGivenHeadersAndRefusesInjectedOnes) {
  RawServer raw({"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}, false);
  GetOptions options = In(10s);
  options.headers = {{"X-Probe", "1"}};
  options.user_agent = "kube-probe/test";
  ClientResponse r = Get("http://127.0.0.1:" + std::to_string(raw.port()) + "/", options);
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_NE(raw.request().find("\r\nX-Probe: 1\r\n"), std::string::npos) << raw.request();
  EXPECT_NE(raw.request().find("\r\nUser-Agent: kube-probe/test\r\n"), std::string::npos);

  options.headers = {{"X-Bad", "a\r\nInjected: yes"}};
  ClientResponse bad = Get(base_ + "/ok", options);
  EXPECT_EQ(bad.status, 0);
  EXPECT_NE(bad.error.find("invalid request header"), std::string::npos) << bad.error;
}

TEST_F(HttpClient, GetFailsOrTruncatesABodyOverTheLimit) {
  GetOptions options = In(10s);
  options.max_body_bytes = 1024;
  ClientResponse failed = Get(base_ + "/big", options);
  EXPECT_EQ(failed.status, 0);
  EXPECT_NE(failed.error.find("response body over 1024 bytes"), std::string::npos) << failed.error;

  options.truncate_body = true;
  ClientResponse cut = Get(base_ + "/big", options);
  EXPECT_EQ(cut.status, 200) << cut.error;
  EXPECT_TRUE(cut.truncated);
  EXPECT_EQ(cut.body.size(), 1024u);
}

TEST_F(HttpClient, GetKeepsItsDeadlineWhileBytesTrickleIn) {
  std::vector<std::string> pieces = {"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"};
  for (int i = 0; i < 400; ++i) pieces.push_back("x");  // 5 ms apart: 2 s in all
  RawServer raw(pieces, true);
  const auto start = std::chrono::steady_clock::now();
  ClientResponse r = Get("http://127.0.0.1:" + std::to_string(raw.port()) + "/", In(300ms));
  EXPECT_TRUE(r.timed_out) << r.error;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
}

TEST_F(HttpClient, ConnectionReusesOneSocketForManyRequests) {
  Connection connection("127.0.0.1", server_->port());
  for (int i = 0; i < 5; ++i) {
    ClientResponse r = connection.Get("/ok?x=" + std::to_string(i), 10s);
    EXPECT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, "hello " + std::to_string(i));
  }
}

TEST_F(HttpClient, ConnectionShutdownWakesABlockedGetAndRefusesMore) {
  Connection connection("127.0.0.1", server_->port());
  std::thread stopper([&] {
    std::this_thread::sleep_for(200ms);
    connection.Shutdown();
  });
  const auto start = std::chrono::steady_clock::now();
  ClientResponse slow = connection.Get("/slow", 10s);
  stopper.join();
  EXPECT_EQ(slow.status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1400ms);  // before /slow answers
  ClientResponse after = connection.Get("/ok", 10s);
  EXPECT_EQ(after.status, 0);
  EXPECT_NE(after.error.find("shut down"), std::string::npos) << after.error;
}

}  // namespace
}  // namespace poolguard::http
