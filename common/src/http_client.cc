// The deadline-bounded HTTP client (http_client.h) on POSIX sockets: non-blocking connect,
// poll with the time left before every read and write, and an incremental parser.

#include "poolguard/common/http_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

namespace poolguard::http {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxHeadBytes = 64 * 1024;
constexpr std::size_t kMaxLineBytes = 4 * 1024;  // a chunk-size line or one trailer

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) close(fd_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

int RemainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::chrono::milliseconds::rep>(0, left.count()));
}

std::string ErrnoText(int error) {
  std::string text = std::strerror(error);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

std::string Millis(Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

std::string HostPort(const std::string& host, int port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

struct Connected {
  Fd fd;
  bool timed_out = false;
  std::string error;  // when fd is not open
};

// Resolves `host` and connects to the first address that accepts before `deadline`.
Connected ConnectBefore(const std::string& host, int port, Clock::time_point deadline) {
  Connected out;
  const std::string where = HostPort(host, port);
  if (host.empty() || port <= 0 || port > 65535) {
    out.error = "invalid address " + where;
    return out;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0) {
    out.error = "cannot resolve " + host + ": " + gai_strerror(rc);
    return out;
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, &freeaddrinfo);
  out.error = where + ": no address";
  for (const addrinfo* a = addresses.get(); a != nullptr; a = a->ai_next) {
    Fd fd(socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (fd.get() < 0) {
      out.error = where + ": " + ErrnoText(errno);
      continue;
    }
    int error = 0;
    if (connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      error = errno;
      if (error == EINPROGRESS) {
        pollfd p{fd.get(), POLLOUT, 0};
        int ready = 0;
        do {
          ready = poll(&p, 1, RemainingMs(deadline));
        } while (ready < 0 && errno == EINTR);
        if (ready == 0) {
          out.timed_out = true;
          out.error = where + ": connect timed out";
          return out;
        }
        socklen_t len = sizeof error;
        if (ready < 0) {
          error = errno;
        } else if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &len) != 0) {
          error = errno;
        }
      }
    }
    if (error == 0) {
      out.fd = std::move(fd);
      out.error.clear();
      return out;
    }
    out.error = where + ": " + ErrnoText(error);
    if (RemainingMs(deadline) == 0) {
      out.timed_out = true;
      return out;
    }
  }
  return out;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool IContains(std::string_view text, std::string_view part) {
  if (part.size() > text.size()) return false;
  for (std::size_t i = 0; i + part.size() <= text.size(); ++i) {
    if (IEquals(text.substr(i, part.size()), part)) return true;
  }
  return false;
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Sends all of `data` before `deadline`; false with `error`/`timed_out` set otherwise.
bool SendAll(int fd, std::string_view data, Clock::time_point deadline, ClientResponse& result,
             const std::string& where, std::chrono::milliseconds timeout) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      const int ready = poll(&p, 1, RemainingMs(deadline));
      if (ready == 0) {
        result.timed_out = true;
        result.error = where + ": request not sent within " + Millis(timeout);
        return false;
      }
      if (ready < 0 && errno != EINTR) {
        result.error = where + ": poll: " + ErrnoText(errno);
        return false;
      }
      continue;
    }
    result.error = where + ": sending the request: " + ErrnoText(n < 0 ? errno : EPIPE);
    return false;
  }
  return true;
}

// Reads until `parser` has a whole response, the peer closes, or `deadline`. Fills
// `result`; true when the response is complete (or truncated as asked).
bool ReadResponse(int fd, ResponseParser& parser, Clock::time_point deadline, bool truncate,
                  ClientResponse& result, const std::string& where,
                  std::chrono::milliseconds timeout) {
  char buffer[16 * 1024];
  std::size_t received = 0;
  while (true) {
    switch (parser.state()) {
      case ResponseParser::State::kComplete:
        result.status = parser.status();
        result.body = std::move(parser.body());
        return true;
      case ResponseParser::State::kTooLarge:
        if (truncate && parser.head_done()) {
          result.status = parser.status();
          result.body = std::move(parser.body());
          result.truncated = true;
          return true;
        }
        result.error = where + ": response " + parser.error();
        return false;
      case ResponseParser::State::kMalformed:
        result.error = where + ": malformed response (" + parser.error() + ", " +
                       std::to_string(received) + " bytes)";
        return false;
      case ResponseParser::State::kIncomplete:
        break;
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, RemainingMs(deadline));
    if (ready == 0) {
      result.timed_out = true;
      result.error = where + ": no complete response within " + Millis(timeout);
      return false;
    }
    if (ready < 0) {
      if (errno == EINTR) continue;
      result.error = where + ": poll: " + ErrnoText(errno);
      return false;
    }
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      received += static_cast<std::size_t>(n);
      parser.Feed(std::string_view(buffer, static_cast<std::size_t>(n)));
    } else if (n == 0) {
      parser.Finish();
    } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      result.error = where + ": reading the response: " + ErrnoText(errno);
      return false;
    }
  }
}

}  // namespace

