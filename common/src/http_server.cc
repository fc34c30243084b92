#include "poolguard/common/http_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <random>
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

std::optional<std::string> PercentDecode(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = hex(text[i + 1]), low = hex(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

std::optional<std::map<std::string, std::string>> ParseQuery(std::string_view query,
                                                             std::string* error) {
  std::map<std::string, std::string> out;
  std::size_t begin = 0;
  while (begin < query.size()) {
    std::size_t end = query.find('&', begin);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(begin, end - begin);
    begin = end + 1;
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    auto key = PercentDecode(pair.substr(0, eq));
    auto value = PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (!key || !value) {
      *error = "malformed percent-encoding in the query string near '" +
               std::string(pair.substr(0, 64)) + "'";
      return std::nullopt;
    }
    out[std::move(*key)] = std::move(*value);
  }
  return out;
}

void Router::Add(std::string method, std::string path_template, Handler handler,
                 Dispatch dispatch) {
  Route route;
  route.method = std::move(method);
  route.segments = SplitPath(path_template);
  route.path_template = std::move(path_template);
  route.handler = std::move(handler);
  route.dispatch = dispatch;
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
        auto decoded = PercentDecode(segments[i]);
        if (!decoded) {
          match.status = MatchStatus::kBadPath;
          match.error =
              "malformed percent-encoding in path segment '" + segments[i].substr(0, 64) + "'";
          return match;
        }
        params[route.segments[i].substr(1, route.segments[i].size() - 2)] = std::move(*decoded);
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

namespace {

// Moves what a handler reads of a parsed request (headers it needs, the body) into `out`.
void TakeMessage(bhttp::request<bhttp::string_body>& message, Request* out) {
  out->content_type = std::string(message[bhttp::field::content_type]);
  out->authorization = std::string(message[bhttp::field::authorization]);
  out->body = std::move(message.body());
}

// ---- the worker pool ------------------------------------------------------------------

// Runs kWorker handlers. Bounded: TryPost refuses once `max_queued` wait. Its state is
// shared with the threads, so that threads still stuck in a handler after the shutdown's
// grace can be detached safely.
class WorkerPool {
 public:
  WorkerPool(int threads, std::size_t max_queued)
      : state_(std::make_shared<State>()), max_queued_(max_queued) {
    for (int i = 0; i < std::max(1, threads); ++i) {
      threads_.emplace_back([state = state_] { Run(*state); });
    }
  }
  ~WorkerPool() { Stop(std::chrono::milliseconds(0)); }

  bool TryPost(std::function<void()> task) {
    std::lock_guard lock(state_->mutex);
    if (state_->stopping || state_->queue.size() >= max_queued_) return false;
    state_->queue.push_back(std::move(task));
    state_->queued.store(state_->queue.size(), std::memory_order_relaxed);
    state_->wake.notify_one();
    return true;
  }

  /// Tasks waiting for a thread (a hint: read without the lock).
  std::size_t queued() const { return state_->queued.load(std::memory_order_relaxed); }

  /// Takes no more work, lets what is queued and running finish for up to `grace`, then
  /// joins the threads, or detaches those still busy (their handler is stuck).
  void Stop(std::chrono::milliseconds grace) {
    if (threads_.empty()) return;
    bool done;
    {
      std::unique_lock lock(state_->mutex);
      state_->stopping = true;
      state_->wake.notify_all();
      done = state_->idle.wait_for(lock, grace,
                                   [this] { return state_->queue.empty() && state_->busy == 0; });
    }
    for (auto& t : threads_) {
      if (done) {
        t.join();
      } else {
        t.detach();
      }
    }
    threads_.clear();
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable wake, idle;
    std::deque<std::function<void()>> queue;
    bool stopping = false;
    int busy = 0;
    std::atomic<std::size_t> queued{0};
  };

  static void Run(State& st) {
    std::unique_lock lock(st.mutex);
    while (true) {
      st.wake.wait(lock, [&] { return st.stopping || !st.queue.empty(); });
      if (st.queue.empty()) return;  // stopping, and nothing left
      auto task = std::move(st.queue.front());
      st.queue.pop_front();
      st.queued.store(st.queue.size(), std::memory_order_relaxed);
      ++st.busy;
      lock.unlock();
      try {
        task();
      } catch (const std::exception& e) {
        spdlog::error("http: a worker task failed: {}", e.what());
      } catch (...) {
        spdlog::error("http: a worker task failed");
      }
      task = nullptr;  // what it captured is released outside the lock
      lock.lock();
      --st.busy;
      if (st.queue.empty() && st.busy == 0) st.idle.notify_all();
    }
  }

  std::shared_ptr<State> state_;
  std::size_t max_queued_;
  std::vector<std::thread> threads_;
};

const char kBusyReply[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    "Connection: close\r\nContent-Length: 84\r\n\r\n"
    "{\"error\":{\"code\":\"Overloaded\",\"message\":\"too many connections; try again "
    "later\"}}";

const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";

// SO_KEEPALIVE with a minute of silence, then 3 probes 10 s apart: a peer that vanished
// (power, partition) frees its connection in under two minutes.
void SetKeepalive(int fd) {
  const int on = 1, idle = 60, interval = 10, count = 3;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

// Each open connection needs a descriptor: take the hard limit, so that thousands of idle
// sockets meet the connection bound and its shedding, not EMFILE.
void RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 1 << 20);
  setrlimit(RLIMIT_NOFILE, &limit);
}

}  // namespace

struct Session;

struct Server::Impl : std::enable_shared_from_this<Impl> {
  ServerOptions options;
  Router router;
  prometheus::Family<prometheus::Counter>* requests = nullptr;
  prometheus::Family<prometheus::Histogram>* durations = nullptr;

  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::uint16_t bound_port = 0;
  std::vector<std::thread> io_threads;
  std::unique_ptr<WorkerPool> pool;
  std::atomic<bool> draining{false};
  std::atomic<std::size_t> in_flight{0};
  bool stopped = false;

  mutable std::mutex mutex;  // guards the two below and Session::idle_pos/in_idle
  std::condition_variable changed;
  std::map<Session*, std::weak_ptr<Session>> sessions;
  std::list<Session*> idle;  // sessions waiting for a request, longest-waiting first

  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void Record(const std::string& method, const std::string& route, int status,
              std::chrono::steady_clock::time_point start);
  /// Routes a request: the handler to run, or the answer when none will (404, 405, 400).
  const Router::Route* Route(const std::string& method, std::string_view target, Request* request,
                             std::optional<Response>* early, std::string* route_label);
};

// One accepted connection: a chain of asynchronous steps on its own strand (read the head,
// the body, hand the request to a handler, write the answer, read the next), each with a
// deadline. Holds the server's state alive while it runs.
struct Session : std::enable_shared_from_this<Session> {
  Session(std::shared_ptr<Server::Impl> s, tcp::socket socket)
      : server(std::move(s)), stream(std::move(socket)) {}

  std::shared_ptr<Server::Impl> server;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser;
  bool first = true;    // no request read yet on this connection
  bool linger = false;  // drain what the client still sends before closing
  bool closed = false;
  std::chrono::steady_clock::time_point start;
  std::string method = "OTHER", route = "unmatched";
  // Under server->mutex:
  bool in_idle = false;
  std::list<Session*>::iterator idle_pos;
  // A worker that ran a handler keeps the connection while its client keeps it busy: it
  // writes the answer and reads the next request without blocking, in a loop, and hands the
  // connection back to the strand when it goes quiet (see ServeOnWorker). Meanwhile only
  // that worker touches the session; a Close() arriving then waits for the hand-back.
  std::atomic<bool> on_worker{false};
  std::atomic<bool> close_requested{false};

  // Requests one worker serves on a connection before handing it back (fairness).
  static constexpr int kMaxServedOnWorker = 1000;

  void Begin() {
    beast::error_code ec;
    stream.socket().non_blocking(true, ec);  // the worker's reads and writes never block
    ReadHead();
  }

  void NewParser() {
    parser.emplace();
    parser->header_limit(16 * 1024);
    parser->body_limit(server->options.max_body_bytes);
  }

  void SetIdle(bool idle) {
    std::lock_guard lock(server->mutex);
    if (idle && !in_idle) {
      idle_pos = server->idle.insert(server->idle.end(), this);
      in_idle = true;
    } else if (!idle && in_idle) {
      server->idle.erase(idle_pos);
      in_idle = false;
    }
  }

  // Up to a tenth less than `d`, at random: sockets an attacker opened in one burst do not
  // all time out, and reconnect, in the same millisecond (a stall for the I/O threads that
  // a probe arriving then would wait behind).
  static std::chrono::milliseconds Jittered(std::chrono::milliseconds d) {
    thread_local std::minstd_rand random(std::random_device{}());
    if (d.count() < 10) return d;
    return d - std::chrono::milliseconds(random() % static_cast<unsigned long>(d.count() / 10));
  }

  void ReadHead() {
    NewParser();
    SetIdle(true);
    stream.expires_after(
        Jittered(first ? server->options.header_timeout : server->options.idle_timeout));
    bhttp::async_read_header(stream, buffer, *parser,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) {
                               self->Guarded([&] { self->OnHead(ec); });
                             });
  }

  // The rest of a head the worker began to read.
  void ContinueHead() {
    if (closed) return;
    stream.expires_after(server->options.header_timeout);
    bhttp::async_read_header(stream, buffer, *parser,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) {
                               self->Guarded([&] { self->OnHead(ec); });
                             });
  }

  // Runs one step; whatever it throws closes this connection and nothing else.
  template <typename F>
  void Guarded(F&& step) {
    try {
      step();
    } catch (const std::exception& e) {
      spdlog::error("http: connection failed: {}", e.what());
      Close();
    } catch (...) {
      Close();
    }
  }

  void OnHead(beast::error_code ec) {
    SetIdle(false);
    if (closed) return;
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
        ec == beast::error::timeout || (ec && buffer.size() == 0 && !parser->got_some())) {
      return Close();  // gone, idled out, shed, or shutting down
    }
    start = std::chrono::steady_clock::now();
    server->in_flight.fetch_add(1);
    if (ec == bhttp::error::header_limit) {
      linger = true;
      return Write(Response::Error(431, "HeadersTooLarge", "request headers exceed 16 KiB"), false);
    }
    if (ec == bhttp::error::body_limit) return OnBody(ec);  // a Content-Length over the limit
    if (ec) {
      return Write(Response::Error(400, "BadRequest", "malformed HTTP request: " + ec.message()),
                   false);
    }
    method = std::string(parser->get().method_string());
    if (parser->is_done()) return OnBody({});
    if (parser->get()[bhttp::field::expect] == "100-continue") {
      stream.expires_after(server->options.write_timeout);
      asio::async_write(stream, asio::buffer(kContinue, sizeof kContinue - 1),
                        [self = shared_from_this()](beast::error_code wec, std::size_t) {
                          self->Guarded([&] {
                            if (wec) return self->Finish(false);
                            self->ReadBody();
                          });
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    stream.expires_after(server->options.body_timeout);
    bhttp::async_read(stream, buffer, *parser,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        self->Guarded([&] { self->OnBody(ec); });
                      });
  }

  void OnBody(beast::error_code ec) {
    if (closed) return Finish(false);
    if (ec == bhttp::error::body_limit) {
      linger = true;
      return Write(Response::Error(413, "PayloadTooLarge",
                                   "request body exceeds the limit of " +
                                       std::to_string(server->options.max_body_bytes) + " bytes"),
                   false);
    }
    if (ec == beast::error::timeout) return Finish(false);  // the stream closed itself
    if (ec) {
      return Write(Response::Error(400, "BadRequest", "malformed HTTP request: " + ec.message()),
                   false);
    }
    if (server->draining) {
      return Write(Response::Error(503, "ShuttingDown", "the server is shutting down"), false);
    }
    auto message = parser->release();
    const bool keep_alive = message.keep_alive();
    Request request;
    std::optional<Response> early;
    const Router::Route* handler =
        server->Route(method, std::string_view(message.target().data(), message.target().size()),
                      &request, &early, &route);
    if (handler == nullptr) return Write(std::move(*early), keep_alive);
    TakeMessage(message, &request);
    if (handler->dispatch == Dispatch::kInline) {
      return Write(RunHandler(*handler, request), keep_alive);
    }
    on_worker = true;
    const bool queued = server->pool->TryPost(
        [self = shared_from_this(), handler, request = std::move(request), keep_alive]() mutable {
          self->ServeOnWorker(handler, std::move(request), keep_alive);
        });
    if (!queued) {
      on_worker = false;
      Write(Response::Error(503, "Overloaded", "every worker is busy; try again later"), false);
    }
  }

  // On a worker thread, with on_worker set: runs the handler, writes the answer, and while
  // the client sends its next request within `worker_linger` (and no other connection waits
  // for a worker), reads and serves that one too, without a trip through the I/O threads.
  // Anything else (a partial write or request, an error, a route that is not kWorker, the
  // server draining, a quiet client) goes back to the strand, where the ordinary path
  // takes it from the same point.
  void ServeOnWorker(const Router::Route* handler, Request request, bool keep_alive) {
    for (int served = 1;; ++served) {
      Response response = RunHandler(*handler, request);
      const int status = response.status;
      auto reply = MakeReply(std::move(response), keep_alive);
      auto serializer = std::make_shared<bhttp::response_serializer<bhttp::string_body>>(*reply);
      // Counted once the answer is ready, before it is written: a client that has read it
      // and asks /metrics next finds it counted.
      server->Record(method, route, status, start);
      beast::error_code ec;
      if (!close_requested) bhttp::write(stream.socket(), *serializer, ec);
      if (close_requested || ec == asio::error::would_block || ec == asio::error::try_again) {
        return HandBack([reply, serializer](Session& s) { s.WriteRest(reply, serializer); });
      }
      const bool next = !ec && reply->keep_alive();
      Done();
      if (!next || linger || server->draining || served >= kMaxServedOnWorker ||
          server->pool->queued() > 0 || server->options.worker_linger.count() <= 0) {
        return HandBack([next](Session& s) { s.Next(next); });
      }
      first = false;
      method = "OTHER";
      route = "unmatched";
      if (buffer.size() == 0) {
        pollfd ready{stream.socket().native_handle(), POLLIN, 0};
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
            server->options.worker_linger + std::chrono::microseconds(999));
        if (::poll(&ready, 1, static_cast<int>(wait.count())) <= 0 || close_requested) {
          return HandBack([](Session& s) { s.Next(true); });
        }
      }
      NewParser();
      bhttp::read(stream.socket(), buffer, *parser, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        if (!parser->is_header_done()) return HandBack([](Session& s) { s.ContinueHead(); });
        return HandBack([](Session& s) { s.OnHead({}); });  // on to the body
      }
      if (ec) return HandBack([ec](Session& s) { s.OnHead(ec); });
      const std::string next_method(parser->get().method_string());
      const auto target = parser->get().target();
      Request next_request;
      std::optional<Response> early;
      std::string label;
      const Router::Route* next_handler =
          server->Route(next_method, std::string_view(target.data(), target.size()), &next_request,
                        &early, &label);
      if (next_handler == nullptr || next_handler->dispatch != Dispatch::kWorker) {
        return HandBack([](Session& s) { s.OnHead({}); });  // answered on the strand
      }
      start = std::chrono::steady_clock::now();
      server->in_flight.fetch_add(1);
      method = next_method;
      route = label;
      auto message = parser->release();
      keep_alive = message.keep_alive();
      TakeMessage(message, &next_request);
      request = std::move(next_request);
      handler = next_handler;
    }
  }

  // Gives the session back to its strand, where `step` continues (after a Close() that
  // came while the worker had it).
  template <typename F>
  void HandBack(F step) {
    on_worker = false;
    asio::post(stream.get_executor(), [self = shared_from_this(), step = std::move(step)] {
      self->Guarded([&] {
        if (self->close_requested.exchange(false)) self->Close();
        step(*self);
      });
    });
  }

  static Response RunHandler(const Router::Route& route, const Request& request) {
    try {
      return route.handler(request);
    } catch (const std::exception& e) {
      spdlog::error("http: handler for {} {} failed: {}", route.method, route.path_template,
                    e.what());
    } catch (...) {
      spdlog::error("http: handler for {} {} failed", route.method, route.path_template);
    }
    return Response::Error(500, "InternalError", "internal error");
  }

  using Reply = bhttp::response<bhttp::string_body>;
  using ReplySerializer = bhttp::response_serializer<bhttp::string_body>;

  std::shared_ptr<Reply> MakeReply(Response response, bool keep_alive) {
    auto reply = std::make_shared<Reply>(static_cast<bhttp::status>(response.status), 11);
    reply->set(bhttp::field::server, "poolguard");
    reply->set(bhttp::field::content_type, response.content_type);
    for (const auto& [name, value] : response.headers) reply->set(name, value);
    if (method != "HEAD") reply->body() = std::move(response.body);
    reply->keep_alive(keep_alive && !server->draining && !linger);
    reply->prepare_payload();
    return reply;
  }

  void Write(Response response, bool keep_alive) {
    if (closed) return Finish(false);
    const int status = response.status;
    auto reply = MakeReply(std::move(response), keep_alive);
    server->Record(method, route, status, start);  // before the write, as on a worker
    WriteRest(reply, std::make_shared<ReplySerializer>(*reply));
  }

  // Writes what `serializer` has not yet written of `reply`.
  void WriteRest(std::shared_ptr<Reply> reply, std::shared_ptr<ReplySerializer> serializer) {
    if (closed) return Finish(false);
    stream.expires_after(server->options.write_timeout);
    bhttp::async_write(
        stream, *serializer,
        [self = shared_from_this(), reply, serializer](beast::error_code ec, std::size_t) {
          self->Guarded([&] { self->Finish(!ec && reply->keep_alive()); });
        });
  }

  // The request is answered (or abandoned): on to the next one, or close.
  void Finish(bool next) {
    Done();
    Next(next);
  }

  void Done() {
    server->in_flight.fetch_sub(1);
    std::lock_guard lock(server->mutex);
    server->changed.notify_all();
  }

  void Next(bool next) {
    if (linger) return Linger();
    if (!next || closed) return Close();
    first = false;
    method = "OTHER";
    route = "unmatched";
    ReadHead();
  }

  // After refusing a request whose body was not read: read and drop what the client is
  // still sending (at most 64 MiB, 5 s), so that it sees the answer, not a reset.
  void Linger() {
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.expires_after(std::chrono::seconds(5));
    auto sink = std::make_shared<std::array<char, 65536>>();
    auto total = std::make_shared<std::size_t>(0);
    DrainSome(sink, total);
  }

  void DrainSome(std::shared_ptr<std::array<char, 65536>> sink,
                 std::shared_ptr<std::size_t> total) {
    stream.async_read_some(asio::buffer(*sink), [self = shared_from_this(), sink, total](
                                                    beast::error_code ec, std::size_t n) {
      *total += n;
      if (ec || *total >= (64u << 20)) return self->Close();
      self->DrainSome(sink, total);
    });
  }

  void Close() {
    if (closed) return;
    if (on_worker) {
      close_requested = true;  // the worker hands the session back, then it closes
      return;
    }
    closed = true;
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.socket().close(ec);
    std::lock_guard lock(server->mutex);
    if (in_idle) {
      server->idle.erase(idle_pos);
      in_idle = false;
    }
    server->sessions.erase(this);
    server->changed.notify_all();
  }
};

void Server::Impl::Record(const std::string& method, const std::string& route, int status,
                          std::chrono::steady_clock::time_point start) {
  if (requests == nullptr) return;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // prometheus-cpp's Family::Add locks and hashes the labels; each I/O thread keeps the
  // series it has used, so the hot path takes no shared lock.
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

const Router::Route* Server::Impl::Route(const std::string& method, std::string_view target,
                                         Request* request, std::optional<Response>* early,
                                         std::string* route_label) {
  *route_label = "unmatched";
  const auto question = target.find('?');
  const std::string path(target.substr(0, question));
  const std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  Router::Match match = router.Find(method, path);
  switch (match.status) {
    case Router::MatchStatus::kNotFound:
      *early = Response::Error(404, "NotFound", "no route for " + path.substr(0, 256));
      return nullptr;
    case Router::MatchStatus::kBadPath:
      *early = Response::Error(400, "BadPath", match.error);
      return nullptr;
    case Router::MatchStatus::kMethodNotAllowed: {
      std::string allowed;
      for (const auto& m : match.allowed_methods) allowed += (allowed.empty() ? "" : ", ") + m;
      Response r = Response::Error(405, "MethodNotAllowed",
                                   method.substr(0, 32) + " is not allowed on " +
                                       path.substr(0, 256) + " (allowed: " + allowed + ")");
      r.headers.emplace_back("Allow", allowed);
      *early = std::move(r);
      return nullptr;
    }
    case Router::MatchStatus::kFound:
      break;
  }
  const Router::Route* route = match.route;
  *route_label = route->path_template;
  request->method = method;
  request->path = path;
  request->params = std::move(match.params);
  std::string error;
  auto pairs = ParseQuery(query, &error);
  if (!pairs) {
    *early = Response::Error(400, "BadQuery", error);
    return nullptr;
  }
  request->query = std::move(*pairs);
  return route;
}

void Server::Impl::Accept() {
  acceptor->async_accept(asio::make_strand(io),
                         [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                           self->OnAccept(ec, std::move(socket));
                         });
}

void Server::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (draining || !acceptor->is_open()) return;
  if (ec) {
    // Out of descriptors or a connection reset before it was taken: keep accepting, after
    // a pause if the process ran out of something.
    if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
      auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(50));
      timer->async_wait([self = shared_from_this(), timer](beast::error_code) { self->Accept(); });
      return;
    }
    return Accept();
  }
  beast::error_code opt;
  socket.set_option(tcp::no_delay(true), opt);
  SetKeepalive(socket.native_handle());
  std::shared_ptr<Session> shed;
  bool refuse = false;
  auto session = std::make_shared<Session>(shared_from_this(), std::move(socket));
  {
    std::lock_guard lock(mutex);
    if (sessions.size() >= options.max_connections) {
      if (!idle.empty()) {
        Session* oldest = idle.front();
        idle.pop_front();
        oldest->in_idle = false;
        shed = sessions[oldest].lock();
      } else {
        refuse = true;
      }
    }
    if (!refuse) sessions.emplace(session.get(), session);
  }
  if (shed) {
    asio::post(shed->stream.get_executor(), [shed] { shed->Close(); });
  }
  if (refuse) {
    beast::error_code wec;
    asio::write(session->stream.socket(), asio::buffer(kBusyReply, sizeof kBusyReply - 1), wec);
    session->stream.socket().close(wec);
    session->closed = true;
  } else {
    asio::post(session->stream.get_executor(), [session] { session->Begin(); });
  }
  Accept();
}

