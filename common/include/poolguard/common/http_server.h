#pragma once

#include <cpprest/json.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace prometheus {
class Registry;
}

namespace poolguard::http {

/// What a handler sees: already decoded, body read and size-checked.
struct Request {
  std::string method;
  std::string path;
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> params;  // from the route template, e.g. {id}
  std::string body;
  std::string content_type;
  std::string authorization;  // the Authorization header, as sent ("" if none)
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;

  static Response Json(int status, const web::json::value& value);
  /// A JSON error: {"error": {"code": code, "message": message}}.
  static Response Error(int status, std::string_view code, std::string_view message);
  static Response Text(int status, std::string body,
                       std::string content_type = "text/plain; charset=utf-8");
};

/// Handlers may block (database work): they run on the server's worker pool, off the
/// threads that read and write sockets, unless their route is added with kInline.
using Handler = std::function<Response(const Request&)>;

/// Where a route's handler runs.
enum class Dispatch {
  kWorker,  // on the bounded worker pool: may block (database work)
  kInline,  // on the I/O thread, at once: must not block (/livez, /metrics); answered even
            // when every worker is busy
};

/// Decodes %XX escapes (and nothing else: '+' stays '+'). nullopt when a '%' is not followed
/// by two hex digits, so that "/items/%zz" is a clear 400, not an exception.
std::optional<std::string> PercentDecode(std::string_view text);

/// A request target's query ("a=1&b=x%20y") as decoded pairs (the last of a repeated name
/// wins); nullopt with `error` naming the pair when a percent-escape is malformed.
std::optional<std::map<std::string, std::string>> ParseQuery(std::string_view query,
                                                             std::string* error);

/// Maps (method, path) to a handler through route templates such as "/items/{id}".
/// Not thread-safe to modify; safe to query concurrently once built.
class Router {
 public:
  struct Route {
    std::string method;
    std::string path_template;
    std::vector<std::string> segments;
    Handler handler;
    Dispatch dispatch = Dispatch::kWorker;
  };

  enum class MatchStatus { kFound, kNotFound, kMethodNotAllowed, kBadPath };

  struct Match {
    MatchStatus status = MatchStatus::kNotFound;
    const Route* route = nullptr;
    std::map<std::string, std::string> params;
    std::vector<std::string> allowed_methods;  // set for kMethodNotAllowed
    std::string error;                         // set for kBadPath
  };

  void Add(std::string method, std::string path_template, Handler handler,
           Dispatch dispatch = Dispatch::kWorker);
  /// Never throws: a path parameter that does not percent-decode is kBadPath.
  Match Find(std::string_view method, std::string_view path) const;

 private:
  std::vector<Route> routes_;
};

struct ServerOptions {
  std::string address = "0.0.0.0";
  std::uint16_t port = 8000;             // 0: pick a free port (see port())
  std::size_t max_body_bytes = 1 << 20;  // larger bodies get 413
  /// Open connections at most. At the bound a new connection sheds the one that has sent
  /// nothing for the longest (an idle keep-alive or a socket that never sent a request);
  /// when every connection is inside a request, the new one gets 503 and is closed.
  std::size_t max_connections = 10000;
  /// Deadlines: a new connection's request head (and a keep-alive connection's next one,
  /// if it started), the body once the head is in, a keep-alive connection's wait for its
  /// next request, and writing an answer.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};
  /// Threads that read and write sockets (and run kInline handlers).
  int io_threads = 2;
  /// Threads that run kWorker handlers, and the requests that may wait for one; a request
  /// beyond that is answered 503 at once.
  int workers = 64;
  std::size_t max_queued = 4096;
  /// How long a worker that has just answered waits for the same connection's next request
  /// before handing the connection back to the I/O threads. A busy keep-alive client is then
  /// served by one thread without a hand-off per request; 0 hands back at once.
  std::chrono::microseconds worker_linger{2'000};
};

/// An HTTP/1.1 server on Boost.Beast and Asio, event-driven: no thread per connection, a
/// deadline on every phase, a bound on connections with fair shedding, TCP keepalive,
/// handlers on a bounded worker pool (kInline ones on the I/O thread), keep-alive, request
/// metrics (http_requests_total{method,route,code}, http_request_duration_seconds{route})
/// and bounded graceful shutdown. No request or socket pattern ends it: every malformed
/// request gets a 4xx JSON answer, every handler exception a 500. Thread-safe.
class Server {
 public:
  /// `metrics` may be null; otherwise it must outlive the server.
  Server(ServerOptions options, Router router, prometheus::Registry* metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Starts listening; throws std::runtime_error naming the address on failure.
  void Start();
  /// The port listened on (useful with port 0).
  std::uint16_t port() const;
  /// Stops accepting and taking new requests, closes idle connections, waits up to `grace`
  /// for requests in flight, then closes everything. Idempotent.
  void Shutdown(std::chrono::milliseconds grace);
  /// Requests being handled or answered now.
  std::size_t in_flight() const;
  /// Open connections now.
  std::size_t connections() const;

  /// The state behind the server, shared with its connections (http_server.cc).
  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

/// Renders `registry` in the Prometheus text exposition format.
Response MetricsResponse(const prometheus::Registry& registry);

/// Parses a decimal integer query parameter within [min, max]; nullopt when absent.
/// Throws std::invalid_argument with a message naming the parameter otherwise.
std::optional<long long> IntParam(const Request& request, const std::string& name, long long min,
                                  long long max);

}  // namespace poolguard::http
