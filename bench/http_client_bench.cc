// The controller's CPU per hostile response: how much one http::Get costs when a target
// trickles its answer a byte per write (the old client re-parsed the whole buffer after
// every read: 1-byte pieces of a large body cost minutes), or sends more than the limit.
// Prints figures; asserts nothing. Run: build/bench/http_client_bench
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>

#include "poolguard/common/http_client.h"

namespace {

double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Serves one connection with `respond`, then closes.
class OneShotServer {
 public:
  explicit OneShotServer(std::function<void(int fd)> respond) : respond_(std::move(respond)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(listen_fd_, 1);
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      const int fd = accept(listen_fd_, nullptr, nullptr);
      const int on = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      char request[4096];
      (void)recv(fd, request, sizeof request, 0);
      respond_(fd);
      close(fd);
    });
  }
  ~OneShotServer() {
    thread_.join();
    close(listen_fd_);
  }
  int port() const { return port_; }

 private:
  std::function<void(int)> respond_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

void SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

void Trickle(int fd, const std::string& bytes) {
  for (char c : bytes) {
    if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) return;
  }
}

void Case(const char* what, const std::function<void(int)>& respond) {
  OneShotServer server(respond);
  poolguard::http::GetOptions options;
  options.timeout = std::chrono::seconds(120);
  options.max_body_bytes = 8 << 20;
  const double cpu0 = ThreadCpuMs();
  const auto wall0 = std::chrono::steady_clock::now();
  const auto r =
      poolguard::http::Get("http://127.0.0.1:" + std::to_string(server.port()) + "/", options);
  const double cpu = ThreadCpuMs() - cpu0;
  const double wall =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall0).count();
  std::printf("%-52s status %3d  body %8zu B  client CPU %8.1f ms  wall %8.1f ms  %s\n", what,
              r.status, r.body.size(), cpu, wall, r.error.substr(0, 60).c_str());
}

}  // namespace

int main() {
  const std::string mib(1 << 20, 'x');
  std::printf("# http_client_bench: one http::Get per case (loopback, 8 MiB body limit)\n");
  Case("1 MiB body in one write", [&](int fd) {
    SendAll(fd,
            "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(mib.size()) + "\r\n\r\n" + mib);
  });
  Case("1 MiB body, one byte per write", [&](int fd) {
    Trickle(fd,
            "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(mib.size()) + "\r\n\r\n" + mib);
  });
  Case("256 KiB chunked, one byte per chunk", [&](int fd) {
    std::string body = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < (256 << 10); ++i) body += "1\r\nx\r\n";
    body += "0\r\n\r\n";
    SendAll(fd, body);
  });
  Case("64 KiB of header, one byte per write",
       [&](int fd) { Trickle(fd, "HTTP/1.1 200 OK\r\nX-Pad: " + std::string(64 << 10, 'a')); });
  Case("16 MiB body (over the limit) in one write", [&](int fd) {
    const std::string big(16 << 20, 'y');
    SendAll(fd,
            "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(big.size()) + "\r\n\r\n" + big);
  });
  return 0;
}
