#include "kubelet_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace poolguard::localnode {

namespace {

std::string UrlDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep)) out.push_back(part);
  return out;
}

bool WriteAll(SSL* ssl, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    int n = SSL_write(ssl, data.data() + off, static_cast<int>(data.size() - off));
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string LogTimeAgo(long seconds) {
  const auto t = std::chrono::system_clock::now() - std::chrono::seconds(seconds);
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch());
  const time_t secs = static_cast<time_t>(ns.count() / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string frac = std::to_string(ns.count() % 1'000'000'000);
  return std::string(buf) + "." + std::string(9 - frac.size(), '0') + frac + "Z";
}

std::string SelectLogLines(const std::string& text, const std::optional<std::string>& since,
                           bool timestamps) {
  // The copier's timestamps are fixed-width UTC, so they compare as text once the zone
  // letter is dropped ("…:54" < "…:54.1"); a sinceTime in whole seconds works too.
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    const size_t end = nl == std::string::npos ? text.size() : nl + 1;
    const std::string_view line(text.data() + pos, end - pos);
    const size_t sp = line.find(' ');
    const bool stamped = sp != std::string_view::npos && sp >= 20 && line[4] == '-' &&
                         line[10] == 'T' && line[sp - 1] == 'Z';
    const std::string_view stamp = stamped ? line.substr(0, sp) : std::string_view();
    bool keep = true;
    if (since && stamped) {
      std::string s(stamp);
      std::string want = *since;
      // Compare "seconds.fraction": strip the zone letter so "…54Z" is "…54" < "…54.1".
      if (!s.empty() && s.back() == 'Z') s.pop_back();
      if (!want.empty() && want.back() == 'Z') want.pop_back();
      keep = s >= want;
    }
    if (keep) out.append(timestamps || !stamped ? line : line.substr(sp + 1));
    pos = end;
  }
  return out;
}

std::string TailLines(const std::string& text, long n) {
  if (n < 0) return text;
  if (n == 0) return "";
  size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') --end;
  size_t pos = end;
  long count = 0;
  while (pos > 0) {
    if (text[pos - 1] == '\n' && ++count == n) break;
    --pos;
  }
  return text.substr(pos);
}

KubeletServer::KubeletServer(Options options, LogLookup lookup)
    : options_(std::move(options)), lookup_(std::move(lookup)) {}

KubeletServer::~KubeletServer() { Stop(); }

void KubeletServer::Start() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) throw std::runtime_error("kubelet server: SSL_CTX_new failed");
  ctx_ = ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, options_.cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, options_.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw std::runtime_error("kubelet server: cannot load serving certificate " +
                             options_.cert_file + " / " + options_.key_file);
  }
  if (SSL_CTX_load_verify_locations(ctx, options_.client_ca_file.c_str(), nullptr) != 1) {
    throw std::runtime_error("kubelet server: cannot load client CA " + options_.client_ca_file);
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);

  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(options_.port));
  inet_pton(AF_INET, options_.address.c_str(), &sa.sin_addr);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      listen(listen_fd_, 64) != 0) {
    throw std::runtime_error("kubelet server: cannot listen on " + options_.address + ":" +
                             std::to_string(options_.port) + ": " + strerror(errno));
  }
  thread_ = std::thread([this] {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 300) != 1) continue;
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::thread([this, fd] { Serve(fd); }).detach();
    }
  });
}

void KubeletServer::Stop() {
  if (thread_.joinable()) {
    stop_ = true;
    thread_.join();
  }
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
}

void KubeletServer::Serve(int fd) {
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ctx_));
  SSL_set_fd(ssl, fd);
  auto finish = [&] {
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
  };
  if (SSL_accept(ssl) != 1) {
    spdlog::debug("kubelet server: TLS handshake failed");
    finish();
    return;
  }
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < 65536) {
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
  }
  auto reply = [&](int status, const std::string& reason, const std::string& body) {
    WriteAll(ssl, "HTTP/1.1 " + std::to_string(status) + " " + reason +
                      "\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body);
  };
  auto line_end = req.find("\r\n");
  auto parts = Split(req.substr(0, line_end), ' ');
  if (parts.size() < 2 || parts[0] != "GET") {
    reply(405, "Method Not Allowed", "only GET\n");
    finish();
    return;
  }
  std::string target = parts[1], path = target, query;
  if (auto q = target.find('?'); q != std::string::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  std::map<std::string, std::string> params;
  for (const auto& kv : Split(query, '&')) {
    auto eq = kv.find('=');
    if (eq != std::string::npos) params[UrlDecode(kv.substr(0, eq))] = UrlDecode(kv.substr(eq + 1));
  }
  if (path == "/healthz") {
    reply(200, "OK", "ok");
    finish();
    return;
  }
  auto segs = Split(path, '/');  // "", containerLogs, ns, pod, container
  if (segs.size() != 5 || segs[1] != "containerLogs") {
    reply(404, "Not Found",
          "localnode serves /containerLogs/{namespace}/{pod}/{container} and /healthz\n");
    finish();
    return;
  }
  auto file = lookup_(segs[2], segs[3], segs[4]);
  if (!file) {
    reply(404, "Not Found",
          "container " + segs[4] + " of pod " + segs[2] + "/" + segs[3] + " is not on this node\n");
    finish();
    return;
  }
  std::ifstream in(*file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  // Each line of the file is "<RFC 3339 timestamp> <output>" (the agent's log copier):
  // sinceSeconds/sinceTime select by it, timestamps=true keeps it.
  std::optional<std::string> since;
  try {
    if (params.count("sinceSeconds")) {
      since = LogTimeAgo(std::stol(params["sinceSeconds"]));
    } else if (params.count("sinceTime")) {
      since = params["sinceTime"];
    }
  } catch (const std::exception&) {
    reply(400, "Bad Request", "sinceSeconds must be a number of seconds\n");
    finish();
    return;
  }
  const bool timestamps = params["timestamps"] == "true" || params["timestamps"] == "1";
  text = SelectLogLines(text, since, timestamps);
  long tail = params.count("tailLines") ? std::stol(params["tailLines"]) : -1;
  text = TailLines(text, tail);
  if (params.count("limitBytes")) {
    size_t limit = std::stoul(params["limitBytes"]);
    if (text.size() > limit) text.resize(limit);
  }
  bool follow = params["follow"] == "true" || params["follow"] == "1";
  if (!follow) {
    reply(200, "OK", text);
    finish();
    return;
  }
  // Follow: a close-delimited body, polled from the file until the client goes or the
  // container's log disappears.
  if (!WriteAll(ssl, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n") ||
      !WriteAll(ssl, text)) {
    finish();
    return;
  }
  std::streamoff pos = static_cast<std::streamoff>(ss.str().size());
  while (!stop_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    if (!lookup_(segs[2], segs[3], segs[4])) break;
    std::ifstream f(*file, std::ios::binary);
    f.seekg(0, std::ios::end);
    std::streamoff size = f.tellg();
    if (size < pos) pos = 0;
    if (size == pos) continue;
    f.seekg(pos);
    std::string chunk(static_cast<size_t>(size - pos), '\0');
    f.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    pos = size;
    if (!WriteAll(ssl, SelectLogLines(chunk, std::nullopt, timestamps))) break;
  }
  finish();
}

}  // namespace poolguard::localnode
