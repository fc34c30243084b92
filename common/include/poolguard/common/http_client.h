#pragma once

// A plain-HTTP client for probes and load: every call has one deadline that covers connect,
// send and the whole response, whatever the peer does (a server that never answers, one
// that trickles a byte at a time, one that sends more than it may). Responses are parsed
// incrementally: each byte is looked at once.
//
// Used by the controller (the target's /health and /metrics, Prometheus, TrafficSurge's
// clients) and by localnode (httpGet probes). The Kubernetes client (kube/) has its own
// transport: TLS, client certificates and streaming watches are its job (docs/kube.md).

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace poolguard::http {

/// An http:// URL split for a request. No credentials, no whitespace or control bytes.
struct Url {
  std::string host;  // without brackets
  int port = 80;
  bool explicit_port = false;
  std::string target;  // path?query, at least "/"; the fragment dropped
  /// The Host header: host, bracketed if IPv6, with the port when the URL named one.
  std::string Authority() const;
};
std::optional<Url> ParseUrl(std::string_view url);

/// One answer, or why there is none.
struct ClientResponse {
  int status = 0;  // 0: no (complete) answer
  std::string body;
  bool timed_out = false;
  bool connected = false;  // the TCP handshake completed (a timeout after it: the peer is mute)
  bool truncated = false;  // the body was cut at max_body_bytes (GetOptions::truncate_body)
  std::string error;       // when status is 0: what went wrong, naming the peer
};

struct GetOptions {
  std::chrono::milliseconds timeout{1000};  // connect + send + the whole response
  std::vector<std::pair<std::string, std::string>> headers;
  std::string user_agent = "poolguard";
  /// A larger body fails the call ("response larger than ..."), or, with truncate_body,
  /// is cut there and the status kept (a probe wants the status, not the whole body).
  std::size_t max_body_bytes = 32 << 20;
  bool truncate_body = false;
};

/// One GET of `url` on a connection of its own (HTTP/1.0, Connection: close). Never throws
/// on transport errors or bad input: they come back in `error`.
ClientResponse Get(std::string_view url, const GetOptions& options);

struct ConnectOutcome {
  bool connected = false;
  bool timed_out = false;
  std::string error;  // "host:port: connection refused", "host:port: connect timed out"
};
/// A TCP connect to host:port within `timeout`, closed at once.
ConnectOutcome TcpConnect(const std::string& host, int port, std::chrono::milliseconds timeout);

/// Parses one HTTP/1.x response as its bytes arrive: the head once it is complete (at most
/// 64 KiB, 1xx interim responses skipped), then a body framed by Content-Length, chunked
/// transfer coding or the end of the connection. Not thread-safe.
class ResponseParser {
 public:
  enum class State { kIncomplete, kComplete, kMalformed, kTooLarge };

  explicit ResponseParser(std::size_t max_body_bytes = 32 << 20);
  /// Consumes bytes; returns the state after them. Bytes after the end of the response are
  /// counted in `extra()` and ignored. Once complete, malformed or too large, further bytes
  /// change nothing.
  State Feed(std::string_view data);
  /// The peer closed the connection: a body delimited by the close is complete; anything
  /// else unfinished is malformed.
  State Finish();

  State state() const { return state_; }
  int status() const { return status_; }
  /// Whether the connection may carry another request (HTTP/1.1 without "close", or
  /// HTTP/1.0 with "keep-alive"), once complete.
  bool keep_alive() const { return keep_alive_; }
  const std::string& body() const { return body_; }
  std::string& body() { return body_; }
  /// What is wrong when malformed ("malformed status line", ...).
  const std::string& error() const { return error_; }
  /// The response head has been read (status known), whatever the body's state.
  bool head_done() const { return phase_ != Phase::kHead; }
  std::size_t extra() const { return extra_; }

 private:
  enum class Phase {
    kHead,
    kLength,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailers,
    kToClose,
    kDone
  };
  State Fail(std::string error);
  bool ParseHead(std::string_view head);
  State Append(std::string_view data);

  std::size_t max_body_;
  State state_ = State::kIncomplete;
  Phase phase_ = Phase::kHead;
  std::string head_;  // the head's bytes so far (kHead) or the current line (chunk size, trailers)
  std::size_t head_scanned_ = 0;
  int status_ = 0;
  bool keep_alive_ = false;
  std::size_t remaining_ = 0;  // kLength: body bytes; kChunkData: bytes of this chunk
  std::string body_;
  std::string error_;
  std::size_t extra_ = 0;
};

/// A keep-alive connection for many GETs to one peer (TrafficSurge's clients). Each Get has
/// a deadline of its own; a connection the peer or a failure closed reopens on the next
/// Get. Shutdown, from any thread, wakes a Get blocked in poll and makes every later call
/// fail at once.
class Connection {
 public:
  Connection(std::string host, int port);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  ClientResponse Get(const std::string& target, std::chrono::milliseconds timeout,
                     std::size_t max_body_bytes = 1 << 20);
  void Shutdown();

 private:
  void CloseLocked();

  std::string host_;
  int port_;
  std::mutex mutex_;  // guards fd_ and shut_ against Shutdown from another thread
  int fd_ = -1;
  bool shut_ = false;
};

}  // namespace poolguard::http
