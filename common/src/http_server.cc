#include "poolguard/common/http_server.h"

#include <cpprest/http_listener.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "poolguard/common/json_util.h"
#include "poolguard/common/worker_pool.h"

namespace poolguard::http {
namespace {

using web::http::http_request;
using web::http::http_response;
using web::http::experimental::listener::http_listener;

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

void Router::Add(std::string method, std::string path_template, Handler handler,
                 Execution execution) {
  Route route;
  route.method = std::move(method);
  route.segments = SplitPath(path_template);
  route.path_template = std::move(path_template);
  route.handler = std::move(handler);
  route.execution = execution;
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

struct Server::Impl {
  ServerOptions options;
  Router router;
  prometheus::Family<prometheus::Counter>* requests = nullptr;
  prometheus::Family<prometheus::Histogram>* durations = nullptr;
  std::unique_ptr<http_listener> listener;
  std::unique_ptr<WorkerPool> workers;
  std::atomic<std::size_t> in_flight{0};
  std::atomic<bool> draining{false};
  bool closed = false;
  std::mutex mutex;
  std::condition_variable idle;

  void Handle(http_request request);
  void Dispatch(http_request request, const Router::Route* route, Request parsed,
                std::chrono::steady_clock::time_point start);
  void Reply(http_request& request, const Response& response, const std::string& route,
             std::chrono::steady_clock::time_point start);
};

void Server::Impl::Reply(http_request& request, const Response& response, const std::string& route,
                         std::chrono::steady_clock::time_point start) {
  http_response reply(static_cast<web::http::status_code>(response.status));
  for (const auto& [name, value] : response.headers) reply.headers().add(name, value);
  reply.set_body(response.body, response.content_type);
  request.reply(reply).then([](pplx::task<void> sent) {
    try {
      sent.get();
    } catch (const std::exception& e) {
      spdlog::debug("http: reply not delivered: {}", e.what());  // client went away
    }
  });
  if (requests != nullptr) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    requests
        ->Add({{"method", MethodLabel(request.method())},
               {"route", route},
               {"code", std::to_string(response.status)}})
        .Increment();
    durations
        ->Add({{"route", route}},
              prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                      0.5, 1, 2.5, 3, 5, 10})
        .Observe(seconds);
  }
  if (in_flight.fetch_sub(1) == 1) {
    std::lock_guard lock(mutex);
    idle.notify_all();
  }
}

void Server::Impl::Handle(http_request request) {
  const auto start = std::chrono::steady_clock::now();
  in_flight.fetch_add(1);
  try {
    if (draining.load()) {
      Response r = Response::Error(503, "ShuttingDown", "the server is shutting down");
      r.headers.emplace_back("Connection", "close");
      Reply(request, r, "unmatched", start);
      return;
    }
    const web::uri& uri = request.relative_uri();
    const std::string path = uri.path();
    Router::Match match = router.Find(request.method(), path);
    if (match.status == Router::MatchStatus::kNotFound) {
      Reply(request, Response::Error(404, "NotFound", "no route for " + path), "unmatched", start);
      return;
    }
    if (match.status == Router::MatchStatus::kMethodNotAllowed) {
      std::string allowed;
      for (const auto& m : match.allowed_methods) allowed += (allowed.empty() ? "" : ", ") + m;
      Response r = Response::Error(
          405, "MethodNotAllowed",
          request.method() + " is not allowed on " + path + " (allowed: " + allowed + ")");
      r.headers.emplace_back("Allow", allowed);
      Reply(request, r, "unmatched", start);
      return;
    }
    Request parsed;
    parsed.method = request.method();
    parsed.path = path;
    parsed.params = std::move(match.params);
    parsed.content_type = request.headers().content_type();
    try {
      for (auto& [key, value] : web::uri::split_query(uri.query())) {
        parsed.query[web::uri::decode(key)] = web::uri::decode(value);
      }
    } catch (const std::exception& e) {
      Reply(request,
            Response::Error(400, "BadQuery", std::string("malformed query string: ") + e.what()),
            match.route->path_template, start);
      return;
    }
    const auto length = request.headers().content_length();
    if (length > options.max_body_bytes) {
      Response r = Response::Error(413, "PayloadTooLarge",
                                   "request body of " + std::to_string(length) +
                                       " bytes exceeds the limit of " +
                                       std::to_string(options.max_body_bytes) + " bytes");
      r.headers.emplace_back("Connection", "close");
      Reply(request, r, match.route->path_template, start);
      return;
    }
    const Router::Route* route = match.route;
    if (request.method() == "GET" || request.method() == "HEAD" || request.method() == "DELETE") {
      Dispatch(std::move(request), route, std::move(parsed), start);
      return;
    }
    // Read the body without blocking this thread; continue when it has arrived.
    request.extract_utf8string(true).then(
        [this, request, route, parsed, start](pplx::task<std::string> body) mutable {
          try {
            parsed.body = body.get();
          } catch (const std::exception& e) {
            Reply(request,
                  Response::Error(400, "BadBody",
                                  std::string("could not read the request body: ") + e.what()),
                  route->path_template, start);
            return;
          }
          if (parsed.body.size() > options.max_body_bytes) {
            Reply(request,
                  Response::Error(413, "PayloadTooLarge",
                                  "request body exceeds the limit of " +
                                      std::to_string(options.max_body_bytes) + " bytes"),
                  route->path_template, start);
            return;
          }
          Dispatch(std::move(request), route, std::move(parsed), start);
        });
  } catch (const std::exception& e) {
    spdlog::error("http: unexpected failure handling {}: {}", request.request_uri().to_string(),
                  e.what());
    Reply(request, Response::Error(500, "InternalError", "internal error"), "unmatched", start);
  }
}

void Server::Impl::Dispatch(http_request request, const Router::Route* route, Request parsed,
                            std::chrono::steady_clock::time_point start) {
  auto run = [this, request, route, parsed = std::move(parsed), start]() mutable {
    Response response;
    try {
      response = route->handler(parsed);
    } catch (const std::exception& e) {
      spdlog::error("http: handler for {} {} failed: {}", route->method, route->path_template,
                    e.what());
      response = Response::Error(500, "InternalError", "internal error");
    }
    if (request.method() == "HEAD") response.body.clear();
    Reply(request, response, route->path_template, start);
  };
  if (route->execution == Execution::kInline) {
    run();
    return;
  }
  if (!workers->Submit(run)) {
    Reply(request, Response::Error(503, "Overloaded", "too many requests queued; try again"),
          route->path_template, start);
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

Server::~Server() { Shutdown(std::chrono::milliseconds(0)); }

void Server::Start() {
  impl_->workers =
      std::make_unique<WorkerPool>(impl_->options.worker_threads, impl_->options.max_queued);
  const std::string address = impl_->options.address;
  const std::string url = "http://" +
                          (address.find(':') != std::string::npos ? "[" + address + "]" : address) +
                          ":" + std::to_string(impl_->options.port);
  web::http::experimental::listener::http_listener_config config;
  config.set_timeout(std::chrono::seconds(120));
  impl_->listener = std::make_unique<http_listener>(url, config);
  impl_->listener->support([impl = impl_.get()](http_request request) { impl->Handle(request); });
  try {
    impl_->listener->open().wait();
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen on " + address + ":" +
                             std::to_string(impl_->options.port) + ": " + e.what());
  }
}

void Server::Shutdown(std::chrono::milliseconds grace) {
  if (!impl_ || impl_->closed) return;
  impl_->draining = true;
  {
    std::unique_lock lock(impl_->mutex);
    impl_->idle.wait_for(lock, grace, [this] { return impl_->in_flight.load() == 0; });
  }
  if (impl_->in_flight.load() != 0) {
    // Requests are stuck (for example on a database lock). Closing the listener would
    // wait for them; the caller decides whether to exit regardless.
    return;
  }
  impl_->closed = true;
  if (impl_->listener) {
    try {
      impl_->listener->close().wait();
    } catch (const std::exception& e) {
      spdlog::warn("http: closing the listener: {}", e.what());
    }
  }
  if (impl_->workers) impl_->workers->Shutdown();
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
