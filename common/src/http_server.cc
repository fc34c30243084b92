#include "poolguard/common/http_server.h"

#include <cpprest/base_uri.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <tuple>

#include "poolguard/common/json_util.h"

namespace poolguard::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> segments;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) segments.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

bool IsParam(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// Keeps the method label's cardinality bounded whatever clients send.
std::string MethodLabel(const std::string& method) {
  static const char* kKnown[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  for (const char* known : kKnown) {
    if (method == known) return method;
  }
  return "OTHER";
}

}  // namespace

Response Response::Json(int status, const web::json::value& value) {
  Response r;
  r.status = status;
  r.body = value.serialize();
  return r;
}

Response Response::Error(int status, std::string_view code, std::string_view message) {
  return Json(status, json::ErrorBody(code, message));
}

Response Response::Text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

void Router::Add(std::string method, std::string path_template, Handler handler) {
  Route route;
  route.method = std::move(method);
  route.segments = SplitPath(path_template);
  route.path_template = std::move(path_template);
  route.handler = std::move(handler);
  routes_.push_back(std::move(route));
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match match;
  const std::vector<std::string> segments = SplitPath(path);
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> params;
    bool same = true;
    for (std::size_t i = 0; i < segments.size() && same; ++i) {
      if (IsParam(route.segments[i])) {
        params[route.segments[i].substr(1, route.segments[i].size() - 2)] =
            web::uri::decode(segments[i]);
      } else {
        same = route.segments[i] == segments[i];
      }
    }
    if (!same) continue;
    if (route.method == method) {
      match.status = MatchStatus::kFound;
      match.route = &route;
      match.params = std::move(params);
      match.allowed_methods.clear();
      return match;
    }
    match.status = MatchStatus::kMethodNotAllowed;
    match.allowed_methods.push_back(route.method);
  }
  return match;
}

// One accepted connection, served by a thread of its own.
struct Session {
  tcp::socket socket;
  std::atomic<bool> in_request{false};
  explicit Session(tcp::socket s) : socket(std::move(s)) {}
};

struct Server::Impl {
  ServerOptions options;
  Router router;
  prometheus::Family<prometheus::Counter>* requests = nullptr;
  prometheus::Family<prometheus::Histogram>* durations = nullptr;

  asio::io_context io;  // owns the sockets; all I/O here is synchronous
  std::unique_ptr<tcp::acceptor> acceptor;
  std::uint16_t bound_port = 0;
  std::thread accept_thread;
  std::atomic<bool> draining{false};
  std::atomic<std::size_t> in_flight{0};
  bool closed = false;

  std::mutex mutex;
  std::condition_variable sessions_changed;
  std::set<Session*> sessions;

  void AcceptLoop();
  void Serve(std::unique_ptr<Session> session);
  Response Handle(const std::string& method, std::string_view target,
                  const std::string& content_type, std::string body, std::string* route_label);
  void Record(const std::string& method, const std::string& route, int status,
              std::chrono::steady_clock::time_point start);
};

void Server::Impl::Record(const std::string& method, const std::string& route, int status,
                          std::chrono::steady_clock::time_point start) {
  if (requests == nullptr) return;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // prometheus-cpp's Family::Add locks and hashes the labels; each connection thread keeps
  // the series it has used, so the hot path takes no shared lock.
  struct Series {
    prometheus::Counter* count;
    prometheus::Histogram* duration;
  };
  thread_local std::map<std::tuple<const Impl*, std::string, std::string, int>, Series> cache;
  auto key = std::make_tuple(static_cast<const Impl*>(this), MethodLabel(method), route, status);
  auto it = cache.find(key);
  if (it == cache.end()) {
    Series series{
        &requests->Add(
            {{"method", std::get<1>(key)}, {"route", route}, {"code", std::to_string(status)}}),
        &durations->Add({{"route", route}},
                        prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.025, 0.05,
                                                                0.1, 0.25, 0.5, 1, 2.5, 3, 5, 10})};
    it = cache.emplace(std::move(key), series).first;
  }
  it->second.count->Increment();
  it->second.duration->Observe(seconds);
}

