#include "watch_stream.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <limits>
#include <type_traits>

#include "json_scan.h"
#include "proto_json.h"

namespace poolguard::kube::internal {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

std::optional<WatchEvent::Type> EventType(std::string_view type) {
  if (type == "ADDED") return WatchEvent::Type::kAdded;
  if (type == "MODIFIED") return WatchEvent::Type::kModified;
  if (type == "DELETED") return WatchEvent::Type::kDeleted;
  if (type == "BOOKMARK") return WatchEvent::Type::kBookmark;
  if (type == "ERROR") return WatchEvent::Type::kError;
  return std::nullopt;
}

// Thrown inside the stream when Stop() interrupted an operation.
struct Stopped {};

// One watch over a plain (tcp::socket) or TLS (ssl::stream) connection. Every operation
// runs on the io_context of its own from the calling thread, with a deadline; Stop() posts
// a close to that io_context, which wakes a blocked read.
template <class Stream>
class BeastWatchStream : public WatchStream {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

  BeastWatchStream(const Config& config, const WatchRequest& req)
      : ctx_(MakeContext(config)),
        what_(req.what),
        stream_(MakeStream()),
        inactivity_(req.inactivity_timeout),
        on_protobuf_error_(req.on_protobuf_error) {
    Open(config, req);
  }

  ~BeastWatchStream() override { Stop(); }

  std::optional<WatchEvent> Next() override {
    std::optional<RawWatchEvent> raw = NextRaw();
    if (!raw) return std::nullopt;
    WatchEvent out;
    out.type = raw->type;
    try {
      out.object = Json::parse(raw->object);
    } catch (const std::exception& e) {
      throw ApiError(ErrorKind::kTransport, 0, "",
                     what_ + ": watch object is not JSON (" + e.what() + ")");
    }
    return out;
  }

  std::optional<RawWatchEvent> NextRaw() override {
    if (protobuf_) return NextFrame();
    while (!stopped_) {
      size_t nl = lines_.find('\n', scan_);
      if (nl != std::string::npos) {
        std::string_view line = std::string_view(lines_).substr(pos_, nl - pos_);
        pos_ = scan_ = nl + 1;
        if (json_scan::SkipWs(line, 0) >= line.size()) continue;
        return ParseWatchLine(line, what_);
      }
      scan_ = lines_.size();
      if (!Fill()) {
        if (stopped_) return std::nullopt;
        // The server ended the watch (timeoutSeconds); a last line without its newline is
        // still an event.
        std::string_view rest = std::string_view(lines_).substr(pos_);
        pos_ = scan_ = lines_.size();
        if (json_scan::SkipWs(rest, 0) >= rest.size()) return std::nullopt;
        return ParseWatchLine(rest, what_);
      }
    }
    return std::nullopt;
  }

  // application/vnd.kubernetes.protobuf;stream=watch: each event is a 4-byte big-endian
  // length and a metav1.WatchEvent of that many bytes, its object in the k8s\0 envelope.
  // A frame is bounded: etcd stores objects of at most 1.5 MiB by default, so a length
  // above kMaxFrame means a broken stream, and buffering up to 4 GiB for it would not do.
  static constexpr size_t kMaxFrame = size_t{64} << 20;
  std::optional<RawWatchEvent> NextFrame() {
    while (!stopped_) {
      size_t avail = lines_.size() - pos_;
      if (avail >= 4) {
        const auto* p = reinterpret_cast<const unsigned char*>(lines_.data() + pos_);
        size_t n = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
        if (n > kMaxFrame) {
          // A desynchronised or hostile stream, not a transcoding problem: no fallback to
          // JSON, the watch is restarted like any other transport failure.
          throw ApiError(ErrorKind::kTransport, 0, "",
                         what_ + ": protobuf watch frame of " + std::to_string(n) +
                             " bytes (more than " + std::to_string(kMaxFrame) + ")");
        }
        if (avail - 4 >= n) {
          std::string_view frame = std::string_view(lines_).substr(pos_ + 4, n);
          pos_ = scan_ = pos_ + 4 + n;
          try {
            return ParseWatchFrame(frame, what_);
          } catch (const ApiError& e) {
            if (on_protobuf_error_) on_protobuf_error_(e.what());
            throw;
          }
        }
      }
      if (!Fill()) {
        if (stopped_) return std::nullopt;
        if (pos_ < lines_.size()) {
          throw ApiError(ErrorKind::kTransport, 0, "",
                         what_ + ": stream ended inside a protobuf frame");
        }
        return std::nullopt;
      }
    }
    return std::nullopt;
  }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    // Runs on the reading thread, inside its next (or current) io_context run.
    asio::post(ioc_, [this] {
      error_code ignored;
      Socket().shutdown(tcp::socket::shutdown_both, ignored);
      Socket().close(ignored);
    });
  }

