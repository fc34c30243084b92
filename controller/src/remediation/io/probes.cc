// TcpConnect and a small HTTP/1.0 GET client on POSIX sockets: each call has one deadline
// that covers name resolution's aftermath, connect, send and the whole response, so a stuck
// pod can never hold a reconcile longer than the timeout it was given.

#include <arpa/inet.h>
#include <fcntl.h>
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
#include <optional>
#include <string_view>
#include <utility>

#include "remediation/io.h"

namespace poolguard::controller {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxResponseBytes = 32 << 20;

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

struct Connected {
  Fd fd;
  bool timed_out = false;
  std::string error;  // when fd is not open
};

// Resolves `host` and connects to the first address that accepts before `deadline`.
Connected ConnectBefore(const std::string& host, int port, Clock::time_point deadline) {
  Connected out;
  const std::string where =
      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
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

// ---- URL and response parsing -------------------------------------------------------

struct Url {
  std::string host;  // without brackets
  int port = 80;
  bool explicit_port = false;
  std::string target;  // path?query, at least "/"
};

std::optional<Url> ParseUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.size() < kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(url[i])) != kScheme[i]) return std::nullopt;
  }
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return std::nullopt;  // no CR/LF
  }
  url.remove_prefix(kScheme.size());
  if (const size_t hash = url.find('#'); hash != std::string_view::npos) url = url.substr(0, hash);
  const size_t end = url.find_first_of("/?");
  std::string_view authority = url.substr(0, end);
  Url out;
  out.target = end == std::string_view::npos ? "/" : std::string(url.substr(end));
  if (out.target.front() == '?') out.target.insert(0, "/");
  if (authority.find('@') != std::string_view::npos) return std::nullopt;  // no credentials
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
      out.explicit_port = true;
    }
  } else {
    const size_t colon = authority.find(':');
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

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

enum class Parse { kIncomplete, kComplete, kMalformed };

// Decodes a chunked body from `data`; kIncomplete until the last chunk and the trailers'
// blank line have arrived.
Parse DecodeChunked(std::string_view data, std::string& body) {
  body.clear();
  while (true) {
    const size_t eol = data.find("\r\n");
    if (eol == std::string_view::npos) return Parse::kIncomplete;
    std::string_view size_text = data.substr(0, eol);
    size_text = TrimSpace(size_text.substr(0, size_text.find(';')));  // chunk extensions
    size_t size = 0;
    const auto [p, ec] =
        std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
    if (size_text.empty() || ec != std::errc() || p != size_text.data() + size_text.size()) {
      return Parse::kMalformed;
    }
    data.remove_prefix(eol + 2);
    if (size == 0) {
      // Trailers (ignored), each ending in CRLF, then an empty line.
      while (true) {
        const size_t line_end = data.find("\r\n");
        if (line_end == std::string_view::npos) return Parse::kIncomplete;
        if (line_end == 0) return Parse::kComplete;
        data.remove_prefix(line_end + 2);
      }
    }
    if (size > kMaxResponseBytes) return Parse::kMalformed;
    if (data.size() < size + 2) return Parse::kIncomplete;
    if (data.substr(size, 2) != "\r\n") return Parse::kMalformed;
    body.append(data.substr(0, size));
    data.remove_prefix(size + 2);
  }
}

// Parses what has arrived so far; `eof` says the server closed the connection.
Parse ParseResponse(std::string_view data, bool eof, int& status, std::string& body) {
  while (true) {
    size_t head_end = data.find("\r\n\r\n");
    size_t separator = 4;
    if (head_end == std::string_view::npos) {
      head_end = data.find("\n\n");
      separator = 2;
    }
    if (head_end == std::string_view::npos) {
      if (data.size() > 64 * 1024) return Parse::kMalformed;
      return eof ? Parse::kMalformed : Parse::kIncomplete;
    }
    const std::string_view head = data.substr(0, head_end);
    std::string_view rest = data.substr(head_end + separator);

    size_t line_end = head.find('\n');
    const std::string_view status_line = TrimSpace(head.substr(0, line_end));
    // HTTP/1.x SSS reason
    if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ') {
      return Parse::kMalformed;
    }
    const std::string_view code = status_line.substr(9, 3);
    int value = 0;
    const auto [p, ec] = std::from_chars(code.data(), code.data() + code.size(), value);
    if (ec != std::errc() || p != code.data() + code.size() || value < 100 || value > 999 ||
        (status_line.size() > 12 && status_line[12] != ' ')) {
      return Parse::kMalformed;
    }

    bool chunked = false;
    std::optional<size_t> length;
    while (line_end != std::string_view::npos) {
      const size_t start = line_end + 1;
      line_end = head.find('\n', start);
      const std::string_view line = head.substr(start, line_end - start);
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        if (TrimSpace(line).empty()) continue;
        return Parse::kMalformed;
      }
      const std::string_view name = TrimSpace(line.substr(0, colon));
      const std::string_view field = TrimSpace(line.substr(colon + 1));
      if (IEquals(name, "Transfer-Encoding")) {
        // The last coding is the one that frames the message.
        const size_t comma = field.rfind(',');
        chunked =
            IEquals(TrimSpace(comma == std::string_view::npos ? field : field.substr(comma + 1)),
                    "chunked");
      } else if (IEquals(name, "Content-Length")) {
        size_t n = 0;
        const auto [q, err] = std::from_chars(field.data(), field.data() + field.size(), n);
        if (field.empty() || err != std::errc() || q != field.data() + field.size() ||
            (length && *length != n)) {
          return Parse::kMalformed;
        }
        length = n;
      }
    }

    if (value < 200) {  // an interim response (100 Continue): the real one follows
      data = rest;
      continue;
    }
    status = value;
    if (value == 204 || value == 304) {
      body.clear();
      return Parse::kComplete;
    }
    if (chunked) {
      const Parse parsed = DecodeChunked(rest, body);
      return parsed == Parse::kIncomplete && eof ? Parse::kMalformed : parsed;
    }
    if (length) {
      if (rest.size() < *length) return eof ? Parse::kMalformed : Parse::kIncomplete;
      body.assign(rest.substr(0, *length));
      return Parse::kComplete;
    }
    if (!eof) return Parse::kIncomplete;  // delimited by the end of the connection
    body.assign(rest);
    return Parse::kComplete;
  }
}