Response Server::Impl::Handle(const std::string& method, std::string_view target,
                              const std::string& content_type, std::string body,
                              std::string* route_label) {
  *route_label = "unmatched";
  const auto question = target.find('?');
  const std::string path(target.substr(0, question));
  const std::string query =
      question == std::string_view::npos ? "" : std::string(target.substr(question + 1));
  Router::Match match = router.Find(method, path);
  if (match.status == Router::MatchStatus::kNotFound) {
    return Response::Error(404, "NotFound", "no route for " + path);
  }
  if (match.status == Router::MatchStatus::kMethodNotAllowed) {
    std::string allowed;
    for (const auto& m : match.allowed_methods) allowed += (allowed.empty() ? "" : ", ") + m;
    Response r =
        Response::Error(405, "MethodNotAllowed",
                        method + " is not allowed on " + path + " (allowed: " + allowed + ")");
    r.headers.emplace_back("Allow", allowed);
    return r;
  }
  const Router::Route* route = match.route;
  *route_label = route->path_template;
  Request request;
  request.method = method;
  request.path = path;
  request.params = std::move(match.params);
  request.content_type = content_type;
  request.body = std::move(body);
  try {
    for (auto& [key, value] : web::uri::split_query(query)) {
      request.query[web::uri::decode(key)] = web::uri::decode(value);
    }
  } catch (const std::exception& e) {
    return Response::Error(400, "BadQuery", std::string("malformed query string: ") + e.what());
  }
  try {
    return route->handler(request);
  } catch (const std::exception& e) {
    spdlog::error("http: handler for {} {} failed: {}", route->method, route->path_template,
                  e.what());
    return Response::Error(500, "InternalError", "internal error");
  }
}

// After refusing a request whose body we did not read, read and discard what the client is
// still sending (bounded), so it sees our answer rather than a connection reset.
void LingeringClose(tcp::socket& socket) {
  beast::error_code ec;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  timeval tv{1, 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::array<char, 65536> sink;
  std::size_t total = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (total < (64u << 20) && std::chrono::steady_clock::now() < deadline) {
    const std::size_t n = socket.read_some(asio::buffer(sink), ec);
    if (ec) break;
    total += n;
  }
}

void Server::Impl::Serve(std::unique_ptr<Session> session) {
  auto& socket = session->socket;
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  timeval tv{static_cast<time_t>(options.idle_timeout.count()), 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

  beast::flat_buffer buffer;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(options.max_body_bytes);
    bhttp::read_header(socket, buffer, parser, ec);
    const auto start = std::chrono::steady_clock::now();
    Response response;
    std::string route = "unmatched";
    std::string method = "OTHER";
    bool keep_alive = false;
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::would_block ||
        ec == asio::error::try_again || ec == asio::error::shut_down ||
        (ec && buffer.size() == 0 && !parser.got_some())) {
      break;  // the client went away, idled out, or we are shutting down
    }
    session->in_request = true;
    in_flight.fetch_add(1);
    if (!ec) {
      auto& header = parser.get();
      method = std::string(header.method_string());
      if (header[bhttp::field::expect] == "100-continue" && !parser.is_done()) {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, header.version()};
        bhttp::write(socket, cont, ec);
      }
      if (!ec && !parser.is_done()) bhttp::read(socket, buffer, parser, ec);
    }
    if (ec == bhttp::error::body_limit) {
      response = Response::Error(
          413, "PayloadTooLarge",
          "request body exceeds the limit of " + std::to_string(options.max_body_bytes) + " bytes");
    } else if (ec == bhttp::error::header_limit) {
      response = Response::Error(431, "HeadersTooLarge", "request headers exceed 16 KiB");
    } else if (ec) {
      response = Response::Error(400, "BadRequest", "malformed HTTP request: " + ec.message());
    } else if (draining) {
      response = Response::Error(503, "ShuttingDown", "the server is shutting down");
    } else {
      auto& request = parser.get();
      keep_alive = request.keep_alive();
      response = Handle(method, std::string_view(request.target().data(), request.target().size()),
                        std::string(request[bhttp::field::content_type]), std::move(request.body()),
                        &route);
      if (method == "HEAD") response.body.clear();
    }
    if (draining) keep_alive = false;
    bhttp::response<bhttp::string_body> reply{static_cast<bhttp::status>(response.status), 11};
    reply.set(bhttp::field::server, "poolguard");
    reply.set(bhttp::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) reply.set(name, value);
    reply.body() = std::move(response.body);
    reply.keep_alive(keep_alive);
    reply.prepare_payload();
    beast::error_code write_ec;
    bhttp::write(socket, reply, write_ec);
    Record(method, route, response.status, start);
    in_flight.fetch_sub(1);
    session->in_request = false;
    if (ec == bhttp::error::body_limit || ec == bhttp::error::header_limit) {
      LingeringClose(socket);
      break;
    }
    if (!keep_alive || write_ec || ec) break;
  }
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
  // The socket is destroyed before Shutdown can see this session gone: its reactor state
  // belongs to `io`, which ~Server destroys once the last session has left (destroying it
  // after was a double free, about one test run in twenty). And nothing of `this` is
  // touched after the notify, which happens under the lock for the same reason.
  Session* const gone = session.get();
  session.reset();
  std::lock_guard lock(mutex);
  sessions.erase(gone);
  sessions_changed.notify_all();
}