Server::Server(ServerOptions options, Router router, prometheus::Registry* metrics)
    : impl_(std::make_shared<Impl>()) {
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
  // Sessions still inside a stuck handler keep the state alive until it returns.
  impl_.reset();
}

void Server::Start() {
  Impl& impl = *impl_;
  const std::string& address = impl.options.address;
  RaiseDescriptorLimit();
  try {
    const tcp::endpoint endpoint(asio::ip::make_address(address), impl.options.port);
    impl.acceptor = std::make_unique<tcp::acceptor>(impl.io);
    impl.acceptor->open(endpoint.protocol());
    impl.acceptor->set_option(asio::socket_base::reuse_address(true));
    impl.acceptor->bind(endpoint);
    impl.acceptor->listen(asio::socket_base::max_listen_connections);
    impl.bound_port = impl.acceptor->local_endpoint().port();
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen on " + address + ":" +
                             std::to_string(impl.options.port) + ": " + e.what());
  }
  impl.pool = std::make_unique<WorkerPool>(impl.options.workers, impl.options.max_queued);
  impl.work.emplace(impl.io.get_executor());
  impl.Accept();
  for (int i = 0; i < std::max(1, impl.options.io_threads); ++i) {
    impl.io_threads.emplace_back([state = impl_] {
      for (;;) {
        try {
          state->io.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("http: I/O loop: {}", e.what());  // a bug; keep serving
        }
      }
    });
  }
}