 private:
  // Configured before the stream is made: OpenSSL copies the client certificate from the
  // context when the connection's SSL object is created.
  static asio::ssl::context MakeContext(const Config& config) {
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    if constexpr (kTls) {
      ApplyTls(config, ctx);
      if (config.ca_pem.empty()) ctx.set_default_verify_paths();
    }
    return ctx;
  }

  Stream MakeStream() {
    if constexpr (kTls) {
      return Stream(ioc_, ctx_);
    } else {
      return Stream(ioc_);
    }
  }

  tcp::socket& Socket() { return boost::beast::get_lowest_layer(stream_); }

  // Starts an asynchronous operation with start(handler) and runs it to completion on this
  // thread; after `timeout` the connection is closed and the operation fails.
  template <class Start>
  void Run(Start&& start, std::chrono::steady_clock::duration timeout, const char* step) {
    bool done = false;
    error_code result;
    start([&](error_code ec, auto&&...) {
      done = true;
      result = ec;
    });
    ioc_.restart();
    ioc_.run_for(timeout);
    if (!done) {
      error_code ignored;
      Socket().close(ignored);
      ioc_.restart();
      ioc_.run();  // the operation completes (aborted)
      if (stopped_) throw Stopped{};
      throw ApiError(
          ErrorKind::kTimeout, 0, "",
          what_ + ": " + step + ": nothing received for " +
              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) +
              " s");
    }
    if (result && result != bhttp::error::need_buffer) {
      if (stopped_) throw Stopped{};
      throw ApiError(ErrorKind::kTransport, 0, "", what_ + ": " + step + ": " + result.message());
    }
  }

  void Open(const Config& config, const WatchRequest& req) {
    const auto timeout = req.connect_timeout;
    const std::string port =
        std::to_string(req.port > 0 ? req.port : (req.scheme == "https" ? 443 : 80));
    tcp::resolver resolver(ioc_);
    tcp::resolver::results_type endpoints;
    try {
      Run(
          [&](auto handler) {
            resolver.async_resolve(
                req.host, port,
                [&endpoints, handler](error_code ec, tcp::resolver::results_type r) mutable {
                  endpoints = std::move(r);
                  handler(ec);
                });
          },
          timeout, "resolve");
      Run([&](auto handler) { asio::async_connect(Socket(), endpoints, handler); }, timeout,
          "connect");
      KeepAlive();
      if constexpr (kTls) {
        // Verify (and send SNI for) tls-server-name when set, else the host.
        std::string name = config.tls_server_name.empty() ? req.host : config.tls_server_name;
        error_code ec;
        asio::ip::make_address(name, ec);
        if (ec) SSL_set_tlsext_host_name(stream_.native_handle(), name.c_str());
        if (config.insecure_skip_tls_verify) {
          stream_.set_verify_mode(asio::ssl::verify_none);
        } else {
          stream_.set_verify_mode(asio::ssl::verify_peer);
          stream_.set_verify_callback(asio::ssl::host_name_verification(name));
        }
        Run([&](auto handler) { stream_.async_handshake(asio::ssl::stream_base::client, handler); },
            timeout, "TLS handshake");
      }
      bhttp::request<bhttp::empty_body> request(bhttp::verb::get, req.target, 11);
      for (const auto& [k, v] : req.headers) request.insert(k, v);
      Run([&](auto handler) { bhttp::async_write(stream_, request, handler); }, timeout,
          "send request");
      parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
      Run([&](auto handler) { bhttp::async_read_header(stream_, buffer_, parser_, handler); },
          timeout, "read answer");
    } catch (const Stopped&) {
      throw ApiError(ErrorKind::kTransport, 0, "", what_ + ": stopped");
    }
    int status = static_cast<int>(parser_.get().result_int());
    auto content_type = parser_.get()[bhttp::field::content_type];
    bool protobuf = proto::IsProtobuf(std::string_view(content_type.data(), content_type.size()));
    if (status != 200) {
      std::string retry_after(parser_.get()[bhttp::field::retry_after]);
      while (Fill()) {
      }
      throw ErrorFromResponse(status, protobuf ? ProtobufBodyAsJson(lines_) : lines_, retry_after);
    }
    protobuf_ = protobuf;
  }

  // Go's default (net.Dialer KeepAlive): a dead peer is noticed even while the server sends
  // nothing; the inactivity timeout covers a live one that stopped sending.
  void KeepAlive() {
    int fd = Socket().native_handle();
    int on = 1, idle = 30, interval = 10, count = 3;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  }

  // Appends body bytes to lines_ (as many as one read gives); false at the end of the body
  // or once stopped.
  bool Fill() {
    if (pos_ > 0 && pos_ * 2 >= lines_.size()) {
      lines_.erase(0, pos_);
      scan_ -= pos_;
      pos_ = 0;
    }
    while (!stopped_ && !parser_.is_done()) {
      auto& body = parser_.get().body();
      body.data = chunk_.get();
      body.size = kChunk;
      body.more = true;
      try {
        Run([&](auto handler) { bhttp::async_read_some(stream_, buffer_, parser_, handler); },
            inactivity_, "stream broken");
      } catch (const Stopped&) {
        return false;
      }
      size_t got = kChunk - parser_.get().body().size;
      if (got > 0) {
        lines_.append(chunk_.get(), got);
        return true;
      }
    }
    return false;
  }

  static constexpr size_t kChunk = 64 * 1024;

  asio::io_context ioc_;
  asio::ssl::context ctx_;
  std::string what_;
  Stream stream_;
  std::chrono::seconds inactivity_;
  std::function<void(const std::string&)> on_protobuf_error_;
  boost::beast::flat_buffer buffer_;
  bhttp::response_parser<bhttp::buffer_body> parser_;
  std::unique_ptr<char[]> chunk_ = std::make_unique<char[]>(kChunk);
  std::atomic<bool> stopped_{false};
  bool protobuf_ = false;  // the server answered with protobuf frames, not JSON lines
  std::string lines_;      // body bytes read; lines before pos_ are consumed
  size_t pos_ = 0;         // start of the first unconsumed line
  size_t scan_ = 0;        // no newline in [pos_, scan_)
};

}  // namespace