std::string Millis(Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

class Getter final : public HttpGetter {
 public:
  HttpResult Get(const std::string& url, std::chrono::milliseconds timeout) override {
    HttpResult result;
    const auto start = Clock::now();
    const auto deadline = start + timeout;
    const std::optional<Url> parsed = ParseUrl(url);
    if (!parsed) {
      result.error = "malformed URL (want http://host[:port]/path): " + url.substr(0, 200);
      return result;
    }
    const std::string where =
        (parsed->host.find(':') != std::string::npos ? "[" + parsed->host + "]" : parsed->host) +
        (parsed->explicit_port ? ":" + std::to_string(parsed->port) : "");
    Connected connected = ConnectBefore(parsed->host, parsed->port, deadline);
    if (connected.fd.get() < 0) {
      result.timed_out = connected.timed_out;
      result.error =
          connected.timed_out ? connected.error + " after " + Millis(timeout) : connected.error;
      return result;
    }
    const int fd = connected.fd.get();

    const std::string request = "GET " + parsed->target + " HTTP/1.0\r\nHost: " + where +
                                "\r\nAccept: */*\r\nConnection: close\r\n"
                                "User-Agent: poolguard-controller\r\n\r\n";
    size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd, POLLOUT, 0};
        const int ready = poll(&p, 1, RemainingMs(deadline));
        if (ready == 0) return TimedOut(result, where, timeout);
        if (ready < 0 && errno != EINTR) return Failed(result, where, "poll", errno);
        continue;
      }
      return Failed(result, where, "sending the request", errno);
    }

    std::string data;
    char buffer[16 * 1024];
    bool eof = false;
    while (true) {
      int status = 0;
      std::string body;
      const Parse state = ParseResponse(data, eof, status, body);
      if (state == Parse::kComplete) {
        result.status = status;
        result.body = std::move(body);
        return result;
      }
      if (state == Parse::kMalformed) {
        result.error = where + ": " +
                       (eof ? "incomplete or malformed response" : "malformed response") + " (" +
                       std::to_string(data.size()) + " bytes)";
        return result;
      }
      if (data.size() > kMaxResponseBytes) {
        result.error =
            where + ": response larger than " + std::to_string(kMaxResponseBytes >> 20) + " MiB";
        return result;
      }
      pollfd p{fd, POLLIN, 0};
      const int ready = poll(&p, 1, RemainingMs(deadline));
      if (ready == 0) return TimedOut(result, where, timeout);
      if (ready < 0) {
        if (errno == EINTR) continue;
        return Failed(result, where, "poll", errno);
      }
      const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      if (n > 0) {
        data.append(buffer, static_cast<size_t>(n));
      } else if (n == 0) {
        eof = true;
      } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
        return Failed(result, where, "reading the response", errno);
      }
    }
  }

 private:
  static HttpResult& TimedOut(HttpResult& result, const std::string& where,
                              std::chrono::milliseconds timeout) {
    result.timed_out = true;
    result.error = where + ": no complete response within " + Millis(timeout);
    return result;
  }
  static HttpResult& Failed(HttpResult& result, const std::string& where, const char* doing,
                            int error) {
    result.error = where + ": " + doing + ": " + ErrnoText(error);
    return result;
  }
};

}  // namespace

ProbeResult TcpConnect(const Endpoint& endpoint, std::chrono::milliseconds timeout) {
  ProbeResult result;
  const auto start = Clock::now();
  if (endpoint.host.empty() || endpoint.port <= 0 || endpoint.port > 65535) {
    result.outcome = Outcome::kError;
    result.detail = "invalid endpoint " + endpoint.ToString();
    return result;
  }
  const Connected connected = ConnectBefore(endpoint.host, endpoint.port, start + timeout);
  if (connected.fd.get() >= 0) {
    result.outcome = Outcome::kPass;
    result.detail = "connected to " + endpoint.ToString() + " in " + Millis(Clock::now() - start);
  } else {
    result.outcome = Outcome::kFail;
    result.detail =
        connected.timed_out ? connected.error + " after " + Millis(timeout) : connected.error;
  }
  return result;
}

std::unique_ptr<HttpGetter> NewHttpGetter() { return std::make_unique<Getter>(); }

}  // namespace poolguard::controller