std::uint16_t Server::port() const { return impl_->bound_port; }

void Server::Shutdown(std::chrono::milliseconds grace) {
  if (!impl_ || impl_->stopped) return;
  Impl& impl = *impl_;
  impl.stopped = true;
  impl.draining = true;
  const auto deadline = std::chrono::steady_clock::now() + grace;
  if (impl.acceptor) {
    asio::post(impl.io, [state = impl_] {
      beast::error_code ec;
      state->acceptor->close(ec);
    });
  }
  auto close_sessions = [&](bool idle_only) {
    std::vector<std::shared_ptr<Session>> closing;
    {
      std::lock_guard lock(impl.mutex);
      for (auto& [raw, weak] : impl.sessions) {
        if (idle_only && !raw->in_idle) continue;
        if (auto s = weak.lock()) closing.push_back(std::move(s));
      }
    }
    for (auto& s : closing) asio::post(s->stream.get_executor(), [s] { s->Close(); });
  };
  // Idle keep-alive connections close now; requests in flight get until the deadline.
  close_sessions(true);
  {
    std::unique_lock lock(impl.mutex);
    impl.changed.wait_until(lock, deadline, [&] { return impl.in_flight == 0; });
  }
  close_sessions(false);
  {
    std::unique_lock lock(impl.mutex);
    impl.changed.wait_for(lock, std::chrono::seconds(1), [&] { return impl.sessions.empty(); });
  }
  if (impl.pool) {
    impl.pool->Stop(std::max(std::chrono::milliseconds(0),
                             std::chrono::duration_cast<std::chrono::milliseconds>(
                                 deadline - std::chrono::steady_clock::now())));
  }
  // The loop ends once nothing is pending (a handler still stuck in a worker posts later
  // to a loop that no longer runs; its session then keeps the state until the process ends).
  impl.work.reset();
  for (auto& t : impl.io_threads) {
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();
    } else {
      t.join();
    }
  }
  impl.io_threads.clear();
}

std::size_t Server::in_flight() const { return impl_->in_flight.load(); }

std::size_t Server::connections() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->sessions.size();
}

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