// ---- URL ------------------------------------------------------------------------------

std::string Url::Authority() const {
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return explicit_port ? h + ":" + std::to_string(port) : h;
}

std::optional<Url> ParseUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.size() < kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(url[i])) != kScheme[i]) return std::nullopt;
  }
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return std::nullopt;  // no CR/LF
  }
  url.remove_prefix(kScheme.size());
  if (const std::size_t hash = url.find('#'); hash != std::string_view::npos) {
    url = url.substr(0, hash);
  }
  const std::size_t end = url.find_first_of("/?");
  std::string_view authority = url.substr(0, end);
  Url out;
  out.target = end == std::string_view::npos ? "/" : std::string(url.substr(end));
  if (out.target.front() == '?') out.target.insert(0, "/");
  if (authority.find('@') != std::string_view::npos) return std::nullopt;  // no credentials
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
      out.explicit_port = true;
    }
  } else {
    const std::size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      out.explicit_port = true;
    }
  }
  if (out.host.empty()) return std::nullopt;
  if (out.explicit_port) {
    const auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
    if (port.empty() || ec != std::errc() || p != port.data() + port.size() || out.port < 1 ||
        out.port > 65535) {
      return std::nullopt;
    }
  }
  return out;
}

// ---- ResponseParser -------------------------------------------------------------------

ResponseParser::ResponseParser(std::size_t max_body_bytes) : max_body_(max_body_bytes) {}

ResponseParser::State ResponseParser::Fail(std::string error) {
  error_ = std::move(error);
  state_ = State::kMalformed;
  return state_;
}

ResponseParser::State ResponseParser::Append(std::string_view data) {
  if (body_.size() + data.size() > max_body_) {
    body_.append(data.substr(0, max_body_ - body_.size()));
    error_ = "body over " + std::to_string(max_body_) + " bytes";
    state_ = State::kTooLarge;
    return state_;
  }
  body_.append(data);
  return state_;
}

// The status line and the headers (without the blank line). Sets the framing.
bool ResponseParser::ParseHead(std::string_view head) {
  std::size_t line_end = head.find('\n');
  const std::string_view status_line = TrimSpace(head.substr(0, line_end));
  // HTTP/1.x SSS reason
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ') {
    Fail("malformed status line");
    return false;
  }
  const std::string_view code = status_line.substr(9, 3);
  int value = 0;
  const auto [p, ec] = std::from_chars(code.data(), code.data() + code.size(), value);
  if (ec != std::errc() || p != code.data() + code.size() || value < 100 || value > 999 ||
      (status_line.size() > 12 && status_line[12] != ' ')) {
    Fail("malformed status line");
    return false;
  }
  const bool http11 = status_line[7] == '1';
  bool chunked = false;
  std::optional<std::size_t> length;
  std::string_view connection;
  while (line_end != std::string_view::npos) {
    const std::size_t start = line_end + 1;
    line_end = head.find('\n', start);
    const std::string_view line = head.substr(start, line_end - start);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      if (TrimSpace(line).empty()) continue;
      Fail("malformed header line");
      return false;
    }
    const std::string_view name = TrimSpace(line.substr(0, colon));
    const std::string_view field = TrimSpace(line.substr(colon + 1));
    if (IEquals(name, "Transfer-Encoding")) {
      // The last coding is the one that frames the message.
      const std::size_t comma = field.rfind(',');
      chunked = IEquals(
          TrimSpace(comma == std::string_view::npos ? field : field.substr(comma + 1)), "chunked");
    } else if (IEquals(name, "Content-Length")) {
      std::size_t n = 0;
      const auto [q, err] = std::from_chars(field.data(), field.data() + field.size(), n);
      if (field.empty() || err != std::errc() || q != field.data() + field.size() ||
          (length && *length != n)) {
        Fail("bad Content-Length");
        return false;
      }
      length = n;
    } else if (IEquals(name, "Connection")) {
      connection = field;
    }
  }
  status_ = value;
  keep_alive_ = http11 ? !IContains(connection, "close") : IContains(connection, "keep-alive");
  if (value < 200) return true;  // an interim response (100 Continue): the real one follows
  if (value == 204 || value == 304) {
    phase_ = Phase::kDone;
  } else if (chunked) {
    phase_ = Phase::kChunkSize;
  } else if (length) {
    remaining_ = *length;
    phase_ = *length == 0 ? Phase::kDone : Phase::kLength;
  } else {
    phase_ = Phase::kToClose;  // delimited by the end of the connection
    keep_alive_ = false;
  }
  return true;
}