void Server::Impl::AcceptLoop() {
  const int fd = acceptor->native_handle();
  while (!draining) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;  // wake up regularly to notice draining
    beast::error_code ec;
    tcp::socket socket(io);
    acceptor->accept(socket, ec);
    if (ec) continue;
    auto session = std::make_unique<Session>(std::move(socket));
    {
      std::lock_guard lock(mutex);
      if (sessions.size() >= options.max_connections) {
        const std::string busy =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            "Connection: close\r\nContent-Length: 84\r\n\r\n"
            "{\"error\":{\"code\":\"Overloaded\",\"message\":\"too many connections; try again "
            "later\"}}";
        asio::write(session->socket, asio::buffer(busy), ec);
        session->socket.close(ec);
        continue;
      }
      sessions.insert(session.get());
    }
    std::thread([this, s = std::move(session)]() mutable { Serve(std::move(s)); }).detach();
  }
}

Server::Server(ServerOptions options, Router router, prometheus::Registry* metrics)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->router = std::move(router);
  if (metrics != nullptr) {
    impl_->requests =
        &prometheus::BuildCounter()
             .Name("http_requests_total")
             .Help("HTTP requests answered, by method, route template and status code")
             .Register(*metrics);
    impl_->durations = &prometheus::BuildHistogram()
                            .Name("http_request_duration_seconds")
                            .Help("Time from request to reply, by route template")
                            .Register(*metrics);
  }
}

Server::~Server() {
  Shutdown(std::chrono::milliseconds(0));
  std::lock_guard lock(impl_->mutex);
  if (!impl_->sessions.empty()) {
    // Detached connection threads still use the state; the process is exiting, so keep it.
    impl_.release();
  }
}

void Server::Start() {
  const std::string& address = impl_->options.address;
  try {
    const tcp::endpoint endpoint(asio::ip::make_address(address), impl_->options.port);
    impl_->acceptor = std::make_unique<tcp::acceptor>(impl_->io);
    impl_->acceptor->open(endpoint.protocol());
    impl_->acceptor->set_option(asio::socket_base::reuse_address(true));
    impl_->acceptor->bind(endpoint);
    impl_->acceptor->listen(asio::socket_base::max_listen_connections);
    impl_->bound_port = impl_->acceptor->local_endpoint().port();
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen on " + address + ":" +
                             std::to_string(impl_->options.port) + ": " + e.what());
  }
  impl_->accept_thread = std::thread([impl = impl_.get()] { impl->AcceptLoop(); });
}

std::uint16_t Server::port() const { return impl_->bound_port; }

void Server::Shutdown(std::chrono::milliseconds grace) {
  if (!impl_ || impl_->closed) return;
  impl_->draining = true;
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  if (impl_->acceptor) {
    beast::error_code ec;
    impl_->acceptor->close(ec);
  }
  std::unique_lock lock(impl_->mutex);
  // Idle keep-alive connections are woken and closed; busy ones close after replying.
  for (Session* s : impl_->sessions) {
    if (!s->in_request) ::shutdown(s->socket.native_handle(), SHUT_RDWR);
  }
  impl_->sessions_changed.wait_for(lock, grace, [this] { return impl_->sessions.empty(); });
  for (Session* s : impl_->sessions) {
    if (!s->in_request) ::shutdown(s->socket.native_handle(), SHUT_RDWR);
  }
  // Connections still inside a handler (e.g. stuck on a database lock) are left to the
  // caller, which exits anyway; their threads are detached.
  impl_->closed = impl_->sessions.empty();
}

std::size_t Server::in_flight() const { return impl_->in_flight.load(); }

Response MetricsResponse(const prometheus::Registry& registry) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry.Collect());
  return Response::Text(200, out.str(), "text/plain; version=0.0.4; charset=utf-8");
}

std::optional<long long> IntParam(const Request& request, const std::string& name, long long min,
                                  long long max) {
  const auto it = request.query.find(name);
  if (it == request.query.end()) return std::nullopt;
  const std::string& text = it->second;
  long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw std::invalid_argument("query parameter '" + name + "' must be an integer, got '" +
                                text.substr(0, 64) + "'");
  }
  if (value < min || value > max) {
    throw std::invalid_argument("query parameter '" + name + "' must be between " +
                                std::to_string(min) + " and " + std::to_string(max) + ", got " +
                                text);
  }
  return value;
}

}  // namespace poolguard::http
