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

/// Handlers may block (database work): each connection has a thread of its own, so a
/// stuck request never delays another connection's /metrics or /livez.
using Handler = std::function<Response(const Request&)>;

/// Maps (method, path) to a handler through route templates such as "/items/{id}".
/// Not thread-safe to modify; safe to query concurrently once built.
class Router {
 public:
  struct Route {
    std::string method;
    std::string path_template;
    std::vector<std::string> segments;
    Handler handler;
  };

  enum class MatchStatus { kFound, kNotFound, kMethodNotAllowed };

  struct Match {
    MatchStatus status = MatchStatus::kNotFound;
    const Route* route = nullptr;
    std::map<std::string, std::string> params;
    std::vector<std::string> allowed_methods;  // set for kMethodNotAllowed
  };

  void Add(std::string method, std::string path_template, Handler handler);
  Match Find(std::string_view method, std::string_view path) const;

 private:
  std::vector<Route> routes_;
};

struct ServerOptions {
  std::string address = "0.0.0.0";
  std::uint16_t port = 8000;              // 0: pick a free port (see port())
  std::size_t max_body_bytes = 1 << 20;   // larger bodies get 413
  std::size_t max_connections = 1024;     // beyond this, new connections get 503
  std::chrono::seconds idle_timeout{60};  // a keep-alive connection idle this long closes
};

/// An HTTP/1.1 server on Boost.Beast: one thread per connection (handlers may block),
/// keep-alive, request metrics (http_requests_total{method,route,code},
/// http_request_duration_seconds{route}) and bounded graceful shutdown. Thread-safe.
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
  /// Stops taking new requests (they get 503), waits up to `grace` for in-flight ones,
  /// then closes the listener. Idempotent.
  void Shutdown(std::chrono::milliseconds grace);
  std::size_t in_flight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Renders `registry` in the Prometheus text exposition format.
Response MetricsResponse(const prometheus::Registry& registry);

/// Parses a decimal integer query parameter within [min, max]; nullopt when absent.
/// Throws std::invalid_argument with a message naming the parameter otherwise.
std::optional<long long> IntParam(const Request& request, const std::string& name, long long min,
                                  long long max);

}  // namespace poolguard::http