ResponseParser::State ResponseParser::Feed(std::string_view data) {
  std::string carry;  // what followed a head in the same bytes (data points into it then)
  while (state_ == State::kIncomplete && !data.empty()) {
    switch (phase_) {
      case Phase::kHead: {
        head_.append(data);
        data = {};
        // Look for the blank line from where the last search stopped (less the 3 bytes a
        // split "\r\n\r\n" may have left behind).
        std::size_t end = std::string::npos, separator = 0;
        for (std::size_t i = head_scanned_ > 3 ? head_scanned_ - 3 : 0; i < head_.size(); ++i) {
          if (head_[i] != '\n') continue;
          if (i + 1 < head_.size() && head_[i + 1] == '\n') {
            end = i + 1;
            separator = 1;
            break;
          }
          if (i + 2 < head_.size() && head_[i + 1] == '\r' && head_[i + 2] == '\n') {
            end = i + 1;
            separator = 2;
            break;
          }
        }
        head_scanned_ = head_.size();
        if (end == std::string::npos) {
          if (head_.size() > kMaxHeadBytes) return Fail("response head over 64 KiB");
          break;
        }
        carry = head_.substr(end + separator);
        const std::string head = head_.substr(0, end);
        head_.clear();
        head_scanned_ = 0;
        if (!ParseHead(head)) return state_;
        if (status_ < 200) status_ = 0;  // interim: what follows is a new head
        data = carry;
        if (phase_ == Phase::kDone) {  // a head that needs no body (204, 304, length 0)
          state_ = State::kComplete;
          extra_ += data.size();
          data = {};
        }
        break;
      }
      case Phase::kLength: {
        const std::size_t n = std::min(remaining_, data.size());
        if (Append(data.substr(0, n)) != State::kIncomplete) return state_;
        remaining_ -= n;
        data.remove_prefix(n);
        if (remaining_ == 0) {
          phase_ = Phase::kDone;
          state_ = State::kComplete;
          extra_ += data.size();
          data = {};
        }
        break;
      }
      case Phase::kChunkSize:
      case Phase::kTrailers: {
        const std::size_t eol = data.find('\n');
        const std::size_t take = eol == std::string_view::npos ? data.size() : eol + 1;
        head_.append(data.substr(0, take));
        data.remove_prefix(take);
        if (eol == std::string_view::npos) {
          if (head_.size() > kMaxLineBytes) return Fail("chunk line over 4 KiB");
          break;
        }
        std::string_view line = head_;
        line.remove_suffix(1);  // '\n'
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (phase_ == Phase::kTrailers) {
          if (line.empty()) {
            phase_ = Phase::kDone;
            state_ = State::kComplete;
            extra_ += data.size();
            data = {};
          }
          head_.clear();
          break;
        }
        std::string_view size_text = TrimSpace(line.substr(0, line.find(';')));  // extensions
        std::size_t size = 0;
        const auto [p, ec] =
            std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
        if (size_text.empty() || ec != std::errc() || p != size_text.data() + size_text.size()) {
          return Fail("bad chunk size");
        }
        head_.clear();
        if (size == 0) {
          phase_ = Phase::kTrailers;
        } else if (size > max_body_ - std::min(max_body_, body_.size())) {
          error_ = "body over " + std::to_string(max_body_) + " bytes";
          state_ = State::kTooLarge;
          return state_;
        } else {
          remaining_ = size;
          phase_ = Phase::kChunkData;
        }
        break;
      }
      case Phase::kChunkData: {
        const std::size_t n = std::min(remaining_, data.size());
        if (Append(data.substr(0, n)) != State::kIncomplete) return state_;
        remaining_ -= n;
        data.remove_prefix(n);
        if (remaining_ == 0) phase_ = Phase::kChunkDataEnd;
        break;
      }
      case Phase::kChunkDataEnd: {
        // Exactly CRLF after the chunk's data.
        while (!data.empty() && head_.size() < 2) {
          head_.push_back(data.front());
          data.remove_prefix(1);
        }
        if (head_.size() < 2) break;
        if (head_ != "\r\n") return Fail("chunk not followed by CRLF");
        head_.clear();
        phase_ = Phase::kChunkSize;
        break;
      }
      case Phase::kToClose:
        if (Append(data) != State::kIncomplete) return state_;
        data = {};
        break;
      case Phase::kDone:
        state_ = State::kComplete;
        break;
    }
  }
  if (state_ != State::kIncomplete) extra_ += data.size();
  return state_;
}