std::string ProtobufBodyAsJson(const std::string& body) {
  try {
    return proto::ToJson(body);
  } catch (const proto::ProtoError&) {
    return body;  // ErrorFromResponse makes the (unreadable) body the message
  }
}

RawWatchEvent ParseWatchFrame(std::string_view frame, const std::string& what) {
  try {
    proto::WatchEventView ev = proto::ParseWatchEvent(frame);
    auto t = EventType(ev.type);
    if (!t) {
      throw ApiError(ErrorKind::kTransport, 0, "",
                     what + ": unknown watch event type '" + std::string(ev.type) + "'");
    }
    return RawWatchEvent{*t, ev.object.empty() ? std::string("null") : proto::ToJson(ev.object)};
  } catch (const proto::ProtoError& e) {
    throw ApiError(ErrorKind::kTransport, 0, "", what + ": " + e.what());
  }
}

RawWatchEvent ParseWatchLine(std::string_view line, const std::string& what) {
  auto type = json_scan::Member(line, "type");
  std::string type_name;
  if (!type || !json_scan::DecodeString(*type, &type_name)) {
    throw ApiError(ErrorKind::kTransport, 0, "",
                   what + ": watch line is not a watch event: " + std::string(line.substr(0, 200)));
  }
  auto t = EventType(type_name);
  if (!t) {
    throw ApiError(ErrorKind::kTransport, 0, "",
                   what + ": unknown watch event type '" + type_name + "'");
  }
  auto object = json_scan::Member(line, "object");
  return RawWatchEvent{*t, object ? std::string(*object) : std::string("null")};
}

std::unique_ptr<WatchStream> OpenWatchStream(const Config& config, const WatchRequest& req) {
  if (req.scheme == "https") {
    return std::make_unique<BeastWatchStream<asio::ssl::stream<tcp::socket>>>(config, req);
  }
  return std::make_unique<BeastWatchStream<tcp::socket>>(config, req);
}

}  // namespace poolguard::kube::internal