ResponseParser::State ResponseParser::Finish() {
  if (state_ != State::kIncomplete) return state_;
  if (phase_ == Phase::kToClose || phase_ == Phase::kDone) {
    phase_ = Phase::kDone;
    state_ = State::kComplete;
    return state_;
  }
  return Fail(phase_ == Phase::kHead ? "connection closed before the response head ended"
                                     : "connection closed before the body ended");
}

// ---- calls ----------------------------------------------------------------------------

ClientResponse Get(std::string_view url, const GetOptions& options) {
  ClientResponse result;
  const auto deadline = Clock::now() + options.timeout;
  const std::optional<Url> parsed = ParseUrl(url);
  if (!parsed) {
    result.error =
        "malformed URL (want http://host[:port]/path): " + std::string(url.substr(0, 200));
    return result;
  }
  const std::string where = parsed->Authority();
  Connected connected = ConnectBefore(parsed->host, parsed->port, deadline);
  if (connected.fd.get() < 0) {
    result.timed_out = connected.timed_out;
    result.error = connected.timed_out ? connected.error + " after " + Millis(options.timeout)
                                       : connected.error;
    return result;
  }
  result.connected = true;
  std::string request =
      "GET " + parsed->target + " HTTP/1.0\r\nHost: " + where +
      "\r\nAccept: */*\r\nConnection: close\r\nUser-Agent: " + options.user_agent + "\r\n";
  for (const auto& [name, value] : options.headers) {
    const bool clean =
        std::none_of(name.begin(), name.end(),
                     [](char c) { return c == ':' || static_cast<unsigned char>(c) <= ' '; }) &&
        value.find_first_of("\r\n") == std::string::npos && !name.empty();
    if (!clean) {
      result.error = "invalid request header " + name.substr(0, 100);
      return result;
    }
    request += name + ": " + value + "\r\n";
  }
  request += "\r\n";
  const int fd = connected.fd.get();
  if (!SendAll(fd, request, deadline, result, where, options.timeout)) return result;
  ResponseParser parser(options.max_body_bytes);
  ReadResponse(fd, parser, deadline, options.truncate_body, result, where, options.timeout);
  return result;
}

ConnectOutcome TcpConnect(const std::string& host, int port, std::chrono::milliseconds timeout) {
  ConnectOutcome out;
  Connected connected = ConnectBefore(host, port, Clock::now() + timeout);
  out.connected = connected.fd.get() >= 0;
  out.timed_out = connected.timed_out;
  out.error = connected.timed_out ? connected.error + " after " + Millis(timeout) : connected.error;
  return out;
}

// ---- Connection -----------------------------------------------------------------------

Connection::Connection(std::string host, int port) : host_(std::move(host)), port_(port) {}

Connection::~Connection() {
  std::lock_guard lock(mutex_);
  CloseLocked();
}

void Connection::CloseLocked() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void Connection::Shutdown() {
  std::lock_guard lock(mutex_);
  shut_ = true;
  // shutdown(2), not close(2): the fd stays ours until the thread in Get is done with it.
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

ClientResponse Connection::Get(const std::string& target, std::chrono::milliseconds timeout,
                               std::size_t max_body_bytes) {
  ClientResponse result;
  const auto deadline = Clock::now() + timeout;
  const std::string where = HostPort(host_, port_);
  int fd = -1;
  {
    std::lock_guard lock(mutex_);
    if (shut_) {
      result.error = where + ": connection shut down";
      return result;
    }
    fd = fd_;
  }
  if (fd < 0) {
    Connected connected = ConnectBefore(host_, port_, deadline);
    if (connected.fd.get() < 0) {
      result.timed_out = connected.timed_out;
      result.error = connected.error;
      return result;
    }
    std::lock_guard lock(mutex_);
    if (shut_) {
      result.error = where + ": connection shut down";
      return result;
    }
    fd_ = fd = connected.fd.release();
  }
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: " + where +
                              "\r\nAccept: */*\r\nUser-Agent: poolguard\r\n\r\n";
  ResponseParser parser(max_body_bytes);
  const bool ok = SendAll(fd, request, deadline, result, where, timeout) &&
                  ReadResponse(fd, parser, deadline, false, result, where, timeout);
  if (!ok || !parser.keep_alive()) {
    std::lock_guard lock(mutex_);
    CloseLocked();
  }
  return result;
}

}  // namespace poolguard::http
